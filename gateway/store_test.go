package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func msg(ch, id string, at time.Time) Message {
	return Message{ID: id, ChannelID: ch, UserID: "u", Text: id, Attachments: []Attachment{}, created: at}
}

// TestMemoryMessagesIsBoundedByCountAgeAndChannels: a channel keeps its
// last max messages, none older than the TTL, in id order even when a slow
// one is appended late; the number of channels is capped too.
func TestMemoryMessagesIsBoundedByCountAgeAndChannels(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := newMemoryMessages(3, time.Hour, 2, 1<<20)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	for _, id := range []string{"01", "02", "04", "03", "05"} { // 03 arrives after 04
		_ = s.Append(ctx, msg("a", id, now))
	}
	got, _ := s.History(ctx, "a", "", 10)
	if ids := idsOf(got); ids != "[03 04 05]" {
		t.Fatalf("history %s, want the last 3 in id order", ids)
	}
	if got, _ := s.History(ctx, "a", "05", 1); idsOf(got) != "[04]" {
		t.Fatalf("before 05 limit 1: %s", idsOf(got))
	}
	now = now.Add(30 * time.Minute)
	_ = s.Append(ctx, msg("a", "06", now))
	now = now.Add(45 * time.Minute) // 03–05 are 75 min old, 06 is 45
	if got, _ := s.History(ctx, "a", "", 10); idsOf(got) != "[06]" {
		t.Fatalf("after the TTL: %s", idsOf(got))
	}
	if _, err := s.Get(ctx, "a", "05"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired message still found: %v", err)
	}
	_ = s.Append(ctx, msg("b", "01", now))
	now = now.Add(time.Second)
	_ = s.Append(ctx, msg("c", "01", now)) // a third channel evicts the least recently written (a)
	if got, _ := s.History(ctx, "a", "", 10); len(got) != 0 {
		t.Fatalf("evicted channel still has %s", idsOf(got))
	}
	if n := s.Cleanup(now.Add(2 * time.Hour)); n != 2 {
		t.Fatalf("cleanup removed %d, want 2", n)
	}
}

// TestMemoryMessagesStayWithinTheirByteBudget: past the budget, the
// histories of channels written least recently go first, then the oldest
// messages of the one being written; the accounting returns to zero.
func TestMemoryMessagesStayWithinTheirByteBudget(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	one := msgBytes(&Message{ID: "0000", ChannelID: "a", UserID: "u", Text: "0000", Attachments: []Attachment{}})
	s := newMemoryMessages(1000, time.Hour, 100, 10*one)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	for i := range 6 {
		_ = s.Append(ctx, msg("a", fmt.Sprintf("%04d", i), now))
	}
	now = now.Add(time.Second)
	for i := range 6 { // 12 messages: channel a (least recently written) goes
		_ = s.Append(ctx, msg("b", fmt.Sprintf("%04d", i), now))
	}
	if got, _ := s.History(ctx, "a", "", 100); len(got) != 0 {
		t.Fatalf("channel a kept %s", idsOf(got))
	}
	for i := 6; i < 14; i++ { // b alone over the budget: its oldest go
		_ = s.Append(ctx, msg("b", fmt.Sprintf("%04d", i), now))
	}
	got, _ := s.History(ctx, "b", "", 100)
	if len(got) != 10 || got[0].ID != "0004" || s.bytes > 10*one {
		t.Fatalf("b kept %s, %d bytes of %d", idsOf(got), s.bytes, 10*one)
	}
	for _, m := range got {
		_ = s.Delete(ctx, "b", m.ID)
	}
	if s.bytes != 0 {
		t.Fatalf("%d bytes accounted after deleting everything", s.bytes)
	}
}

func idsOf(ms []Message) string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return fmt.Sprint(ids)
}

// TestMemoryDedupRunsOnceAndForgetsAfterTheTTL: concurrent calls with one
// key run fn once and share its message; a failure leaves nothing; the
// cleanup removes expired keys and counts them.
func TestMemoryDedupRunsOnceAndForgetsAfterTheTTL(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var clock sync.Mutex
	d := newMemoryDedup(100)
	d.now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	ctx := context.Background()
	var calls atomic.Int32
	var wg sync.WaitGroup
	release := make(chan struct{})
	results := make([]Message, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, _, err := d.Do(ctx, "k", time.Minute, func() (Message, error) {
				calls.Add(1)
				<-release
				return Message{ID: "first"}, nil
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = m
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("fn ran %d times", calls.Load())
	}
	for _, m := range results {
		if m.ID != "first" {
			t.Fatalf("a caller got %+v", m)
		}
	}
	_, _, err := d.Do(ctx, "bad", time.Minute, func() (Message, error) { return Message{}, errors.New("down") })
	if err == nil {
		t.Fatal("error lost")
	}
	m, dup, err := d.Do(ctx, "bad", time.Minute, func() (Message, error) { return Message{ID: "retry"}, nil })
	if err != nil || dup || m.ID != "retry" {
		t.Fatalf("retry after a failure: %+v %v %v", m, dup, err)
	}
	clock.Lock()
	now = now.Add(2 * time.Minute)
	clock.Unlock()
	if n := d.Cleanup(now); n != 2 {
		t.Fatalf("cleanup removed %d, want 2", n)
	}
	_, dup, _ = d.Do(ctx, "k", time.Minute, func() (Message, error) { return Message{ID: "new"}, nil })
	if dup {
		t.Fatal("an expired key still de-duplicates")
	}
}

// TestPeriodicCleanupCountsWhatItRemoved: the cleanup's removals show in
// /metrics/socket by kind.
func TestPeriodicCleanupCountsWhatItRemoved(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.CleanupInterval = 50 * time.Millisecond; c.TypingTimeout = time.Hour })
	md := tg.dedup.(*memoryDedup)
	md.mu.Lock()
	md.entries["old"] = &dedupEntry{done: make(chan struct{}), ok: true, expires: time.Now().Add(-time.Second)}
	md.mu.Unlock()
	tg.typing.mu.Lock()
	e := &typingEntry{last: time.Now().Add(-3 * time.Hour), timer: time.NewTimer(time.Hour)}
	tg.typing.entries[typingKey{"general", "ghost"}] = e
	tg.typing.mu.Unlock()
	deadline := time.Now().Add(3 * time.Second)
	for {
		m := tg.metricsJSON()
		if num(m, "cleanupRemoved", "dedup") == 1 && num(m, "cleanupRemoved", "typing") == 1 && num(m, "memoryCleanups") >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics %v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrowserOriginsAreChecked: with ALLOWED_ORIGINS empty only the same
// origin (and clients that send none) may open a session; with a list,
// those origins.
func TestBrowserOriginsAreChecked(t *testing.T) {
	handshake := func(tg *testGateway, origin string) int {
		req, _ := http.NewRequest("GET", tg.url+"/socket.io/?EIO=4&transport=polling", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tg := startGateway(t, nil)
	same := "http://" + tg.Addr()
	for origin, want := range map[string]int{"": 200, same: 200, "https://evil.example": 403, "null": 403} {
		if got := handshake(tg, origin); got != want {
			t.Errorf("same-origin mode, Origin %q: %d, want %d", origin, got, want)
		}
	}
	tl := startGateway(t, func(c *Config) { c.AllowedOrigins = []string{"https://app.example"} })
	for origin, want := range map[string]int{"https://app.example": 200, "https://evil.example": 403, "http://" + tl.Addr(): 403} {
		if got := handshake(tl, origin); got != want {
			t.Errorf("list mode, Origin %q: %d, want %d", origin, got, want)
		}
	}
	if n := num(tl.metricsJSON(), "connectRefusals", "origin"); n != 2 {
		t.Errorf("origin refusals counted: %v", n)
	}
}

// TestLoadConfigFromEnvironmentAndFlags: variables are read, flags win,
// bad values are refused with the variable's name.
func TestLoadConfigFromEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{"PORT": "4000", "JWT_SECRET": "s", "ALLOWED_ORIGINS": "https://a.example, https://b.example/",
		"LOG_LEVEL": "debug", "TRUSTED_PROXIES": "10.0.0.0/8,192.168.1.1", "RATE_LIMITS": "message:send=5/10s,connection=2/m"}
	c, err := LoadConfig([]string{"-port", "5000"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 5000 || c.JWTSecret != "s" || fmt.Sprint(c.AllowedOrigins) != "[https://a.example https://b.example]" ||
		c.LogLevel.String() != "DEBUG" || len(c.TrustedProxies) != 2 || c.RateLimits["message:send"] != (RateLimit{5, 10 * time.Second}) ||
		c.RateLimits["connection"] != (RateLimit{2, time.Minute}) || c.RateLimits["message:edit"] != (RateLimit{10, time.Minute}) {
		t.Fatalf("config %+v", c)
	}
	d := Defaults()
	if d.Port != 3000 || d.HistorySize != 1000 || d.HistoryTTL != 24*time.Hour || d.TypingTimeout != 5*time.Second ||
		d.CleanupInterval != 5*time.Minute || d.HealthInterval != 30*time.Second {
		t.Fatalf("defaults %+v", d)
	}
	for k, v := range map[string]string{"PORT": "x", "LOG_LEVEL": "loud", "RATE_LIMITS": "message:send=lots", "TRUSTED_PROXIES": "nope", "HISTORY_TTL": "1 day"} {
		if _, err := LoadConfig(nil, func(key string) string {
			if key == k {
				return v
			}
			return ""
		}); err == nil {
			t.Errorf("%s=%q accepted", k, v)
		}
	}
	if _, err := New(Defaults(), Options{Logger: quiet()}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
}

// banLandsLate is a ban store whose ban is put right after the CONNECT
// middleware looked: the first Get finds nothing.
type banLandsLate struct {
	*memoryBans
	gets atomic.Int32
}

func (b *banLandsLate) Get(ctx context.Context, uid string) (Ban, bool, error) {
	if b.gets.Add(1) == 1 {
		_ = b.memoryBans.Put(ctx, Ban{UserID: uid, Reason: "late"})
		return Ban{}, false, nil
	}
	return b.memoryBans.Get(ctx, uid)
}

// TestBanDuringAdmissionReachesTheSocket: a ban that lands between the
// middleware's check and the socket's registration still disconnects it.
func TestBanDuringAdmissionReachesTheSocket(t *testing.T) {
	bans := &banLandsLate{memoryBans: newMemoryBans()}
	cfg := Defaults()
	cfg.Host, cfg.Port, cfg.JWTSecret = "127.0.0.1", 0, testSecret
	g, err := New(cfg, Options{Logger: quiet(), Stores: Stores{Bans: bans}})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	}()
	tg := &testGateway{Gateway: g, url: "http://" + g.Addr(), t: t, urls: []string{"http://" + g.Addr()}}
	tg.connect("bob", bob)
	var notice struct{ Reason string }
	tg.next("bob", "moderation:banned", &notice)
	if reason, err := tg.clients().WaitDisconnect("bob", 5*time.Second); err != nil || reason != "io server disconnect" || notice.Reason != "late" {
		t.Fatalf("%q %v %+v", reason, err, notice)
	}
}

// TestHelpNeverPrintsSecrets: -h (or a mistyped flag) prints the usage,
// whose defaults would show JWT_SECRET and ADMIN_TOKEN read from the
// environment; they are not printed, and still configured.
func TestHelpNeverPrintsSecrets(t *testing.T) {
	env := map[string]string{"JWT_SECRET": "s3cr3t-from-env", "ADMIN_TOKEN": "t0ken-from-env"}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	_, herr := LoadConfig([]string{"-h"}, func(k string) string { return env[k] })
	os.Stderr = stderr
	w.Close()
	out, _ := io.ReadAll(r)
	if herr == nil || !strings.Contains(string(out), "jwt-secret") {
		t.Fatalf("-h: %v, usage %q", herr, out)
	}
	if strings.Contains(string(out), "s3cr3t") || strings.Contains(string(out), "t0ken") {
		t.Fatalf("usage prints a secret:\n%s", out)
	}
	c, err := LoadConfig([]string{"-port", "1"}, func(k string) string { return env[k] })
	if err != nil || c.JWTSecret != "s3cr3t-from-env" || c.AdminToken != "t0ken-from-env" {
		t.Fatalf("secrets from the environment lost: %+v %v", c, err)
	}
	c, _ = LoadConfig([]string{"-jwt-secret", "from-flag"}, func(k string) string { return env[k] })
	if c.JWTSecret != "from-flag" {
		t.Fatalf("the flag must win: %q", c.JWTSecret)
	}
}
