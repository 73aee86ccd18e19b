package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"sio/bench/internal/load"
	"sio/bench/internal/proc"
	"sio/bench/internal/results"
	"sio/internal/rediscmd"
)

// --- redis-server ------------------------------------------------------------

// redisProc is the redis-server the run started: no persistence, loopback
// only, a free port.
type redisProc struct {
	cmd    *exec.Cmd
	pid    int
	port   int
	exited chan struct{}
	tail   *tail
	args   []string
}

func (r *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *redisProc) url() string  { return "redis://" + r.addr() }

// startRedis starts bin with the given extra directives ("--name value"
// pairs) and waits until it answers PING.
func startRedis(bin, dir string, extra []string, logw io.Writer) (*redisProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisProc{port: port, exited: make(chan struct{}), tail: &tail{}}
	r.args = append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--protected-mode", "no",
	}, extra...)
	r.cmd = exec.Command(bin, r.args...)
	r.cmd.Dir = dir
	r.cmd.Stdout = io.MultiWriter(r.tail, logw)
	r.cmd.Stderr = r.cmd.Stdout
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	r.pid = r.cmd.Process.Pid
	go func() { r.cmd.Wait(); close(r.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, err := redisDo(r.addr(), "PING"); err == nil && s == "PONG" {
			return r, nil
		}
		select {
		case <-r.exited:
			return nil, fmt.Errorf("redis-server exited: %s", r.tail.String())
		default:
		}
		if time.Now().After(deadline) {
			r.kill()
			return nil, fmt.Errorf("redis-server did not answer PING within 10s: %s", r.tail.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisProc) alive() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

func (r *redisProc) kill() {
	r.cmd.Process.Kill()
	<-r.exited
}

// stop asks for SHUTDOWN NOSAVE, then kills after 5 s.
func (r *redisProc) stop() {
	if !r.alive() {
		return
	}
	redisDo(r.addr(), "SHUTDOWN", "NOSAVE")
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		r.kill()
	}
}

// info returns INFO <section> as a map of its fields.
func (r *redisProc) info(section string) map[string]string {
	s, err := redisDo(r.addr(), "INFO", section)
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

// redisDo runs one command on a new connection and returns the reply as
// text (rediscmd.Do).
func redisDo(addr string, args ...string) (string, error) { return rediscmd.Do(addr, args...) }

// --- servers -------------------------------------------------------------------

// server is one cluster node (target-sio or the Node target).
type server struct {
	id      string
	cmd     *exec.Cmd
	pid     int
	addr    string
	lines   chan string // stdout after READY: the SIGUSR1 answers
	exited  chan struct{}
	waitErr error
	tail    *tail
}

// startServer starts cmd and waits for its READY line.
func startServer(id string, cmd *exec.Cmd, logw io.Writer, timeout time.Duration) (*server, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &server{id: id, cmd: cmd, lines: make(chan string, 16), exited: make(chan struct{}), tail: &tail{}}
	cmd.Stderr = io.MultiWriter(s.tail, &prefixWriter{w: logw, prefix: "[" + id + "] "})
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.pid = cmd.Process.Pid
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		first := true
		for sc.Scan() {
			line := sc.Text()
			if first && strings.HasPrefix(line, "READY ") {
				first = false
				ready <- strings.TrimSpace(line[6:])
				continue
			}
			select {
			case s.lines <- line:
			default:
			}
		}
		io.Copy(io.Discard, out)
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.addr = <-ready:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("%s exited before READY (%v): %s", id, s.waitErr, s.tail.String())
	case <-time.After(timeout):
		s.kill()
		return nil, fmt.Errorf("%s: no READY line within %s: %s", id, timeout, s.tail.String())
	}
}

func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (s *server) kill() {
	s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
	}
}

// stop sends SIGTERM and waits (SIGKILL after 15 s). It reports a server
// that had died before it was asked to.
func (s *server) stop() error {
	if !s.alive() {
		return fmt.Errorf("%s had exited (%v): %s", s.id, s.waitErr, s.tail.String())
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(15 * time.Second):
		s.kill()
		return errors.New(s.id + " ignored SIGTERM for 15s (killed)")
	}
}

// snapshot asks the server for its memory after a forced GC (SIGUSR1: one
// JSON line, and for ours an "ADAPTER <json>" line), then reads RSS.
func (s *server) snapshot(adapterLine bool) Snapshot {
	var snap Snapshot
	for len(s.lines) > 0 {
		<-s.lines
	}
	if s.alive() && s.cmd.Process.Signal(syscall.SIGUSR1) == nil {
		deadline := time.After(10 * time.Second)
		want := 1
		if adapterLine {
			want = 2
		}
	wait:
		for want > 0 {
			select {
			case line := <-s.lines:
				if a, ok := strings.CutPrefix(line, "ADAPTER "); ok {
					snap.Adapter = json.RawMessage(a)
					want--
					continue
				}
				var raw map[string]float64
				if json.Unmarshal([]byte(line), &raw) == nil {
					snap.Mem = raw
					want--
				}
			case <-deadline:
				break wait
			case <-s.exited:
				break wait
			}
		}
	}
	m, _ := proc.Memory(s.pid)
	snap.RSSKB, snap.HWMKB = m.RSS, m.HWM
	return snap
}

func (s *server) cpu() float64 {
	v, _ := proc.CPU(s.pid)
	return v
}

// --- load generators -----------------------------------------------------------

// lgProc is one loadgen process under -control.
type lgProc struct {
	idx    int
	server int // index of the server it connects to
	args   []string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	exited chan struct{}
	err    error
}

func startLoadgen(bin string, idx, server int, args []string, logw io.Writer) (*lgProc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &lgProc{idx: idx, server: server, args: args, cmd: cmd, stdin: stdin, lines: make(chan string, 64), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		io.Copy(io.Discard, out)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// next waits for the next stdout line starting with tag ("" matches a JSON
// object line).
func (p *lgProc) next(tag string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				select {
				case <-p.exited:
				case <-time.After(10 * time.Second):
				}
				return "", fmt.Errorf("loadgen %d exited (%v) while waiting for %q", p.idx, p.err, tag)
			}
			if tag == "" && strings.HasPrefix(line, "{") {
				return line, nil
			}
			if tag != "" && strings.HasPrefix(line, tag+" ") {
				return line[len(tag)+1:], nil
			}
		case <-deadline:
			return "", fmt.Errorf("loadgen %d: no %q within %s", p.idx, tag, timeout)
		}
	}
}

// ramped waits for every process's RAMPED line.
func ramped(ps []*lgProc, timeout time.Duration) ([]results.Ramp, error) {
	out := make([]results.Ramp, len(ps))
	for i, p := range ps {
		line, err := p.next("RAMPED", timeout)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(line), &out[i]); err != nil {
			return nil, fmt.Errorf("loadgen %d RAMPED: %v", p.idx, err)
		}
	}
	return out, nil
}

// runPhase sends one phase to every process and collects their answers.
func runPhase(ps []*lgProc, spec load.PhaseSpec) ([]results.Phase, error) {
	b, _ := json.Marshal(spec)
	for _, p := range ps {
		if _, err := fmt.Fprintf(p.stdin, "PHASE %s\n", b); err != nil {
			return nil, fmt.Errorf("loadgen %d: %v", p.idx, err)
		}
	}
	wait := time.Until(time.Unix(0, spec.Start)) + spec.Duration + spec.Drain + 60*time.Second
	out := make([]results.Phase, len(ps))
	for i, p := range ps {
		line, err := p.next("PHASE", wait)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(line), &out[i]); err != nil {
			return nil, fmt.Errorf("loadgen %d PHASE: %v", p.idx, err)
		}
	}
	return out, nil
}

// stopLoadgens closes every process's connections and returns their final
// objects (nil for a process that gave none).
func stopLoadgens(ps []*lgProc) ([]*results.Loadgen, error) {
	for _, p := range ps {
		fmt.Fprintln(p.stdin, "STOP")
		p.stdin.Close()
	}
	out := make([]*results.Loadgen, len(ps))
	var firstErr error
	for i, p := range ps {
		line, err := p.next("", 60*time.Second)
		if err == nil {
			var r results.Loadgen
			if err = json.Unmarshal([]byte(line), &r); err == nil {
				out[i] = &r
			}
		}
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		if err == nil && p.err != nil {
			err = fmt.Errorf("loadgen %d: %v", p.idx, p.err)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

func killLoadgens(ps []*lgProc) {
	for _, p := range ps {
		p.cmd.Process.Kill()
	}
	for _, p := range ps {
		<-p.exited
	}
}

// --- small helpers ---------------------------------------------------------------

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the last bytes written to it (a process's output).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-4<<10:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// prefixWriter prefixes each line with the process it came from.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	part   []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part = append(p.part, b...)
	for {
		i := strings.IndexByte(string(p.part), '\n')
		if i < 0 {
			break
		}
		io.WriteString(p.w, p.prefix+string(p.part[:i+1]))
		p.part = p.part[i+1:]
	}
	return len(b), nil
}

// cpuTimes are the busy and total jiffies of the whole machine (/proc/stat).
type cpuTimes struct{ busy, total float64 }

func machineCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}
	}
	var t cpuTimes
	for i, s := range f[1:] {
		v, _ := strconv.ParseFloat(s, 64)
		if i >= 8 { // guest time is already in user
			break
		}
		t.total += v
		if i != 3 && i != 4 { // idle, iowait
			t.busy += v
		}
	}
	return t
}
