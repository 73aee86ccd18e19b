package engine

import (
	"sync/atomic"

	"github.com/gobwas/ws"

	"sio/codec"
)

// Prepared is a message encoded once for every transport, so a broadcast
// costs one copy per recipient and no encoding. It is immutable once built
// and may be shared by any number of sessions and goroutines.
type Prepared struct {
	WS      []byte // the WebSocket frames: "4"+text as a text frame, then one binary frame per attachment
	Polling []byte // the same packets as polling payload segments joined by \x1e

	v3 atomic.Pointer[preparedV3] // Engine.IO v3 variants, built on first use (prepared_v3.go)
}

// NewPrepared encodes an Engine.IO message packet (text) and its binary
// attachments for both transports.
func NewPrepared(text []byte, attachments [][]byte) *Prepared {
	p := &Prepared{}
	p.AppendTo(text, attachments)
	return p
}

// AppendTo encodes into p's buffers, reusing their capacity.
func (p *Prepared) AppendTo(text []byte, attachments [][]byte) {
	p.v3.Store(nil)
	n := codec.FrameHeaderLen(len(text)+1) + len(text) + 1
	for _, a := range attachments {
		n += codec.FrameHeaderLen(len(a)) + len(a)
	}
	wsb := p.WS[:0]
	if cap(wsb) < n {
		wsb = make([]byte, 0, n)
	}
	wsb = codec.AppendFrameHeader(wsb, ws.OpText, len(text)+1)
	wsb = append(wsb, '4')
	wsb = append(wsb, text...)
	for _, a := range attachments {
		wsb = codec.AppendFrame(wsb, ws.OpBinary, a)
	}
	p.WS = wsb
	pb := codec.AppendPayloadPacket(p.Polling[:0], true, codec.PacketMessage, false, text)
	for _, a := range attachments {
		pb = codec.AppendPayloadPacket(pb, false, codec.PacketMessage, true, a)
	}
	p.Polling = pb
}
