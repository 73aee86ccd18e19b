package gateway

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the gateway's configuration: every field is an environment
// variable and a flag of the same meaning (flags win). docs/OPERATIONS.md
// lists them; keep the two in step.
type Config struct {
	Host string // HOST; "" listens on every address
	Port int    // PORT; 3000
	Path string // SIO_PATH; "/socket.io/"

	JWTSecret    string // JWT_SECRET: HS256
	JWTPublicKey string // JWT_PUBLIC_KEY: a PEM public key (RS256 or ES256), inline or a file path
	JWKSURL      string // JWKS_URL: keys fetched, cached and rotated by kid
	JWTIssuer    string // JWT_ISSUER: checked when set
	JWTAudience  string // JWT_AUDIENCE: checked when set

	AllowedOrigins []string // ALLOWED_ORIGINS: comma-separated; empty: same-origin only
	LogLevel       slog.Level
	AdminToken     string         // ADMIN_TOKEN: guards /admin/socket/*; unset: those answer 404
	TrustedProxies []netip.Prefix // TRUSTED_PROXIES: comma-separated CIDRs
	RateLimits     RateLimits     // RATE_LIMITS: overrides of the defaults
	BackendURL     string         // BACKEND_URL: messages are POSTed there first
	RedisURL       string         // REDIS_URL: join the cluster of nodes on this Redis
	ServerID       string         // SERVER_ID: this node's name in the cluster (hostname-pid)

	HistorySize int           // HISTORY_SIZE: messages kept per channel (1000)
	HistoryTTL  time.Duration // HISTORY_TTL: how long they are kept (24h)
	HistoryMB   int           // HISTORY_MAX_MB: all channels' histories together (256)

	BackendTimeout     time.Duration // BACKEND_TIMEOUT (5s)
	BackendConcurrency int           // BACKEND_CONCURRENCY: requests in flight (64)
	BreakerCooldown    time.Duration // BREAKER_COOLDOWN: open → half-open (30s)

	HealthInterval  time.Duration // HEALTH_INTERVAL: dependency checks (30s)
	CleanupInterval time.Duration // CLEANUP_INTERVAL (5m)
	DrainTimeout    time.Duration // DRAIN_TIMEOUT: graceful shutdown bound (10s)
	TypingTimeout   time.Duration // TYPING_TIMEOUT (5s)
	MaxViolations   int           // MAX_RATE_VIOLATIONS: refused events in a row before disconnect (50)
	MaxHeapMB       int           // MAX_HEAP_MB: heap above which the node enters emergency mode (0: off)

	ReusePort bool // REUSE_PORT: SO_REUSEPORT, several processes on one port
	Dev       bool // -dev: generate a secret, log tokens, allow any origin

	// Clients and tools migrating from Node (docs/OPERATIONS.md).
	AllowEIO3         bool   // ALLOW_EIO3: socket.io-client 2.x (Engine.IO v3) too
	PerMessageDeflate bool   // PER_MESSAGE_DEFLATE: WebSocket compression of messages ≥ 1 KiB
	ServeClient       string // SERVE_CLIENT: directory of socket.io-client's dist, served at <path>socket.io.js…
	AdminUI           bool   // ADMIN_UI: the /admin namespace of @socket.io/admin-ui
	AdminUIUsername   string // ADMIN_UI_USERNAME
	AdminUIPassword   string // ADMIN_UI_PASSWORD_HASH: bcrypt hash of the admin UI's password
	AdminUIReadOnly   bool   // ADMIN_UI_READONLY: the UI may look but not join, leave or disconnect
}

// Defaults returns the configuration with nothing set.
func Defaults() Config {
	return Config{
		Port:               3000,
		Path:               "/socket.io/",
		LogLevel:           slog.LevelInfo,
		RateLimits:         DefaultRateLimits(),
		HistorySize:        1000,
		HistoryTTL:         24 * time.Hour,
		HistoryMB:          256,
		BackendTimeout:     5 * time.Second,
		BackendConcurrency: 64,
		BreakerCooldown:    30 * time.Second,
		HealthInterval:     30 * time.Second,
		CleanupInterval:    5 * time.Minute,
		DrainTimeout:       10 * time.Second,
		TypingTimeout:      5 * time.Second,
		MaxViolations:      50,
	}
}

// Addr is the listen address.
func (c *Config) Addr() string { return netJoin(c.Host, c.Port) }

func netJoin(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// LoadConfig reads the environment (getenv) and then the flags in args, so
// that a flag overrides its variable. It validates what it read; key
// material is checked by Validate once -dev is known.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	c := Defaults()
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	str := func(p *string, flagName, envName, usage string) {
		if v := env(envName); v != "" {
			*p = v
		}
		fs.StringVar(p, flagName, *p, usage+" (env "+envName+")")
	}
	// Secrets are flags whose default stays empty, so that -h or a typo
	// never prints them (a flag's default is shown in the usage text);
	// their variables are applied after parsing.
	var secrets []func()
	secret := func(p *string, flagName, envName, usage string) {
		fs.StringVar(p, flagName, "", usage+" (env "+envName+"; never printed)")
		v := env(envName)
		secrets = append(secrets, func() {
			if *p == "" {
				*p = v
			}
		})
	}
	var errs []error
	num := func(p *int, flagName, envName, usage string) {
		if v := env(envName); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a number", envName, v))
			}
			*p = n
		}
		fs.IntVar(p, flagName, *p, usage+" (env "+envName+")")
	}
	dur := func(p *time.Duration, flagName, envName, usage string) {
		if v := env(envName); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a duration (e.g. 30s, 5m)", envName, v))
			}
			*p = d
		}
		fs.DurationVar(p, flagName, *p, usage+" (env "+envName+")")
	}
	var origins, level, proxies, rates string
	level = "info"
	str(&c.Host, "host", "HOST", "listen host; empty: every address")
	num(&c.Port, "port", "PORT", "listen port")
	str(&c.Path, "path", "SIO_PATH", "Socket.IO path")
	secret(&c.JWTSecret, "jwt-secret", "JWT_SECRET", "HS256 secret")
	str(&c.JWTPublicKey, "jwt-public-key", "JWT_PUBLIC_KEY", "PEM public key (RS256/ES256), inline or a file path")
	str(&c.JWKSURL, "jwks-url", "JWKS_URL", "JWKS document URL")
	str(&c.JWTIssuer, "jwt-issuer", "JWT_ISSUER", "required iss, when set")
	str(&c.JWTAudience, "jwt-audience", "JWT_AUDIENCE", "required aud, when set")
	str(&origins, "allowed-origins", "ALLOWED_ORIGINS", "comma-separated browser origins; empty: same-origin only")
	str(&level, "log-level", "LOG_LEVEL", "debug, info, warn or error")
	secret(&c.AdminToken, "admin-token", "ADMIN_TOKEN", "bearer token of /admin/socket/*")
	str(&proxies, "trusted-proxies", "TRUSTED_PROXIES", "comma-separated CIDRs of load balancers")
	str(&rates, "rate-limits", "RATE_LIMITS", "overrides, e.g. connection=100/1m,message:send=60/1m")
	str(&c.BackendURL, "backend-url", "BACKEND_URL", "application backend messages are POSTed to")
	secret(&c.RedisURL, "redis-url", "REDIS_URL", "Redis of the cluster (redis://[user:password@]host:port[/db]); unset: a single node in memory")
	str(&c.ServerID, "server-id", "SERVER_ID", "this node's name in the cluster (default hostname-pid)")
	num(&c.HistorySize, "history-size", "HISTORY_SIZE", "messages kept per channel")
	dur(&c.HistoryTTL, "history-ttl", "HISTORY_TTL", "how long messages are kept")
	num(&c.HistoryMB, "history-max-mb", "HISTORY_MAX_MB", "memory of all histories together, MiB")
	dur(&c.BackendTimeout, "backend-timeout", "BACKEND_TIMEOUT", "backend request timeout")
	num(&c.BackendConcurrency, "backend-concurrency", "BACKEND_CONCURRENCY", "backend requests in flight")
	dur(&c.BreakerCooldown, "breaker-cooldown", "BREAKER_COOLDOWN", "circuit breaker open time before a probe")
	dur(&c.HealthInterval, "health-interval", "HEALTH_INTERVAL", "dependency check period")
	dur(&c.CleanupInterval, "cleanup-interval", "CLEANUP_INTERVAL", "stale state cleanup period")
	dur(&c.DrainTimeout, "drain-timeout", "DRAIN_TIMEOUT", "graceful shutdown bound")
	dur(&c.TypingTimeout, "typing-timeout", "TYPING_TIMEOUT", "typing ends by itself after this")
	num(&c.MaxViolations, "max-rate-violations", "MAX_RATE_VIOLATIONS", "rate-limited events in a row before disconnect")
	num(&c.MaxHeapMB, "max-heap-mb", "MAX_HEAP_MB", "heap size that triggers emergency mode (0: off)")
	boolean := func(p *bool, flagName, envName, usage string) {
		switch v := strings.ToLower(env(envName)); v {
		case "":
		case "1", "true", "yes", "on":
			*p = true
		case "0", "false", "no", "off":
			*p = false
		default:
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", envName, v))
		}
		fs.BoolVar(p, flagName, *p, usage+" (env "+envName+")")
	}
	boolean(&c.ReusePort, "reuseport", "REUSE_PORT", "SO_REUSEPORT: several processes on one port")
	boolean(&c.AllowEIO3, "allow-eio3", "ALLOW_EIO3", "also accept socket.io-client 2.x (Engine.IO v3)")
	boolean(&c.PerMessageDeflate, "per-message-deflate", "PER_MESSAGE_DEFLATE", "permessage-deflate for WebSocket messages of 1 KiB or more")
	str(&c.ServeClient, "serve-client", "SERVE_CLIENT", "directory of socket.io-client's dist (make client-dist), served under the Socket.IO path")
	boolean(&c.AdminUI, "admin-ui", "ADMIN_UI", "the /admin namespace of @socket.io/admin-ui")
	str(&c.AdminUIUsername, "admin-ui-username", "ADMIN_UI_USERNAME", "admin UI username")
	secret(&c.AdminUIPassword, "admin-ui-password-hash", "ADMIN_UI_PASSWORD_HASH", "bcrypt hash of the admin UI password")
	boolean(&c.AdminUIReadOnly, "admin-ui-readonly", "ADMIN_UI_READONLY", "the admin UI may not join, leave or disconnect sockets")
	fs.BoolVar(&c.Dev, "dev", false, "development mode: generated secret, printed tokens, any origin")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, apply := range secrets {
		apply()
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, strings.TrimSuffix(o, "/"))
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return c, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", level)
	}
	for _, p := range strings.Split(proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return c, fmt.Errorf("TRUSTED_PROXIES: %q is not a CIDR or address", p)
			}
			c.TrustedProxies = append(c.TrustedProxies, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pr, err := netip.ParsePrefix(p)
		if err != nil {
			return c, fmt.Errorf("TRUSTED_PROXIES: %q is not a CIDR", p)
		}
		c.TrustedProxies = append(c.TrustedProxies, pr.Masked())
	}
	if err := c.RateLimits.Override(rates); err != nil {
		return c, fmt.Errorf("RATE_LIMITS: %w", err)
	}
	if c.JWTPublicKey != "" && !strings.Contains(c.JWTPublicKey, "-----BEGIN") {
		b, err := os.ReadFile(c.JWTPublicKey)
		if err != nil {
			return c, fmt.Errorf("JWT_PUBLIC_KEY: neither a PEM block nor a readable file: %w", err)
		}
		c.JWTPublicKey = string(b)
	}
	return c, c.check()
}

func (c *Config) check() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("PORT=%d: out of range", c.Port)
	case c.HistorySize < 1:
		return fmt.Errorf("HISTORY_SIZE=%d: at least 1", c.HistorySize)
	case c.HistoryMB < 1:
		return fmt.Errorf("HISTORY_MAX_MB=%d: at least 1", c.HistoryMB)
	case c.HistoryTTL <= 0, c.BackendTimeout <= 0, c.BreakerCooldown <= 0, c.HealthInterval <= 0,
		c.CleanupInterval <= 0, c.DrainTimeout <= 0, c.TypingTimeout <= 0:
		return errors.New("durations must be positive")
	case c.BackendConcurrency < 1:
		return fmt.Errorf("BACKEND_CONCURRENCY=%d: at least 1", c.BackendConcurrency)
	case (c.AdminUIUsername == "") != (c.AdminUIPassword == ""):
		return errors.New("ADMIN_UI_USERNAME and ADMIN_UI_PASSWORD_HASH go together")
	case c.AdminUIPassword != "" && !c.AdminUI:
		return errors.New("ADMIN_UI_USERNAME and ADMIN_UI_PASSWORD_HASH are set but ADMIN_UI is not")
	}
	if c.ServeClient != "" {
		if st, err := os.Stat(c.ServeClient); err != nil || !st.IsDir() {
			return fmt.Errorf("SERVE_CLIENT=%q: not a directory (make client-dist builds one)", c.ServeClient)
		}
	}
	return nil
}

// ErrAdminUIOpen is why the server refuses an admin UI without a password
// outside -dev: anyone reaching the port could disconnect every client.
var ErrAdminUIOpen = errors.New("ADMIN_UI without ADMIN_UI_USERNAME and ADMIN_UI_PASSWORD_HASH is allowed in -dev only")

// KeyConfigured reports whether a verification key is configured.
func (c *Config) KeyConfigured() bool {
	return c.JWTSecret != "" || c.JWTPublicKey != "" || c.JWKSURL != ""
}

// ErrNoKey is why the server refuses to start without key material.
var ErrNoKey = errors.New("no JWT key configured: set JWT_SECRET (HS256), JWT_PUBLIC_KEY (PEM, RS256/ES256) or JWKS_URL, or start with -dev for a generated development secret")

// RateLimit is N events per Window.
type RateLimit struct {
	N      int
	Window time.Duration
}

func (r RateLimit) String() string { return strconv.Itoa(r.N) + "/" + r.Window.String() }

// RateLimits maps an event name ("connection" for new connections per
// client IP, "default" for events not named) to its limit.
type RateLimits map[string]RateLimit

// DefaultRateLimits are the limits of docs/OPERATIONS.md.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		"connection":      {10, time.Minute},
		"message:send":    {30, time.Minute},
		"message:edit":    {10, time.Minute},
		"typing:start":    {10, 10 * time.Second},
		"presence:update": {5, 30 * time.Second},
		"moderation:kick": {5, 5 * time.Minute},
		"moderation:ban":  {3, 5 * time.Minute},
		"default":         {60, time.Minute},
	}
}

// Override applies a RATE_LIMITS value: name=N/window pairs, comma-separated;
// window is a Go duration ("1m", "10s") or a bare unit ("m" = 1m).
func (r RateLimits) Override(spec string) error {
	for _, item := range strings.Split(spec, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, val, ok := strings.Cut(item, "=")
		n, w, ok2 := strings.Cut(val, "/")
		if !ok || !ok2 || strings.TrimSpace(name) == "" {
			return fmt.Errorf("%q: want name=N/window, e.g. message:send=60/1m", item)
		}
		count, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || count < 1 {
			return fmt.Errorf("%q: N must be a positive number", item)
		}
		w = strings.TrimSpace(w)
		if w == "s" || w == "m" || w == "h" {
			w = "1" + w
		}
		win, err := time.ParseDuration(w)
		if err != nil || win <= 0 {
			return fmt.Errorf("%q: window must be a duration such as 10s or 1m", item)
		}
		name = strings.TrimSpace(name)
		if _, ok := handlers[name]; !ok && name != "connection" && name != "default" {
			return fmt.Errorf("%q: no such event (a gateway event, connection or default)", item)
		}
		r[name] = RateLimit{count, win}
	}
	return nil
}

// String lists the limits in name order (for the startup log).
func (r RateLimits) String() string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n + "=" + r[n].String())
	}
	return b.String()
}
