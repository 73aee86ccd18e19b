// Package load is the event-driven Socket.IO client of the load generator:
// a few epoll loops (no goroutine per connection) drive thousands of small
// per-client state machines speaking Engine.IO v4 / Socket.IO v5 over
// WebSocket or HTTP long-polling, from a range of 127.0.0.x source
// addresses. The controller (loadgen's main) ramps clients up, then runs
// measured phases; the loops count operations and latencies, and the
// controller merges their figures.
package load

import (
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"sio/bench/internal/hist"
	"sio/bench/internal/results"
)

// Config is what every client of a process shares.
type Config struct {
	Addr      string       // target host:port (IPv4)
	Path      string       // Engine.IO path, "/socket.io/"
	Sources   []netip.Addr // local addresses to bind, used round robin
	Loops     int          // event loops (default: GOMAXPROCS)
	Pad       int          // bytes of padding in latency payloads
	Inflight  int          // handshakes in flight during the ramp (whole process)
	RampRate  float64      // new clients per second during the ramp (whole process), 0 = unlimited
	BcastRoom string       // the room the broadcast sender targets
	Verbose   bool
	Log       func(string)
}

// Spec describes one ramp client.
type Spec struct {
	ID      int
	Polling bool
	Room    string // joined after connecting when not empty
	Sender  bool   // the broadcast sender
}

type phaseKind uint8

const (
	kindIdle phaseKind = iota
	kindConnect
	kindEcho
	kindBcast
	kindMixed
)

var kindNames = map[string]phaseKind{"idle": kindIdle, "connect": kindConnect, "echo": kindEcho, "bcast": kindBcast, "mixed": kindMixed}

// PhaseSpec describes one measured window.
type PhaseSpec struct {
	Name     string        `json:"name"`
	Kind     string        `json:"kind"` // idle, connect, echo, bcast, mixed
	Duration time.Duration `json:"duration"`
	// Drain is how long after the window results are still collected for
	// operations started inside it.
	Drain time.Duration `json:"drain"`
	Rate  float64       `json:"rate,omitempty"` // bcast: broadcasts per second
	// Concurrency is the number of handshakes kept in flight (connect).
	Concurrency int `json:"concurrency,omitempty"`
	// Upgrade makes connect clients poll first and then upgrade.
	Upgrade bool `json:"upgrade,omitempty"`
	// Start is when the window opens (unix ns), the same instant for every
	// loadgen process of a run; 0 opens it 20 ms after the phase is read.
	Start int64 `json:"start,omitempty"`
	// Event is what the bcast sender emits: "" is `bcast` to the room,
	// "bcastall" is `bcastall` (io.emit to every socket, on every node).
	Event string `json:"event,omitempty"`
	// Track numbers the broadcasts (`"n":<seq>` in the payload, 1-based) and
	// counts deliveries per broadcast and per client: which client missed
	// which broadcast, which got one twice (at most MaxTracked broadcasts).
	Track bool `json:"track,omitempty"`
}

// MaxTracked is the most broadcasts a tracked phase follows per client.
const MaxTracked = 64

// Engine owns the loops.
type Engine struct {
	cfg   Config
	dst   syscall.SockaddrInet4
	loops []*loop
	wg    sync.WaitGroup
	pad   []byte
	src   [][4]byte
}

// New starts the loops.
func New(cfg Config) (*Engine, error) {
	ap, err := netip.ParseAddrPort(cfg.Addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("target address %q: need IPv4 host:port", cfg.Addr)
	}
	if cfg.Path == "" {
		cfg.Path = "/socket.io/"
	}
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.GOMAXPROCS(0)
	}
	if cfg.Inflight <= 0 {
		cfg.Inflight = 256
	}
	if len(cfg.Sources) == 0 {
		cfg.Sources = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	if cfg.BcastRoom == "" {
		cfg.BcastRoom = "bcast"
	}
	e := &Engine{cfg: cfg, dst: syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}}
	for _, a := range cfg.Sources {
		if !a.Is4() {
			return nil, fmt.Errorf("source address %v: need IPv4", a)
		}
		e.src = append(e.src, a.As4())
	}
	e.pad = make([]byte, cfg.Pad)
	for i := range e.pad {
		e.pad[i] = 'a' + byte(i%26)
	}
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(e, i)
		if err != nil {
			e.Close()
			return nil, err
		}
		l.maxFlight = max(1, cfg.Inflight/cfg.Loops)
		l.rate = cfg.RampRate / float64(cfg.Loops)
		e.loops = append(e.loops, l)
	}
	for _, l := range e.loops {
		e.wg.Add(1)
		go func() { defer e.wg.Done(); l.run() }()
	}
	return e, nil
}

func (e *Engine) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if e.cfg.Log != nil {
		e.cfg.Log(msg)
		return
	}
	fmt.Fprintln(os.Stderr, msg)
}

// appendPayload appends the latency payload {"t":<unix ns>,"p":"<pad>"}.
func (e *Engine) appendPayload(b []byte, t int64) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"p":"`...)
	b = append(b, e.pad...)
	return append(b, `"}`...)
}

// Progress is a snapshot of the counters, for progress lines.
type Progress struct {
	Ready, Failed, Live, Errors, Ops, Sent int64
	Inflight                               int
}

// Progress sums the loops' counters.
func (e *Engine) Progress() Progress {
	var p Progress
	for _, l := range e.loops {
		p.Ready += l.aReady.Load()
		p.Failed += l.aFailed.Load()
		p.Live += l.aLive.Load()
		p.Errors += l.aErrors.Load()
		p.Ops += l.aOps.Load()
		p.Sent += l.aSent.Load()
	}
	return p
}

// Ramp connects the clients and returns once each is ready or has given up.
// tick is called about once a second.
func (e *Engine) Ramp(specs []Spec, tick func(Progress, time.Duration)) results.Ramp {
	t0 := time.Now()
	polling := 0
	per := make([][]Spec, len(e.loops))
	for i, s := range specs {
		per[i%len(e.loops)] = append(per[i%len(e.loops)], s)
		if s.Polling {
			polling++
		}
	}
	for i, l := range e.loops {
		mine := per[i]
		l.post(func() {
			l.now = time.Now().UnixNano()
			for _, s := range mine {
				c := &client{l: l, id: s.ID, polling: s.Polling, room: s.Room, role: roleRamp}
				if s.Sender {
					c.role = roleSender
				}
				l.clients = append(l.clients, c)
				l.dialQ = append(l.dialQ, c)
			}
			l.pump()
		})
	}
	lastTick := time.Now()
	for {
		p := e.Progress()
		if p.Ready+p.Failed >= int64(len(specs)) {
			break
		}
		time.Sleep(20 * time.Millisecond)
		if tick != nil && time.Since(lastTick) >= time.Second {
			lastTick = time.Now()
			tick(p, time.Since(t0))
		}
	}
	r := results.Ramp{Clients: len(specs), Polling: polling, Seconds: time.Since(t0).Seconds(),
		Latency: hist.New(), Errors: results.Errors{}}
	for _, l := range e.loops {
		l.call(func() {
			r.Latency.Merge(l.rampLat)
			r.Errors.Add(l.rampErrs)
		})
	}
	p := e.Progress()
	r.Connected, r.Failed = int(p.Ready), int(p.Failed)
	if r.Seconds > 0 {
		r.Rate = float64(r.Connected) / r.Seconds
	}
	return r
}

// Phase runs one measured window and returns this process's figures.
func (e *Engine) Phase(ps PhaseSpec, tick func(Progress, time.Duration)) (results.Phase, error) {
	kind, ok := kindNames[ps.Kind]
	if !ok {
		return results.Phase{}, fmt.Errorf("unknown phase kind %q", ps.Kind)
	}
	if kind == kindBcast && ps.Rate <= 0 {
		return results.Phase{}, fmt.Errorf("bcast phase needs a rate")
	}
	if ps.Track && (kind != kindBcast || float64(ps.Duration.Nanoseconds())*ps.Rate/1e9 > MaxTracked) {
		return results.Phase{}, fmt.Errorf("a tracked phase is a bcast phase of at most %d broadcasts", MaxTracked)
	}
	cpu0 := SelfCPU()
	start := time.Now().Add(20 * time.Millisecond).UnixNano()
	if ps.Start > 0 {
		start = ps.Start
	}
	end := start + ps.Duration.Nanoseconds()
	for _, l := range e.loops {
		l.post(func() { l.beginPhase(ps, kind, start, end) })
	}
	startP := e.Progress()
	t0 := time.Now()
	deadline := time.Unix(0, end).Add(ps.Drain)
	lastTick := time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(min(50*time.Millisecond, time.Until(deadline)+time.Millisecond))
		if tick != nil && time.Since(lastTick) >= time.Second {
			lastTick = time.Now()
			p := e.Progress()
			p.Ops -= startP.Ops
			p.Sent -= startP.Sent
			tick(p, time.Since(t0))
		}
	}
	out := results.Phase{Name: ps.Name, Kind: ps.Kind, Rate: ps.Rate, Seconds: ps.Duration.Seconds(),
		Latency: hist.New(), Errors: results.Errors{}}
	var tr *tracking
	if ps.Track {
		tr = &tracking{sends: map[int64]*results.Send{}}
	}
	for _, l := range e.loops {
		l.call(func() {
			p := l.ph
			out.Sent += p.sent
			out.Ops += p.ops
			out.Latency.Merge(p.lat)
			out.Errors.Add(p.errs)
			if tr != nil {
				tr.collect(l)
			}
			for _, c := range l.clients {
				if c.state == csReady && c.role != roleChurn {
					out.Live++
					if c.polling {
						out.PollingLive++
					}
					if c.room != "" && c.room == e.cfg.BcastRoom {
						out.Members++
					}
				}
			}
			l.endPhase()
		})
	}
	if tr != nil {
		tr.finish(&out)
	}
	out.ClientCPU = SelfCPU() - cpu0
	return out, nil
}

// tracking gathers a tracked phase over the loops: per broadcast, and per
// client the set of broadcasts it received.
type tracking struct {
	sends   map[int64]*results.Send
	clients []*client // tracked clients, every loop
	union   uint64    // every broadcast any client of this process received
}

func (tr *tracking) collect(l *loop) {
	for seq, s := range l.ph.sends {
		if m, ok := tr.sends[seq]; ok {
			m.Merge(s)
		} else {
			tr.sends[seq] = s
		}
		tr.union |= 1 << uint(seq-1)
	}
	for _, c := range l.clients {
		if c.tracked {
			tr.clients = append(tr.clients, c)
		}
	}
}

// finish fills the phase's tracking figures. It runs after the loops
// answered; the clients' sets are no longer written (the phase is over).
func (tr *tracking) finish(out *results.Phase) {
	out.Got = map[int]int64{}
	for _, c := range tr.clients {
		out.Tracked++
		out.Got[bits.OnesCount64(c.seen)]++
		out.Dupes += c.dupes
		if (c.seen != tr.union || c.dupes > 0) && len(out.Missed) < 20 {
			out.Missed = append(out.Missed, results.Missed{ID: c.id, Seen: c.seen, Dupes: c.dupes})
		}
	}
	for _, s := range tr.sends {
		out.Sends = append(out.Sends, *s)
	}
	slices.SortFunc(out.Sends, func(a, b results.Send) int { return int(a.Seq - b.Seq) })
}

func (l *loop) beginPhase(ps PhaseSpec, kind phaseKind, start, end int64) {
	l.now = time.Now().UnixNano()
	p := &phase{spec: ps, kind: kind, start: start, end: end, lat: hist.New(), errs: results.Errors{}}
	l.ph = p
	if ps.Track {
		p.sends = map[int64]*results.Send{}
		for _, c := range l.clients {
			c.tracked = c.state == csReady && c.role != roleChurn
			c.seen, c.dupes = 0, 0
		}
	}
	switch kind {
	case kindEcho:
		// Closed loop: every ready client keeps one echo in flight. The
		// first go out as the window opens.
		for _, c := range l.clients {
			if c.state == csReady && c.role == roleRamp {
				c.nextEmit = start
				l.schedule(c, tEmit, start)
			}
		}
	case kindMixed:
		// Open loop: each client emits once a second, at its own offset.
		for _, c := range l.clients {
			if c.state == csReady && c.role == roleRamp {
				c.nextEmit = start + int64(l.rand()%1e9)
				l.schedule(c, tEmit, c.nextEmit)
			}
		}
	case kindBcast:
		for _, c := range l.clients {
			if c.state == csReady && c.role == roleSender {
				c.sent = 0
				l.schedule(c, tEmit, start)
			}
		}
	case kindConnect:
		conc := ps.Concurrency
		if conc <= 0 {
			conc = 64
		}
		p.churnLimit = max(1, conc/len(l.e.loops))
		l.churnStart()
	}
}

func (l *loop) endPhase() {
	for _, c := range l.clients {
		l.cancel(c, tEmit)
	}
	// Churn clients still in flight are abandoned.
	for c := range l.churn {
		c.close()
	}
	clear(l.churn)
	l.ph = nil
}

// churnStart keeps the connect phase's handshakes in flight.
// A client that fails at once (no socket) ends this round; the loop's pump
// starts the next, so a refusing target is retried, not spun on.
func (l *loop) churnStart() {
	p := l.ph
	if p == nil || l.churning {
		return
	}
	l.churning = true
	defer func() { l.churning = false }()
	for p.kind == kindConnect && p.churnActive < p.churnLimit && l.now < p.end {
		p.churnActive++
		p.churnID++
		c := &client{l: l, id: p.churnID, role: roleChurn, polling: p.spec.Upgrade, upgrade: p.spec.Upgrade}
		l.churn[c] = struct{}{}
		if l.now >= p.start {
			p.sent++
			l.aSent.Add(1)
		}
		c.begin()
		if c.state == csDead {
			return
		}
	}
}

func (l *loop) churnDone(c *client) {
	delete(l.churn, c)
	if l.ph != nil && l.ph.kind == kindConnect {
		l.ph.churnActive--
		l.churnStart()
	}
}

// Close stops the loops; every connection is closed.
func (e *Engine) Close() {
	for _, l := range e.loops {
		l.post(func() { l.stopped = true })
	}
	e.wg.Wait()
}

// SelfCPU is the user+system CPU seconds of this process so far.
func SelfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// MaxRSSKB is the process's peak resident set.
func MaxRSSKB() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss
}
