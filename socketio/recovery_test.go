package socketio_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/socketio"
)

// Connection state recovery (CLIENT-BEHAVIOUR §A).

const recoveryWindow = 2 * time.Second

func recoveryOptions(skipMiddlewares bool) socketio.Options {
	return socketio.Options{Recovery: &socketio.Recovery{
		MaxDisconnectionDuration: recoveryWindow, SkipMiddlewares: skipMiddlewares,
	}}
}

// recoveringClient connects to nsp and returns the sid and pid of the ack.
func recoveringClient(t *testing.T, ts *testServer, nsp string) (*wsClient, string, string) {
	t.Helper()
	c := ts.ws(t)
	c.send(t, connectFrame(nsp, ""))
	p := c.next(t)
	sid, pid := connectAck(t, p, nsp)
	if pid == "" {
		t.Fatalf("CONNECT ack %s has no pid", p)
	}
	return c, sid, pid
}

// offsetOf checks that the last argument of an EVENT is an offset string
// and returns it with the arguments before it.
func offsetOf(t *testing.T, p *packet) (offset string, rest []json.RawMessage) {
	t.Helper()
	a := p.args(t)
	if p.typ != 2 && p.typ != 5 || p.id >= 0 || len(a) < 2 {
		t.Fatalf("%s: want an EVENT without ack id carrying an offset", p)
	}
	if err := json.Unmarshal(a[len(a)-1], &offset); err != nil || offset == "" {
		t.Fatalf("%s: last argument is not an offset string", p)
	}
	return offset, a[:len(a)-1]
}

// expectEventWithOffset reads an event whose arguments, without the
// trailing offset, are want (a JSON array), and returns the offset.
func expectEventWithOffset(t *testing.T, c *wsClient, nsp, want string) string {
	t.Helper()
	p := c.next(t)
	if p.nsp != nsp {
		t.Fatalf("%s: want namespace %s", p, nsp)
	}
	off, rest := offsetOf(t, p)
	got, _ := json.Marshal(rest)
	if string(got) != want {
		t.Fatalf("%s: arguments %s, want %s", p, got, want)
	}
	return off
}

// reconnect opens a new connection and sends a CONNECT with pid and offset.
func reconnect(t *testing.T, ts *testServer, nsp, pid, offset string) *wsClient {
	t.Helper()
	c := ts.ws(t)
	c.send(t, connectFrame(nsp, fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset)))
	return c
}

func TestRecoveryConnectAckCarriesPid(t *testing.T) {
	ts := startServer(t, recoveryOptions(true))
	ts.srv.Of("/admin")
	conns := connections(ts.srv.Sockets())
	c, sid, pid := recoveringClient(t, ts, "/")
	if pid == sid || pid == c.open.SID {
		t.Fatalf("pid %q must differ from the sid %q and the Engine.IO sid %q", pid, sid, c.open.SID)
	}
	if s := testutil.Recv(t, conns); s.Recovered() {
		t.Fatal("a fresh socket reports Recovered")
	}
	_, sid2, pid2 := recoveringClient(t, ts, "/")
	if pid2 == pid || sid2 == sid {
		t.Fatal("two sockets share a pid or sid")
	}
	// Also in other namespaces.
	c.send(t, "40/admin,")
	if _, pidAdmin := connectAck(t, c.next(t), "/admin"); pidAdmin == "" || pidAdmin == pid {
		t.Fatalf("/admin pid %q", pidAdmin)
	}
}

func TestRecoveryPlainEmitsCarryOffsetVolatileAndAckedDoNot(t *testing.T) {
	ts := startServer(t, recoveryOptions(true))
	ts.srv.Of("/admin")
	conns := connections(ts.srv.Sockets())
	c, _, _ := recoveringClient(t, ts, "/")
	s := testutil.Recv(t, conns)
	s.Join("room")
	other, _, _ := recoveringClient(t, ts, "/")
	so := testutil.Recv(t, conns)
	c.connect(t, "/admin", "")

	offsets := map[string]bool{}
	add := func(o string) {
		t.Helper()
		if offsets[o] {
			t.Fatalf("offset %q used twice", o)
		}
		offsets[o] = true
	}
	_ = ts.srv.Emit("all", 1)
	add(expectEventWithOffset(t, c, "/", `["all",1]`))
	_ = ts.srv.To("room").Emit("room", "x")
	add(expectEventWithOffset(t, c, "/", `["room","x"]`))
	_ = s.Emit("direct", map[string]int{"n": 1})
	add(expectEventWithOffset(t, c, "/", `["direct",{"n":1}]`))
	_ = s.Emit("empty")
	add(expectEventWithOffset(t, c, "/", `["empty"]`))
	_ = so.Broadcast().Emit("from-other")
	add(expectEventWithOffset(t, c, "/", `["from-other"]`))
	_ = ts.srv.Of("/admin").Emit("admin")
	add(expectEventWithOffset(t, c, "/admin", `["admin"]`))
	_ = ts.srv.Emit("bin", []byte{1, 2})
	p := c.next(t)
	off, rest := offsetOf(t, p)
	add(off)
	if p.typ != 5 || len(rest) != 2 || string(rest[1]) != `{"_placeholder":true,"num":0}` || len(p.att) != 1 {
		t.Fatalf("binary with offset: %s", p)
	}

	// Volatile and acknowledged emits carry no offset.
	_ = ts.srv.Volatile().Emit("volatile")
	c.expect(t, `42["volatile"]`)
	_ = s.Volatile().Emit("volatile-direct", 1)
	c.expect(t, `42["volatile-direct",1]`)
	_ = s.Emit("with-ack", socketio.AckHandler(func(*socketio.Args, error) {}))
	if q := c.next(t); q.id < 0 || q.data != `["with-ack"]` {
		t.Fatalf("ack'd emit %s", q)
	}
	_ = ts.srv.Timeout(time.Second).Emit("broadcast-ack", socketio.BroadcastAckHandler(func([]*socketio.Args, error) {}))
	if q := c.next(t); q.id < 0 || q.data != `["broadcast-ack"]` {
		t.Fatalf("ack'd broadcast %s", q)
	}
	if len(offsets) != 7 {
		t.Fatalf("%d offsets", len(offsets))
	}
	other.drain()
}

func TestRecoveryRestoresSessionAndReplaysMissedPackets(t *testing.T) {
	ts := startServer(t, recoveryOptions(true))
	conns := connections(ts.srv.Sockets())
	adminConns := connections(ts.srv.Of("/admin"))
	reasons := disconnectReasons(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		if !s.Recovered() {
			s.Join("room1")
			s.SetData(map[string]any{"user": "ann", "n": 1})
		}
	})

	a, sid, pid := recoveringClient(t, ts, "/")
	sa := testutil.Recv(t, conns)
	a.send(t, "40/admin,")
	_, pidAdmin := connectAck(t, a.next(t), "/admin")
	testutil.Recv(t, adminConns)
	b, _, _ := recoveringClient(t, ts, "/")
	sb := testutil.Recv(t, conns)
	sb.Leave("room1")
	sb.Join("other")

	_ = ts.srv.Emit("e", 1)
	last := expectEventWithOffset(t, a, "/", `["e",1]`)
	_ = ts.srv.Of("/admin").Emit("a", 1)
	lastAdmin := expectEventWithOffset(t, a, "/admin", `["a",1]`)

	a.close() // the transport drops
	if r := testutil.Recv(t, reasons); r != socketio.ReasonTransportClose && r != socketio.ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
	if sa.Connected() || ts.srv.Sockets().Socket(socketio.SocketID(sid)) != nil {
		t.Fatal("the socket is still connected")
	}

	// Sent while A is away.
	_ = ts.srv.Emit("e", 2)                                        // missed
	_ = ts.srv.To("room1").Emit("e", 3)                            // missed: A was in room1
	_ = ts.srv.To("other").Emit("e", 4)                            // not for A
	_ = ts.srv.Except("room1").Emit("e", 5)                        // not for A
	_ = ts.srv.To(socketio.Room(sid)).Emit("e", 6)                 // missed: A's own room
	_ = sb.Broadcast().Emit("e", 7)                                // missed: only B is excluded
	_ = ts.srv.Volatile().Emit("e", 8)                             // volatile: not kept
	_ = ts.srv.To("room1").Except(socketio.Room(sid)).Emit("e", 9) // A excluded
	_ = ts.srv.Of("/admin").Emit("a", 2)                           // missed, in /admin
	_ = ts.srv.Timeout(50*time.Millisecond).Emit("e", socketio.BroadcastAckHandler(func([]*socketio.Args, error) {}))
	if err := sa.Emit("e", 10); err == nil {
		t.Fatal("Emit on the disconnected socket succeeded")
	}
	b.drain()

	a2 := reconnect(t, ts, "/", pid, last)
	for _, want := range []string{`["e",2]`, `["e",3]`, `["e",6]`, `["e",7]`} {
		last = expectEventWithOffset(t, a2, "/", want)
	}
	p := a2.next(t)
	if p.frame != fmt.Sprintf(`40{"sid":%q,"pid":%q}`, sid, pid) {
		t.Fatalf("got %s, want the CONNECT ack with the same sid and pid after the missed packets", p)
	}
	s := testutil.Recv(t, conns)
	if !s.Recovered() || string(s.ID()) != sid || !s.Connected() {
		t.Fatalf("socket %q recovered %v", s.ID(), s.Recovered())
	}
	if !slices.Equal(s.Rooms(), []socketio.Room{socketio.Room(sid), "room1"}) {
		t.Fatalf("rooms %v", s.Rooms())
	}
	if fmt.Sprint(s.Data()) != fmt.Sprint(map[string]any{"user": "ann", "n": 1}) {
		t.Fatalf("data %v", s.Data())
	}
	if ts.srv.Sockets().Socket(socketio.SocketID(sid)) != s {
		t.Fatal("the recovered socket is not registered")
	}

	// /admin recovers on its own.
	a2.send(t, connectFrame("/admin", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pidAdmin, lastAdmin)))
	expectEventWithOffset(t, a2, "/admin", `["a",2]`)
	p = a2.next(t)
	if _, pid := connectAck(t, p, "/admin"); pid != pidAdmin {
		t.Fatalf("admin ack %s", p)
	}
	if s := testutil.Recv(t, adminConns); !s.Recovered() {
		t.Fatal("the /admin socket was not recovered")
	}

	// The restored rooms work, and nothing else was queued.
	_ = ts.srv.To("room1").Emit("after")
	last = expectEventWithOffset(t, a2, "/", `["after"]`)
	a2.expectNone(t, 30*time.Millisecond)

	// Another transport drop persists the session again (as in Node).
	a2.close()
	testutil.Recv(t, reasons)
	a3 := reconnect(t, ts, "/", pid, last)
	if p := a3.next(t); p.frame != fmt.Sprintf(`40{"sid":%q,"pid":%q}`, sid, pid) {
		t.Fatalf("second recovery: got %s", p)
	}
	if s := testutil.Recv(t, conns); !s.Recovered() {
		t.Fatal("second recovery: not recovered")
	}
	// A session is restored once: the same pid and offset from another
	// connection get a fresh socket.
	a4 := reconnect(t, ts, "/", pid, last)
	if s4, _ := connectAck(t, a4.next(t), "/"); s4 == sid {
		t.Fatal("the session was restored twice")
	}
}

func TestRecoveryWithUnknownOffsetOrPidGivesFreshSocket(t *testing.T) {
	ts := startServer(t, recoveryOptions(true))
	conns := connections(ts.srv.Sockets())
	reasons := disconnectReasons(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		if !s.Recovered() {
			s.Join("fresh-room")
		}
	})
	a, sid, pid := recoveringClient(t, ts, "/")
	testutil.Recv(t, conns)
	_ = ts.srv.Emit("e")
	last := expectEventWithOffset(t, a, "/", `["e"]`)
	a.close()
	testutil.Recv(t, reasons)

	for name, auth := range map[string]string{
		"unknown offset": fmt.Sprintf(`{"pid":%q,"offset":"nope"}`, pid),
		"unknown pid":    fmt.Sprintf(`{"pid":"nope","offset":%q}`, last),
		"no offset":      fmt.Sprintf(`{"pid":%q}`, pid),
		"pid not string": fmt.Sprintf(`{"pid":1,"offset":%q}`, last),
	} {
		t.Run(name, func(t *testing.T) {
			c := ts.ws(t)
			c.send(t, "40"+auth)
			newSID, newPID := connectAck(t, c.next(t), "/")
			if newSID == sid || newPID == pid || newPID == "" {
				t.Fatalf("sid %q pid %q: want a fresh socket", newSID, newPID)
			}
			s := testutil.Recv(t, conns)
			if s.Recovered() || !slices.Contains(s.Rooms(), "fresh-room") || string(s.Handshake().Auth) != auth {
				t.Fatalf("recovered %v rooms %v auth %s", s.Recovered(), s.Rooms(), s.Handshake().Auth)
			}
			c.close()
			testutil.Recv(t, reasons)
		})
	}
	// The session is still there for the right pid and offset.
	c := reconnect(t, ts, "/", pid, last)
	if s, _ := connectAck(t, c.next(t), "/"); s != sid {
		t.Fatalf("sid %q, want the recovered %q", s, sid)
	}
}

func TestRecoveryExpiresAfterMaxDisconnectionDuration(t *testing.T) {
	ts := startServer(t, recoveryOptions(true))
	conns := connections(ts.srv.Sockets())
	reasons := disconnectReasons(ts.srv.Sockets())
	a, sid, pid := recoveringClient(t, ts, "/")
	testutil.Recv(t, conns)
	_ = ts.srv.Emit("e")
	last := expectEventWithOffset(t, a, "/", `["e"]`)
	a.close()
	testutil.Recv(t, reasons)
	time.Sleep(recoveryWindow + 200*time.Millisecond) // let the session expire
	_ = ts.srv.Emit("later")                          // something in the log after the wait
	c := reconnect(t, ts, "/", pid, last)
	p := c.next(t)
	newSID, newPID := connectAck(t, p, "/")
	if newSID == sid || newPID == pid {
		t.Fatalf("got %s: the session should have expired", p)
	}
	if s := testutil.Recv(t, conns); s.Recovered() {
		t.Fatal("recovered after expiry")
	}
}

func TestRecoveryDoesNotFollowNamespaceDisconnects(t *testing.T) {
	ts := startServer(t, recoveryOptions(true))
	conns := connections(ts.srv.Sockets())
	reasons := disconnectReasons(ts.srv.Sockets())

	t.Run("client namespace disconnect", func(t *testing.T) {
		a, sid, pid := recoveringClient(t, ts, "/")
		testutil.Recv(t, conns)
		_ = ts.srv.Emit("e")
		last := expectEventWithOffset(t, a, "/", `["e"]`)
		a.send(t, "41")
		if r := testutil.Recv(t, reasons); r != socketio.ReasonClientNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
		a.send(t, connectFrame("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, last)))
		if newSID, _ := connectAck(t, a.next(t), "/"); newSID == sid {
			t.Fatal("recovered after a client namespace disconnect")
		}
		if s := testutil.Recv(t, conns); s.Recovered() {
			t.Fatal("Recovered() after a client namespace disconnect")
		}
		a.close()
		testutil.Recv(t, reasons)
	})
	t.Run("server namespace disconnect", func(t *testing.T) {
		a, sid, pid := recoveringClient(t, ts, "/")
		s := testutil.Recv(t, conns)
		_ = ts.srv.Emit("e")
		last := expectEventWithOffset(t, a, "/", `["e"]`)
		s.Disconnect(false)
		a.expect(t, "41")
		if r := testutil.Recv(t, reasons); r != socketio.ReasonServerNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
		c := reconnect(t, ts, "/", pid, last)
		if newSID, _ := connectAck(t, c.next(t), "/"); newSID == sid {
			t.Fatal("recovered after a server namespace disconnect")
		}
		if s := testutil.Recv(t, conns); s.Recovered() {
			t.Fatal("Recovered() after a server namespace disconnect")
		}
	})
}

func TestRecoverySkipMiddlewares(t *testing.T) {
	for _, skip := range []bool{true, false} {
		t.Run(fmt.Sprint("SkipMiddlewares=", skip), func(t *testing.T) {
			ts := startServer(t, recoveryOptions(skip))
			var calls atomic.Int32
			var sawRecovered atomic.Bool
			ts.srv.Use(func(s *socketio.Socket, next func(error)) {
				calls.Add(1)
				if s.Recovered() {
					sawRecovered.Store(true)
				}
				next(nil)
			})
			conns := connections(ts.srv.Sockets())
			reasons := disconnectReasons(ts.srv.Sockets())
			a, sid, pid := recoveringClient(t, ts, "/")
			testutil.Recv(t, conns)
			_ = ts.srv.Emit("e")
			last := expectEventWithOffset(t, a, "/", `["e"]`)
			a.close()
			testutil.Recv(t, reasons)
			c := reconnect(t, ts, "/", pid, last)
			if newSID, _ := connectAck(t, c.next(t), "/"); newSID != sid {
				t.Fatalf("sid %q, want the recovered %q", newSID, sid)
			}
			if s := testutil.Recv(t, conns); !s.Recovered() {
				t.Fatal("not recovered")
			}
			want := int32(2)
			if skip {
				want = 1
			}
			if n := calls.Load(); n != want {
				t.Fatalf("middleware ran %d times, want %d", n, want)
			}
			if sawRecovered.Load() == skip {
				t.Fatalf("middleware saw a recovered socket: %v", sawRecovered.Load())
			}
		})
	}
	// A middleware that refuses the recovering socket refuses the recovery.
	t.Run("refusal", func(t *testing.T) {
		ts := startServer(t, recoveryOptions(false))
		ts.srv.Sockets().UseFunc(func(s *socketio.Socket) error {
			if s.Recovered() {
				return &socketio.ConnectError{Message: "no comeback"}
			}
			return nil
		})
		reasons := disconnectReasons(ts.srv.Sockets())
		a, _, pid := recoveringClient(t, ts, "/")
		_ = ts.srv.Emit("e")
		last := expectEventWithOffset(t, a, "/", `["e"]`)
		a.close()
		testutil.Recv(t, reasons)
		c := reconnect(t, ts, "/", pid, last)
		c.expect(t, `44{"message":"no comeback"}`)
		if ts.srv.Sockets().Len() != 0 {
			t.Fatal("the refused socket joined")
		}
	})
}

// Broadcasts emitted concurrently from several goroutines: a client that
// drops after the last one and recovers with the last offset it received
// must get nothing replayed (and never miss one). The adapter gives the
// offset and logged the packet before it delivered it without holding
// anything across both, so the log order and a socket's delivery order could
// differ. Regression test.
func TestRecoveryAfterConcurrentBroadcastsReplaysNothingTwice(t *testing.T) {
	ts := startServer(t, recoveryOptions(true))
	conns := connections(ts.srv.Sockets())
	reasons := disconnectReasons(ts.srv.Sockets())
	const emitters = 8
	for round := 0; round < 150; round++ {
		a, _, pid := recoveringClient(t, ts, "/")
		testutil.Recv(t, conns)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < emitters; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_ = ts.srv.Emit("e", g)
			}()
		}
		close(start)
		wg.Wait()
		var last string
		for i := 0; i < emitters; i++ {
			last, _ = offsetOf(t, a.next(t))
		}
		a.close()
		testutil.Recv(t, reasons)
		c := reconnect(t, ts, "/", pid, last)
		if p := c.next(t); p.typ != 0 {
			t.Fatalf("round %d: replayed %s although the client had received everything up to offset %s", round, p, last)
		}
		testutil.Recv(t, conns)
		c.close()
		testutil.Recv(t, reasons)
	}
}
