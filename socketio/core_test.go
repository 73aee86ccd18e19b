package socketio_test

// Correctness under concurrency and bounds on what peers and callers can
// pile up (issue 8). Each test is named after what broke.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/loop"
	"sio/socketio"
)

// TestEmitWithAckThatFailsToEncodeTouchesNoTimerOffItsLoop: the error path
// of an emit with an ack timeout used to stop the loop timer from the
// caller's goroutine (the loop's timer heap changed off its loop, which
// -race reports while the loop fires other timers), and must leave no
// pending ack behind.
func TestEmitWithAckThatFailsToEncodeTouchesNoTimerOffItsLoop(t *testing.T) {
	ts := startServer(t, socketio.Options{Listen: loop.Options{NumLoops: 1}})
	conns := connections(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	busy, _ := ts.wsConnected(t, "/")
	other := testutil.Recv(t, conns)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the loop keeps firing ack timeouts of another socket
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = other.Timeout(time.Millisecond).Emit("t", socketio.AckHandler(func(*socketio.Args, error) {}))
			time.Sleep(100 * time.Microsecond)
		}
	}()
	// Encoding fails late (a channel after a long string), so the task
	// that arms the timeout has run on the loop by then.
	long := strings.Repeat("x", 64<<10)
	for range 100 {
		err := s.Timeout(time.Hour).Emit("bad", long, make(chan int), socketio.AckHandler(func(*socketio.Args, error) {
			t.Error("the ack handler of an emit that failed was called")
		}))
		if err == nil {
			t.Fatal("an emit of a channel did not fail")
		}
	}
	close(stop)
	wg.Wait()
	busy.drain()
	// The failed emits left no entry: the whole cap (1024) fits.
	for i := range 1024 {
		if err := s.Timeout(time.Hour).Emit("more", i, socketio.AckHandler(func(*socketio.Args, error) {})); err != nil {
			t.Fatalf("emit %d after the failed ones: %v", i, err)
		}
	}
	c.drain()
}

// TestJoinDuringConnectIsNotLost: a Join from another goroutine while the
// socket's CONNECT completes used to be lost (connected was read outside
// the lock that hands the pending rooms over).
func TestJoinDuringConnectIsNotLost(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	const rooms = 30
	joinsDone := make(chan *socketio.Socket, 256)
	ts.srv.Use(func(s *socketio.Socket, next func(error)) {
		go func() {
			for i := range rooms {
				s.Join(socketio.Room("r" + strconv.Itoa(i)))
			}
			joinsDone <- s
		}()
		go next(nil)
	})
	const clients = 60
	var cs []*wsClient
	for range clients {
		c, _ := ts.wsConnected(t, "/")
		cs = append(cs, c)
	}
	for range clients {
		s := testutil.Recv(t, joinsDone)
		testutil.CheckFor(t, 2*time.Second, time.Millisecond, func() error {
			if got := len(s.Rooms()); got != rooms+1 {
				return fmt.Errorf("socket %s is in %d rooms, want its own and %d joined while it connected: %v", s.ID(), got, rooms, s.Rooms())
			}
			return nil
		})
	}
	for _, c := range cs {
		c.close()
	}
}

// TestBroadcastAckTimeoutShorterThanItsSetupIsSafe: the collector's timer
// used to be assigned after it could fire; a timeout that expires at once
// crashed the process (a nil timer stopped by the timeout itself).
func TestBroadcastAckTimeoutShorterThanItsSetupIsSafe(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	c, _ := ts.wsConnected(t, "/")
	var done atomic.Int64
	for range 2000 {
		_ = ts.srv.Timeout(time.Nanosecond).Emit("q", socketio.BroadcastAckHandler(func(r []*socketio.Args, err error) {
			done.Add(1)
		}))
	}
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := done.Load(); n != 2000 {
			return fmt.Errorf("%d of 2000 handlers called", n)
		}
		return nil
	})
	c.drain()
}

// TestPanicInABroadcastAckHandlerIsContained: an application callback run
// by a timer (a broadcast's ack handler at its timeout) used to kill the
// process when it panicked; it is counted and logged instead.
func TestPanicInABroadcastAckHandlerIsContained(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	c, _ := ts.wsConnected(t, "/")
	_ = ts.srv.Timeout(50*time.Millisecond).Emit("never-answered", socketio.BroadcastAckHandler(func([]*socketio.Args, error) {
		panic("boom in a broadcast ack handler")
	}))
	c.next(t) // the question, left unanswered
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := ts.srv.Stats().HandlerPanics; n != 1 {
			return fmt.Errorf("%d panics counted", n)
		}
		return nil
	})
	// The answered case runs the handler on the loop that got the last ack.
	_ = ts.srv.Timeout(5*time.Second).Emit("answered", socketio.BroadcastAckHandler(func([]*socketio.Args, error) {
		panic("boom on a loop")
	}))
	p := c.next(t)
	c.send(t, "43"+strconv.FormatInt(p.id, 10)+"[1]")
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := ts.srv.Stats().HandlerPanics; n != 2 {
			return fmt.Errorf("%d panics counted", n)
		}
		return nil
	})
	// Nobody was closed for it, and the server still serves.
	_ = ts.srv.Emit("still", 1)
	c.expect(t, `42["still",1]`)
}

// TestPanicInAServerSideEmitHandlerIsContained: handlers of another node's
// server-side emit run on an adapter's goroutine; a panic there is counted
// and the next handler still runs.
func TestPanicInAServerSideEmitHandlerIsContained(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	nsp := ts.srv.Sockets()
	ran := make(chan struct{}, 1)
	nsp.OnServerSideEmit("x", func(*socketio.Args, func(...any)) { panic("boom") })
	nsp.OnServerSideEmit("x", func(*socketio.Args, func(...any)) { ran <- struct{}{} })
	args, err := socketio.NewArgs([]byte(`1`))
	if err != nil {
		t.Fatal(err)
	}
	go nsp.DispatchServerSideEmit("x", args, nil)
	testutil.Recv(t, ran)
	if n := ts.srv.Stats().HandlerPanics; n != 1 {
		t.Fatalf("%d panics counted", n)
	}
}

// TestDynamicNamespaceExistsOnlyOnceAConnectSucceeded: a CONNECT to a name
// a dynamic parent matches used to create the namespace before any
// middleware ran, for good: refused CONNECTs to fresh names grew the server
// without bound. Now it exists from the first accepted CONNECT until its
// last socket leaves.
func TestDynamicNamespaceExistsOnlyOnceAConnectSucceeded(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	dyn := ts.srv.OfFunc(func(name string, _ []byte) bool { return len(name) > 5 && name[:5] == "/dyn-" })
	dyn.Use(func(s *socketio.Socket, next func(error)) {
		if string(s.Handshake().Auth) != `{"token":"ok"}` {
			next(errors.New("unauthorized"))
			return
		}
		next(nil)
	})
	has := func(name string) bool {
		for _, n := range ts.srv.Namespaces() {
			if n == name {
				return true
			}
		}
		return false
	}
	base := len(ts.srv.Namespaces())
	c := ts.ws(t)
	for i := range 500 {
		name := "/dyn-" + strconv.Itoa(i)
		c.send(t, "40"+name+",")
		if p := c.next(t); p.typ != 4 {
			t.Fatalf("refused CONNECT: %s", p)
		}
	}
	if n := len(ts.srv.Namespaces()); n != base {
		t.Fatalf("%d namespaces after 500 refused CONNECTs, %d before", n, base)
	}
	a := c.connect(t, "/dyn-7", `{"token":"ok"}`)
	if !has("/dyn-7") || a == "" {
		t.Fatal("/dyn-7 does not exist with a socket in it")
	}
	c2 := ts.ws(t)
	c2.connect(t, "/dyn-7", `{"token":"ok"}`)
	c.send(t, "41/dyn-7,")
	time.Sleep(50 * time.Millisecond)
	if !has("/dyn-7") {
		t.Fatal("/dyn-7 went while a socket was still in it")
	}
	c2.close()
	testutil.CheckFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if has("/dyn-7") {
			return errors.New("/dyn-7 still exists after its last socket left")
		}
		return nil
	})
	// An application's own Of keeps a name for good.
	ts.srv.Of("/dyn-8")
	c.connect(t, "/dyn-8", `{"token":"ok"}`)
	c.send(t, "41/dyn-8,")
	time.Sleep(50 * time.Millisecond)
	if !has("/dyn-8") {
		t.Fatal("a namespace the application named went with its last socket")
	}
}

// TestBroadcastAckEntriesGoWhenTheBroadcastEnds: a client that never
// answers broadcasts with acks used to keep an entry per broadcast for as
// long as it stayed connected, outside MaxPendingAcks. The entries now go
// when the broadcast ends, and count toward the cap while it runs.
func TestBroadcastAckEntriesGoWhenTheBroadcastEnds(t *testing.T) {
	ts := startServer(t, socketio.Options{MaxPendingAcks: 4})
	conns := connections(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	for i := range 10 {
		done := make(chan error, 1)
		_ = ts.srv.Timeout(30*time.Millisecond).Emit("q", i, socketio.BroadcastAckHandler(func(_ []*socketio.Args, err error) { done <- err }))
		if err := testutil.Recv(t, done); !errors.Is(err, socketio.ErrTimeout) {
			t.Fatalf("broadcast %d: %v", i, err)
		}
		c.next(t) // unanswered
	}
	// Ten ended broadcasts hold nothing: four acks fit.
	for i := range 4 {
		if err := s.Timeout(time.Hour).Emit("direct", i, socketio.AckHandler(func(*socketio.Args, error) {})); err != nil {
			t.Fatalf("emit %d after 10 ended broadcasts: %v", i, err)
		}
		c.next(t)
	}
	if err := s.Emit("fifth", socketio.AckHandler(func(*socketio.Args, error) {})); !errors.Is(err, socketio.ErrTooManyAcks) {
		t.Fatalf("fifth pending ack: %v, want ErrTooManyAcks", err)
	}
	// A broadcast with acks is refused to a client at the cap: not sent to
	// it, not waited for.
	c2, _ := ts.wsConnected(t, "/")
	done := make(chan []*socketio.Args, 1)
	_ = ts.srv.Timeout(5*time.Second).Emit("q2", socketio.BroadcastAckHandler(func(r []*socketio.Args, err error) {
		if err != nil {
			t.Errorf("broadcast: %v", err)
		}
		done <- r
	}))
	p := c2.next(t)
	c2.send(t, "43"+strconv.FormatInt(p.id, 10)+`["c2"]`)
	if r := testutil.Recv(t, done); len(r) != 1 {
		t.Fatalf("%d replies, want the one client that was asked", len(r))
	}
	c.expectNone(t, 50*time.Millisecond)
}

// TestCancelledEmitWithAckUnregistersItsAck: EmitWithAck whose context ends
// used to leave its entry (and its timer) behind, counting toward
// MaxPendingAcks until the client disconnected.
func TestCancelledEmitWithAckUnregistersItsAck(t *testing.T) {
	ts := startServer(t, socketio.Options{MaxPendingAcks: 2})
	conns := connections(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := s.Timeout(time.Hour).EmitWithAck(ctx, "q", i)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("EmitWithAck %d: %v", i, err)
		}
		c.next(t)
	}
	for i := range 2 {
		if err := s.Emit("after", i, socketio.AckHandler(func(*socketio.Args, error) {})); err != nil {
			t.Fatalf("emit with ack after 5 cancelled: %v", err)
		}
	}
}
