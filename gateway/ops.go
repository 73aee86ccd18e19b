package gateway

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"runtime"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"sio/loop"
)

// HealthReport is the body of /health/socket.
type HealthReport struct {
	Status    string            `json:"status"` // ok, degraded, emergency or draining
	Emergency bool              `json:"emergency"`
	Checks    map[string]string `json:"checks"` // dependency → ok | down | ...
	CheckedAt string            `json:"checkedAt,omitempty"`
	Active    int64             `json:"activeConnections"`
	// Redis is the cluster's link, live (only with REDIS_URL): while it is
	// not fully up the node is degraded, not in emergency (local delivery
	// goes on).
	Redis *RedisHealth `json:"redis,omitempty"`
}

// serveHTTP answers the operations endpoints on the socket's port. It runs
// on an event loop: what takes time (Prometheus gathering, the recovery's
// cleanup) runs on a goroutine and answers through Conn.Post.
func (g *Gateway) serveHTTP(c *loop.Conn, r *loop.Request) {
	path, method := string(r.Path), string(r.Method)
	switch {
	case path == "/health/socket" && method == "GET":
		rep := g.healthNow()
		status := 200
		if rep.Emergency || rep.Status == "draining" {
			status = 503 // a load balancer sends no new clients here
		}
		respondJSON(c, status, rep)
	case path == "/metrics/socket" && method == "GET":
		snap := g.metrics.Snapshot()
		if h := g.redisHealth(); h != nil {
			snap["redis"] = h
			snap["redisReconnects"] = h.Reconnects
		}
		respondJSON(c, 200, snap)
	case path == "/metrics" && method == "GET":
		select {
		case g.gathers <- struct{}{}:
		default: // scrapers piling up: they retry
			respondJSON(c, 503, map[string]any{"error": "busy"})
			return
		}
		go func() {
			defer func() { <-g.gathers }()
			body, ctype := g.prometheusText()
			c.Post(func(c *loop.Conn) { c.Respond(&loop.Response{Status: 200, ContentType: ctype, Body: body}) })
		}()
	case path == "/status/circuit-breakers" && method == "GET":
		respondJSON(c, 200, g.breakerStatus())
	case path == "/admin/socket/recovery" || path == "/admin/socket/emergency":
		if g.cfg.AdminToken == "" {
			respondJSON(c, 404, map[string]any{"error": "not found"})
			return
		}
		if !g.adminAuthorized(r) {
			respondJSON(c, 401, map[string]any{"error": "unauthorized"})
			return
		}
		if method != "POST" {
			respondJSON(c, 405, map[string]any{"error": "method not allowed"})
			return
		}
		if path == "/admin/socket/emergency" {
			g.enterEmergency("operator", true)
			respondJSON(c, 200, map[string]any{"ok": true, "emergency": true})
			return
		}
		go func() {
			removed := g.recover()
			c.Post(func(c *loop.Conn) {
				respondJSON(c, 200, map[string]any{"ok": true, "emergency": false, "breakers": g.breakerStatus()["breakers"], "cleanup": removed})
			})
		}()
	default:
		respondJSON(c, 404, map[string]any{"error": "not found"})
	}
}

func respondJSON(c *loop.Conn, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = 500, []byte(`{"error":"internal"}`)
	}
	c.Respond(&loop.Response{Status: status, ContentType: "application/json", Body: append(body, '\n'),
		Extra: []byte("Cache-Control: no-store\r\n")})
}

func (g *Gateway) adminAuthorized(r *loop.Request) bool {
	h := r.Header("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !bytes.EqualFold(h[:len(p)], []byte(p)) {
		return false
	}
	return subtle.ConstantTimeCompare(bytes.TrimSpace(h[len(p):]), []byte(g.cfg.AdminToken)) == 1
}

func (g *Gateway) prometheusText() ([]byte, string) {
	mfs, err := g.metrics.reg.Gather()
	if err != nil {
		g.log.Warn("prometheus gather", "err", err)
	}
	var buf bytes.Buffer
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		_ = enc.Encode(mf)
	}
	return buf.Bytes(), string(format)
}

// breakerStatus is the body of /status/circuit-breakers.
func (g *Gateway) breakerStatus() map[string]any {
	out := make(map[string]any)
	for _, b := range g.breakers() {
		st := b.Stats()
		out[b.Name] = map[string]any{"state": st.State.String(), "trips": st.Trips, "failures": st.Failures, "lastError": st.LastError}
	}
	if h := g.redisHealth(); h != nil {
		// The adapter's publish breaker: its state is all it shows.
		out["redis-publish"] = map[string]any{"state": h.Breaker}
	}
	return map[string]any{"breakers": out}
}

// healthNow is the last report with the live emergency flag and counts.
func (g *Gateway) healthNow() HealthReport {
	rep := *g.health.Load()
	rep.Emergency = g.emergency.Load()
	rep.Active = g.metrics.ActiveConnections.Load()
	if h := g.redisHealth(); h != nil {
		checks := make(map[string]string, len(rep.Checks)+1)
		for k, v := range rep.Checks {
			checks[k] = v
		}
		rep.Checks, rep.Redis = checks, h
		if h.ok() {
			checks["redis"] = "ok"
		} else {
			checks["redis"] = h.State
			if h.State == "connected" {
				checks["redis"] = "breaker " + h.Store
			}
			if rep.Status == "ok" {
				rep.Status = "degraded"
			}
		}
	}
	if rep.Emergency {
		rep.Status = "emergency"
	}
	if g.draining.Load() {
		rep.Status = "draining"
	}
	return rep
}

// monitor checks every dependency each HealthInterval; a critical one down
// at two checks in a row puts the node in emergency mode (new connections
// refused with 503, existing ones kept), and two good checks in a row take
// it out again unless an operator put it there.
func (g *Gateway) monitor() {
	defer g.bg.Done()
	t := time.NewTicker(g.cfg.HealthInterval)
	defer t.Stop()
	bad, good := 0, 0
	for {
		critical := g.checkHealth()
		if critical {
			bad, good = bad+1, 0
		} else {
			bad, good = 0, good+1
		}
		if bad >= 2 {
			g.enterEmergency("a critical dependency is down", false)
		}
		if good >= 2 && g.emergency.Load() && !g.manualEmergency.Load() {
			g.emergency.Store(false)
			g.log.Warn("emergency mode over: dependencies are back")
		}
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
	}
}

// checkHealth refreshes the report; it returns whether a critical
// dependency is down.
func (g *Gateway) checkHealth() (critical bool) {
	checks := map[string]string{}
	degraded := false
	if g.auth.Healthy() {
		checks["auth"] = "ok"
	} else {
		checks["auth"] = "down"
		critical = true
	}
	if g.backend != nil {
		if st := g.backend.Breaker.Stats(); st.State.String() == "closed" {
			checks["backend"] = "ok"
		} else {
			checks["backend"] = st.State.String()
			degraded = true
		}
	}
	if limit := g.heapLimit.Load(); limit > 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > uint64(limit) {
			checks["memory"] = "over limit"
			critical = true
		} else {
			checks["memory"] = "ok"
		}
	}
	status := "ok"
	if degraded || critical {
		status = "degraded"
	}
	g.health.Store(&HealthReport{Status: status, Checks: checks, CheckedAt: time.Now().UTC().Format(time.RFC3339)})
	return critical
}

func (g *Gateway) enterEmergency(why string, manual bool) {
	if manual {
		g.manualEmergency.Store(true)
	}
	if !g.emergency.Swap(true) {
		g.log.Error("emergency mode: new connections refused", "why", why)
	}
}

// recover is POST /admin/socket/recovery: breakers closed, emergency mode
// left, the JWKS fetched again, a cleanup run.
func (g *Gateway) recover() map[string]int {
	for _, b := range g.breakers() {
		b.Reset()
	}
	g.manualEmergency.Store(false)
	if g.emergency.Swap(false) {
		g.log.Warn("emergency mode left by an operator")
	}
	// A dependency that is back is seen now, not at its next refresh.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = g.auth.Refresh(ctx)
	cancel()
	g.checkHealth()
	return g.cleanup()
}

// cleaner runs the periodic cleanup.
func (g *Gateway) cleaner() {
	defer g.bg.Done()
	t := time.NewTicker(g.cfg.CleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.cleanup()
		}
	}
}

// sweepRateLimits forgets the rate-limit state of users and addresses idle
// for longer than idle, in every limiter; it returns how many it removed.
func (g *Gateway) sweepRateLimits(now int64, idle time.Duration) int {
	n := g.unknownLimit.Sweep(now, idle)
	for _, k := range g.eventLimits {
		n += k.Sweep(now, idle)
	}
	if g.connLimit != nil {
		n += g.connLimit.Sweep(now, idle)
	}
	return n
}

// cleanup removes stale typing, presence, de-duplication, ban, history and
// rate-limit entries and counts what it removed.
func (g *Gateway) cleanup() map[string]int {
	now := time.Now()
	removed := map[string]int{
		"typing":   g.typing.cleanup(now),
		"presence": g.presence.Cleanup(now),
		"dedup":    g.dedup.Cleanup(now),
		"bans":     g.bans.Cleanup(now),
		"history":  g.messages.Cleanup(now),
	}
	removed["rateLimits"] = g.sweepRateLimits(g.now(), 10*time.Minute)
	kinds := make([]string, 0, len(removed))
	for k := range removed {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		g.metrics.cleaned(k, removed[k])
	}
	g.metrics.MemoryCleanups.Add(1)
	return removed
}

var _ prometheus.Collector = (*labelled)(nil)
