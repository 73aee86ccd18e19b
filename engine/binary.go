package engine

import (
	"github.com/gobwas/ws"

	"sio/codec"
)

// Binary messages on their own, for a Socket.IO parser whose packets are
// one binary message each (socketio's MsgpackParser): no text packet, no
// attachments.

// SendBinary queues one binary message; the session owns data from now on.
// A volatile message is dropped when the transport cannot take it at once.
// Safe from any goroutine.
func (s *Session) SendBinary(data []byte, volatile bool) {
	s.push(outItem{text: data, binary: true, volatile: volatile})
}

// NewPreparedBinary encodes one binary Engine.IO message for both
// transports: a WebSocket binary frame, and a polling segment "b<base64>".
func NewPreparedBinary(msg []byte) *Prepared {
	p := &Prepared{}
	p.SetBinary(msg)
	return p
}

// SetBinary encodes the binary message msg into p's buffers, reusing their
// capacity (see NewPreparedBinary). p must not be shared yet.
func (p *Prepared) SetBinary(msg []byte) {
	n := codec.FrameHeaderLen(len(msg)) + len(msg)
	wsb := p.WS[:0]
	if cap(wsb) < n {
		wsb = make([]byte, 0, n)
	}
	p.WS = codec.AppendFrame(wsb, ws.OpBinary, msg)
	pb := p.Polling[:0]
	if m := codec.PayloadPacketLen(true, msg); cap(pb) < m {
		pb = make([]byte, 0, m)
	}
	p.Polling = codec.AppendPayloadPacket(pb, true, codec.PacketMessage, true, msg)
}
