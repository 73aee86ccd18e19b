package socketio

import (
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

// encodeControl encodes CONNECT / DISCONNECT / CONNECT_ERROR packets, whose
// payload is raw JSON (or empty).
func encodeControl(t codec.SIOType, nsp string, payload []byte) []byte {
	b := codec.AppendSIOHeader(make([]byte, 0, 8+len(nsp)+len(payload)), t, 0, nsp, -1)
	return append(b, payload...)
}
