package codec

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Errors of the WebSocket frame decoder. ws.ProtocolError values from
// ws.CheckHeader map to close code 1002; ErrFrameTooLarge maps to 1009.
var (
	ErrFrameTooLarge = errors.New("ws: frame exceeds the message size limit")
	ErrLengthMSB     = ws.ErrHeaderLengthMSB
	ErrNotMasked     = errors.New("ws: client frame is not masked")
	ErrBadCloseFrame = errors.New("ws: invalid close frame payload")
)

// MaxFrameHeaderSize is the largest WebSocket frame header (2+8+4 bytes).
const MaxFrameHeaderSize = ws.MaxHeaderSize

// ParseFrameHeader decodes a frame header from the start of b. n is 0 when b
// does not yet hold the whole header. The declared length is checked against
// maxPayload before anything is allocated for the payload, and a 64-bit length
// with its most significant bit set is rejected (RFC 6455 §5.2).
// Only structural checks are made here; see CheckClientHeader.
func ParseFrameHeader(b []byte, maxPayload int64) (h ws.Header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		u := binary.BigEndian.Uint64(b[2:10])
		if u&(1<<63) != 0 {
			return h, 0, ErrLengthMSB
		}
		h.Length = int64(u)
		n = 10
	default:
		h.Length = int64(l)
	}
	if maxPayload > 0 && h.Length > maxPayload {
		return h, 0, ErrFrameTooLarge
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, nil
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// CheckClientHeader validates a header received by a server, given whether a
// fragmented data message is in progress: RSV bits (no extension is ever
// negotiated), reserved opcodes, control frame rules, continuation order and
// masking. Errors are ws.ProtocolError values (close code 1002).
func CheckClientHeader(h ws.Header, fragmented bool) error {
	s := ws.StateServerSide
	if fragmented {
		s = s.Set(ws.StateFragmented)
	}
	return ws.CheckHeader(h, s)
}

// Unmask XORs payload with the frame mask; offset is the number of payload
// bytes of this frame already unmasked (for payloads processed in pieces).
func Unmask(payload []byte, mask [4]byte, offset int) { ws.Cipher(payload, mask, offset) }

// FrameHeaderLen is the size of a server (unmasked) frame header for a
// payload of length n.
func FrameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// AppendFrameHeader appends an unmasked, final frame header (server to client).
func AppendFrameHeader(dst []byte, op ws.OpCode, n int) []byte {
	b0 := 0x80 | byte(op)
	switch {
	case n < 126:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		var l [8]byte
		binary.BigEndian.PutUint64(l[:], uint64(n))
		dst = append(dst, b0, 127)
		return append(dst, l[:]...)
	}
}

// AppendFrame appends a whole unmasked final frame.
func AppendFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	dst = AppendFrameHeader(dst, op, len(payload))
	return append(dst, payload...)
}

// AppendCloseFrame appends a close frame. A zero code sends an empty body (the
// peer sees 1005, as with Node's engine.io). The reason is cut to the 123
// bytes a control frame allows, on a UTF-8 boundary.
func AppendCloseFrame(dst []byte, code ws.StatusCode, reason string) []byte {
	if code == 0 {
		return append(dst, 0x80|byte(ws.OpClose), 0)
	}
	if len(reason) > 123 {
		cut := 123
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = AppendFrameHeader(dst, ws.OpClose, 2+len(reason))
	dst = append(dst, byte(code>>8), byte(code))
	return append(dst, reason...)
}

// ParseClosePayload validates a close frame body received from a peer: empty,
// or a valid status code followed by a UTF-8 reason. A 1-byte body, a reserved
// code or invalid UTF-8 is ErrBadCloseFrame (close code 1002).
func ParseClosePayload(p []byte) (ws.StatusCode, error) {
	if len(p) == 0 {
		return ws.StatusNoStatusRcvd, nil
	}
	if len(p) == 1 {
		return 0, ErrBadCloseFrame
	}
	code := ws.StatusCode(binary.BigEndian.Uint16(p))
	if !utf8.Valid(p[2:]) {
		return 0, ErrBadCloseFrame
	}
	if code.IsProtocolReserved() || code.IsNotUsed() || (code.IsProtocolSpec() && !code.IsProtocolDefined()) || code >= 5000 {
		return 0, ErrBadCloseFrame
	}
	return code, nil
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// ValidWebSocketKey reports whether key is the base64 of 16 bytes (RFC 6455 §4.1).
func ValidWebSocketKey(key []byte) bool {
	if len(key) != 24 || key[22] != '=' || key[23] != '=' {
		return false
	}
	var out [18]byte
	n, err := base64.StdEncoding.Decode(out[:], key)
	return err == nil && n == 16
}

// AppendAcceptKey appends the Sec-WebSocket-Accept value for key.
func AppendAcceptKey(dst []byte, key []byte) []byte {
	if len(key) > 24 { // not a valid key, but never panic on peer input
		h := sha1.New()
		h.Write(key)
		h.Write([]byte(wsGUID))
		return base64.StdEncoding.AppendEncode(dst, h.Sum(nil))
	}
	var buf [24 + len(wsGUID)]byte
	k := copy(buf[:], key)
	copy(buf[k:], wsGUID)
	sum := sha1.Sum(buf[:k+len(wsGUID)])
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}
