package codec

import (
	"encoding/base64"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Engine.IO v3 (socket.io-client 2.x, engine.io-client 3.x) differs from v4
// on the wire in its polling payloads and in how binary travels:
//
//   - A text payload is a run of `<length>:<packet>` records, where length
//     counts the packet's UTF-16 code units (JavaScript's String.length),
//     not its bytes: "😀" is 2, "é" is 1. Binary packets in a text payload
//     are `b4<base64>`; an empty payload is `0:`.
//   - A binary payload (sent to clients that did not ask for base64, and
//     POSTed as application/octet-stream by browsers with XHR2) is a run of
//     `<0|1><decimal digits as byte values 0-9><0xff><packet>`: 0 for a
//     string packet (its UTF-8 bytes, the length in bytes), 1 for a binary
//     one (the type byte 4, then the data).
//   - A binary WebSocket message carries the packet type as its first byte
//     (4 for a message).
//
// Everything here follows engine.io's parser-v3 (engine.io-parser 2.2.x).

// Errors of the Engine.IO v3 payload decoders.
var (
	ErrV3Length  = errors.New("eio3: invalid payload length")
	ErrV3UTF8    = errors.New("eio3: payload is not valid UTF-8")
	ErrV3Payload = errors.New("eio3: invalid payload")
)

// maxV3LengthDigits bounds the decimal length of one record: a payload is
// capped far below 10^10 bytes anyway.
const maxV3LengthDigits = 10

// UTF16Len is the length JavaScript gives the string that b decodes to as
// UTF-8: UTF-16 code units, two for a character beyond the BMP. Invalid
// sequences count as the U+FFFD replacement characters a WHATWG decoder
// (Node's Buffer.toString, TextDecoder) produces for them: one per maximal
// subpart.
func UTF16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			if r >= 0x10000 {
				n += 2
			} else {
				n++
			}
			i += size
			continue
		}
		n++ // one U+FFFD for the maximal subpart starting at i
		i += invalidSubpart(b[i:])
	}
	return n
}

// invalidSubpart is the length of the maximal subpart of an ill-formed
// sequence at the start of b (WHATWG Encoding §4.1's UTF-8 decoder): the
// lead byte, then each continuation byte that is still allowed.
func invalidSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case c >= 0xc2 && c <= 0xdf:
		need = 1
	case c >= 0xe0 && c <= 0xef:
		need = 2
		if c == 0xe0 {
			lo = 0xa0
		} else if c == 0xed {
			hi = 0x9f
		}
	case c >= 0xf0 && c <= 0xf4:
		need = 3
		if c == 0xf0 {
			lo = 0x90
		} else if c == 0xf4 {
			hi = 0x8f
		}
	default:
		return 1
	}
	i := 1
	for ; i <= need && i < len(b); i++ {
		if b[i] < lo || b[i] > hi {
			break
		}
		lo, hi = 0x80, 0xbf
	}
	return i
}

// AppendPayloadPacketV3 appends one packet to a v3 text payload:
// `<length>:<type><data>`, or `<length>:b4<base64>` for binary data.
func AppendPayloadPacketV3(dst []byte, t PacketType, binary bool, data []byte) []byte {
	if binary {
		n := base64.StdEncoding.EncodedLen(len(data))
		dst = strconv.AppendInt(dst, int64(2+n), 10)
		dst = append(dst, ':', 'b', byte('0'+t))
		return base64.StdEncoding.AppendEncode(dst, data)
	}
	dst = strconv.AppendInt(dst, int64(1+UTF16Len(data)), 10)
	dst = append(dst, ':', byte('0'+t))
	return append(dst, data...)
}

// AppendBinaryPayloadPacketV3 appends one packet to a v3 binary payload:
// a string packet as 0, its byte length, 0xff, the type digit and data; a
// binary one as 1, its length, 0xff, the type byte and data.
func AppendBinaryPayloadPacketV3(dst []byte, t PacketType, binary bool, data []byte) []byte {
	if binary {
		dst = appendV3BinaryHeader(dst, 1, 1+len(data))
		dst = append(dst, byte(t))
		return append(dst, data...)
	}
	dst = appendV3BinaryHeader(dst, 0, 1+len(data))
	dst = append(dst, byte('0'+t))
	return append(dst, data...)
}

func appendV3BinaryHeader(dst []byte, kind byte, n int) []byte {
	var d [20]byte
	digits := strconv.AppendInt(d[:0], int64(n), 10)
	dst = append(dst, kind)
	for _, c := range digits {
		dst = append(dst, c-'0')
	}
	return append(dst, 0xff)
}

// TextToBinaryPayloadV3 appends the records of a v3 text payload (as built
// by AppendPayloadPacketV3, so well-formed) to dst in the binary format,
// each as a string packet: a client decodes a `b4…` string as binary just
// the same.
func TextToBinaryPayloadV3(dst, text []byte) []byte {
	for len(text) > 0 {
		colon := indexByte(text, ':')
		if colon < 0 {
			return dst
		}
		units, _ := strconv.Atoi(string(text[:colon]))
		text = text[colon+1:]
		end, ok := utf16Prefix(text, units)
		if !ok {
			end = len(text)
		}
		dst = appendV3BinaryHeader(dst, 0, end)
		dst = append(dst, text[:end]...)
		text = text[end:]
	}
	return dst
}

// utf16Prefix returns the byte length of the first units UTF-16 code units
// of the valid UTF-8 text b. ok is false when b is shorter, when it is not
// valid UTF-8 there, or when units ends between the two halves of a
// surrogate pair.
func utf16Prefix(b []byte, units int) (n int, ok bool) {
	for units > 0 {
		if n >= len(b) {
			return n, false
		}
		c := b[n]
		if c < utf8.RuneSelf {
			n++
			units--
			continue
		}
		r, size := utf8.DecodeRune(b[n:])
		if r == utf8.RuneError && size <= 1 {
			return n, false
		}
		u := 1
		if r >= 0x10000 {
			u = 2
		}
		if u > units {
			return n, false
		}
		n += size
		units -= u
	}
	return n, true
}

// PayloadReaderV3 iterates the packets of a v3 polling POST body, text or
// binary, with the limits of PayloadReader: an empty body, a bad length, a
// record longer than what is left, invalid UTF-8 in a text body, an
// unknown packet type or bad base64 is an error, never a panic. Base64 is
// decoded in place: the input is modified and Data aliases it.
type PayloadReaderV3 struct {
	rest       []byte
	binary     bool
	started    bool
	done       bool
	count      int
	MaxPackets int // 0 means no limit
}

// NewPayloadReaderV3 returns a reader over body, a binary payload
// (application/octet-stream) when binary is set. maxPackets <= 0 means no
// limit.
func NewPayloadReaderV3(body []byte, binary bool, maxPackets int) PayloadReaderV3 {
	return PayloadReaderV3{rest: body, binary: binary, MaxPackets: maxPackets}
}

// Next returns the next packet; ok is false once the payload is exhausted.
func (r *PayloadReaderV3) Next() (p Packet, ok bool, err error) {
	if r.done {
		return Packet{}, false, nil
	}
	if !r.started {
		r.started = true
		if len(r.rest) == 0 {
			return r.fail(ErrV3Payload)
		}
		if !r.binary && !utf8.Valid(r.rest) {
			return r.fail(ErrV3UTF8)
		}
	}
	for {
		if len(r.rest) == 0 {
			r.done = true
			return Packet{}, false, nil
		}
		var msg []byte
		isString := true
		if r.binary {
			kind := r.rest[0]
			if kind > 1 {
				return r.fail(ErrV3Length)
			}
			isString = kind == 0
			n, i := 0, 1
			for ; i < len(r.rest) && r.rest[i] != 0xff; i++ {
				d := r.rest[i]
				if d > 9 || i > maxV3LengthDigits {
					return r.fail(ErrV3Length)
				}
				n = n*10 + int(d)
			}
			if i == 1 || i == len(r.rest) || n == 0 || n > len(r.rest)-i-1 {
				return r.fail(ErrV3Length)
			}
			msg = r.rest[i+1 : i+1+n]
			r.rest = r.rest[i+1+n:]
		} else {
			n, i := 0, 0
			for ; i < len(r.rest) && r.rest[i] != ':'; i++ {
				d := r.rest[i]
				if d < '0' || d > '9' || i >= maxV3LengthDigits {
					return r.fail(ErrV3Length)
				}
				n = n*10 + int(d-'0')
			}
			if i == 0 || i == len(r.rest) {
				return r.fail(ErrV3Length)
			}
			body := r.rest[i+1:]
			end, ok := utf16Prefix(body, n)
			if !ok {
				return r.fail(ErrV3Length)
			}
			msg = body[:end]
			r.rest = body[end:]
			if end == 0 {
				continue // `0:` is an empty payload, as parser-v3 skips it
			}
		}
		r.count++
		if r.MaxPackets > 0 && r.count > r.MaxPackets {
			return r.fail(ErrTooManyPackets)
		}
		if !isString {
			if msg[0] != byte(PacketMessage) {
				return r.fail(ErrInvalidPacket)
			}
			return Packet{Type: PacketMessage, Binary: true, Data: msg[1:]}, true, nil
		}
		p, err := DecodeTextV3(msg)
		if err != nil {
			return r.fail(err)
		}
		return p, true, nil
	}
}

func (r *PayloadReaderV3) fail(err error) (Packet, bool, error) {
	r.done = true
	r.rest = nil
	return Packet{}, false, err
}

// DecodeTextV3 decodes a v3 text packet: as DecodeText, plus `b4<base64>`
// for a binary message sent as base64 (decoded in place, so b is
// modified).
func DecodeTextV3(b []byte) (Packet, error) {
	if len(b) > 0 && b[0] == 'b' {
		if len(b) < 2 || b[1] != '0'+byte(PacketMessage) {
			return Packet{}, ErrInvalidPacket
		}
		n, err := decodeBase64Lenient(b[2:])
		if err != nil {
			return Packet{}, err
		}
		return Packet{Type: PacketMessage, Binary: true, Data: b[2 : 2+n]}, nil
	}
	return DecodeText(b)
}

// DecodeBinaryV3 decodes a binary WebSocket message of a v3 client: the
// type byte (only 4, a message, carries data) and the data.
func DecodeBinaryV3(b []byte) (Packet, error) {
	if len(b) == 0 || b[0] != byte(PacketMessage) {
		return Packet{}, ErrInvalidPacket
	}
	return Packet{Type: PacketMessage, Binary: true, Data: b[1:]}, nil
}

// decodeBase64Lenient decodes standard base64 in place, with or without
// padding (Node's Buffer.from(s, "base64") accepts both).
func decodeBase64Lenient(b []byte) (int, error) {
	for i := 0; i < 2 && len(b) > 0 && b[len(b)-1] == '='; i++ {
		b = b[:len(b)-1]
	}
	n, err := base64.RawStdEncoding.Decode(b, b)
	if err != nil {
		return 0, ErrInvalidBase64
	}
	return n, nil
}
