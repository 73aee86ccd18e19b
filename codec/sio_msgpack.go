package codec

// Socket.IO packets as socket.io-msgpack-parser 3.x writes them: each
// packet is one msgpack map {type, data, nsp, id} (data and id only when
// present) sent as one binary Engine.IO message, binary values inline as
// bin (no attachment messages, no BINARY_EVENT / BINARY_ACK types).

// AppendSIOMsgpack appends the msgpack form of a packet given in the JSON
// parser's form: type t (a BINARY_* type is written as EVENT / ACK), the
// namespace (written as given: a client that named "" is answered on ""), the ack id (-1: none), and data, the JSON payload
// (empty: none) whose placeholders index att. The keys are in the order
// socket.io 4.8 builds its packets: id first in an ACK, else type, data,
// id, nsp. Invalid JSON in data is an error.
func AppendSIOMsgpack(dst []byte, t SIOType, nsp string, id int64, data []byte, att [][]byte) ([]byte, error) {
	switch t {
	case SIOBinaryEvent:
		t = SIOEvent
	case SIOBinaryAck:
		t = SIOAck
	}
	n := 2
	if len(data) > 0 {
		n++
	}
	if id >= 0 {
		n++
	}
	dst = AppendMsgpackMapHeader(dst, n)
	if t == SIOAck && id >= 0 {
		dst = AppendMsgpackInt(AppendMsgpackString(dst, "id"), id)
	}
	dst = AppendMsgpackUint(AppendMsgpackString(dst, "type"), uint64(t))
	if len(data) > 0 {
		var err error
		if dst, err = AppendMsgpackFromJSON(AppendMsgpackString(dst, "data"), data, att); err != nil {
			return dst, err
		}
	}
	if t != SIOAck && id >= 0 {
		dst = AppendMsgpackInt(AppendMsgpackString(dst, "id"), id)
	}
	return AppendMsgpackString(AppendMsgpackString(dst, "nsp"), nsp), nil
}

// DecodeSIOMsgpack decodes one packet sent by socket.io-msgpack-parser,
// validated as its decoder does (an integer type from CONNECT to
// CONNECT_ERROR, a string nsp, data of the type's shape, an integer id)
// and, beyond it, as DecodeSIO validates the JSON form (event name a
// string or number and not reserved, ack id within MaxAckID, namespace
// length). The packet comes back in the JSON parser's form: p.Data is the
// payload as JSON, appended to dst, its bin values placeholders indexing
// attachments, which borrow msg as p.Nsp does; with attachments an EVENT
// or ACK becomes BINARY_EVENT / BINARY_ACK. Keys other than the four are
// ignored (they must still be valid msgpack); a key given twice is an
// error; data or id undefined (notepack 2.x writes d4 00 00) is absent. maxAttachments <= 0 means DefaultMaxAttachments.
func DecodeSIOMsgpack(dst, msg []byte, maxAttachments int) (p SIOPacket, attachments [][]byte, err error) {
	p = SIOPacket{ID: -1}
	r := mpReader{b: msg}
	h, err := r.head()
	if err != nil {
		return p, nil, err
	}
	if h.kind != mpMap {
		return p, nil, ErrSIOPayload
	}
	const (
		seenType = 1 << iota
		seenNsp
		seenData
		seenID
	)
	seen := 0
	start := len(dst)
	for k := 0; k < h.n; k++ {
		key, err := r.head()
		if err != nil {
			return p, nil, err
		}
		var bit int
		if key.kind == mpStr {
			switch string(key.data) {
			case "type":
				bit = seenType
			case "nsp":
				bit = seenNsp
			case "data":
				bit = seenData
			case "id":
				bit = seenID
			}
		} else if key.kind == mpArray || key.kind == mpMap {
			// A container key: skip its contents (nothing here names one).
			if err := r.skipContents(&key); err != nil {
				return p, nil, err
			}
		}
		if bit != 0 && seen&bit != 0 {
			return p, nil, ErrSIOPayload
		}
		if (bit == seenData || bit == seenID) && r.undefined() {
			// notepack 2.x writes an undefined member (socket.io-client's
			// CONNECT without auth has data: undefined): as if absent.
			seen |= bit
			continue
		}
		seen |= bit
		switch bit {
		case seenType:
			v, ok, err := r.integer()
			if err != nil {
				return p, nil, err
			}
			if !ok || v < int64(SIOConnect) || v > int64(SIOConnectError) {
				return p, nil, ErrSIOType
			}
			p.Type = SIOType(v)
		case seenNsp:
			v, err := r.head()
			if err != nil {
				return p, nil, err
			}
			if v.kind != mpStr {
				return p, nil, ErrSIOPayload
			}
			if v.n > maxNamespaceLen {
				return p, nil, ErrSIONamespaceTooBig
			}
			p.Nsp = v.data
		case seenData:
			if dst, err = r.value(dst, 1); err != nil {
				return p, nil, err
			}
		case seenID:
			v, ok, err := r.integer()
			if err != nil {
				return p, nil, err
			}
			if !ok || v < 0 || v > MaxAckID {
				return p, nil, ErrSIOAckID
			}
			p.ID = v
		default: // an unknown key: its value is read and dropped
			mark, natt := len(dst), len(r.att)
			if dst, err = r.value(dst, 1); err != nil {
				return p, nil, err
			}
			dst, r.att = dst[:mark], r.att[:natt]
		}
	}
	if r.i != len(msg) {
		return p, nil, ErrMsgpackTrailing
	}
	if seen&seenType == 0 {
		return p, nil, ErrSIOType
	}
	if seen&seenNsp == 0 {
		return p, nil, ErrSIOPayload
	}
	p.Data = dst[start:]
	if n := len(r.att); n > 0 {
		if maxAttachments <= 0 {
			maxAttachments = DefaultMaxAttachments
		}
		if n > maxAttachments {
			return p, nil, ErrSIOTooManyAttach
		}
		switch p.Type {
		case SIOEvent:
			p.Type = SIOBinaryEvent
		case SIOAck:
			p.Type = SIOBinaryAck
		default: // binary in a CONNECT's auth or elsewhere: not carried
			return p, nil, ErrSIOAttachments
		}
		p.Attachments = n
	}
	if err := validatePayload(&p); err != nil {
		return p, nil, err
	}
	return p, r.att, nil
}

// integer reads a value that must be an integer (any int form, or a float
// with an integral value, as Number.isInteger accepts); ok is false for
// any other value, which is still read whole.
func (r *mpReader) integer() (v int64, ok bool, err error) {
	h, err := r.head()
	if err != nil {
		return 0, false, err
	}
	switch h.kind {
	case mpInt:
		return h.i, true, nil
	case mpUint:
		if h.u > 1<<62 {
			return 1 << 62, true, nil // beyond any bound checked here
		}
		return int64(h.u), true, nil
	case mpFloat:
		f := h.f
		if f != f || f > 1<<62 || f < -(1<<62) || f != float64(int64(f)) {
			return 0, false, nil
		}
		return int64(f), true, nil
	case mpArray, mpMap:
		if err := r.skipContents(&h); err != nil {
			return 0, false, err
		}
	}
	return 0, false, nil
}

// skipContents reads the elements of a container whose header was read.
func (r *mpReader) skipContents(h *mpHead) error {
	n := h.n
	if h.kind == mpMap {
		n *= 2
	}
	natt := len(r.att)
	var scratch [64]byte
	for k := 0; k < n; k++ {
		if _, err := r.value(scratch[:0], 1); err != nil {
			return err
		}
	}
	r.att = r.att[:natt]
	return nil
}
