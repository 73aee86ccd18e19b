package engine_test

import (
	"bytes"
	"testing"

	"sio/engine"
)

// benchChat is ~4 KiB of chat-like JSON, compressible as real traffic is.
var benchChat = func() []byte {
	var b bytes.Buffer
	b.WriteString(`2["news",[`)
	for i := 0; b.Len() < 4000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":`)
		b.WriteString(string(rune('0' + i%10)))
		b.WriteString(`,"user":"user`)
		b.WriteString(string(rune('a' + i%7)))
		b.WriteString(`","room":"general","text":"message number in the room","ts":1764930000000}`)
	}
	b.WriteString(`]]`)
	return b.Bytes()
}()

func benchDeflateSession(b *testing.B) (*engine.Session, *benchWS) {
	sess, w := benchSession(b, engine.Config{PerMessageDeflate: &engine.Deflate{}}, true)
	if !w.deflate {
		b.Fatal("permessage-deflate not negotiated")
	}
	return sess, w
}

// BenchmarkSessionSendWSDeflate is a per-socket emit of ~4 KiB with
// permessage-deflate negotiated: each emit is compressed on the owner loop
// with a pooled compressor.
func BenchmarkSessionSendWSDeflate(b *testing.B) {
	sess, w := benchDeflateSession(b)
	b.SetBytes(int64(len(benchChat)))
	benchSendLoop(b, w, func() { sess.Send(benchChat, false) })
}

// BenchmarkSessionSendWSDeflateOff is the same emit to a client that
// negotiated deflate, sent with compress(false), and to one that did not.
func BenchmarkSessionSendWSDeflateOff(b *testing.B) {
	b.Run("compress=false", func(b *testing.B) {
		sess, w := benchDeflateSession(b)
		b.SetBytes(int64(len(benchChat)))
		benchSendLoop(b, w, func() {
			sess.SendWith(nil, benchChat, nil, engine.SendOptions{NoCompress: true})
		})
	})
	b.Run("not-negotiated", func(b *testing.B) {
		sess, w := benchSession(b, engine.Config{PerMessageDeflate: &engine.Deflate{}}, false)
		b.SetBytes(int64(len(benchChat)))
		benchSendLoop(b, w, func() { sess.Send(benchChat, false) })
	})
}

// BenchmarkPreparedDeflate is the compressed broadcast path: "fresh" is a
// new ~4 KiB broadcast per op, compressed once on its first deflate
// recipient (the per-broadcast cost); "shared" sends one already
// compressed Prepared (the per-recipient cost of every further recipient:
// a copy of the compressed frames, as without deflate).
func BenchmarkPreparedDeflate(b *testing.B) {
	b.Run("fresh", func(b *testing.B) {
		sess, w := benchDeflateSession(b)
		b.SetBytes(int64(len(benchChat)))
		benchSendLoop(b, w, func() { sess.SendPrepared(engine.NewPrepared(benchChat, nil), false) })
	})
	b.Run("shared", func(b *testing.B) {
		sess, w := benchDeflateSession(b)
		p := engine.NewPrepared(benchChat, nil)
		b.SetBytes(int64(len(benchChat)))
		benchSendLoop(b, w, func() { sess.SendPrepared(p, false) })
	})
	b.Run("shared-off", func(b *testing.B) {
		sess, w := benchSession(b, engine.Config{}, false)
		p := engine.NewPrepared(benchChat, nil)
		b.SetBytes(int64(len(benchChat)))
		benchSendLoop(b, w, func() { sess.SendPrepared(p, false) })
	})
}
