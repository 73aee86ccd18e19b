package engine

import (
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"

	"sio/codec"
	"sio/loop"
)

// Prepared is a message encoded once for every transport, so a broadcast
// costs one copy per recipient and no encoding. It is immutable once built
// and may be shared by any number of sessions and goroutines.
type Prepared struct {
	WS      []byte // the WebSocket frames: "4"+text as a text frame, then one binary frame per attachment
	Polling []byte // the same packets as polling payload segments joined by \x1e

	v3 atomic.Pointer[preparedV3] // Engine.IO v3 variants, built on first use (prepared_v3.go)
	// The WS frames for permessage-deflate recipients: nil until the first
	// such recipient, noCompress for compress(false). One pointer, so that
	// the option costs a broadcast 16 bytes (one size class) when unused.
	z atomic.Pointer[preparedDeflate]
}

// preparedDeflate holds the compressed frames: built once, by the first
// deflate recipient's loop, and shared like WS (compression has no
// per-connection context).
type preparedDeflate struct {
	once   sync.Once
	frames []byte
}

// noCompress marks a Prepared that is never compressed.
var noCompress = &preparedDeflate{}

// Uncompressed returns a Prepared with the same bytes (shared, not copied)
// that is never compressed: the compress(false) flag of a broadcast.
func (p *Prepared) Uncompressed() *Prepared {
	if p.z.Load() == noCompress {
		return p
	}
	u := &Prepared{WS: p.WS, Polling: p.Polling}
	u.z.Store(noCompress)
	return u
}

// wsFor returns the frames to write to c: compressed ones when c
// negotiated permessage-deflate and p may be compressed.
func (p *Prepared) wsFor(c *loop.Conn) []byte {
	if !c.Deflate() {
		return p.WS
	}
	z := p.z.Load()
	if z == nil {
		p.z.CompareAndSwap(nil, &preparedDeflate{})
		z = p.z.Load()
	}
	if z == noCompress {
		return p.WS
	}
	z.once.Do(func() {
		d := c.Loop().Server().Options().Deflate
		z.frames = d.AppendDeflated(make([]byte, 0, len(p.WS)/2+64), p.WS)
	})
	return z.frames
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
