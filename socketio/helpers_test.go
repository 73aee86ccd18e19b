package socketio_test

// Test harness for black-box tests of the Socket.IO server over real TCP on
// 127.0.0.1: an in-process server with leak checks, a minimal Socket.IO
// client over WebSocket (gobwas/ws framing, a reader goroutine that answers
// pings and reassembles binary attachments) and one over HTTP long-polling.
// What the engine tests share with these (polling for a condition, server
// lifecycle, leak accounting, memory readings, frame reading) is in
// internal/testutil.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"sio/internal/testutil"
	"sio/socketio"
)

const (
	ioTimeout = testutil.IOTimeout // bound on every wait for the server, so a hung server fails one test
	numLoops  = 2
)

// --- server -----------------------------------------------------------------

// testServer is a Socket.IO server running for one test; Shutdown (from
// testutil.Serving) closes it early.
type testServer struct {
	*testutil.Serving
	srv   *socketio.Server
	addr  string
	probe testutil.Probe
	// goroutines with the server running and every loop started, no client.
	baseGoroutines int
}

// startServer runs a Socket.IO server on 127.0.0.1:0 with numLoops loops
// until the test ends. At cleanup it is closed, Serve must return, no panic
// may have been recovered and the goroutine count must come back to what it
// was before the server started.
func startServer(t testing.TB, opts socketio.Options) *testServer {
	t.Helper()
	before := runtime.NumGoroutine()
	if opts.Listen.Addr == "" {
		opts.Listen.Addr = "127.0.0.1:0"
	}
	if opts.Listen.NumLoops == 0 {
		opts.Listen.NumLoops = numLoops
	}
	lw := testutil.NewLogWriter(t)
	if opts.Logger == nil {
		opts.Logger = lw.Logger()
	}
	srv := socketio.NewServer(opts)
	eng := srv.Engine()
	ts := &testServer{Serving: testutil.Serve(t, srv), srv: srv, addr: eng.Loop().Addr().String(), probe: testutil.Probe{
		Sessions: eng.Count,
		Conns:    func() int64 { return eng.Loop().Stats().Open },
		Loops:    func() int { return len(eng.Loop().Loops()) },
	}}
	t.Cleanup(func() {
		if err := ts.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		lw.Stop()
		if p := srv.Engine().Stats().Conn.Panics; p != 0 {
			t.Errorf("%d panics recovered by the server", p)
		}
		testutil.WaitGoroutines(t, before)
	})
	// Every loop serves a connection first (a loop starts its timer
	// goroutine on first use); then the goroutine baseline is taken.
	ts.baseGoroutines = ts.probe.WarmUp(t, ts.addr, opts.Listen.NumLoops)
	return ts
}

// checkNoLeaks waits until no session and no connection is left and the
// goroutine count is back to the server's baseline. Call it once every client
// of the test has closed.
func (ts *testServer) checkNoLeaks(t testing.TB) {
	t.Helper()
	ts.probe.CheckNoLeaks(t, ts.baseGoroutines)
}

// noPanics fails the test if the server recovered a panic.
func (ts *testServer) noPanics(t testing.TB) {
	t.Helper()
	if p := ts.srv.Engine().Stats().Conn.Panics; p != 0 {
		t.Fatalf("%d panics recovered by the server", p)
	}
}

// connections collects the sockets of a namespace as they connect.
func connections(nsp *socketio.Namespace) <-chan *socketio.Socket {
	ch := make(chan *socketio.Socket, 64)
	nsp.OnConnection(func(s *socketio.Socket) { ch <- s })
	return ch
}

// disconnectReasons collects the disconnect reason of every socket of nsp.
func disconnectReasons(nsp *socketio.Namespace) <-chan string {
	ch := make(chan string, 64)
	nsp.OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(reason string) { ch <- reason })
	})
	return ch
}

// --- packets ----------------------------------------------------------------

// packet is one Engine.IO packet received by a test client. Socket.IO
// messages are parsed, with their binary attachments collected.
type packet struct {
	frame string // the text frame (or polling segment) as received, e.g. `42["x"]` or `2`
	eio   byte   // Engine.IO type: '2' ping, '4' message, '6' noop, 'b' binary without a header
	typ   int    // Socket.IO type for messages, else -1
	nsp   string
	id    int64 // ack id, -1 when absent
	data  string
	att   [][]byte
}

func (p *packet) String() string {
	if p == nil {
		return "<nil>"
	}
	s := p.frame
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if len(p.att) > 0 {
		s += fmt.Sprintf(" +%d attachments %x", len(p.att), p.att)
	}
	return s
}

// args parses the JSON array payload.
func (p *packet) args(t testing.TB) []json.RawMessage {
	t.Helper()
	var a []json.RawMessage
	if err := json.Unmarshal([]byte(p.data), &a); err != nil {
		t.Fatalf("packet %s: payload is not an array: %v", p, err)
	}
	return a
}

// event is the event name of an EVENT packet.
func (p *packet) event(t testing.TB) string {
	t.Helper()
	a := p.args(t)
	var name string
	if len(a) == 0 || json.Unmarshal(a[0], &name) != nil {
		t.Fatalf("packet %s has no event name", p)
	}
	return name
}

// parseMessage parses the Socket.IO packet of an Engine.IO message frame
// `4<type>[<n>-][<nsp>,][<id>][<json>]`; n is the announced attachment count.
func parseMessage(frame string) (p *packet, n int, err error) {
	p = &packet{frame: frame, eio: '4', typ: -1, nsp: "/", id: -1}
	s := frame[1:]
	if s == "" || s[0] < '0' || s[0] > '6' {
		return p, 0, fmt.Errorf("bad Socket.IO type in %q", frame)
	}
	p.typ = int(s[0] - '0')
	i := 1
	if p.typ == 5 || p.typ == 6 {
		j := strings.IndexByte(s[i:], '-')
		if j < 0 {
			return p, 0, fmt.Errorf("no attachment count in %q", frame)
		}
		n, err = strconv.Atoi(s[i : i+j])
		if err != nil {
			return p, 0, fmt.Errorf("attachment count in %q: %v", frame, err)
		}
		i += j + 1
	}
	if i < len(s) && s[i] == '/' {
		j := strings.IndexByte(s[i:], ',')
		if j < 0 {
			p.nsp = s[i:]
			i = len(s)
		} else {
			p.nsp = s[i : i+j]
			i += j + 1
		}
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > start {
		p.id, _ = strconv.ParseInt(s[start:i], 10, 64)
	}
	p.data = s[i:]
	return p, n, nil
}

// assembler turns frames into packets, holding a binary packet until its
// attachments have arrived.
type assembler struct {
	pending *packet
	want    int
}

// text handles a text frame; it returns the packet when complete.
func (a *assembler) text(frame string) *packet {
	if frame == "" {
		return &packet{frame: frame, typ: -1, id: -1}
	}
	if frame[0] != '4' {
		return &packet{frame: frame, eio: frame[0], typ: -1, id: -1}
	}
	p, n, err := parseMessage(frame)
	if err != nil {
		return p
	}
	if n > 0 {
		a.pending, a.want = p, n
		return nil
	}
	return p
}

// binary handles a binary message.
func (a *assembler) binary(b []byte) *packet {
	if a.pending == nil {
		return &packet{eio: 'b', typ: -1, id: -1, att: [][]byte{b}}
	}
	p := a.pending
	p.att = append(p.att, b)
	if len(p.att) < a.want {
		return nil
	}
	a.pending = nil
	return p
}

// connectFrame is the CONNECT packet for nsp with an optional auth payload.
func connectFrame(nsp, auth string) string {
	f := "40"
	if nsp != "/" {
		f += nsp + ","
	}
	return f + auth
}

// connectAck checks a CONNECT ack for nsp and returns its sid and pid.
func connectAck(t testing.TB, p *packet, nsp string) (sid, pid string) {
	t.Helper()
	if p.typ != 0 || p.nsp != nsp {
		t.Fatalf("want the CONNECT ack of %s, got %s", nsp, p)
	}
	var ack map[string]any
	if err := json.Unmarshal([]byte(p.data), &ack); err != nil {
		t.Fatalf("CONNECT ack %s: %v", p, err)
	}
	sid, _ = ack["sid"].(string)
	pid, _ = ack["pid"].(string)
	if sid == "" {
		t.Fatalf("CONNECT ack without sid: %s", p)
	}
	return sid, pid
}

// --- WebSocket client -------------------------------------------------------

type openInfo struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

// wsClient is a Socket.IO client over a WebSocket opened directly
// (`transport=websocket`). A reader goroutine answers pings (unless noPong is
// set) and queues every other packet, pings included, on in.
type wsClient struct {
	conn net.Conn
	r    io.Reader
	open openInfo

	wmu    sync.Mutex
	in     chan *packet
	done   chan struct{} // closed when the reader ends
	noPong atomic.Bool

	// Set before done is closed.
	gotClose  bool // a close frame was received
	closeCode ws.StatusCode
	readErr   error
}

// dialWS opens a WebSocket session; query is appended to the endpoint and
// header is sent with the upgrade request.
func dialWS(addr, query string, header http.Header) (*wsClient, error) {
	d := ws.Dialer{Timeout: ioTimeout}
	if header != nil {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	conn, br, _, err := d.Dial(ctx, "ws://"+addr+"/socket.io/?EIO=4&transport=websocket"+query)
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, r: conn, in: make(chan *packet, 1<<14), done: make(chan struct{})}
	if br != nil {
		c.r = br
	}
	_ = conn.SetReadDeadline(time.Now().Add(ioTimeout))
	op, p, err := c.readFrame()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("reading the open packet: %w", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	if op != ws.OpText || len(p) == 0 || p[0] != '0' {
		conn.Close()
		return nil, fmt.Errorf("first frame %v %q is not an open packet", op, p)
	}
	if err := json.Unmarshal(p[1:], &c.open); err != nil {
		conn.Close()
		return nil, fmt.Errorf("open packet %q: %w", p, err)
	}
	go c.readLoop()
	return c, nil
}

// ws opens a WebSocket client that is closed at the end of the test.
func (ts *testServer) ws(t testing.TB) *wsClient {
	t.Helper()
	return ts.wsWith(t, "", nil)
}

func (ts *testServer) wsWith(t testing.TB, query string, header http.Header) *wsClient {
	t.Helper()
	c, err := dialWS(ts.addr, query, header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.close)
	return c
}

// wsConnected opens a WebSocket client and connects it to nsp; it returns
// the client and the socket id of the CONNECT ack.
func (ts *testServer) wsConnected(t testing.TB, nsp string) (*wsClient, string) {
	t.Helper()
	c := ts.ws(t)
	return c, c.connect(t, nsp, "")
}

// close closes the TCP connection and waits for the reader to end.
func (c *wsClient) close() {
	c.conn.Close()
	<-c.done
}

// readFrame reads one whole message (reassembling fragments), answering
// WebSocket pings.
func (c *wsClient) readFrame() (ws.OpCode, []byte, error) {
	var msg []byte
	var msgOp ws.OpCode
	for {
		h, p, err := testutil.ReadFrame(c.r, 64<<20)
		if err != nil {
			return 0, nil, err
		}
		switch h.OpCode {
		case ws.OpPing:
			_ = c.write(ws.OpPong, p)
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			return ws.OpClose, p, nil
		case ws.OpContinuation:
			msg = append(msg, p...)
		default:
			msg, msgOp = p, h.OpCode
		}
		if h.Fin {
			return msgOp, msg, nil
		}
	}
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	var asm assembler
	for {
		op, p, err := c.readFrame()
		if err != nil {
			c.readErr = err
			return
		}
		switch op {
		case ws.OpClose:
			c.gotClose = true
			c.closeCode = testutil.CloseCode(p)
			// As a browser does: answer the close frame, then close TCP.
			_ = c.write(ws.OpClose, nil)
			c.conn.Close()
			return
		case ws.OpBinary:
			if pk := asm.binary(p); pk != nil {
				c.in <- pk
			}
		case ws.OpText:
			if string(p) == "2" && !c.noPong.Load() {
				_ = c.write(ws.OpText, []byte("3"))
			}
			if pk := asm.text(string(p)); pk != nil {
				c.in <- pk
			}
		}
	}
}

func (c *wsClient) write(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	return wsutil.WriteClientMessage(c.conn, op, p)
}

// send writes a text frame, e.g. `42["x"]`.
func (c *wsClient) send(t testing.TB, frame string) {
	t.Helper()
	if err := c.write(ws.OpText, []byte(frame)); err != nil {
		t.Fatalf("send %.80q: %v", frame, err)
	}
}

// sendBin writes a binary frame.
func (c *wsClient) sendBin(t testing.TB, b []byte) {
	t.Helper()
	if err := c.write(ws.OpBinary, b); err != nil {
		t.Fatalf("send binary: %v", err)
	}
}

// emit writes a text frame followed by its binary attachments.
func (c *wsClient) emit(t testing.TB, frame string, attachments ...[]byte) {
	t.Helper()
	c.send(t, frame)
	for _, a := range attachments {
		c.sendBin(t, a)
	}
}

// sendLenient writes frames and ignores write errors (the server may already
// have closed the connection).
func (c *wsClient) sendLenient(frame string, attachments ...[]byte) {
	_ = c.write(ws.OpText, []byte(frame))
	for _, a := range attachments {
		_ = c.write(ws.OpBinary, a)
	}
}

// nextFrameWithin returns the next packet, pings included, or nil after d.
func (c *wsClient) nextFrameWithin(d time.Duration) *packet {
	select {
	case p := <-c.in:
		return p
	default:
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case p := <-c.in:
		return p
	case <-c.done:
		// Everything the reader got is already queued.
		select {
		case p := <-c.in:
			return p
		default:
			return nil
		}
	case <-timer.C:
		return nil
	}
}

// nextFrame returns the next packet, pings included.
func (c *wsClient) nextFrame(t testing.TB) *packet {
	t.Helper()
	p := c.nextFrameWithin(ioTimeout)
	if p == nil {
		t.Fatalf("no packet received (closed: %v, read error: %v)", c.isClosed(), c.err())
	}
	return p
}

// nextWithin returns the next packet that is not a ping, or nil after d.
func (c *wsClient) nextWithin(d time.Duration) *packet {
	deadline := time.Now().Add(d)
	for {
		p := c.nextFrameWithin(time.Until(deadline))
		if p == nil || p.frame != "2" {
			return p
		}
	}
}

// next returns the next packet that is not a ping.
func (c *wsClient) next(t testing.TB) *packet {
	t.Helper()
	p := c.nextWithin(ioTimeout)
	if p == nil {
		t.Fatalf("no packet received (closed: %v, read error: %v)", c.isClosed(), c.err())
	}
	return p
}

// expect reads the next packet (pings skipped) and checks its frame.
func (c *wsClient) expect(t testing.TB, frame string) *packet {
	t.Helper()
	p := c.next(t)
	if p.frame != frame {
		t.Fatalf("got %s, want %s", p, frame)
	}
	return p
}

// expectNone asserts that no packet but pings arrives for d.
func (c *wsClient) expectNone(t testing.TB, d time.Duration) {
	t.Helper()
	if p := c.nextWithin(d); p != nil {
		t.Fatalf("unexpected packet %s", p)
	}
}

// connect sends a CONNECT for nsp and returns the sid of the ack.
func (c *wsClient) connect(t testing.TB, nsp, auth string) string {
	t.Helper()
	c.send(t, connectFrame(nsp, auth))
	sid, _ := connectAck(t, c.next(t), nsp)
	return sid
}

func (c *wsClient) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *wsClient) err() error {
	if !c.isClosed() {
		return nil
	}
	return c.readErr
}

// waitClosed waits until the server has closed the connection (close frame
// or EOF). Packets received before stay queued.
func (c *wsClient) waitClosed(t testing.TB) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(ioTimeout):
		t.Fatal("the server did not close the connection")
	}
	if !c.gotClose && c.readErr != nil && !errors.Is(c.readErr, io.EOF) && !isConnReset(c.readErr) {
		t.Fatalf("connection ended with %v, want a close by the server", c.readErr)
	}
}

func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && strings.Contains(err.Error(), "reset")
}

// drain returns every queued packet that is not a ping.
func (c *wsClient) drain() []*packet {
	var out []*packet
	for {
		select {
		case p := <-c.in:
			if p.frame != "2" {
				out = append(out, p)
			}
		default:
			return out
		}
	}
}

// --- polling client -----------------------------------------------------------

// pollClient is a Socket.IO client over HTTP long-polling, each request on a
// fresh TCP connection. It polls only when asked to (so a test controls when
// a GET is pending) and answers pings found in GET bodies with a POST.
type pollClient struct {
	addr  string
	open  openInfo
	hc    *http.Client
	asm   assembler
	queue []*packet
}

// polling opens a polling session, closed at the end of the test.
func (ts *testServer) polling(t testing.TB) *pollClient {
	t.Helper()
	p := &pollClient{addr: ts.addr, hc: &http.Client{
		Timeout:   ioTimeout,
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
	resp, err := p.hc.Get("http://" + ts.addr + "/socket.io/?EIO=4&transport=polling&t=x")
	if err != nil {
		t.Fatalf("polling handshake: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) == 0 || body[0] != '0' {
		t.Fatalf("polling handshake: %d %q", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body[1:], &p.open); err != nil {
		t.Fatalf("open packet %q: %v", body, err)
	}
	t.Cleanup(func() {
		_, _ = p.postErr("1")
		p.hc.CloseIdleConnections()
	})
	return p
}

func (p *pollClient) url() string {
	return "http://" + p.addr + "/socket.io/?EIO=4&transport=polling&sid=" + p.open.SID
}

func (p *pollClient) postErr(body string) (int, error) {
	resp, err := p.hc.Post(p.url(), "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" {
		return resp.StatusCode, fmt.Errorf("POST %.80q: %d %q", body, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// post sends packets separated by \x1e; binary attachments go as `b<base64>`.
func (p *pollClient) post(t testing.TB, frame string, attachments ...[]byte) {
	t.Helper()
	body := frame
	for _, a := range attachments {
		body += "\x1eb" + base64.StdEncoding.EncodeToString(a)
	}
	if _, err := p.postErr(body); err != nil {
		t.Fatal(err)
	}
}

// poll sends one GET and queues the packets of its body (pings are answered
// and dropped). It returns the raw body.
func (p *pollClient) poll(t testing.TB) string {
	t.Helper()
	resp, err := p.hc.Get(p.url())
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET: %d %q", resp.StatusCode, b)
	}
	for _, seg := range strings.Split(string(b), "\x1e") {
		var pk *packet
		switch {
		case seg == "2":
			p.post(t, "3")
			continue
		case seg == "6":
			continue
		case strings.HasPrefix(seg, "b"):
			raw, err := base64.StdEncoding.DecodeString(seg[1:])
			if err != nil {
				t.Fatalf("bad base64 segment %q", seg)
			}
			pk = p.asm.binary(raw)
		default:
			pk = p.asm.text(seg)
		}
		if pk != nil {
			p.queue = append(p.queue, pk)
		}
	}
	return string(b)
}

// next returns the next packet, polling as needed.
func (p *pollClient) next(t testing.TB) *packet {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for len(p.queue) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no packet received over polling")
		}
		p.poll(t)
	}
	pk := p.queue[0]
	p.queue = p.queue[1:]
	return pk
}

func (p *pollClient) expect(t testing.TB, frame string) *packet {
	t.Helper()
	pk := p.next(t)
	if pk.frame != frame {
		t.Fatalf("got %s, want %s", pk, frame)
	}
	return pk
}

func (p *pollClient) connect(t testing.TB, nsp, auth string) string {
	t.Helper()
	p.post(t, connectFrame(nsp, auth))
	sid, _ := connectAck(t, p.next(t), nsp)
	return sid
}

// --- small helpers -------------------------------------------------------------

// socketsByID waits for n connections on ch and indexes them by id.
func socketsByID(t testing.TB, ch <-chan *socketio.Socket, n int) map[string]*socketio.Socket {
	t.Helper()
	m := make(map[string]*socketio.Socket, n)
	for i := 0; i < n; i++ {
		s := testutil.Recv(t, ch)
		m[string(s.ID())] = s
	}
	return m
}

// argsStrings reads every argument of a as a string, for assertions.
func argsStrings(a *socketio.Args) []string {
	out := make([]string, a.Len())
	for i := range out {
		out[i] = string(a.Raw(i))
	}
	return out
}

// --- leak accounting (hygiene) -------------------------------------------------

// leftovers is what may remain of a server's connections at a check: that
// many Engine.IO sessions, TCP connections and sockets in each namespace
// checked, and the named rooms (besides the sockets' own).
type leftovers struct {
	sessions int
	conns    int64
	sockets  int
	rooms    []socketio.Room
}

// checkResources waits (up to wait) until the server holds no more than
// left (sessions, connections; exactly left.sockets sockets in each of nsps,
// "/" when none is given, and no adapter room but those sockets' own) and
// the process no more fds and goroutines than base. A recovered panic fails
// at once.
func (ts *testServer) checkResources(t testing.TB, base testutil.Resources, left leftovers, wait time.Duration, nsps ...*socketio.Namespace) {
	t.Helper()
	if len(nsps) == 0 {
		nsps = []*socketio.Namespace{ts.srv.Sockets()}
	}
	ts.probe.CheckResources(t, base, left.sessions, left.conns, wait, func() error {
		for _, nsp := range nsps {
			if n := nsp.Len(); n != left.sockets {
				return fmt.Errorf("namespace %s: %d sockets, want %d", nsp.Name(), n, left.sockets)
			}
			for _, r := range nsp.Adapter().Rooms() {
				if nsp.Socket(socketio.SocketID(r)) == nil && !slices.Contains(left.rooms, r) {
					return fmt.Errorf("namespace %s: room %q left behind (all rooms %v)", nsp.Name(), r, nsp.Adapter().Rooms())
				}
			}
		}
		return nil
	})
	st := ts.srv.Stats()
	if st.Engine.Conn.Panics != 0 || st.HandlerPanics != 0 {
		t.Fatalf("panics recovered: %d by the loops, %d in handlers", st.Engine.Conn.Panics, st.HandlerPanics)
	}
}
