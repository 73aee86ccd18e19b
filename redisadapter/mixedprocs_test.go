package redisadapter_test

// Processes of the mixed-cluster tests (mixed_test.go): cluster nodes of
// either kind, run as child processes, and the Redis emitter.
//
//   - a Node node is `node test/interop/cluster-node.mjs` (socket.io 4.8 with
//     @socket.io/redis-adapter 8.3.0);
//   - a Go node is `conformance -mode cluster` (cmd/conformance on this
//     package), built once per test binary run, with -race when the tests
//     run with it, so that a data race in a Go node fails the test;
//   - the emitter is `node test/interop/emitter.mjs`.
//
// Both kinds of node run the same app and print a line with "listening" and
// their address once their Redis subscriptions are live.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sio/internal/testutil"
)

// nodeKind is what runs a cluster node.
type nodeKind string

const (
	kindNode nodeKind = "node" // test/interop/cluster-node.mjs
	kindGo   nodeKind = "go"   // conformance -mode cluster
)

// adapterMode is the adapter every node of one cluster uses.
type adapterMode struct {
	name    string
	sharded bool
	subMode string // sharded only: static, dynamic, dynamic-private
}

const (
	procStartWait = 20 * time.Second // a node's listening line (Go under -race, Node's first import)
	procExitWait  = 5 * time.Second  // SIGTERM to exit
	// raceExitCode is the exit code of a -race binary that found a race.
	raceExitCode = 66
)

// moduleRoot is the directory of go.mod (the tests run in redisadapter/).
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s: %v", dir, err)
	}
	return dir
}

// interop is test/interop, after checking that node and the npm packages
// the mixed tests run are installed (under CI=true their absence fails).
func interop(t testing.TB) string {
	t.Helper()
	const install = "run `make deps` (installs Node.js and npm with apt, then runs npm ci in test/interop)"
	if _, err := exec.LookPath("node"); err != nil {
		testutil.RequireDependency(t, "mixed cluster: node is not on PATH", install)
	}
	dir := filepath.Join(moduleRoot(t), "test", "interop")
	for _, pkg := range []string{"socket.io", "socket.io-client", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			testutil.RequireDependency(t, "mixed cluster: npm package "+pkg+" is missing in "+dir+" (npm ci not run)", install)
		}
	}
	return dir
}

// requireRedisServer fails (CI) or skips without redis-server, before any
// process is built or started.
func requireRedisServer(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testutil.RequireDependency(t, "redis-server is not installed", "apt-get install -y redis-server (make deps does)")
	}
}

// buildConformance builds cmd/conformance into a directory of t's, with
// -race when this test binary has it. `go test` puts its own go first on
// the PATH of the tests.
func buildConformance(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "conformance")
	args := []string{"build", "-o", bin}
	if testutil.RaceEnabled() {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/conformance")...)
	cmd.Dir = moduleRoot(t)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/conformance: %v\n%s", err, out)
	}
	t.Logf("built cmd/conformance (race %v) in %v", testutil.RaceEnabled(), time.Since(start).Round(time.Millisecond))
	return bin
}

// procOutput is a child's output, stdout and stderr (prefixed "! ") as
// they come, line by line.
type procOutput struct {
	mu     sync.Mutex
	lines  []string
	notify chan struct{} // closed (and replaced) on each new line
}

func newProcOutput() *procOutput { return &procOutput{notify: make(chan struct{})} }

func (o *procOutput) scan(r io.Reader, prefix string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		o.mu.Lock()
		o.lines = append(o.lines, prefix+sc.Text())
		close(o.notify)
		o.notify = make(chan struct{})
		o.mu.Unlock()
	}
}

func (o *procOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n")
}

// proc is a child process of a test.
type proc struct {
	what    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *procOutput
	exited  chan struct{}
	waitErr error // set before exited is closed

	stopOnce sync.Once
	killed   bool // stop had to kill it
}

// waitLine waits up to d for the first line matching re at index from or
// later, and returns its submatches and the index after it.
func (p *proc) waitLine(re *regexp.Regexp, from int, d time.Duration) ([]string, int, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		p.out.mu.Lock()
		for i := from; i < len(p.out.lines); i++ {
			if m := re.FindStringSubmatch(p.out.lines[i]); m != nil {
				p.out.mu.Unlock()
				return m, i + 1, nil
			}
		}
		from = len(p.out.lines)
		notify := p.out.notify
		p.out.mu.Unlock()
		select {
		case <-notify:
		case <-p.exited:
			select {
			case <-notify: // lines that came with the exit
				continue
			default:
			}
			return nil, from, fmt.Errorf("%s exited (%v); its output:\n%s", p.what, p.waitErr, p.out)
		case <-timer.C:
			return nil, from, fmt.Errorf("%s: no line matching %q within %v; its output:\n%s", p.what, re, d, p.out)
		}
	}
}

// stop closes stdin, sends SIGTERM and waits for the exit, killing the
// process after procExitWait. Only the first call does anything; the
// others wait for it.
func (p *proc) stop() {
	p.stopOnce.Do(func() {
		_ = p.stdin.Close()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(procExitWait):
			p.killed = true
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// stopAll stops procs at once (each takes up to a second or so to close).
func stopAll[P interface{ stop() }](procs []P) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

// startProc starts cmd with a stdin pipe (closing it, or SIGTERM, ends the
// process) and its output kept. Cleanup stops it (if stopAll did not) and
// fails the test unless it exited cleanly: another exit, the race
// detector's exit code, or none within procExitWait (then it is killed).
func startProc(t testing.TB, what string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{what: what, cmd: cmd, out: newProcOutput(), exited: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); p.out.scan(stdout, "") }()
	go func() { defer readers.Done(); p.out.scan(stderr, "! ") }()
	go func() {
		readers.Wait() // Wait closes the pipes: read them to the end first
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		var ee *exec.ExitError
		switch {
		case p.killed:
			t.Errorf("%s did not exit within %v of SIGTERM: killed; its output:\n%s", what, procExitWait, p.out)
		case p.waitErr == nil:
			if t.Failed() {
				t.Logf("%s output:\n%s", what, p.out)
			}
		case errors.As(p.waitErr, &ee) && ee.ExitCode() == raceExitCode:
			t.Errorf("%s: the race detector found a race; its output:\n%s", what, p.out)
		default:
			t.Errorf("%s exited: %v; its output:\n%s", what, p.waitErr, p.out)
		}
	})
	return p
}

// clusterProc is one node of the cluster under test.
type clusterProc struct {
	*proc
	name string
	kind nodeKind
	url  string // http://127.0.0.1:port
}

// listening is the ready line of both kinds of node: cluster-node.mjs's
// "cluster-node NAME listening on 127.0.0.1:PORT …", conformance's
// `msg="conformance server listening" mode=cluster addr=127.0.0.1:PORT`.
var listening = regexp.MustCompile(`listening.*?\b127\.0\.0\.1:(\d+)`)

// startClusterNode starts a node of the given kind (bin: the conformance
// binary, for kindGo) on a free port and waits until it is ready.
func startClusterNode(t testing.TB, kind nodeKind, name, bin, redisURL string, mode adapterMode) *clusterProc {
	t.Helper()
	var cmd *exec.Cmd
	switch kind {
	case kindNode:
		args := []string{"cluster-node.mjs", "--port", "0", "--redis", redisURL, "--id", name}
		if mode.sharded {
			args = append(args, "--sharded", "--sub-mode", mode.subMode)
		}
		cmd = exec.Command("node", args...)
		cmd.Dir = interop(t)
	case kindGo:
		args := []string{"-mode", "cluster", "-addr", "127.0.0.1:0", "-redis", redisURL, "-id", name}
		if mode.sharded {
			args = append(args, "-sharded", "-sub-mode", mode.subMode)
		}
		cmd = exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("GORACE=halt_on_error=0 exitcode=%d", raceExitCode))
	default:
		t.Fatalf("unknown node kind %q", kind)
	}
	p := startProc(t, fmt.Sprintf("%s node %s", kind, name), cmd)
	m, _, err := p.waitLine(listening, 0, procStartWait)
	if err != nil {
		t.Fatal(err)
	}
	return &clusterProc{proc: p, name: name, kind: kind, url: "http://127.0.0.1:" + m[1]}
}

// emitterProc drives test/interop/emitter.mjs.
type emitterProc struct {
	*proc
	t   testing.TB
	mu  sync.Mutex
	seq int
}

// startEmitter starts the Redis emitter (classic channel layout only) and
// waits until it is connected.
func startEmitter(t testing.TB, redisURL string) *emitterProc {
	t.Helper()
	cmd := exec.Command("node", "emitter.mjs", "--redis", redisURL)
	cmd.Dir = interop(t)
	p := startProc(t, "emitter", cmd)
	if _, _, err := p.waitLine(regexp.MustCompile(`^emitter ready$`), 0, procStartWait); err != nil {
		t.Fatal(err)
	}
	return &emitterProc{proc: p, t: t}
}

// do sends one command (see emitter.mjs) and waits until the emitter has
// published it.
func (e *emitterProc) do(cmd map[string]any) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	cmd["seq"] = e.seq
	b, err := json.Marshal(cmd)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.stdin.Write(append(b, '\n')); err != nil {
		e.t.Fatalf("emitter: %v", err)
	}
	re := regexp.MustCompile(fmt.Sprintf(`^\{"seq":%d,(.*)\}$`, e.seq))
	m, _, err := e.waitLine(re, 0, mixedWait)
	if err != nil {
		e.t.Fatalf("emitter %s: %v", b, err)
	}
	if m[1] != `"ok":true` {
		e.t.Fatalf("emitter %s: %s", b, m[0])
	}
}
