package gateway

import (
	"sync"
	"time"
)

// typingTracker keeps who is typing where. Typing ends by itself timeout
// after the last typing:start (the channel then receives typing: false),
// and on typing:stop, leave and disconnect.
type typingTracker struct {
	g       *Gateway
	timeout time.Duration

	mu      sync.Mutex
	entries map[typingKey]*typingEntry
	stopped bool
}

type typingKey struct{ channel, user string }

type typingEntry struct {
	timer *time.Timer
	last  time.Time
}

func newTypingTracker(g *Gateway, timeout time.Duration) *typingTracker {
	return &typingTracker{g: g, timeout: timeout, entries: make(map[typingKey]*typingEntry)}
}

func (t *typingTracker) start(channel, user string) {
	k := typingKey{channel, user}
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	e := t.entries[k]
	if e != nil {
		e.last = time.Now()
		e.timer.Reset(t.timeout)
		t.mu.Unlock()
		return
	}
	e = &typingEntry{last: time.Now()}
	e.timer = time.AfterFunc(t.timeout, func() { t.expire(k, e) })
	t.entries[k] = e
	t.mu.Unlock()
	t.send(k, true)
}

// expire ends typing when its timer fires, unless a start re-armed it or
// a stop removed it meanwhile.
func (t *typingTracker) expire(k typingKey, e *typingEntry) {
	t.mu.Lock()
	if t.entries[k] != e || time.Since(e.last) < t.timeout-time.Millisecond {
		t.mu.Unlock()
		return
	}
	delete(t.entries, k)
	t.mu.Unlock()
	t.send(k, false)
}

func (t *typingTracker) stop(channel, user string) {
	k := typingKey{channel, user}
	t.mu.Lock()
	e := t.entries[k]
	if e == nil {
		t.mu.Unlock()
		return
	}
	e.timer.Stop()
	delete(t.entries, k)
	t.mu.Unlock()
	t.send(k, false)
}

func (t *typingTracker) send(k typingKey, typing bool) {
	_ = t.g.io.To(room(k.channel)).Except(userRoom(k.user)).Emit("typing:update",
		map[string]any{"channelId": k.channel, "userId": k.user, "typing": typing})
}

// cleanup drops entries whose timer should have ended them long ago (a
// safety net: none is expected); it returns how many.
func (t *typingTracker) cleanup(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, e := range t.entries {
		if now.Sub(e.last) > 2*t.timeout {
			e.timer.Stop()
			delete(t.entries, k)
			n++
		}
	}
	return n
}

// stopAll stops every timer (shutdown).
func (t *typingTracker) stopAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	for k, e := range t.entries {
		e.timer.Stop()
		delete(t.entries, k)
	}
}
