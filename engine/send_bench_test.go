package engine_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"sio/engine"
	"sio/loop"
)

// benchWS is one raw WebSocket client of an engine server: its reader
// discards frames and counts the data frames.
type benchWS struct {
	conn    net.Conn
	deflate bool // permessage-deflate was negotiated
	got     atomic.Int64
}

// benchSession starts a server with cfg and one WebSocket client (offering
// permessage-deflate when offer is set) and returns the server's session.
func benchSession(b *testing.B, cfg engine.Config, offer bool) (*engine.Session, *benchWS) {
	b.Helper()
	cfg.PingInterval = time.Hour
	srv := engine.NewServer(cfg, loop.Options{Addr: "127.0.0.1:0", NumLoops: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	sessions := make(chan *engine.Session, 1)
	srv.OnConnection(func(s *engine.Session, _ *loop.Request) { sessions <- s })
	go func() { _ = srv.Serve() }()
	<-srv.Ready()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	c, err := net.Dial("tcp", srv.Loop().Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	req := "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	if offer {
		req += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	w0 := false // permessage-deflate accepted
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
		if offer && strings.HasPrefix(l, "Sec-WebSocket-Extensions:") {
			w0 = true
		}
	}
	w := &benchWS{conn: c, deflate: w0}
	go func() {
		for {
			h, err := ws.ReadHeader(br)
			if err != nil {
				return
			}
			if _, err := br.Discard(int(h.Length)); err != nil {
				return
			}
			if h.OpCode == ws.OpText || h.OpCode == ws.OpBinary {
				w.got.Add(1)
			}
		}
	}()
	for w.got.Load() < 1 { // the open packet
		time.Sleep(time.Millisecond)
	}
	return <-sessions, w
}

// wait blocks until the client has received n data frames.
func (w *benchWS) wait(b *testing.B, n int64) {
	deadline := time.Now().Add(10 * time.Second)
	for w.got.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d frames", w.got.Load(), n)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// benchSendLoop sends b.N messages with send, 64 at a time, each batch
// waited for, so the session never builds a backlog.
func benchSendLoop(b *testing.B, w *benchWS, send func()) {
	b.ReportAllocs()
	sent := w.got.Load()
	for b.Loop() {
		send()
		sent++
		if sent%64 == 0 {
			w.wait(b, sent)
		}
	}
	w.wait(b, sent)
}

var benchSmall = []byte(`2["news",{"title":"hello world","id":12345}]`)

// BenchmarkSessionSendWS is a per-socket emit over WebSocket
// (Session.Send: outbox, owner loop, frame, write), permessage-deflate off.
func BenchmarkSessionSendWS(b *testing.B) {
	sess, w := benchSession(b, engine.Config{}, false)
	benchSendLoop(b, w, func() { sess.Send(benchSmall, false) })
}

// BenchmarkSessionSendPreparedWS is a broadcast's per-recipient part over
// WebSocket (Session.SendPrepared), permessage-deflate off.
func BenchmarkSessionSendPreparedWS(b *testing.B) {
	sess, w := benchSession(b, engine.Config{}, false)
	p := engine.NewPrepared(benchSmall, nil)
	benchSendLoop(b, w, func() { sess.SendPrepared(p, false) })
}
