package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/redisadapter"
)

// The end-to-end tests drive the gateway with the real npm socket.io-client
// (test/interop/driver.mjs through testutil.NodeClients): what they assert is
// what a web or mobile app would see.

const testSecret = "e2e-test-secret-0123456789abcdef"

type testGateway struct {
	*Gateway // the first node
	url      string
	nc       *testutil.NodeClients
	t        *testing.T

	// A cluster (startCluster): every node, its URL, and the Redis.
	nodes []*Gateway
	urls  []string
	redis *testutil.Redis
}

func startGateway(t *testing.T, mutate func(*Config)) *testGateway {
	t.Helper()
	g := startNode(t, mutate, Options{})
	return &testGateway{Gateway: g, url: "http://" + g.Addr(), t: t, nodes: []*Gateway{g}, urls: []string{"http://" + g.Addr()}}
}

// startCluster starts n nodes joined by a Redis of their own and waits
// until each is subscribed. Clients connect to the node their id picks
// (nodeURL): a test written for one node runs unchanged across them.
func startCluster(t *testing.T, n int, mutate func(*Config)) *testGateway {
	t.Helper()
	rd := testutil.StartRedis(t)
	tg := startClusterOn(t, n, rd.URL(), mutate)
	tg.redis = rd
	return tg
}

// startClusterOn is startCluster on a given Redis (a Redis Cluster's URL).
func startClusterOn(t *testing.T, n int, redisURL string, mutate func(*Config)) *testGateway {
	t.Helper()
	tg := &testGateway{t: t}
	for i := range n {
		g := startNode(t, func(c *Config) {
			c.RedisURL = redisURL
			c.ServerID = fmt.Sprint("node-", string(rune('a'+i)))
			if mutate != nil {
				mutate(c)
			}
		}, Options{Redis: fastRedis})
		tg.nodes = append(tg.nodes, g)
		tg.urls = append(tg.urls, "http://"+g.Addr())
	}
	tg.Gateway, tg.url = tg.nodes[0], tg.urls[0]
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	for _, g := range tg.nodes {
		if err := g.cluster.link.Ready(ctx); err != nil {
			t.Fatalf("node %s not subscribed: %v", g.cfg.ServerID, err)
		}
	}
	return tg
}

// fastRedis shortens a test cluster's periods: heartbeats, timeouts,
// breakers and reconnections.
var fastRedis = RedisTuning{
	Store: func(o *RedisStoreOptions) {
		o.Heartbeat = 200 * time.Millisecond
		o.Timeout = 500 * time.Millisecond
		o.BreakerCooldown = 300 * time.Millisecond
	},
	Adapter: func(o *redisadapter.Options) {
		o.ReconnectMin, o.ReconnectMax = 100*time.Millisecond, 500*time.Millisecond
		o.BreakerCooldown = 500 * time.Millisecond
		o.CanaryInterval = time.Second
		o.RequestsTimeout = 2 * time.Second
	},
}

// topologies runs a test on one node, and on two nodes joined by Redis
// (one redis-server, and a 3-master Redis Cluster) with its clients spread
// over them.
func topologies(t *testing.T, mutate func(*Config), body func(t *testing.T, tg *testGateway)) {
	t.Run("one node", func(t *testing.T) { body(t, startGateway(t, mutate)) })
	t.Run("two nodes", func(t *testing.T) { body(t, startCluster(t, 2, mutate)) })
	t.Run("two nodes on a Redis Cluster", func(t *testing.T) {
		body(t, startClusterOn(t, 2, testutil.StartRedisCluster(t, 3).URL(), mutate))
	})
}

// nodeURL is the node client id connects to: fixed by the id, so that a
// test's users land on known nodes (alice on a, bob and carol on b, mod on
// a; alice1 on b, alice2 on a).
func (tg *testGateway) nodeURL(id string) string {
	sum := 0
	for i := 0; i < len(id); i++ {
		sum += int(id[i])
	}
	return tg.urls[sum%len(tg.urls)]
}

func startNode(t *testing.T, mutate func(*Config), opts Options) *Gateway {
	t.Helper()
	cfg := Defaults()
	cfg.Host, cfg.Port = "127.0.0.1", 0
	cfg.JWTSecret = testSecret
	cfg.AdminToken = "admin-token"
	// Generous limits unless a test is about them: tests connect many
	// clients from 127.0.0.1 and send bursts.
	cfg.RateLimits = RateLimits{"connection": {1000, time.Minute}, "default": {1000, time.Minute},
		"message:send": {1000, time.Minute}, "typing:start": {1000, time.Minute}, "presence:update": {1000, time.Minute},
		"message:edit": {1000, time.Minute}, "moderation:kick": {1000, time.Minute}, "moderation:ban": {1000, time.Minute}}
	if mutate != nil {
		mutate(&cfg)
	}
	lw := testutil.NewLogWriter(t)
	opts.Logger = lw.Logger()
	g, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !g.draining.Load() {
			ctx, cancel := contextWithTimeout(5 * time.Second)
			defer cancel()
			_ = g.Shutdown(ctx)
		}
		lw.Stop()
	})
	return g
}

// clients starts (once) the driver process for this test.
func (tg *testGateway) clients() *testutil.NodeClients {
	if tg.nc == nil {
		tg.nc = testutil.StartNodeClients(tg.t)
	}
	return tg.nc
}

type user struct {
	id, name string
	roles    []string
	channels []string
	exp      time.Duration
}

func token(t testing.TB, u user) string {
	t.Helper()
	exp := u.exp
	if exp == 0 {
		exp = time.Hour
	}
	chans := u.channels
	if chans == nil {
		chans = []string{"*"}
	}
	tok, err := MintHS256([]byte(testSecret), Claims{UserID: u.id, Name: u.name, Roles: u.roles, Channels: chans,
		Expires: time.Now().Add(exp)}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// connect connects client id with the token of u and fails the test on a
// refusal.
func (tg *testGateway) connect(id string, u user, transports ...string) {
	tg.t.Helper()
	if _, err := tg.clients().Connect(id, testutil.ClientOptions{URL: tg.nodeURL(id), Auth: map[string]any{"token": token(tg.t, u)},
		Transports: transports}); err != nil {
		tg.t.Fatalf("%s: connect: %v", id, err)
	}
}

// connectErr connects with the given options and returns the refusal.
func (tg *testGateway) connectErr(id string, o testutil.ClientOptions) *testutil.ConnectError {
	tg.t.Helper()
	if o.URL == "" {
		o.URL = tg.nodeURL(id)
	}
	_, err := tg.clients().Connect(id, o)
	var ce *testutil.ConnectError
	if !errors.As(err, &ce) {
		tg.t.Fatalf("%s: want a connect_error, got %v", id, err)
	}
	return ce
}

// ack is an ack's first argument.
type ack struct {
	OK    bool            `json:"ok"`
	Error *apiError       `json:"error"`
	raw   json.RawMessage // the whole object
}

func (a ack) field(t testing.TB, name string, v any) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(a.raw, &m); err != nil {
		t.Fatal(err)
	}
	raw, ok := m[name]
	if !ok {
		t.Fatalf("ack %s has no field %q", a.raw, name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("ack field %s: %v", name, err)
	}
}

// emit sends event with payload and returns the ack.
func (tg *testGateway) emit(id, event string, payload any) ack {
	tg.t.Helper()
	raw, err := tg.clients().Emit(id, event, payload)
	if err != nil {
		tg.t.Fatalf("%s: %s: %v", id, event, err)
	}
	var args []json.RawMessage
	if err := json.Unmarshal(raw, &args); err != nil || len(args) != 1 {
		tg.t.Fatalf("%s: %s: ack args %s: want one object", id, event, raw)
	}
	a := ack{raw: args[0]}
	if err := json.Unmarshal(args[0], &a); err != nil {
		tg.t.Fatalf("%s: %s: ack %s: %v", id, event, args[0], err)
	}
	return a
}

// ok emits and requires {ok: true}.
func (tg *testGateway) ok(id, event string, payload any) ack {
	tg.t.Helper()
	a := tg.emit(id, event, payload)
	if !a.OK || a.Error != nil {
		tg.t.Fatalf("%s: %s %v: %s, want ok", id, event, payload, a.raw)
	}
	return a
}

// fails emits and requires {ok: false, error: {code}}.
func (tg *testGateway) fails(id, event string, payload any, code string) ack {
	tg.t.Helper()
	a := tg.emit(id, event, payload)
	if a.OK || a.Error == nil || a.Error.Code != code || a.Error.Message == "" {
		tg.t.Fatalf("%s: %s %v: %s, want error %s with a message", id, event, payload, a.raw, code)
	}
	return a
}

// next waits for the next event name at client id and decodes its first
// argument into v.
func (tg *testGateway) next(id, name string, v any) {
	tg.t.Helper()
	raw, err := tg.clients().Next(id, name, 5*time.Second)
	if err != nil {
		tg.t.Fatalf("%s: waiting for %s: %v", id, name, err)
	}
	var args []json.RawMessage
	if err := json.Unmarshal(raw, &args); err != nil || len(args) < 1 {
		tg.t.Fatalf("%s: %s args %s", id, name, raw)
	}
	if v != nil {
		if err := json.Unmarshal(args[0], v); err != nil {
			tg.t.Fatalf("%s: %s: %v", id, name, err)
		}
	}
}

func (tg *testGateway) none(id, name string, d time.Duration) {
	tg.t.Helper()
	if err := tg.clients().None(id, name, d); err != nil {
		tg.t.Fatalf("%s: %v", id, err)
	}
}

// http does a request against the gateway's port.
func (tg *testGateway) http(method, path, bearer string) (int, []byte) {
	tg.t.Helper()
	req, err := http.NewRequest(method, tg.url+path, nil)
	if err != nil {
		tg.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tg.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (tg *testGateway) metricsJSON() map[string]any {
	tg.t.Helper()
	st, body := tg.http("GET", "/metrics/socket", "")
	if st != 200 {
		tg.t.Fatalf("/metrics/socket: %d", st)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		tg.t.Fatal(err)
	}
	return m
}

func num(m map[string]any, path ...string) float64 {
	var cur any = m
	for _, p := range path {
		mm, _ := cur.(map[string]any)
		cur = mm[p]
	}
	f, _ := cur.(float64)
	return f
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func contains(s string, subs ...string) error {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return fmt.Errorf("%q lacks %q", s, sub)
		}
	}
	return nil
}
