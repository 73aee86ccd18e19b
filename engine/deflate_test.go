package engine_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"sio/codec"
	"sio/engine"
)

// rawDeflateConn is a hand-driven WebSocket client for the frame shapes
// real clients rarely send (fragmented compressed messages, RSV1 on a
// continuation); the ordinary ones are tested with the real ws client.
type rawDeflateConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRawDeflate(t *testing.T, srv *engine.Server, offer string) (*rawDeflateConn, string) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Loop().Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: " + offer + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	r := &rawDeflateConn{c: c, br: bufio.NewReader(c)}
	ext := ""
	for {
		l, err := r.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(l, "Sec-WebSocket-Extensions: "); ok {
			ext = strings.TrimSpace(v)
		}
	}
	if _, p := r.read(t); !bytes.HasPrefix(p, []byte("0{")) {
		t.Fatalf("open packet %q", p)
	}
	return r, ext
}

func (r *rawDeflateConn) write(t *testing.T, fin bool, rsv1 bool, op ws.OpCode, p []byte) {
	t.Helper()
	h := ws.Header{Fin: fin, OpCode: op, Length: int64(len(p)), Masked: true, Mask: [4]byte{1, 2, 3, 4}}
	if rsv1 {
		h.Rsv = ws.Rsv(true, false, false)
	}
	p = append([]byte(nil), p...)
	ws.Cipher(p, h.Mask, 0)
	if err := ws.WriteHeader(r.c, h); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Write(p); err != nil {
		t.Fatal(err)
	}
}

// read returns the next data or close frame, inflated when compressed.
func (r *rawDeflateConn) read(t *testing.T) (ws.Header, []byte) {
	t.Helper()
	for {
		h, err := ws.ReadHeader(r.br)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(r.br, p); err != nil {
			t.Fatal(err)
		}
		if h.Rsv1() {
			if p, err = codec.Inflate(nil, p, 1<<20); err != nil {
				t.Fatal(err)
			}
		}
		if h.OpCode != ws.OpPing && h.OpCode != ws.OpPong {
			return h, p
		}
	}
}

func deflated(t *testing.T, msg string) []byte {
	fr := codec.NewDeflater(0, 0).AppendFrame(nil, ws.OpText, []byte(msg), nil)
	_, hn, _ := codec.ParseFrameHeader(fr, 0)
	return fr[hn:]
}

func TestDeflateFragmentedCompressedMessage(t *testing.T) {
	srv := deflateServer(t, &engine.Deflate{Threshold: -1})
	r, ext := dialRawDeflate(t, srv, "permessage-deflate")
	if ext != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
		t.Fatalf("answer %q", ext)
	}
	msg := "4echo:" + strings.Repeat("fragmented and compressed ", 50)
	z := deflated(t, msg)
	// RSV1 on the first frame only; the continuations carry the rest.
	r.write(t, false, true, ws.OpText, z[:5])
	r.write(t, false, false, ws.OpContinuation, z[5:10])
	r.write(t, true, false, ws.OpContinuation, z[10:])
	h, p := r.read(t)
	if !h.Rsv1() || string(p) != "4"+msg[6:] {
		t.Fatalf("echo: rsv1 %v %.40q", h.Rsv1(), p)
	}
	// Uncompressed messages still pass on a deflate connection.
	r.write(t, true, false, ws.OpText, []byte("4echo:plain"))
	if _, p := r.read(t); string(p) != "4plain" {
		t.Fatalf("plain echo %q", p)
	}
	// RSV1 on a continuation frame is a protocol error.
	r.write(t, false, true, ws.OpText, z[:5])
	r.write(t, true, true, ws.OpContinuation, z[5:])
	h, p = r.read(t)
	if h.OpCode != ws.OpClose || len(p) < 2 || int(p[0])<<8|int(p[1]) != 1002 {
		t.Fatalf("got %v %x, want close 1002", h.OpCode, p)
	}
}

// A client that offers only what cannot be accepted gets no extension and
// plain frames.
func TestDeflateDeclinedOffer(t *testing.T) {
	srv := deflateServer(t, &engine.Deflate{Threshold: -1})
	r, ext := dialRawDeflate(t, srv, "permessage-deflate; server_max_window_bits=9, permessage-deflate; bogus")
	if ext != "" {
		t.Fatalf("answered %q", ext)
	}
	r.write(t, true, false, ws.OpText, []byte("4echo:"+strings.Repeat("x", 2000)))
	if h, p := r.read(t); h.Rsv1() || len(p) != 2001 {
		t.Fatalf("rsv1 %v, %d bytes", h.Rsv1(), len(p))
	}
}
