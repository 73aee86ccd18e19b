package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"sio/limits"
)

// jwks is a JSON Web Key Set fetched from JWKS_URL and cached by kid. It is
// refreshed every JWKSRefresh, and at once (at most every jwksMinRefetch)
// when a token names a kid it does not know, which is how an issuer's key
// rotation reaches us. Fetches go through a circuit breaker; while the
// endpoint is down the cached keys keep working.
type jwks struct {
	url     string
	client  *http.Client
	timeout time.Duration
	every   time.Duration
	retry   time.Duration // between fetches while they fail (jwksMinRefetch)
	breaker *limits.Breaker
	log     interface{ Warn(string, ...any) }

	mu        sync.Mutex
	keys      map[string]any
	fetchedAt time.Time // last successful fetch
	failingAt time.Time // first failure since the last success
	lastTry   time.Time // last fetch attempt for an unknown kid
	inflight  chan struct{}

	stop chan struct{}
	done chan struct{}
}

const jwksMinRefetch = 30 * time.Second

func newJWKS(cfg AuthConfig) *jwks {
	j := &jwks{url: cfg.JWKSURL, client: cfg.HTTPClient, timeout: cfg.JWKSTimeout, every: cfg.JWKSRefresh,
		keys: map[string]any{}, log: cfg.Logger, retry: jwksMinRefetch}
	if j.client == nil {
		j.client = &http.Client{}
	}
	if j.timeout <= 0 {
		j.timeout = 5 * time.Second
	}
	if j.every <= 0 {
		j.every = 10 * time.Minute
	}
	j.breaker = &limits.Breaker{Name: "jwks", Threshold: 5, Cooldown: 30 * time.Second}
	return j
}

func (j *jwks) start(ctx context.Context) {
	j.stop, j.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(j.done)
		// Every refresh interval, and every retry interval while fetches
		// fail: an issuer that comes back is seen within the breaker's
		// cool-down, not at the next full interval (10 min by default).
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-j.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				next := j.every
				if j.refresh(ctx) != nil {
					next = min(j.every, j.retry)
				}
				t.Reset(next)
			}
		}
	}()
}

func (j *jwks) close() {
	if j.stop != nil {
		close(j.stop)
		<-j.done
		j.stop = nil
	}
}

func (j *jwks) healthy() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.keys) > 0 && (j.failingAt.IsZero() || time.Since(j.failingAt) < j.every)
}

// key returns the key for kid, refetching once for an unknown kid.
func (j *jwks) key(ctx context.Context, kid string) (any, error) {
	j.mu.Lock()
	k, ok := j.keys[kid]
	stale := time.Since(j.lastTry) >= jwksMinRefetch
	j.mu.Unlock()
	if ok {
		return k, nil
	}
	if !stale {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	j.mu.Lock()
	j.lastTry = time.Now()
	j.mu.Unlock()
	if err := j.refresh(ctx); err != nil {
		return nil, fmt.Errorf("unknown key id %q (refetch: %v)", kid, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

// refresh fetches the set; concurrent callers share one fetch.
func (j *jwks) refresh(ctx context.Context) error {
	j.mu.Lock()
	if ch := j.inflight; ch != nil {
		j.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ch := make(chan struct{})
	j.inflight = ch
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		j.inflight = nil
		j.mu.Unlock()
		close(ch)
	}()
	var keys map[string]any
	err := j.breaker.Do(ctx, func(ctx context.Context) error {
		var err error
		keys, err = j.fetch(ctx)
		return err
	})
	j.mu.Lock()
	defer j.mu.Unlock()
	if err != nil {
		if j.failingAt.IsZero() {
			j.failingAt = time.Now()
		}
		j.log.Warn("JWKS fetch failed; cached keys stay in use", "url", j.url, "err", err, "cached", len(j.keys))
		return err
	}
	j.keys, j.fetchedAt, j.failingAt = keys, time.Now(), time.Time{}
	return nil
}

func (j *jwks) fetch(ctx context.Context) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("JWKS answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return parseJWKS(body)
}

// parseJWKS reads RSA and EC P-256 signing keys; others are skipped.
func parseJWKS(body []byte) (map[string]any, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	out := make(map[string]any)
	b64 := base64.RawURLEncoding
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch {
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS256"):
			n, err1 := b64.DecodeString(k.N)
			e, err2 := b64.DecodeString(k.E)
			if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 || len(n) < 256 {
				continue
			}
			out[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
			x, err1 := b64.DecodeString(k.X)
			y, err2 := b64.DecodeString(k.Y)
			if err1 != nil || err2 != nil {
				continue
			}
			pk := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
			if !pk.Curve.IsOnCurve(pk.X, pk.Y) { //nolint:staticcheck // validating untrusted input
				continue
			}
			out[k.Kid] = pk
		}
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS: no usable RS256 or ES256 key")
	}
	return out, nil
}
