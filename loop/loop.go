package loop

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Task is work posted to a loop; Run receives the loop it runs on. A pointer
// type implementing Task can be posted without allocating.
type Task interface{ Run(l *Loop) }

// TaskFunc adapts a function to Task.
type TaskFunc func()

// Run calls f.
func (f TaskFunc) Run(*Loop) { f() }

// taskBudget is how many posted tasks a loop runs in one pass before it
// goes back to epoll (gnet's MaxAsyncTasksAtOneTime): a producer that posts
// without pause delays the loop's own connections by one budget, never more.
const taskBudget = 256

// deferDelay is how soon the tasks left over by a pass run: long enough
// for the loop to go through epoll (its connections' I/O) first.
const deferDelay = 50 * time.Microsecond

// drainTick is how often a loop looks at connections waiting for their
// output to drain (gnet drains its buffer on writable events without
// telling us).
const drainTick = time.Millisecond

// Loop is our state for one gnet event loop: a FIFO of posted tasks, the
// connections with pending writes, and a timer heap. Everything except Post
// must be called on the loop's goroutine.
type Loop struct {
	srv *Server
	el  gnet.EventLoop
	idx int

	mu         sync.Mutex
	tasks      taskRing   // guarded by mu
	notFull    *sync.Cond // on mu: producers wait here while tasks is full
	waiting    int        // guarded by mu: producers waiting on notFull
	closed     bool       // guarded by mu: the engine stopped; nothing runs tasks any more
	scheduled  bool       // guarded by mu: a drain is queued (wake byte written or gnet task)
	inCallback bool       // guarded by mu: the loop is inside a callback and drains before leaving it
	spare      []Task     // loop only: the batch slice, reused

	// deferred asks the driver to drain the tasks left over when a pass
	// used its budget, after a pause. Not a gnet task from the loop itself:
	// gnet empties its task queue in one go, so a drain that re-posted
	// itself there would run again at once and starve every connection of
	// the loop. Not a loop timer either: timers fire through a posted task,
	// which would wait behind the very tasks it is meant to drain.
	deferred chan struct{}

	// Bytes consumed from the connections' input and handed to them for
	// output, written by the loop only (per loop: no cache line shared
	// with the other loops); Server.Stats sums them.
	bytesIn, bytesOut atomic.Int64

	dirty   []*Conn // loop only: connections with queued writes or a pending close
	current *Conn   // loop only: the connection whose OnTraffic is running (closing it must go through gnet's return value)
	serving *Conn   // loop only: the connection whose input is being parsed right now
	depth   int     // loop only: nesting of enter/exit
	req     Request // loop only: scratch for the request being parsed

	drainWait  map[*Conn]*drainWaiter // loop only: connections over their output cap, and what to run once drained
	drainTimer Timer
	admittedAs map[*Conn]netip.Addr // loop only: trusted proxies' connections, admitted under their client's address
	epfd       int                  // loop only: gnet's epoll descriptor + 1 (0: not looked up; -1+1: unreachable), for pausing input

	timers     timerHeap
	armedNext  int64         // loop only: the deadline the driver was last told about
	nextAt     atomic.Int64  // earliest deadline for the driver; 0 = none
	wake       chan struct{} // tells the driver nextAt moved earlier
	firing     atomic.Bool   // a timer batch is posted and not yet run
	stop       chan struct{}
	driverDone chan struct{}

	drainTask gnet.RunnableFunc
	fireTask  fireTimers
}

func newLoop(srv *Server, el gnet.EventLoop, idx int) *Loop {
	l := &Loop{
		srv:        srv,
		el:         el,
		idx:        idx,
		wake:       make(chan struct{}, 1),
		deferred:   make(chan struct{}, 1),
		stop:       make(chan struct{}),
		driverDone: make(chan struct{}),
	}
	l.notFull = sync.NewCond(&l.mu)
	l.drainTask = func(context.Context) error { l.drain(); return nil }
	l.fireTask.l = l
	l.drainTimer.InitArg(l, drainTimerFired, l)
	go l.driver()
	return l
}

// Index is the loop's position among the server's loops (0-based, in order of
// first use).
func (l *Loop) Index() int { return l.idx }

// Server returns the server the loop belongs to.
func (l *Loop) Server() *Server { return l.srv }

// Now is the loop's clock: monotonic nanoseconds since the server started.
func (l *Loop) Now() int64 { return l.srv.now() }

// Post runs t on the loop, after every task posted before it. Safe from any
// goroutine. Tasks posted while the loop is inside a callback run before it
// goes back to epoll, up to a budget per pass.
//
// The queue is bounded (Options.MaxPendingTasks): a goroutine that is not
// an event loop waits in Post while the loop is that far behind, which is
// the back-pressure a producer needs; an event loop never waits (two loops
// posting to each other must not deadlock), so its posts may exceed the
// bound by what one of its passes produces.
func (l *Loop) Post(t Task) { l.post(t, false) }

// post is Post; force kicks the loop even when a drain is already due (the
// timer driver's batch must not wait for a deferred drain).
func (l *Loop) post(t Task, force bool) {
	l.mu.Lock()
	if l.tasks.n >= l.srv.opts.MaxPendingTasks && !l.closed && !l.srv.OnLoopThread() {
		l.srv.stats.postWaits.Add(1)
		for l.tasks.n >= l.srv.opts.MaxPendingTasks && !l.closed {
			l.waiting++
			l.notFull.Wait()
			l.waiting--
		}
	}
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.tasks.push(t)
	kick := (!l.scheduled || force) && !l.inCallback
	if kick {
		l.scheduled = true
	}
	l.mu.Unlock()
	if kick {
		l.kick()
	}
}

// PostFunc is Post(TaskFunc(fn)).
func (l *Loop) PostFunc(fn func()) { l.Post(TaskFunc(fn)) }

// kick makes the loop drain its tasks soon.
func (l *Loop) kick() {
	if err := l.el.Execute(context.Background(), l.drainTask); err != nil {
		l.shutdown() // the engine is stopping: nothing will run tasks any more
	}
}

// shutdown drops the queue and releases waiting producers.
func (l *Loop) shutdown() {
	l.mu.Lock()
	l.closed = true
	l.scheduled = false
	l.tasks.reset()
	l.notFull.Broadcast()
	l.mu.Unlock()
}

// enter marks the start of a callback on the loop.
func (l *Loop) enter() {
	l.depth++
	if l.depth > 1 {
		return
	}
	l.mu.Lock()
	l.inCallback = true
	l.mu.Unlock()
}

// exit runs the tasks posted meanwhile, up to the budget of a pass, then
// flushes every dirty connection, repeating until nothing is left, and only
// then lets Post kick the loop again. Tasks left over past the budget are
// run by a drain after the loop went back to epoll (see deferred).
func (l *Loop) exit() {
	if l.depth > 1 {
		l.depth--
		return
	}
	// depth stays 1 while draining, so a close that gnet reports from inside
	// (OnClose) is handled inline rather than by a nested exit.
	ran := 0
	for {
		l.mu.Lock()
		if l.tasks.n == 0 {
			if len(l.dirty) == 0 {
				l.inCallback = false
				l.depth = 0
				l.mu.Unlock()
				return
			}
			l.mu.Unlock()
			l.flushDirty()
			continue
		}
		if ran >= taskBudget {
			deferred := !l.scheduled && !l.closed
			if deferred {
				l.scheduled = true // Post need not kick: the deferred drain is coming
			}
			l.mu.Unlock()
			l.flushDirty()
			l.mu.Lock()
			l.inCallback = false
			l.mu.Unlock()
			l.depth = 0
			if deferred {
				select {
				case l.deferred <- struct{}{}:
				default:
				}
			}
			return
		}
		k := min(l.tasks.n, taskBudget-ran)
		batch := l.spare[:0]
		for range k {
			batch = append(batch, l.tasks.pop())
		}
		if l.waiting > 0 && l.tasks.n < l.srv.opts.MaxPendingTasks {
			l.notFull.Broadcast()
		}
		l.mu.Unlock()
		for i, t := range batch {
			batch[i] = nil
			l.runTask(t)
		}
		ran += k
		l.spare = batch[:0]
		l.flushDirty()
	}
}

func (l *Loop) runTask(t Task) {
	defer func() {
		if r := recover(); r != nil {
			l.srv.recovered(r, nil)
		}
	}()
	t.Run(l)
}

// drain runs posted work (the wake socket's OnTraffic, or a gnet task).
func (l *Loop) drain() {
	l.mu.Lock()
	l.scheduled = false
	l.inCallback = true
	l.mu.Unlock()
	l.depth++
	l.exit()
}

// Pending is the number of tasks posted to the loop and not yet run. Safe
// from any goroutine.
func (l *Loop) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tasks.n
}

// markDirty queues c for a flush at the end of the current batch.
func (l *Loop) markDirty(c *Conn) {
	if c.flags&flagDirty != 0 {
		return
	}
	c.flags |= flagDirty
	l.dirty = append(l.dirty, c)
}

func (l *Loop) flushDirty() {
	for len(l.dirty) > 0 {
		batch := l.dirty
		l.dirty = nil
		for i, c := range batch {
			batch[i] = nil
			c.flags &^= flagDirty
			c.flush()
		}
		if l.dirty == nil {
			l.dirty = batch[:0]
		}
	}
}

// drainWaiter is a producer waiting for a connection to drain, and the
// progress the connection made meanwhile.
type drainWaiter struct {
	t        Task
	low      int   // run t once Buffered() is at most this
	unsent   int   // Buffered() when last looked at
	progress int64 // loop time the connection last took bytes
}

// waitDrain runs t on the loop once c's unsent output has fallen to half
// its cap, or c closed (loop only). One waiter per connection: a second
// call replaces the first. A connection that takes no byte for
// Options.WriteStallTimeout meanwhile is closed as a slow consumer.
func (l *Loop) waitDrain(c *Conn, t Task, low int) {
	if l.drainWait == nil {
		l.drainWait = make(map[*Conn]*drainWaiter)
	}
	if w := l.drainWait[c]; w != nil {
		w.t, w.low = t, low
	} else {
		l.drainWait[c] = &drainWaiter{t: t, low: low, unsent: c.Buffered(), progress: l.Now()}
	}
	if !l.drainTimer.Armed() {
		l.drainTimer.Reset(drainTick)
	}
}

func drainTimerFired(a any) { a.(*Loop).checkDrains() }

// checkDrains runs the waiters whose connection drained (or closed), and
// closes the connections that stalled.
func (l *Loop) checkDrains() {
	if len(l.drainWait) == 0 {
		return
	}
	now := l.Now()
	stall := int64(l.srv.opts.WriteStallTimeout)
	var ready []Task
	for c, w := range l.drainWait {
		if c.flags&flagPaused != 0 {
			c.setInterest(true) // gnet may have re-registered reads as its buffer drained
		}
		unsent := c.Buffered()
		if unsent < w.unsent {
			w.progress = now
		}
		w.unsent = unsent
		if c.flags&flagClosed == 0 && unsent > w.low && now-w.progress >= stall {
			c.Abort(ReasonSlowConsumer) // it takes nothing: it will not take the rest
		}
		if c.flags&flagClosed != 0 || unsent <= w.low {
			delete(l.drainWait, c)
			ready = append(ready, w.t)
		}
	}
	if len(l.drainWait) == 0 {
		l.drainWait = nil // a map that held many waiters once keeps its buckets
	} else {
		l.drainTimer.Reset(drainTick)
	}
	for _, t := range ready {
		l.runTask(t)
	}
}

// timersChanged tells the driver when the earliest deadline moved earlier.
func (l *Loop) timersChanged() {
	var next int64
	if len(l.timers) > 0 {
		next = l.timers[0].when
	}
	if next == l.armedNext {
		return
	}
	l.nextAt.Store(next)
	earlier := next != 0 && (l.armedNext == 0 || next < l.armedNext)
	l.armedNext = next
	if earlier {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

type fireTimers struct{ l *Loop }

// Run fires every expired timer on the loop.
func (f *fireTimers) Run(*Loop) {
	l := f.l
	l.firing.Store(false)
	now := l.Now()
	for len(l.timers) > 0 && l.timers[0].when <= now {
		t := l.timers[0]
		l.timers.remove(0)
		l.runTimer(t)
	}
	var next int64
	if len(l.timers) > 0 {
		next = l.timers[0].when
	}
	l.armedNext = next
	l.nextAt.Store(next)
	select { // the driver waits for this batch before reading nextAt again
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Loop) runTimer(t *Timer) {
	defer func() {
		if r := recover(); r != nil {
			l.srv.recovered(r, nil)
		}
	}()
	if t.fna != nil {
		t.fna(t.arg)
		return
	}
	t.fn()
}

// driver sleeps until the loop's earliest deadline and then posts a timer
// batch. It is the loop's only helper goroutine; Server.Stop stops it.
func (l *Loop) driver() {
	defer close(l.driverDone)
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	for {
		next := l.nextAt.Load()
		if next == 0 || l.firing.Load() {
			select {
			case <-l.stop:
				return
			case <-l.wake:
			case <-l.deferred:
				l.deferredDrain()
			}
			continue
		}
		d := time.Duration(next - l.Now())
		if d <= 0 {
			l.firing.Store(true)
			l.post(&l.fireTask, true)
			continue
		}
		tm.Reset(d)
		select {
		case <-l.stop:
			return
		case <-l.wake:
			tm.Stop() // Go ≥1.23 timers: no stale value survives Stop
		case <-tm.C:
		case <-l.deferred:
			tm.Stop()
			l.deferredDrain()
		}
	}
}

// deferredDrain kicks the loop for the tasks a pass left over, after a
// pause in which the loop goes through epoll. scheduled is already set.
func (l *Loop) deferredDrain() {
	time.Sleep(deferDelay)
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if !closed {
		l.kick()
	}
}

// taskRing is a FIFO of tasks in a ring that grows by doubling and gives its
// memory back once a burst is over.
type taskRing struct {
	buf  []Task
	head int
	n    int
}

func (r *taskRing) push(t Task) {
	if r.n == len(r.buf) {
		nb := make([]Task, max(16, 2*len(r.buf)))
		for i := range r.n {
			nb[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = t
	r.n++
}

func (r *taskRing) pop() Task {
	t := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	if r.n == 0 {
		r.head = 0
		if len(r.buf) > 4096 {
			r.buf = nil
		}
	}
	return t
}

func (r *taskRing) reset() {
	clear(r.buf)
	r.buf, r.head, r.n = nil, 0, 0
}
