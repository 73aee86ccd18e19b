package engine

import (
	"github.com/gobwas/ws"

	"sio/codec"
)

// preparedV3 holds a Prepared's encodings for Engine.IO v3 sessions. They
// are built from its WebSocket frames on the first delivery to a v3 session
// (so never for traffic that reaches v4 sessions only), once per Prepared,
// and shared as the v4 ones are.
type preparedV3 struct {
	src    []byte // the v4 WebSocket frames they were built from
	ws     []byte // the frames, binary ones with their type byte (the v4 frames when there are none)
	text   []byte // the text payload records
	bin    []byte // the binary payload records (only when binary)
	binary bool   // the packet has attachments
}

// v3Variants returns p's v3 encodings, building them on first use. Safe for
// concurrent callers: a race builds twice and keeps one.
func (p *Prepared) v3Variants() *preparedV3 {
	if v := p.v3.Load(); v != nil {
		return v
	}
	v := buildV3(p.WS)
	if !p.v3.CompareAndSwap(nil, v) {
		return p.v3.Load()
	}
	return v
}

func buildV3(frames []byte) *preparedV3 {
	v := &preparedV3{src: frames}
	size, count := 0, 0
	eachFrame(frames, func(binary bool, data []byte) {
		v.binary = v.binary || binary
		size += len(data)
		count++
	})
	v.ws = frames
	if v.binary {
		// Each binary frame gains a byte, which may lengthen its header.
		v.ws = make([]byte, 0, len(frames)+9*count)
		v.bin = make([]byte, 0, size+16*count)
	}
	v.text = make([]byte, 0, size*4/3+16*count)
	eachFrame(frames, func(binary bool, data []byte) {
		if binary {
			v.ws = codec.AppendFrameHeader(v.ws, ws.OpBinary, 1+len(data))
			v.ws = append(v.ws, byte(codec.PacketMessage))
			v.ws = append(v.ws, data...)
			v.text = codec.AppendPayloadPacketV3(v.text, codec.PacketMessage, true, data)
			v.bin = codec.AppendBinaryPayloadPacketV3(v.bin, codec.PacketMessage, true, data)
			return
		}
		// data is "4" and the packet's text.
		v.text = codec.AppendPayloadPacketV3(v.text, codec.PacketMessage, false, data[1:])
		if v.binary {
			v.ws = codec.AppendFrame(v.ws, ws.OpText, data)
			v.bin = codec.AppendBinaryPayloadPacketV3(v.bin, codec.PacketMessage, false, data[1:])
		}
	})
	return v
}

// each calls fn with the message's text (without its type digit) and each
// attachment, in order.
func (v *preparedV3) each(fn func(binary bool, data []byte)) {
	eachFrame(v.src, func(binary bool, data []byte) {
		if !binary {
			data = data[1:]
		}
		fn(binary, data)
	})
}

// eachFrame walks unmasked server frames as Prepared builds them.
func eachFrame(b []byte, fn func(binary bool, payload []byte)) {
	for len(b) > 0 {
		h, n, err := codec.ParseFrameHeader(b, 0)
		if err != nil || n == 0 || int64(len(b)-n) < h.Length {
			return
		}
		end := n + int(h.Length)
		fn(h.OpCode == ws.OpBinary, b[n:end])
		b = b[end:]
	}
}
