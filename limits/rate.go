package limits

import (
	"math"
	"sync"
	"time"
)

// Limit is one rate limit: a token bucket (Rate tokens per second, up to
// Burst) or, when Window is set, a fixed window of Max events per Window.
// The zero Limit allows everything.
type Limit struct {
	Rate   float64       // token bucket: tokens added per second
	Burst  float64       // token bucket: capacity (defaults to max(1, Rate))
	Window time.Duration // fixed window length; overrides Rate/Burst when set
	Max    int           // events per window
}

// Unlimited reports whether l allows everything.
func (l Limit) Unlimited() bool { return l.Window <= 0 && l.Rate <= 0 }

// PerSecond is a token bucket of n events per second with a burst of n.
func PerSecond(n float64) Limit { return Limit{Rate: n, Burst: n} }

// PerWindow is a fixed window of max events per window.
func PerWindow(max int, window time.Duration) Limit { return Limit{Window: window, Max: max} }

// span is how long a Bucket's state matters after its time stamp: a window
// has reopened after Window, a token bucket has refilled after Burst/Rate.
func (l Limit) span() time.Duration {
	if l.Window > 0 {
		return l.Window
	}
	if l.Rate <= 0 {
		return 0
	}
	burst := l.Burst
	if burst <= 0 {
		burst = math.Max(1, l.Rate)
	}
	return time.Duration(burst / l.Rate * 1e9)
}

// Bucket is the state of one Limit for one key: 16 bytes, no pointers, so a
// connection can hold one per rule inline.
type Bucket struct {
	a float64 // tokens (bucket) or events in the window (window)
	t int64   // last refill (bucket) or window start (window), ns; 0 = fresh
}

// Allow consumes one event at time now (monotonic ns). When refused, wait
// says how long until one would be allowed.
func (l *Limit) Allow(b *Bucket, now int64) (ok bool, wait time.Duration) {
	if l.Window > 0 {
		w := int64(l.Window)
		if b.t == 0 || now-b.t >= w { // a new window opens with the first event after the last one ended
			b.t, b.a = now, 0
		}
		if int(b.a) < l.Max {
			b.a++
			return true, 0
		}
		return false, time.Duration(b.t + w - now)
	}
	if l.Rate <= 0 {
		return true, 0
	}
	burst := l.Burst
	if burst <= 0 {
		burst = math.Max(1, l.Rate)
	}
	if b.t == 0 {
		b.a, b.t = burst, now
	} else if now > b.t {
		b.a = math.Min(burst, b.a+float64(now-b.t)*l.Rate/1e9)
		b.t = now
	}
	if b.a >= 1 {
		b.a--
		return true, 0
	}
	return false, time.Duration((1 - b.a) / l.Rate * 1e9)
}

// EventLimits is a per-event table configured at startup: event name → Limit,
// with a default for events not in the table. Each connection keeps its own
// []Bucket (NewState); a check is a map lookup by event name and a bucket
// update, with no allocation.
type EventLimits struct {
	index  map[string]int
	limits []Limit // last entry is the default
}

// NewEventLimits builds the table.
func NewEventLimits(def Limit, perEvent map[string]Limit) *EventLimits {
	t := &EventLimits{index: make(map[string]int, len(perEvent))}
	for name, l := range perEvent {
		t.index[name] = len(t.limits)
		t.limits = append(t.limits, l)
	}
	t.limits = append(t.limits, def)
	return t
}

// NewState returns the buckets one connection (or user) needs.
func (t *EventLimits) NewState() []Bucket { return make([]Bucket, len(t.limits)) }

// Allow checks one event named name (a []byte lookup does not allocate).
func (t *EventLimits) Allow(state []Bucket, name []byte, now int64) (bool, time.Duration) {
	i, ok := t.index[string(name)]
	if !ok {
		i = len(t.limits) - 1
	}
	return t.limits[i].Allow(&state[i], now)
}

// Keyed applies one Limit per key (a user id, a client IP). The first check
// of a key allocates its entry; later checks do not. Idle keys are dropped by
// Sweep.
type Keyed struct {
	limit  Limit
	shards [32]keyedShard
}

type keyedShard struct {
	mu sync.Mutex
	m  map[string]*Bucket
}

// NewKeyed returns a limiter applying l per key.
func NewKeyed(l Limit) *Keyed { return &Keyed{limit: l} }

func shardOf(key []byte) int {
	h := uint32(2166136261)
	for _, c := range key {
		h = (h ^ uint32(c)) * 16777619
	}
	return int(h & 31)
}

// Allow checks one event for key.
func (k *Keyed) Allow(key []byte, now int64) (bool, time.Duration) {
	if k.limit.Unlimited() {
		return true, 0
	}
	sh := &k.shards[shardOf(key)]
	sh.mu.Lock()
	b := sh.m[string(key)]
	if b == nil {
		if sh.m == nil {
			sh.m = make(map[string]*Bucket)
		}
		b = &Bucket{}
		sh.m[string(key)] = b
	}
	ok, wait := k.limit.Allow(b, now)
	sh.mu.Unlock()
	return ok, wait
}

// Sweep drops keys idle for longer than idle, so memory follows the active
// set. Call it now and then (a timer, not the hot path). A key is kept at
// least as long as its state can still refuse an event (the window, or a
// full refill of the bucket), whatever idle says: forgetting it earlier
// would let a limited key in early.
func (k *Keyed) Sweep(now int64, idle time.Duration) (removed int) {
	idle = max(idle, k.limit.span())
	for i := range k.shards {
		sh := &k.shards[i]
		sh.mu.Lock()
		for key, b := range sh.m {
			if now-b.t > int64(idle) {
				delete(sh.m, key)
				removed++
			}
		}
		sh.mu.Unlock()
	}
	return removed
}

// Len is the number of keys tracked.
func (k *Keyed) Len() int {
	n := 0
	for i := range k.shards {
		sh := &k.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
