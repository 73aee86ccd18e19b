package testutil_test

// NodeClients against a real server of this repository. This is an external
// test package: socketio's own tests import testutil, so testutil proper must
// not import socketio, but its black-box tests may.

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/loop"
	"sio/socketio"
)

// chatServer is the application the tests talk to:
//
//   - a middleware admits auth {"token":"good"} and refuses anything else with
//     ConnectError{"unauthorized", {"code":4001,"hint":"send a token"}};
//   - "message:send" (text) is acked with {"ok":true,"echo":text,"from":sid}
//     and broadcast to every socket as "message:new" {"from":sid,"text":text};
//   - "multi" is acked with its arguments followed by "done";
//   - "burst" n makes the server emit "tick" 1…n interleaved with "tock" -1…-n;
//   - "hang" is never acked: the server disconnects the socket 100 ms later;
//   - "kick-me" makes the server disconnect the socket (Disconnect(false));
//   - "later" ms: the server emits "late" after ms.
//   - "ask" name ms: the server emits name with an ack callback and a
//     timeout of ms, and acks with the client's answer, or "error: …".
//
// It records each socket's auth, query "room", header "x-client" and
// transport, and the server-side disconnect reasons.
type chatServer struct {
	srv *socketio.Server
	url string

	mu      sync.Mutex
	socks   map[socketio.SocketID]chatSock
	reasons map[socketio.SocketID]string
}

type chatSock struct {
	auth, room, header, transport string
}

func startChat(t *testing.T) *chatServer {
	t.Helper()
	lw := testutil.NewLogWriter(t)
	c := &chatServer{
		srv: socketio.NewServer(socketio.Options{
			Listen: loop.Options{Addr: "127.0.0.1:0", NumLoops: 1},
			Logger: lw.Logger(),
		}),
		socks:   map[socketio.SocketID]chatSock{},
		reasons: map[socketio.SocketID]string{},
	}
	c.srv.Use(func(s *socketio.Socket, next func(error)) {
		var auth struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(s.Handshake().Auth, &auth) != nil || auth.Token != "good" {
			next(&socketio.ConnectError{Message: "unauthorized", Data: map[string]any{"code": 4001, "hint": "send a token"}})
			return
		}
		next(nil)
	})
	c.srv.OnConnection(c.onConnection)
	sv := testutil.Serve(t, c.srv)
	c.url = "http://" + c.srv.Engine().Loop().Addr().String()
	t.Cleanup(func() {
		if err := sv.Shutdown(); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
		lw.Stop()
	})
	return c
}

func (c *chatServer) onConnection(s *socketio.Socket) {
	id := s.ID()
	h := s.Handshake()
	c.mu.Lock()
	c.socks[id] = chatSock{auth: string(h.Auth), room: h.Query("room"), header: h.Headers()["x-client"], transport: s.Transport()}
	c.mu.Unlock()
	s.OnDisconnect(func(reason string) {
		c.mu.Lock()
		c.reasons[id] = reason
		c.mu.Unlock()
	})
	s.On("message:send", func(e *socketio.Event) {
		text, err := e.String(0)
		if err != nil {
			_ = e.Ack(map[string]any{"ok": false, "error": err.Error()})
			return
		}
		_ = e.Ack(map[string]any{"ok": true, "echo": text, "from": string(id)})
		_ = c.srv.Emit("message:new", map[string]any{"from": string(id), "text": text})
	})
	s.On("multi", func(e *socketio.Event) {
		out := make([]any, 0, e.Len()+1)
		for i := 0; i < e.Len(); i++ {
			out = append(out, json.RawMessage(append([]byte(nil), e.Raw(i)...)))
		}
		_ = e.Ack(append(out, "done")...)
	})
	s.On("bin", func(e *socketio.Event) {
		b, ok := e.Bytes(0)
		if !ok {
			_ = e.Ack("not binary")
			return
		}
		rev := make([]byte, len(b))
		for i := range b {
			rev[i] = b[len(b)-1-i]
		}
		_ = e.Ack(len(b), rev)
	})
	s.On("burst", func(e *socketio.Event) {
		var n int
		_ = e.Decode(0, &n)
		for i := 1; i <= n; i++ {
			_ = s.Emit("tick", i)
			_ = s.Emit("tock", -i)
		}
	})
	s.On("hang", func(*socketio.Event) {
		time.AfterFunc(100*time.Millisecond, func() { s.Disconnect(false) })
	})
	s.On("kick-me", func(*socketio.Event) { s.Disconnect(false) })
	s.On("ask", func(e *socketio.Event) {
		name, _ := e.String(0)
		var ms int
		_ = e.Decode(1, &ms)
		_ = s.Timeout(time.Duration(ms)*time.Millisecond).Emit(name, "question", socketio.AckHandler(func(a *socketio.Args, err error) {
			if err != nil {
				_ = e.Ack("error: " + err.Error())
				return
			}
			_ = e.Ack(json.RawMessage(append([]byte(nil), a.Raw(0)...)))
		}))
	})
	s.On("later", func(e *socketio.Event) {
		var ms int
		_ = e.Decode(0, &ms)
		time.AfterFunc(time.Duration(ms)*time.Millisecond, func() { _ = s.Emit("late", ms) })
	})
}

func (c *chatServer) sock(t *testing.T, sid string) chatSock {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.socks[socketio.SocketID(sid)]
	if !ok {
		t.Fatalf("the server has no socket %s (the client's sid)", sid)
	}
	return s
}

// reason waits for the server's disconnect reason of socket sid.
func (c *chatServer) reason(t *testing.T, sid string) string {
	t.Helper()
	var r string
	testutil.CheckFor(t, testutil.IOTimeout, 10*time.Millisecond, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		var ok bool
		if r, ok = c.reasons[socketio.SocketID(sid)]; !ok {
			return fmt.Errorf("socket %s not disconnected on the server", sid)
		}
		return nil
	})
	return r
}

// jsonEq fails the test unless got and want are equal JSON values.
func jsonEq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: invalid JSON %q: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: invalid expected JSON %q: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n  got  %s\n  want %s", what, got, want)
	}
}

var transportModes = []struct {
	name       string
	transports []string
	// at is what Socket.Transport() may say in OnConnection: with an
	// upgrade, the probe may complete before the CONNECT is handled.
	at []string
}{
	{"websocket", []string{"websocket"}, []string{"websocket"}},
	{"polling", []string{"polling"}, []string{"polling"}},
	{"upgrade", []string{"polling", "websocket"}, []string{"polling", "websocket"}},
}

const wait = 5 * time.Second

// TestNodeClientsChat covers the whole cycle over each transport: connect
// with auth, query and headers, a refusal with data, an ack round trip, a
// broadcast received by every client, None, and both sides' disconnect
// reasons.
func TestNodeClientsChat(t *testing.T) {
	c := startChat(t)
	for _, m := range transportModes {
		t.Run(m.name, func(t *testing.T) {
			n := testutil.StartNodeClients(t)
			opts := func(token string) testutil.ClientOptions {
				return testutil.ClientOptions{
					URL:        c.url,
					Auth:       map[string]string{"token": token},
					Headers:    map[string]string{"X-Client": "node-" + m.name},
					Transports: m.transports,
					Query:      map[string]string{"room": "lobby"},
				}
			}

			alice, err := n.Connect("alice", opts("good"))
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			bob, err := n.Connect("bob", opts("good"))
			if err != nil {
				t.Fatalf("bob: %v", err)
			}
			if alice == "" || alice == bob {
				t.Fatalf("sids %q and %q", alice, bob)
			}
			got := c.sock(t, alice)
			jsonEq(t, "alice's auth on the server", []byte(got.auth), `{"token":"good"}`)
			if got.room != "lobby" || got.header != "node-"+m.name || !slices.Contains(m.at, got.transport) {
				t.Errorf("server saw query room %q, header x-client %q, transport %q; want lobby, node-%s, one of %q",
					got.room, got.header, got.transport, m.name, m.at)
			}

			// A refusal: connect_error carrying the middleware's data.
			_, err = n.Connect("mallory", opts("bad"))
			var ce *testutil.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("mallory: err %v, want a *ConnectError", err)
			}
			if ce.Message != "unauthorized" {
				t.Errorf("connect_error message %q, want unauthorized", ce.Message)
			}
			jsonEq(t, "connect_error data", ce.Data, `{"code":4001,"hint":"send a token"}`)

			// Ack round trip, and the broadcast it causes.
			ack, err := n.Emit("alice", "message:send", "hello ✓")
			if err != nil {
				t.Fatalf("emit: %v", err)
			}
			jsonEq(t, "ack", ack, fmt.Sprintf(`[{"ok":true,"echo":"hello ✓","from":%q}]`, alice))
			for _, id := range []string{"alice", "bob"} {
				args, err := n.Next(id, "message:new", wait)
				if err != nil {
					t.Fatal(err)
				}
				jsonEq(t, id+"'s message:new", args, fmt.Sprintf(`[{"from":%q,"text":"hello ✓"}]`, alice))
			}
			if err := n.None("bob", "message:new", 200*time.Millisecond); err != nil {
				t.Error(err)
			}
			if _, err := n.Connect("mallory", opts("bad")); err == nil {
				t.Error("mallory connected with a bad token on the second try")
			}

			// Disconnects: by the server, then by the client.
			n.EmitNoAck("bob", "kick-me")
			if r, err := n.WaitDisconnect("bob", wait); err != nil || r != "io server disconnect" {
				t.Errorf("bob: disconnect %q, %v; want io server disconnect", r, err)
			}
			if r := c.reason(t, bob); r != socketio.ReasonServerNamespaceDisconnect {
				t.Errorf("server reason for bob %q, want %q", r, socketio.ReasonServerNamespaceDisconnect)
			}
			n.Disconnect("alice")
			if r, err := n.WaitDisconnect("alice", wait); err != nil || r != "io client disconnect" {
				t.Errorf("alice: disconnect %q, %v; want io client disconnect", r, err)
			}
			if r := c.reason(t, alice); r != socketio.ReasonClientNamespaceDisconnect {
				t.Errorf("server reason for alice %q, want %q", r, socketio.ReasonClientNamespaceDisconnect)
			}

			// A disconnected id connects again as a new socket.
			again, err := n.Connect("alice", opts("good"))
			if err != nil || again == "" || again == alice {
				t.Fatalf("alice again: sid %q, %v; want a new sid", again, err)
			}
			ack, err = n.Emit("alice", "message:send", "back")
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, "ack after reconnecting", ack, fmt.Sprintf(`[{"ok":true,"echo":"back","from":%q}]`, again))
		})
	}
}

// TestNodeClientsAcks: acks with several arguments, binary both ways, and
// an emit whose ack never comes because the server disconnects the socket.
func TestNodeClientsAcks(t *testing.T) {
	c := startChat(t)
	n := testutil.StartNodeClients(t)
	if _, err := n.Connect("a", testutil.ClientOptions{URL: c.url, Auth: map[string]string{"token": "good"}}); err != nil {
		t.Fatal(err)
	}
	ack, err := n.Emit("a", "multi", 1, "two", map[string]any{"three": []int{3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "multi ack", ack, `[1,"two",{"three":[3]},null,"done"]`)
	ack, err = n.Emit("a", "multi")
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "multi ack without args", ack, `["done"]`)

	ack, err = n.Emit("a", "bin", testutil.NodeBin{1, 2, 0xff})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "bin ack", ack, `[3,{"$bin":"ff0201"}]`)

	_, err = n.Emit("a", "hang")
	if !errors.Is(err, testutil.ErrNoAck) {
		t.Fatalf("emit hang: %v, want ErrNoAck", err)
	}
	if r, err := n.WaitDisconnect("a", wait); err != nil || r != "io server disconnect" {
		t.Errorf("disconnect %q, %v", r, err)
	}

	// Commands for an unknown client answer at once with an error.
	start := time.Now()
	if _, err := n.Emit("nobody", "x"); err == nil || errors.Is(err, testutil.ErrNoAck) {
		t.Errorf("emit from an unknown client: %v", err)
	} else if time.Since(start) > 2*time.Second {
		t.Errorf("emit from an unknown client took %v", time.Since(start))
	}
}

// TestNodeClientsAutoAck: a client answers the server's acks of the events
// AutoAck names, with AckSocketID replaced by its socket id, and no others.
func TestNodeClientsAutoAck(t *testing.T) {
	c := startChat(t)
	n := testutil.StartNodeClients(t)
	sid, err := n.Connect("a", testutil.ClientOptions{URL: c.url, Auth: map[string]string{"token": "good"},
		AutoAck: map[string]any{"q": testutil.AckSocketID, "r": map[string]any{"me": testutil.AckSocketID, "n": 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := n.Emit("a", "ask", "q", 2000)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "q answer", ack, `["`+sid+`"]`)
	ack, err = n.Emit("a", "ask", "r", 2000)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "r answer", ack, `[{"me":"`+sid+`","n":1}]`)
	ack, err = n.Emit("a", "ask", "other", 200)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "unanswered", ack, `["error: operation has timed out"]`)
	// The asked events are still printed, with the callback as {"$fn":true}.
	got, err := n.Next("a", "q", wait)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "q event", got, `["question",{"$fn":true}]`)
}

// TestNodeClientsEventOrder: events are kept per (id, name) in order, for
// waiters on many goroutines at once (run with -race).
func TestNodeClientsEventOrder(t *testing.T) {
	c := startChat(t)
	n := testutil.StartNodeClients(t)
	const clients, burst = 4, 30
	ids := make([]string, clients)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%d", i)
		if _, err := n.Connect(ids[i], testutil.ClientOptions{URL: c.url, Auth: map[string]string{"token": "good"}}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*clients)
	for _, id := range ids {
		for _, name := range []string{"tick", "tock"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; i <= burst; i++ {
					args, err := n.Next(id, name, wait)
					if err != nil {
						errs <- err
						return
					}
					want := i
					if name == "tock" {
						want = -i
					}
					if string(args) != fmt.Sprintf("[%d]", want) {
						errs <- fmt.Errorf("%s: %s #%d is %s, want [%d]", id, name, i, args, want)
						return
					}
				}
			}()
		}
		n.EmitNoAck(id, "burst", burst)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range ids {
		if got := len(n.Received(id, "tick")); got != burst {
			t.Errorf("%s: Received %d ticks, want %d", id, got, burst)
		}
		if err := n.None(id, "tick", 50*time.Millisecond); err != nil {
			t.Error(err)
		}
	}
}

// TestNodeClientsNone: None reports an event that arrives within its window
// and leaves it for Next.
func TestNodeClientsNone(t *testing.T) {
	c := startChat(t)
	n := testutil.StartNodeClients(t)
	if _, err := n.Connect("a", testutil.ClientOptions{URL: c.url, Auth: map[string]string{"token": "good"}}); err != nil {
		t.Fatal(err)
	}
	n.EmitNoAck("a", "later", 100)
	if err := n.None("a", "late", 2*time.Second); err == nil {
		t.Fatal("None saw nothing, but the server emitted late after 100 ms")
	}
	args, err := n.Next("a", "late", wait)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "late", args, `[100]`)
	if _, err := n.Next("a", "late", 100*time.Millisecond); err == nil {
		t.Error("Next returned the same event twice")
	}
}

// TestNodeClientsReconnect: a dropped engine with reconnection on comes back
// as a new socket, reported by WaitConnect.
func TestNodeClientsReconnect(t *testing.T) {
	c := startChat(t)
	n := testutil.StartNodeClients(t)
	first, err := n.Connect("r", testutil.ClientOptions{
		URL: c.url, Auth: map[string]string{"token": "good"}, Reconnection: true, ReconnectionDelay: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.CloseEngine("r")
	reason, err := n.WaitDisconnect("r", wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("client reason after close_engine: %q", reason)
	if reason != "forced close" {
		t.Errorf("disconnect reason %q, want forced close", reason)
	}
	second, err := n.WaitConnect("r", wait)
	if err != nil {
		t.Fatal(err)
	}
	if second == "" || second == first {
		t.Fatalf("reconnected as %q after %q", second, first)
	}
	t.Logf("server reason for the dropped socket: %q", c.reason(t, first))
	ack, err := n.Emit("r", "message:send", "after")
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "ack", ack, fmt.Sprintf(`[{"ok":true,"echo":"after","from":%q}]`, second))
}
