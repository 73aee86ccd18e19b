package engine

import (
	"testing"

	"sio/codec"
)

// Micro-benchmarks of the session's send and receive paths that need no
// transport: a packet queued for a polling GET (plain and prepared) and a
// received message handed to the handler. They guard the v4 hot path
// against the protocol branches around it (AllowEIO3).

type nopHandler struct{}

func (nopHandler) OnMessage(*Session, []byte, bool) {}
func (nopHandler) OnClose(*Session, Reason)         {}

func benchSession() *Session {
	srv := &Server{}
	srv.cfg.setDefaults()
	return &Session{srv: srv, transport: transportPolling, handler: nopHandler{}}
}

var benchText = []byte(`2["news",{"title":"hello world","body":"a short message"}]`)

func BenchmarkSessionQueuePolling(b *testing.B) {
	s := benchSession()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.queue(outPacket{typ: codec.PacketMessage, data: benchText})
		if len(s.pending) > 64<<10 {
			s.pending = s.pending[:0]
		}
	}
}

func BenchmarkSessionQueuePreparedPolling(b *testing.B) {
	s := benchSession()
	p := NewPrepared(benchText, nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.queuePrepared(p)
		if len(s.pending) > 64<<10 {
			s.pending = s.pending[:0]
		}
	}
}

func BenchmarkSessionOnPacketMessage(b *testing.B) {
	s := benchSession()
	p := codec.Packet{Type: codec.PacketMessage, Data: benchText}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.onPacket(p)
	}
}

func BenchmarkSessionOnWSMessageText(b *testing.B) {
	s := benchSession()
	msg := append([]byte{'4'}, benchText...)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.onWSMessage(msg, false)
	}
}

// BenchmarkPreparedV3Build is what the first delivery of a broadcast to an
// Engine.IO v3 session costs, once per broadcast (nothing for v4-only ones).
func BenchmarkPreparedV3Build(b *testing.B) {
	att := [][]byte{make([]byte, 256)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p := NewPrepared(benchText, att)
		_ = p.v3Variants()
	}
}
