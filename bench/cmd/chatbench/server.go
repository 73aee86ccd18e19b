package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is the cmd/server process under test.
type server struct {
	cmd     *exec.Cmd
	pid     int
	addr    string
	exited  chan struct{}
	waitErr error
	tail    *tail
	http    *http.Client
}

// buildServer compiles cmd/server into dir.
func buildServer(root, dir string) (string, error) {
	out := filepath.Join(dir, "server")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/server")
	cmd.Dir = root
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/server: %v: %s", err, strings.TrimSpace(string(o)))
	}
	return out, nil
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer runs bin with env on 127.0.0.1 and a free port, its stderr
// going to logw, and waits for GET /health/socket to answer 200.
func startServer(bin string, env []string, logw io.Writer) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "HOST=127.0.0.1", "PORT="+strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &server{cmd: cmd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited: make(chan struct{}),
		tail: &tail{}, http: &http.Client{Timeout: 5 * time.Second}}
	cmd.Stdout = io.MultiWriter(s.tail, logw)
	cmd.Stderr = io.MultiWriter(s.tail, logw)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.pid = cmd.Process.Pid
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server exited before it was healthy (%v): %s", s.waitErr, s.tail.String())
		default:
		}
		if st, _, err := s.get("/health/socket"); err == nil && st == 200 {
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.kill()
	return nil, fmt.Errorf("GET /health/socket did not answer 200 within 30s: %s", s.tail.String())
}

func (s *server) get(path string) (int, []byte, error) {
	resp, err := s.http.Get("http://" + s.addr + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to timeout for the exit; it kills the
// process after that. It returns the exit code (-1: killed).
func (s *server) stop(timeout time.Duration) (int, error) {
	if !s.alive() {
		return s.cmd.ProcessState.ExitCode(), errors.New("server had exited already")
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode(), nil
	case <-time.After(timeout):
		s.kill()
		return -1, fmt.Errorf("server did not exit within %s of SIGTERM", timeout)
	}
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// promSample is what the benchmark reads of the server's /metrics.
type promSample struct {
	HeapAllocMB   float64 `json:"heap_alloc_mb"`
	HeapInuseMB   float64 `json:"heap_inuse_mb"`
	Goroutines    float64 `json:"goroutines"`
	GCCycles      float64 `json:"gc_cycles"`
	AckSendSum    float64 `json:"ack_message_send_sum_s"`     // server-side arrival → ack, message:send ok
	AckSendCount  float64 `json:"ack_message_send_count"`     //
	ConnectionsOn float64 `json:"gateway_connections_active"` //
}

// metrics scrapes /metrics (the Prometheus text format) for a few values.
func (s *server) metrics() (promSample, error) {
	var m promSample
	st, body, err := s.get("/metrics")
	if err != nil {
		return m, err
	}
	if st != 200 {
		return m, fmt.Errorf("GET /metrics: %d", st)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name, v := line[:i], line[i+1:]
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		switch {
		case name == "go_memstats_heap_alloc_bytes":
			m.HeapAllocMB = f / 1e6
		case name == "go_memstats_heap_inuse_bytes":
			m.HeapInuseMB = f / 1e6
		case name == "go_goroutines":
			m.Goroutines = f
		case strings.HasPrefix(name, "go_gc_duration_seconds_count"):
			m.GCCycles = f
		case name == "gateway_connections_active":
			m.ConnectionsOn = f
		case strings.HasPrefix(name, "gateway_ack_duration_seconds_sum{") && strings.Contains(name, `event="message:send"`) && strings.Contains(name, `ok="true"`):
			m.AckSendSum = f
		case strings.HasPrefix(name, "gateway_ack_duration_seconds_count{") && strings.Contains(name, `event="message:send"`) && strings.Contains(name, `ok="true"`):
			m.AckSendCount = f
		}
	}
	return m, sc.Err()
}

// tail keeps the last bytes written to it (the server's output).
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

// cpuTimes are the busy and steal jiffies of the whole machine (/proc/stat).
type cpuTimes struct{ busy, total, steal float64 }

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
		switch i {
		case 3, 4: // idle, iowait
		case 7:
			t.steal += v
		default:
			t.busy += v
		}
	}
	return t
}
