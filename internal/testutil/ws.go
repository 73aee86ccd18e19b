package testutil

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/gobwas/ws"
)

// WSKey is the Sec-WebSocket-Key of RFC 6455's example handshake, which the
// raw test clients send; WSAccept is the Sec-WebSocket-Accept it calls for.
const (
	WSKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	WSAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// WSUpgradeRequest is a raw HTTP/1.1 WebSocket upgrade request (GET, Host
// 127.0.0.1, WSKey, version 13) for target; each extra header is one
// "Name: value" line, written after the upgrade headers.
func WSUpgradeRequest(target string, headers ...string) string {
	req := "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + WSKey + "\r\nSec-WebSocket-Version: 13\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	return req + "\r\n"
}

// ReadFrame reads one WebSocket frame from r: its header and its payload,
// unmasked if the frame is masked. A frame announcing more than max bytes is
// an error before any of its payload is read.
func ReadFrame(r io.Reader, max int64) (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return h, nil, err
	}
	if h.Length > max {
		return h, nil, fmt.Errorf("frame of %d bytes, over %d", h.Length, max)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		return h, nil, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return h, p, nil
}

// CloseCode is the status code of a close frame's payload (1005, "no status
// received", when it has none).
func CloseCode(p []byte) ws.StatusCode {
	if len(p) < 2 {
		return ws.StatusNoStatusRcvd
	}
	return ws.StatusCode(binary.BigEndian.Uint16(p))
}
