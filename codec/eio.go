package codec

import (
	"encoding/base64"
	"errors"
	"strconv"
)

// PacketType is an Engine.IO v4 packet type (the ASCII digit on the wire minus '0').
type PacketType byte

// Engine.IO v4 packet types.
const (
	PacketOpen PacketType = iota
	PacketClose
	PacketPing
	PacketPong
	PacketMessage
	PacketUpgrade
	PacketNoop
)

var packetNames = [...]string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

func (t PacketType) String() string {
	if int(t) < len(packetNames) {
		return packetNames[t]
	}
	return "error"
}

// Errors returned by the Engine.IO decoders.
var (
	ErrInvalidPacket  = errors.New("eio: invalid packet")
	ErrInvalidBase64  = errors.New("eio: invalid base64 in binary packet")
	ErrTooManyPackets = errors.New("eio: too many packets in payload")
)

// Packet is one decoded Engine.IO packet. Data is borrowed from the decoder's
// input. Binary is true for binary message packets (a WebSocket binary frame,
// or a `b`-prefixed base64 segment of a polling payload).
type Packet struct {
	Type   PacketType
	Binary bool
	Data   []byte
}

// DecodeText decodes a text Engine.IO packet: one ASCII digit 0..6 and an
// optional payload. Anything else (an empty packet, `abc`, `7`) is
// ErrInvalidPacket, which the session treats as a parse error.
func DecodeText(b []byte) (Packet, error) {
	if len(b) == 0 || b[0] < '0' || b[0] > '6' {
		return Packet{}, ErrInvalidPacket
	}
	return Packet{Type: PacketType(b[0] - '0'), Data: b[1:]}, nil
}

// DecodeBinary wraps a binary WebSocket frame: every binary frame is a message.
func DecodeBinary(b []byte) Packet {
	return Packet{Type: PacketMessage, Binary: true, Data: b}
}

// AppendText appends the text form of a packet (type digit + data) to dst.
// Binary packets must be sent as binary frames over WebSocket (their raw data)
// or through AppendPayloadPacket over polling.
func AppendText(dst []byte, t PacketType, data []byte) []byte {
	dst = append(dst, byte('0'+t))
	return append(dst, data...)
}

// Separator is the record separator between packets of a polling payload.
const Separator = 0x1e

// PayloadReader iterates the packets of a polling POST body without
// allocating. Binary `b` segments are base64-decoded in place, so the input
// bytes are modified; Data of each returned packet aliases the input.
type PayloadReader struct {
	rest       []byte
	done       bool
	count      int
	MaxPackets int // 0 means no limit
}

// NewPayloadReader returns a reader over body. maxPackets <= 0 means no limit.
func NewPayloadReader(body []byte, maxPackets int) PayloadReader {
	return PayloadReader{rest: body, MaxPackets: maxPackets}
}

// Reset points the reader at a new body.
func (r *PayloadReader) Reset(body []byte, maxPackets int) {
	*r = PayloadReader{rest: body, MaxPackets: maxPackets}
}

// Next returns the next packet. ok is false once the payload is exhausted.
// An empty payload, an empty segment (including a trailing separator), an
// unknown type or bad base64 is an error.
func (r *PayloadReader) Next() (p Packet, ok bool, err error) {
	if r.done {
		return Packet{}, false, nil
	}
	r.count++
	if r.MaxPackets > 0 && r.count > r.MaxPackets {
		r.done = true
		return Packet{}, false, ErrTooManyPackets
	}
	seg := r.rest
	for i, c := range r.rest {
		if c == Separator {
			seg = r.rest[:i]
			r.rest = r.rest[i+1:]
			goto found
		}
	}
	r.done = true
	r.rest = nil
found:
	if len(seg) > 0 && seg[0] == 'b' {
		n, err := decodeBase64InPlace(seg[1:])
		if err != nil {
			r.done = true
			return Packet{}, false, err
		}
		return Packet{Type: PacketMessage, Binary: true, Data: seg[1 : 1+n]}, true, nil
	}
	p, err = DecodeText(seg)
	if err != nil {
		r.done = true
		return Packet{}, false, err
	}
	return p, true, nil
}

// decodeBase64InPlace decodes standard padded base64 over its own input. The
// standard library decoder never writes ahead of what it has read (4 bytes in,
// at most 3 out), so aliasing dst and src is safe; the tests pin this down.
func decodeBase64InPlace(b []byte) (int, error) {
	if len(b)%4 != 0 {
		return 0, ErrInvalidBase64
	}
	n, err := base64.StdEncoding.Decode(b, b)
	if err != nil {
		return 0, ErrInvalidBase64
	}
	return n, nil
}

// AppendPayloadPacket appends one packet to a polling payload in dst, adding
// the separator when dst already holds packets (first reports whether this is
// the first packet of the payload). Binary data is written as `b` + base64.
func AppendPayloadPacket(dst []byte, first bool, t PacketType, binary bool, data []byte) []byte {
	if !first {
		dst = append(dst, Separator)
	}
	if binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, data)
	}
	return AppendText(dst, t, data)
}

// PayloadPacketLen is the encoded length of one packet inside a polling payload
// (without the separator).
func PayloadPacketLen(binary bool, data []byte) int {
	if binary {
		return 1 + base64.StdEncoding.EncodedLen(len(data))
	}
	return 1 + len(data)
}

// AppendHandshake appends the open packet's JSON (without the leading `0`).
// The key set and order are exactly Node engine.io's.
func AppendHandshake(dst []byte, sid string, upgrades []string, pingIntervalMS, pingTimeoutMS, maxPayload int64) []byte {
	dst = append(dst, `{"sid":"`...)
	dst = append(dst, sid...)
	dst = append(dst, `","upgrades":[`...)
	for i, u := range upgrades {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, u...)
		dst = append(dst, '"')
	}
	dst = append(dst, `],"pingInterval":`...)
	dst = strconv.AppendInt(dst, pingIntervalMS, 10)
	dst = append(dst, `,"pingTimeout":`...)
	dst = strconv.AppendInt(dst, pingTimeoutMS, 10)
	dst = append(dst, `,"maxPayload":`...)
	dst = strconv.AppendInt(dst, maxPayload, 10)
	return append(dst, '}')
}

// Engine.IO HTTP error codes (the `code` of the JSON error body).
const (
	ErrCodeUnknownTransport    = 0
	ErrCodeUnknownSID          = 1
	ErrCodeBadHandshakeMethod  = 2
	ErrCodeBadRequest          = 3
	ErrCodeForbidden           = 4
	ErrCodeUnsupportedProtocol = 5
)

// ErrorMessages are Node engine.io's messages for each error code.
var ErrorMessages = [...]string{
	"Transport unknown",
	"Session ID unknown",
	"Bad handshake method",
	"Bad request",
	"Forbidden",
	"Unsupported protocol version",
}

// AppendErrorJSON appends `{"code":N,"message":"..."}`. message must not need
// JSON escaping beyond quotes and backslashes, which are escaped here.
func AppendErrorJSON(dst []byte, code int, message string) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"message":"`...)
	for i := 0; i < len(message); i++ {
		c := message[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, `"}`...)
}

const hexDigits = "0123456789abcdef"
