package engine_test

// Interop: the real npm engine.io-client (pinned in test/interop/package-lock.json)
// against this server, over polling only, WebSocket only, and polling upgraded to
// WebSocket. test/interop/eio-client.mjs drives the client and prints one JSON
// line per event; this file runs it, records what the server saw, and checks
// both sides.
//
// It needs node on PATH and `npm ci` done in test/interop (`make deps`). Without
// them the test is skipped, or fails when the CI environment variable is true
// (testutil.RequireDependency).

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sio/engine"
	"sio/internal/testutil"
	"sio/loop"
)

const (
	interopPath = "/engine.io/"
	// The messages of the echo scenario; keep in sync with eio-client.mjs.
	interopText          = "héllo wörld ✓ 🚀"
	interopBeforeUpgrade = "before-upgrade"
	interopDuringUpgrade = "during-upgrade"
	interopPleaseClose   = "please-close"
	interopStillAlive    = "still-alive"
	interopStream        = 100 // "stream:100": the server answers tick:1 … tick:100
	interopBigLen        = 70000
	// interopIdle is how long the heartbeat scenario stays idle at least, and
	// interopMinPings how many pings it waits for at least meanwhile.
	interopIdle     = 1500 * time.Millisecond
	interopMinPings = 4
)

var interopSmall = []byte{1, 2, 3, 4}

// interopBig is the large binary message of eio-client.mjs: byte i is (i*7)%251.
func interopBig() []byte {
	b := make([]byte, interopBigLen)
	for i := range b {
		b[i] = byte((i * 7) % 251)
	}
	return b
}

// interopMode is one way the client connects.
type interopMode struct {
	name       string
	transports string // the client's transports option, comma-separated
	first      string // the transport of the handshake
	upgrade    bool   // polling, then upgraded to WebSocket
}

var interopModes = []interopMode{
	{name: "polling", transports: "polling", first: "polling"},
	{name: "websocket", transports: "websocket", first: "websocket"},
	{name: "upgrade", transports: "polling,websocket", first: "polling", upgrade: true},
}

// --- server side ----------------------------------------------------------

type interopMsg struct {
	data      []byte
	binary    bool
	transport string // Session.Transport() when it arrived
}

type interopSession struct {
	sess          *engine.Session
	openTransport string
	closed        chan struct{}

	mu             sync.Mutex
	msgs           []interopMsg
	reason         engine.Reason
	closeTransport string
}

func (r *interopSession) messages() []interopMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

type interopServer struct {
	srv *engine.Server
	url string

	mu       sync.Mutex
	sessions map[string]*interopSession
}

// interopStartServer runs an echo server: every message is sent back, except
// the text "please-close", which makes the server close the session; after
// echoing "stream:N" it also sends "tick:1" … "tick:N" from a goroutine.
func interopStartServer(t *testing.T, cfg engine.Config) *interopServer {
	t.Helper()
	srv := engine.NewServer(cfg, loop.Options{Addr: "127.0.0.1:0", NumLoops: 2})
	is := &interopServer{srv: srv, sessions: map[string]*interopSession{}}
	srv.OnConnection(func(s *engine.Session, _ *loop.Request) {
		rec := &interopSession{sess: s, openTransport: s.Transport(), closed: make(chan struct{})}
		is.mu.Lock()
		is.sessions[s.ID()] = rec
		is.mu.Unlock()
		s.OnMessage(func(s *engine.Session, data []byte, binary bool) {
			rec.mu.Lock()
			rec.msgs = append(rec.msgs, interopMsg{data: bytes.Clone(data), binary: binary, transport: s.Transport()})
			rec.mu.Unlock()
			if !binary && string(data) == interopPleaseClose {
				s.Close()
				return
			}
			s.Send(data, binary)
			if n, ok := interopStreamLen(data, binary); ok {
				// Sent from another goroutine while the client goes on (and, in
				// upgrade mode, while it upgrades).
				go func() {
					for i := 1; i <= n; i++ {
						select {
						case <-rec.closed:
							return
						default:
						}
						s.Send([]byte("tick:"+strconv.Itoa(i)), false)
						time.Sleep(time.Millisecond)
					}
				}()
			}
		})
		s.OnClose(func(s *engine.Session, reason engine.Reason) {
			rec.mu.Lock()
			rec.reason = reason
			rec.closeTransport = s.Transport()
			rec.mu.Unlock()
			close(rec.closed)
		})
	})
	sv := testutil.Serve(t, srv)
	is.url = "http://" + srv.Loop().Addr().String()
	t.Cleanup(func() {
		if err := sv.Shutdown(); err != nil {
			t.Errorf("interop: server shutdown: %v", err)
		}
	})
	return is
}

// interopStreamLen parses "stream:N".
func interopStreamLen(data []byte, binary bool) (int, bool) {
	rest, ok := bytes.CutPrefix(data, []byte("stream:"))
	if binary || !ok {
		return 0, false
	}
	n, err := strconv.Atoi(string(rest))
	return n, err == nil && n > 0 && n <= 10000
}

// session returns the record of sid, waiting briefly for OnConnection.
func (is *interopServer) session(t *testing.T, sid string) *interopSession {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		is.mu.Lock()
		rec := is.sessions[sid]
		is.mu.Unlock()
		if rec != nil {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("interop: the server has no session %q (the sid of the client's open event)", sid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// describe reports what the server saw of the client's session, for failures.
func (is *interopServer) describe(c *interopClient) string {
	i := c.index("open")
	if i < 0 {
		return "  server: the client never opened a session\n"
	}
	sid := c.events[i].SID
	deadline := time.Now().Add(time.Second)
	var rec *interopSession
	for rec == nil && time.Now().Before(deadline) {
		is.mu.Lock()
		rec = is.sessions[sid]
		is.mu.Unlock()
		if rec == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if rec == nil {
		return fmt.Sprintf("  server: no session %s\n", sid)
	}
	select {
	case <-rec.closed:
	case <-time.After(time.Second):
	}
	var b strings.Builder
	rec.mu.Lock()
	fmt.Fprintf(&b, "  server: session %s opened over %s, transport now %s, close reason %q (transport at close %q)\n",
		sid, rec.openTransport, rec.sess.Transport(), rec.reason, rec.closeTransport)
	for _, m := range rec.msgs {
		fmt.Fprintf(&b, "    received %s over %s\n", interopWant{data: m.data, binary: m.binary}, m.transport)
	}
	rec.mu.Unlock()
	st := is.srv.Stats()
	fmt.Fprintf(&b, "  server stats: sessions=%d handshakes=%d upgrades=%d closed=%v\n", st.Sessions, st.Handshakes, st.Upgrades, st.Closed)
	return b.String()
}

// waitClosed waits for the session's OnClose and returns its reason and the
// transport at that time.
func (rec *interopSession) waitClosed(t *testing.T) (engine.Reason, string) {
	t.Helper()
	select {
	case <-rec.closed:
	case <-time.After(5 * time.Second):
		t.Fatalf("interop: session %s not closed on the server 5s after the client finished (transport %s)",
			rec.sess.ID(), rec.sess.Transport())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.reason, rec.closeTransport
}

// --- client side ----------------------------------------------------------

// interopEvent is one line printed by eio-client.mjs.
type interopEvent struct {
	T            int64           `json:"t"`
	Event        string          `json:"event"`
	Transport    string          `json:"transport"`
	SID          string          `json:"sid"`
	ServerUps    []string        `json:"serverUpgrades"`
	Upgrades     []string        `json:"upgrades"`
	PingInterval int64           `json:"pingInterval"`
	PingTimeout  int64           `json:"pingTimeout"`
	MaxPayload   int64           `json:"maxPayload"`
	Data         string          `json:"data"`
	Binary       bool            `json:"binary"`
	Hex          string          `json:"hex"`
	Length       int             `json:"length"`
	Reason       string          `json:"reason"`
	Description  json.RawMessage `json:"description"`
	Message      string          `json:"message"`
	Pings        int             `json:"pings"`
	Ms           int64           `json:"ms"`
}

func (e interopEvent) String() string {
	switch e.Event {
	case "message", "sent":
		if e.Binary {
			h := e.Hex
			if len(h) > 32 {
				h = h[:32] + "…"
			}
			return fmt.Sprintf("%5dms %s binary[%d] %s%s", e.T, e.Event, e.Length, h, e.via())
		}
		return fmt.Sprintf("%5dms %s %q%s", e.T, e.Event, e.Data, e.via())
	case "close":
		return fmt.Sprintf("%5dms close %q %s", e.T, e.Reason, e.Description)
	case "open":
		return fmt.Sprintf("%5dms open %s sid=%s upgrades=%v ping=%d/%d", e.T, e.Transport, e.SID, e.Upgrades, e.PingInterval, e.PingTimeout)
	case "error", "upgradeError":
		return fmt.Sprintf("%5dms %s %s %s", e.T, e.Event, e.Message, e.Description)
	}
	if e.Event == "idle-over" {
		return fmt.Sprintf("%5dms idle-over pings=%d after %dms", e.T, e.Pings, e.Ms)
	}
	return fmt.Sprintf("%5dms %s%s", e.T, e.Event, e.via())
}

func (e interopEvent) via() string {
	if e.Transport == "" {
		return ""
	}
	return " (" + e.Transport + ")"
}

// interopClient is one run of eio-client.mjs.
type interopClient struct {
	events []interopEvent
	stderr string
}

func (c *interopClient) log() string {
	var b strings.Builder
	isTick := func(e interopEvent) bool {
		return e.Event == "message" && !e.Binary && strings.HasPrefix(e.Data, "tick:")
	}
	for i := 0; i < len(c.events); i++ {
		e := c.events[i]
		if isTick(e) { // one line per run of ticks on one transport
			j := i
			for j+1 < len(c.events) && isTick(c.events[j+1]) && c.events[j+1].Transport == e.Transport {
				j++
			}
			if j > i {
				fmt.Fprintf(&b, "    %5dms message %s … %5dms %s%s\n", e.T, e.Data, c.events[j].T, c.events[j].Data, e.via())
				i = j
				continue
			}
		}
		b.WriteString("    " + e.String() + "\n")
	}
	if c.stderr != "" {
		b.WriteString("  stderr:\n" + c.stderr)
	}
	return b.String()
}

func (c *interopClient) all(name string) []interopEvent {
	var out []interopEvent
	for _, e := range c.events {
		if e.Event == name {
			out = append(out, e)
		}
	}
	return out
}

// one returns the only event called name.
func (c *interopClient) one(t *testing.T, name string) interopEvent {
	t.Helper()
	evs := c.all(name)
	if len(evs) != 1 {
		t.Fatalf("interop: want exactly one %q event from the client, got %d\n%s", name, len(evs), c.log())
	}
	return evs[0]
}

// index is the position of the first event called name, or -1.
func (c *interopClient) index(name string) int {
	return slices.IndexFunc(c.events, func(e interopEvent) bool { return e.Event == name })
}

// interopClientDir finds test/interop (from engine/, the test's working
// directory) and checks that node and the pinned client are installed.
func interopClientDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "test", "interop"))
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "engine.io-client", "package.json")); err != nil {
		missing = dir + "/node_modules is missing (npm ci not run)"
	}
	if missing != "" {
		testutil.RequireDependency(t, "interop: "+missing, "run `make deps` (installs Node.js and runs npm ci in test/interop)")
	}
	return dir
}

// interopRun runs one scenario of eio-client.mjs and returns its events. A
// non-zero exit fails the test with the client's log.
func interopRun(t *testing.T, dir string, is *interopServer, scenario string, m interopMode, extra ...string) *interopClient {
	t.Helper()
	// The script times itself out after 10s once loaded; loading node can
	// take seconds on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{filepath.Join(dir, "eio-client.mjs"), is.url, scenario, m.transports,
		"--path", interopPath, "--timeout-ms", "10000"}, extra...)
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	c := &interopClient{stderr: stderr.String()}
	dec := json.NewDecoder(&stdout)
	var decodeErr error
	for {
		var e interopEvent
		if err := dec.Decode(&e); err != nil {
			if !errors.Is(err, io.EOF) {
				decodeErr = err
			}
			break
		}
		c.events = append(c.events, e)
	}
	if runErr != nil {
		t.Fatalf("interop: node eio-client.mjs %s %s failed: %v\n%s%s", scenario, m.transports, runErr, c.log(), is.describe(c))
	}
	if decodeErr != nil {
		t.Fatalf("interop: bad output from eio-client.mjs: %v\n%s", decodeErr, c.log())
	}
	t.Logf("node eio-client.mjs %s %s:\n%s", scenario, m.transports, c.log())
	if c.index("done") < 0 {
		t.Fatalf("interop: eio-client.mjs exited 0 without a done event\n%s", c.log())
	}
	for _, e := range c.all("error") {
		t.Errorf("interop: client error event: %s", e)
	}
	for _, e := range c.all("upgradeError") {
		t.Errorf("interop: client upgradeError event: %s", e)
	}
	if c.index("linger") >= 0 {
		t.Errorf("interop: the client still had connections open 3s after the scenario ended: the server did not "+
			"finish closing them (WebSocket close handshake or HTTP connection)\n%s", c.log())
	}
	return c
}

// checkOpen checks the handshake the client saw and returns the server's
// record of that session.
func (is *interopServer) checkOpen(t *testing.T, c *interopClient, m interopMode) *interopSession {
	t.Helper()
	open := c.one(t, "open")
	if open.Transport != m.first {
		t.Errorf("interop: client opened over %q, want %q\n%s", open.Transport, m.first, c.log())
	}
	cfg := is.srv.Config()
	if open.PingInterval != cfg.PingInterval.Milliseconds() || open.PingTimeout != cfg.PingTimeout.Milliseconds() {
		t.Errorf("interop: handshake ping %d/%d, want %d/%d", open.PingInterval, open.PingTimeout,
			cfg.PingInterval.Milliseconds(), cfg.PingTimeout.Milliseconds())
	}
	if open.MaxPayload != cfg.MaxHTTPBufferSize {
		t.Errorf("interop: handshake maxPayload %d, want %d", open.MaxPayload, cfg.MaxHTTPBufferSize)
	}
	// The server advertises ["websocket"] on polling sessions and [] on
	// WebSocket ones; the client keeps those it can use itself.
	wantServer, wantClient := []string{"websocket"}, []string{}
	if m.first == "websocket" {
		wantServer = []string{}
	}
	if m.upgrade {
		wantClient = []string{"websocket"}
	}
	if open.ServerUps == nil || !slices.Equal(open.ServerUps, wantServer) {
		t.Errorf("interop: handshake upgrades %v, want %v", open.ServerUps, wantServer)
	}
	if !slices.Equal(open.Upgrades, wantClient) {
		t.Errorf("interop: client-usable upgrades %v, want %v", open.Upgrades, wantClient)
	}
	rec := is.session(t, open.SID)
	if rec.openTransport != m.first {
		t.Errorf("interop: server session opened over %q, want %q", rec.openTransport, m.first)
	}
	return rec
}

// interopCheckUpgrade checks the upgrade events (or their absence) on the client.
// It returns the index of the upgrade event, or -1.
func interopCheckUpgrade(t *testing.T, c *interopClient, m interopMode) int {
	t.Helper()
	if !m.upgrade {
		for _, name := range []string{"upgrading", "upgrade"} {
			if evs := c.all(name); len(evs) > 0 {
				t.Errorf("interop: unexpected %s event with transports %s\n%s", name, m.transports, c.log())
			}
		}
		return -1
	}
	if up := c.one(t, "upgrading"); up.Transport != "websocket" {
		t.Errorf("interop: upgrading to %q, want websocket", up.Transport)
	}
	if up := c.one(t, "upgrade"); up.Transport != "websocket" {
		t.Errorf("interop: upgraded to %q, want websocket", up.Transport)
	}
	return c.index("upgrade")
}

// interopWant is a message expected on both sides.
type interopWant struct {
	data      []byte
	binary    bool
	websocket bool // must travel over the WebSocket (sent after the upgrade)
}

func (w interopWant) String() string {
	if w.binary {
		h := hex.EncodeToString(w.data)
		if len(h) > 32 {
			h = h[:32] + "…"
		}
		return fmt.Sprintf("binary[%d] %s", len(w.data), h)
	}
	return fmt.Sprintf("text %q", w.data)
}

// interopCheckClientGot checks that the client received exactly want (in any
// order across transports, each once, intact).
func interopCheckClientGot(t *testing.T, c *interopClient, want []interopWant, upgradeAt int) {
	t.Helper()
	left := slices.Clone(want)
	for i, e := range c.events {
		if e.Event != "message" || (!e.Binary && strings.HasPrefix(e.Data, "tick:")) {
			continue
		}
		var data []byte
		if e.Binary {
			var err error
			if data, err = hex.DecodeString(e.Hex); err != nil {
				t.Fatalf("interop: bad hex from client: %v", err)
			}
			if e.Length != len(data) {
				t.Errorf("interop: client reported length %d for %d bytes", e.Length, len(data))
			}
		} else {
			data = []byte(e.Data)
		}
		j := slices.IndexFunc(left, func(w interopWant) bool { return w.binary == e.Binary && bytes.Equal(w.data, data) })
		if j < 0 {
			t.Errorf("interop: client received an unexpected or duplicate message: %s\n%s", e, c.log())
			continue
		}
		if left[j].websocket && (e.Transport != "websocket" || i < upgradeAt) {
			t.Errorf("interop: echo of %s reached the client over %q (event %d, upgrade at %d), want websocket after the upgrade",
				left[j], e.Transport, i, upgradeAt)
		}
		left = slices.Delete(left, j, j+1)
	}
	for _, w := range left {
		t.Errorf("interop: the client never received the echo of %s\n%s", w, c.log())
	}
}

// interopCheckTicks checks that the client got tick:1 … tick:n, in order.
func interopCheckTicks(t *testing.T, c *interopClient, n int) {
	t.Helper()
	next := 1
	for _, e := range c.events {
		if e.Event != "message" || e.Binary || !strings.HasPrefix(e.Data, "tick:") {
			continue
		}
		if want := "tick:" + strconv.Itoa(next); e.Data != want {
			t.Errorf("interop: client got %q, want %q (server messages lost, duplicated or reordered)\n%s", e.Data, want, c.log())
			return
		}
		next++
	}
	if next != n+1 {
		t.Errorf("interop: client got %d of %d streamed messages\n%s", next-1, n, c.log())
	}
}

// interopCheckServerGot checks that the server received exactly want, each
// once and intact, and over the WebSocket where required.
func interopCheckServerGot(t *testing.T, rec *interopSession, want []interopWant) {
	t.Helper()
	left := slices.Clone(want)
	for _, m := range rec.messages() {
		j := slices.IndexFunc(left, func(w interopWant) bool { return w.binary == m.binary && bytes.Equal(w.data, m.data) })
		if j < 0 {
			t.Errorf("interop: the server received an unexpected or duplicate message: %s (binary=%v, %s)",
				interopWant{data: m.data, binary: m.binary}, m.binary, m.transport)
			continue
		}
		if left[j].websocket && m.transport != "websocket" {
			t.Errorf("interop: the server received %s while its transport was %q, want websocket", left[j], m.transport)
		}
		left = slices.Delete(left, j, j+1)
	}
	for _, w := range left {
		t.Errorf("interop: the server never received %s", w)
	}
}

// interopCheckClose checks the client's only close event.
func interopCheckClose(t *testing.T, c *interopClient, wantReason string) {
	t.Helper()
	cl := c.one(t, "close")
	if cl.Reason != wantReason {
		t.Errorf("interop: client close reason %q (%s), want %q\n%s", cl.Reason, cl.Description, wantReason, c.log())
	}
}

// --- the test -------------------------------------------------------------

func TestInteropEngineIOClient(t *testing.T) {
	dir := interopClientDir(t)
	if b, err := os.ReadFile(filepath.Join(dir, "node_modules", "engine.io-client", "package.json")); err == nil {
		var pkg struct{ Version string }
		if json.Unmarshal(b, &pkg) == nil {
			t.Logf("engine.io-client %s", pkg.Version)
		}
	}

	// Short ping intervals, so pings also happen while the scenarios run. The
	// ping timeouts are generous on purpose: on a loaded machine (-race, 2
	// CPUs, other jobs) the node process was seen stalling for 1 to 4 s, and
	// a stall longer than the timeout is a legitimate ping timeout on either
	// side. Pong handling is still checked: the server sends its next ping
	// only PingInterval after a pong, so the heartbeat scenario cannot count
	// its pings if the pongs are lost.
	main := interopStartServer(t, engine.Config{Path: interopPath,
		PingInterval: 500 * time.Millisecond, PingTimeout: 5 * time.Second})
	// The heartbeat check: several ping rounds while the client is idle.
	hb := interopStartServer(t, engine.Config{Path: interopPath,
		PingInterval: 300 * time.Millisecond, PingTimeout: 5 * time.Second})

	for _, m := range interopModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			t.Run("echo", func(t *testing.T) { interopEcho(t, dir, main, m) })
			t.Run("server-close", func(t *testing.T) { interopServerClose(t, dir, main, m) })
			t.Run("heartbeat", func(t *testing.T) { interopHeartbeat(t, dir, hb, m) })
		})
	}
}

// interopEcho: text and binary both ways, then the client closes.
func interopEcho(t *testing.T, dir string, is *interopServer, m interopMode) {
	c := interopRun(t, dir, is, "echo", m)
	rec := is.checkOpen(t, c, m)
	upgradeAt := interopCheckUpgrade(t, c, m)

	want := []interopWant{
		{data: []byte("stream:" + strconv.Itoa(interopStream))}, // sent right after open
		{data: []byte(interopText), websocket: m.upgrade},
		{data: interopSmall, binary: true, websocket: m.upgrade},
		{data: interopBig(), binary: true, websocket: m.upgrade},
	}
	if m.upgrade {
		want = append(want,
			interopWant{data: []byte(interopBeforeUpgrade)},                  // sent over polling right after open
			interopWant{data: []byte(interopDuringUpgrade), websocket: true}, // buffered by the client while upgrading
		)
	}
	interopCheckClientGot(t, c, want, upgradeAt)
	interopCheckTicks(t, c, interopStream)
	interopCheckServerGot(t, rec, want)
	// socket.close() on the client side is reported as "forced close" by engine.io-client.
	interopCheckClose(t, c, "forced close")

	reason, tr := rec.waitClosed(t)
	if reason != engine.ReasonTransportClose {
		t.Errorf("interop: server close reason %q when the client closed, want %q\n%s", reason, engine.ReasonTransportClose, c.log())
	}
	wantTr := m.first
	if m.upgrade {
		wantTr = "websocket"
	}
	if tr != wantTr || rec.sess.Transport() != wantTr {
		t.Errorf("interop: server session transport at close %q, now %q; want %q", tr, rec.sess.Transport(), wantTr)
	}
}

// interopServerClose: the client asks, the server closes the session.
func interopServerClose(t *testing.T, dir string, is *interopServer, m interopMode) {
	c := interopRun(t, dir, is, "server-close", m)
	rec := is.checkOpen(t, c, m)
	interopCheckUpgrade(t, c, m)
	interopCheckServerGot(t, rec, []interopWant{{data: []byte(interopPleaseClose), websocket: m.upgrade}})
	if got := c.all("message"); len(got) != 0 {
		t.Errorf("interop: the client received %d messages, want none\n%s", len(got), c.log())
	}
	interopCheckClose(t, c, "transport close")

	reason, tr := rec.waitClosed(t)
	if reason != engine.ReasonForcedClose {
		t.Errorf("interop: server close reason %q after Session.Close, want %q", reason, engine.ReasonForcedClose)
	}
	wantTr := m.first
	if m.upgrade {
		wantTr = "websocket"
	}
	if tr != wantTr {
		t.Errorf("interop: server session transport at close %q, want %q", tr, wantTr)
	}
}

// interopHeartbeat: the client stays idle for several ping intervals; the
// session must survive on both sides (the real client answers the pings).
func interopHeartbeat(t *testing.T, dir string, is *interopServer, m interopMode) {
	c := interopRun(t, dir, is, "idle", m, "--idle-ms", fmt.Sprint(interopIdle.Milliseconds()),
		"--min-pings", fmt.Sprint(interopMinPings))
	rec := is.checkOpen(t, c, m)
	upgradeAt := interopCheckUpgrade(t, c, m)

	// The client ends its idle period only after interopIdle and
	// interopMinPings pings: seeing them means the server got the pongs, as it
	// pings again only PingInterval after a pong.
	idle := c.one(t, "idle-over")
	if idle.Pings < interopMinPings || time.Duration(idle.Ms)*time.Millisecond < interopIdle {
		t.Errorf("interop: idle period of %dms with %d pings, want at least %v and %d pings\n%s",
			idle.Ms, idle.Pings, interopIdle, interopMinPings, c.log())
	}
	interval := is.srv.Config().PingInterval
	pings := c.all("ping")
	for i, p := range pings {
		if m.upgrade && p.T > c.events[upgradeAt].T && p.Transport != "websocket" {
			t.Errorf("interop: ping after the upgrade arrived over %q", p.Transport)
		}
		// The client pongs as it sees a ping, so the next ping (armed when
		// that pong arrives) cannot reach it sooner than PingInterval later.
		if i > 0 {
			if gap := time.Duration(p.T-pings[i-1].T) * time.Millisecond; gap < interval-15*time.Millisecond {
				t.Errorf("interop: pings %d and %d only %v apart, want at least the ping interval %v (Node re-arms the ping after the pong)\n%s",
					i-1, i, gap, interval, c.log())
			}
		}
	}

	want := []interopWant{{data: []byte(interopStillAlive), websocket: m.upgrade}}
	if m.upgrade {
		want = append(want, interopWant{data: []byte(interopBeforeUpgrade)}, interopWant{data: []byte(interopDuringUpgrade), websocket: true})
	}
	interopCheckClientGot(t, c, want, upgradeAt)
	interopCheckServerGot(t, rec, want)
	interopCheckClose(t, c, "forced close") // not "ping timeout"

	reason, _ := rec.waitClosed(t)
	if reason != engine.ReasonTransportClose {
		t.Errorf("interop: server close reason %q after the idle period and the client's close, want %q (a ping timeout means the pongs were not seen)",
			reason, engine.ReasonTransportClose)
	}
}
