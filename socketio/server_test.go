package socketio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"sio/engine"
	"sio/internal/testutil"
	"sio/socketio"
)

// --- namespaces and the CONNECT handshake ------------------------------------

func TestConnectToMainNamespaceAcksWithFreshSocketID(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	c := ts.ws(t)
	if len(c.open.Upgrades) != 0 || c.open.SID == "" {
		t.Fatalf("open packet %+v", c.open)
	}
	c.send(t, "40")
	p := c.next(t)
	var ack map[string]string
	if err := json.Unmarshal([]byte(p.data), &ack); err != nil || p.typ != 0 || p.nsp != "/" {
		t.Fatalf("CONNECT ack %s: %v", p, err)
	}
	sid := ack["sid"]
	if len(ack) != 1 || sid == "" {
		t.Fatalf("CONNECT ack %s: want exactly a sid", p)
	}
	if p.frame != `40{"sid":"`+sid+`"}` {
		t.Fatalf("CONNECT ack frame %q", p.frame)
	}
	if sid == c.open.SID {
		t.Fatal("the socket id is the Engine.IO sid (a secret)")
	}
	if len(sid) != 20 || strings.Trim(sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Fatalf("socket id %q: want 20 URL-safe characters", sid)
	}
	s := testutil.Recv(t, conns)
	if string(s.ID()) != sid || s.Namespace().Name() != "/" || !s.Connected() || s.Recovered() {
		t.Fatalf("socket %q nsp %q connected %v recovered %v", s.ID(), s.Namespace().Name(), s.Connected(), s.Recovered())
	}
	if s.Transport() != "websocket" {
		t.Fatalf("transport %q", s.Transport())
	}
	if ts.srv.Sockets().Len() != 1 || ts.srv.Sockets().Socket(s.ID()) != s {
		t.Fatal("the socket is not registered in its namespace")
	}
	// A second client gets another id.
	_, sid2 := ts.wsConnected(t, "/")
	if sid2 == sid {
		t.Fatal("two sockets share an id")
	}
}

func TestConnectToStaticNamespace(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	admin := ts.srv.Of("/admin")
	if ts.srv.Of("admin") != admin {
		t.Fatal(`Of("admin") is not Of("/admin")`)
	}
	conns := connections(admin)
	c := ts.ws(t)
	sid := c.connect(t, "/admin", "")
	s := testutil.Recv(t, conns)
	if string(s.ID()) != sid || s.Namespace() != admin || admin.Len() != 1 || ts.srv.Sockets().Len() != 0 {
		t.Fatalf("socket %q in %q; /admin has %d, / has %d", s.ID(), s.Namespace().Name(), admin.Len(), ts.srv.Sockets().Len())
	}

	// socket.io-parser: the namespace runs to the end when there is no comma.
	c2 := ts.ws(t)
	c2.send(t, "40/admin")
	connectAck(t, c2.next(t), "/admin")

	// The same connection may join several namespaces.
	sidMain := c.connect(t, "/", "")
	if sidMain == sid {
		t.Fatal("a connection's sockets share an id across namespaces")
	}
}

func TestDynamicNamespaceFromRegexpInheritsMiddlewaresAndHandlers(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	parent := ts.srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
	var mwMu sync.Mutex
	var mwSeen []string
	parent.UseFunc(func(s *socketio.Socket) error {
		mwMu.Lock()
		mwSeen = append(mwSeen, s.Namespace().Name())
		mwMu.Unlock()
		s.SetData("set by the parent's middleware")
		return nil
	})
	conns := connections(parent)

	c := ts.ws(t)
	sid := c.connect(t, "/dyn-42", "")
	s := testutil.Recv(t, conns)
	if string(s.ID()) != sid || s.Namespace().Name() != "/dyn-42" {
		t.Fatalf("socket %q in %q", s.ID(), s.Namespace().Name())
	}
	if s.Data() != "set by the parent's middleware" {
		t.Fatalf("data %v: the child did not run the parent's middleware", s.Data())
	}
	child := ts.srv.Of("/dyn-42")
	if child != s.Namespace() || child.Len() != 1 {
		t.Fatal("the child namespace is not registered on the server")
	}

	// A second client lands in the same child.
	c2 := ts.ws(t)
	c2.connect(t, "/dyn-42", "")
	if s2 := testutil.Recv(t, conns); s2.Namespace() != child {
		t.Fatal("a second child was created for the same name")
	}
	// Another matching name makes another child; a non-matching one is refused.
	c2.connect(t, "/dyn-7", "")
	testutil.Recv(t, conns)
	c2.send(t, "40/dyn-x,")
	c2.expect(t, `44/dyn-x,{"message":"Invalid namespace"}`)

	mwMu.Lock()
	defer mwMu.Unlock()
	if !slices.Equal(mwSeen, []string{"/dyn-42", "/dyn-42", "/dyn-7"}) {
		t.Fatalf("middleware saw %v", mwSeen)
	}
}

func TestDynamicNamespaceFromFuncSeesAuth(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	var seen []string
	var mu sync.Mutex
	parent := ts.srv.OfFunc(func(name string, auth []byte) bool {
		mu.Lock()
		seen = append(seen, name+" "+string(auth))
		mu.Unlock()
		return strings.HasPrefix(name, "/tenant-") && bytes.Contains(auth, []byte(`"ok":true`))
	})
	conns := connections(parent)
	c := ts.ws(t)
	c.connect(t, "/tenant-1", `{"ok":true}`)
	if s := testutil.Recv(t, conns); s.Namespace().Name() != "/tenant-1" || string(s.Handshake().Auth) != `{"ok":true}` {
		t.Fatalf("socket in %q with auth %s", s.Namespace().Name(), s.Handshake().Auth)
	}
	c.send(t, `40/tenant-2,{"ok":false}`)
	c.expect(t, `44/tenant-2,{"message":"Invalid namespace"}`)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []string{`/tenant-1 {"ok":true}`, `/tenant-2 {"ok":false}`}) {
		t.Fatalf("matcher saw %q", seen)
	}
}

func TestUnknownNamespaceIsRefusedAndConnectionStaysUsable(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("ping-me", func(e *socketio.Event) { _ = e.Socket().Emit("pong-you") })
	})
	c := ts.ws(t)
	c.send(t, "40/random,")
	c.expect(t, `44/random,{"message":"Invalid namespace"}`)
	c.send(t, `40/random,{"token":"x"}`)
	c.expect(t, `44/random,{"message":"Invalid namespace"}`)
	c.send(t, "40/random")
	c.expect(t, `44/random,{"message":"Invalid namespace"}`)
	c.connect(t, "/", "")
	c.send(t, `42["ping-me"]`)
	c.expect(t, `42["pong-you"]`)
	// Still refused after another namespace was joined, still usable.
	c.send(t, "40/random,")
	c.expect(t, `44/random,{"message":"Invalid namespace"}`)
	c.send(t, `42["ping-me"]`)
	c.expect(t, `42["pong-you"]`)
	if ts.srv.Engine().Count() != 1 {
		t.Fatalf("%d sessions", ts.srv.Engine().Count())
	}
}

func TestHandshakeAuthIsEmptyObjectWhenNoneSent(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	adminConns := connections(ts.srv.Of("/admin"))
	c := ts.ws(t)
	c.connect(t, "/", "")
	if a := string(testutil.Recv(t, conns).Handshake().Auth); a != "{}" {
		t.Fatalf("auth %q, want {}", a)
	}
	c.connect(t, "/admin", `{"token":"abc","n":[1,2.50]}`)
	if a := string(testutil.Recv(t, adminConns).Handshake().Auth); a != `{"token":"abc","n":[1,2.50]}` {
		t.Fatalf("auth %q, want the CONNECT payload byte for byte", a)
	}
}

func TestPidAndOffsetInAuthAreIgnoredWithoutRecovery(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	c := ts.ws(t)
	c.send(t, `40{"pid":"abc","offset":"def","token":"t"}`)
	p := c.next(t)
	sid, pid := connectAck(t, p, "/")
	if pid != "" || p.frame != `40{"sid":"`+sid+`"}` {
		t.Fatalf("CONNECT ack %s: want only a sid without recovery", p)
	}
	s := testutil.Recv(t, conns)
	if s.Recovered() || string(s.Handshake().Auth) != `{"pid":"abc","offset":"def","token":"t"}` {
		t.Fatalf("recovered %v, auth %s", s.Recovered(), s.Handshake().Auth)
	}
}

func TestHandshakeExposesQueryHeadersAndAddress(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	before := time.Now()
	c := ts.wsWith(t, "&room=lobby&name=a%20b&t=123", http.Header{"X-Custom": {"hello"}})
	c.connect(t, "/", "")
	hs := testutil.Recv(t, conns).Handshake()
	for k, want := range map[string]string{
		"room": "lobby", "name": "a b", "EIO": "4", "transport": "websocket", "t": "123", "missing": "",
	} {
		if got := hs.Query(k); got != want {
			t.Errorf("Query(%q) = %q, want %q", k, got, want)
		}
	}
	h := hs.Headers()
	if h["x-custom"] != "hello" || h["host"] == "" || h["upgrade"] != "websocket" {
		t.Errorf("headers %v", h)
	}
	if hs.Address != "127.0.0.1" {
		t.Errorf("address %q", hs.Address)
	}
	if !strings.HasPrefix(hs.URL, "/socket.io/?EIO=4&transport=websocket") {
		t.Errorf("URL %q", hs.URL)
	}
	if hs.Secure || hs.XDomain {
		t.Errorf("secure %v xdomain %v", hs.Secure, hs.XDomain)
	}
	if hs.Time.Before(before.Add(-time.Second)) || hs.Time.After(time.Now()) || hs.Issued() != hs.Time.UnixMilli() {
		t.Errorf("handshake time %v (issued %d)", hs.Time, hs.Issued())
	}
}

// The basic flows over HTTP long-polling: connect, events both ways, binary
// (base64 `b` segments), acks both ways and a client disconnect.
func TestPollingClientConnectsEmitsAcksAndSendsBinary(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	reasons := disconnectReasons(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) {
			_ = e.Socket().Emit("echo", e.Values()...)
			_ = e.Ack("acked", len(e.Values()))
		})
	})
	p := ts.polling(t)
	if !slices.Equal(p.open.Upgrades, []string{"websocket"}) {
		t.Fatalf("upgrades %v", p.open.Upgrades)
	}
	sid := p.connect(t, "/", "")
	s := testutil.Recv(t, conns)
	if string(s.ID()) != sid || s.Transport() != "polling" {
		t.Fatalf("socket %q transport %q", s.ID(), s.Transport())
	}

	p.post(t, `42["echo","hi",{"a":1}]`)
	p.expect(t, `42["echo","hi",{"a":1}]`)

	p.post(t, `421["echo",1]`)
	p.expect(t, `42["echo",1]`)
	p.expect(t, `431["acked",1]`)

	// Binary in one POST: the header, then `b<base64>`.
	p.post(t, `451-["echo",{"_placeholder":true,"num":0}]`, []byte{1, 2, 3, 4})
	pk := p.expect(t, `451-["echo",{"_placeholder":true,"num":0}]`)
	if len(pk.att) != 1 || !bytes.Equal(pk.att[0], []byte{1, 2, 3, 4}) {
		t.Fatalf("attachments %x", pk.att)
	}

	// Server → client with an ack.
	got := make(chan string, 1)
	if err := s.Emit("q", "?", socketio.AckHandler(func(a *socketio.Args, err error) {
		if err != nil {
			got <- err.Error()
			return
		}
		got <- strings.Join(argsStrings(a), ",")
	})); err != nil {
		t.Fatal(err)
	}
	q := p.next(t)
	if q.typ != 2 || q.data != `["q","?"]` || q.id < 0 {
		t.Fatalf("got %s", q)
	}
	p.post(t, fmt.Sprintf(`43%d["!",2]`, q.id))
	if a := testutil.Recv(t, got); a != `"!",2` {
		t.Fatalf("ack args %s", a)
	}

	// Server emits while no GET is held are buffered for the next GET.
	_ = s.Emit("a")
	_ = s.Emit("b", []byte{9})
	p.expect(t, `42["a"]`)
	if pk := p.expect(t, `451-["b",{"_placeholder":true,"num":0}]`); !bytes.Equal(pk.att[0], []byte{9}) {
		t.Fatalf("attachment %x", pk.att[0])
	}

	p.post(t, "41")
	if r := testutil.Recv(t, reasons); r != socketio.ReasonClientNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
}

// --- connection middlewares --------------------------------------------------

func TestSyncMiddlewareRunsBeforeConnection(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	ts.srv.Sockets().UseFunc(func(s *socketio.Socket) error {
		if s.Connected() {
			return errors.New("connected too early")
		}
		var auth struct{ User string }
		if err := json.Unmarshal(s.Handshake().Auth, &auth); err != nil || auth.User == "" {
			return errors.New("no user")
		}
		s.SetData(auth.User)
		return nil
	})
	conns := connections(ts.srv.Sockets())
	c := ts.ws(t)
	c.connect(t, "/", `{"user":"ann"}`)
	if s := testutil.Recv(t, conns); s.Data() != "ann" {
		t.Fatalf("data %v", s.Data())
	}
	c2 := ts.ws(t)
	c2.send(t, "40")
	c2.expect(t, `44{"message":"no user"}`)
	testutil.RecvNone(t, conns, 50*time.Millisecond)
}

func TestAsyncMiddlewareMayCallNextFromAnotherGoroutine(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	ts.srv.Use(func(s *socketio.Socket, next func(error)) {
		user := s.Handshake().Query("user")
		go func() {
			time.Sleep(30 * time.Millisecond) // a database lookup
			if user == "" {
				next(&socketio.ConnectError{Message: "who are you", Data: map[string]any{"retry": false}})
				return
			}
			s.SetData(user)
			next(nil)
		}()
	})
	conns := connections(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("whoami", func(e *socketio.Event) { _ = e.Ack(e.Socket().Data()) })
	})
	c := ts.wsWith(t, "&user=bob", nil)
	start := time.Now()
	c.connect(t, "/", "")
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Fatalf("connected after %v, before the middleware called next", d)
	}
	if s := testutil.Recv(t, conns); s.Data() != "bob" {
		t.Fatalf("data %v", s.Data())
	}
	c.send(t, `421["whoami"]`)
	c.expect(t, `431["bob"]`)

	c2 := ts.ws(t)
	c2.send(t, "40")
	c2.expect(t, `44{"message":"who are you","data":{"retry":false}}`)
	testutil.RecvNone(t, conns, 50*time.Millisecond)
}

func TestMiddlewareRefusalSendsConnectErrorWithData(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	admin := ts.srv.Of("/admin")
	admin.Use(func(s *socketio.Socket, next func(error)) {
		if s.Handshake().Query("token") == "good" {
			next(nil)
			return
		}
		next(&socketio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 42}})
	})
	ts.srv.Sockets().UseFunc(func(*socketio.Socket) error { return errors.New("plain refusal") })
	conns := connections(admin)
	mainConns := connections(ts.srv.Sockets())

	c := ts.ws(t)
	c.send(t, "40/admin,")
	c.expect(t, `44/admin,{"message":"not authorized","data":{"code":42}}`)
	c.send(t, "40")
	c.expect(t, `44{"message":"plain refusal"}`)
	// The connection stays open; the client may try again.
	c.send(t, "40/admin,")
	c.expect(t, `44/admin,{"message":"not authorized","data":{"code":42}}`)
	testutil.RecvNone(t, conns, 50*time.Millisecond)
	testutil.RecvNone(t, mainConns, 0)
	if admin.Len() != 0 || ts.srv.Sockets().Len() != 0 || ts.srv.Engine().Count() != 1 {
		t.Fatalf("/admin has %d sockets, / %d, %d sessions", admin.Len(), ts.srv.Sockets().Len(), ts.srv.Engine().Count())
	}

	c2 := ts.wsWith(t, "&token=good", nil)
	c2.connect(t, "/admin", "")
	testutil.Recv(t, conns)
}

func TestMiddlewaresRunInOrderAndStopAtFirstRefusal(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	var mu sync.Mutex
	var order []string
	record := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	nsp := ts.srv.Sockets()
	nsp.UseFunc(func(*socketio.Socket) error { record("first"); return nil })
	nsp.Use(func(s *socketio.Socket, next func(error)) {
		go func() {
			record("second")
			if s.Handshake().Query("refuse") != "" {
				next(errors.New("refused by second"))
				return
			}
			next(nil)
		}()
	})
	nsp.UseFunc(func(*socketio.Socket) error { record("third"); return nil })
	nsp.OnConnection(func(*socketio.Socket) { record("connection") })

	c := ts.ws(t)
	c.connect(t, "/", "")
	testutil.CheckFor(t, time.Second, 5*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(order, []string{"first", "second", "third", "connection"}) {
			return fmt.Errorf("order %v", order)
		}
		return nil
	})
	mu.Lock()
	order = nil
	mu.Unlock()

	c2 := ts.wsWith(t, "&refuse=1", nil)
	c2.send(t, "40")
	c2.expect(t, `44{"message":"refused by second"}`)
	c2.expectNone(t, 50*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, []string{"first", "second"}) {
		t.Fatalf("order %v", order)
	}
}

// --- events from the client ------------------------------------------------------

func TestEventHandlerGetsRawArguments(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	type seen struct {
		name    string
		hasAck  bool
		n       int
		raw     []string
		str     string
		strErr  bool
		num     float64
		obj     map[string][]int
		val     any
		noArg   bool
		noRaw   bool
		rawNull string
	}
	got := make(chan seen, 1)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("ev", func(e *socketio.Event) {
			var v seen
			v.name, v.hasAck, v.n = e.Name(), e.HasAck(), e.Len()
			v.raw = argsStrings(&e.Args)
			v.str, _ = e.String(0)
			_, err := e.String(1)
			v.strErr = err != nil
			_ = e.Decode(1, &v.num)
			_ = e.Decode(2, &v.obj)
			val, _ := e.Value(2)
			if rm, ok := val.(json.RawMessage); ok {
				v.val = string(rm)
			}
			_, err = e.String(9)
			v.noArg = errors.Is(err, socketio.ErrArgIndex)
			v.noRaw = e.Raw(5) == nil && e.Raw(-1) == nil
			v.rawNull = string(e.Raw(3))
			got <- v
		})
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `42["ev","str",12.5,{"a":[1,2]},null,true]`)
	v := testutil.Recv(t, got)
	if v.name != "ev" || v.hasAck || v.n != 5 {
		t.Fatalf("name %q ack %v len %d", v.name, v.hasAck, v.n)
	}
	if !slices.Equal(v.raw, []string{`"str"`, `12.5`, `{"a":[1,2]}`, `null`, `true`}) {
		t.Fatalf("raw %q", v.raw)
	}
	if v.str != "str" || !v.strErr || v.num != 12.5 || len(v.obj["a"]) != 2 || v.obj["a"][1] != 2 {
		t.Fatalf("decoded %+v", v)
	}
	if v.val != `{"a":[1,2]}` || !v.noArg || !v.noRaw || v.rawNull != "null" {
		t.Fatalf("value/index handling %+v", v)
	}
}

func TestEventNamesMayBeNumbersOrEscapedStrings(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	got := make(chan string, 4)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		for _, name := range []string{"1", "-2.5", "café", `a"b`} {
			s.On(name, func(e *socketio.Event) { got <- e.Name() + "|" + strings.Join(argsStrings(&e.Args), ",") })
		}
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `42[1,"one"]`)
	c.send(t, `42[-2.5]`)
	c.send(t, `42["caf\u00e9",true]`)
	c.send(t, `42["a\"b"]`)
	for _, want := range []string{`1|"one"`, `-2.5|`, `café|true`, `a"b|`} {
		if g := testutil.Recv(t, got); g != want {
			t.Fatalf("got %q, want %q", g, want)
		}
	}
}

func TestBinaryArgumentsAtTopLevelAndNested(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	type seen struct {
		top     []byte
		topOK   bool
		notBin  bool
		nested  any
		decoded struct {
			Nested [][]byte
			N      int
		}
		values   []any
		rawPlace string
	}
	got := make(chan seen, 1)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("bin", func(e *socketio.Event) {
			var v seen
			b, ok := e.Bytes(0)
			v.top, v.topOK = append([]byte(nil), b...), ok
			_, isBin := e.Bytes(1)
			v.notBin = !isBin
			v.nested, _ = e.Value(1)
			_ = e.Decode(1, &v.decoded)
			v.values = e.Values()
			v.rawPlace = string(e.Raw(0))
			// Echo: binary goes back as attachments, top level and nested.
			_ = e.Socket().Emit("bin-back", e.Values()...)
			got <- v
		})
	})
	c, _ := ts.wsConnected(t, "/")
	c.emit(t, `452-["bin",{"_placeholder":true,"num":0},{"nested":[{"_placeholder":true,"num":1}],"n":1}]`,
		[]byte{1, 2, 3}, []byte{4, 5})
	v := testutil.Recv(t, got)
	if !v.topOK || !bytes.Equal(v.top, []byte{1, 2, 3}) || !v.notBin {
		t.Fatalf("Bytes: %x %v %v", v.top, v.topOK, v.notBin)
	}
	if v.rawPlace != `{"_placeholder":true,"num":0}` {
		t.Fatalf("Raw(0) %q", v.rawPlace)
	}
	rb, ok := v.nested.(socketio.RawBinary)
	if !ok {
		t.Fatalf("Value(1) %T, want RawBinary", v.nested)
	}
	if string(rb.JSON) != `{"nested":[{"_placeholder":true,"num":1}],"n":1}` || len(rb.Attachments) != 2 || !bytes.Equal(rb.Attachments[1], []byte{4, 5}) {
		t.Fatalf("Value(1) %s %x", rb.JSON, rb.Attachments)
	}
	if len(v.decoded.Nested) != 1 || !bytes.Equal(v.decoded.Nested[0], []byte{4, 5}) || v.decoded.N != 1 {
		t.Fatalf("Decode(1) %+v", v.decoded)
	}
	if len(v.values) != 2 || !bytes.Equal(v.values[0].([]byte), []byte{1, 2, 3}) {
		t.Fatalf("Values %#v", v.values)
	}
	p := c.next(t)
	if p.typ != 5 || p.event(t) != "bin-back" || len(p.att) != 2 ||
		!bytes.Equal(p.att[0], []byte{1, 2, 3}) || !bytes.Equal(p.att[1], []byte{4, 5}) {
		t.Fatalf("echo %s", p)
	}
	var echoed []any
	if err := json.Unmarshal([]byte(p.data), &echoed); err != nil {
		t.Fatal(err)
	}
	want := []any{"bin-back", map[string]any{"_placeholder": true, "num": float64(0)},
		map[string]any{"n": float64(1), "nested": []any{map[string]any{"_placeholder": true, "num": float64(1)}}}}
	if fmt.Sprint(echoed) != fmt.Sprint(want) {
		t.Fatalf("echo payload %s", p.data)
	}
}

func TestValuesAreReEmittedByteForByte(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.OnAny(func(e *socketio.Event) { _ = e.Socket().Emit(e.Name(), e.Values()...) })
	})
	c, _ := ts.wsConnected(t, "/")
	for _, f := range []string{
		`42["message",1,"2",{"3":[true]}]`,
		`42["message",1.50,1e2,{"z":1,"a":[]},"\u00e9<>&","\u2028"]`,
		`42["message",{"b":{"_placeholder":false,"num":0}},[null,{}],-0]`,
		`42["message"]`,
	} {
		c.send(t, f)
		c.expect(t, f)
	}
}

// Re-emitting Values() of an event whose nested object holds binary must keep
// the object's key order, as Node does (JS objects keep insertion order).
func TestValuesWithNestedBinaryKeepKeyOrder(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("m", func(e *socketio.Event) { _ = e.Socket().Emit("m", e.Values()...) })
	})
	c, _ := ts.wsConnected(t, "/")
	const f = `451-["m",{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"bin":{"_placeholder":true,"num":0}}]`
	for i := 0; i < 5; i++ {
		c.emit(t, f, []byte{7})
		if p := c.next(t); p.frame != f {
			t.Fatalf("re-emitted Values() changed the JSON: sent %s, got %s", f, p.frame)
		}
	}
}

func TestClientAckIsAnswered(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	handler := func(s *socketio.Socket) {
		s.On("ack-me", func(e *socketio.Event) {
			if !e.HasAck() {
				_ = e.Socket().Emit("no-ack")
				return
			}
			_ = e.Ack("got", e.Len())
		})
	}
	ts.srv.OnConnection(handler)
	ts.srv.Of("/admin").OnConnection(handler)
	c, _ := ts.wsConnected(t, "/")
	c.connect(t, "/admin", "")
	c.send(t, `421["ack-me",5]`)
	c.expect(t, `431["got",1]`)
	c.send(t, `42/admin,7["ack-me"]`)
	c.expect(t, `43/admin,7["got",0]`)
	c.send(t, `42123456789["ack-me"]`)
	c.expect(t, `43123456789["got",0]`)
	c.send(t, `42["ack-me"]`)
	c.expect(t, `42["no-ack"]`)
}

func TestBinaryAckIsSentWithAttachments(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("file", func(e *socketio.Event) {
			_ = e.Ack("ok", []byte{9, 8}, map[string]any{"thumb": []byte{7}})
		})
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `4215["file"]`)
	p := c.expect(t, `462-15["ok",{"_placeholder":true,"num":0},{"thumb":{"_placeholder":true,"num":1}}]`)
	if len(p.att) != 2 || !bytes.Equal(p.att[0], []byte{9, 8}) || !bytes.Equal(p.att[1], []byte{7}) {
		t.Fatalf("attachments %x", p.att)
	}
}

func TestSecondAckIsIgnored(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	errs := make(chan error, 4)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("twice", func(e *socketio.Event) {
			errs <- e.Ack("first")
			errs <- e.Ack("second")
			_ = e.Socket().Emit("marker")
		})
		s.On("later", func(e *socketio.Event) {
			go func() {
				time.Sleep(20 * time.Millisecond)
				errs <- e.Ack("late")
				errs <- e.Ack("later still")
			}()
		})
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `423["twice"]`)
	c.expect(t, `433["first"]`)
	c.expect(t, `42["marker"]`)
	c.send(t, `424["later"]`)
	c.expect(t, `434["late"]`)
	c.expectNone(t, 50*time.Millisecond)
	for i := 0; i < 4; i++ {
		if err := testutil.Recv(t, errs); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
}

func TestOnAnySeesEveryEventFirst(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	var mu sync.Mutex
	var log []string
	add := func(s string) {
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
	}
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("a", func(e *socketio.Event) { add("on:a") })
		s.OnAny(func(e *socketio.Event) { add("any:" + e.Name()) })
		s.On("a", func(e *socketio.Event) { add("on2:a") })
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `42["a"]`)
	c.send(t, `42["unhandled"]`)
	c.send(t, `42[7]`)
	testutil.CheckFor(t, time.Second, 5*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(log, []string{"any:a", "on:a", "on2:a", "any:unhandled", "any:7"}) {
			return fmt.Errorf("log %v", log)
		}
		return nil
	})
}

func TestOnAnyOutgoingSeesEmits(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	out := make(chan string, 8)
	conns := connections(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.OnAnyOutgoing(func(event string, args []any) { out <- fmt.Sprintf("%s %v", event, args) })
	})
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	if err := s.Emit("news", 1, "x"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.Recv(t, out); got != "news [1 x]" {
		t.Fatalf("outgoing %q", got)
	}
	c.expect(t, `42["news",1,"x"]`)
	_ = s.Timeout(time.Second).Emit("q", socketio.AckHandler(func(*socketio.Args, error) {}))
	if got := testutil.Recv(t, out); got != "q []" {
		t.Fatalf("outgoing %q (the ack handler must not be listed)", got)
	}
}

// Node's in-memory adapter calls the outgoing listeners of every recipient
// of a broadcast (socket.io-adapter broadcast → notifyOutgoingListeners).
func TestOnAnyOutgoingSeesBroadcasts(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	out := make(chan string, 8)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.Join("room")
		s.OnAnyOutgoing(func(event string, args []any) { out <- fmt.Sprintf("%s %v", event, args) })
	})
	c, _ := ts.wsConnected(t, "/")
	_ = ts.srv.Emit("all", 1)
	_ = ts.srv.To("room").Emit("room", 2)
	c.expect(t, `42["all",1]`)
	c.expect(t, `42["room",2]`)
	select {
	case got := <-out:
		if got != "all [1]" {
			t.Fatalf("outgoing %q", got)
		}
	case <-time.After(200 * time.Millisecond):
		t.Fatal("OnAnyOutgoing is not called for broadcasts (io.Emit / To(room).Emit) that reach the socket")
	}
	if got := testutil.Recv(t, out); got != "room [2]" {
		t.Fatalf("outgoing %q", got)
	}
}

func TestPacketMiddlewareCanDropEventAndReportError(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	errs := make(chan error, 4)
	handled := make(chan string, 4)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.Use(func(e *socketio.Event, next func(error)) {
			if e.Name() == "forbidden" {
				next(errors.New("not allowed: " + e.Name()))
				return
			}
			next(nil)
		})
		s.Use(func(e *socketio.Event, next func(error)) {
			handled <- "mw2:" + e.Name()
			next(nil)
		})
		s.OnError(func(err error) { errs <- err })
		s.OnAny(func(e *socketio.Event) { handled <- "any:" + e.Name() })
		s.On("forbidden", func(e *socketio.Event) { handled <- "forbidden" })
		s.On("allowed", func(e *socketio.Event) { handled <- "allowed"; _ = e.Ack() })
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `42["forbidden",1]`)
	if err := testutil.Recv(t, errs); err.Error() != "not allowed: forbidden" {
		t.Fatalf("OnError got %v", err)
	}
	c.send(t, `421["allowed"]`)
	c.expect(t, `431[]`)
	for _, want := range []string{"mw2:allowed", "any:allowed", "allowed"} {
		if got := testutil.Recv(t, handled); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	testutil.RecvNone(t, handled, 20*time.Millisecond)
}

// A packet middleware that calls next later (an async permission check) must
// still hand the handler intact arguments: they must not borrow a read buffer
// that was reused meanwhile.
func TestAsyncPacketMiddlewareKeepsArgumentsIntact(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	got := make(chan string, 4)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.Use(func(e *socketio.Event, next func(error)) {
			if e.Name() != "slow" {
				next(nil)
				return
			}
			go func() {
				time.Sleep(50 * time.Millisecond)
				next(nil)
			}()
		})
		s.On("slow", func(e *socketio.Event) { got <- strings.Join(argsStrings(&e.Args), ",") })
		s.On("fast", func(e *socketio.Event) {})
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `42["slow","AAAAAAAAAAAAAAAAAAAAAAAA"]`)
	for i := 0; i < 20; i++ {
		c.send(t, `42["fast","BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"]`)
	}
	if a := testutil.Recv(t, got); a != `"AAAAAAAAAAAAAAAAAAAAAAAA"` {
		t.Fatalf("handler got %q", a)
	}
}

func TestReservedEventNamesFromClientCloseConnection(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	reasons := disconnectReasons(ts.srv.Sockets())
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		t.Run(name, func(t *testing.T) {
			c, _ := ts.wsConnected(t, "/")
			c.send(t, `42["`+name+`"]`)
			c.waitClosed(t)
			if r := testutil.Recv(t, reasons); r != socketio.ReasonForcedClose {
				t.Fatalf("reason %q", r)
			}
		})
	}
}

func TestEmittingReservedEventNamesFails(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		for what, err := range map[string]error{
			"socket.Emit":          s.Emit(name),
			"socket.Volatile.Emit": s.Volatile().Emit(name, 1),
			"io.Emit":              ts.srv.Emit(name),
			"To.Emit":              ts.srv.To("r").Emit(name),
			"Broadcast.Emit":       s.Broadcast().Emit(name),
			"ServerSideEmit":       ts.srv.ServerSideEmit(name),
		} {
			if !errors.Is(err, socketio.ErrReservedEvent) {
				t.Errorf("%s(%q) = %v, want ErrReservedEvent", what, name, err)
			}
		}
		if _, err := s.EmitWithAck(context.Background(), name); !errors.Is(err, socketio.ErrReservedEvent) {
			t.Errorf("EmitWithAck(%q) = %v", name, err)
		}
	}
	_ = s.Emit("fine")
	c.expect(t, `42["fine"]`)
}

// --- acknowledgements asked by the server ------------------------------------------

func TestServerAckHandlerGetsClientAnswer(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	type answer struct {
		args []string
		bin  []byte
		err  error
	}
	answers := make(chan answer, 2)
	handler := socketio.AckHandler(func(a *socketio.Args, err error) {
		var v answer
		v.err = err
		if a != nil {
			v.args = argsStrings(a)
			b, _ := a.Bytes(1)
			v.bin = append([]byte(nil), b...)
		}
		answers <- v
	})
	ts.srv.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("question", "ready?", handler)
		_ = s.Emit("question", "binary?", func(a *socketio.Args, err error) { handler(a, err) })
	})
	c, _ := ts.wsConnected(t, "/")
	q1 := c.expect(t, `420["question","ready?"]`)
	q2 := c.expect(t, `421["question","binary?"]`)
	c.send(t, fmt.Sprintf(`43%d["yes",{"x":1}]`, q1.id))
	if a := testutil.Recv(t, answers); a.err != nil || !slices.Equal(a.args, []string{`"yes"`, `{"x":1}`}) {
		t.Fatalf("answer %+v", a)
	}
	c.emit(t, fmt.Sprintf(`461-%d["bin",{"_placeholder":true,"num":0}]`, q2.id), []byte{1, 2})
	if a := testutil.Recv(t, answers); a.err != nil || !bytes.Equal(a.bin, []byte{1, 2}) {
		t.Fatalf("binary answer %+v", a)
	}
	// A second answer to the same id is ignored.
	c.send(t, fmt.Sprintf(`43%d["again"]`, q1.id))
	testutil.RecvNone(t, answers, 50*time.Millisecond)
}

func TestTimeoutEmitFailsWhenClientDoesNotAnswer(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	errs := make(chan error, 2)
	start := time.Now()
	if err := s.Timeout(100*time.Millisecond).Emit("q", socketio.AckHandler(func(a *socketio.Args, err error) {
		errs <- err
	})); err != nil {
		t.Fatal(err)
	}
	q := c.next(t)
	if q.id < 0 {
		t.Fatalf("no ack id in %s", q)
	}
	if err := testutil.Recv(t, errs); !errors.Is(err, socketio.ErrTimeout) || err.Error() != "operation has timed out" {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("timed out after %v", d)
	}
	// A late answer is ignored.
	c.send(t, fmt.Sprintf(`43%d["late"]`, q.id))
	testutil.RecvNone(t, errs, 50*time.Millisecond)

	// EmitWithAck with a timeout too.
	if _, err := s.Timeout(50*time.Millisecond).EmitWithAck(context.Background(), "q2"); !errors.Is(err, socketio.ErrTimeout) {
		t.Fatalf("EmitWithAck: %v", err)
	}
}

func TestEmitWithAckFromGoroutineReturnsAnswer(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	type res struct {
		a   *socketio.Args
		err error
	}
	done := make(chan res, 1)
	go func() {
		a, err := s.EmitWithAck(context.Background(), "q", 1)
		done <- res{a, err}
	}()
	q := c.next(t)
	if q.data != `["q",1]` {
		t.Fatalf("got %s", q)
	}
	c.send(t, fmt.Sprintf(`43%d["answer",[1,2]]`, q.id))
	r := testutil.Recv(t, done)
	if r.err != nil {
		t.Fatal(r.err)
	}
	// The returned arguments own their memory: more traffic must not change them.
	for i := 0; i < 10; i++ {
		c.send(t, `42["noise","XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"]`)
	}
	c.send(t, `42["noise"]`)
	time.Sleep(20 * time.Millisecond) // let the server read the noise into its buffers
	if got := strings.Join(argsStrings(r.a), ","); got != `"answer",[1,2]` {
		t.Fatalf("answer %q", got)
	}

	// A cancelled context returns at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.EmitWithAck(ctx, "never"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestEmitWithAckOnEventLoopReturnsErrOnLoop(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	errs := make(chan error, 4)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		_, err := s.EmitWithAck(context.Background(), "in-connection")
		errs <- err
		s.On("ev", func(e *socketio.Event) {
			_, err := e.Socket().EmitWithAck(context.Background(), "in-handler")
			errs <- err
			_, err = e.Socket().Timeout(time.Second).EmitWithAck(context.Background(), "in-handler")
			errs <- err
			_, err = ts.srv.Timeout(time.Second).EmitWithAck(context.Background(), "broadcast-in-handler")
			errs <- err
			_ = e.Ack("handler returned")
		})
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `421["ev"]`)
	for i := 0; i < 4; i++ {
		if err := testutil.Recv(t, errs); !errors.Is(err, socketio.ErrOnLoop) {
			t.Fatalf("call %d: %v, want ErrOnLoop", i, err)
		}
	}
	c.expect(t, `431["handler returned"]`)
}

func TestAckIDsArePerNamespaceCountersFromZero(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	adminConns := connections(ts.srv.Of("/admin"))
	a, _ := ts.wsConnected(t, "/")
	sa := testutil.Recv(t, conns)
	b, _ := ts.wsConnected(t, "/")
	sb := testutil.Recv(t, conns)
	c, _ := ts.wsConnected(t, "/admin")
	sc := testutil.Recv(t, adminConns)
	noop := socketio.AckHandler(func(*socketio.Args, error) {})
	_ = sa.Emit("x", noop)
	a.expect(t, `420["x"]`)
	_ = sb.Emit("x", noop)
	b.expect(t, `421["x"]`)
	_ = sc.Emit("x", noop)
	c.expect(t, `42/admin,0["x"]`)
	_ = sa.Emit("x", noop)
	a.expect(t, `422["x"]`)
	_ = sc.Emit("x", noop)
	c.expect(t, `42/admin,1["x"]`)
	// Emits without an ack do not use ids.
	_ = sa.Emit("plain")
	a.expect(t, `42["plain"]`)
	_ = sb.Emit("x", noop)
	b.expect(t, `423["x"]`)
}

func TestUnknownAckIDsFromClientAreIgnored(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Values()...) })
	})
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	c.send(t, `4399["nobody asked"]`)
	c.send(t, `430[]`)
	c.emit(t, `461-12[{"_placeholder":true,"num":0}]`, []byte{1})
	c.send(t, `421["echo","still here"]`)
	c.expect(t, `431["still here"]`)
	// A real ack still works afterwards.
	got := make(chan string, 1)
	_ = s.Emit("q", socketio.AckHandler(func(a *socketio.Args, err error) { got <- fmt.Sprint(argsStrings(a), err) }))
	q := c.next(t)
	c.send(t, fmt.Sprintf(`43%d[1]`, q.id))
	if g := testutil.Recv(t, got); g != "[1] <nil>" {
		t.Fatalf("ack %q", g)
	}
}

func TestPendingAcksFailWhenSocketDisconnects(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	errs := make(chan error, 4)
	h := socketio.AckHandler(func(a *socketio.Args, err error) { errs <- err })
	_ = s.Emit("q1", h)
	_ = s.Emit("q2", h)
	c.next(t)
	c.next(t)
	c.close()
	for i := 0; i < 2; i++ {
		if err := testutil.Recv(t, errs); !errors.Is(err, socketio.ErrDisconnected) {
			t.Fatalf("err %v, want ErrDisconnected", err)
		}
	}
	// Emitting to a disconnected socket fails at once, handler included.
	if err := s.Emit("q3", h); !errors.Is(err, socketio.ErrDisconnected) {
		t.Fatalf("Emit after disconnect: %v", err)
	}
	if err := testutil.Recv(t, errs); !errors.Is(err, socketio.ErrDisconnected) {
		t.Fatalf("handler after disconnect: %v", err)
	}
	if _, err := s.EmitWithAck(context.Background(), "q4"); !errors.Is(err, socketio.ErrDisconnected) {
		t.Fatalf("EmitWithAck after disconnect: %v", err)
	}
}

func TestMaxPendingAcksIsEnforced(t *testing.T) {
	ts := startServer(t, socketio.Options{MaxPendingAcks: 2})
	conns := connections(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	answered := make(chan string, 4)
	h := func(name string) socketio.AckHandler {
		return func(a *socketio.Args, err error) { answered <- fmt.Sprint(name, " ", err) }
	}
	if err := s.Emit("q", h("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("q", h("2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("q", h("3")); !errors.Is(err, socketio.ErrTooManyAcks) {
		t.Fatalf("third emit: %v, want ErrTooManyAcks", err)
	}
	if _, err := s.EmitWithAck(context.Background(), "q"); !errors.Is(err, socketio.ErrTooManyAcks) {
		t.Fatalf("EmitWithAck: %v, want ErrTooManyAcks", err)
	}
	q1 := c.next(t)
	c.next(t)
	c.expectNone(t, 20*time.Millisecond) // the refused emits were not sent
	c.send(t, fmt.Sprintf(`43%d[]`, q1.id))
	if got := testutil.Recv(t, answered); got != "1 <nil>" {
		t.Fatalf("answered %q", got)
	}
	// One slot is free again.
	if err := s.Emit("q", h("4")); err != nil {
		t.Fatalf("emit after an answer: %v", err)
	}
	// Plain emits are not limited.
	for i := 0; i < 5; i++ {
		if err := s.Emit("plain"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServerAckTimeoutOptionApplies(t *testing.T) {
	ts := startServer(t, socketio.Options{AckTimeout: 100 * time.Millisecond})
	conns := connections(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	errs := make(chan error, 1)
	start := time.Now()
	_ = s.Emit("q", socketio.AckHandler(func(a *socketio.Args, err error) { errs <- err }))
	if err := testutil.Recv(t, errs); !errors.Is(err, socketio.ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > 2*time.Second {
		t.Fatalf("timed out after %v", d)
	}
	if _, err := s.EmitWithAck(context.Background(), "q"); !errors.Is(err, socketio.ErrTimeout) {
		t.Fatalf("EmitWithAck: %v", err)
	}
	// Broadcasts with acks use it too.
	c.drain()
	if _, err := ts.srv.Local().EmitWithAck(context.Background(), "bq"); !errors.Is(err, socketio.ErrTimeout) {
		t.Fatalf("broadcast EmitWithAck: %v", err)
	}
}

// --- rooms and broadcasts ----------------------------------------------------------

func TestJoinLeaveAndRooms(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	_, sid := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	if r := s.Rooms(); !slices.Equal(r, []socketio.Room{socketio.Room(sid)}) {
		t.Fatalf("rooms %v, want only its own", r)
	}
	s.Join("a", "b")
	s.Join("a", socketio.Room(sid))
	if r := s.Rooms(); !slices.Equal(r, []socketio.Room{socketio.Room(sid), "a", "b"}) {
		t.Fatalf("rooms %v", r)
	}
	adapterRooms := func() []string {
		var out []string
		for _, r := range ts.srv.Sockets().Adapter().Rooms() {
			out = append(out, string(r))
		}
		sort.Strings(out)
		return out
	}
	want := []string{"a", "b", sid}
	sort.Strings(want)
	if r := adapterRooms(); !slices.Equal(r, want) {
		t.Fatalf("adapter rooms %v, want %v", r, want)
	}
	s.Leave("a")
	s.Leave("not-joined")
	if r := s.Rooms(); !slices.Equal(r, []socketio.Room{socketio.Room(sid), "b"}) {
		t.Fatalf("rooms %v", r)
	}
	if slices.Contains(adapterRooms(), "a") {
		t.Fatal("an empty room is still in the adapter")
	}
	if r := ts.srv.Sockets().Adapter().SocketRooms(s.ID()); !slices.Contains(r, "b") || slices.Contains(r, "a") {
		t.Fatalf("SocketRooms %v", r)
	}
}

// roomClients connects n WebSocket clients to nsp and returns them with their
// server-side sockets, in the same order.
func roomClients(t *testing.T, ts *testServer, nsp string, n int) ([]*wsClient, []*socketio.Socket) {
	t.Helper()
	conns := connections(ts.srv.Of(nsp))
	cs := make([]*wsClient, n)
	ss := make([]*socketio.Socket, n)
	for i := range cs {
		var sid string
		cs[i], sid = ts.wsConnected(t, nsp)
		ss[i] = testutil.Recv(t, conns)
		if string(ss[i].ID()) != sid {
			t.Fatalf("socket %q connected, client has %q", ss[i].ID(), sid)
		}
	}
	return cs, ss
}

// expectDelivery emits a sync event to everyone afterwards and checks that
// exactly the clients in want got frame first.
func expectDelivery(t *testing.T, ts *testServer, cs []*wsClient, frame string, want ...int) {
	t.Helper()
	_ = ts.srv.Emit("sync")
	for i, c := range cs {
		if slices.Contains(want, i) {
			c.expect(t, frame)
		}
		c.expect(t, `42["sync"]`)
	}
}

func TestBroadcastsSelectRecipients(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	cs, ss := roomClients(t, ts, "/", 5)
	ss[0].Join("a")
	ss[1].Join("a", "b")
	ss[2].Join("b")
	ss[3].Join("c")

	t.Run("io.Emit reaches everyone", func(t *testing.T) {
		_ = ts.srv.Emit("all", 1)
		expectDelivery(t, ts, cs, `42["all",1]`, 0, 1, 2, 3, 4)
	})
	t.Run("To(room)", func(t *testing.T) {
		_ = ts.srv.To("a").Emit("to-a")
		expectDelivery(t, ts, cs, `42["to-a"]`, 0, 1)
	})
	t.Run("To(a,b) delivers once", func(t *testing.T) {
		_ = ts.srv.To("a", "b").Emit("to-ab")
		expectDelivery(t, ts, cs, `42["to-ab"]`, 0, 1, 2)
		_ = ts.srv.To("a").To("b").In("c").Emit("to-abc")
		expectDelivery(t, ts, cs, `42["to-abc"]`, 0, 1, 2, 3)
	})
	t.Run("Except", func(t *testing.T) {
		_ = ts.srv.Except("b").Emit("not-b")
		expectDelivery(t, ts, cs, `42["not-b"]`, 0, 3, 4)
		_ = ts.srv.To("a").Except("b").Emit("a-not-b")
		expectDelivery(t, ts, cs, `42["a-not-b"]`, 0)
		_ = ts.srv.Except("a", "c").Emit("not-a-c")
		expectDelivery(t, ts, cs, `42["not-a-c"]`, 2, 4)
	})
	t.Run("a socket's own room", func(t *testing.T) {
		_ = ts.srv.To(socketio.Room(ss[4].ID())).Emit("private")
		expectDelivery(t, ts, cs, `42["private"]`, 4)
		_ = ts.srv.Except(socketio.Room(ss[4].ID())).Emit("not-4")
		expectDelivery(t, ts, cs, `42["not-4"]`, 0, 1, 2, 3)
	})
	t.Run("socket.Broadcast excludes the sender", func(t *testing.T) {
		_ = ss[1].Broadcast().Emit("from-1")
		expectDelivery(t, ts, cs, `42["from-1"]`, 0, 2, 3, 4)
	})
	t.Run("socket.To(room) excludes the sender", func(t *testing.T) {
		_ = ss[1].To("a").Emit("from-1-to-a")
		expectDelivery(t, ts, cs, `42["from-1-to-a"]`, 0)
		_ = ss[1].To("b").Emit("from-1-to-b")
		expectDelivery(t, ts, cs, `42["from-1-to-b"]`, 2)
		_ = ss[1].Except("c").Emit("from-1-not-c")
		expectDelivery(t, ts, cs, `42["from-1-not-c"]`, 0, 2, 4)
	})
	t.Run("an empty room reaches nobody", func(t *testing.T) {
		_ = ts.srv.To("nobody").Emit("void")
		expectDelivery(t, ts, cs, `42["void"]`)
	})
	t.Run("Namespace.In and reusable operators", func(t *testing.T) {
		op := ts.srv.Sockets().In("c")
		_ = op.Emit("one")
		_ = op.Except("c").Emit("none")
		_ = op.Emit("two")
		_ = ts.srv.Emit("sync")
		for i, c := range cs {
			if i == 3 {
				c.expect(t, `42["one"]`)
				c.expect(t, `42["two"]`)
			}
			c.expect(t, `42["sync"]`)
		}
	})
}

func TestVolatileIsDroppedForPollingClientWithoutPendingGET(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	cs, _ := roomClients(t, ts, "/", 2)
	p := ts.polling(t)
	p.connect(t, "/", "")
	_ = ts.srv.Volatile().Emit("volatile", 1)
	_ = ts.srv.Emit("after")
	for _, c := range cs {
		c.expect(t, `42["volatile",1]`)
		c.expect(t, `42["after"]`)
	}
	if body := p.poll(t); body != `42["after"]` {
		t.Fatalf("polling body %q: the volatile packet should have been dropped", body)
	}

	// With a GET held, a volatile packet is delivered.
	type res struct{ body string }
	done := make(chan res, 1)
	go func() {
		resp, err := p.hc.Get(p.url())
		if err != nil {
			done <- res{err.Error()}
			return
		}
		b := new(bytes.Buffer)
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		done <- res{b.String()}
	}()
	// Wait until the server holds the GET: a volatile emit then gets through.
	var got string
	for deadline := time.Now().Add(ioTimeout); got == "" && time.Now().Before(deadline); {
		_ = ts.srv.Volatile().Emit("volatile", 2)
		select {
		case r := <-done:
			got = r.body
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.HasPrefix(got, `42["volatile",2]`) {
		t.Fatalf("held GET got %q", got)
	}
	// Socket-level volatile emits too.
	p2 := ts.polling(t)
	conns := connections(ts.srv.Sockets())
	p2.connect(t, "/", "")
	s := testutil.Recv(t, conns)
	_ = s.Volatile().Emit("dropped")
	_ = s.Emit("kept")
	if body := p2.poll(t); body != `42["kept"]` {
		t.Fatalf("polling body %q", body)
	}
}

func TestBroadcastWithBinaryAttachments(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	cs, _ := roomClients(t, ts, "/", 3)
	p := ts.polling(t)
	p.connect(t, "/", "")
	_ = ts.srv.Emit("bin", []byte{1, 2, 3}, map[string]any{"x": []byte{4}}, "text")
	const want = `452-["bin",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}},"text"]`
	check := func(pk *packet) {
		t.Helper()
		if len(pk.att) != 2 || !bytes.Equal(pk.att[0], []byte{1, 2, 3}) || !bytes.Equal(pk.att[1], []byte{4}) {
			t.Fatalf("attachments %x", pk.att)
		}
	}
	for _, c := range cs {
		check(c.expect(t, want))
	}
	check(p.expect(t, want))
	// A struct with a []byte field is binary too.
	type file struct {
		Name string `json:"name"`
		Data []byte `json:"data"`
	}
	_ = ts.srv.Emit("file", file{Name: "a.bin", Data: []byte{5}})
	for _, c := range cs {
		pk := c.expect(t, `451-["file",{"name":"a.bin","data":{"_placeholder":true,"num":0}}]`)
		if !bytes.Equal(pk.att[0], []byte{5}) {
			t.Fatalf("attachment %x", pk.att[0])
		}
	}
}

func TestBroadcastStaysInItsNamespace(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	main, _ := roomClients(t, ts, "/", 2)
	admin, adminSockets := roomClients(t, ts, "/admin", 2)
	// One connection in both namespaces.
	both, _ := ts.wsConnected(t, "/")
	both.connect(t, "/admin", "")
	adminSockets[0].Join("r")
	_ = ts.srv.Of("/admin").Emit("news")
	_ = ts.srv.Emit("main-news")
	_ = ts.srv.To("r").Emit("main-room") // room r exists only in /admin
	for _, c := range admin {
		c.expect(t, `42/admin,["news"]`)
	}
	for _, c := range main {
		c.expect(t, `42["main-news"]`)
	}
	// The order between namespaces is the order of the emits.
	both.expect(t, `42/admin,["news"]`)
	both.expect(t, `42["main-news"]`)
	for _, c := range append(append(main, admin...), both) {
		c.expectNone(t, 30*time.Millisecond)
	}
}

func TestBroadcastAckCollectsOneReplyPerClient(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	cs, _ := roomClients(t, ts, "/", 3)
	type res struct {
		replies []*socketio.Args
		err     error
	}
	done := make(chan res, 1)
	go func() {
		r, err := ts.srv.Timeout(2*time.Second).EmitWithAck(context.Background(), "poll", "q")
		done <- res{r, err}
	}()
	var id int64 = -1
	for i, c := range cs {
		p := c.next(t)
		if p.data != `["poll","q"]` || p.id < 0 || (id >= 0 && p.id != id) {
			t.Fatalf("got %s (ack id of the first: %d)", p, id)
		}
		id = p.id
		c.send(t, fmt.Sprintf(`43%d[%d]`, p.id, i))
	}
	r := testutil.Recv(t, done)
	if r.err != nil || len(r.replies) != 3 {
		t.Fatalf("replies %d, err %v", len(r.replies), r.err)
	}
	var got []string
	for _, a := range r.replies {
		got = append(got, string(a.Raw(0)))
	}
	sort.Strings(got)
	if !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Fatalf("replies %v", got)
	}

	// With a handler, and to a room nobody is in: an immediate empty answer.
	empty := make(chan res, 1)
	_ = ts.srv.To("nobody").Timeout(time.Second).Emit("poll", socketio.BroadcastAckHandler(func(r []*socketio.Args, err error) {
		empty <- res{r, err}
	}))
	if r := testutil.Recv(t, empty); r.err != nil || len(r.replies) != 0 {
		t.Fatalf("empty broadcast: %d replies, %v", len(r.replies), r.err)
	}
}

func TestBroadcastAckTimesOutWithPartialReplies(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	cs, _ := roomClients(t, ts, "/", 3)
	type res struct {
		replies []*socketio.Args
		err     error
	}
	done := make(chan res, 1)
	start := time.Now()
	_ = ts.srv.Timeout(300*time.Millisecond).Emit("poll", func(r []*socketio.Args, err error) { done <- res{r, err} })
	for i, c := range cs {
		p := c.next(t)
		if i < 2 {
			c.send(t, fmt.Sprintf(`43%d["yes"]`, p.id))
		}
	}
	r := testutil.Recv(t, done)
	if !errors.Is(r.err, socketio.ErrTimeout) || len(r.replies) != 2 {
		t.Fatalf("%d replies, err %v; want 2 and ErrTimeout", len(r.replies), r.err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("finished after %v", d)
	}
	for _, a := range r.replies {
		if s, _ := a.String(0); s != "yes" {
			t.Fatalf("reply %q", a.Raw(0))
		}
	}
}

func TestFetchSocketsReturnsIDsRoomsDataAndHandshake(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	ids := make([]string, 3)
	for i := range ids {
		c := ts.wsWith(t, fmt.Sprintf("&n=%d", i), nil)
		ids[i] = c.connect(t, "/", fmt.Sprintf(`{"i":%d}`, i))
	}
	byID := socketsByID(t, conns, 3)
	for i, id := range ids {
		s := byID[id]
		s.SetData(map[string]int{"i": i})
		if i > 0 {
			s.Join("odd-or-two")
		}
	}
	all, err := ts.srv.FetchSockets(context.Background())
	if err != nil || len(all) != 3 {
		t.Fatalf("FetchSockets: %d, %v", len(all), err)
	}
	for _, rs := range all {
		s := byID[string(rs.ID)]
		if s == nil {
			t.Fatalf("unknown id %q", rs.ID)
		}
		i := s.Data().(map[string]int)["i"]
		if !slices.Equal(rs.Rooms, s.Rooms()) || rs.Rooms[0] != socketio.Room(rs.ID) {
			t.Errorf("rooms %v, socket has %v", rs.Rooms, s.Rooms())
		}
		if fmt.Sprint(rs.Data) != fmt.Sprint(map[string]int{"i": i}) {
			t.Errorf("data %v", rs.Data)
		}
		if string(rs.Handshake.Auth) != fmt.Sprintf(`{"i":%d}`, i) || rs.Handshake.Query("n") != fmt.Sprint(i) {
			t.Errorf("handshake auth %s query n %q", rs.Handshake.Auth, rs.Handshake.Query("n"))
		}
	}
	some, _ := ts.srv.In("odd-or-two").FetchSockets(context.Background())
	if len(some) != 2 {
		t.Fatalf("In(room).FetchSockets: %d", len(some))
	}
	some, _ = ts.srv.Except("odd-or-two").FetchSockets(context.Background())
	if len(some) != 1 || some[0].ID != socketio.SocketID(ids[0]) {
		t.Fatalf("Except(room).FetchSockets: %v", some)
	}
	other, _ := ts.srv.Of("/other").FetchSockets(context.Background())
	if len(other) != 0 {
		t.Fatalf("another namespace: %d", len(other))
	}
}

func TestSocketsJoinAndLeaveWithSelectors(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	cs, ss := roomClients(t, ts, "/", 4)
	ss[0].Join("a")
	ss[1].Join("a")
	ts.srv.To("a").SocketsJoin("b")
	ts.srv.Except("a").SocketsJoin("c")
	ts.srv.SocketsJoin("all")
	rooms := func(s *socketio.Socket) []socketio.Room { return s.Rooms()[1:] }
	for i, want := range [][]socketio.Room{{"a", "b", "all"}, {"a", "b", "all"}, {"c", "all"}, {"c", "all"}} {
		if got := rooms(ss[i]); !slices.Equal(got, want) {
			t.Fatalf("socket %d rooms %v, want %v", i, got, want)
		}
	}
	ts.srv.To(socketio.Room(ss[0].ID())).SocketsLeave("a")
	ts.srv.In("c").SocketsLeave("all")
	ts.srv.SocketsLeave("nonexistent")
	for i, want := range [][]socketio.Room{{"b", "all"}, {"a", "b", "all"}, {"c"}, {"c"}} {
		if got := rooms(ss[i]); !slices.Equal(got, want) {
			t.Fatalf("socket %d rooms %v, want %v", i, got, want)
		}
	}
	_ = ts.srv.To("all").Emit("x")
	expectDelivery(t, ts, cs, `42["x"]`, 0, 1)
}

func TestDisconnectSocketsSendsDisconnectPacket(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	reasons := disconnectReasons(ts.srv.Sockets())
	cs, ss := roomClients(t, ts, "/", 3)
	ss[0].Join("kick")
	ss[1].Join("kick")
	ts.srv.In("kick").DisconnectSockets(false)
	cs[0].expect(t, "41")
	cs[1].expect(t, "41")
	for i := 0; i < 2; i++ {
		if r := testutil.Recv(t, reasons); r != socketio.ReasonServerNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
	}
	testutil.CheckFor(t, time.Second, 5*time.Millisecond, func() error {
		if n := ts.srv.Sockets().Len(); n != 1 {
			return fmt.Errorf("%d sockets", n)
		}
		return nil
	})
	// The connections stay open: the clients may connect again.
	for _, c := range cs[:2] {
		c.connect(t, "/", "")
	}
	_ = ts.srv.Emit("still")
	for _, c := range cs {
		c.expect(t, `42["still"]`)
	}
	if ts.srv.Engine().Count() != 3 {
		t.Fatalf("%d sessions", ts.srv.Engine().Count())
	}
}

func TestDisconnectSocketsWithCloseClosesConnection(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	reasons := disconnectReasons(ts.srv.Sockets())
	cs, ss := roomClients(t, ts, "/", 3)
	ss[2].Join("kick")
	ts.srv.Except("kick").DisconnectSockets(true)
	for _, c := range cs[:2] {
		c.expect(t, "41")
		c.waitClosed(t)
	}
	for i := 0; i < 2; i++ {
		if r := testutil.Recv(t, reasons); r != socketio.ReasonServerNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
	}
	_ = ts.srv.Emit("still")
	cs[2].expect(t, `42["still"]`)
	testutil.CheckFor(t, time.Second, 5*time.Millisecond, func() error {
		if n := ts.srv.Engine().Count(); n != 1 {
			return fmt.Errorf("%d sessions", n)
		}
		return nil
	})
}

func TestServerSideEmitOnSingleNodeIsNoop(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	called := make(chan struct{}, 1)
	ts.srv.Sockets().OnServerSideEmit("hello", func(*socketio.Args, func(...any)) { called <- struct{}{} })
	c, _ := ts.wsConnected(t, "/")
	if err := ts.srv.ServerSideEmit("hello", 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	replies, err := ts.srv.Sockets().ServerSideEmitWithAck(ctx, "hello")
	if err != nil || len(replies) != 0 {
		t.Fatalf("ServerSideEmitWithAck: %v, %v", replies, err)
	}
	if n, err := ts.srv.Sockets().Adapter().ServerCount(ctx); n != 1 || err != nil {
		t.Fatalf("ServerCount %d %v", n, err)
	}
	testutil.RecvNone(t, called, 30*time.Millisecond)
	c.expectNone(t, 20*time.Millisecond)
}

func TestConcurrentEmitsArriveExactlyOnceInOrder(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	cs, ss := roomClients(t, ts, "/", 4)
	ss[1].Join("r")
	ss[2].Join("r")
	const goroutines, perG = 8, 100
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				if err := ss[0].Emit("direct", g, i); err != nil {
					t.Errorf("Emit: %v", err)
					return
				}
				_ = ts.srv.To("r").Emit("room", g, i)
				if i%10 == 0 {
					_ = ss[3].Emit("direct", g, i/10)
				}
			}
		}()
	}
	wg.Wait()
	check := func(c *wsClient, wantDirect, wantRoom int) {
		t.Helper()
		next := map[string][]int{"direct": make([]int, goroutines), "room": make([]int, goroutines)}
		counts := map[string]int{}
		for total := wantDirect + wantRoom; total > 0; total-- {
			p := c.next(t)
			var ev string
			var g, i int
			a := p.args(t)
			if len(a) != 3 || json.Unmarshal(a[0], &ev) != nil || json.Unmarshal(a[1], &g) != nil || json.Unmarshal(a[2], &i) != nil {
				t.Fatalf("packet %s", p)
			}
			if next[ev][g] != i {
				t.Fatalf("%s from goroutine %d: got #%d, want #%d (lost, duplicated or reordered)", ev, g, i, next[ev][g])
			}
			next[ev][g]++
			counts[ev]++
		}
		if counts["direct"] != wantDirect || counts["room"] != wantRoom {
			t.Fatalf("counts %v", counts)
		}
		c.expectNone(t, 20*time.Millisecond)
	}
	check(cs[0], goroutines*perG, 0)
	check(cs[1], 0, goroutines*perG)
	check(cs[2], 0, goroutines*perG)
	check(cs[3], goroutines*perG/10, 0)
}

// --- disconnections and their reasons -------------------------------------------------

func TestClientNamespaceDisconnectKeepsConnectionOpen(t *testing.T) {
	ts := startServer(t, socketio.Options{
		Engine: engine.Config{PingInterval: 300 * time.Millisecond, PingTimeout: time.Second},
	})
	reasons := disconnectReasons(ts.srv.Sockets())
	adminReasons := disconnectReasons(ts.srv.Of("/admin"))
	c, _ := ts.wsConnected(t, "/")
	c.connect(t, "/admin", "")
	c.send(t, "41/admin,")
	if r := testutil.Recv(t, adminReasons); r != socketio.ReasonClientNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
	c.send(t, "41")
	if r := testutil.Recv(t, reasons); r != socketio.ReasonClientNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
	// Zero namespaces left, but the Engine.IO connection is open: the next
	// frame is the server's ping.
	if p := c.nextFrame(t); p.frame != "2" {
		t.Fatalf("next frame %s, want the ping 2", p)
	}
	if ts.srv.Engine().Count() != 1 || ts.srv.Sockets().Len() != 0 || ts.srv.Of("/admin").Len() != 0 {
		t.Fatalf("sessions %d, sockets %d/%d", ts.srv.Engine().Count(), ts.srv.Sockets().Len(), ts.srv.Of("/admin").Len())
	}
	// And it may join again.
	c.connect(t, "/", "")
}

func TestServerDisconnectSendsDisconnectPacket(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	reasons := disconnectReasons(ts.srv.Sockets())
	adminReasons := disconnectReasons(ts.srv.Of("/admin"))
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("please-disconnect-me", func(e *socketio.Event) { e.Socket().Disconnect(false) })
	})
	adminConns := connections(ts.srv.Of("/admin"))
	c, _ := ts.wsConnected(t, "/")
	c.connect(t, "/admin", "")
	admin := testutil.Recv(t, adminConns)
	c.send(t, `42["please-disconnect-me"]`)
	c.expect(t, "41")
	if r := testutil.Recv(t, reasons); r != socketio.ReasonServerNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
	admin.Disconnect(false)
	c.expect(t, "41/admin,")
	if r := testutil.Recv(t, adminReasons); r != socketio.ReasonServerNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
	admin.Disconnect(false) // twice: nothing more is sent
	c.expectNone(t, 30*time.Millisecond)
	if ts.srv.Engine().Count() != 1 {
		t.Fatal("the connection was closed")
	}
	c.connect(t, "/", "")
}

func TestServerDisconnectWithCloseClosesConnection(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	reasons := disconnectReasons(ts.srv.Sockets())
	adminReasons := disconnectReasons(ts.srv.Of("/admin"))
	conns := connections(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	s := testutil.Recv(t, conns)
	c.connect(t, "/admin", "")
	s.Disconnect(true)
	var got []string
	for i := 0; i < 2; i++ {
		got = append(got, c.next(t).frame)
	}
	sort.Strings(got)
	if !slices.Equal(got, []string{"41", "41/admin,"}) {
		t.Fatalf("got %q, want a DISCONNECT for each namespace", got)
	}
	c.waitClosed(t)
	if r := testutil.Recv(t, reasons); r != socketio.ReasonServerNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
	if r := testutil.Recv(t, adminReasons); r != socketio.ReasonServerNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
	ts.checkNoLeaks(t)
}

func TestClientClosingWebSocketIsTransportClose(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	reasons := disconnectReasons(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	_ = c.write(ws.OpClose, []byte{0x03, 0xe8}) // a WebSocket close frame, 1000
	if r := testutil.Recv(t, reasons); r != socketio.ReasonTransportClose {
		t.Fatalf("close frame: reason %q", r)
	}
	c.waitClosed(t)

	p := ts.polling(t)
	p.connect(t, "/", "")
	p.post(t, "1")
	if r := testutil.Recv(t, reasons); r != socketio.ReasonTransportClose {
		t.Fatalf("polling close packet: reason %q", r)
	}

	// The TCP connection just ends (FIN, no close frame): Node's ws emits
	// "close" (1006) and engine.io reports "transport close".
	c2, _ := ts.wsConnected(t, "/")
	_ = c2.conn.(*net.TCPConn).CloseWrite()
	if r := testutil.Recv(t, reasons); r != socketio.ReasonTransportClose {
		t.Fatalf("a clean TCP close (FIN) of the WebSocket is reported as %q, want %q", r, socketio.ReasonTransportClose)
	}
}

func TestMissingPongIsPingTimeout(t *testing.T) {
	ts := startServer(t, socketio.Options{
		Engine: engine.Config{PingInterval: 100 * time.Millisecond, PingTimeout: 300 * time.Millisecond},
	})
	reasons := disconnectReasons(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	c.noPong.Store(true)
	if r := testutil.Recv(t, reasons); r != socketio.ReasonPingTimeout {
		t.Fatalf("reason %q", r)
	}
	c.waitClosed(t)
	// A client that answers stays connected across several pings.
	c2, _ := ts.wsConnected(t, "/")
	for i := 0; i < 3; i++ {
		if p := c2.nextFrame(t); p.frame != "2" {
			t.Fatalf("got %s, want a ping", p)
		}
	}
	testutil.RecvNone(t, reasons, 0)
}

func TestServerCloseIsServerShuttingDown(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	reasons := disconnectReasons(ts.srv.Sockets())
	adminReasons := disconnectReasons(ts.srv.Of("/admin"))
	c, _ := ts.wsConnected(t, "/")
	c.connect(t, "/admin", "")
	if err := ts.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if r := testutil.Recv(t, reasons); r != socketio.ReasonServerShuttingDown {
		t.Fatalf("reason %q", r)
	}
	if r := testutil.Recv(t, adminReasons); r != socketio.ReasonServerShuttingDown {
		t.Fatalf("reason %q", r)
	}
	c.waitClosed(t)
	if left := c.drain(); len(left) != 0 {
		t.Fatalf("packets before the close %v: no DISCONNECT is sent on shutdown (clients reconnect)", left)
	}
}

func TestInvalidPacketsForceClose(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	reasons := disconnectReasons(ts.srv.Sockets())
	for _, f := range []string{
		`4abc`, `42{}`, `42abc["message-with-ack",1,"2",{"3":[false]}]`, `47`, `41{}`, `44{"message":"x"}`, `43{}`,
	} {
		t.Run(f, func(t *testing.T) {
			c, _ := ts.wsConnected(t, "/")
			c.send(t, f)
			c.waitClosed(t)
			if r := testutil.Recv(t, reasons); r != socketio.ReasonForcedClose {
				t.Fatalf("reason %q", r)
			}
		})
	}
}

func TestPacketForUnjoinedNamespaceClosesConnection(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	ts.srv.Of("/admin")
	reasons := disconnectReasons(ts.srv.Sockets())
	for _, f := range []string{`42/admin,["x"]`, `43/admin,1[]`, `41/admin,`, `42/nowhere,["x"]`} {
		t.Run(f, func(t *testing.T) {
			c, _ := ts.wsConnected(t, "/")
			c.send(t, f)
			c.waitClosed(t)
			if r := testutil.Recv(t, reasons); r != socketio.ReasonForcedServerClose {
				t.Fatalf("reason %q", r)
			}
		})
	}
	// Before any CONNECT, any other packet closes too.
	c := ts.ws(t)
	c.send(t, `42["x"]`)
	c.waitClosed(t)
}

func TestDuplicateConnectClosesConnection(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	reasons := disconnectReasons(ts.srv.Sockets())
	c, _ := ts.wsConnected(t, "/")
	c.send(t, "40")
	c.waitClosed(t)
	if r := testutil.Recv(t, reasons); r != socketio.ReasonForcedServerClose {
		t.Fatalf("reason %q", r)
	}
	// Also while the first CONNECT still waits for an async middleware.
	release, released := make(chan struct{}), make(chan struct{})
	slow := ts.srv.Of("/slow")
	slow.Use(func(s *socketio.Socket, next func(error)) {
		go func() { <-release; next(nil); close(released) }()
	})
	slowConns := connections(slow)
	c2 := ts.ws(t)
	c2.send(t, "40/slow,")
	c2.send(t, "40/slow,")
	c2.waitClosed(t)
	close(release)
	<-released
	testutil.RecvNone(t, slowConns, 100*time.Millisecond)
	if slow.Len() != 0 {
		t.Fatal("the socket joined after its connection closed")
	}
}

func TestConnectTimeoutClosesConnectionThatNeverConnects(t *testing.T) {
	ts := startServer(t, socketio.Options{ConnectTimeout: 200 * time.Millisecond})
	start := time.Now()
	idle := ts.ws(t)
	joined, _ := ts.wsConnected(t, "/")
	// Refused CONNECTs do not count as joining.
	ts.srv.Of("/admin").UseFunc(func(*socketio.Socket) error { return errors.New("no") })
	refused := ts.ws(t)
	refused.send(t, "40/admin,")
	refused.expect(t, `44/admin,{"message":"no"}`)
	idle.waitClosed(t)
	refused.waitClosed(t)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
	// A connection that joined is not closed, even after leaving every namespace.
	joined.send(t, "41")
	joined.expectNone(t, 300*time.Millisecond)
	if joined.isClosed() {
		t.Fatal("a joined connection was closed by the connect timeout")
	}
}

func TestDisconnectingSeesRoomsAndDisconnectComesAfter(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	events := make(chan string, 8)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.Join("r1", "r2")
		s.OnDisconnecting(func(reason string) {
			events <- fmt.Sprint("disconnecting ", reason, " ", s.Rooms()[1:])
		})
		s.OnDisconnect(func(reason string) {
			// Node: once disconnected, socket.rooms is empty.
			events <- fmt.Sprint("disconnect ", reason, " ", s.Rooms(), " ", s.Connected())
		})
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, "41")
	if e := testutil.Recv(t, events); e != "disconnecting client namespace disconnect [r1 r2]" {
		t.Fatalf("first %q", e)
	}
	if e := testutil.Recv(t, events); e != "disconnect client namespace disconnect [] false" {
		t.Fatalf("second %q", e)
	}
}

func TestDisconnectRemovesSocketRoomsAndGoroutines(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) { s.Join("r1", socketio.Room("r-"+s.ID())) })
	var cs []*wsClient
	for i := 0; i < 4; i++ {
		c, _ := ts.wsConnected(t, "/")
		cs = append(cs, c)
	}
	ss := socketsByID(t, conns, 4)
	p := ts.polling(t)
	p.connect(t, "/", "")
	testutil.Recv(t, conns)
	if n := ts.srv.Sockets().Len(); n != 5 {
		t.Fatalf("%d sockets", n)
	}
	for _, c := range cs[:2] {
		c.send(t, "41") // namespace disconnect
	}
	for _, c := range cs[2:] {
		c.close() // transport close
	}
	p.post(t, "1")
	testutil.CheckFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if n := ts.srv.Sockets().Len(); n != 0 {
			return fmt.Errorf("%d sockets", n)
		}
		if r := ts.srv.Sockets().Adapter().Rooms(); len(r) != 0 {
			return fmt.Errorf("rooms left %v", r)
		}
		return nil
	})
	for id, s := range ss {
		if s.Connected() || ts.srv.Sockets().Socket(socketio.SocketID(id)) != nil {
			t.Fatalf("socket %s still connected or registered", id)
		}
		if r := ts.srv.Sockets().Adapter().SocketRooms(socketio.SocketID(id)); len(r) != 0 {
			t.Fatalf("socket %s still has rooms %v", id, r)
		}
	}
	if all, _ := ts.srv.FetchSockets(context.Background()); len(all) != 0 {
		t.Fatalf("FetchSockets: %d", len(all))
	}
	for _, c := range cs[:2] {
		c.close()
	}
	ts.checkNoLeaks(t)
}

// Join is safe from any goroutine; one that races with the socket's
// disconnect must not leave the gone socket in a room (a leak under churn,
// socket.io #1736).
func TestJoinRacingWithDisconnectLeavesNoRoom(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	conns := connections(ts.srv.Sockets())
	reasons := disconnectReasons(ts.srv.Sockets())
	for round := 0; round < 10; round++ {
		var cs []*wsClient
		var ss []*socketio.Socket
		for i := 0; i < 8; i++ {
			c, _ := ts.wsConnected(t, "/")
			cs = append(cs, c)
			ss = append(ss, testutil.Recv(t, conns))
		}
		var wg sync.WaitGroup
		for i := range ss {
			wg.Add(2)
			go func() {
				defer wg.Done()
				// Keep joining until the disconnect is visible, so that
				// some Join overlaps it.
				rooms := []socketio.Room{"r0", "r1", "r2", "r3", "r4"}
				for k := 0; k < 20000 && (k < 50 || ss[i].Connected()); k++ {
					ss[i].Leave(rooms[k%5])
					ss[i].Join(rooms[k%5])
				}
			}()
			go func() {
				defer wg.Done()
				cs[i].conn.Close()
			}()
		}
		wg.Wait()
		for range ss {
			testutil.Recv(t, reasons)
		}
		for _, s := range ss {
			if rs := ts.srv.Sockets().Adapter().SocketRooms(s.ID()); len(rs) != 0 {
				t.Fatalf("Socket.Join racing with the disconnect left the disconnected socket %s in rooms %v "+
					"(adapter rooms now %v)", s.ID(), rs, ts.srv.Sockets().Adapter().Rooms())
			}
		}
		if r := ts.srv.Sockets().Adapter().Rooms(); len(r) != 0 {
			t.Fatalf("round %d: rooms left %v", round, r)
		}
	}
}

// After Close, a blocking call from an ordinary goroutine must not be
// mistaken for a call on an event loop.
func TestBlockingCallsAfterCloseAreNotMistakenForEventLoop(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	ts.wsConnected(t, "/")
	if err := ts.Shutdown(); err != nil {
		t.Fatal(err)
	}
	var wrong sync.Map
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ts.srv.Timeout(10*time.Millisecond).EmitWithAck(context.Background(), "x")
			if errors.Is(err, socketio.ErrOnLoop) {
				wrong.Store(i, true)
			}
		}()
	}
	wg.Wait()
	n := 0
	wrong.Range(func(any, any) bool { n++; return true })
	if n > 0 {
		t.Fatalf("after Close, %d of 100 plain goroutines got ErrOnLoop (stale loop thread ids)", n)
	}
}

// --- hostile input (BAD-INPUTS §1d) at the server level --------------------------------

func TestBadInputsCloseOnlyThatConnection(t *testing.T) {
	ts := startServer(t, socketio.Options{
		Engine:             engine.Config{MaxHTTPBufferSize: 4 << 20},
		MaxAttachmentBytes: 1 << 20,
	})
	reasons := disconnectReasons(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Values()...) })
		s.On("e", func(e *socketio.Event) { _ = e.Ack("accepted") })
	})
	bystander, _ := ts.wsConnected(t, "/")
	digits := strings.Repeat("9", 1<<20)
	ph := func(num string) string { return `{"_placeholder":true,"num":` + num + `}` }
	type input struct {
		name       string
		preConnect bool
		frames     []any // string: text frame; []byte: binary frame
	}
	inputs := []input{
		{name: "ack id of 1 MB of digits", frames: []any{"42" + digits + `["e"]`}},
		{name: "attachment count of 1 MB of digits", frames: []any{"45" + digits + `-["e",` + ph("0") + `]`}},
		{name: "100000 attachments", frames: []any{`45100000-["e",` + ph("0") + `]`, []byte{1}}},
		{name: "11 attachments", frames: []any{`4511-["e"]`}},
		{name: "empty attachment count", frames: []any{`45-["e"]`}},
		{name: "placeholder num splice", frames: []any{`451-["e",` + ph(`"splice"`) + `]`, []byte{1}}},
		{name: "placeholder num -1", frames: []any{`451-["e",` + ph("-1") + `]`, []byte{1}}},
		{name: "placeholder num 0.5", frames: []any{`451-["e",` + ph("0.5") + `]`, []byte{1}}},
		{name: "placeholder num string 0", frames: []any{`451-["e",` + ph(`"0"`) + `]`, []byte{1}}},
		{name: "placeholder num out of range", frames: []any{`451-["e",` + ph("1") + `]`, []byte{1}}},
		{name: "placeholder num huge", frames: []any{`451-["e",` + ph("99999999999999999999") + `]`, []byte{1}}},
		{name: "placeholder duplicated", frames: []any{`452-["e",` + ph("0") + `,` + ph("0") + `]`, []byte{1}, []byte{2}}},
		{name: "binary ack with bad placeholder", frames: []any{`461-0[` + ph("3") + `]`, []byte{1}}},
		{name: "text while attachments pending", frames: []any{`452-["e",` + ph("0") + `,` + ph("1") + `]`, []byte{1}, `42["e"]`}},
		{name: "binary frame without header", frames: []any{[]byte{1, 2, 3}}},
		{name: "binary frame before CONNECT", preConnect: true, frames: []any{[]byte{1, 2, 3}}},
		{name: "binary event before CONNECT", preConnect: true, frames: []any{`451-["e",` + ph("0") + `]`, []byte{1}}},
		{name: "more than 8 KB before CONNECT", preConnect: true, frames: []any{`42["e","` + strings.Repeat("x", 9<<10) + `"]`}},
		{name: "CONNECT of more than 8 KB", preConnect: true, frames: []any{`40{"auth":"` + strings.Repeat("x", 9<<10) + `"}`}},
		{name: "event before CONNECT", preConnect: true, frames: []any{`42["e"]`}},
		{name: "unknown type before CONNECT", preConnect: true, frames: []any{`4abc`}},
		{name: "CONNECT with a string payload", preConnect: true, frames: []any{`40"x"`}},
		{name: "CONNECT with an array payload", preConnect: true, frames: []any{`40[1]`}},
		{name: "CONNECT with null", preConnect: true, frames: []any{`40null`}},
		{name: "CONNECT with broken JSON", preConnect: true, frames: []any{`40/admin,{`}},
		{name: "42[]", frames: []any{`42[]`}},
		{name: "42", frames: []any{`42`}},
		{name: "4", frames: []any{`4`}},
		{name: "42[", frames: []any{`42[`}},
		{name: `42["a"`, frames: []any{`42["a"`}},
		{name: "42[{}]", frames: []any{`42[{}]`}},
		{name: "42[[]]", frames: []any{`42[[]]`}},
		{name: "42[null]", frames: []any{`42[null]`}},
		{name: "42[true]", frames: []any{`42[true]`}},
		{name: `42"x"`, frames: []any{`42"x"`}},
		{name: `42[{"toString":"foo"}]`, frames: []any{`42[{"toString":"foo"}]`}},
		{name: "invalid JSON after a valid prefix", frames: []any{`42["e"]]`}},
		{name: "ack id over 2^53", frames: []any{`429007199254740993["e"]`}},
		{name: "attachment over MaxAttachmentBytes", frames: []any{`451-["e",` + ph("0") + `]`, make([]byte, 1<<20+1)}},
		{name: "attachments summing over MaxAttachmentBytes", frames: []any{`452-["e",` + ph("0") + `,` + ph("1") + `]`, make([]byte, 600<<10), make([]byte, 600<<10)}},
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			c := ts.ws(t)
			if !in.preConnect {
				c.connect(t, "/", "")
			}
			for _, f := range in.frames {
				switch f := f.(type) {
				case string:
					_ = c.write(ws.OpText, []byte(f)) // the server may close before the last frame
				case []byte:
					_ = c.write(ws.OpBinary, f)
				}
			}
			c.waitClosed(t)
			if left := c.drain(); len(left) != 0 {
				t.Fatalf("the server answered %v", left)
			}
			if !in.preConnect {
				if r := testutil.Recv(t, reasons); r != socketio.ReasonForcedClose {
					t.Fatalf("reason %q", r)
				}
			}
			// The server still serves everybody else.
			bystander.send(t, `421["echo","alive"]`)
			bystander.expect(t, `431["alive"]`)
			ts.noPanics(t)
		})
	}
	// The largest valid inputs are still accepted.
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `429007199254740991["e"]`)
	c.expect(t, `439007199254740991["accepted"]`)
	var phs []string
	var atts [][]byte
	for i := 0; i < 10; i++ {
		phs = append(phs, ph(fmt.Sprint(i)))
		atts = append(atts, []byte{byte(i)})
	}
	c.emit(t, `4510-7["e",`+strings.Join(phs, ",")+`]`, atts...)
	c.expect(t, `437["accepted"]`)
}

func TestAttachmentsThatNeverArriveAreCutByTimeout(t *testing.T) {
	ts := startServer(t, socketio.Options{AttachmentTimeout: 200 * time.Millisecond})
	reasons := disconnectReasons(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("e", func(e *socketio.Event) { _ = e.Ack("got it") })
	})
	c, _ := ts.wsConnected(t, "/")
	start := time.Now()
	c.emit(t, `452-1["e",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, []byte{1})
	c.waitClosed(t)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the attachment timeout", d)
	}
	if r := testutil.Recv(t, reasons); r != socketio.ReasonForcedClose {
		t.Fatalf("reason %q", r)
	}
	ts.noPanics(t)
}

func TestAttachmentTimeoutIsPerPacket(t *testing.T) {
	ts := startServer(t, socketio.Options{AttachmentTimeout: 400 * time.Millisecond})
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("e", func(e *socketio.Event) { _ = e.Ack("got it") })
	})
	// Packets whose attachments arrive in time, one after the other, are
	// fine even when they add up to more than the timeout.
	c, _ := ts.wsConnected(t, "/")
	for i := 0; i < 3; i++ {
		c.emit(t, `452-1["e",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, []byte{1})
		time.Sleep(150 * time.Millisecond) // a slow sender, well inside the timeout
		c.sendBin(t, []byte{2})
		c.expect(t, `431["got it"]`)
	}
	c.expectNone(t, 450*time.Millisecond) // an old packet's timer firing now would close it
	if c.isClosed() {
		t.Fatal("closed although every packet completed in time")
	}
}

func TestAttachmentBytesOverLimitCloseConnection(t *testing.T) {
	ts := startServer(t, socketio.Options{MaxAttachmentBytes: 1024})
	reasons := disconnectReasons(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("e", func(e *socketio.Event) { _ = e.Ack(len(e.Values())) })
	})
	ok, _ := ts.wsConnected(t, "/")
	ok.emit(t, `451-1["e",{"_placeholder":true,"num":0}]`, make([]byte, 1024))
	ok.expect(t, `431[1]`)

	c, _ := ts.wsConnected(t, "/")
	c.emit(t, `452-["e",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, make([]byte, 600), make([]byte, 600))
	c.waitClosed(t)
	if r := testutil.Recv(t, reasons); r != socketio.ReasonForcedClose {
		t.Fatalf("reason %q", r)
	}
	ok.send(t, `422["e"]`)
	ok.expect(t, `432[0]`)
	ts.noPanics(t)
}
