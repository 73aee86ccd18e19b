package socketio

import (
	"errors"
	"strconv"
	"time"

	"github.com/valyala/bytebufferpool"

	"sio/codec"
	"sio/engine"
)

// Parser is the packet format of a server's clients, Node's `parser`
// option: Options.Parser nil is socket.io-parser's (JSON text, binary
// values as attachment messages), MsgpackParser socket.io-msgpack-parser's.
// It is chosen per server: every client of the server must use the same
// parser, as in Node.
//
// Whatever the parser, the server works on packets in the JSON parser's
// form: a packet's data is JSON text in which each binary value is a
// placeholder {"_placeholder":true,"num":N} indexing a list of
// attachments. A Parser translates between that form and the wire: one
// packet is one Engine.IO message (parsers that split a packet over
// several messages, as the JSON parser does, are not pluggable).
type Parser interface {
	// Encode appends to dst the Engine.IO message carrying p and reports
	// whether it is a binary message. It is called once per packet sent:
	// once per broadcast, whatever the number of recipients. It may be
	// called from any goroutine at once.
	Encode(dst []byte, p *ParserPacket) (msg []byte, binary bool, err error)
	// Decode reads the packet a client's message carries, appending its
	// data (JSON) to dst. msg is borrowed, valid until the packet is
	// dispatched: the packet's Nsp and attachments may point into it, and
	// into dst. The packet is validated as codec.DecodeSIO validates the
	// JSON form; an error closes the client (ReasonParseError) and counts
	// in Stats.ParseErrors. Called on the client's event loop.
	Decode(dst, msg []byte, binary bool, maxAttachments int) (p codec.SIOPacket, attachments [][]byte, err error)
}

// ParserPacket is a packet to encode, in the JSON parser's form.
type ParserPacket struct {
	Type        codec.SIOType // BINARY_EVENT / BINARY_ACK when Attachments is not empty
	Nsp         string
	ID          int64  // the ack id, -1 when none
	Data        []byte // the JSON payload; empty when the packet has none (DISCONNECT)
	Attachments [][]byte
}

// MsgpackParser is socket.io-msgpack-parser's format (3.x, the npm
// package `socket.io-msgpack-parser`): each packet is one msgpack map
// {type, data, nsp, id} sent as one binary message, binary values inline.
// Numbers, strings, binary, arrays, maps, booleans and nil are written
// byte for byte as the npm parser writes the same JavaScript values (see
// codec/msgpack.go); a client's Dates arrive as ISO strings, as JSON would
// carry them.
type MsgpackParser struct{}

// ErrTextMessage is a text message sent to a server whose parser reads
// binary messages only.
var ErrTextMessage = errors.New("socketio: text message to a msgpack server")

// Encode implements Parser.
func (MsgpackParser) Encode(dst []byte, p *ParserPacket) ([]byte, bool, error) {
	b, err := codec.AppendSIOMsgpack(dst, p.Type, p.Nsp, p.ID, p.Data, p.Attachments)
	return b, true, err
}

// Decode implements Parser.
func (MsgpackParser) Decode(dst, msg []byte, binary bool, maxAttachments int) (codec.SIOPacket, [][]byte, error) {
	if !binary {
		return codec.SIOPacket{}, nil, ErrTextMessage
	}
	return codec.DecodeSIOMsgpack(dst, msg, maxAttachments)
}

// --- the server's side -----------------------------------------------------

// onParsedMessage is onMessage for a server with a Parser: each message is
// one whole packet.
func (c *client) onParsedMessage(pr Parser, data []byte, binary bool) {
	if !c.joined && len(c.sockets) == 0 && len(data) > maxPreConnectPacket {
		c.parseError()
		return
	}
	buf := bytebufferpool.Get()
	p, att, err := pr.Decode(buf.B[:0], data, binary, c.srv.opts.MaxAttachments)
	if err == nil && p.Attachments != len(att) {
		err = codec.ErrSIOAttachments
	}
	if err == nil {
		n := 0
		for _, a := range att {
			n += len(a)
		}
		if n > c.srv.opts.MaxAttachmentBytes {
			err = codec.ErrSIOAttachments
		}
	}
	if err != nil {
		bytebufferpool.Put(buf)
		c.parseError()
		return
	}
	if len(p.Data) > 0 {
		buf.B = p.Data[:0] // the decoder may have grown it
	}
	if !c.joined && p.Type != codec.SIOConnect {
		bytebufferpool.Put(buf)
		c.closeWith(ReasonForcedServerClose) // nothing but CONNECT before a namespace is joined
		return
	}
	c.dispatch(&p, att)
	bytebufferpool.Put(buf) // the packet's data was borrowed until now
}

// parseError closes a client whose packet the parser refused.
func (c *client) parseError() {
	c.srv.parseErrors.Add(1)
	c.closeWith(ReasonParseError)
}

// sendControl sends a CONNECT, CONNECT_ERROR or DISCONNECT packet.
func (c *client) sendControl(t codec.SIOType, nsp string, payload []byte) {
	if pr := c.srv.opts.Parser; pr != nil {
		c.sendParsed(pr, &ParserPacket{Type: t, Nsp: nsp, ID: -1, Data: payload}, false)
		return
	}
	c.sess.SendMessage(encodeControl(t, nsp, payload), nil, false)
}

// sendParsed encodes p with pr and queues the message.
func (c *client) sendParsed(pr Parser, p *ParserPacket, volatile bool) error {
	n := len(p.Data) + len(p.Nsp) + 32
	for _, a := range p.Attachments {
		n += len(a) + 5
	}
	msg, binary, err := pr.Encode(make([]byte, 0, n), p)
	if err != nil {
		c.srv.opts.Logger.Warn("parser: cannot encode a packet", "nsp", p.Nsp, "err", err)
		return err
	}
	if binary {
		c.sess.SendBinary(msg, volatile)
	} else {
		c.sess.SendMessage(msg, nil, volatile)
	}
	return nil
}

// sendEventParsed encodes an EVENT (ack false) or ACK with the server's
// parser and queues it.
func (c *client) sendEventParsed(pr Parser, nsp string, id int64, data []any, ack, volatile bool) error {
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	js, att, err := encodePayload(buf.B[:0], data)
	buf.B = js
	if err != nil {
		return err
	}
	return c.sendParsed(pr, &ParserPacket{Type: eventType(ack, len(att)), Nsp: nsp, ID: id, Data: js, Attachments: att}, volatile)
}

func eventType(ack bool, attachments int) codec.SIOType {
	t := codec.SIOEvent
	if ack {
		t = codec.SIOAck
	}
	if attachments > 0 {
		t += codec.SIOBinaryEvent - codec.SIOEvent // 2→5, 3→6
	}
	return t
}

// encodePayload appends the JSON array of data to dst, binary values as
// placeholders.
func encodePayload(dst []byte, data []any) ([]byte, [][]byte, error) {
	e := encoder{buf: append(dst, '[')}
	for i, v := range data {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.arg(v); err != nil {
			return e.buf, nil, err
		}
	}
	return append(e.buf, ']'), e.attachments, nil
}

// prepared returns p encoded for every transport with the server's parser
// (Packet.Prepared when it is the default), encoding it on first use.
func (s *Server) prepared(p *Packet) (*Prepared, error) {
	pr := s.opts.Parser
	if pr == nil {
		return p.Prepared()
	}
	if pp := p.parsed.Load(); pp != nil {
		return pp, nil
	}
	js, att, err := encodePayload(nil, p.Data)
	if err != nil {
		return nil, err
	}
	pp, err := preparedWith(pr, &ParserPacket{Type: eventType(false, len(att)), Nsp: p.Nsp, ID: p.ID, Data: js, Attachments: att})
	if err != nil {
		return nil, err
	}
	if !p.parsed.CompareAndSwap(nil, pp) {
		return p.parsed.Load(), nil
	}
	return pp, nil
}

// preparedWith encodes a packet once for every transport with pr.
func preparedWith(pr Parser, p *ParserPacket) (*Prepared, error) {
	msg, binary, err := pr.Encode(nil, p)
	if err != nil {
		return nil, err
	}
	if binary {
		return engine.NewPreparedBinary(msg), nil
	}
	return engine.NewPrepared(msg, nil), nil
}

// broadcastParsed is recoveryLog.broadcast with a Parser: the JSON payload
// is encoded at once (its offset placeholder at the end, as there), and the
// parser's message built under the log's lock once the offset is known,
// into the Prepared the batches already share. data ends with the offset
// placeholder.
func (r *recoveryLog) broadcastParsed(a *MemoryAdapter, pr Parser, data []any, opts *BroadcastOptions) {
	nsp := a.nsp.name
	js, att, err := encodePayload(nil, data)
	if err != nil {
		a.nsp.srv.opts.Logger.Warn("broadcast: cannot encode arguments", "nsp", nsp, "err", err)
		return
	}
	inJS := len(js) - 2 - offsetDigits // the placeholder digits end the array, before `"]`
	prep := &Prepared{}
	lp := &Packet{Nsp: nsp, Data: data, ID: -1}

	var sel selection
	a.mu.RLock()
	a.selectLocked(opts, &sel)
	a.mu.RUnlock()
	batches := a.nsp.group(prep, data, sel.each, false, nil)

	var digits [offsetDigits]byte
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.next
	r.next++
	s := strconv.AppendUint(digits[:0], seq, 36)
	pad := offsetDigits - len(s)
	copy(digits[pad:], s)
	for i := range pad {
		digits[i] = '0'
	}
	copy(js[inJS:], digits[:])
	data[len(data)-1] = r.prefix + "-" + string(digits[:])
	pp, err := preparedWith(pr, &ParserPacket{Type: eventType(false, len(att)), Nsp: nsp, ID: -1, Data: js, Attachments: att})
	if err != nil { // the payload is our own JSON: only a faulty parser gets here
		a.nsp.srv.opts.Logger.Warn("broadcast: the parser cannot encode a packet", "nsp", nsp, "err", err)
		return // the batches go unposted, to the collector
	}
	prep.WS, prep.Polling = pp.WS, pp.Polling // not shared yet: the batches are posted below
	lp.parsed.Store(prep)
	r.append(logEntry{
		seq: seq, at: time.Since(r.base), p: lp, size: len(prep.WS),
		rooms: append([]Room(nil), opts.Rooms...), except: append([]Room(nil), opts.Except...),
	})
	a.nsp.post(batches)
}
