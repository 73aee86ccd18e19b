package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sio/internal/testutil"
)

// TestEveryDefaultRateLimit: each event's default limit lets exactly its
// number through, then answers rate_limited with retryAfterMs, and the
// connection stays up.
func TestEveryDefaultRateLimit(t *testing.T) {
	defaults := DefaultRateLimits()
	tg := startGateway(t, func(c *Config) { c.RateLimits = DefaultRateLimits(); c.MaxViolations = 0 })
	tg.connect("mod", mod)
	tg.ok("mod", "channel:join", map[string]any{"channelId": "general"})
	cases := []struct {
		event   string
		payload func(i int) any
	}{
		{"message:send", func(i int) any { return map[string]any{"channelId": "general", "text": fmt.Sprint("m", i)} }},
		{"typing:start", func(int) any { return map[string]any{"channelId": "general"} }},
		{"presence:update", func(int) any { return map[string]any{"status": "away"} }},
		{"moderation:kick", func(int) any { return map[string]any{"channelId": "general", "userId": "nobody"} }},
		{"moderation:ban", func(i int) any { return map[string]any{"userId": fmt.Sprint("spammer", i), "durationSec": 60} }},
		{"message:history", func(int) any { return map[string]any{"channelId": "general", "limit": 1} }}, // the default
	}
	var last json.RawMessage
	for _, c := range cases {
		limit := defaults[c.event]
		if c.event == "message:history" {
			limit = defaults["default"]
		}
		for i := range limit.N {
			a := tg.emit("mod", c.event, c.payload(i))
			if !a.OK {
				t.Fatalf("%s %d of %d refused: %s", c.event, i+1, limit.N, a.raw)
			}
			if c.event == "message:send" && i == 0 {
				var m Message
				a.field(t, "message", &m)
				last, _ = json.Marshal(m.ID)
			}
		}
		a := tg.fails("mod", c.event, c.payload(limit.N), "rate_limited")
		if ms := a.Error.RetryAfterMs; ms <= 0 || ms > limit.Window.Milliseconds() {
			t.Fatalf("%s: retryAfterMs %d, want within the %v window", c.event, ms, limit.Window)
		}
	}
	// message:edit, 10 per minute.
	for i := range defaults["message:edit"].N {
		tg.ok("mod", "message:edit", map[string]any{"channelId": "general", "messageId": json.RawMessage(last), "text": fmt.Sprint("e", i)})
	}
	tg.fails("mod", "message:edit", map[string]any{"channelId": "general", "messageId": json.RawMessage(last), "text": "x"}, "rate_limited")
	// Limits are per user: another user is not limited by mod's sends.
	tg.connect("bob", bob)
	tg.ok("bob", "channel:join", map[string]any{"channelId": "general"})
	tg.ok("bob", "message:send", map[string]any{"channelId": "general", "text": "fine"})
	// Connections: 10 per minute per client IP (this test made 2 already).
	for i := 2; i < defaults["connection"].N; i++ {
		tg.connect(fmt.Sprint("c", i), bob)
	}
	ce := tg.connectErr("c-over", testutil.ClientOptions{Auth: map[string]any{"token": token(t, bob)}})
	var data struct {
		RetryAfterMs int64 `json:"retryAfterMs"`
	}
	if ce.Message != "rate_limited" || json.Unmarshal(ce.Data, &data) != nil || data.RetryAfterMs <= 0 {
		t.Fatalf("11th connection: %q %s", ce.Message, ce.Data)
	}
	tg.ok("mod", "channel:join", map[string]any{"channelId": "random"}) // still connected
}

// TestRateLimitsOverrideAndHammering: RATE_LIMITS overrides a default, and
// a client that keeps sending while limited is disconnected.
func TestRateLimitsOverrideAndHammering(t *testing.T) {
	cfg, err := LoadConfig([]string{"-rate-limits", "message:send=3/1m"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimits["message:send"] != (RateLimit{3, time.Minute}) || cfg.RateLimits["typing:start"] != (RateLimit{10, 10 * time.Second}) {
		t.Fatalf("limits %v", cfg.RateLimits)
	}
	tg := startGateway(t, func(c *Config) { c.RateLimits = cfg.RateLimits; c.MaxViolations = 5 })
	tg.connect("a", alice)
	tg.ok("a", "channel:join", map[string]any{"channelId": "general"})
	for i := range 3 {
		tg.ok("a", "message:send", map[string]any{"channelId": "general", "text": fmt.Sprint(i)})
	}
	for range 4 {
		tg.fails("a", "message:send", map[string]any{"channelId": "general", "text": "more"}, "rate_limited")
	}
	tg.clients().EmitNoAck("a", "message:send", map[string]any{"channelId": "general", "text": "more"})
	if reason, err := tg.clients().WaitDisconnect("a", 5*time.Second); err != nil || reason != "io server disconnect" {
		t.Fatalf("hammering client: %q %v", reason, err)
	}
	testutil.CheckFor(t, 2*time.Second, 10*time.Millisecond, func() error {
		if n := num(tg.metricsJSON(), "closeReasons", "rate limited"); n != 1 {
			return fmt.Errorf("closeReasons[rate limited] = %v", n)
		}
		return nil
	})
}

// fakeBackend is the application's backend: its answer is switchable.
type fakeBackend struct {
	mode  atomic.Value // "accept", "replace", "reject", "fail", "slow"
	calls atomic.Int64
	mu    sync.Mutex
	last  BackendRequest
}

func (f *fakeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	var req BackendRequest
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &req)
	f.mu.Lock()
	f.last = req
	f.mu.Unlock()
	switch f.mode.Load() {
	case "replace":
		fmt.Fprintf(w, `{"message":{"text":"[persisted] <i>%s</i>"}}`, req.Type)
	case "reject":
		w.WriteHeader(422)
		fmt.Fprint(w, `{"message":"profanity is not allowed"}`)
	case "fail":
		w.WriteHeader(500)
	case "slow":
		time.Sleep(700 * time.Millisecond)
	}
}

// TestBackendAcceptsRejectsAndFails: the application backend sees each
// send and edit first; its replacement is stored, its 4xx refuses with its
// message, and while it fails the breaker opens and acks say unavailable,
// until the recovery endpoint closes it.
func TestBackendAcceptsRejectsAndFails(t *testing.T) {
	fb := &fakeBackend{}
	fb.mode.Store("accept")
	srv := httptest.NewServer(fb)
	defer srv.Close()
	tg := startGateway(t, func(c *Config) { c.BackendURL = srv.URL; c.BreakerCooldown = time.Hour })
	tg.connect("a", alice)
	tg.connect("b", bob)
	tg.ok("a", "channel:join", map[string]any{"channelId": "general"})
	tg.ok("b", "channel:join", map[string]any{"channelId": "general"})
	a := tg.ok("a", "message:send", map[string]any{"channelId": "general", "text": "plain"})
	var m Message
	a.field(t, "message", &m)
	fb.mu.Lock()
	last := fb.last
	fb.mu.Unlock()
	if last.Type != "message:send" || last.User.ID != "alice" || last.Message.Text != "plain" || last.Message.ID != m.ID {
		t.Fatalf("backend got %+v", last)
	}
	tg.next("b", "message:new", nil)

	fb.mode.Store("replace")
	a = tg.ok("a", "message:send", map[string]any{"channelId": "general", "text": "raw"})
	a.field(t, "message", &m)
	if m.Text != "[persisted] &lt;i&gt;message:send&lt;/i&gt;" {
		t.Fatalf("replacement not stored (sanitized): %q", m.Text)
	}
	var got Message
	tg.next("b", "message:new", &got)
	if got.Text != m.Text {
		t.Fatalf("others got %q", got.Text)
	}
	e := tg.ok("a", "message:edit", map[string]any{"channelId": "general", "messageId": m.ID, "text": "edit"})
	e.field(t, "message", &m)
	if m.Text != "[persisted] &lt;i&gt;message:edit&lt;/i&gt;" {
		t.Fatalf("edit replacement: %q", m.Text)
	}

	fb.mode.Store("reject")
	r := tg.fails("a", "message:send", map[string]any{"channelId": "general", "text": "bad word"}, "forbidden")
	if r.Error.Message != "profanity is not allowed" {
		t.Fatalf("rejection message %q", r.Error.Message)
	}
	tg.none("b", "message:new", 200*time.Millisecond)

	fb.mode.Store("fail")
	for range 5 {
		tg.fails("a", "message:send", map[string]any{"channelId": "general", "text": "x"}, "unavailable")
	}
	calls := fb.calls.Load()
	u := tg.fails("a", "message:send", map[string]any{"channelId": "general", "text": "x"}, "unavailable")
	if fb.calls.Load() != calls || u.Error.RetryAfterMs <= 0 {
		t.Fatalf("open breaker still called the backend (%d → %d calls), retryAfterMs %d", calls, fb.calls.Load(), u.Error.RetryAfterMs)
	}
	st, body := tg.http("GET", "/status/circuit-breakers", "")
	if st != 200 || !strings.Contains(string(body), `"backend":{"failures":5,"lastError":"backend answered 500 Internal Server Error","state":"open","trips":1}`) {
		t.Fatalf("/status/circuit-breakers: %d %s", st, body)
	}
	if n := num(tg.metricsJSON(), "circuitBreakerTrips"); n != 1 {
		t.Fatalf("circuitBreakerTrips %v", n)
	}
	testutil.CheckFor(t, 2*time.Second, 20*time.Millisecond, func() error {
		tg.checkHealth()
		st, body := tg.http("GET", "/health/socket", "")
		if st != 200 || !strings.Contains(string(body), `"status":"degraded"`) {
			return fmt.Errorf("health %d %s", st, body)
		}
		return nil
	})
	fb.mode.Store("accept")
	tg.fails("a", "message:send", map[string]any{"channelId": "general", "text": "x"}, "unavailable") // still open
	st, body = tg.http("POST", "/admin/socket/recovery", "admin-token")
	if st != 200 || !strings.Contains(string(body), `"breakers":{"backend":{"failures":0,"lastError":"backend answered 500 Internal Server Error","state":"closed","trips":1}}`) {
		t.Fatalf("recovery: %d %s", st, body)
	}
	tg.ok("a", "message:send", map[string]any{"channelId": "general", "text": "back"})
}

// TestOperationsEndpoints: health, both metrics formats, breakers, and the
// admin endpoint's auth.
func TestOperationsEndpoints(t *testing.T) {
	tg := startGateway(t, nil)
	tg.connect("a", alice)
	tg.ok("a", "channel:join", map[string]any{"channelId": "general"})
	tg.ok("a", "message:send", map[string]any{"channelId": "general", "text": "hi"})
	tg.fails("a", "message:send", map[string]any{"channelId": "general"}, "invalid")
	st, body := tg.http("GET", "/health/socket", "")
	if st != 200 || !strings.Contains(string(body), `"status":"ok"`) {
		t.Fatalf("health: %d %s", st, body)
	}
	m := tg.metricsJSON()
	for _, k := range []string{"totalConnections", "activeConnections", "failedConnections", "messagesSent", "messagesRejected",
		"eventsProcessed", "eventsRejected", "circuitBreakerTrips", "memoryCleanups", "redisReconnects", "closeReasons", "rejections"} {
		if _, ok := m[k]; !ok {
			t.Errorf("/metrics/socket lacks %s: %v", k, m)
		}
	}
	if num(m, "totalConnections") != 1 || num(m, "activeConnections") != 1 || num(m, "messagesSent") != 1 ||
		num(m, "messagesRejected") != 1 || num(m, "eventsProcessed") != 2 || num(m, "rejections", "invalid") != 1 {
		t.Fatalf("metrics %v", m)
	}
	st, body = tg.http("GET", "/metrics", "")
	if st != 200 {
		t.Fatalf("/metrics: %d", st)
	}
	if err := contains(string(body), "gateway_connections_active 1", "gateway_messages_sent_total 1",
		`gateway_ack_duration_seconds_count{event="message:send",ok="true"} 1`, `gateway_rejections_total{code="invalid"} 1`,
		"go_goroutines"); err != nil {
		t.Fatal(err)
	}
	if st, _ := tg.http("GET", "/status/circuit-breakers", ""); st != 200 {
		t.Fatalf("breakers: %d", st)
	}
	if st, _ := tg.http("POST", "/admin/socket/recovery", ""); st != 401 {
		t.Fatalf("recovery without a token: %d, want 401", st)
	}
	if st, _ := tg.http("POST", "/admin/socket/recovery", "wrong"); st != 401 {
		t.Fatalf("recovery with a wrong token: %d, want 401", st)
	}
	st, body = tg.http("POST", "/admin/socket/recovery", "admin-token")
	if st != 200 || !strings.Contains(string(body), `"ok":true`) {
		t.Fatalf("recovery: %d %s", st, body)
	}
	if n := num(tg.metricsJSON(), "memoryCleanups"); n != 1 {
		t.Fatalf("the recovery ran %v cleanups, want 1", n)
	}
	if st, _ := tg.http("GET", "/nope", ""); st != 404 {
		t.Fatalf("unknown path: %d", st)
	}
	// Without ADMIN_TOKEN the admin endpoints do not exist.
	tg2 := startGateway(t, func(c *Config) { c.AdminToken = "" })
	if st, _ := tg2.http("POST", "/admin/socket/recovery", "admin-token"); st != 404 {
		t.Fatalf("recovery with no token configured: %d, want 404", st)
	}
}

// TestEmergencyMode: in emergency mode new connections are refused with
// 503 and existing ones are kept; the monitor enters it when a critical
// check fails twice, and the recovery endpoint leaves it.
func TestEmergencyMode(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.HealthInterval = 50 * time.Millisecond; c.MaxHeapMB = 1 << 20 })
	tg.connect("a", alice)
	tg.ok("a", "channel:join", map[string]any{"channelId": "general"})
	tg.heapLimit.Store(1) // the heap is now "over the limit" at every check
	testutil.CheckFor(t, 3*time.Second, 20*time.Millisecond, func() error {
		if st, body := tg.http("GET", "/health/socket", ""); st != 503 || !strings.Contains(string(body), `"status":"emergency"`) {
			return fmt.Errorf("health %d %s", st, body)
		}
		return nil
	})
	resp, err := http.Get(tg.url + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("handshake in emergency: %d %v", resp.StatusCode, resp.Header)
	}
	if _, err := tg.clients().Connect("b", testutil.ClientOptions{URL: tg.url, Auth: map[string]any{"token": token(t, bob)}}); err == nil {
		t.Fatal("a new client connected in emergency mode")
	}
	tg.ok("a", "message:send", map[string]any{"channelId": "general", "text": "still served"})
	tg.heapLimit.Store(1 << 40)
	if st, _ := tg.http("POST", "/admin/socket/recovery", "admin-token"); st != 200 {
		t.Fatal("recovery")
	}
	tg.connect("c", bob)
	// An operator's emergency holds until the recovery endpoint.
	if st, _ := tg.http("POST", "/admin/socket/emergency", "admin-token"); st != 200 {
		t.Fatal("emergency endpoint")
	}
	time.Sleep(200 * time.Millisecond) // several good checks
	if st, _ := tg.http("GET", "/health/socket", ""); st != 503 {
		t.Fatalf("the monitor lifted an operator's emergency: %d", st)
	}
}

// TestGracefulShutdownWithClientsConnected: shutdown lets an event being
// processed finish and its ack leave, then closes every socket; new
// connections are refused meanwhile.
func TestGracefulShutdownWithClientsConnected(t *testing.T) {
	fb := &fakeBackend{}
	fb.mode.Store("slow")
	srv := httptest.NewServer(fb)
	defer srv.Close()
	tg := startGateway(t, func(c *Config) { c.BackendURL = srv.URL; c.DrainTimeout = 5 * time.Second })
	for i := range 5 {
		tg.connect(fmt.Sprint("c", i), carol)
		tg.ok(fmt.Sprint("c", i), "channel:join", map[string]any{"channelId": "general"})
	}
	acked := make(chan ack, 1)
	go func() {
		raw, err := tg.clients().Emit("c0", "message:send", map[string]any{"channelId": "general", "text": "in flight"})
		var args []ack
		if err == nil {
			_ = json.Unmarshal(raw, &args)
		}
		if len(args) == 0 {
			args = []ack{{}}
		}
		acked <- args[0]
	}()
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error { // the send is at the backend
		if fb.calls.Load() == 0 {
			return fmt.Errorf("the backend has not been called")
		}
		return nil
	})
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		done <- tg.Shutdown(ctx)
	}()
	// While it drains, the health check tells the load balancer to stop
	// sending clients here (the in-flight send holds the drain open).
	testutil.CheckFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		st, body := tg.http("GET", "/health/socket", "")
		var rep HealthReport
		if err := json.Unmarshal(body, &rep); err != nil || st != 503 || rep.Status != "draining" {
			return fmt.Errorf("/health/socket while draining: %d %s, want 503 draining", st, body)
		}
		return nil
	})
	if a := <-acked; !a.OK {
		t.Fatalf("in-flight send not acked before shutdown: %+v", a)
	}
	for i := range 5 {
		if reason, err := tg.clients().WaitDisconnect(fmt.Sprint("c", i), 6*time.Second); err != nil || reason != "transport close" {
			t.Fatalf("c%d: %q %v", i, reason, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}

// TestUnknownEventsAreRateLimited: events the gateway does not know are
// answered invalid, but within the default limit: a client flooding them
// gets rate_limited and, if it keeps on, is disconnected like any other.
func TestUnknownEventsAreRateLimited(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.RateLimits = DefaultRateLimits()
		c.RateLimits["default"] = RateLimit{3, time.Minute}
		c.MaxViolations = 3
	})
	tg.connect("a", alice)
	for i := range 3 {
		tg.fails("a", fmt.Sprint("no:such:event:", i), map[string]any{}, "invalid")
	}
	for range 2 {
		tg.fails("a", "no:such:event", map[string]any{}, "rate_limited")
	}
	// Known events have budgets of their own (and an allowed event
	// forgives the refusals so far).
	tg.ok("a", "channel:join", map[string]any{"channelId": "general"})
	for range 3 {
		tg.clients().EmitNoAck("a", "no:such:event", map[string]any{})
	}
	if reason, err := tg.clients().WaitDisconnect("a", 5*time.Second); err != nil || reason != "io server disconnect" {
		t.Fatalf("a client flooding unknown events: %q %v", reason, err)
	}
	// The periodic cleanup forgets that budget once the user is idle.
	if n := tg.unknownLimit.Len(); n != 1 {
		t.Fatalf("%d unknown-event budgets, want alice's", n)
	}
	tg.sweepRateLimits(tg.now()+int64(11*time.Minute), 10*time.Minute)
	if n := tg.unknownLimit.Len(); n != 0 {
		t.Fatalf("%d unknown-event budgets left after the cleanup's sweep", n)
	}
}

// TestRateLimitsNamingNoEventAreRefused: a RATE_LIMITS entry for an event
// the gateway does not have (a typo) would silently limit nothing.
func TestRateLimitsNamingNoEventAreRefused(t *testing.T) {
	for _, spec := range []string{"message:sned=5/1m", "messages=5/1m"} {
		if _, err := LoadConfig([]string{"-rate-limits", spec}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "no such event") {
			t.Errorf("RATE_LIMITS=%s: %v, want a no-such-event error", spec, err)
		}
	}
	for _, spec := range []string{"connection=5/1m", "default=100/1m", "message:send=5/1m,typing:start=3/10s"} {
		if _, err := LoadConfig([]string{"-rate-limits", spec}, func(string) string { return "" }); err != nil {
			t.Errorf("RATE_LIMITS=%s: %v", spec, err)
		}
	}
}
