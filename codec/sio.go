package codec

import (
	"errors"
	"strconv"
)

// SIOType is a Socket.IO v5 packet type.
type SIOType uint8

// Socket.IO v5 packet types.
const (
	SIOConnect SIOType = iota
	SIODisconnect
	SIOEvent
	SIOAck
	SIOConnectError
	SIOBinaryEvent
	SIOBinaryAck
)

// Errors of the Socket.IO decoder. Any of them closes the connection, as
// socket.io 4.8 does.
var (
	ErrSIOType            = errors.New("sio: unknown packet type")
	ErrSIOAttachments     = errors.New("sio: illegal attachments")
	ErrSIOTooManyAttach   = errors.New("sio: too many attachments")
	ErrSIOAckID           = errors.New("sio: invalid ack id")
	ErrSIOPayload         = errors.New("sio: invalid payload")
	ErrSIOReservedEvent   = errors.New("sio: reserved event name")
	ErrSIONamespaceTooBig = errors.New("sio: namespace too long")
)

// DefaultMaxAttachments is socket.io-parser's default (4.2.6+).
const DefaultMaxAttachments = 10

// MaxAttachmentsLimit is the most attachments a packet may ever carry here
// (placeholder numbers are tracked in a 256-bit set).
const MaxAttachmentsLimit = 256

// MaxAckID is the largest ack id accepted: JavaScript's safe integer range.
const MaxAckID = 1<<53 - 1

// maxNamespaceLen bounds a namespace name.
const maxNamespaceLen = 1024

// SIOPacket is a decoded Socket.IO packet header; Nsp and Data are borrowed
// from the input.
type SIOPacket struct {
	Type        SIOType
	Attachments int    // BINARY_EVENT / BINARY_ACK only
	Nsp         []byte // "/" when the packet names none
	ID          int64  // ack id, -1 when absent
	Data        []byte // the raw JSON payload, empty when absent
}

var rootNsp = []byte{'/'}

// reservedEvents cannot be emitted by a client (socket.io-parser RESERVED_EVENTS).
var reservedEvents = [...]string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

// IsReservedEvent reports whether name is reserved.
func IsReservedEvent(name []byte) bool {
	for _, r := range reservedEvents {
		if string(name) == r {
			return true
		}
	}
	return false
}

// DecodeSIO decodes one Socket.IO packet exactly as socket.io-parser 4.2.x
// decodes and validates it, without allocating. maxAttachments <= 0 means
// DefaultMaxAttachments. Placeholders in binary packets are validated here
// (integer num below the attachment count, no duplicates); the attachments
// themselves follow as separate Engine.IO binary messages.
func DecodeSIO(b []byte, maxAttachments int) (SIOPacket, error) {
	p := SIOPacket{ID: -1, Nsp: rootNsp}
	if len(b) == 0 || b[0] < '0' || b[0] > '6' {
		return p, ErrSIOType
	}
	p.Type = SIOType(b[0] - '0')
	i := 1
	if p.Type == SIOBinaryEvent || p.Type == SIOBinaryAck {
		if maxAttachments <= 0 {
			maxAttachments = DefaultMaxAttachments
		}
		start := i
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start >= 6 {
				return p, ErrSIOTooManyAttach
			}
			n = n*10 + int(b[i]-'0')
			i++
		}
		if i == start || i >= len(b) || b[i] != '-' {
			return p, ErrSIOAttachments
		}
		if n > maxAttachments {
			return p, ErrSIOTooManyAttach
		}
		if n == 0 {
			// socket.io-parser 4.2.7 refuses a binary packet without
			// attachments (clients send a plain EVENT/ACK instead).
			return p, ErrSIOAttachments
		}
		p.Attachments = n
		i++
	}
	if i < len(b) && b[i] == '/' {
		start := i
		for i < len(b) && b[i] != ',' {
			i++
		}
		if i-start > maxNamespaceLen {
			return p, ErrSIONamespaceTooBig
		}
		p.Nsp = b[start:i]
		if i < len(b) {
			i++ // the comma
		}
	}
	if i < len(b) && b[i] >= '0' && b[i] <= '9' {
		start := i
		var id int64
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start >= 16 {
				return p, ErrSIOAckID
			}
			id = id*10 + int64(b[i]-'0')
			i++
		}
		if id > MaxAckID {
			return p, ErrSIOAckID
		}
		p.ID = id
	}
	p.Data = b[i:]
	return p, validatePayload(&p)
}

func validatePayload(p *SIOPacket) error {
	data := p.Data
	if len(data) == 0 {
		switch p.Type {
		case SIOConnect:
			return nil
		case SIODisconnect:
			return nil
		}
		return ErrSIOPayload
	}
	if p.Type == SIODisconnect {
		return ErrSIOPayload
	}
	s := scanner{b: data}
	if p.Type == SIOBinaryEvent || p.Type == SIOBinaryAck {
		s.track, s.attachments = true, p.Attachments
	}
	if err := s.validate(); err != nil {
		if err == errPlaceholder {
			return ErrSIOAttachments
		}
		return ErrSIOPayload
	}
	first := firstNonSpace(data)
	kind := Kind(data[first:])
	switch p.Type {
	case SIOConnect:
		if kind != JSONObject {
			return ErrSIOPayload
		}
	case SIOConnectError:
		if kind != JSONObject && kind != JSONString {
			return ErrSIOPayload
		}
	case SIOAck, SIOBinaryAck:
		if kind != JSONArray {
			return ErrSIOPayload
		}
	case SIOEvent, SIOBinaryEvent:
		if kind != JSONArray {
			return ErrSIOPayload
		}
		name, ok := firstElement(data[first:])
		if !ok {
			return ErrSIOPayload
		}
		switch Kind(name) {
		case JSONNumber:
		case JSONString:
			if reservedJSONString(name[1 : len(name)-1]) {
				return ErrSIOReservedEvent
			}
		default:
			return ErrSIOPayload
		}
	}
	return nil
}

// reservedJSONString reports whether the contents of a validated JSON string
// decode to a reserved event name: socket.io-parser compares the name after
// JSON.parse, so `"\u0064isconnect"` is reserved too.
func reservedJSONString(raw []byte) bool {
	var buf [len("removeListener")]byte // the longest reserved name
	n := 0
	for i := 0; i < len(raw); n++ {
		if n == len(buf) {
			return false
		}
		c := raw[i]
		i++
		if c == '\\' { // complete escapes: the scanner validated the string
			c = raw[i]
			i++
			switch c {
			case '"', '\\', '/':
			case 'u':
				r := 0
				for _, h := range raw[i : i+4] {
					r = r<<4 | int(unhex(h))
				}
				i += 4
				if r >= 0x80 {
					return false // every reserved name is ASCII
				}
				c = byte(r)
			default:
				return false // \b \f \n \r \t: no reserved name holds a control character
			}
		}
		buf[n] = c
	}
	return IsReservedEvent(buf[:n])
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func firstNonSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return len(b)
}

// firstElement returns the raw first element of a validated JSON array.
func firstElement(arr []byte) ([]byte, bool) {
	var out []byte
	_ = ArrayElements(arr, func(_ int, e []byte) bool { out = e; return false })
	return out, out != nil
}

// EventName returns the event name of a validated EVENT payload: the JSON
// string (unquoted; escapes are not decoded, see UnquoteJSONString) or the
// number literal, and whether it was a string.
func EventName(data []byte) (name []byte, isString bool, ok bool) {
	e, ok := firstElement(data[firstNonSpace(data):])
	if !ok {
		return nil, false, false
	}
	if Kind(e) == JSONString {
		return e[1 : len(e)-1], true, true
	}
	return e, false, true
}

// AppendSIOHeader appends a packet header: type, `<n>-` for binary types,
// `<nsp>,` unless the namespace is "/", and the ack id when id >= 0.
func AppendSIOHeader(dst []byte, t SIOType, attachments int, nsp string, id int64) []byte {
	dst = append(dst, byte('0'+t))
	if t == SIOBinaryEvent || t == SIOBinaryAck {
		dst = strconv.AppendInt(dst, int64(attachments), 10)
		dst = append(dst, '-')
	}
	if nsp != "" && nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	return dst
}

// AppendPlaceholder appends `{"_placeholder":true,"num":N}` with the keys in
// the order socket.io-parser writes them.
func AppendPlaceholder(dst []byte, num int) []byte {
	dst = append(dst, `{"_placeholder":true,"num":`...)
	dst = strconv.AppendInt(dst, int64(num), 10)
	return append(dst, '}')
}

// PlaceholderNum reports whether v (a raw JSON value) is exactly an
// attachment placeholder, `{"_placeholder":true,"num":N}` in any key order,
// and returns N.
func PlaceholderNum(v []byte) (int, bool) {
	if Kind(v) != JSONObject {
		return 0, false
	}
	var ph, hasNum bool
	num, members := 0, 0
	err := ObjectMembers(v, func(key, val []byte) bool {
		members++
		switch string(key) {
		case "_placeholder":
			ph = string(val) == "true"
		case "num":
			s := scanner{b: val}
			if n, ok := s.peekInt(); ok && len(val) <= 5 {
				num, hasNum = int(n), true
			}
		}
		return members <= 2
	})
	return num, err == nil && members == 2 && ph && hasNum
}
