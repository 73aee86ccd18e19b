package limits

import (
	"net/netip"
	"sync"
	"time"
)

// Admission decides whether a new connection may proceed, before any
// session exists: caps on connections per process and per client IP, on new
// connections per IP per minute, and on handshakes per second. A refusal
// carries the HTTP status to answer (503 for process-wide limits, 429 for a
// client's own) and a Retry-After.
type Admission struct {
	MaxConns          int     // per process; 0 = no cap
	MaxConnsPerIP     int     // 0 = no cap
	NewPerIPPerMinute int     // new connections per IP per Window; 0 = no cap
	HandshakesPerSec  float64 // process-wide token bucket; 0 = no cap
	// Window is the period of NewPerIPPerMinute, and how long an IP with
	// no open connection is remembered: a minute when zero.
	Window time.Duration

	mu        sync.Mutex
	open      int
	perIP     map[netip.Addr]*ipState
	handshake Bucket
}

type ipState struct {
	open   int
	recent Bucket // fixed window of one minute
}

// Decision is the outcome of an admission check.
type Decision struct {
	OK         bool
	Status     int           // 429 or 503 when refused
	RetryAfter time.Duration // when refused
	Reason     string        // "max connections", "max connections per ip", "connection rate", "handshake rate"
}

// Admit counts a new connection from ip at time now. When it is admitted the
// caller must call Release(ip) once it closes.
func (a *Admission) Admit(ip netip.Addr, now int64) Decision {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.MaxConns > 0 && a.open >= a.MaxConns {
		return Decision{Status: 503, RetryAfter: time.Second, Reason: "max connections"}
	}
	var st *ipState
	if a.MaxConnsPerIP > 0 || a.NewPerIPPerMinute > 0 {
		if a.perIP == nil {
			a.perIP = make(map[netip.Addr]*ipState)
		}
		st = a.perIP[ip]
		if st == nil {
			st = &ipState{}
			a.perIP[ip] = st
		}
		if a.MaxConnsPerIP > 0 && st.open >= a.MaxConnsPerIP {
			a.dropIdle(ip, st)
			return Decision{Status: 429, RetryAfter: time.Second, Reason: "max connections per ip"}
		}
		if a.NewPerIPPerMinute > 0 {
			l := Limit{Window: a.window(), Max: a.NewPerIPPerMinute}
			if ok, wait := l.Allow(&st.recent, now); !ok {
				a.dropIdle(ip, st)
				return Decision{Status: 429, RetryAfter: roundUp(wait), Reason: "connection rate"}
			}
		}
		st.open++
	}
	a.open++
	return Decision{OK: true}
}

// AllowHandshake checks the process-wide handshake rate (new sessions).
func (a *Admission) AllowHandshake(now int64) Decision {
	if a.HandshakesPerSec <= 0 {
		return Decision{OK: true}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	l := Limit{Rate: a.HandshakesPerSec, Burst: a.HandshakesPerSec}
	if ok, wait := l.Allow(&a.handshake, now); !ok {
		return Decision{Status: 503, RetryAfter: roundUp(wait), Reason: "handshake rate"}
	}
	return Decision{OK: true}
}

// Release forgets an admitted connection.
func (a *Admission) Release(ip netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.open--
	if st := a.perIP[ip]; st != nil {
		st.open--
		a.dropIdle(ip, st)
	}
}

// dropIdle forgets an IP with no open connection and no recent history, so
// the map does not grow with every client ever seen.
func (a *Admission) dropIdle(ip netip.Addr, st *ipState) {
	if st.open <= 0 && (a.NewPerIPPerMinute == 0 || st.recent.a == 0) {
		delete(a.perIP, ip)
	}
}

// Sweep drops the per-IP history older than Window of IPs with no open
// connection, and returns how many it dropped. The loop server calls it
// every half Window (loop.Options.Admission).
func (a *Admission) Sweep(now int64) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	w := int64(a.window())
	for ip, st := range a.perIP {
		if st.open <= 0 && now-st.recent.t >= w {
			delete(a.perIP, ip)
			n++
		}
	}
	return n
}

func (a *Admission) window() time.Duration {
	if a.Window > 0 {
		return a.Window
	}
	return time.Minute
}

// SweepEvery is how often Sweep should run: half the Window.
func (a *Admission) SweepEvery() time.Duration { return a.window() / 2 }

// Open is the number of admitted connections; TrackedIPs the per-IP entries.
func (a *Admission) Open() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.open
}

// TrackedIPs is the number of client IPs with state.
func (a *Admission) TrackedIPs() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.perIP)
}

func roundUp(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
