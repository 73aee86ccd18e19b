package loop

import (
	"time"
)

// Timer is a one-shot timer owned by a Loop. Its methods must be called on
// the loop. A Timer is meant to be embedded and re-armed, so arming it does
// not allocate.
type Timer struct {
	when int64 // monotonic ns since the server started
	pos  int   // position in the heap + 1; 0 when not armed (so the zero Timer is disarmed)
	fn   func()
	fna  func(any) // with arg: a static function and its argument, so arming needs no closure
	arg  any
	l    *Loop
}

// InitArg binds t to loop l with callback fn(arg). With a top-level fn this
// allocates nothing, unlike a method value or closure passed to Init.
func (t *Timer) InitArg(l *Loop, fn func(any), arg any) {
	t.Init(l, nil)
	t.fna, t.arg = fn, arg
}

// Init binds t to loop l with callback fn. fn runs on the loop.
func (t *Timer) Init(l *Loop, fn func()) {
	if t.pos > 0 {
		t.Stop()
	}
	t.l, t.fn, t.fna, t.arg = l, fn, nil, nil
}

// Armed reports whether the timer is pending.
func (t *Timer) Armed() bool { return t.pos > 0 }

// Reset (re)arms the timer to fire d from now.
func (t *Timer) Reset(d time.Duration) {
	t.ResetAt(t.l.Now() + int64(d))
}

// ResetAt (re)arms the timer to fire at the loop time at (see Loop.Now).
func (t *Timer) ResetAt(at int64) {
	l := t.l
	if t.pos > 0 {
		t.when = at
		l.timers.fix(t.pos - 1)
	} else {
		t.when = at
		l.timers.push(t)
	}
	l.timersChanged()
}

// Stop disarms the timer. It is safe to call on a disarmed timer.
func (t *Timer) Stop() {
	if t.pos == 0 {
		return
	}
	t.l.timers.remove(t.pos - 1)
	t.l.timersChanged()
}

// timerHeap is a binary min-heap on when.
type timerHeap []*Timer

func (h timerHeap) less(i, j int) bool { return h[i].when < h[j].when }

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos = i + 1
	h[j].pos = j + 1
}

func (h *timerHeap) push(t *Timer) {
	t.pos = len(*h) + 1
	*h = append(*h, t)
	h.up(t.pos - 1)
}

func (h *timerHeap) remove(i int) {
	old := *h
	n := len(old) - 1
	t := old[i]
	if i != n {
		old.swap(i, n)
	}
	old[n] = nil
	*h = old[:n]
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
	t.pos = 0
}

func (h timerHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.swap(i, p)
		i = p
	}
}

func (h timerHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		l := 2*i + 1
		if l >= n || l < 0 {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// When is the loop time at which an armed timer fires.
func (t *Timer) When() int64 { return t.when }

// Loop is the loop the timer belongs to (nil before Init).
func (t *Timer) Loop() *Loop { return t.l }

// StopFrom stops t when called on loop cur, which need not be t's loop:
// on another loop the stop is posted to t's own (a timer's heap is only
// touched by its loop). Safe for a disarmed or never-initialised timer.
func (t *Timer) StopFrom(cur *Loop) {
	if t.l == nil {
		return
	}
	if t.l == cur {
		t.Stop()
		return
	}
	t.l.Post(stopTask{t})
}

type stopTask struct{ t *Timer }

func (s stopTask) Run(*Loop) { s.t.Stop() }
