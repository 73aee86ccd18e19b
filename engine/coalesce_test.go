package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"sio/engine"
	"sio/loop"
)

// TestWritesOfOneLoopPassLeaveInOneSyscall: everything a handler sends while
// the loop handles one read leaves in a single write to the socket, not one
// write per message (PERFORMANCE.md: a write costs ~5 µs on loopback).
func TestWritesOfOneLoopPassLeaveInOneSyscall(t *testing.T) {
	const burst = 50
	ts := startServer(t, engine.Config{PingInterval: time.Minute, PingTimeout: time.Minute}, loop.Options{},
		func(s *engine.Session, _ *loop.Request) {
			s.OnMessage(func(s *engine.Session, data []byte, _ bool) {
				for i := 0; i < burst; i++ {
					s.Send([]byte(fmt.Sprintf("%s-%d", data, i)), false)
				}
			})
		})
	w, _ := ts.openWS(t)
	defer w.close()
	before := ts.srv.Loop().Stats().Writes
	w.sendText(t, "4burst")
	for i := 0; i < burst; i++ {
		w.expectText(t, fmt.Sprintf("4burst-%d", i))
	}
	if got := ts.srv.Loop().Stats().Writes - before; got != 1 {
		t.Fatalf("%d messages sent from one handler left in %d writes, want 1", burst, got)
	}
}

// TestSendsFromManyGoroutinesAreCoalesced: concurrent Send calls from other
// goroutines land in the session's outbox and leave in far fewer writes than
// messages, in the order each goroutine sent them.
func TestSendsFromManyGoroutinesAreCoalesced(t *testing.T) {
	const senders, each = 8, 200
	got := make(chan *engine.Session, 1)
	ts := startServer(t, engine.Config{PingInterval: time.Minute, PingTimeout: time.Minute}, loop.Options{},
		func(s *engine.Session, _ *loop.Request) { got <- s })
	w, _ := ts.openWS(t)
	defer w.close()
	s := <-got
	before := ts.srv.Loop().Stats().Writes
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				s.Send([]byte(fmt.Sprintf("%d:%d", g, i)), false)
			}
		}(g)
	}
	wg.Wait()
	next := make([]int, senders)
	for n := 0; n < senders*each; n++ {
		_, p := w.readFrame(t)
		var g, i int
		if _, err := fmt.Sscanf(string(p), "4%d:%d", &g, &i); err != nil {
			t.Fatalf("frame %q: %v", p, err)
		}
		if i != next[g] {
			t.Fatalf("sender %d: got message %d, want %d (order lost)", g, i, next[g])
		}
		next[g]++
	}
	writes := ts.srv.Loop().Stats().Writes - before
	t.Logf("%d messages from %d goroutines left in %d writes", senders*each, senders, writes)
	if writes >= senders*each/4 {
		t.Fatalf("%d messages took %d writes: sends are not coalesced", senders*each, writes)
	}
}

// TestReusePortLetsTwoServersShareAPort: with ReusePort, a second process (here
// a second server) can listen on the same address, as PERFORMANCE.md's
// multi-process setup needs.
func TestReusePortLetsTwoServersShareAPort(t *testing.T) {
	a := startServer(t, engine.Config{}, loop.Options{ReusePort: true}, nil)
	srv := engine.NewServer(engine.Config{}, loop.Options{Addr: a.addr, ReusePort: true, NumLoops: 1})
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-served:
		t.Fatalf("second server on %s with ReusePort: %v", a.addr, err)
	case <-time.After(5 * time.Second):
		t.Fatal("second server not ready")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-served
	a.assertHealthy(t)
}

// TestLargePollingAnswerIsNotASlowConsumer: the output cap applies to
// WebSocket frames; a polling GET answering more than MaxOutboundBytes
// (bounded by MaxBufferedBytes instead) must go out whole.
func TestLargePollingAnswerIsNotASlowConsumer(t *testing.T) {
	got := make(chan *engine.Session, 1)
	ts := startServer(t, engine.Config{PingInterval: time.Minute, PingTimeout: time.Minute},
		loop.Options{MaxOutboundBytes: 64 << 10}, func(s *engine.Session, _ *loop.Request) { got <- s })
	hs := ts.handshake(t)
	s := <-got
	msg := strings.Repeat("x", 100<<10)
	for i := 0; i < 3; i++ {
		s.Send([]byte(msg), false)
	}
	want := strings.TrimSuffix(strings.Repeat("4"+msg+"\x1e", 3), "\x1e")
	expectPollBody(t, ts.poll(t, hs.SID), want)
	if n := ts.srv.Loop().Stats().Closed["slow consumer"]; n != 0 {
		t.Fatalf("%d slow-consumer closes", n)
	}
}
