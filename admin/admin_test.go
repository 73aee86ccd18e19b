package admin_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sio/admin"
	"sio/engine"
	"sio/internal/testutil"
	"sio/socketio"
)

const wait = 10 * time.Second

// ours runs our server with the app admin-node.mjs runs on Node: a socket
// of "/" joins "lobby"; "echo" (x, ack) emits "echoed" x back and acks x.
type ours struct {
	srv   *socketio.Server
	admin *admin.Admin
	url   string
}

func startOurs(t *testing.T, opts admin.Options, sopts socketio.Options) *ours {
	t.Helper()
	sopts.Listen.Addr = "127.0.0.1:0"
	if sopts.Listen.NumLoops == 0 {
		sopts.Listen.NumLoops = 2
	}
	lw := testutil.NewLogWriter(t)
	sopts.Logger = lw.Logger()
	srv := socketio.NewServer(sopts)
	srv.OnConnection(func(s *socketio.Socket) {
		s.Join("lobby")
		s.On("join", func(e *socketio.Event) { // ours only: the UI test's rooms
			r, _ := e.String(0)
			s.Join(socketio.Room(r))
			_ = e.Ack()
		})
		s.On("echo", func(e *socketio.Event) {
			v, _ := e.Value(0)
			_ = s.Emit("echoed", v)
			_ = e.Ack(v)
		})
	})
	if opts.ServerID == "" {
		opts.ServerID = "go"
	}
	a, err := admin.Instrument(srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	serving := testutil.Serve(t, srv)
	t.Cleanup(func() {
		a.Close()
		if err := serving.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		lw.Stop()
	})
	return &ours{srv: srv, admin: a, url: "http://" + srv.Engine().Loop().Addr().String()}
}

// interopDir is test/interop, from the admin package directory.
func interopDir(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "test", "interop")
}

// startNode runs test/interop/admin-node.mjs (Node socket.io 4.8.4 and
// @socket.io/admin-ui's instrument) and returns its URL.
func startNode(t *testing.T, args ...string) string {
	t.Helper()
	dir := interopDir(t)
	node, err := exec.LookPath("node")
	if err != nil {
		testutil.RequireDependency(t, "node is not on PATH", "run `make deps`")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@socket.io", "admin-ui", "package.json")); err != nil {
		testutil.RequireDependency(t, "test/interop/node_modules/@socket.io/admin-ui is missing", "run `make deps` (npm ci in test/interop)")
	}
	cmd := exec.Command(node, "admin-node.mjs")
	cmd.Args = append(cmd.Args, args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.WaitDelay = 3 * time.Second
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() {
		}
	}()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "admin-node listening on ")
		if !ok || !found {
			t.Fatalf("admin-node.mjs: unexpected first line %q", l)
		}
		return "http://" + addr
	case <-time.After(wait):
		t.Fatal("admin-node.mjs did not start")
	}
	return ""
}

// args decodes an event's arguments.
func args(t *testing.T, raw json.RawMessage) []any {
	t.Helper()
	var out []any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("args %s: %v", raw, err)
	}
	return out
}

// nextWhere returns the arguments of the next event name of client id for
// which match is true, skipping the others.
func nextWhere(t *testing.T, nc *testutil.NodeClients, id, name string, match func(a []any) bool) []any {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		raw, err := nc.Next(id, name, time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for a matching %q: %v", name, err)
		}
		if a := args(t, raw); match(a) {
			return a
		}
	}
}

// argsAre matches events whose first arguments equal want.
func argsAre(want ...any) func(a []any) bool {
	return func(a []any) bool {
		if len(a) < len(want) {
			return false
		}
		return reflect.DeepEqual(a[:len(want)], want)
	}
}

// scenario drives the admin client "admin" and the app client "u1"
// against the server at url (ours or Node's) through what the UI sees and
// does, and returns the first arguments of each admin event.
func scenario(t *testing.T, url string, check func(sid string, rooms []string)) map[string][]any {
	t.Helper()
	nc := testutil.StartNodeClients(t)
	got := map[string][]any{}
	if _, err := nc.Connect("admin", testutil.ClientOptions{URL: url + "/admin", Transports: []string{"websocket"}}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"config", "all_sockets", "server_stats"} {
		raw, err := nc.Next("admin", ev, wait)
		if err != nil {
			t.Fatal(err)
		}
		got[ev] = args(t, raw)
	}
	sid, err := nc.Connect("u1", testutil.ClientOptions{URL: url, Transports: []string{"websocket"}})
	if err != nil {
		t.Fatal(err)
	}
	got["socket_connected"] = nextWhere(t, nc, "admin", "socket_connected", func(a []any) bool {
		m, _ := a[0].(map[string]any)
		return m != nil && m["id"] == sid
	})
	got["room_joined"] = nextWhere(t, nc, "admin", "room_joined", argsAre("/", "lobby", sid))

	if ack, err := nc.Emit("u1", "echo", "hi"); err != nil || string(ack) != `["hi"]` {
		t.Fatalf("echo: %s %v", ack, err)
	}
	got["event_received"] = nextWhere(t, nc, "admin", "event_received", argsAre("/", sid))
	got["event_sent"] = nextWhere(t, nc, "admin", "event_sent", argsAre("/", sid))

	// The UI's operations on one socket (the filter is its id).
	nc.EmitNoAck("admin", "join", "/", "r2", sid)
	nextWhere(t, nc, "admin", "room_joined", argsAre("/", "r2", sid))
	if check != nil {
		check(sid, []string{sid, "lobby", "r2"})
	}
	nc.EmitNoAck("admin", "leave", "/", "r2", sid)
	got["room_left"] = nextWhere(t, nc, "admin", "room_left", argsAre("/", "r2", sid))
	if check != nil {
		check(sid, []string{sid, "lobby"})
	}
	nc.EmitNoAck("admin", "emit", "/", sid, "hello", 1, "x")
	if raw, err := nc.Next("u1", "hello", wait); err != nil || string(raw) != `[1,"x"]` {
		t.Fatalf("emit from the admin: %s %v", raw, err)
	}
	nc.EmitNoAck("admin", "_disconnect", "/", false, sid)
	if reason, err := nc.WaitDisconnect("u1", wait); err != nil || reason != "io server disconnect" {
		t.Fatalf("u1 disconnect: %q %v", reason, err)
	}
	got["socket_disconnected"] = nextWhere(t, nc, "admin", "socket_disconnected", argsAre("/", sid))
	left := map[any]bool{}
	for len(left) < 2 { // its own room and lobby, in either order
		a := nextWhere(t, nc, "admin", "room_left", argsAre("/"))
		if a[2] == sid && (a[1] == sid || a[1] == "lobby") {
			left[a[1]] = true
		}
	}
	return got
}

// shape describes a JSON value's structure: object keys, value types and
// array element shapes, not values. Maps whose keys depend on the client
// or the server (headers, query, data, the aggregated events) are
// "object" or "array" only.
func shape(v any, path string) string {
	switch x := v.(type) {
	case map[string]any:
		for _, loose := range []string{".headers", ".query", ".data"} {
			if strings.HasSuffix(path, loose) {
				return "object"
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + shape(x[k], path+"."+k)
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		if strings.HasSuffix(path, ".aggregatedEvents") {
			return "array"
		}
		set := map[string]bool{}
		for _, e := range x {
			set[shape(e, path+"[]")] = true
		}
		var es []string
		for s := range set {
			es = append(es, s)
		}
		sort.Strings(es)
		return "[" + strings.Join(es, "|") + "]"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// argShapes is the shape of each argument of an event, in order.
func argShapes(a []any, ev string) string {
	parts := make([]string, len(a))
	for i, v := range a {
		parts[i] = shape(v, ev)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// TestProtocolMatchesNode runs the same scenario against Node socket.io
// with @socket.io/admin-ui's instrument and against ours, and compares
// what the admin client received: the same events, of the same shapes,
// with the same values where they do not depend on the run.
func TestProtocolMatchesNode(t *testing.T) {
	nodeURL := startNode(t)
	want := scenario(t, nodeURL, nil)

	o := startOurs(t, admin.Options{}, socketio.Options{})
	got := scenario(t, o.url, func(sid string, rooms []string) {
		testutil.CheckFor(t, wait, 10*time.Millisecond, func() error {
			s := o.srv.Sockets().Socket(socketio.SocketID(sid))
			if s == nil {
				return errors.New("socket gone")
			}
			var have []string
			for _, r := range s.Rooms() {
				have = append(have, string(r))
			}
			if !reflect.DeepEqual(have, rooms) {
				return fmt.Errorf("rooms %v, want %v", have, rooms)
			}
			return nil
		})
	})

	for ev, w := range want {
		g := got[ev]
		if ws, gs := argShapes(w, ev), argShapes(g, ev); ws != gs {
			t.Errorf("%s: shape\n got %s\nwant %s (Node)\n got %v\nwant %v", ev, gs, ws, g, w)
		}
	}
	if !reflect.DeepEqual(got["config"], want["config"]) {
		t.Errorf("config: got %v, want %v (Node)", got["config"], want["config"])
	}
	if g, w := got["socket_disconnected"][2], want["socket_disconnected"][2]; g != w {
		t.Errorf("disconnect reason: got %v, want %v (Node)", g, w)
	}
	for _, ev := range []string{"event_received", "event_sent"} {
		if g, w := got[ev][2], want[ev][2]; !reflect.DeepEqual(g, w) {
			t.Errorf("%s args: got %v, want %v (Node)", ev, g, w)
		}
	}
	// What the UI reads of a socket, value by value.
	gs, ws := got["socket_connected"][0].(map[string]any), want["socket_connected"][0].(map[string]any)
	for _, k := range []string{"nsp", "transport", "data"} {
		if !reflect.DeepEqual(gs[k], ws[k]) {
			t.Errorf("socket_connected %s: got %v, want %v (Node)", k, gs[k], ws[k])
		}
	}
	if gr, wr := len(gs["rooms"].([]any)), len(ws["rooms"].([]any)); gr != wr {
		t.Errorf("socket_connected rooms: got %v, want as many as %v (Node)", gs["rooms"], ws["rooms"])
	}
	stats := got["server_stats"][0].(map[string]any)
	if stats["serverId"] != "go" || stats["clientsCount"].(float64) < 1 {
		t.Errorf("server_stats: %v", stats)
	}
	var nsps []string
	for _, n := range stats["namespaces"].([]any) {
		nsps = append(nsps, n.(map[string]any)["name"].(string))
	}
	if !reflect.DeepEqual(nsps, []string{"/", "/admin"}) {
		t.Errorf("server_stats namespaces %v, want / and /admin", nsps)
	}
}

// TestBasicAuth: a wrong password or username is refused with "invalid
// credentials", the right one is let in and given a session id that later
// connects without the password, on our server as on Node's.
func TestBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Instrument(socketio.NewServer(socketio.Options{}), admin.Options{
		Auth: &admin.BasicAuth{Username: "admin", PasswordHash: "s3cret"}}); !errors.Is(err, admin.ErrBadHash) {
		t.Errorf("a password that is no bcrypt hash: got %v, want ErrBadHash", err)
	}
	o := startOurs(t, admin.Options{Auth: &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)}}, socketio.Options{})
	servers := map[string]string{
		"go":   o.url,
		"node": startNode(t, "--username", "admin", "--password-hash", string(hash)),
	}
	for name, url := range servers {
		t.Run(name, func(t *testing.T) {
			nc := testutil.StartNodeClients(t)
			bad := []map[string]any{
				{"username": "admin", "password": "wrong"},
				{"username": "root", "password": "s3cret"},
				nil,
				{"sessionId": "0123456789abcdef"},
			}
			if name == "go" {
				// Node's instrument crashes the process on this one
				// (bcryptjs: "Illegal arguments: undefined, string").
				bad = append(bad, map[string]any{"username": "admin"}, map[string]any{"username": "admin", "password": 42})
			}
			for i, auth := range bad {
				_, err := nc.Connect(fmt.Sprint("bad", i), testutil.ClientOptions{URL: url + "/admin", Auth: auth})
				var ce *testutil.ConnectError
				if !errors.As(err, &ce) || ce.Message != "invalid credentials" {
					t.Errorf("auth %v: got %v, want connect_error invalid credentials", auth, err)
				}
			}
			if _, err := nc.Connect("ok", testutil.ClientOptions{URL: url + "/admin",
				Auth: map[string]any{"username": "admin", "password": "s3cret"}}); err != nil {
				t.Fatal(err)
			}
			raw, err := nc.Next("ok", "session", wait)
			if err != nil {
				t.Fatal(err)
			}
			session := args(t, raw)[0].(string)
			if len(session) != 16 {
				t.Errorf("session id %q, want 16 hex digits", session)
			}
			if _, err := nc.Next("ok", "config", wait); err != nil {
				t.Fatal(err)
			}
			if _, err := nc.Connect("again", testutil.ClientOptions{URL: url + "/admin",
				Auth: map[string]any{"sessionId": session}}); err != nil {
				t.Errorf("reconnecting with the session id: %v", err)
			}
		})
	}
}

// TestReadonlyAndProduction: readonly announces no operation and ignores
// them; production mode sends statistics but no socket events.
func TestReadonlyAndProduction(t *testing.T) {
	o := startOurs(t, admin.Options{ReadOnly: true, Mode: admin.Production, StatsInterval: 100 * time.Millisecond}, socketio.Options{})
	nc := testutil.StartNodeClients(t)
	if _, err := nc.Connect("admin", testutil.ClientOptions{URL: o.url + "/admin"}); err != nil {
		t.Fatal(err)
	}
	raw, err := nc.Next("admin", "config", wait)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `[{"supportedFeatures":["AGGREGATED_EVENTS"]}]` {
		t.Errorf("config %s", raw)
	}
	sid, err := nc.Connect("u1", testutil.ClientOptions{URL: o.url})
	if err != nil {
		t.Fatal(err)
	}
	nc.EmitNoAck("admin", "_disconnect", "/", false, sid)
	nc.EmitNoAck("admin", "join", "/", "r2", sid)
	// Statistics keep coming: the rawConnection of u1 is counted.
	nextWhere(t, nc, "admin", "server_stats", func(a []any) bool {
		for _, e := range a[0].(map[string]any)["aggregatedEvents"].([]any) {
			if e.(map[string]any)["type"] == "rawConnection" {
				return true
			}
		}
		return false
	})
	s := o.srv.Sockets().Socket(socketio.SocketID(sid))
	if s == nil || !s.Connected() || len(s.Rooms()) != 2 {
		t.Fatalf("readonly: the socket was acted on: %v", s)
	}
	for _, ev := range []string{"all_sockets", "socket_connected", "room_joined"} {
		if err := nc.None("admin", ev, 200*time.Millisecond); err != nil {
			t.Errorf("production mode: %v", err)
		}
	}
}

// TestStatsCountBytes: the aggregated bytesIn and bytesOut (the
// dashboard's bytes chart) take in what a client sends and receives: an
// echo of 20,000 bytes shows in both, however the ticks split it.
func TestStatsCountBytes(t *testing.T) {
	o := startOurs(t, admin.Options{Mode: admin.Production, StatsInterval: 50 * time.Millisecond}, socketio.Options{})
	nc := testutil.StartNodeClients(t)
	if _, err := nc.Connect("admin", testutil.ClientOptions{URL: o.url + "/admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Next("admin", "config", wait); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Connect("u1", testutil.ClientOptions{URL: o.url}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 20_000)
	if ack, err := nc.Emit("u1", "echo", big); err != nil || len(ack) < 20_000 {
		t.Fatalf("echo: %d bytes, %v", len(ack), err)
	}
	sums := map[string]float64{}
	nextWhere(t, nc, "admin", "server_stats", func(a []any) bool {
		for _, e := range a[0].(map[string]any)["aggregatedEvents"].([]any) {
			m := e.(map[string]any)
			if ty, _ := m["type"].(string); ty == "bytesIn" || ty == "bytesOut" {
				n, _ := m["count"].(float64)
				sums[ty] += n
			}
		}
		return sums["bytesIn"] >= 20_000 && sums["bytesOut"] >= 2*20_000 // the echoed event and the ack
	})
}

// TestStatsCountTransports: clientsCount and pollingClientsCount follow the
// Engine.IO connections by transport, and dynamic namespaces created after
// Instrument are reported (socket_connected) like the others.
func TestStatsCountTransports(t *testing.T) {
	o := startOurs(t, admin.Options{StatsInterval: 50 * time.Millisecond}, socketio.Options{Engine: engine.Config{}})
	o.srv.OfFunc(func(name string, _ []byte) bool { return strings.HasPrefix(name, "/dyn-") })
	nc := testutil.StartNodeClients(t)
	if _, err := nc.Connect("admin", testutil.ClientOptions{URL: o.url + "/admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Connect("p", testutil.ClientOptions{URL: o.url + "/dyn-1", Transports: []string{"polling"}}); err != nil {
		t.Fatal(err)
	}
	nextWhere(t, nc, "admin", "socket_connected", func(a []any) bool {
		m := a[0].(map[string]any)
		return m["nsp"] == "/dyn-1" && m["transport"] == "polling" && len(m["clientId"].(string)) > 0
	})
	nextWhere(t, nc, "admin", "server_stats", func(a []any) bool {
		m := a[0].(map[string]any)
		return m["clientsCount"] == 2.0 && m["pollingClientsCount"] == 1.0
	})
	// A client that upgrades: the UI learns its new transport, from
	// socket_connected when the upgrade came first, else socket_updated.
	sid, err := nc.Connect("up", testutil.ClientOptions{URL: o.url, Transports: []string{"polling", "websocket"}})
	if err != nil {
		t.Fatal(err)
	}
	connected := nextWhere(t, nc, "admin", "socket_connected", func(a []any) bool { return a[0].(map[string]any)["id"] == sid })
	if connected[0].(map[string]any)["transport"] != "websocket" {
		nextWhere(t, nc, "admin", "socket_updated", argsAre(map[string]any{"id": sid, "nsp": "/", "transport": "websocket"}))
	}
	nextWhere(t, nc, "admin", "server_stats", func(a []any) bool {
		m := a[0].(map[string]any)
		return m["clientsCount"] == 3.0 && m["pollingClientsCount"] == 1.0
	})
}
