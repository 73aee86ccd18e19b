package limits

import (
	"context"
	"errors"
	"sync"
	"time"
)

// BreakerState is a circuit breaker's state.
type BreakerState uint8

// Breaker states.
const (
	Closed   BreakerState = iota // calls go through
	Open                         // calls fail at once with ErrOpen
	HalfOpen                     // one probe call goes through
)

func (s BreakerState) String() string {
	return [...]string{"closed", "open", "half-open"}[s]
}

// ErrOpen is returned instead of calling a dependency whose breaker is open.
var ErrOpen = errors.New("limits: circuit breaker open")

// Breaker guards calls to one external dependency (Redis, a store, an auth
// hook): after Threshold consecutive failures it opens and fails calls at
// once; after Cooldown it lets one probe through (half-open) and closes again
// if the probe succeeds.
type Breaker struct {
	Name      string
	Threshold int           // consecutive failures that open it; default 5
	Cooldown  time.Duration // open → half-open; default 5s
	// Now is the clock (for tests); time.Now by default.
	Now func() time.Time
	// OnStateChange, if set, observes transitions (for metrics and logs).
	OnStateChange func(name string, from, to BreakerState)

	mu       sync.Mutex
	changes  []func() // state-change notifications to run once mu is released
	state    BreakerState
	failures int
	openedAt time.Time
	probing  bool
	trips    int64
	lastErr  error
}

func (b *Breaker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Allow asks to make a call. If it returns nil the caller must report the
// outcome with Done.
func (b *Breaker) Allow() error {
	b.mu.Lock()
	defer b.unlock()
	switch b.state {
	case Open:
		cd := b.Cooldown
		if cd <= 0 {
			cd = 5 * time.Second
		}
		if b.now().Sub(b.openedAt) < cd {
			return ErrOpen
		}
		b.probing = true
		b.setLocked(HalfOpen)
		return nil
	case HalfOpen:
		if b.probing {
			return ErrOpen // one probe at a time
		}
		b.probing = true
	}
	return nil
}

// Done reports the outcome of an allowed call.
func (b *Breaker) Done(err error) {
	b.mu.Lock()
	defer b.unlock()
	if err == nil {
		b.failures = 0
		b.probing = false
		if b.state != Closed {
			b.setLocked(Closed)
		}
		return
	}
	b.lastErr = err
	b.failures++
	th := b.Threshold
	if th <= 0 {
		th = 5
	}
	if b.state == HalfOpen || b.failures >= th {
		b.probing = false
		if b.state != Open {
			b.trips++
		}
		b.openedAt = b.now()
		b.setLocked(Open)
	}
}

func (b *Breaker) setLocked(s BreakerState) {
	if b.state == s {
		return
	}
	from := b.state
	b.state = s
	if fn := b.OnStateChange; fn != nil {
		name := b.Name
		b.changes = append(b.changes, func() { fn(name, from, s) })
	}
}

// unlock releases mu and then runs the queued notifications, so a callback
// may call back into the breaker.
func (b *Breaker) unlock() {
	changes := b.changes
	b.changes = nil
	b.mu.Unlock()
	for _, fn := range changes {
		fn()
	}
}

// Reset closes the breaker and forgets its failures (an operator's
// recovery: the dependency is known to be back). Its trips are kept.
func (b *Breaker) Reset() {
	b.mu.Lock()
	defer b.unlock()
	b.failures = 0
	b.probing = false
	b.setLocked(Closed)
}

// Do runs fn through the breaker.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	if err := b.Allow(); err != nil {
		return err
	}
	err := fn(ctx)
	b.Done(err)
	return err
}

// BreakerStats is what a breaker exposes to metrics.
type BreakerStats struct {
	State     BreakerState
	Trips     int64
	Failures  int
	LastError string
}

// Stats returns the breaker's state, trip count and last error.
func (b *Breaker) Stats() BreakerStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := BreakerStats{State: b.state, Trips: b.trips, Failures: b.failures}
	if b.lastErr != nil {
		st.LastError = b.lastErr.Error()
	}
	return st
}
