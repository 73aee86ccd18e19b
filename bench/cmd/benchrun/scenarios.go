package main

import (
	"fmt"
	"strings"
	"time"

	"sio/bench/internal/load"
	"sio/bench/internal/results"
)

// sizes are the knobs of every scenario; full() and quick() are the two sets.
type sizes struct {
	idleClients   int
	idleSettle    time.Duration
	connectDur    time.Duration
	connectConcWS int
	connectConcUp int
	echoClients   int
	echoWarmup    time.Duration
	echoDur       time.Duration
	bcastMembers  int
	bcastRates    []float64
	bcastStep     time.Duration
	bcastP99      time.Duration // a step passes below this p99
	bcastKeep     time.Duration // a step is kept up with below this p99 (and 99% delivered)
	mixedClients  int
	mixedPolling  float64
	mixedOurs     time.Duration // the issue asks 10 minutes
	mixedOthers   time.Duration // shorter, to fit the run in 20 minutes
	mixedSample   time.Duration
	drain         time.Duration // results still collected after a window
	settle        time.Duration // after a target's READY, before measuring it
}

func fullSizes() sizes {
	return sizes{
		idleClients: 19000, idleSettle: 2 * time.Second,
		connectDur: 8 * time.Second, connectConcWS: 64, connectConcUp: 128,
		echoClients: 1000, echoWarmup: 2 * time.Second, echoDur: 20 * time.Second,
		bcastMembers: 10000, bcastRates: []float64{1, 2, 5, 10, 20, 50, 100, 200}, bcastStep: 5 * time.Second,
		bcastP99: 50 * time.Millisecond, bcastKeep: 500 * time.Millisecond,
		mixedClients: 5000, mixedPolling: 0.05, mixedOurs: 10 * time.Minute, mixedOthers: 60 * time.Second,
		mixedSample: 5 * time.Second,
		drain:       2 * time.Second, settle: 500 * time.Millisecond,
	}
}

func quickSizes() sizes {
	return sizes{
		idleClients: 1000, idleSettle: time.Second,
		connectDur: 2 * time.Second, connectConcWS: 64, connectConcUp: 128,
		echoClients: 100, echoWarmup: time.Second, echoDur: 4 * time.Second,
		bcastMembers: 500, bcastRates: []float64{10, 50}, bcastStep: 2500 * time.Millisecond,
		bcastP99: 50 * time.Millisecond, bcastKeep: 500 * time.Millisecond,
		mixedClients: 500, mixedPolling: 0.05, mixedOurs: 20 * time.Second, mixedOthers: 10 * time.Second,
		mixedSample: 2 * time.Second,
		drain:       time.Second, settle: 300 * time.Millisecond,
	}
}

// runOne runs one scenario against one started target: ramp the loadgen
// processes up, run the scenario's phases, measure the target around them.
func (b *bench) runOne(scn string, def *targetDef) (tr results.TargetRun) {
	tr = results.TargetRun{Target: def.name, Status: results.StatusOK}
	t0 := time.Now()
	defer func() { tr.Seconds = time.Since(t0).Seconds() }()
	fail := func(format string, args ...any) results.TargetRun {
		tr.Status = results.StatusFailed
		tr.Error = fmt.Sprintf(format, args...)
		b.failf("%s × %s: %s", scn, def.name, tr.Error)
		return tr
	}

	rt, err := startTarget(def, b.targetLog)
	if err != nil {
		return fail("start: %v", err)
	}
	defer func() {
		if err := rt.stop(); err != nil && tr.Status == results.StatusOK {
			tr.Status = results.StatusFailed
			tr.Error = err.Error()
			b.failf("%s × %s: %v", scn, def.name, err)
		}
	}()
	time.Sleep(b.sz.settle)
	tr.Before = rt.memSnap()
	cpu0 := rt.cpu()

	s := b.sz
	plan := lgPlan{scenario: scn, inflight: 256}
	switch scn {
	case "idle":
		plan.clients, plan.rooms = s.idleClients, max(1, s.idleClients/10)
	case "connect":
		plan.sources = 64
	case "echo":
		plan.clients = s.echoClients
	case "broadcast":
		plan.clients = s.bcastMembers
	case "mixed":
		plan.clients, plan.polling, plan.rooms = s.mixedClients, s.mixedPolling, 50
		plan.rampRate = 2000 // a steady arrival, as real clients come in
	}
	g, cmds, err := startLoadgens(b.loadgenBin, plan, rt.addr)
	if err != nil {
		return fail("loadgen: %v", err)
	}
	tr.Procs = len(g.procs)
	if b.commands[scn] == "" {
		b.commands[scn] = strings.Replace(cmds[0], rt.addr, "<target>", 1)
	}
	stopped := false
	defer func() {
		if !stopped {
			g.kill()
		}
	}()
	ramp, err := g.ramped(10 * time.Minute)
	if err != nil {
		return fail("ramp: %v", err)
	}
	if plan.clients > 0 {
		tr.Ramp = &ramp
		if ramp.Connected == 0 {
			return fail("no client connected (errors %v)", ramp.Errors)
		}
		if ramp.Connected < ramp.Clients {
			b.notef("%s × %s: %d of %d clients connected (errors %v)", scn, def.name, ramp.Connected, ramp.Clients, ramp.Errors)
		}
	}

	phase := func(ps load.PhaseSpec) (results.PhaseRun, error) {
		c0 := rt.cpu()
		p, err := g.phase(ps)
		pr := results.PhaseRun{Phase: p, ServerCPU: rt.cpu() - c0, RSSKB: rt.rss()}
		if err == nil && !rt.alive() {
			err = fmt.Errorf("target exited during phase %s", ps.Name)
		}
		return pr, err
	}

	switch scn {
	case "idle":
		time.Sleep(s.idleSettle)
		p, err := phase(load.PhaseSpec{Name: "idle", Kind: "idle", Duration: s.idleSettle})
		if err != nil {
			return fail("%v", err)
		}
		tr.Phases = append(tr.Phases, p)
		tr.After = rt.memSnap()
	case "connect":
		modes := []string{"ws"}
		if def.polling {
			modes = append(modes, "upgrade")
		}
		if _, err := phase(load.PhaseSpec{Name: "warmup", Kind: "connect", Duration: s.connectDur / 4,
			Drain: s.drain / 2, Concurrency: s.connectConcWS}); err != nil {
			return fail("%v", err)
		}
		for _, m := range modes {
			conc := s.connectConcWS
			if m == "upgrade" {
				conc = s.connectConcUp
			}
			p, err := phase(load.PhaseSpec{Name: m, Kind: "connect", Duration: s.connectDur,
				Drain: s.drain, Concurrency: conc, Upgrade: m == "upgrade"})
			if err != nil {
				return fail("%v", err)
			}
			tr.Phases = append(tr.Phases, p)
			if p.Ops == 0 {
				return fail("connect %s: no handshake completed (errors %v)", m, p.Errors)
			}
		}
		tr.After = rt.memSnap()
	case "echo":
		if _, err := phase(load.PhaseSpec{Name: "warmup", Kind: "echo", Duration: s.echoWarmup, Drain: 500 * time.Millisecond}); err != nil {
			return fail("%v", err)
		}
		p, err := phase(load.PhaseSpec{Name: "echo", Kind: "echo", Duration: s.echoDur, Drain: s.drain / 2})
		if err != nil {
			return fail("%v", err)
		}
		tr.Phases = append(tr.Phases, p)
		if p.Ops == 0 {
			return fail("echo: no round trip completed (errors %v)", p.Errors)
		}
		tr.After = rt.memSnap()
	case "broadcast":
		var ops int64
		for i, rate := range s.bcastRates {
			p, err := phase(load.PhaseSpec{Name: fmt.Sprintf("%g/s", rate), Kind: "bcast", Duration: s.bcastStep,
				Drain: s.drain, Rate: rate})
			if err != nil {
				return fail("%v", err)
			}
			members := p.Members // live members of the room at the end of the step
			if members == 0 {
				members = ramp.Connected - 1 // the sender is not in the room
			}
			p.Expected = p.Sent * int64(members)
			delivered := p.Expected > 0 && float64(p.Ops) >= 0.99*float64(p.Expected)
			p99 := time.Duration(p.Latency.Quantile(0.99))
			pass := delivered && p.Latency.Count() > 0 && p99 < s.bcastP99
			kept := delivered && p.Latency.Count() > 0 && p99 < s.bcastKeep
			p.Pass, p.KeptUp = &pass, &kept
			tr.Phases = append(tr.Phases, p)
			ops += p.Ops
			if !kept && !b.quick {
				break // the ladder stops at the first rate the target cannot keep up with
			}
			if i < len(s.bcastRates)-1 {
				time.Sleep(s.drain / 2) // let queues drain between steps
			}
		}
		if ops == 0 {
			return fail("broadcast: no delivery")
		}
		tr.After = rt.memSnap()
	case "mixed":
		d := s.mixedOthers
		if def.ours {
			d = s.mixedOurs
		}
		c0 := rt.cpu()
		t1 := time.Now()
		done, finished := make(chan struct{}), make(chan struct{})
		var samples []results.Sample
		go func() {
			defer close(finished)
			tick := time.NewTicker(s.mixedSample)
			defer tick.Stop()
			samples = append(samples, results.Sample{T: 0, RSSKB: rt.rss(), CPU: 0})
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					samples = append(samples, results.Sample{T: time.Since(t1).Seconds(), RSSKB: rt.rss(), CPU: rt.cpu() - c0})
				}
			}
		}()
		p, err := phase(load.PhaseSpec{Name: "mixed", Kind: "mixed", Duration: d, Drain: s.drain})
		close(done)
		<-finished
		tr.Samples = samples
		if err != nil {
			return fail("%v", err)
		}
		tr.Phases = append(tr.Phases, p)
		if p.Ops == 0 {
			return fail("mixed: no ack received (errors %v)", p.Errors)
		}
		tr.After = rt.memSnap()
	}
	tr.ServerCPU = rt.cpu() - cpu0
	stopped = true
	finals, err := g.stop()
	for _, f := range finals {
		tr.ClientCPU += f.CPU
	}
	if err != nil {
		return fail("%v", err)
	}
	return tr
}
