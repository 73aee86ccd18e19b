// Package gateway is the production chat gateway that cmd/server runs: JWT
// auth with bans, channels with membership checks, messages with history
// and de-duplication, typing, presence, moderation, per-user rate limits, an
// optional application backend behind a circuit breaker, health and metrics
// endpoints, emergency mode and graceful shutdown. docs/EVENTS.md is the
// client contract, docs/OPERATIONS.md the operator's.
//
// Threads: event handlers run on the event loops and only decode, validate
// and rate-limit there; the work (stores, the backend, broadcasts) runs on
// a per-socket worker goroutine started on demand, so a slow store or
// backend never blocks a loop and a socket's events are answered in order.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sio/admin"
	"sio/engine"
	"sio/limits"
	"sio/loop"
	"sio/socketio"
)

// Stores are the gateway's state; nil fields get the in-memory (single
// node) implementations.
type Stores struct {
	Messages MessageStore
	Bans     BanStore
	Dedup    DedupStore
	Presence PresenceStore
}

// Options are what New needs besides the Config.
type Options struct {
	Logger *slog.Logger
	Stores Stores
	// Adapter builds the namespace adapter (nil: in memory, or the Redis
	// adapter when Config.RedisURL is set).
	Adapter func(nsp *socketio.Namespace) socketio.Adapter
	// Redis tunes the Redis stores and adapter of a cluster node.
	Redis RedisTuning
}

// Gateway is one node of the chat backend.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	io      *socketio.Server
	admin   *admin.Admin // ADMIN_UI; nil without
	auth    *Verifier
	backend *Backend
	metrics *Metrics

	messages MessageStore
	bans     BanStore
	dedup    DedupStore
	presence PresenceStore

	eventLimits  map[string]*limits.Keyed // per event, keyed by user id
	unknownLimit *limits.Keyed            // events of no handler, the default's limit, keyed by user id
	connLimit    *limits.Keyed            // per client IP
	epoch        time.Time

	emergency       atomic.Bool
	heapLimit       atomic.Int64 // bytes; 0: off (MAX_HEAP_MB)
	manualEmergency atomic.Bool  // set by an operator: the monitor does not lift it
	draining        atomic.Bool
	inflight        atomic.Int64 // socket workers running
	health          atomic.Pointer[HealthReport]

	mu    sync.Mutex
	users map[string]map[*client]struct{} // user id → their sockets on this node

	// Presence: changes hold pmu shared, the reconciliation exclusive
	// (presenceOp). Dirty: a store call failed, the counts need rewriting;
	// closed: shutting down a cluster node, the store is left alone.
	pmu            sync.RWMutex
	presenceDirty  atomic.Bool
	presenceClosed atomic.Bool
	cluster        *cluster // nil on a single node
	idTag          string   // appended to message ids in a cluster

	typing  *typingTracker
	gathers chan struct{} // Prometheus gatherings in flight (at most 2)
	seq     atomic.Uint64

	stop     chan struct{}
	bg       sync.WaitGroup
	served   chan error
	stopOnce sync.Once
}

// New builds a gateway; Start serves it.
func New(cfg Config, opts Options) (*Gateway, error) {
	if !cfg.KeyConfigured() {
		return nil, ErrNoKey
	}
	if cfg.AdminUI && cfg.AdminUIPassword == "" && !cfg.Dev {
		return nil, ErrAdminUIOpen
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	g := &Gateway{
		cfg:     cfg,
		log:     log,
		metrics: newMetrics(),
		users:   make(map[string]map[*client]struct{}),
		stop:    make(chan struct{}),
		epoch:   time.Now(),
	}
	if cfg.RedisURL != "" {
		if err := g.setupCluster(&opts); err != nil {
			return nil, err
		}
	}
	g.messages, g.bans, g.dedup, g.presence = opts.Stores.Messages, opts.Stores.Bans, opts.Stores.Dedup, opts.Stores.Presence
	if g.messages == nil {
		g.messages = newMemoryMessages(cfg.HistorySize, cfg.HistoryTTL, 100_000, int64(cfg.HistoryMB)<<20)
	}
	if g.bans == nil {
		g.bans = newMemoryBans()
	}
	if g.dedup == nil {
		g.dedup = newMemoryDedup(1_000_000)
	}
	if g.presence == nil {
		g.presence = newMemoryPresence()
	}
	auth, err := NewVerifier(AuthConfig{
		Secret:       []byte(cfg.JWTSecret),
		PublicKeyPEM: []byte(cfg.JWTPublicKey),
		JWKSURL:      cfg.JWKSURL,
		Issuer:       cfg.JWTIssuer,
		Audience:     cfg.JWTAudience,
		Leeway:       5 * time.Second,
		Logger:       log,
	})
	if err != nil {
		g.closeCluster()
		return nil, err
	}
	g.auth = auth
	if b := auth.Breaker(); b != nil {
		b.OnStateChange = g.breakerChanged
	}
	if cfg.BackendURL != "" {
		if _, err := url.ParseRequestURI(cfg.BackendURL); err != nil {
			g.closeCluster()
			return nil, fmt.Errorf("BACKEND_URL: %w", err)
		}
		g.backend = newBackend(cfg.BackendURL, cfg.BackendTimeout, cfg.BackendConcurrency, cfg.BreakerCooldown, g.breakerChanged)
	}
	g.metrics.breakers = func() int64 {
		var n int64
		for _, b := range g.breakers() {
			n += b.Stats().Trips
		}
		return n
	}
	// One limiter per event (the default's limit for events not named),
	// keyed by user; connections are keyed by client IP.
	g.eventLimits = make(map[string]*limits.Keyed)
	def, ok := cfg.RateLimits["default"]
	if !ok {
		def = RateLimit{60, time.Minute}
	}
	for name := range handlers {
		rl, ok := cfg.RateLimits[name]
		if !ok {
			rl = def
		}
		g.eventLimits[name] = limits.NewKeyed(limits.PerWindow(rl.N, rl.Window))
	}
	g.unknownLimit = limits.NewKeyed(limits.PerWindow(def.N, def.Window))
	if rl, ok := cfg.RateLimits["connection"]; ok {
		g.connLimit = limits.NewKeyed(limits.PerWindow(rl.N, rl.Window))
	}
	g.typing = newTypingTracker(g, cfg.TypingTimeout)
	g.gathers = make(chan struct{}, 2)
	g.heapLimit.Store(int64(cfg.MaxHeapMB) << 20)
	g.health.Store(&HealthReport{Status: "ok", Checks: map[string]string{}})

	var cors *engine.CORS
	switch {
	case cfg.Dev && len(cfg.AllowedOrigins) == 0:
		cors = &engine.CORS{Origins: []string{"*"}}
	case len(cfg.AllowedOrigins) > 0:
		cors = &engine.CORS{Origins: cfg.AllowedOrigins, Credentials: true}
	}
	var deflate *engine.Deflate
	if cfg.PerMessageDeflate {
		deflate = &engine.Deflate{} // Node's threshold, 1 KiB
	}
	g.io = socketio.NewServer(socketio.Options{
		Engine: engine.Config{
			Path:              cfg.Path,
			CORS:              cors,
			AllowRequest:      g.allowRequest,
			Fallback:          g.serveHTTP,
			AllowEIO3:         cfg.AllowEIO3,
			PerMessageDeflate: deflate,
		},
		ServeClient: cfg.ServeClient,
		Listen: loop.Options{
			Addr:           cfg.Addr(),
			ReusePort:      cfg.ReusePort,
			TrustedProxies: cfg.TrustedProxies,
			Logger:         log,
		},
		Adapter: opts.Adapter,
		Logger:  log,
	})
	nsp := g.io.Sockets()
	nsp.Use(g.authenticate)
	nsp.OnConnection(g.connected)
	if cfg.AdminUI {
		ao := admin.Options{ReadOnly: cfg.AdminUIReadOnly, ServerID: cfg.ServerID}
		if cfg.AdminUIPassword != "" {
			ao.Auth = &admin.BasicAuth{Username: cfg.AdminUIUsername, PasswordHash: cfg.AdminUIPassword}
		} else {
			log.Warn("the admin UI needs no password (-dev): anyone reaching the port can disconnect every client")
		}
		a, err := admin.Instrument(g.io, ao)
		if err != nil {
			g.closeCluster()
			return nil, fmt.Errorf("ADMIN_UI: %w", err)
		}
		g.admin = a
	}
	if g.cluster != nil {
		g.registerClusterEvents()
		g.metrics.registerRedis(g.redisHealth)
	} else {
		g.metrics.registerSingle()
	}
	return g, nil
}

// Server is the Socket.IO server the gateway runs on.
func (g *Gateway) Server() *socketio.Server { return g.io }

// Metrics are the gateway's counters.
func (g *Gateway) Metrics() *Metrics { return g.metrics }

// Start serves in the background and returns once the port is bound.
func (g *Gateway) Start() error {
	g.served = make(chan error, 1)
	g.auth.Start(context.Background())
	go func() { g.served <- g.io.Serve() }()
	select {
	case <-g.io.Ready():
	case err := <-g.served:
		g.auth.Close()
		g.closeCluster()
		return err
	}
	g.bg.Add(2)
	go g.monitor()
	go g.cleaner()
	if g.cluster != nil {
		g.bg.Add(1)
		go g.presenceLoop()
	}
	g.log.Info("gateway listening", "addr", g.Addr(), "path", g.cfg.Path,
		"auth", g.authMode(), "backend", g.cfg.BackendURL != "", "rateLimits", g.cfg.RateLimits.String(),
		"redis", g.cluster != nil, "allowEIO3", g.cfg.AllowEIO3, "perMessageDeflate", g.cfg.PerMessageDeflate,
		"serveClient", g.cfg.ServeClient != "", "adminUI", g.admin != nil)
	return nil
}

// Addr is the bound address (host:port).
func (g *Gateway) Addr() string { return g.io.Engine().Loop().Addr().String() }

// Done reports Serve's end (its error, nil after Shutdown).
func (g *Gateway) Done() <-chan error { return g.served }

func (g *Gateway) authMode() string {
	switch {
	case g.cfg.JWKSURL != "":
		return "jwks"
	case g.cfg.JWTPublicKey != "":
		return "public-key"
	}
	return "hs256"
}

// Shutdown stops accepting connections, lets the events being processed
// finish and their acks leave, then closes every socket with "server
// shutting down" (clients reconnect elsewhere). It returns within ctx.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.draining.Store(true)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(g.cfg.DrainTimeout)
	}
	// Half the time for in-flight work, the rest for closing.
	workUntil := time.Now().Add(time.Until(deadline) / 2)
	for g.inflight.Load() > 0 && time.Now().Before(workUntil) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := g.inflight.Load(); n > 0 {
		g.log.Warn("shutdown: sockets still working", "sockets", n)
	}
	// A cluster node leaves its sockets' presence to the other nodes,
	// whose adapters are not closing.
	g.abandonPresence(ctx)
	err := g.io.Close(ctx)
	if g.admin != nil {
		g.admin.Close()
	}
	g.stopOnce.Do(func() { close(g.stop) })
	g.bg.Wait()
	g.typing.stopAll()
	g.auth.Close()
	if g.cluster != nil {
		// The sockets' last work (their cleanup) before the stores go.
		for g.inflight.Load() > 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		g.closeCluster()
	}
	if g.served != nil {
		select {
		case <-g.served:
		case <-ctx.Done():
		}
	}
	return err
}

// allowRequest vets Engine.IO handshakes on the loop: emergency and
// draining refuse with 503, browsers from other origins with 403.
func (g *Gateway) allowRequest(r *loop.Request) error {
	if g.draining.Load() {
		g.metrics.refused("shutting down")
		return &engine.Refusal{Status: 503, RetryAfter: time.Second, Message: "server shutting down"}
	}
	if g.emergency.Load() {
		g.metrics.refused("emergency")
		return &engine.Refusal{Status: 503, RetryAfter: 30 * time.Second, Message: "emergency mode"}
	}
	if len(r.Origin) == 0 || g.originAllowed(string(r.Origin), string(r.Host)) {
		return nil
	}
	g.metrics.refused("origin")
	return errors.New("origin not allowed")
}

// originAllowed: ALLOWED_ORIGINS, or the same origin when it is empty
// (any origin in dev mode without a list).
func (g *Gateway) originAllowed(origin, host string) bool {
	if len(g.cfg.AllowedOrigins) == 0 {
		if g.cfg.Dev {
			return true
		}
		u, err := url.Parse(origin)
		return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
	}
	for _, o := range g.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// authenticate is the CONNECT middleware: token, ban and connection rate.
// It runs the checks on a goroutine (a JWKS refetch or a ban store may
// take a while) and answers through next.
func (g *Gateway) authenticate(s *socketio.Socket, next func(error)) {
	h := s.Handshake()
	token := bearer(h)
	if token == "" && s.Protocol() == 3 {
		token = h.Query("token") // socket.io-client 2.x: io(url, {query: {token}})
	}
	addr := h.Address
	g.inflight.Add(1)
	go func() {
		defer g.inflight.Add(-1)
		defer func() {
			if p := recover(); p != nil {
				g.log.Error("panic in authentication", "panic", p)
				g.metrics.refused("internal error")
				next(&socketio.ConnectError{Message: "unavailable"})
			}
		}()
		if g.draining.Load() || g.emergency.Load() {
			g.metrics.refused("unavailable")
			next(&socketio.ConnectError{Message: "unavailable"})
			return
		}
		if g.connLimit != nil {
			if ok, wait := g.connLimit.Allow([]byte(addr), g.now()); !ok {
				g.metrics.refused("rate_limited")
				next(&socketio.ConnectError{Message: "rate_limited", Data: map[string]any{"retryAfterMs": wait.Milliseconds()}})
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		claims, err := g.auth.Verify(ctx, token)
		if err != nil {
			g.log.Debug("connection refused", "reason", err, "addr", addr)
			g.metrics.refused("unauthorized")
			next(&socketio.ConnectError{Message: "unauthorized"})
			return
		}
		ban, banned, err := g.bans.Get(ctx, claims.UserID)
		if err != nil {
			g.metrics.refused("unavailable")
			next(&socketio.ConnectError{Message: "unavailable"})
			return
		}
		if banned {
			g.metrics.refused("banned")
			next(&socketio.ConnectError{Message: "banned", Data: map[string]any{"until": untilJSON(ban.Until), "reason": ban.Reason}})
			return
		}
		s.SetData(claims)
		next(nil)
	}()
}

// bearer is the token of auth {token}, else of Authorization: Bearer.
func bearer(h *socketio.Handshake) string {
	var a struct {
		Token any `json:"token"`
	}
	if len(h.Auth) > 0 && json.Unmarshal(h.Auth, &a) == nil {
		if t, ok := a.Token.(string); ok && t != "" {
			return t
		}
	}
	v := h.Headers()["authorization"]
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

func untilJSON(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (g *Gateway) now() int64 { return int64(time.Since(g.epoch)) }

// newID returns a message id: milliseconds and a sequence, fixed width, so
// that ids sort in creation order on a node; in a cluster the node's tag
// follows, so that two nodes never make the same id.
func (g *Gateway) newID(t time.Time) string {
	n := g.seq.Add(1) % 1_000_000
	return fmt.Sprintf("%013d%06d%s", t.UnixMilli(), n, g.idTag)
}

func room(channelID string) socketio.Room  { return socketio.Room("channel:" + channelID) }
func userRoom(userID string) socketio.Room { return socketio.Room("user:" + userID) }

// rooms are the channels' rooms.
func rooms(channels []string) []socketio.Room {
	out := make([]socketio.Room, len(channels))
	for i, ch := range channels {
		out[i] = room(ch)
	}
	return out
}

// clientsOf returns the user's sockets on this node.
func (g *Gateway) clientsOf(userID string) []*client {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*client, 0, len(g.users[userID]))
	for c := range g.users[userID] {
		out = append(out, c)
	}
	return out
}

func (g *Gateway) breakers() []*limits.Breaker {
	var out []*limits.Breaker
	if b := g.auth.Breaker(); b != nil {
		out = append(out, b)
	}
	if g.backend != nil {
		out = append(out, g.backend.Breaker)
	}
	if g.cluster != nil {
		out = append(out, g.cluster.stores.Breaker())
	}
	return out
}

func (g *Gateway) breakerChanged(name string, from, to limits.BreakerState) {
	g.log.Warn("circuit breaker", "name", name, "from", from.String(), "to", to.String())
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
