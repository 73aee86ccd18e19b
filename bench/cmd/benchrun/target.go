package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"sio/bench/internal/proc"
	"sio/bench/internal/results"
)

// targetDef is one server the suite measures.
type targetDef struct {
	name    string
	label   string
	ours    bool
	polling bool            // serves long-polling (and so the upgrade)
	only    map[string]bool // scenarios it takes part in; nil = all
	status  string          // results.Status*
	reason  string
	command func(addr string) *exec.Cmd
}

func (t *targetDef) supports(scenario string) bool {
	return t.only == nil || t.only[scenario]
}

// runningTarget is a started target process.
type runningTarget struct {
	def     *targetDef
	cmd     *exec.Cmd
	pid     int
	addr    string
	lines   chan string // stdout lines after READY (memstats answers)
	exited  chan struct{}
	errTail *tail
	waitErr error
}

// tail keeps the last bytes written to it (a target's stderr).
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

// startTarget starts a target on a free loopback port and waits for its
// READY line.
func startTarget(def *targetDef, log io.Writer) (*runningTarget, error) {
	cmd := def.command("127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	rt := &runningTarget{def: def, cmd: cmd, lines: make(chan string, 16), exited: make(chan struct{}), errTail: &tail{}}
	cmd.Stderr = io.MultiWriter(rt.errTail, log)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	rt.pid = cmd.Process.Pid
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
			case rt.lines <- line:
			default:
			}
		}
		io.Copy(io.Discard, out)
		// Wait closes the pipe: only once everything was read.
		rt.waitErr = cmd.Wait()
		close(rt.exited)
	}()
	select {
	case rt.addr = <-ready:
		return rt, nil
	case <-rt.exited:
		return nil, fmt.Errorf("%s exited before READY (%v): %s", def.name, rt.waitErr, rt.errTail.String())
	case <-time.After(30 * time.Second):
		rt.kill()
		return nil, fmt.Errorf("%s: no READY line within 30s: %s", def.name, rt.errTail.String())
	}
}

func (rt *runningTarget) alive() bool {
	select {
	case <-rt.exited:
		return false
	default:
		return true
	}
}

func (rt *runningTarget) cpu() float64 {
	v, _ := proc.CPU(rt.pid)
	return v
}

func (rt *runningTarget) rss() int64 {
	m, _ := proc.Memory(rt.pid)
	return m.RSS
}

// memSnap asks the target for its heap after a GC (SIGUSR1, one JSON line)
// and then reads its RSS.
func (rt *runningTarget) memSnap() results.MemSnap {
	var snap results.MemSnap
	for len(rt.lines) > 0 {
		<-rt.lines
	}
	if rt.alive() && rt.cmd.Process.Signal(syscall.SIGUSR1) == nil {
		deadline := time.After(10 * time.Second)
	wait:
		for {
			select {
			case line := <-rt.lines:
				var raw map[string]any
				if json.Unmarshal([]byte(line), &raw) != nil {
					continue
				}
				snap.Raw = map[string]float64{}
				for k, v := range raw {
					if f, ok := v.(float64); ok {
						snap.Raw[k] = f
					}
				}
				if _, ok := snap.Raw["heap_used"]; ok { // node
					snap.HeapBytes = int64(snap.Raw["heap_used"] + snap.Raw["external"])
				} else {
					snap.HeapBytes = int64(snap.Raw["heap_alloc"])
				}
				break wait
			case <-deadline:
				break wait
			case <-rt.exited:
				break wait
			}
		}
	}
	snap.RSSKB = rt.rss()
	return snap
}

// stop sends SIGTERM and waits (SIGKILL after 15 s). It reports a target
// that had died before it was asked to.
func (rt *runningTarget) stop() error {
	if !rt.alive() {
		return fmt.Errorf("%s had exited (%v): %s", rt.def.name, rt.waitErr, rt.errTail.String())
	}
	rt.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-rt.exited:
		return nil
	case <-time.After(15 * time.Second):
		rt.kill()
		return errors.New(rt.def.name + " ignored SIGTERM for 15s (killed)")
	}
}

func (rt *runningTarget) kill() {
	rt.cmd.Process.Kill()
	select {
	case <-rt.exited:
	case <-time.After(5 * time.Second):
	}
}
