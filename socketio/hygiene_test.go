package socketio_test

// Resource hygiene (issue 5): nothing a connection owned — rooms, timers,
// pending acks, buffers, map entries — survives it.
//
//   - TestBadSIOInputsLeakNothing repeats every row of BAD-INPUTS.md
//     §1d and checks fds, goroutines, sessions, connections, sockets and
//     rooms after each.
//   - The churn (connect, join rooms, acks pending both ways, disconnect in
//     every way) runs here with 500 cycles, race detector included, checking
//     everything but memory; hygiene_norace_test.go runs 20,000 cycles
//     without the race detector and checks RSS as well.
//   - TestHygieneDisconnectedClientsAreReleased checks at the object level that the
//     server keeps nothing of a client once it is gone.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"sio/engine"
	"sio/internal/testutil"
	"sio/socketio"
)

// skipBug marked known server bugs while they were open; they are fixed, so
// it now fails the test if the misbehaviour comes back.
func skipBug(t *testing.T, msg string) {
	t.Helper()
	t.Fatal("regression: " + msg)
}

// --- BAD-INPUTS §1d, repeated --------------------------------------------------------

// badSIOInput is one row of BAD-INPUTS.md §1d (the table of
// TestBadInputsCloseOnlyThatConnection, which is local to that test): frames
// are written in order, strings as text and []byte as binary frames.
type badSIOInput struct {
	name       string
	preConnect bool
	frames     []any
}

func badSIOInputs() []badSIOInput {
	digits := strings.Repeat("9", 1<<20)
	ph := func(num string) string { return `{"_placeholder":true,"num":` + num + `}` }
	return []badSIOInput{
		{name: "ack id of 1 MB of digits", frames: []any{"42" + digits + `["e"]`}},
		{name: "attachment count of 1 MB of digits", frames: []any{"45" + digits + `-["e",` + ph("0") + `]`}},
		{name: "100000 attachments", frames: []any{`45100000-["e",` + ph("0") + `]`, []byte{1}}},
		{name: "11 attachments", frames: []any{`4511-["e"]`}},
		{name: "empty attachment count", frames: []any{`45-["e"]`}},
		{name: "zero attachments (CVE-2026-69185)", frames: []any{`450-["e"]`, []byte{1}}},
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
		{name: "42{}", frames: []any{`42{}`}},
		{name: `42[{"toString":"foo"}]`, frames: []any{`42[{"toString":"foo"}]`}},
		{name: "invalid JSON after a valid prefix", frames: []any{`42["e"]]`}},
		{name: "ack id over 2^53", frames: []any{`429007199254740993["e"]`}},
		{name: "bad ack id (socket.io-protocol suite)", frames: []any{`42abc["message-with-ack",1,"2",{"3":[false]}]`}},
		{name: "unknown packet type 4abc", frames: []any{`4abc`}},
		{name: "attachment over MaxAttachmentBytes", frames: []any{`451-["e",` + ph("0") + `]`, make([]byte, 1<<20+1)}},
		{name: "attachments summing over MaxAttachmentBytes",
			frames: []any{`452-["e",` + ph("0") + `,` + ph("1") + `]`, make([]byte, 600<<10), make([]byte, 600<<10)}},
	}
}

// hygieneRounds is how often each §1d row runs: 200 times normally, fewer
// under -short or the race detector (which only needs to see the paths).
func hygieneRounds() int {
	switch {
	case testing.Short():
		return 20
	case testutil.RaceEnabled():
		return 20
	}
	return 200
}

func TestBadSIOInputsLeakNothing(t *testing.T) {
	ts := startServer(t, socketio.Options{
		Engine:             engine.Config{MaxHTTPBufferSize: 4 << 20},
		MaxAttachmentBytes: 1 << 20,
	})
	ts.srv.Of("/admin")
	reasons := disconnectReasons(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Values()...) })
		s.On("e", func(e *socketio.Event) { _ = e.Ack("accepted") })
	})
	base0 := testutil.Snapshot(t)
	bystander, err := dialWS(ts.addr, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	bystanderID := bystander.connect(t, "/", "")
	t.Cleanup(bystander.close)
	rounds := hygieneRounds()
	base := testutil.Snapshot(t)
	inSubtest := base
	inSubtest.Goroutines++ // t.Run runs the subtest on a goroutine of its own
	for _, in := range badSIOInputs() {
		t.Run(in.name, func(t *testing.T) {
			closed0 := ts.srv.Stats().Engine.Closed[engine.ReasonForcedClose]
			for i := 0; i < rounds; i++ {
				c, err := dialWS(ts.addr, "", nil)
				if err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
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
				c.close()
				if left := c.drain(); len(left) != 0 {
					t.Fatalf("round %d: the server answered %v", i, left)
				}
				if !in.preConnect {
					if r := testutil.Recv(t, reasons); r != socketio.ReasonForcedClose {
						t.Fatalf("round %d: reason %q, want %q", i, r, socketio.ReasonForcedClose)
					}
				}
			}
			// Every hostile session was closed by the server ("forced close").
			if n := ts.srv.Stats().Engine.Closed[engine.ReasonForcedClose] - closed0; n != int64(rounds) {
				t.Errorf("sessions closed as %q: %d, want %d (all %v)", engine.ReasonForcedClose, n, rounds, ts.srv.Stats().Engine.Closed)
			}
			// The server still serves everybody else, and holds nothing
			// of the hostile connections: only the bystander remains.
			bystander.send(t, `421["echo","alive"]`)
			bystander.expect(t, `431["alive"]`)
			ts.checkResources(t, inSubtest, leftovers{sessions: 1, conns: 1, sockets: 1}, 5*time.Second)
			if n := ts.srv.Of("/admin").Len(); n != 0 {
				t.Fatalf("%d sockets left in /admin", n)
			}
		})
		if t.Failed() {
			break
		}
	}
	if rs := ts.srv.Sockets().Adapter().Rooms(); len(rs) != 1 || rs[0] != socketio.Room(bystanderID) {
		t.Fatalf("rooms %v, want only the bystander's own", rs)
	}
	bystander.close()
	ts.checkResources(t, base0, leftovers{}, 5*time.Second, ts.srv.Sockets(), ts.srv.Of("/admin"))
	t.Logf("%d rounds of %d rows; %v at the end", rounds, len(badSIOInputs()), testutil.Snapshot(t))
}

// --- churn ---------------------------------------------------------------------------

// churnStats counts what the churn server saw.
type churnStats struct {
	connected    atomic.Int64
	disconnected atomic.Int64
	collected    atomic.Int64 // sockets the garbage collector has reclaimed
	pendingOK    atomic.Int64 // server→client acks failed with ErrDisconnected, as they must
	pendingOther atomic.Int64 // ... answered or failed otherwise (never expected)
	noack        atomic.Int64 // client events with an ack id the server never answers
	joined       atomic.Int64

	mu      sync.Mutex
	reasons map[string]int64
}

func (st *churnStats) String() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return fmt.Sprintf("connected %d, disconnected %d %v, joins %d, pending acks failed with ErrDisconnected %d (other %d), "+
		"unanswered client acks %d, sockets collected %d", st.connected.Load(), st.disconnected.Load(), st.reasons,
		st.joined.Load(), st.pendingOK.Load(), st.pendingOther.Load(), st.noack.Load(), st.collected.Load())
}

// startChurnServer runs the server side of the churn: "join" joins the
// rooms named in its arguments, acks the count and then emits "pending"
// with an AckHandler and ackTimeout (none when 0), which the client never
// answers (so an ack is pending at every disconnect); "noack" is an event
// whose ack the server never sends; "bye" disconnects the socket with close.
func startChurnServer(t testing.TB, opts socketio.Options, ackTimeout time.Duration) (*testServer, *churnStats) {
	ts := startServer(t, opts)
	st := &churnStats{reasons: map[string]int64{}}
	ts.srv.OnConnection(func(s *socketio.Socket) {
		st.connected.Add(1)
		runtime.AddCleanup(s, func(n *atomic.Int64) { n.Add(1) }, &st.collected)
		s.On("join", func(e *socketio.Event) {
			rooms := make([]socketio.Room, 0, e.Len())
			for i := 0; i < e.Len(); i++ {
				r, err := e.String(i)
				if err != nil {
					return
				}
				rooms = append(rooms, socketio.Room(r))
			}
			s.Join(rooms...)
			st.joined.Add(1)
			_ = e.Ack(len(s.Rooms()) - 1)
			h := socketio.AckHandler(func(_ *socketio.Args, err error) {
				if errors.Is(err, socketio.ErrDisconnected) {
					st.pendingOK.Add(1)
				} else {
					st.pendingOther.Add(1)
				}
			})
			if ackTimeout > 0 {
				_ = s.Timeout(ackTimeout).Emit("pending", h)
			} else {
				_ = s.Emit("pending", h)
			}
		})
		s.On("noack", func(e *socketio.Event) {
			if e.HasAck() {
				st.noack.Add(1)
			}
		})
		s.On("bye", func(*socketio.Event) { s.Disconnect(true) })
		s.OnDisconnect(func(reason string) {
			st.disconnected.Add(1)
			st.mu.Lock()
			st.reasons[reason]++
			st.mu.Unlock()
		})
	})
	return ts, st
}

// churnWS is a synchronous Socket.IO client over WebSocket: no goroutine
// and one small read buffer, so that thousands of cycles cost the test
// process little of the memory being measured.
type churnWS struct {
	conn net.Conn
	br   *bufio.Reader
}

var errServerClosed = errors.New("closed by the server")

func dialChurnWS(d *net.Dialer, addr string) (*churnWS, error) {
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	_, err = io.WriteString(conn, testutil.WSUpgradeRequest("/socket.io/?EIO=4&transport=websocket"))
	c := &churnWS{conn: conn, br: bufio.NewReaderSize(conn, 2048)}
	if err == nil {
		var resp *http.Response
		if resp, err = http.ReadResponse(c.br, nil); err == nil && resp.StatusCode != 101 {
			err = fmt.Errorf("upgrade: status %d", resp.StatusCode)
		}
	}
	if err == nil {
		var open string
		if open, err = c.read(); err == nil && !strings.HasPrefix(open, `0{"sid":`) {
			err = fmt.Errorf("first frame %q is not an open packet", open)
		}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *churnWS) send(s string) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	return wsutil.WriteClientMessage(c.conn, ws.OpText, []byte(s))
}

// read returns the next text message, answering Engine.IO and WebSocket pings.
func (c *churnWS) read() (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	for {
		h, p, err := testutil.ReadFrame(c.br, 1<<20)
		if err != nil {
			return "", err
		}
		switch h.OpCode {
		case ws.OpClose:
			return "", errServerClosed
		case ws.OpPing:
			_ = wsutil.WriteClientMessage(c.conn, ws.OpPong, p)
		case ws.OpText:
			if string(p) == "2" {
				if err := c.send("3"); err != nil {
					return "", err
				}
				continue
			}
			return string(p), nil
		default:
			return "", fmt.Errorf("unexpected frame %v %q", h.OpCode, p)
		}
	}
}

// expect reads one message and checks it.
func (c *churnWS) expect(pred func(string) bool, what string) error {
	f, err := c.read()
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	if !pred(f) {
		return fmt.Errorf("got %.100q, want %s", f, what)
	}
	return nil
}

// churnPoll is a synchronous Socket.IO client over long-polling, with its
// requests on one keep-alive connection.
type churnPoll struct {
	d    *net.Dialer
	addr string
	conn net.Conn
	br   *bufio.Reader
	sid  string
}

func (p *churnPoll) close() {
	if p.conn != nil {
		p.conn.Close()
	}
}

func (p *churnPoll) request(method, body string) string {
	target := "/socket.io/?EIO=4&transport=polling"
	if p.sid != "" {
		target += "&sid=" + p.sid
	}
	req := method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	if method == "POST" {
		req += "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	return req + "\r\n" + body
}

// do sends one request on the keep-alive connection and returns the body
// of a 200 answer.
func (p *churnPoll) do(method, body string) (string, error) {
	if p.conn == nil {
		conn, err := p.d.Dial("tcp", p.addr)
		if err != nil {
			return "", err
		}
		p.conn, p.br = conn, bufio.NewReaderSize(conn, 2048)
	}
	_ = p.conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(p.conn, p.request(method, body)); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %d %q", method, resp.StatusCode, b)
	}
	if method == "POST" && string(b) != "ok" {
		return "", fmt.Errorf("POST answered %q", b)
	}
	return string(b), nil
}

// pollUntil GETs until every wanted segment was seen, answering pings.
func (p *churnPoll) pollUntil(want ...func(string) bool) (seen []string, err error) {
	found := make([]bool, len(want))
	for range 10 {
		body, err := p.do("GET", "")
		if err != nil {
			return seen, err
		}
		for _, seg := range strings.Split(body, "\x1e") {
			if seg == "2" {
				if _, err := p.do("POST", "3"); err != nil {
					return seen, err
				}
				continue
			}
			seen = append(seen, seg)
			for i, w := range want {
				if !found[i] && w(seg) {
					found[i] = true
				}
			}
		}
		all := true
		for _, f := range found {
			all = all && f
		}
		if all {
			return seen, nil
		}
	}
	return seen, fmt.Errorf("segments %q, still waiting after 10 GETs", seen)
}

func isConnectAck(f string) bool { return strings.HasPrefix(f, `40{"sid":"`) }
func isJoinAck(f string) bool    { return f == `431[3]` }

// isPending is the server's "pending" emit with an ack id: 42<id>["pending"].
func isPending(f string) bool {
	id, ok := strings.CutSuffix(strings.TrimPrefix(f, "42"), `["pending"]`)
	if !ok || id == "" || !strings.HasPrefix(f, "42") {
		return false
	}
	_, err := strconv.ParseUint(id, 10, 63)
	return err == nil
}

// Disconnect modes, in turn.
const (
	byClient = iota // the client closes (WebSocket close frame / polling close packet)
	byServer        // the server calls Disconnect(true)
	byDrop          // the transport drops (TCP reset / a held GET's connection closed)
)

// churnCycle runs one connect, join, acks, disconnect cycle; i picks the
// transport (every tenth cycle is polling), the disconnect mode (i%3) and
// the source address.
func churnCycle(addr string, i, worker int) error {
	d := testutil.SourceDialer(i)
	rooms := []string{"all", "w-" + strconv.Itoa(worker), "c-" + strconv.Itoa(i)}
	join, _ := json.Marshal(append([]string{"join"}, rooms...))
	mode := i % 3
	if i%10 == 9 {
		return churnPollCycle(d, addr, string(join), mode)
	}
	c, err := dialChurnWS(d, addr)
	if err != nil {
		return err
	}
	defer c.conn.Close()
	if err := c.send("40"); err != nil {
		return err
	}
	if err := c.expect(isConnectAck, "the CONNECT ack"); err != nil {
		return err
	}
	if err := c.send("421" + string(join)); err != nil {
		return err
	}
	// The join's ack, then the server's emit that waits for an ack.
	if err := c.expect(isJoinAck, "431[3]"); err != nil {
		return err
	}
	if err := c.expect(isPending, `42<id>["pending"]`); err != nil {
		return err
	}
	if err := c.send(`422["noack"]`); err != nil {
		return err
	}
	switch mode {
	case byClient:
		_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		if err := wsutil.WriteClientMessage(c.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
			return err
		}
		if _, err := c.read(); err != errServerClosed {
			return fmt.Errorf("after the client's close frame: %v, want the server's close frame", err)
		}
	case byServer:
		if err := c.send(`42["bye"]`); err != nil {
			return err
		}
		if err := c.expect(func(f string) bool { return f == "41" }, "the DISCONNECT packet"); err != nil {
			return err
		}
		if _, err := c.read(); err != errServerClosed && err != io.EOF {
			return fmt.Errorf("after DISCONNECT: %v, want the server's close", err)
		}
	case byDrop:
		if tc, ok := c.conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with a reset
		}
	}
	return nil
}

func churnPollCycle(d *net.Dialer, addr, join string, mode int) error {
	p := &churnPoll{d: d, addr: addr}
	defer p.close()
	open, err := p.do("GET", "")
	if err != nil {
		return err
	}
	var hs openInfo
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &hs) != nil || hs.SID == "" {
		return fmt.Errorf("polling handshake %q", open)
	}
	p.sid = hs.SID
	if _, err := p.do("POST", "40"); err != nil {
		return err
	}
	if _, err := p.pollUntil(isConnectAck); err != nil {
		return err
	}
	if _, err := p.do("POST", "421"+join); err != nil {
		return err
	}
	if _, err := p.pollUntil(isJoinAck, isPending); err != nil {
		return err
	}
	if _, err := p.do("POST", `422["noack"]`); err != nil {
		return err
	}
	switch mode {
	case byClient:
		_, err = p.do("POST", "1")
		return err
	case byServer:
		if _, err := p.do("POST", `42["bye"]`); err != nil {
			return err
		}
		_, err = p.pollUntil(func(f string) bool { return f == "41" }, func(f string) bool { return f == "1" })
		return err
	default:
		// A GET held on a second connection, which then goes away.
		held := &churnPoll{d: d, addr: addr, sid: p.sid}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			return err
		}
		held.conn = conn
		_, err = io.WriteString(conn, held.request("GET", ""))
		conn.Close()
		return err
	}
}

// runChurn runs cycles [from, to) on workers concurrent clients and
// returns how long it took.
func runChurn(t testing.TB, addr string, from, to, workers int) time.Duration {
	t.Helper()
	start := time.Now()
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for firstErr.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				if err := churnCycle(addr, i, w); err != nil {
					err = fmt.Errorf("cycle %d (worker %d): %w", i, w, err)
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		t.Fatal(*p)
	}
	return time.Since(start)
}

// churnParams size a churn run.
type churnParams struct {
	warmUp, cycles, workers int
	checkRSS                bool
	rssSlack                float64 // allowed RSS growth over the warmed-up baseline, 0.10 for 10%

	ackTimeout time.Duration    // of the server's pending emit; 0: none
	opts       socketio.Options // server options
	settle     time.Duration    // extra wait before the final memory reading
	// knownRetention names the bug that keeps disconnected clients
	// reachable in this configuration: an RSS over the limit then skips
	// the test (see skipBug) instead of failing it.
	knownRetention string
}

// churn runs the churn and checks that the server returns to its baseline.
//
// Methodology: a warm-up of p.warmUp cycles first brings every pool, map
// and runtime structure to its working size; once the server is idle again
// the baseline is taken (goroutines, fds, and RSS = VmRSS after runtime.GC
// and debug.FreeOSMemory). Then p.cycles cycles run, and after the server
// has settled (a few seconds at most: a client-closed polling session
// lingers 100 ms, graceful closes linger until the peer's FIN) the same
// figures must be back to the baseline: goroutines and fds at most equal,
// sessions, connections, sockets and rooms zero, every pending
// server→client ack failed with ErrDisconnected, and RSS within
// p.rssSlack of the baseline.
func churn(t *testing.T, p churnParams) {
	ts, st := startChurnServer(t, p.opts, p.ackTimeout)
	warm := runChurn(t, ts.addr, 0, p.warmUp, p.workers)
	ts.checkResources(t, testutil.Snapshot(t), leftovers{}, 5*time.Second) // idle again (goroutines/fds not compared yet)
	// Goroutines and fds once idle: the server's and the runtime's.
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if g := runtime.NumGoroutine(); g > ts.baseGoroutines {
			return fmt.Errorf("%d goroutines after the warm-up, server baseline %d", g, ts.baseGoroutines)
		}
		return nil
	})
	base := testutil.Snapshot(t)
	var baseRSS, baseHeap int64
	if p.checkRSS {
		time.Sleep(p.settle) // the same wait as before the final reading
		baseRSS = testutil.SettledRSS(t)
		baseHeap = int64(testutil.HeapInUse())
	}
	elapsed := runChurn(t, ts.addr, p.warmUp, p.warmUp+p.cycles, p.workers)
	total := int64(p.warmUp + p.cycles)
	ts.checkResources(t, base, leftovers{}, 10*time.Second)
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if d := st.disconnected.Load(); d != total || st.connected.Load() != total {
			return fmt.Errorf("%d connected, %d disconnected, want %d", st.connected.Load(), d, total)
		}
		if n := st.pendingOK.Load(); n != total {
			return fmt.Errorf("%d pending acks failed with ErrDisconnected, want %d", n, total)
		}
		return nil
	})
	if st.pendingOther.Load() != 0 || st.joined.Load() != total {
		t.Fatalf("churn counters: %v", st)
	}
	st.mu.Lock()
	reasons := fmt.Sprint(st.reasons)
	st.mu.Unlock()
	if !strings.Contains(reasons, socketio.ReasonTransportClose) || !strings.Contains(reasons, socketio.ReasonServerNamespaceDisconnect) ||
		!strings.Contains(reasons, socketio.ReasonTransportError) {
		t.Errorf("disconnect reasons %s: some disconnect mode never happened", reasons)
	}
	rate := float64(p.cycles) / elapsed.Seconds()
	t.Logf("churn: %d warm-up cycles in %v, %d cycles in %v (%.0f/s, %d workers); %v; now %v, baseline %v",
		p.warmUp, warm.Round(time.Millisecond), p.cycles, elapsed.Round(time.Millisecond), rate, p.workers, st, testutil.Snapshot(t), base)
	if !p.checkRSS {
		return
	}
	time.Sleep(p.settle)
	rss := testutil.SettledRSS(t)
	heap := int64(testutil.HeapInUse())
	runtime.GC()
	time.Sleep(100 * time.Millisecond) // let the cleanups of collected sockets run
	live := total - st.collected.Load()
	t.Logf("churn memory: RSS %s after the warm-up, %s after %d more cycles (%+.1f%%, limit %+.0f%%); heap in use %s → %s; "+
		"%d of %d sockets not yet collected", testutil.MiB(baseRSS), testutil.MiB(rss), p.cycles, 100*float64(rss-baseRSS)/float64(baseRSS),
		100*p.rssSlack, testutil.MiB(baseHeap), testutil.MiB(heap), live, total)
	if float64(rss) > float64(baseRSS)*(1+p.rssSlack) {
		msg := fmt.Sprintf("RSS grew from %s to %s over %d cycles (limit %+.0f%%); heap in use %s → %s; %d sockets still reachable",
			testutil.MiB(baseRSS), testutil.MiB(rss), p.cycles, 100*p.rssSlack, testutil.MiB(baseHeap), testutil.MiB(heap), live)
		if p.knownRetention != "" {
			skipBug(t, p.knownRetention+": "+msg)
		}
		t.Error(msg)
	}
}

func TestChurnRace(t *testing.T) {
	// The small variant, race detector included: everything but RSS (see
	// hygiene_norace_test.go for 20,000 cycles with RSS).
	churn(t, churnParams{warmUp: 100, cycles: 500, workers: 20, ackTimeout: time.Hour})
}

// --- object-level release ------------------------------------------------------------

// releaseRun connects n clients one after the other, lets client play its
// part on each (after the CONNECT ack; it need not close), closes them,
// waits settle and then reports how many of the sockets the garbage
// collector has not reclaimed and how many bytes of live heap each
// connection left behind (against a baseline taken after a warm-up).
func releaseRun(t *testing.T, opts socketio.Options, n int, settle time.Duration,
	onConn func(*socketio.Socket), client func(c *churnWS) error) (live int64, perConn float64) {
	t.Helper()
	ts := startServer(t, opts)
	var connected, collected atomic.Int64
	ts.srv.OnConnection(func(s *socketio.Socket) {
		connected.Add(1)
		runtime.AddCleanup(s, func(n *atomic.Int64) { n.Add(1) }, &collected)
		onConn(s)
	})
	cycle := func(i int) {
		c, err := dialChurnWS(testutil.SourceDialer(i), ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.conn.Close()
		if err := c.send("40"); err != nil {
			t.Fatal(err)
		}
		if err := c.expect(isConnectAck, "the CONNECT ack"); err != nil {
			t.Fatal(err)
		}
		if err := client(c); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		_ = wsutil.WriteClientMessage(c.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
		if _, err := c.read(); err != errServerClosed {
			t.Fatalf("client %d: %v after its close frame, want the server's", i, err)
		}
	}
	settled := func() {
		ts.checkResources(t, testutil.Resources{FDs: 1 << 20, Goroutines: 1 << 20}, leftovers{}, 5*time.Second)
		time.Sleep(settle)
	}
	for i := 0; i < 50; i++ { // warm-up: pools, maps and timer heaps at their working size
		cycle(i)
	}
	settled()
	base := testutil.HeapLive()
	before := connected.Load()
	for i := 0; i < n; i++ {
		cycle(i)
	}
	settled()
	// Cleanups run after the collection that finds their object unreachable.
	deadline := time.Now().Add(2 * time.Second)
	for collected.Load() < connected.Load() && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	grown := int64(testutil.HeapLive()) - int64(base)
	live = connected.Load() - collected.Load()
	t.Logf("%d connections: %d of %d sockets still reachable; live heap %+d bytes (%.0f per connection)",
		connected.Load()-before, live, connected.Load(), grown, float64(grown)/float64(n))
	return live, float64(grown) / float64(n)
}

// TestHygieneDisconnectedClientsAreReleased checks that once a client is gone
// nothing keeps its socket, its connection state or its buffers alive:
// every socket is reclaimed by the garbage collector and the live heap is
// back to its baseline, without waiting for any timeout.
func TestHygieneDisconnectedClientsAreReleased(t *testing.T) {
	const n = 500
	const maxPerConn = 200 // bytes of live heap a closed connection may seem to leave (noise)
	// Without timers: the connect timer is waited out (1 s), no ack has a
	// timeout, no binary packet was received.
	short := socketio.Options{ConnectTimeout: time.Second}
	const waitOut = 1200 * time.Millisecond
	check := func(t *testing.T, live int64, perConn float64) {
		t.Helper()
		if live != 0 {
			t.Errorf("%d sockets still reachable after their clients left", live)
		}
		if perConn > maxPerConn {
			t.Errorf("each closed connection left %.0f bytes of live heap (at most %d expected)", perConn, maxPerConn)
		}
	}
	t.Run("control: no timer pending", func(t *testing.T) {
		live, per := releaseRun(t, short, n, waitOut, func(s *socketio.Socket) {
			s.On("x", func(e *socketio.Event) { _ = e.Ack() })
			_ = s.Emit("pending", socketio.AckHandler(func(*socketio.Args, error) {})) // pending, no timeout
		}, func(c *churnWS) error {
			if err := c.expect(func(f string) bool { return strings.HasSuffix(f, `["pending"]`) }, "the emit"); err != nil {
				return err
			}
			if err := c.send(`421["x"]`); err != nil {
				return err
			}
			return c.expect(func(f string) bool { return f == "431[]" }, "431[]")
		})
		check(t, live, per)
	})
	t.Run("pending ack with a timeout", func(t *testing.T) {
		live, per := releaseRun(t, short, n, waitOut, func(s *socketio.Socket) {
			_ = s.Timeout(time.Hour).Emit("pending", socketio.AckHandler(func(*socketio.Args, error) {}))
		}, func(c *churnWS) error {
			return c.expect(func(f string) bool { return strings.HasSuffix(f, `["pending"]`) }, "the emit")
		})
		check(t, live, per)
	})
	t.Run("answered ack with a timeout", func(t *testing.T) {
		live, per := releaseRun(t, short, n, waitOut, func(s *socketio.Socket) {
			_ = s.Timeout(time.Hour).Emit("pending", socketio.AckHandler(func(*socketio.Args, error) {}))
		}, func(c *churnWS) error {
			f, err := c.read()
			if err != nil {
				return err
			}
			id, ok := strings.CutSuffix(strings.TrimPrefix(f, "42"), `["pending"]`)
			if !ok {
				return fmt.Errorf("got %q, want the emit", f)
			}
			return c.send("43" + id + "[]")
		})
		check(t, live, per)
	})
	t.Run("connect timer", func(t *testing.T) {
		long := socketio.Options{ConnectTimeout: time.Hour}
		live, per := releaseRun(t, long, n, 0, func(*socketio.Socket) {}, func(*churnWS) error { return nil })
		check(t, live, per)
	})
	t.Run("attachment timer", func(t *testing.T) {
		opts := short
		opts.AttachmentTimeout = time.Hour
		live, per := releaseRun(t, opts, n, waitOut, func(s *socketio.Socket) {
			s.On("bin", func(e *socketio.Event) { _ = e.Ack() })
		}, func(c *churnWS) error {
			if err := c.send(`451-1["bin",{"_placeholder":true,"num":0}]`); err != nil {
				return err
			}
			_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
			if err := wsutil.WriteClientMessage(c.conn, ws.OpBinary, []byte{1, 2, 3}); err != nil {
				return err
			}
			return c.expect(func(f string) bool { return f == "431[]" }, "431[]")
		})
		check(t, live, per)
	})
}

// BAD-INPUTS §1d (socket.io-parser 4.2.4, CVE-2024-38355): a client that
// emits `42["error"]`; such names "from a client → dropped or closed".
// codec/sio_test.go's decoder case "event-error-name" leaves it to the
// socket layer, which "drops it".
func TestClientErrorEventIsDroppedOrCloses(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	seen := make(chan string, 8)
	refused := make(chan any, 1)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.OnAny(func(e *socketio.Event) { seen <- "OnAny(" + e.Name() + ")" })
		func() { // On("error") is refused: errors reach the application through OnError
			defer func() { refused <- recover() }()
			s.On("error", func(*socketio.Event) { seen <- "On(error)" })
		}()
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `42["error",{"message":"spoofed"}]`)
	if err := c.write(ws.OpText, []byte(`42["after"]`)); err != nil {
		return // closed: fine
	}
	if r := testutil.Recv(t, refused); r == nil {
		t.Fatal(`On("error") was accepted`)
	}
	select {
	case got := <-seen:
		if got != "OnAny(after)" {
			t.Fatalf(`a client's "error" event reached %s`, got)
		}
	case <-c.done:
		// closed by the server: fine
	case <-time.After(ioTimeout):
		t.Fatal("neither dropped (the next event never arrived) nor closed")
	}
	ts.noPanics(t)
}
