package load

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"sio/bench/internal/hist"
	"sio/bench/internal/results"
)

// A loop is one event loop: an epoll instance, the sockets registered on it,
// a timer heap and the clients it owns. Everything but post runs on the
// loop's goroutine; the controller talks to it only through posted tasks and
// reads its progress from atomics.
type loop struct {
	e   *Engine
	idx int

	epfd  int
	wakeR int
	wakeW int

	mu    sync.Mutex
	tasks []func() // guarded by mu
	woken atomic.Bool

	dst     syscall.SockaddrInet4 // the target; each loop its own (connect writes into it)
	socks   []*sock               // by fd
	sockGen int32
	buf     []byte // read buffer, shared by every socket of the loop
	pkt     []byte // scratch: the packet being built
	frame   []byte // scratch: the frame or HTTP request being built
	chunk   []byte // scratch: a de-chunked HTTP body
	timers  timerHeap
	now     int64 // wall clock, unix ns, refreshed after every epoll_wait
	rng     uint64
	stopped bool

	clients []*client            // the ramp clients of this loop
	churn   map[*client]struct{} // connect-phase clients in flight
	srcNext int

	// ramp
	dialQ      []*client
	inflight   int // started, neither ready nor given up
	maxFlight  int
	rate       float64 // new clients per second, 0 = unlimited
	tokens     float64
	lastRefill int64
	rampLat    *hist.H
	rampErrs   results.Errors

	ph       *phase // the measured window, nil outside one
	churning bool   // inside churnStart

	// progress, read by the controller
	aReady  atomic.Int64 // ramp clients ready (ever)
	aFailed atomic.Int64 // ramp clients given up
	aLive   atomic.Int64 // sessions alive and ready now
	aErrors atomic.Int64
	aOps    atomic.Int64
	aSent   atomic.Int64
}

// phase is a loop's share of a measured window.
type phase struct {
	spec  PhaseSpec
	kind  phaseKind
	start int64
	end   int64
	sent  int64
	ops   int64
	lat   *hist.H
	errs  results.Errors
	cpu0  float64

	churnActive int
	churnLimit  int
	churnID     int

	sends map[int64]*results.Send // tracked phase: by broadcast sequence number
}

func newLoop(e *Engine, idx int) (*loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	l := &loop{
		e: e, idx: idx, epfd: epfd, wakeR: p[0], wakeW: p[1],
		buf:      make([]byte, 64<<10),
		dst:      syscall.SockaddrInet4{Port: e.dst.Port, Addr: e.dst.Addr},
		rng:      uint64(time.Now().UnixNano()) ^ uint64(idx+1)<<40 | 1,
		churn:    map[*client]struct{}{},
		rampLat:  hist.New(),
		rampErrs: results.Errors{},
		now:      time.Now().UnixNano(),
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.wakeR)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.wakeR, &ev); err != nil {
		return nil, err
	}
	return l, nil
}

// post runs f on the loop. Safe from any goroutine.
func (l *loop) post(f func()) {
	l.mu.Lock()
	l.tasks = append(l.tasks, f)
	l.mu.Unlock()
	if l.woken.CompareAndSwap(false, true) {
		syscall.Write(l.wakeW, []byte{1})
	}
}

// call runs f on the loop and waits for it.
func (l *loop) call(f func()) {
	done := make(chan struct{})
	l.post(func() { f(); close(done) })
	<-done
}

func (l *loop) runTasks() {
	var b [64]byte
	for {
		if n, _ := syscall.Read(l.wakeR, b[:]); n < len(b) {
			break
		}
	}
	l.woken.Store(false)
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	for _, f := range tasks {
		f()
	}
}

var dbg = os.Getenv("LOADGEN_DEBUG") != ""

func (l *loop) run() {
	events := make([]syscall.EpollEvent, 1024)
	for !l.stopped {
		timeout := l.timeout()
		var tw int64
		if dbg {
			tw = time.Now().UnixNano()
		}
		n, err := syscall.EpollWait(l.epfd, events, timeout)
		l.now = time.Now().UnixNano()
		if dbg && l.now-tw > int64(timeout)*1e6+50e6 {
			l.e.logf("loop %d: epoll_wait(%d ms) took %d ms, n=%d", l.idx, timeout, (l.now-tw)/1e6, n)
		}
		if err != nil && err != syscall.EINTR {
			panic("epoll_wait: " + err.Error())
		}
		for i := 0; i < n; i++ {
			ev := &events[i]
			fd := int(ev.Fd)
			if fd == l.wakeR {
				l.runTasks()
				continue
			}
			if fd >= len(l.socks) {
				continue
			}
			s := l.socks[fd]
			if s == nil || s.gen != ev.Pad {
				continue // closed earlier in this batch, perhaps reused
			}
			if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 && (s.state == sockConnecting || len(s.out) > 0) {
				l.onWritable(s)
			}
			if s.state == sockOpen && ev.Events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP|syscall.EPOLLRDHUP) != 0 {
				l.onReadable(s)
			}
		}
		if dbg && time.Now().UnixNano()-l.now > 50e6 {
			l.e.logf("loop %d: processing %d events took %d ms", l.idx, n, (time.Now().UnixNano()-l.now)/1e6)
		}
		l.fireTimers()
		l.pump()
	}
	l.shutdown()
}

// timeout is the epoll_wait timeout in ms: until the next timer, shorter when
// a rate-limited ramp is waiting for tokens.
func (l *loop) timeout() int {
	t := 200
	if len(l.dialQ) > 0 && l.rate > 0 {
		t = 5
	}
	if len(l.timers) > 0 {
		d := (l.timers[0].at - time.Now().UnixNano() + 999_999) / 1_000_000
		if d < 0 {
			d = 0
		}
		if int(d) < t {
			t = int(d)
		}
	}
	return t
}

// pump starts queued ramp clients within the in-flight and rate limits.
func (l *loop) pump() {
	if l.ph != nil && l.ph.kind == kindConnect {
		l.churnStart()
	}
	if len(l.dialQ) == 0 {
		return
	}
	if l.rate > 0 {
		if l.lastRefill == 0 {
			l.lastRefill = l.now
			l.tokens = 1
		}
		l.tokens += float64(l.now-l.lastRefill) * l.rate / 1e9
		l.lastRefill = l.now
		if burst := max(1, l.rate/20); l.tokens > burst {
			l.tokens = burst
		}
	}
	for len(l.dialQ) > 0 && l.inflight < l.maxFlight {
		if l.rate > 0 {
			if l.tokens < 1 {
				break
			}
			l.tokens--
		}
		c := l.dialQ[0]
		l.dialQ[0] = nil
		l.dialQ = l.dialQ[1:]
		l.inflight++
		c.begin()
	}
}

func (l *loop) shutdown() {
	for fd, s := range l.socks {
		if s != nil {
			syscall.Close(fd)
			l.socks[fd] = nil
		}
	}
	syscall.Close(l.epfd)
	syscall.Close(l.wakeR)
	syscall.Close(l.wakeW)
}

func (l *loop) rand() uint64 {
	// xorshift64*
	l.rng ^= l.rng >> 12
	l.rng ^= l.rng << 25
	l.rng ^= l.rng >> 27
	return l.rng * 2685821657736338717
}

func (l *loop) source() [4]byte {
	src := l.e.src
	a := src[(l.idx+l.srcNext*len(l.e.loops))%len(src)]
	l.srcNext++
	return a
}

// countErr records a failure of the given kind in the ramp or the phase.
func (l *loop) countErr(kind string, inPhase bool) {
	l.aErrors.Add(1)
	if inPhase && l.ph != nil {
		l.ph.errs[kind]++
		return
	}
	l.rampErrs[kind]++
}

// recordOp counts a completed operation started at t (unix ns) when t lies in
// the measured window.
func (l *loop) recordOp(t int64) {
	p := l.ph
	if p == nil || t < p.start || t >= p.end {
		return
	}
	p.ops++
	p.lat.Record(l.now - t)
	l.aOps.Add(1)
}

// recordDelivery counts, in a tracked phase, broadcast seq (sent at t)
// received by c: per broadcast and in c's set. Whatever the window: a
// tracked phase counts every numbered broadcast it sees.
func (l *loop) recordDelivery(c *client, seq, t int64) {
	p := l.ph
	if p == nil || p.sends == nil || seq < 1 || seq > MaxTracked {
		return
	}
	s := p.sends[seq]
	if s == nil {
		s = &results.Send{Seq: seq, T: t, First: l.now, Latency: hist.New()}
		p.sends[seq] = s
	}
	bit := uint64(1) << uint(seq-1)
	if c.seen&bit != 0 {
		c.dupes++
		s.Dupes++
		return
	}
	c.seen |= bit
	s.N++
	s.First = min(s.First, l.now)
	s.Last = max(s.Last, l.now)
	s.Latency.Record(l.now - t)
}

func (l *loop) inWindow() bool {
	return l.ph != nil && l.now >= l.ph.start && l.now < l.ph.end
}

// timers: a binary min-heap of (at, client, kind, seq). A client cancels a
// timer by bumping its seq for that kind; stale entries are skipped.
type timerKind uint8

const (
	tDeadline timerKind = iota // handshake deadline, or retry backoff
	tEmit                      // next scheduled emit (mixed, broadcast sender)
	nTimerKinds
)

type timer struct {
	at   int64
	c    *client
	kind timerKind
	seq  uint32
}

type timerHeap []timer

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].at <= a[i].at {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *timerHeap) pop() timer {
	a := *h
	t := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = timer{}
	a = a[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a[l].at < a[m].at {
			m = l
		}
		if r < n && a[r].at < a[m].at {
			m = r
		}
		if m == i {
			break
		}
		a[m], a[i] = a[i], a[m]
		i = m
	}
	*h = a
	return t
}

func (l *loop) schedule(c *client, k timerKind, at int64) {
	c.seq[k]++
	l.timers.push(timer{at: at, c: c, kind: k, seq: c.seq[k]})
}

func (l *loop) cancel(c *client, k timerKind) { c.seq[k]++ }

func (l *loop) fireTimers() {
	for len(l.timers) > 0 {
		if l.timers[0].at > l.now {
			if l.timers[0].at > time.Now().UnixNano() {
				return
			}
			l.now = time.Now().UnixNano()
		}
		t := l.timers.pop()
		if t.c.seq[t.kind] != t.seq {
			continue
		}
		t.c.onTimer(t.kind)
	}
}
