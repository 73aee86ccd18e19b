package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"sio/internal/testutil"
)

func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(), "roles": []string{"moderator"}, "channels": []string{"a"}}
}

func signed(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerifierWithAPublicKey: an RSA PEM accepts RS256 only, an EC P-256
// PEM ES256 only; HS256 keyed by the PEM's own bytes (algorithm confusion)
// is refused, as are alg none and claims of the wrong type.
func TestVerifierWithAPublicKey(t *testing.T) {
	rsaKey := must(rsa.GenerateKey(rand.Reader, 2048))
	ecKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))})
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&ecKey.PublicKey))})
	ctx := context.Background()
	rv := must(NewVerifier(AuthConfig{PublicKeyPEM: rsaPEM, Issuer: "iss", Audience: "aud"}))
	ev := must(NewVerifier(AuthConfig{PublicKeyPEM: ecPEM}))
	c := goodClaims()
	c["iss"], c["aud"] = "iss", "aud"
	got, err := rv.Verify(ctx, signed(t, jwt.SigningMethodRS256, rsaKey, c, ""))
	if err != nil || got.UserID != "u1" || !got.IsModerator() || !got.MayJoin("a") || got.MayJoin("b") {
		t.Fatalf("RS256: %+v %v", got, err)
	}
	if _, err := ev.Verify(ctx, signed(t, jwt.SigningMethodES256, ecKey, goodClaims(), "")); err != nil {
		t.Fatalf("ES256: %v", err)
	}
	wrongIss := goodClaims()
	wrongIss["iss"], wrongIss["aud"] = "other", "aud"
	noneTok := signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, c, "")
	for name, tok := range map[string]string{
		"HS256 keyed by the PEM": signed(t, jwt.SigningMethodHS256, rsaPEM, c, ""),
		"alg none":               noneTok,
		"ES256 to an RSA key":    signed(t, jwt.SigningMethodES256, ecKey, c, ""),
		"wrong issuer":           signed(t, jwt.SigningMethodRS256, rsaKey, wrongIss, ""),
		"no audience":            signed(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "u", "iss": "iss", "exp": time.Now().Add(time.Hour).Unix()}, ""),
		"roles not an array":     signed(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "u", "iss": "iss", "aud": "aud", "exp": time.Now().Add(time.Hour).Unix(), "roles": "admin"}, ""),
		"channels of numbers":    signed(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "u", "iss": "iss", "aud": "aud", "exp": time.Now().Add(time.Hour).Unix(), "channels": []int{1}}, ""),
		"oversized":              string(make([]byte, maxTokenBytes+1)),
	} {
		if _, err := rv.Verify(ctx, tok); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", name, err)
		}
	}
	if _, err := ev.Verify(ctx, signed(t, jwt.SigningMethodHS256, ecPEM, goodClaims(), "")); err == nil {
		t.Error("EC verifier accepted HS256 keyed by its PEM")
	}
	if _, err := NewVerifier(AuthConfig{}); err == nil {
		t.Error("no key accepted")
	}
	if _, err := NewVerifier(AuthConfig{Secret: []byte("0123456789abcdef"), JWKSURL: "http://x"}); err == nil {
		t.Error("two key sources accepted")
	}
}

// jwksServer serves a JWKS document that a test can rotate or break.
type jwksServer struct {
	mu       sync.Mutex
	keys     map[string]*rsa.PrivateKey
	fail     bool
	requests atomic.Int64
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		w.WriteHeader(500)
		return
	}
	var keys []map[string]string
	for kid, k := range s.keys {
		keys = append(keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

func (s *jwksServer) set(keys map[string]*rsa.PrivateKey, fail bool) {
	s.mu.Lock()
	s.keys, s.fail = keys, fail
	s.mu.Unlock()
}

// TestJWKSRotationThroughTheGateway: with JWKS_URL, a real client's token
// signed by the issuer's current key connects; after the issuer rotates
// to a new kid, tokens with the new kid connect (one refetch), and while
// the JWKS endpoint fails the cached key keeps working.
func TestJWKSRotationThroughTheGateway(t *testing.T) {
	keyA := must(rsa.GenerateKey(rand.Reader, 2048))
	keyB := must(rsa.GenerateKey(rand.Reader, 2048))
	js := &jwksServer{}
	js.set(map[string]*rsa.PrivateKey{"A": keyA}, false)
	srv := httptest.NewServer(js)
	defer srv.Close()
	tg := startGateway(t, func(c *Config) { c.JWTSecret = ""; c.JWKSURL = srv.URL })
	tokFor := func(key *rsa.PrivateKey, kid, sub string) map[string]any {
		return map[string]any{"token": signed(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"sub": sub,
			"exp": time.Now().Add(time.Hour).Unix(), "channels": []string{"*"}}, kid)}
	}
	testutil.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if !tg.auth.Healthy() {
			return errors.New("JWKS not fetched yet")
		}
		return nil
	})
	if _, err := tg.clients().Connect("a", testutil.ClientOptions{URL: tg.url, Auth: tokFor(keyA, "A", "ann")}); err != nil {
		t.Fatalf("kid A: %v", err)
	}
	before := js.requests.Load()
	js.set(map[string]*rsa.PrivateKey{"B": keyB}, false) // the issuer rotates
	if _, err := tg.clients().Connect("b", testutil.ClientOptions{URL: tg.url, Auth: tokFor(keyB, "B", "ben")}); err != nil {
		t.Fatalf("kid B after rotation: %v", err)
	}
	if n := js.requests.Load() - before; n != 1 {
		t.Fatalf("%d JWKS fetches for the new kid, want 1", n)
	}
	// Unknown kids do not make a fetch each (a storm is refused from cache).
	for i := range 5 {
		ce := tg.connectErr("x"+string(rune('0'+i)), testutil.ClientOptions{Auth: tokFor(keyA, "nope", "eve")})
		if ce.Message != "unauthorized" {
			t.Fatalf("unknown kid: %q", ce.Message)
		}
	}
	if n := js.requests.Load() - before; n != 1 {
		t.Fatalf("an unknown-kid storm made %d fetches", n-1)
	}
	// The endpoint fails: the cached key B still verifies.
	js.set(nil, true)
	_ = tg.auth.jwks.refresh(context.Background())
	if _, err := tg.clients().Connect("c", testutil.ClientOptions{URL: tg.url, Auth: tokFor(keyB, "B", "cat")}); err != nil {
		t.Fatalf("cached key while JWKS is down: %v", err)
	}
	// A token signed by a key the set never had is refused.
	rogue := must(rsa.GenerateKey(rand.Reader, 2048))
	if ce := tg.connectErr("r", testutil.ClientOptions{Auth: tokFor(rogue, "B", "eve")}); ce.Message != "unauthorized" {
		t.Fatalf("rogue key: %q", ce.Message)
	}
}

// TestJWKSBreakerOpensAndCachedKeysStillWork: five failed fetches open the
// breaker; Verify then does not touch the network.
func TestJWKSBreakerOpensAndCachedKeysStillWork(t *testing.T) {
	key := must(rsa.GenerateKey(rand.Reader, 2048))
	js := &jwksServer{}
	js.set(map[string]*rsa.PrivateKey{"A": key}, false)
	srv := httptest.NewServer(js)
	defer srv.Close()
	v := must(NewVerifier(AuthConfig{JWKSURL: srv.URL, JWKSTimeout: time.Second}))
	ctx := context.Background()
	if err := v.jwks.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	js.set(nil, true)
	for range 5 {
		_ = v.jwks.refresh(ctx)
	}
	if st := v.Breaker().Stats(); st.State.String() != "open" || st.Trips != 1 {
		t.Fatalf("breaker %+v", st)
	}
	n := js.requests.Load()
	_ = v.jwks.refresh(ctx)
	if js.requests.Load() != n {
		t.Fatal("an open breaker let a fetch through")
	}
	tok := signed(t, jwt.SigningMethodRS256, key, goodClaims(), "A")
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("cached key: %v", err)
	}
}

// TestJWKSIsRetriedWhileItFails: a JWKS endpoint that is down when the
// verifier starts (or later) is fetched again every retry interval, not
// once per refresh interval, so an issuer that comes back is seen soon.
func TestJWKSIsRetriedWhileItFails(t *testing.T) {
	key := must(rsa.GenerateKey(rand.Reader, 2048))
	js := &jwksServer{}
	js.set(nil, true)
	srv := httptest.NewServer(js)
	defer srv.Close()
	v := must(NewVerifier(AuthConfig{JWKSURL: srv.URL, JWKSTimeout: time.Second, JWKSRefresh: time.Hour}))
	v.jwks.retry = 50 * time.Millisecond
	v.jwks.breaker.Threshold = 1000 // this test is about the schedule, not the breaker
	v.Start(context.Background())
	defer v.Close()
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := js.requests.Load(); n < 3 {
			return fmt.Errorf("%d fetches of a failing JWKS, want retries", n)
		}
		return nil
	})
	if v.Healthy() {
		t.Fatal("healthy without keys")
	}
	js.set(map[string]*rsa.PrivateKey{"A": key}, false) // the issuer is back
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !v.Healthy() {
			return errors.New("the JWKS is back but not fetched")
		}
		return nil
	})
	n := js.requests.Load()
	time.Sleep(200 * time.Millisecond)
	if m := js.requests.Load(); m != n {
		t.Fatalf("%d fetches after a success, want none before the refresh interval", m-n)
	}
}

// TestRecoveryEndpointRefetchesTheJWKS: an issuer that failed long enough
// to put the node in emergency mode is back; the operator's recovery call
// fetches the set at once, and the node leaves emergency for good.
func TestRecoveryEndpointRefetchesTheJWKS(t *testing.T) {
	key := must(rsa.GenerateKey(rand.Reader, 2048))
	js := &jwksServer{}
	js.set(nil, true)
	srv := httptest.NewServer(js)
	defer srv.Close()
	tg := startGateway(t, func(c *Config) {
		c.JWTSecret, c.JWKSURL = "", srv.URL
		c.HealthInterval = 50 * time.Millisecond
	})
	testutil.CheckFor(t, 3*time.Second, 20*time.Millisecond, func() error {
		if st, body := tg.http("GET", "/health/socket", ""); st != 503 || !strings.Contains(string(body), `"status":"emergency"`) {
			return fmt.Errorf("health %d %s", st, body)
		}
		return nil
	})
	js.set(map[string]*rsa.PrivateKey{"A": key}, false)
	if st, body := tg.http("POST", "/admin/socket/recovery", "admin-token"); st != 200 {
		t.Fatalf("recovery: %d %s", st, body)
	}
	time.Sleep(200 * time.Millisecond) // several health checks
	if st, body := tg.http("GET", "/health/socket", ""); st != 200 {
		t.Fatalf("after recovery with the issuer back: %d %s", st, body)
	}
	tok := signed(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"sub": "ann", "exp": time.Now().Add(time.Hour).Unix(), "channels": []string{"*"}}, "A")
	if _, err := tg.clients().Connect("a", testutil.ClientOptions{URL: tg.url, Auth: map[string]any{"token": tok}}); err != nil {
		t.Fatalf("connect after recovery: %v", err)
	}
}
