package testutil

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// NodeClients drives real npm socket.io-client sockets through one
// test/interop/driver.mjs process: connect with auth, emit with acks, and
// every event each socket receives, in order. Safe from many goroutines.
type NodeClients struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	wmu   sync.Mutex
	done  chan struct{} // the reader goroutine ended

	mu     sync.Mutex
	cond   *sync.Cond
	seq    int
	acks   map[int]nodeLine
	events map[string][]nodeLine // socket id → events not yet consumed (recv, connect, connect_error, disconnect)
	seen   map[string][]nodeLine // socket id → every recv, for Received
	errs   []string
	exited bool
}

type nodeLine struct {
	ID       string          `json:"id"`
	Ev       string          `json:"ev"`
	Seq      int             `json:"seq"`
	Name     string          `json:"name"`
	Args     json.RawMessage `json:"args"`
	SID      string          `json:"sid"`
	Message  string          `json:"message"`
	Data     json.RawMessage `json:"data"`
	Reason   string          `json:"reason"`
	consumed bool
}

// ClientOptions are a socket's io() options.
type ClientOptions struct {
	URL          string
	Path         string
	Auth         any
	Headers      map[string]string
	Transports   []string
	Reconnection bool
	Query        map[string]string
}

// ConnectError is a connect_error: err.message and err.data.
type ConnectError struct {
	Message string
	Data    json.RawMessage
}

func (e *ConnectError) Error() string { return "connect_error: " + e.Message + " " + string(e.Data) }

// InteropDir is test/interop, found from the caller's package directory.
func InteropDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test", "interop")
}

// StartNodeClients starts the driver; it fails (CI) or skips when node or
// the pinned client is missing. The process is killed in t.Cleanup.
func StartNodeClients(t testing.TB) *NodeClients {
	t.Helper()
	dir := InteropDir(t)
	const install = "run `make deps` (installs Node.js and npm with apt, then npm ci in test/interop)"
	if _, err := exec.LookPath("node"); err != nil {
		RequireDependency(t, "node is not on PATH", install)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client", "package.json")); err != nil {
		RequireDependency(t, dir+"/node_modules/socket.io-client is missing", install)
	}
	n := &NodeClients{t: t, acks: map[int]nodeLine{}, events: map[string][]nodeLine{}, seen: map[string][]nodeLine{},
		done: make(chan struct{})}
	n.cond = sync.NewCond(&n.mu)
	n.cmd = exec.Command("node", filepath.Join(dir, "driver.mjs"))
	n.cmd.Dir = dir
	var stderr strings.Builder
	n.cmd.Stderr = &lockedWriter{w: &stderr}
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if n.stdin, err = n.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go n.read(stdout)
	// A ticker wakes waiters so that their deadlines are checked.
	stopTick := make(chan struct{})
	go func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopTick:
				return
			case <-tk.C:
				n.cond.Broadcast()
			}
		}
	}()
	t.Cleanup(func() {
		_ = n.stdin.Close()
		select {
		case <-n.done:
		case <-time.After(2 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.done
		}
		_ = n.cmd.Wait()
		close(stopTick)
		n.mu.Lock()
		errs := n.errs
		n.mu.Unlock()
		if len(errs) > 0 {
			t.Errorf("driver.mjs reported: %s", strings.Join(errs, "; "))
		}
		if s := stderr.String(); strings.TrimSpace(s) != "" {
			t.Logf("driver.mjs stderr: %s", s)
		}
	})
	return n
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (n *NodeClients) read(r io.Reader) {
	defer close(n.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var l nodeLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			n.mu.Lock()
			n.errs = append(n.errs, "unparsable line: "+sc.Text())
			n.mu.Unlock()
			continue
		}
		n.mu.Lock()
		switch l.Ev {
		case "ack", "ack_timeout":
			n.acks[l.Seq] = l
		case "error":
			n.errs = append(n.errs, l.Message)
		default:
			n.events[l.ID] = append(n.events[l.ID], l)
			if l.Ev == "recv" {
				n.seen[l.ID] = append(n.seen[l.ID], l)
			}
		}
		n.mu.Unlock()
		n.cond.Broadcast()
	}
	n.mu.Lock()
	n.exited = true
	n.mu.Unlock()
	n.cond.Broadcast()
}

func (n *NodeClients) send(cmd map[string]any) {
	b, err := json.Marshal(cmd)
	if err != nil {
		n.t.Fatalf("driver command: %v", err)
	}
	n.wmu.Lock()
	defer n.wmu.Unlock()
	if _, err := n.stdin.Write(append(b, '\n')); err != nil {
		n.t.Errorf("driver.mjs stdin: %v", err)
	}
}

// take waits up to d for the first unconsumed event of id matching pick and
// consumes it (d = 0: only what has arrived).
func (n *NodeClients) take(id string, d time.Duration, pick func(*nodeLine) bool) (nodeLine, bool) {
	deadline := time.Now().Add(d)
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		for i := range n.events[id] {
			l := &n.events[id][i]
			if !l.consumed && pick(l) {
				l.consumed = true
				return *l, true
			}
		}
		if n.exited || !time.Now().Before(deadline) {
			return nodeLine{}, false
		}
		n.cond.Wait()
	}
}

// Connect connects socket id and waits for connect or connect_error.
func (n *NodeClients) Connect(id string, o ClientOptions) (string, error) {
	cmd := map[string]any{"op": "connect", "id": id, "url": o.URL, "reconnection": o.Reconnection}
	if o.Path != "" {
		cmd["path"] = o.Path
	}
	if o.Auth != nil {
		cmd["auth"] = o.Auth
	}
	if o.Headers != nil {
		cmd["extraHeaders"] = o.Headers
	}
	if o.Transports != nil {
		cmd["transports"] = o.Transports
	}
	if o.Query != nil {
		cmd["query"] = o.Query
	}
	n.send(cmd)
	l, ok := n.take(id, 10*time.Second, func(l *nodeLine) bool { return l.Ev == "connect" || l.Ev == "connect_error" })
	if !ok {
		return "", fmt.Errorf("%s: no connect or connect_error within 10 s", id)
	}
	if l.Ev == "connect_error" {
		return "", &ConnectError{Message: l.Message, Data: l.Data}
	}
	return l.SID, nil
}

// Emit emits event with args and an ack callback and returns the ack's
// arguments (a JSON array).
func (n *NodeClients) Emit(id, event string, args ...any) (json.RawMessage, error) {
	n.mu.Lock()
	n.seq++
	seq := n.seq
	n.mu.Unlock()
	if args == nil {
		args = []any{}
	}
	n.send(map[string]any{"op": "emit", "id": id, "seq": seq, "event": event, "args": args, "timeoutMs": 9000})
	deadline := time.Now().Add(10 * time.Second)
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		if l, ok := n.acks[seq]; ok {
			delete(n.acks, seq)
			if l.Ev == "ack_timeout" {
				return nil, fmt.Errorf("%s: %s: no ack within 9 s", id, event)
			}
			return l.Args, nil
		}
		if n.exited || !time.Now().Before(deadline) {
			return nil, fmt.Errorf("%s: %s: no ack", id, event)
		}
		n.cond.Wait()
	}
}

// EmitNoAck emits without an ack callback.
func (n *NodeClients) EmitNoAck(id, event string, args ...any) {
	if args == nil {
		args = []any{}
	}
	n.send(map[string]any{"op": "emit", "id": id, "event": event, "args": args, "noAck": true})
}

// Disconnect disconnects socket id (client side).
func (n *NodeClients) Disconnect(id string) { n.send(map[string]any{"op": "disconnect", "id": id}) }

// CloseEngine closes id's transport as a network drop would.
func (n *NodeClients) CloseEngine(id string) { n.send(map[string]any{"op": "close_engine", "id": id}) }

// Next waits up to d for the next event name received by id and returns
// its arguments (a JSON array).
func (n *NodeClients) Next(id, name string, d time.Duration) (json.RawMessage, error) {
	l, ok := n.take(id, d, func(l *nodeLine) bool { return l.Ev == "recv" && l.Name == name })
	if !ok {
		return nil, fmt.Errorf("no %q within %v; received %s", name, d, n.describe(id))
	}
	return l.Args, nil
}

// None checks that id receives no event name within d (and has none
// unconsumed).
func (n *NodeClients) None(id, name string, d time.Duration) error {
	if l, ok := n.take(id, d, func(l *nodeLine) bool { return l.Ev == "recv" && l.Name == name }); ok {
		return fmt.Errorf("unexpected %s %s", name, l.Args)
	}
	return nil
}

// Received is every event name id received so far.
func (n *NodeClients) Received(id, name string) []json.RawMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []json.RawMessage
	for _, l := range n.seen[id] {
		if l.Name == name {
			out = append(out, l.Args)
		}
	}
	return out
}

// WaitDisconnect waits for id's next disconnect and returns its reason.
func (n *NodeClients) WaitDisconnect(id string, d time.Duration) (string, error) {
	l, ok := n.take(id, d, func(l *nodeLine) bool { return l.Ev == "disconnect" })
	if !ok {
		return "", fmt.Errorf("%s: no disconnect within %v", id, d)
	}
	return l.Reason, nil
}

func (n *NodeClients) describe(id string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var b strings.Builder
	for _, l := range n.events[id] {
		fmt.Fprintf(&b, "[%s %s %s consumed=%v] ", l.Ev, l.Name, l.Reason, l.consumed)
	}
	return b.String()
}
