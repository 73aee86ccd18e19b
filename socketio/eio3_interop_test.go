package socketio_test

// The real socket.io-client 2.5.0 (Engine.IO v3, Socket.IO protocol v4)
// against a server with AllowEIO3, through test/interop/driver-v2.mjs:
// over polling, WebSocket and polling upgraded to WebSocket, events, acks
// and binary both ways, rooms shared with a socket.io-client 4 client,
// namespaces with a query as auth and a middleware refusal, disconnects
// from both sides, and the client's pings. Beside it, the v4 client
// (driver.mjs) in the room test, and refusal when AllowEIO3 is off.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"sio/engine"
	"sio/internal/testutil"
	"sio/socketio"
)

const v2Wait = 10 * time.Second

var v2Modes = []struct {
	name       string
	transports []string
}{
	{"polling", []string{"polling"}},
	{"websocket", []string{"websocket"}},
	{"upgrade", []string{"polling", "websocket"}},
}

// v2App is the server the v2 tests talk to.
type v2App struct {
	ts  *testServer
	url string

	mu      sync.Mutex
	socks   map[string]*socketio.Socket // by socket id
	reasons map[string]string           // disconnect reason by socket id
	answers map[string]string           // the client's ack to "question", by socket id (JSON)
	conns   chan *socketio.Socket
}

func startV2App(t *testing.T, eng engine.Config) *v2App {
	t.Helper()
	eng.AllowEIO3 = true
	if eng.PingInterval == 0 {
		eng.PingInterval = 500 * time.Millisecond
		eng.PingTimeout = 10 * time.Second
	}
	a := &v2App{socks: map[string]*socketio.Socket{}, reasons: map[string]string{}, answers: map[string]string{},
		conns: make(chan *socketio.Socket, 64)}
	a.ts = startServer(t, socketio.Options{Engine: eng})
	a.url = "http://" + a.ts.addr
	onConn := func(s *socketio.Socket) {
		a.mu.Lock()
		a.socks[string(s.ID())] = s
		a.mu.Unlock()
		s.OnDisconnect(func(reason string) {
			a.mu.Lock()
			a.reasons[string(s.ID())] = reason
			a.mu.Unlock()
		})
		// echo: the ack carries the arguments back, binary included.
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Values()...) })
		// emit-back: the server emits "back" with the same arguments.
		s.On("emit-back", func(e *socketio.Event) { _ = s.Emit("back", e.Values()...) })
		s.On("join", func(e *socketio.Event) {
			room, _ := e.String(0)
			s.Join(socketio.Room(room))
			_ = e.Ack(room)
		})
		// ask: the server asks the client "question" with an ack.
		s.On("ask", func(e *socketio.Event) {
			_ = s.Emit("question", "why?", []byte{0xca, 0xfe}, socketio.AckHandler(func(args *socketio.Args, err error) {
				a.mu.Lock()
				defer a.mu.Unlock()
				if err != nil {
					a.answers[string(s.ID())] = "error: " + err.Error()
					return
				}
				b, _ := args.Bytes(0)
				a.answers[string(s.ID())] = fmt.Sprintf("%x", b)
			}))
		})
		s.On("bye", func(e *socketio.Event) { s.Disconnect(false) })
		a.conns <- s
	}
	a.ts.srv.OnConnection(onConn)
	admin := a.ts.srv.Of("/admin")
	admin.UseFunc(func(s *socketio.Socket) error {
		var auth map[string]string
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		switch auth["token"] {
		case "ok":
			return nil
		case "plain":
			return errors.New("nope")
		}
		return &socketio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 42, "reason": "no token"}}
	})
	admin.OnConnection(onConn)
	return a
}

func (a *v2App) next(t *testing.T) *socketio.Socket {
	t.Helper()
	select {
	case s := <-a.conns:
		return s
	case <-time.After(v2Wait):
		t.Fatal("no connection on the server")
		return nil
	}
}

func (a *v2App) reason(t *testing.T, id string) string {
	t.Helper()
	var r string
	eventually(t, v2Wait, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		r = a.reasons[id]
		return r != ""
	})
	return r
}

func jsonEq(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %s: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want %s: %v", what, want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s: got %s, want %s", what, gb, wb)
	}
}

// v2Args is sent by the client: text beyond the BMP, binary at the top and
// nested.
const v2Args = `["héllo 😀",{"$bin":"0102ff"},{"nested":[{"$bin":"00"},{"k":"v"}]},7]`

func TestEIO3ClientEventsAcksBinary(t *testing.T) {
	for _, m := range v2Modes {
		t.Run(m.name, func(t *testing.T) {
			a := startV2App(t, engine.Config{})
			nc := testutil.StartNodeClientsV2(t)
			sid, err := nc.Connect("c", testutil.ClientOptions{URL: a.url, Transports: m.transports,
				Query: map[string]string{"user": "ann"}, AutoAck: map[string]any{"question": testutil.NodeBin{0xbe, 0xef}}})
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			s := a.next(t)
			// Node's protocol-3 socket id is the Engine.IO sid, which the
			// client computes itself.
			if string(s.ID()) != sid || s.Namespace().Name() != "/" {
				t.Fatalf("server socket %q in %q, client id %q", s.ID(), s.Namespace().Name(), sid)
			}
			if q := s.Handshake().Query("user"); q != "ann" {
				t.Fatalf("handshake query user %q", q)
			}
			if auth := string(s.Handshake().Auth); auth != "{}" {
				t.Fatalf("auth of / %s", auth)
			}
			var args []any
			_ = json.Unmarshal([]byte(v2Args), &args)
			// Client → server with an ack, binary both ways.
			ack, err := nc.Emit("c", "echo", args...)
			if err != nil {
				t.Fatalf("echo: %v", err)
			}
			jsonEq(t, "echo ack", ack, v2Args)
			// Server → client.
			nc.EmitNoAck("c", "emit-back", args...)
			got, err := nc.Next("c", "back", v2Wait)
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, "back", got, v2Args)
			// Server → client with an ack, answered with binary.
			nc.EmitNoAck("c", "ask")
			q, err := nc.Next("c", "question", v2Wait)
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, "question", q, `["why?",{"$bin":"cafe"},{"$fn":true}]`)
			eventually(t, v2Wait, func() bool {
				a.mu.Lock()
				defer a.mu.Unlock()
				return a.answers[sid] == "beef"
			})
			if m.name == "upgrade" {
				eventually(t, v2Wait, func() bool { return s.Transport() == "websocket" })
				ack, err := nc.Emit("c", "echo", args...)
				if err != nil {
					t.Fatalf("echo after the upgrade: %v", err)
				}
				jsonEq(t, "echo ack after the upgrade", ack, v2Args)
			}
			// The client's disconnect.
			nc.Disconnect("c")
			if r := a.reason(t, sid); r != socketio.ReasonClientNamespaceDisconnect {
				t.Fatalf("server saw %q", r)
			}
		})
	}
}

func TestEIO3ClientRoomsWithV4Client(t *testing.T) {
	for _, m := range v2Modes {
		t.Run(m.name, func(t *testing.T) {
			a := startV2App(t, engine.Config{})
			v2 := testutil.StartNodeClientsV2(t)
			v4 := testutil.StartNodeClients(t)
			if _, err := v2.Connect("old", testutil.ClientOptions{URL: a.url, Transports: m.transports}); err != nil {
				t.Fatal(err)
			}
			if p := a.next(t).Protocol(); p != 3 {
				t.Errorf("a 2.x client's Protocol() = %d, want 3", p)
			}
			if _, err := v4.Connect("new", testutil.ClientOptions{URL: a.url, Transports: m.transports}); err != nil {
				t.Fatal(err)
			}
			if p := a.next(t).Protocol(); p != 4 {
				t.Errorf("a 4.x client's Protocol() = %d, want 4", p)
			}
			if _, err := v2.Connect("out", testutil.ClientOptions{URL: a.url, Transports: m.transports}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				nc *testutil.NodeClients
				id string
			}{{v2, "old"}, {v4, "new"}} {
				if _, err := c.nc.Emit(c.id, "join", "r"); err != nil {
					t.Fatal(err)
				}
			}
			// One broadcast (encoded once) reaches both kinds of client.
			if err := a.ts.srv.To("r").Emit("news", "ünïcode 😀", []byte{1, 2, 3}, map[string]any{"b": []byte{4}}); err != nil {
				t.Fatal(err)
			}
			const want = `["ünïcode 😀",{"$bin":"010203"},{"b":{"$bin":"04"}}]`
			for _, c := range []struct {
				nc *testutil.NodeClients
				id string
			}{{v2, "old"}, {v4, "new"}} {
				got, err := c.nc.Next(c.id, "news", v2Wait)
				if err != nil {
					t.Fatalf("%s: %v", c.id, err)
				}
				jsonEq(t, c.id, got, want)
			}
			if err := v2.None("out", "news", 300*time.Millisecond); err != nil {
				t.Fatalf("outside the room: %v", err)
			}
			// And one without attachments.
			if err := a.ts.srv.To("r").Emit("news", "plain"); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				nc *testutil.NodeClients
				id string
			}{{v2, "old"}, {v4, "new"}} {
				got, err := c.nc.Next(c.id, "news", v2Wait)
				if err != nil {
					t.Fatalf("%s: %v", c.id, err)
				}
				jsonEq(t, c.id, got, `["plain"]`)
			}
		})
	}
}

func TestEIO3ClientNamespaces(t *testing.T) {
	for _, m := range v2Modes {
		t.Run(m.name, func(t *testing.T) {
			a := startV2App(t, engine.Config{})
			nc := testutil.StartNodeClientsV2(t)
			sid, err := nc.Connect("a", testutil.ClientOptions{URL: a.url + "/admin", Transports: m.transports,
				Query: map[string]string{"token": "ok", "x": "a b&c"}})
			if err != nil {
				t.Fatalf("connect /admin: %v", err)
			}
			var s *socketio.Socket
			for s == nil || s.Namespace().Name() != "/admin" {
				s = a.next(t) // "/" first: the implicit CONNECT
			}
			if !strings.HasPrefix(sid, "/admin#") || string(s.ID()) != sid {
				t.Fatalf("server id %q, client id %q", s.ID(), sid)
			}
			jsonEq(t, "auth", s.Handshake().Auth, `{"token":"ok","x":"a b&c"}`)
			ack, err := nc.Emit("a", "echo", "in admin", testutil.NodeBin{5})
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, "ack", ack, `["in admin",{"$bin":"05"}]`)
			// The server's disconnect of the namespace.
			nc.EmitNoAck("a", "bye")
			if r, err := nc.WaitDisconnect("a", v2Wait); err != nil || r != "io server disconnect" {
				t.Fatalf("client disconnect %q %v", r, err)
			}
			if r := a.reason(t, sid); r != socketio.ReasonServerNamespaceDisconnect {
				t.Fatalf("server saw %q", r)
			}

			// Refusals: the data of a *ConnectError, or the message.
			_, err = nc.Connect("b", testutil.ClientOptions{URL: a.url + "/admin", Transports: m.transports, Query: map[string]string{"token": "bad"}})
			var ce *testutil.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("refused connect: %v", err)
			}
			jsonEq(t, "refusal data", ce.Data, `{"code":42,"reason":"no token"}`)
			_, err = nc.Connect("c", testutil.ClientOptions{URL: a.url + "/admin", Transports: m.transports, Query: map[string]string{"token": "plain"}})
			if !errors.As(err, &ce) || ce.Message != "nope" || ce.Data != nil {
				t.Fatalf("plain refusal: %v", err)
			}
			_, err = nc.Connect("d", testutil.ClientOptions{URL: a.url + "/nowhere", Transports: m.transports})
			if !errors.As(err, &ce) || ce.Message != "Invalid namespace" {
				t.Fatalf("unknown namespace: %v", err)
			}
		})
	}
}

func TestEIO3ClientServerDisconnectAndPings(t *testing.T) {
	for _, m := range v2Modes {
		t.Run(m.name, func(t *testing.T) {
			// The client pings every 200 ms and the server closes it after
			// 200+800 ms of silence.
			a := startV2App(t, engine.Config{PingInterval: 200 * time.Millisecond, PingTimeout: 800 * time.Millisecond})
			nc := testutil.StartNodeClientsV2(t)
			sid, err := nc.Connect("c", testutil.ClientOptions{URL: a.url, Transports: m.transports})
			if err != nil {
				t.Fatal(err)
			}
			// Pinging, it outlives several timeouts.
			time.Sleep(2500 * time.Millisecond)
			if _, err := nc.Emit("c", "echo", 1); err != nil {
				t.Fatalf("after 2.5 s: %v", err)
			}
			a.mu.Lock()
			r := a.reasons[sid]
			a.mu.Unlock()
			if r != "" {
				t.Fatalf("disconnected: %s", r)
			}
			// Silent, it is closed.
			nc.StopPings("c")
			if r := a.reason(t, sid); r != socketio.ReasonPingTimeout {
				t.Fatalf("server saw %q", r)
			}
			if r, err := nc.WaitDisconnect("c", v2Wait); err != nil || r != "transport close" {
				t.Fatalf("client disconnect %q %v", r, err)
			}

			// Socket.Disconnect(true): the client sees the server's disconnect.
			sid, err = nc.Connect("d", testutil.ClientOptions{URL: a.url, Transports: m.transports})
			if err != nil {
				t.Fatal(err)
			}
			a.mu.Lock()
			s := a.socks[sid]
			a.mu.Unlock()
			s.Disconnect(true)
			if r, err := nc.WaitDisconnect("d", v2Wait); err != nil || r != "io server disconnect" {
				t.Fatalf("client disconnect %q %v", r, err)
			}
		})
	}
}

func TestEIO3ClientRefusedWithoutAllowEIO3(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	nc := testutil.StartNodeClientsV2(t)
	for _, tr := range [][]string{{"polling"}, {"websocket"}} {
		_, err := nc.Connect("c"+tr[0], testutil.ClientOptions{URL: "http://" + ts.addr, Transports: tr})
		var ce *testutil.ConnectError
		if !errors.As(err, &ce) || ce.Data != nil {
			t.Fatalf("%v: %v", tr, err)
		}
	}
	if n := ts.srv.Engine().Count(); n != 0 {
		t.Fatalf("%d sessions", n)
	}
}

// eventually waits up to d for cond.
func eventually(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	testutil.CheckFor(t, d, 10*time.Millisecond, func() error {
		if cond() {
			return nil
		}
		return errors.New("condition not met")
	})
}

func TestEIO3ClientRootMiddlewareRefusal(t *testing.T) {
	// "/"'s middlewares run on the implicit CONNECT; a refusal is an ERROR
	// packet on "/", which socket.io-client 2.x delivers as "error".
	for _, m := range v2Modes {
		t.Run(m.name, func(t *testing.T) {
			ts := startServer(t, socketio.Options{Engine: engine.Config{AllowEIO3: true}})
			ts.srv.Use(func(s *socketio.Socket, next func(error)) {
				if s.Handshake().Query("deny") != "" {
					next(&socketio.ConnectError{Message: "go away", Data: map[string]any{"why": "denied"}})
					return
				}
				next(nil)
			})
			nc := testutil.StartNodeClientsV2(t)
			_, err := nc.Connect("c", testutil.ClientOptions{URL: "http://" + ts.addr, Transports: m.transports, Query: map[string]string{"deny": "1"}})
			var ce *testutil.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("refused connect: %v", err)
			}
			jsonEq(t, "refusal data", ce.Data, `{"why":"denied"}`)
			if _, err := nc.Connect("ok", testutil.ClientOptions{URL: "http://" + ts.addr, Transports: m.transports}); err != nil {
				t.Fatalf("allowed connect: %v", err)
			}
			if n := ts.srv.Sockets().Len(); n != 1 {
				t.Fatalf("%d sockets in /", n)
			}
		})
	}
}
