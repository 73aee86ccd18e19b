package engine_test

// Test harness for black-box tests of the engine over real TCP sockets on
// 127.0.0.1: an in-process server, a raw HTTP/1.1 client, a minimal
// WebSocket client that writes frames by hand (so hostile frames are easy to
// build) and leak checks. What the socketio tests share with these
// (polling for a condition, server lifecycle, leak accounting, frame
// reading) is in internal/testutil.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"sio/engine"
	"sio/internal/testutil"
	"sio/loop"
)

const (
	// Short heartbeat settings, as in the official engine.io-protocol suite.
	shortPingInterval = 300 * time.Millisecond
	shortPingTimeout  = 200 * time.Millisecond

	ioTimeout = testutil.IOTimeout // bound on every client read, so a hung server fails a test instead of the run
	numLoops  = 2
)

// --- server ---------------------------------------------------------------

// testServer is an engine server running for one test; Shutdown (from
// testutil.Serving) closes it early.
type testServer struct {
	*testutil.Serving
	srv   *engine.Server
	addr  string
	probe testutil.Probe
	// goroutines with the server running and every loop started, no client.
	baseGoroutines int
}

// echoApp echoes every message back, and closes the session from the server
// side when it receives the text message "server-close" (Session.Close).
func echoApp(s *engine.Session, _ *loop.Request) {
	s.OnMessage(func(s *engine.Session, data []byte, binary bool) {
		if !binary && string(data) == "server-close" {
			s.Close()
			return
		}
		s.Send(data, binary)
	})
}

// startServer runs an engine server on 127.0.0.1:0 with numLoops loops until
// the test ends. onConn nil means echoApp. Zero fields of opts are filled in.
// At cleanup the server is closed, Serve must return, and the goroutine count
// must come back to what it was before the server started.
func startServer(t testing.TB, cfg engine.Config, opts loop.Options, onConn func(*engine.Session, *loop.Request)) *testServer {
	t.Helper()
	before := runtime.NumGoroutine()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.NumLoops == 0 {
		opts.NumLoops = numLoops
	}
	lw := testutil.NewLogWriter(t)
	if opts.Logger == nil {
		opts.Logger = lw.Logger()
	}
	if onConn == nil {
		onConn = echoApp
	}
	srv := engine.NewServer(cfg, opts)
	srv.OnConnection(onConn)
	ts := &testServer{Serving: testutil.Serve(t, srv), srv: srv, addr: srv.Loop().Addr().String(), probe: testutil.Probe{
		Sessions: srv.Count,
		Conns:    func() int64 { return srv.Loop().Stats().Open },
		Loops:    func() int { return len(srv.Loop().Loops()) },
	}}
	t.Cleanup(func() {
		if err := ts.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		lw.Stop()
		if p := srv.Loop().Stats().Panics; p != 0 {
			t.Errorf("%d panics recovered by the server", p)
		}
		testutil.WaitGoroutines(t, before)
	})
	// Every loop serves a connection first (a loop starts its timer
	// goroutine on first use); then the goroutine baseline is taken.
	ts.baseGoroutines = ts.probe.WarmUp(t, ts.addr, opts.NumLoops)
	return ts
}

// skipLoops opens and closes n connections. gnet hands connections to loops
// round-robin, so this moves the next connection to another loop.
func (ts *testServer) skipLoops(t testing.TB, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		ts.dial(t).close()
	}
}

// checkNoLeaks waits until no session and no connection is left and the
// goroutine count is back to the server's baseline. Call it once every client
// of the test has closed.
func (ts *testServer) checkNoLeaks(t testing.TB) {
	t.Helper()
	ts.probe.CheckNoLeaks(t, ts.baseGoroutines)
}

// assertHealthy checks that the server still answers a fresh handshake and
// never recovered a panic.
func (ts *testServer) assertHealthy(t testing.TB) {
	t.Helper()
	c := ts.dial(t)
	defer c.close()
	r := c.do(t, get(ts.path("transport=polling")))
	if r.status != 200 || !bytes.HasPrefix(r.body, []byte(`0{"sid":"`)) {
		t.Fatalf("fresh handshake after the test: %d %q", r.status, r.body)
	}
	if p := ts.srv.Loop().Stats().Panics; p != 0 {
		t.Fatalf("%d panics recovered", p)
	}
}

// path is the engine path with EIO=4 and the given query appended.
func (ts *testServer) path(query string) string {
	p := ts.srv.Config().Path + "?EIO=4"
	if query != "" {
		p += "&" + query
	}
	return p
}

// --- raw HTTP client --------------------------------------------------------

type httpConn struct {
	conn net.Conn
	br   *bufio.Reader
}

// dial opens a TCP connection to the server, closed at the end of the test.
func (ts *testServer) dial(t testing.TB) *httpConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", ts.addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &httpConn{conn: conn, br: bufio.NewReader(conn)}
}

func (c *httpConn) close() { c.conn.Close() }

// reset closes the connection with a TCP RST (SO_LINGER 0).
func (c *httpConn) reset() {
	if tc, ok := c.conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.conn.Close()
}

type response struct {
	status int
	header http.Header
	body   []byte
	close  bool // Connection: close
}

func (c *httpConn) write(t testing.TB, raw string) {
	t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.conn, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// writeBytewise writes raw one byte per write (TCP_NODELAY is on by default
// in Go), pausing now and then so the server sees many small reads.
func (c *httpConn) writeBytewise(t testing.TB, raw []byte) {
	t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	for i := range raw {
		if _, err := c.conn.Write(raw[i : i+1]); err != nil {
			t.Fatalf("write byte %d: %v", i, err)
		}
		if i%8 == 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

func (c *httpConn) readResponse() (*response, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	hr, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, err
	}
	defer hr.Body.Close()
	body, err := io.ReadAll(hr.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: hr.StatusCode, header: hr.Header, body: body, close: hr.Close}, nil
}

func (c *httpConn) read(t testing.TB) *response {
	t.Helper()
	r, err := c.readResponse()
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return r
}

// do writes a request and reads its response.
func (c *httpConn) do(t testing.TB, raw string) *response {
	t.Helper()
	c.write(t, raw)
	return c.read(t)
}

type result struct {
	r   *response
	err error
}

// async writes the request and reads its response on another goroutine.
func (c *httpConn) async(t testing.TB, raw string) <-chan result {
	t.Helper()
	c.write(t, raw)
	ch := make(chan result, 1)
	go func() {
		r, err := c.readResponse()
		ch <- result{r, err}
	}()
	return ch
}

// expectEOF asserts that the server closed the connection (after whatever
// it still had to send: nothing is expected).
func (c *httpConn) expectEOF(t testing.TB) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	b, err := c.br.ReadByte()
	if err == nil {
		t.Fatalf("expected the connection to be closed, read %q", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("expected the connection to be closed; it is still open")
	}
}

func wait(t testing.TB, ch <-chan result) *response {
	t.Helper()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("held request: %v", res.err)
		}
		return res.r
	case <-time.After(ioTimeout):
		t.Fatal("held request never answered")
		return nil
	}
}

// get builds a GET request; each extra header is one "Name: value" line.
func get(target string, headers ...string) string {
	return request("GET", target, "", headers...)
}

// post builds a POST with a text/plain body unless a Content-Type is given.
func post(target, body string, headers ...string) string {
	hasCT := false
	for _, h := range headers {
		if strings.HasPrefix(strings.ToLower(h), "content-type:") {
			hasCT = true
		}
	}
	if !hasCT {
		headers = append(headers, "Content-Type: text/plain;charset=UTF-8")
	}
	return request("POST", target, body, headers...)
}

// request builds an HTTP/1.1 request; a body gets a Content-Length.
func request(method, target, body string, headers ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" || method == "POST" || method == "PUT" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// --- Engine.IO over polling --------------------------------------------------

type handshakeInfo struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
	keys         []string
}

// parseOpen parses an open packet `0{...}` and checks it has exactly the five
// keys of Node's handshake.
func parseOpen(t testing.TB, p []byte) handshakeInfo {
	t.Helper()
	if len(p) == 0 || p[0] != '0' {
		t.Fatalf("not an open packet: %q", p)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(p[1:], &raw); err != nil {
		t.Fatalf("open packet JSON %q: %v", p, err)
	}
	var hs handshakeInfo
	if err := json.Unmarshal(p[1:], &hs); err != nil {
		t.Fatalf("open packet JSON %q: %v", p, err)
	}
	for k := range raw {
		hs.keys = append(hs.keys, k)
	}
	want := map[string]bool{"sid": true, "upgrades": true, "pingInterval": true, "pingTimeout": true, "maxPayload": true}
	if len(raw) != len(want) {
		t.Fatalf("open packet keys %v, want exactly sid, upgrades, pingInterval, pingTimeout, maxPayload", hs.keys)
	}
	for k := range raw {
		if !want[k] {
			t.Fatalf("open packet has unexpected key %q: %s", k, p)
		}
	}
	if hs.SID == "" {
		t.Fatalf("open packet without sid: %s", p)
	}
	return hs
}

// handshake opens a polling session on a fresh connection.
func (ts *testServer) handshake(t testing.TB) handshakeInfo {
	t.Helper()
	c := ts.dial(t)
	defer c.close()
	r := c.do(t, get(ts.path("transport=polling&t=abc")))
	if r.status != 200 {
		t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	return parseOpen(t, r.body)
}

func (ts *testServer) sidPath(sid string) string {
	return ts.path("transport=polling&sid=" + sid)
}

// poll sends one GET on a fresh connection and waits for the answer.
func (ts *testServer) poll(t testing.TB, sid string) *response {
	t.Helper()
	c := ts.dial(t)
	defer c.close()
	return c.do(t, get(ts.sidPath(sid)))
}

// pollAsync starts a GET on a fresh connection.
func (ts *testServer) pollAsync(t testing.TB, sid string) (*httpConn, <-chan result) {
	t.Helper()
	c := ts.dial(t)
	return c, c.async(t, get(ts.sidPath(sid)))
}

// send POSTs a payload on a fresh connection.
func (ts *testServer) send(t testing.TB, sid, body string, headers ...string) *response {
	t.Helper()
	c := ts.dial(t)
	defer c.close()
	return c.do(t, post(ts.sidPath(sid), body, headers...))
}

// mustSend POSTs a payload and expects 200 "ok".
func (ts *testServer) mustSend(t testing.TB, sid, body string) {
	t.Helper()
	r := ts.send(t, sid, body)
	if r.status != 200 || string(r.body) != "ok" {
		t.Fatalf("POST %q: %d %q", body, r.status, r.body)
	}
}

// closeSession sends the close packet and waits until the session is gone.
func (ts *testServer) closeSession(t testing.TB, sid string) {
	t.Helper()
	ts.mustSend(t, sid, "1")
}

// expectOK checks a polling GET answer: 200 with the exact headers and body.
func expectPollBody(t testing.TB, r *response, want string) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("GET: status %d, body %q; want 200 %q", r.status, r.body, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Fatalf("GET: Content-Type %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("GET: Cache-Control %q", cc)
	}
	if string(r.body) != want {
		t.Fatalf("GET body %q, want %q", r.body, want)
	}
}

// expectError checks an Engine.IO JSON error answer.
func expectError(t testing.TB, r *response, status, code int, message string) {
	t.Helper()
	want := fmt.Sprintf(`{"code":%d,"message":%q}`, code, message)
	if r.status != status || string(r.body) != want {
		t.Fatalf("got %d %q, want %d %s", r.status, r.body, status, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q, want application/json", ct)
	}
	if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
		t.Fatalf("error Content-Length %q, want %d", cl, len(want))
	}
}

// --- WebSocket client -----------------------------------------------------

type wsConn struct {
	*httpConn
	resp *response // the 101
}

// wsRequest builds an upgrade request for target (with testutil.WSKey).
func wsRequest(target string, headers ...string) string {
	return testutil.WSUpgradeRequest(target, headers...)
}

// dialWS sends an upgrade request with query and expects 101.
func (ts *testServer) dialWS(t testing.TB, query string, headers ...string) *wsConn {
	t.Helper()
	c := ts.dial(t)
	r := c.do(t, wsRequest(ts.path(query), headers...))
	if r.status != 101 {
		t.Fatalf("upgrade: status %d %q", r.status, r.body)
	}
	if got := r.header.Get("Sec-WebSocket-Accept"); got != testutil.WSAccept {
		t.Fatalf("Sec-WebSocket-Accept %q", got)
	}
	return &wsConn{httpConn: c, resp: r}
}

// openWS opens a session directly over WebSocket and reads its open packet.
func (ts *testServer) openWS(t testing.TB, headers ...string) (*wsConn, handshakeInfo) {
	t.Helper()
	w := ts.dialWS(t, "transport=websocket", headers...)
	op, p := w.readFrame(t)
	if op != ws.OpText {
		t.Fatalf("first frame opcode %v", op)
	}
	return w, parseOpen(t, p)
}

// frame builds one masked client frame. b0 is FIN|RSV|opcode.
func frame(b0 byte, payload []byte) []byte {
	return frameMask(b0, payload, true)
}

func frameMask(b0 byte, payload []byte, masked bool) []byte {
	out := []byte{b0}
	mbit := byte(0)
	if masked {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mbit|byte(n))
	case n <= 0xffff:
		out = append(out, mbit|126, byte(n>>8), byte(n))
	default:
		out = append(out, mbit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	out = append(out, mask[:]...)
	start := len(out)
	out = append(out, payload...)
	ws.Cipher(out[start:], mask, 0)
	return out
}

const (
	finText   = 0x81
	finBinary = 0x82
	finClose  = 0x88
	finPing   = 0x89
	finPong   = 0x8A
)

func (w *wsConn) writeRaw(t testing.TB, b []byte) {
	t.Helper()
	_ = w.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := w.conn.Write(b); err != nil {
		t.Fatalf("ws write: %v", err)
	}
}

func (w *wsConn) sendText(t testing.TB, s string) {
	t.Helper()
	w.writeRaw(t, frame(finText, []byte(s)))
}

func (w *wsConn) sendBinary(t testing.TB, b []byte) {
	t.Helper()
	w.writeRaw(t, frame(finBinary, b))
}

// readFrameErr reads one server frame: it must be final, unmasked and have
// no RSV bits.
func (w *wsConn) readFrameErr(d time.Duration) (ws.OpCode, []byte, error) {
	_ = w.conn.SetReadDeadline(time.Now().Add(d))
	h, p, err := testutil.ReadFrame(w.br, 64<<20)
	if err != nil {
		return 0, nil, err
	}
	if h.Masked || h.Rsv != 0 || !h.Fin {
		return 0, nil, fmt.Errorf("bad server frame header %+v", h)
	}
	return h.OpCode, p, nil
}

func (w *wsConn) readFrame(t testing.TB) (ws.OpCode, []byte) {
	t.Helper()
	op, p, err := w.readFrameErr(ioTimeout)
	if err != nil {
		t.Fatalf("ws read: %v", err)
	}
	return op, p
}

func (w *wsConn) expectText(t testing.TB, want string) {
	t.Helper()
	op, p := w.readFrame(t)
	if op != ws.OpText || string(p) != want {
		t.Fatalf("got frame %v %q, want text %q", op, trunc(p), trunc([]byte(want)))
	}
}

func (w *wsConn) expectBinary(t testing.TB, want []byte) {
	t.Helper()
	op, p := w.readFrame(t)
	if op != ws.OpBinary || !bytes.Equal(p, want) {
		t.Fatalf("got frame %v %q, want binary %q", op, trunc(p), trunc(want))
	}
}

// expectClose reads the next frame, which must be a close frame with code
// (1005: no status code), and then the end of the connection.
func (w *wsConn) expectClose(t testing.TB, code ws.StatusCode) {
	t.Helper()
	op, p := w.readFrame(t)
	if op != ws.OpClose {
		t.Fatalf("got frame %v %q, want close %d", op, trunc(p), code)
	}
	if got := testutil.CloseCode(p); got != code {
		t.Fatalf("close code %d (payload %q), want %d", got, p, code)
	}
	w.expectEOF(t)
}

func trunc(p []byte) []byte {
	if len(p) > 64 {
		return append(p[:64:64], "…"...)
	}
	return p
}

// --- leak accounting (hygiene) -------------------------------------------------

// checkResources waits (up to wait) until the server holds no more than
// sessions sessions and conns open connections, the process no more fds and
// goroutines than base, and fails the test otherwise. It also fails at once
// if the server recovered a panic.
func (ts *testServer) checkResources(t testing.TB, base testutil.Resources, sessions int, conns int64, wait time.Duration) {
	t.Helper()
	ts.probe.CheckResources(t, base, sessions, conns, wait, nil)
	if p := ts.srv.Loop().Stats().Panics; p != 0 {
		t.Fatalf("%d panics recovered by the server", p)
	}
}

// assertServing checks that the server still answers a fresh handshake and
// echoes over it, and closes that session again (unlike assertHealthy, which
// leaves it open and so cannot precede a zero-session check).
func (ts *testServer) assertServing(t testing.TB) {
	t.Helper()
	hs := ts.handshake(t)
	ts.mustSend(t, hs.SID, "4still serving")
	expectPollBody(t, ts.poll(t, hs.SID), "4still serving")
	ts.closeSession(t, hs.SID)
	if p := ts.srv.Loop().Stats().Panics; p != 0 {
		t.Fatalf("%d panics recovered", p)
	}
}
