package testutil

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Timeouts of NodeClients: Connect waits up to nodeConnectWait for the
// connect or connect_error; Emit asks the client for an ack within
// nodeAckTimeout and waits nodeReplyGrace longer for the driver's answer.
const (
	nodeConnectWait = 10 * time.Second
	nodeAckTimeout  = 10 * time.Second
	nodeReplyGrace  = 5 * time.Second
	// nodeExitWait bounds how long Cleanup waits for the driver to
	// disconnect its clients and exit before it kills it.
	nodeExitWait = 3 * time.Second
	// nodeTranscriptLines is how many lines of the driver's traffic are kept
	// for the log of a failed test.
	nodeTranscriptLines = 2000
)

// ErrNoAck is the error of Emit when the client's ack callback got an error
// instead of an ack: the ack timeout ("operation has timed out") or the
// socket's disconnection before the ack ("socket has been disconnected").
var ErrNoAck = errors.New("testutil: no ack")

// ConnectError is a connect_error seen by a client: a middleware refusal
// (Message and Data as the server's ConnectError carried them; Data is nil
// when it carried none) or a transport failure (Type "TransportError",
// Message such as "websocket error" or "xhr poll error", no Data).
type ConnectError struct {
	Message string
	Data    json.RawMessage
	Type    string
}

func (e *ConnectError) Error() string {
	s := "connect_error: " + e.Message
	if e.Type != "" {
		s += " (" + e.Type + ")"
	}
	if len(e.Data) > 0 {
		s += " data " + string(e.Data)
	}
	return s
}

// ClientOptions are a client's io(url, options); zero values take the
// driver's defaults.
type ClientOptions struct {
	// URL is the server's address and the namespace, as for io():
	// "http://127.0.0.1:3000" or "http://127.0.0.1:3000/admin".
	URL string
	// Path of the server (default "/socket.io/").
	Path string
	// Auth is sent in the CONNECT packet (JSON-encoded); nil sends none.
	Auth any
	// Headers are extraHeaders, sent with every HTTP request and the
	// WebSocket upgrade.
	Headers map[string]string
	// Transports in the client's order (default ["websocket"]; ["polling"],
	// or ["polling", "websocket"] to upgrade).
	Transports []string
	// Reconnection turns the Manager's automatic reconnection on (off by
	// default). ReconnectionDelay, if set, is its delay between attempts,
	// without randomization; else the client's default (1 s ± 50 %).
	Reconnection      bool
	ReconnectionDelay time.Duration
	// Query is added to every request's query string.
	Query map[string]string
	// AutoAck answers the server's acks: when the client receives an event
	// named by a key with an ack callback, the driver calls the callback at
	// once with the value (JSON-encoded; NodeBin for binary), in which every
	// AckSocketID is replaced by the client's own socket id. Events not
	// named here are never answered (the default).
	AutoAck map[string]any
	// Parser is the client's packet format: "" socket.io-parser (the
	// default), "msgpack" socket.io-msgpack-parser.
	Parser string
}

// AckSocketID, as an AutoAck answer or anywhere inside one, stands for the
// answering client's socket id.
var AckSocketID = json.RawMessage(`{"$sid":true}`)

// NodeBin is binary data for Emit: it is sent as a Buffer (a binary
// attachment). Received binary values appear in args as {"$bin":"<hex>"}.
type NodeBin []byte

// MarshalJSON encodes b as the driver's {"$bin":"<hex>"}.
func (b NodeBin) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"$bin": hex.EncodeToString(b)})
}

// nodeLine is one line the driver prints.
type nodeLine struct {
	ID          string          `json:"id"`
	Ev          string          `json:"ev"`
	Seq         *int64          `json:"seq"`
	Sid         string          `json:"sid"`
	Recovered   bool            `json:"recovered"`
	Transport   string          `json:"transport"`
	Name        string          `json:"name"`
	Args        json.RawMessage `json:"args"`
	Message     string          `json:"message"`
	Type        string          `json:"type"`
	Data        json.RawMessage `json:"data"`
	Reason      string          `json:"reason"`
	Description json.RawMessage `json:"description"`
	raw         string
}

// connectResult is what a connect or connect_error line answers: the sid,
// or the error.
func (l *nodeLine) connectResult() (string, error) {
	switch l.Ev {
	case "connect":
		return l.Sid, nil
	case "connect_error":
		ce := &ConnectError{Message: l.Message, Type: l.Type}
		if len(l.Data) > 0 && string(l.Data) != "null" {
			ce.Data = l.Data
		}
		return "", ce
	default: // a harness error
		return "", fmt.Errorf("testutil: driver: %s", l.Message)
	}
}

// Event queue keys: received events by name; connects and connect_errors
// of automatic reconnections in one queue; disconnects in another.
const (
	nodeKeyConnect    = "\x00connect"
	nodeKeyDisconnect = "\x00disconnect"
)

func nodeRecvKey(name string) string { return "recv:" + name }

// nodeQueue is the FIFO of one client's events of one key.
type nodeQueue struct {
	items []*nodeLine
	head  int // items before head are consumed
}

type nodeClient struct {
	queues map[string]*nodeQueue
	// notify is closed (and replaced) whenever an event of this client
	// arrives.
	notify chan struct{}
}

func (c *nodeClient) queue(key string) *nodeQueue {
	q := c.queues[key]
	if q == nil {
		q = &nodeQueue{}
		c.queues[key] = q
	}
	return q
}

// NodeClients drives real npm socket.io-client sockets through one
// test/interop/driver.mjs process: each client is named by an id of the
// caller's choosing and has a Manager (an Engine.IO connection) of its own.
//
// Every method is safe for concurrent use. Events a client receives are
// kept per (id, event name), in order: Next consumes them first in, first
// out; waiters on other ids or names neither see nor disturb them.
// Connects and disconnects are kept apart from received events: see
// WaitConnect and WaitDisconnect.
type NodeClients struct {
	t     testing.TB
	cmd   *exec.Cmd
	start time.Time

	wmu    sync.Mutex // serialises writes to stdin
	stdin  io.WriteCloser
	closed bool // stdin closed (under wmu)

	seq    atomic.Int64
	stderr lockedBuffer
	done   chan struct{} // closed when the reader has seen the end of stdout

	mu         sync.Mutex
	clients    map[string]*nodeClient
	pending    map[int64]chan *nodeLine // replies to connect and emit, by seq
	harness    []string                 // harness errors no caller was waiting for
	transcript []string                 // ring of the last nodeTranscriptLines lines
	tpos       int
	readErr    error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// interopDir finds test/interop: it walks up from the working directory (a
// test's package directory) to the module root, the directory of go.mod.
func interopDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "test", "interop")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testutil: no go.mod above the working directory: cannot find test/interop")
		}
		dir = parent
	}
}

// StartNodeClients starts node test/interop/driver.mjs. Without node or
// without test/interop/node_modules the test is skipped, or fails under
// CI=true (RequireDependency). Cleanup disconnects every client, ends the
// process (killing it if it does not exit in time) and its reader, reports
// driver errors nobody waited for as test errors, and logs the driver's
// traffic when the test failed.
func StartNodeClients(t testing.TB) *NodeClients {
	t.Helper()
	return startNodeDriver(t, "driver.mjs", "socket.io-client")
}

// startNodeDriver runs node test/interop/<script>, whose client package is
// node_modules/<pkg>.
func startNodeDriver(t testing.TB, scriptName, pkg string) *NodeClients {
	t.Helper()
	dir := interopDir(t)
	const install = "run `make deps` (installs Node.js and npm with apt, then runs npm ci in test/interop)"
	node, err := exec.LookPath("node")
	if err != nil {
		RequireDependency(t, "node clients: node is not on PATH", install)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
		RequireDependency(t, "node clients: "+dir+"/node_modules/"+pkg+" is missing (npm ci not run)", install)
	}
	script := filepath.Join(dir, scriptName)
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("testutil: %v", err)
	}

	n := &NodeClients{
		t:          t,
		start:      time.Now(),
		done:       make(chan struct{}),
		clients:    map[string]*nodeClient{},
		pending:    map[int64]chan *nodeLine{},
		transcript: make([]string, 0, 64),
	}
	n.cmd = exec.Command(node, script)
	n.cmd.Dir = dir
	n.cmd.Stderr = &n.stderr
	n.cmd.WaitDelay = nodeExitWait
	stdin, err := n.cmd.StdinPipe()
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	n.stdin = stdin
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("testutil: start %s: %v", script, err)
	}
	go n.read(stdout)
	t.Cleanup(n.cleanup)
	return n
}

func (n *NodeClients) cleanup() {
	t := n.t
	t.Helper()
	n.wmu.Lock()
	if !n.closed {
		n.closed = true
		n.stdin.Close() // the driver disconnects every client and exits
	}
	n.wmu.Unlock()
	killed := false
	select {
	case <-n.done:
	case <-time.After(nodeExitWait):
		killed = true
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	waitErr := n.cmd.Wait()
	n.mu.Lock()
	harness, readErr := n.harness, n.readErr
	n.mu.Unlock()
	switch {
	case killed:
		t.Errorf("testutil: the node driver did not exit within %v of its stdin closing: killed", nodeExitWait)
	case waitErr != nil:
		t.Errorf("testutil: the node driver: %v", waitErr)
	}
	if readErr != nil {
		t.Errorf("testutil: reading the node driver's output: %v", readErr)
	}
	for _, h := range harness {
		t.Errorf("testutil: node driver error: %s", h)
	}
	if t.Failed() {
		t.Logf("node driver traffic (> sent, < received; ms since start):\n%s", n.Transcript())
	}
	if s := n.stderr.String(); s != "" {
		t.Logf("node driver stderr:\n%s", s)
	}
}

// record adds a line to the transcript (under mu).
func (n *NodeClients) record(dir, line string) {
	s := fmt.Sprintf("%6d %s %s", time.Since(n.start).Milliseconds(), dir, line)
	if len(n.transcript) < nodeTranscriptLines {
		n.transcript = append(n.transcript, s)
		return
	}
	n.transcript[n.tpos] = s
	n.tpos = (n.tpos + 1) % nodeTranscriptLines
}

// Transcript is the last lines the driver was sent and printed, oldest
// first, one per line.
func (n *NodeClients) Transcript() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var b strings.Builder
	for i := range n.transcript {
		b.WriteString(n.transcript[(n.tpos+i)%len(n.transcript)])
		b.WriteByte('\n')
	}
	return b.String()
}

// read parses the driver's output until it ends, then closes done.
func (n *NodeClients) read(stdout io.Reader) {
	defer close(n.done)
	r := bufio.NewReaderSize(stdout, 64<<10)
	for {
		b, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			n.dispatch(bytes.TrimRight(b, "\r\n"))
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				n.mu.Lock()
				n.readErr = err
				n.mu.Unlock()
			}
			// Drain whatever is left so that node never blocks on a full pipe.
			_, _ = io.Copy(io.Discard, stdout)
			return
		}
	}
}

func (n *NodeClients) dispatch(b []byte) {
	l := &nodeLine{raw: string(b)}
	err := json.Unmarshal(b, l)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.record("<", l.raw)
	if err != nil {
		n.harness = append(n.harness, fmt.Sprintf("unparsable line %q: %v", b, err))
		return
	}
	switch l.Ev {
	case "connect", "connect_error", "ack", "ack_timeout", "error":
		if l.Seq != nil {
			if ch, ok := n.pending[*l.Seq]; ok {
				delete(n.pending, *l.Seq)
				ch <- l // buffered
				return
			}
			if l.Ev != "error" {
				return // its caller gave up waiting
			}
		}
	}
	var key string
	switch l.Ev {
	case "recv":
		key = nodeRecvKey(l.Name)
	case "connect", "connect_error":
		key = nodeKeyConnect
	case "disconnect":
		key = nodeKeyDisconnect
	case "error":
		n.harness = append(n.harness, l.raw)
		return
	default:
		n.harness = append(n.harness, "unknown line "+l.raw)
		return
	}
	c := n.client(l.ID)
	q := c.queue(key)
	q.items = append(q.items, l)
	close(c.notify)
	c.notify = make(chan struct{})
}

// client returns the record of id, creating it (under mu).
func (n *NodeClients) client(id string) *nodeClient {
	c := n.clients[id]
	if c == nil {
		c = &nodeClient{queues: map[string]*nodeQueue{}, notify: make(chan struct{})}
		n.clients[id] = c
	}
	return c
}

// gone describes the driver's end, for a caller that was waiting on it.
func (n *NodeClients) gone() error {
	msg := "testutil: the node driver has exited"
	if s := strings.TrimSpace(n.stderr.String()); s != "" {
		msg += "; its stderr:\n" + s
	}
	return errors.New(msg)
}

// send writes one command line.
func (n *NodeClients) send(cmd map[string]any) error {
	b, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("testutil: encoding %s command: %w", cmd["op"], err)
	}
	n.mu.Lock()
	n.record(">", string(b))
	n.mu.Unlock()
	b = append(b, '\n')
	n.wmu.Lock()
	defer n.wmu.Unlock()
	if n.closed {
		return errors.New("testutil: the node driver is closed")
	}
	if _, err := n.stdin.Write(b); err != nil {
		select {
		case <-n.done:
			return n.gone()
		default:
		}
		return fmt.Errorf("testutil: writing to the node driver: %w", err)
	}
	return nil
}

// request sends cmd with a new seq and waits up to d for the line that
// answers it.
func (n *NodeClients) request(cmd map[string]any, d time.Duration) (*nodeLine, error) {
	seq := n.seq.Add(1)
	cmd["seq"] = seq
	ch := make(chan *nodeLine, 1)
	n.mu.Lock()
	n.pending[seq] = ch
	n.mu.Unlock()
	forget := func() {
		n.mu.Lock()
		delete(n.pending, seq)
		n.mu.Unlock()
	}
	if err := n.send(cmd); err != nil {
		forget()
		return nil, err
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case l := <-ch:
		return l, nil
	case <-timer.C:
		forget()
		return nil, fmt.Errorf("testutil: %s %q: no answer from the node driver within %v", cmd["op"], cmd["id"], d)
	case <-n.done:
		forget()
		return nil, n.gone()
	}
}

// Connect connects client id (a new one, or one whose socket is
// disconnected: it is replaced) and waits up to 10 s for its connect,
// returning the socket id, or for its connect_error, returning a
// *ConnectError.
func (n *NodeClients) Connect(id string, o ClientOptions) (sid string, err error) {
	if id == "" {
		return "", errors.New("testutil: Connect: empty id")
	}
	cmd := map[string]any{
		"op":           "connect",
		"id":           id,
		"url":          o.URL,
		"auth":         o.Auth,
		"extraHeaders": o.Headers,
		"reconnection": o.Reconnection,
		"query":        o.Query,
	}
	if len(o.AutoAck) > 0 {
		cmd["autoAck"] = o.AutoAck
	}
	if o.Path != "" {
		cmd["path"] = o.Path
	}
	if o.Parser != "" {
		cmd["parser"] = o.Parser
	}
	if len(o.Transports) > 0 {
		cmd["transports"] = o.Transports
	}
	if o.ReconnectionDelay > 0 {
		cmd["reconnectionDelay"] = o.ReconnectionDelay.Milliseconds()
	}
	l, err := n.request(cmd, nodeConnectWait)
	if err != nil {
		return "", err
	}
	return l.connectResult()
}

// Emit emits event with args (JSON-encoded; NodeBin for binary) from client
// id with an ack callback and waits for the ack: it returns the ack's
// arguments as a JSON array. If no ack comes within 10 s, or the socket
// disconnects first, the error wraps ErrNoAck.
func (n *NodeClients) Emit(id, event string, args ...any) (json.RawMessage, error) {
	if args == nil {
		args = []any{}
	}
	l, err := n.request(map[string]any{
		"op": "emit", "id": id, "event": event, "args": args, "timeoutMs": nodeAckTimeout.Milliseconds(),
	}, nodeAckTimeout+nodeReplyGrace)
	if err != nil {
		return nil, err
	}
	switch l.Ev {
	case "ack":
		return l.Args, nil
	case "ack_timeout":
		return nil, fmt.Errorf("%w: %s %q: %s", ErrNoAck, id, event, l.Message)
	default:
		return nil, fmt.Errorf("testutil: emit %s %q: %s", id, event, l.Message)
	}
}

// command sends a command that gets no answer; a failure to send fails
// the test.
func (n *NodeClients) command(cmd map[string]any) {
	if err := n.send(cmd); err != nil {
		n.t.Errorf("testutil: %s %q: %v", cmd["op"], cmd["id"], err)
	}
}

// EmitNoAck emits event with args from client id without an ack.
func (n *NodeClients) EmitNoAck(id, event string, args ...any) {
	if args == nil {
		args = []any{}
	}
	n.command(map[string]any{"op": "emit", "id": id, "event": event, "args": args, "noAck": true})
}

// Disconnect disconnects client id (socket.disconnect()): if it was
// connected, its disconnect ("io client disconnect") follows (WaitDisconnect).
// It does not wait.
func (n *NodeClients) Disconnect(id string) {
	n.command(map[string]any{"op": "disconnect", "id": id})
}

// CloseEngine closes client id's Engine.IO connection
// (socket.io.engine.close()), as a network drop would: the client sees a
// disconnect and, with Reconnection, reconnects. It does not wait.
func (n *NodeClients) CloseEngine(id string) {
	n.command(map[string]any{"op": "close_engine", "id": id})
}

// await waits up to d for the next unconsumed event of client id under key,
// consumes it and returns it.
func (n *NodeClients) await(id, key string, d time.Duration) (*nodeLine, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		n.mu.Lock()
		c := n.client(id)
		q := c.queue(key)
		if q.head < len(q.items) {
			l := q.items[q.head]
			q.head++
			n.mu.Unlock()
			return l, nil
		}
		notify := c.notify
		n.mu.Unlock()
		select {
		case <-notify:
		case <-timer.C:
			return nil, errTimeout
		case <-n.done:
			n.mu.Lock()
			found := q.head < len(q.items)
			n.mu.Unlock()
			if !found {
				return nil, n.gone()
			}
		}
	}
}

var errTimeout = errors.New("timeout")

// Next waits up to d for the next event named name that client id
// received and that no earlier Next returned, and returns its arguments
// (a JSON array). Events of other names stay for their own callers.
func (n *NodeClients) Next(id, name string, d time.Duration) (json.RawMessage, error) {
	l, err := n.await(id, nodeRecvKey(name), d)
	if err == errTimeout {
		return nil, fmt.Errorf("testutil: client %q received no %q within %v (it received: %s)", id, name, d, n.summary(id))
	}
	if err != nil {
		return nil, err
	}
	return l.Args, nil
}

// None returns nil if client id receives no event named name (beyond those
// Next already returned) within d; otherwise an error describing the first
// such event, which it leaves for Next.
func (n *NodeClients) None(id, name string, d time.Duration) error {
	key := nodeRecvKey(name)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		n.mu.Lock()
		c := n.client(id)
		q := c.queue(key)
		if q.head < len(q.items) {
			l := q.items[q.head]
			n.mu.Unlock()
			return fmt.Errorf("testutil: client %q received %q %s, want none within %v", id, name, l.Args, d)
		}
		notify := c.notify
		n.mu.Unlock()
		select {
		case <-notify:
		case <-timer.C:
			return nil
		case <-n.done:
			return n.gone()
		}
	}
}

// Received returns the arguments of every event named name that client id
// has received so far, consumed by Next or not, in order.
func (n *NodeClients) Received(id, name string) []json.RawMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.clients[id]
	if c == nil {
		return nil
	}
	q := c.queues[nodeRecvKey(name)]
	if q == nil {
		return nil
	}
	out := make([]json.RawMessage, len(q.items))
	for i, l := range q.items {
		out[i] = l.Args
	}
	return out
}

// summary lists how many events of each name client id has received (for
// errors; under no lock).
func (n *NodeClients) summary(id string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.clients[id]
	var parts []string
	if c != nil {
		for key, q := range c.queues {
			name, ok := strings.CutPrefix(key, "recv:")
			if !ok || len(q.items) == 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%q ×%d (%d unconsumed)", name, len(q.items), len(q.items)-q.head))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// WaitDisconnect waits up to d for client id's next disconnect and returns
// its reason ("io server disconnect", "io client disconnect", "transport
// close", "forced close", "ping timeout", "transport error").
func (n *NodeClients) WaitDisconnect(id string, d time.Duration) (reason string, err error) {
	l, err := n.await(id, nodeKeyDisconnect, d)
	if err == errTimeout {
		return "", fmt.Errorf("testutil: client %q did not disconnect within %v", id, d)
	}
	if err != nil {
		return "", err
	}
	return l.Reason, nil
}

// WaitConnect waits up to d for client id's next connect or connect_error
// that does not answer a Connect: those of the Manager's automatic
// reconnections (ClientOptions.Reconnection). It returns the new socket id,
// or a *ConnectError.
func (n *NodeClients) WaitConnect(id string, d time.Duration) (sid string, err error) {
	l, err := n.await(id, nodeKeyConnect, d)
	if err == errTimeout {
		return "", fmt.Errorf("testutil: client %q did not reconnect within %v", id, d)
	}
	if err != nil {
		return "", err
	}
	return l.connectResult()
}
