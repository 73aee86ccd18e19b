// Command loadgen is the benchmark suite's event-driven Socket.IO load
// generator: a few epoll loops hold up to ~19,000 clients in one process (no
// goroutine per connection), speaking Engine.IO v4 / Socket.IO v5 over
// WebSocket or, for a share of the clients, HTTP long-polling, from a range
// of 127.0.0.x source addresses.
//
// Standalone it ramps the clients of one scenario up, runs its measured
// phase(s), and writes one JSON object (results.Loadgen) to stdout or -out:
//
//	loadgen -addr 127.0.0.1:3000 -scenario echo -clients 1000 -duration 20s
//
// Under benchrun (-control) it ramps up, prints `RAMPED <json>`, then runs
// each `PHASE <json>` line read from stdin and answers `PHASE <json>`; `STOP`
// or the end of stdin closes every connection and prints the final object.
// Progress goes to stderr, at most once a second.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"sio/bench/internal/load"
	"sio/bench/internal/results"
)

func main() {
	var (
		addr       = flag.String("addr", "127.0.0.1:3000", "target host:port")
		path       = flag.String("path", "/socket.io/", "Engine.IO path")
		scenario   = flag.String("scenario", "echo", "idle, connect, echo, broadcast or mixed")
		clients    = flag.Int("clients", 100, "clients this process connects (broadcast: room members)")
		idBase     = flag.Int("id-base", 0, "id of this process's first client (rooms and the polling share are assigned by id)")
		pollShare  = flag.Float64("polling", 0, "share of clients on long-polling (0..1)")
		rooms      = flag.Int("rooms", 100, "idle and mixed: clients join room-<id % rooms> (0: no join)")
		sender     = flag.Bool("sender", false, "broadcast: this process also runs the sender (default: when -id-base is 0); idle: add a sender, for bcast phases under -control")
		src        = flag.String("src", "127.0.0.2-127.0.0.17", "source addresses: a.b.c.d-a.b.c.e, or a comma list")
		loops      = flag.Int("loops", 0, "event loops (default GOMAXPROCS)")
		inflight   = flag.Int("inflight", 256, "ramp: handshakes in flight")
		rampRate   = flag.Float64("ramp-rate", 0, "ramp: new clients per second (0: as fast as -inflight allows)")
		pad        = flag.Int("pad", 64, "padding bytes in each latency payload")
		duration   = flag.Duration("duration", 10*time.Second, "length of each measured phase")
		drain      = flag.Duration("drain", 500*time.Millisecond, "how long results of a phase are still collected after it")
		rates      = flag.String("rates", "10,50,100", "broadcast: broadcasts per second, one phase per rate")
		conc       = flag.Int("concurrency", 64, "connect: handshakes in flight")
		connModes  = flag.String("connect-modes", "ws,upgrade", "connect: phases to run (ws, upgrade)")
		control    = flag.Bool("control", false, "take phases from stdin (benchrun)")
		out        = flag.String("out", "", "write the result JSON here instead of stdout")
		proc       = flag.Int("proc", 0, "process index (in progress lines and the result)")
		verbose    = flag.Bool("v", false, "log every client failure")
		maxClients = flag.Int("max-clients", 19000, "refuse to hold more sockets than this in one process")
		cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of the whole run here")
	)
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	srcs, err := parseSources(*src)
	if err != nil {
		fatal(err)
	}
	prefix := fmt.Sprintf("[loadgen %d]", *proc)
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, prefix+" "+format+"\n", args...)
	}

	// The clients of the ramp.
	var specs []load.Spec
	switch *scenario {
	case "idle", "echo", "mixed", "broadcast":
		for i := 0; i < *clients; i++ {
			id := *idBase + i
			s := load.Spec{ID: id, Polling: isPolling(id, *pollShare)}
			switch {
			case *scenario == "broadcast":
				s.Room = "bcast"
			case *rooms > 0 && *scenario != "echo":
				s.Room = "room-" + strconv.Itoa(id%*rooms)
			}
			specs = append(specs, s)
		}
		if (*scenario == "broadcast" && (*sender || *idBase == 0)) || (*scenario == "idle" && *sender) {
			specs = append(specs, load.Spec{ID: -1, Sender: true})
		}
	case "connect":
	default:
		fatal(fmt.Errorf("unknown scenario %q", *scenario))
	}
	fds := 0
	for _, s := range specs {
		fds++
		if s.Polling {
			fds++ // the POST connection
		}
	}
	if fds > *maxClients {
		fatal(fmt.Errorf("%d sockets asked of one process, more than -max-clients %d: run several processes", fds, *maxClients))
	}

	eng, err := load.New(load.Config{
		Addr: *addr, Path: *path, Sources: srcs, Loops: *loops, Pad: *pad,
		Inflight: *inflight, RampRate: *rampRate, Verbose: *verbose,
		Log: func(s string) { logf("%s", s) },
	})
	if err != nil {
		fatal(err)
	}
	res := results.Loadgen{Proc: *proc, Scenario: *scenario, Addr: *addr, Sources: *src}

	if len(specs) > 0 {
		logf("ramp: %d clients (%d sockets) to %s from %s", len(specs), fds, *addr, *src)
	}
	var lastReady int64
	res.Ramp = eng.Ramp(specs, func(p load.Progress, el time.Duration) {
		logf("ramp %5.1fs: %d/%d ready (+%d/s), %d pending, %d failed, %d errors",
			el.Seconds(), p.Ready, len(specs), p.Ready-lastReady, int64(len(specs))-p.Ready-p.Failed, p.Failed, p.Errors)
		lastReady = p.Ready
	})
	if len(specs) > 0 {
		r := res.Ramp
		logf("ramp done in %.1fs: %d ready, %d failed, %.0f/s, p50 %s p99 %s, errors %v",
			r.Seconds, r.Connected, r.Failed, r.Rate, ms(r.Latency.Quantile(0.5)), ms(r.Latency.Quantile(0.99)), r.Errors)
	}

	runPhase := func(ps load.PhaseSpec) results.Phase {
		logf("phase %s (%s) for %s", ps.Name, ps.Kind, ps.Duration)
		var lastOps int64
		ph, err := eng.Phase(ps, func(p load.Progress, el time.Duration) {
			logf("%s %5.1fs: %d ops (+%d/s), %d sent, %d live, %d errors",
				ps.Name, el.Seconds(), p.Ops, p.Ops-lastOps, p.Sent, p.Live, p.Errors)
			lastOps = p.Ops
		})
		if err != nil {
			fatal(err)
		}
		logf("phase %s: %d ops in %.1fs (%.0f/s), p50 %s p99 %s p999 %s, errors %v, client cpu %.2fs",
			ps.Name, ph.Ops, ph.Seconds, float64(ph.Ops)/ph.Seconds, ms(ph.Latency.Quantile(0.5)),
			ms(ph.Latency.Quantile(0.99)), ms(ph.Latency.Quantile(0.999)), ph.Errors, ph.ClientCPU)
		res.Phases = append(res.Phases, ph)
		return ph
	}

	if *control {
		w := bufio.NewWriter(os.Stdout)
		emit := func(tag string, v any) {
			b, _ := json.Marshal(v)
			fmt.Fprintf(w, "%s %s\n", tag, b)
			w.Flush()
		}
		emit("RAMPED", res.Ramp)
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case line == "STOP":
				goto done
			case strings.HasPrefix(line, "PHASE "):
				var ps load.PhaseSpec
				if err := json.Unmarshal([]byte(line[6:]), &ps); err != nil {
					fatal(fmt.Errorf("bad phase %q: %v", line, err))
				}
				emit("PHASE", runPhase(ps))
			case line == "":
			default:
				fatal(fmt.Errorf("unknown command %q", line))
			}
		}
	} else {
		switch *scenario {
		case "idle":
			runPhase(load.PhaseSpec{Name: "idle", Kind: "idle", Duration: *duration})
		case "echo":
			runPhase(load.PhaseSpec{Name: "echo", Kind: "echo", Duration: *duration, Drain: *drain})
		case "mixed":
			runPhase(load.PhaseSpec{Name: "mixed", Kind: "mixed", Duration: *duration, Drain: *drain})
		case "broadcast":
			for _, f := range strings.Split(*rates, ",") {
				r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
				if err != nil || r <= 0 {
					fatal(fmt.Errorf("bad rate %q", f))
				}
				runPhase(load.PhaseSpec{Name: "bcast-" + f, Kind: "bcast", Duration: *duration, Drain: *drain, Rate: r})
			}
		case "connect":
			for _, m := range strings.Split(*connModes, ",") {
				runPhase(load.PhaseSpec{Name: "connect-" + m, Kind: "connect", Duration: *duration, Drain: *drain,
					Concurrency: *conc, Upgrade: m == "upgrade"})
			}
		}
	}
done:
	eng.Close()
	res.CPU = load.SelfCPU()
	res.MaxRSSKB = load.MaxRSSKB()
	b, _ := json.Marshal(res)
	if *out != "" {
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			fatal(err)
		}
		return
	}
	os.Stdout.Write(append(b, '\n'))
}

// isPolling spreads the polling share evenly over ids: id is polling when
// floor((id+1)*share) > floor(id*share).
func isPolling(id int, share float64) bool {
	if share <= 0 {
		return false
	}
	return int(float64(id+1)*share) > int(float64(id)*share)
}

func parseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if lo, hi, ok := strings.Cut(part, "-"); ok {
			a, err := netip.ParseAddr(lo)
			if err != nil {
				return nil, err
			}
			b, err := netip.ParseAddr(hi)
			if err != nil {
				return nil, err
			}
			for ; a.Compare(b) <= 0; a = a.Next() {
				out = append(out, a)
				if len(out) > 1<<16 {
					return nil, fmt.Errorf("source range %q too large", part)
				}
			}
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	for _, a := range out {
		if !a.Is4() || !a.IsLoopback() {
			return nil, fmt.Errorf("source %v: only 127.0.0.0/8 is allowed", a)
		}
	}
	return out, nil
}

func ms(ns int64) string { return fmt.Sprintf("%.2fms", float64(ns)/1e6) }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}
