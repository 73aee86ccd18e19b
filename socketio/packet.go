package socketio

import (
	"github.com/valyala/bytebufferpool"

	"sio/codec"
	"sio/engine"
)

// Prepared is a packet encoded once for every transport (see engine.Prepared).
type Prepared = engine.Prepared

// encodeEvent encodes an EVENT (or BINARY_EVENT) or ACK (BINARY_ACK) packet:
// header, then the JSON array of data. ack selects ACK types.
func encodeEvent(nsp string, id int64, data []any, ack bool) (text []byte, attachments [][]byte, err error) {
	e := encoder{buf: make([]byte, 0, 64)}
	// The header's type and attachment count are only known after the
	// payload: encode the payload first, then prepend the header.
	e.buf = append(e.buf, '[')
	for i, v := range data {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.arg(v); err != nil {
			return nil, nil, err
		}
	}
	e.buf = append(e.buf, ']')
	t := codec.SIOEvent
	if ack {
		t = codec.SIOAck
	}
	if len(e.attachments) > 0 {
		t += codec.SIOBinaryEvent - codec.SIOEvent // 2→5, 3→6
	}
	hdr := codec.AppendSIOHeader(make([]byte, 0, 16+len(nsp)+len(e.buf)), t, len(e.attachments), nsp, id)
	return append(hdr, e.buf...), e.attachments, nil
}

// maxHeaderRoom bounds a packet header without its namespace: type, "256-",
// and a 16-digit ack id.
const maxHeaderRoom = 1 + 4 + 16 + 1

// encodeEventPooled is encodeEvent into a pooled buffer: room for the header
// is reserved in front, the arguments are written after it, and the header
// is filled in once the attachment count is known. text points into buf.B.
func encodeEventPooled(nsp string, id int64, data []any, ack bool) (buf *bytebufferpool.ByteBuffer, text []byte, attachments [][]byte, err error) {
	buf = bytebufferpool.Get()
	room := maxHeaderRoom + len(nsp)
	e := encoder{buf: append(buf.B[:0], make([]byte, room)...)}
	e.buf = append(e.buf, '[')
	for i, v := range data {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.arg(v); err != nil {
			buf.B = e.buf
			bytebufferpool.Put(buf)
			return nil, nil, nil, err
		}
	}
	e.buf = append(e.buf, ']')
	buf.B = e.buf
	t := codec.SIOEvent
	if ack {
		t = codec.SIOAck
	}
	if len(e.attachments) > 0 {
		t += codec.SIOBinaryEvent - codec.SIOEvent // 2→5, 3→6
	}
	var hb [64]byte
	hdr := codec.AppendSIOHeader(hb[:0], t, len(e.attachments), nsp, id)
	start := room - len(hdr)
	copy(buf.B[start:room], hdr)
	return buf, buf.B[start:], e.attachments, nil
}

// encodeControl encodes CONNECT / DISCONNECT / CONNECT_ERROR packets, whose
// payload is raw JSON (or empty).
func encodeControl(t codec.SIOType, nsp string, payload []byte) []byte {
	b := codec.AppendSIOHeader(make([]byte, 0, 8+len(nsp)+len(payload)), t, 0, nsp, -1)
	return append(b, payload...)
}
