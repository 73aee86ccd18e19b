package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sio/bench/internal/load"
	"sio/bench/internal/results"
)

// fdsPerProc is what one loadgen process may hold: the hard limit of open
// files is 20,000 per process, and a few are the process's own.
const fdsPerProc = 19000

// lgPlan is what a scenario asks of the loadgen processes.
type lgPlan struct {
	scenario string
	clients  int
	polling  float64
	rooms    int
	sources  int // source addresses per process
	inflight int
	rampRate float64
	minProcs int
}

// procs is how many loadgen processes the plan needs.
func (p lgPlan) procs() int {
	// One socket per client, a second for each polling client (its POSTs),
	// and the broadcast sender.
	sockets := p.clients + int(math.Ceil(float64(p.clients)*p.polling))
	if p.scenario == "broadcast" {
		sockets++
	}
	n := (sockets + fdsPerProc - 1) / fdsPerProc
	return max(n, p.minProcs, 1)
}

// args returns the command line of process i of n.
func (p lgPlan) args(i, n int, addr string) []string {
	share, base := p.clients/n, 0
	for j := 0; j < i; j++ {
		base += p.clients/n + b2i(j < p.clients%n)
	}
	share += b2i(i < p.clients%n)
	srcN := max(p.sources, 16)
	first := 2 + i*srcN
	if first+srcN-1 > 254 {
		first, srcN = 2+i*8, 8 // many processes: fewer addresses each
	}
	a := []string{
		"-control", "-proc", strconv.Itoa(i),
		"-addr", addr, "-scenario", p.scenario,
		"-clients", strconv.Itoa(share), "-id-base", strconv.Itoa(base),
		"-polling", strconv.FormatFloat(p.polling, 'f', -1, 64),
		"-rooms", strconv.Itoa(p.rooms),
		"-src", fmt.Sprintf("127.0.0.%d-127.0.0.%d", first, first+srcN-1),
		"-max-clients", strconv.Itoa(fdsPerProc),
	}
	if p.inflight > 0 {
		a = append(a, "-inflight", strconv.Itoa(p.inflight))
	}
	if p.rampRate > 0 {
		a = append(a, "-ramp-rate", strconv.FormatFloat(p.rampRate/float64(n), 'f', 0, 64))
	}
	return a
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lgGroup is the loadgen processes of one scenario run.
type lgGroup struct {
	procs []*lgProc
}

type lgProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	exited chan struct{}
	err    error
}

func startLoadgens(bin string, plan lgPlan, addr string) (*lgGroup, []string, error) {
	n := plan.procs()
	g := &lgGroup{}
	var cmds []string
	for i := 0; i < n; i++ {
		args := plan.args(i, n, addr)
		cmds = append(cmds, "loadgen "+strings.Join(args, " "))
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr // progress lines, already prefixed
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			g.kill()
			return nil, nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			g.kill()
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			g.kill()
			return nil, nil, err
		}
		p := &lgProc{cmd: cmd, stdin: stdin, lines: make(chan string, 64), exited: make(chan struct{})}
		go func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			for sc.Scan() {
				p.lines <- sc.Text()
			}
			close(p.lines)
			io.Copy(io.Discard, out)
			// Wait closes the pipe: only once everything was read.
			p.err = cmd.Wait()
			close(p.exited)
		}()
		g.procs = append(g.procs, p)
	}
	return g, cmds, nil
}

// next waits for the next stdout line of p starting with tag ("" matches a
// JSON object line).
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
				return "", fmt.Errorf("loadgen exited (%v) while waiting for %q", p.err, tag)
			}
			if tag == "" && strings.HasPrefix(line, "{") {
				return line, nil
			}
			if tag != "" && strings.HasPrefix(line, tag+" ") {
				return line[len(tag)+1:], nil
			}
		case <-deadline:
			return "", fmt.Errorf("loadgen: no %q within %s", tag, timeout)
		}
	}
}

// ramped waits until every process has ramped up and merges their ramps.
func (g *lgGroup) ramped(timeout time.Duration) (results.Ramp, error) {
	var rs []results.Ramp
	for _, p := range g.procs {
		line, err := p.next("RAMPED", timeout)
		if err != nil {
			return results.Ramp{}, err
		}
		var r results.Ramp
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return results.Ramp{}, fmt.Errorf("loadgen RAMPED: %v", err)
		}
		rs = append(rs, r)
	}
	return results.MergeRamps(rs), nil
}

// phase runs one phase on every process at once and merges the results.
func (g *lgGroup) phase(ps load.PhaseSpec) (results.Phase, error) {
	b, _ := json.Marshal(ps)
	for _, p := range g.procs {
		if _, err := fmt.Fprintf(p.stdin, "PHASE %s\n", b); err != nil {
			return results.Phase{}, fmt.Errorf("loadgen: %v", err)
		}
	}
	var ps2 []results.Phase
	for _, p := range g.procs {
		line, err := p.next("PHASE", ps.Duration+ps.Drain+60*time.Second)
		if err != nil {
			return results.Phase{}, err
		}
		var r results.Phase
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return results.Phase{}, fmt.Errorf("loadgen PHASE: %v", err)
		}
		ps2 = append(ps2, r)
	}
	return results.MergePhases(ps2), nil
}

// stop asks every process to close its connections and returns their final
// objects.
func (g *lgGroup) stop() ([]results.Loadgen, error) {
	for _, p := range g.procs {
		fmt.Fprintln(p.stdin, "STOP")
		p.stdin.Close()
	}
	var out []results.Loadgen
	var firstErr error
	for _, p := range g.procs {
		line, err := p.next("", 60*time.Second)
		if err == nil {
			var r results.Loadgen
			if err = json.Unmarshal([]byte(line), &r); err == nil {
				out = append(out, r)
			}
		}
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		if err == nil && p.err != nil {
			err = fmt.Errorf("loadgen: %v", p.err)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

func (g *lgGroup) kill() {
	for _, p := range g.procs {
		p.cmd.Process.Kill()
	}
	for _, p := range g.procs {
		<-p.exited
	}
}
