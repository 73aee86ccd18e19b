package engine_test

// Delivery and back-pressure (issue 8): a consumer is slow when it does not
// drain, not when one loop pass produced a lot. The WebSocket takes output
// while what a write attempt left unsent is within
// loop.Options.MaxOutboundBytes (and always one message when it is); the
// rest waits in the session, bounded by engine.Config.MaxBufferedBytes; a
// socket that takes nothing for loop.Options.WriteStallTimeout is closed.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"sio/engine"
	"sio/internal/testutil"
	"sio/loop"
)

// TestWebSocketReaderOfAPipelinedBurstGetsEveryEcho: a client that writes
// 100 messages of 200 KB back to back and reads as it can must get every
// echo, in order, although each echo alone is over the 64 KiB cap.
func TestWebSocketReaderOfAPipelinedBurstGetsEveryEcho(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{MaxOutboundBytes: 64 << 10}, nil)
	w, _ := ts.openWS(t)
	defer w.close()
	const n, size = 100, 200 << 10
	writeErr := make(chan error, 1)
	go func() {
		for i := range n {
			msg := fmt.Sprintf("4%04d%s", i, strings.Repeat("e", size))
			_ = w.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
			if _, err := w.conn.Write(frame(finText, []byte(msg))); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	for i := range n {
		op, p, err := w.readFrameErr(20 * time.Second)
		if err != nil {
			t.Fatalf("echo %d of %d: %v (closed: %v)", i, n, err, ts.srv.Stats().Closed)
		}
		if op != ws.OpText || len(p) != 5+size || string(p[:5]) != fmt.Sprintf("4%04d", i) {
			t.Fatalf("echo %d: %v %q… (%d bytes)", i, op, trunc(p), len(p))
		}
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	if c := ts.srv.Stats().Closed; len(c) != 0 {
		t.Fatalf("sessions closed: %v", c)
	}
}

// TestWebSocketMessageLargerThanTheCapReachesADrainingClient: one 2 MB
// message to a client with nothing queued is admitted whatever the cap.
func TestWebSocketMessageLargerThanTheCapReachesADrainingClient(t *testing.T) {
	big := bytes.Repeat([]byte("b"), 2<<20)
	ts := startServer(t, engine.Config{}, loop.Options{MaxOutboundBytes: 64 << 10}, func(s *engine.Session, _ *loop.Request) {
		s.OnMessage(func(s *engine.Session, data []byte, binary bool) {
			go s.Send(big, false) // from another goroutine, through the outbox
		})
	})
	w, _ := ts.openWS(t)
	defer w.close()
	w.sendText(t, "4go")
	op, p := w.readFrame(t)
	if op != ws.OpText || len(p) != 1+len(big) || p[0] != '4' {
		t.Fatalf("got %v, %d bytes", op, len(p))
	}
	if c := ts.srv.Stats().Closed; len(c) != 0 {
		t.Fatalf("sessions closed: %v", c)
	}
}

// dialNonReader opens a WebSocket session with a tiny receive buffer and
// never reads from it.
func dialNonReader(t *testing.T, ts *testServer) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	conn, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, wsRequest(ts.path("transport=websocket"))); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestWebSocketBacklogIsBoundedByMaxBufferedBytes: what waits behind a
// socket that does not drain never passes MaxBufferedBytes (plus one
// message); past it the client is closed as a slow consumer and what it
// held is released.
func TestWebSocketBacklogIsBoundedByMaxBufferedBytes(t *testing.T) {
	const maxBuffered, msgLen = 1 << 20, 16 << 10
	sessions := make(chan *engine.Session, 1)
	ts := startServer(t, engine.Config{MaxBufferedBytes: maxBuffered},
		loop.Options{MaxOutboundBytes: 64 << 10, WriteStallTimeout: time.Minute},
		func(s *engine.Session, _ *loop.Request) { sessions <- s })
	conn := dialNonReader(t, ts)
	var s *engine.Session
	select {
	case s = <-sessions:
	case <-time.After(ioTimeout):
		t.Fatal("no session")
	}
	msg := bytes.Repeat([]byte("m"), msgLen)
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // samples the backlog while the producer runs
		defer wg.Done()
		for {
			if b := int64(s.Backlog()); b > peak.Load() {
				peak.Store(b)
			}
			select {
			case <-stop:
				return
			default:
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	for range 64 << 20 / msgLen { // 64 MB, 64 times the bound
		s.Send(msg, false)
	}
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := ts.srv.Stats().Closed[engine.ReasonSlowConsumer]; n != 1 {
			return fmt.Errorf("closed reasons %v", ts.srv.Stats().Closed)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if p := peak.Load(); p > maxBuffered+msgLen+1 {
		t.Fatalf("backlog peaked at %d bytes, bound %d + one message", p, maxBuffered)
	}
	if b := s.Backlog(); b != 0 {
		t.Fatalf("a closed session still holds %d bytes", b)
	}
	conn.Close()
	ts.checkNoLeaks(t)
}

// TestWebSocketThatTakesNothingIsClosedAfterTheStallTimeout: a client that
// stops reading is closed as a slow consumer once its socket took nothing
// for WriteStallTimeout, long before its backlog reaches MaxBufferedBytes.
func TestWebSocketThatTakesNothingIsClosedAfterTheStallTimeout(t *testing.T) {
	sessions := make(chan *engine.Session, 1)
	ts := startServer(t, engine.Config{}, loop.Options{MaxOutboundBytes: 64 << 10, WriteStallTimeout: 300 * time.Millisecond},
		func(s *engine.Session, _ *loop.Request) { sessions <- s })
	dialNonReader(t, ts)
	s := <-sessions
	msg := bytes.Repeat([]byte("m"), 16<<10)
	start := time.Now()
	for range 256 { // 4 MB: far below the 128 MiB default bound
		s.Send(msg, false)
	}
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := ts.srv.Stats().Closed[engine.ReasonSlowConsumer]; n != 1 {
			return fmt.Errorf("closed reasons %v", ts.srv.Stats().Closed)
		}
		return nil
	})
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("closed after %v, before the stall timeout", d)
	}
}

// TestBusyProducerDoesNotStarveTheLoopsConnections: a goroutine that keeps
// one loop's task queue full delays the loop's connections by a budget of
// tasks per pass, not until it stops.
func TestBusyProducerDoesNotStarveTheLoopsConnections(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{NumLoops: 1, MaxPendingTasks: 1024}, nil)
	l := ts.srv.Loop().Loops()[0]
	w, _ := ts.openWS(t)
	defer w.close()
	w.sendText(t, "4warm")
	w.expectText(t, "4warm")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ran atomic.Int64
	busy := loop.TaskFunc(func() {
		ran.Add(1)
		for deadline := time.Now().Add(20 * time.Microsecond); time.Now().Before(deadline); {
		}
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				l.Post(busy) // waits while 1024 are queued
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if p := l.Pending(); p < 512 {
			return fmt.Errorf("%d tasks queued", p)
		}
		return nil
	})
	var worst time.Duration
	for i := range 20 {
		start := time.Now()
		msg := "4rtt" + strconv.Itoa(i)
		w.sendText(t, msg)
		w.expectText(t, msg)
		worst = max(worst, time.Since(start))
	}
	// The echo queues behind at most 1024 tasks of 20 µs (20 ms of work),
	// run 256 a pass with the connections' I/O in between; starved, it
	// would wait until the producer stops.
	if worst > time.Second {
		t.Fatalf("round trip took up to %v with a busy producer (%d tasks ran)", worst, ran.Load())
	}
	if st := ts.srv.Loop().Stats(); st.PostWaits == 0 {
		t.Fatalf("the producer never waited for the full queue: %+v", st)
	}
}

// TestPostWaitsWhileTheLoopQueueIsFull: a producer that is not a loop waits
// in Post at MaxPendingTasks and goes on, in order, once the loop drains.
func TestPostWaitsWhileTheLoopQueueIsFull(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{NumLoops: 1, MaxPendingTasks: 8}, nil)
	l := ts.srv.Loop().Loops()[0]
	release := make(chan struct{})
	blocked := make(chan struct{})
	l.PostFunc(func() { close(blocked); <-release }) // holds the loop
	<-blocked
	var mu sync.Mutex
	var order []int
	posted := make(chan struct{})
	go func() {
		defer close(posted)
		for i := range 20 {
			l.PostFunc(func() { mu.Lock(); order = append(order, i); mu.Unlock() })
		}
	}()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if p := l.Pending(); p != 8 {
			return fmt.Errorf("%d queued, want 8", p)
		}
		return nil
	})
	select {
	case <-posted:
		t.Fatal("20 posts went through a queue of 8 held by a blocked loop")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-posted:
	case <-time.After(5 * time.Second):
		t.Fatal("the producer is still waiting after the loop drained")
	}
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(order) != 20 {
			return fmt.Errorf("%d of 20 ran", len(order))
		}
		return nil
	})
	for i, v := range order {
		if v != i {
			t.Fatalf("ran out of order: %v", order)
		}
	}
	if ts.srv.Loop().Stats().PostWaits == 0 {
		t.Fatal("PostWaits not counted")
	}
}

// TestUpgradeKeepsTheClientsFramesInOrder: what the client sends right
// after the upgrade packet reaches the session in order, although the
// session moves to the WebSocket's loop meanwhile (frames posted to the old
// owner must not be overtaken by frames handled on the new one).
func TestUpgradeKeepsTheClientsFramesInOrder(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	const rounds, n = 60, 40
	for i := range rounds {
		hs := ts.handshake(t)
		ts.skipLoops(t, i%2) // every other round, the WebSocket is on the other loop
		w := ts.dialWS(t, "transport=websocket&sid="+hs.SID)
		w.sendText(t, "2probe")
		w.expectText(t, "3probe")
		var burst []byte
		burst = append(burst, frame(finText, []byte("5"))...)
		for k := range n / 2 {
			burst = append(burst, frame(finText, []byte("4"+strconv.Itoa(k)))...)
		}
		w.writeRaw(t, burst)
		// The rest in small writes while the move is under way.
		for k := n / 2; k < n; k++ {
			if k%4 == 0 {
				time.Sleep(time.Duration(i%5) * 20 * time.Microsecond)
			}
			w.sendText(t, "4"+strconv.Itoa(k))
		}
		for k := range n {
			w.expectText(t, "4"+strconv.Itoa(k))
		}
		w.close()
	}
	ts.checkNoLeaks(t)
}

// TestResponseBeforeACloseIsWrittenWhole: a polling GET sent with
// "Connection: close" (Node's xmlhttprequest does) whose answer is larger
// than the socket takes at once must arrive whole: the connection closes
// once gnet has written it, not when the first write attempt returns.
func TestResponseBeforeACloseIsWrittenWhole(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	hs := ts.handshake(t)
	const n, size = 64, 128 << 10 // 8 MB waiting for the GET
	msg := "4" + strings.Repeat("r", size-1)
	for range n {
		ts.mustSend(t, hs.SID, msg)
	}
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
	}}
	conn, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, get(ts.sidPath(hs.SID), "Connection: close")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the server's first write attempt fills the socket
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	raw, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v after %d bytes", err, len(raw))
	}
	_, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no response head in %d bytes", len(raw))
	}
	if want := n*size + n - 1; len(body) != want {
		t.Fatalf("body of %d bytes, want %d (the answer was cut)", len(body), want)
	}
}

// TestLatePingStillGivesTheClientTimeToAnswer: when the loop stalls past
// the pong deadline, the ping leaves late; its deadline used to be already
// over when it left, and a client that answered at once was closed.
func TestLatePingStillGivesTheClientTimeToAnswer(t *testing.T) {
	ts := startServer(t, engine.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond},
		loop.Options{NumLoops: 1}, nil)
	w, _ := ts.openWS(t)
	defer w.close()
	l := ts.srv.Loop().Loops()[0]
	time.Sleep(200 * time.Millisecond)
	l.PostFunc(func() { time.Sleep(600 * time.Millisecond) }) // stalls across the ping and its deadline
	for range 3 {                                             // the late ping, then two on time
		w.expectText(t, "2")
		w.sendText(t, "3")
	}
	if c := ts.srv.Stats().Closed; len(c) != 0 {
		t.Fatalf("closed: %v", c)
	}
}

// TestPollingRequestAfterTheUpgradePacketIsRefused: a GET the client sends
// after "5" gets 400 as soon as the server has read the "5", not once the
// session's loop has run the upgrade: a GET that the session's loop read
// while the upgrade still waited in its queue was served as a poll (the
// official suite's "should ignore HTTP requests with same sid after
// upgrade" failed now and then). Here the session's loop is kept busy with
// more queued tasks than one pass runs, so that it reads the GET (its
// connection is on that loop; gnet hands connections out in turn) between
// two passes, before the upgrade the WebSocket's loop queued behind them.
func TestPollingRequestAfterTheUpgradePacketIsRefused(t *testing.T) {
	sessions := make(chan *engine.Session, 1)
	ts := startServer(t, engine.Config{}, loop.Options{NumLoops: 2}, func(s *engine.Session, r *loop.Request) {
		sessions <- s
		echoApp(s, r)
	})
	for range 10 {
		hs := ts.handshake(t) // its connection is on the session's loop
		owner := (<-sessions).Loop()
		w := ts.dialWS(t, "transport=websocket&sid="+hs.SID) // the other loop
		c := ts.dial(t)                                      // the session's loop again
		release := make(chan struct{})
		owner.PostFunc(func() { <-release })
		for range 300 {
			owner.PostFunc(func() {})
		}
		w.writeRaw(t, append(frame(finText, []byte("2probe")), frame(finText, []byte("5"))...))
		time.Sleep(5 * time.Millisecond) // the other loop reads them and queues them
		c.write(t, get(ts.sidPath(hs.SID)))
		time.Sleep(5 * time.Millisecond)
		close(release)
		r, err := c.readResponse()
		if err != nil {
			t.Fatal(err)
		}
		expectError(t, r, 400, 3, "Bad request")
		c.close()
		w.expectText(t, "3probe")
		w.close()
	}
}

// TestProbeIsAnsweredByTheWebSocketsLoop: "3probe" goes out as soon as the
// WebSocket's loop reads "2probe", as Node answers it, even while the
// session's loop is busy: a client that moves on (a request on another
// connection) sees the probe answered first.
func TestProbeIsAnsweredByTheWebSocketsLoop(t *testing.T) {
	sessions := make(chan *engine.Session, 1)
	ts := startServer(t, engine.Config{}, loop.Options{NumLoops: 2}, func(s *engine.Session, r *loop.Request) {
		sessions <- s
		echoApp(s, r)
	})
	hs := ts.handshake(t) // on the session's loop
	owner := (<-sessions).Loop()
	w := ts.dialWS(t, "transport=websocket&sid="+hs.SID) // the other loop
	release := make(chan struct{})
	owner.PostFunc(func() { <-release })
	defer close(release)
	w.sendText(t, "2probe")
	op, p, err := w.readFrameErr(500 * time.Millisecond)
	if err != nil || op != ws.OpText || string(p) != "3probe" {
		t.Fatalf("got %v %q %v while the session's loop was busy, want 3probe at once", op, p, err)
	}
}
