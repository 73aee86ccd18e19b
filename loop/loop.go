package loop

import (
	"context"
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

// Loop is our state for one gnet event loop: a FIFO of posted tasks, the
// connections with pending writes, and a timer heap. Everything except Post
// must be called on the loop's goroutine.
type Loop struct {
	srv *Server
	el  gnet.EventLoop
	idx int

	mu         sync.Mutex
	tasks      []Task // guarded by mu
	spare      []Task // loop only: the drained slice, reused
	scheduled  bool   // guarded by mu: a drain is queued in gnet
	inCallback bool   // guarded by mu: the loop is inside a callback and drains before leaving it

	dirty   []*Conn // loop only: connections with queued writes or a pending close
	current *Conn   // loop only: the connection whose OnTraffic is running (closing it must go through gnet's return value)
	serving *Conn   // loop only: the connection whose input is being parsed right now
	depth   int     // loop only: nesting of enter/exit
	req     Request // loop only: scratch for the request being parsed

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
		stop:       make(chan struct{}),
		driverDone: make(chan struct{}),
	}
	l.drainTask = func(context.Context) error { l.drain(); return nil }
	l.fireTask.l = l
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
// goes back to epoll.
func (l *Loop) Post(t Task) {
	l.mu.Lock()
	l.tasks = append(l.tasks, t)
	kick := !l.scheduled && !l.inCallback
	if kick {
		l.scheduled = true
	}
	l.mu.Unlock()
	if kick {
		if err := l.el.Execute(context.Background(), l.drainTask); err != nil {
			// The engine is shutting down: nothing will run tasks any more.
			l.mu.Lock()
			l.scheduled = false
			l.tasks = l.tasks[:0]
			l.mu.Unlock()
		}
	}
}

// PostFunc is Post(TaskFunc(fn)).
func (l *Loop) PostFunc(fn func()) { l.Post(TaskFunc(fn)) }

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

// exit runs every task posted meanwhile, then flushes every dirty connection,
// repeating until nothing is left, and only then lets Post kick the loop again.
func (l *Loop) exit() {
	if l.depth > 1 {
		l.depth--
		return
	}
	// depth stays 1 while draining, so a close that gnet reports from inside
	// (OnClose) is handled inline rather than by a nested exit.
	for {
		l.mu.Lock()
		if len(l.tasks) == 0 {
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
		batch := l.tasks
		l.tasks = l.spare[:0]
		l.mu.Unlock()
		for i, t := range batch {
			batch[i] = nil
			l.runTask(t)
		}
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

// drain is the gnet task that runs posted work.
func (l *Loop) drain() {
	l.mu.Lock()
	l.scheduled = false
	l.inCallback = true
	l.mu.Unlock()
	l.depth++
	l.exit()
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
				continue
			}
		}
		d := time.Duration(next - l.Now())
		if d <= 0 {
			l.firing.Store(true)
			l.Post(&l.fireTask)
			continue
		}
		tm.Reset(d)
		select {
		case <-l.stop:
			return
		case <-l.wake:
			tm.Stop() // Go ≥1.23 timers: no stale value survives Stop
		case <-tm.C:
		}
	}
}
