package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"sio/limits"
)

// AuthConfig selects the key material: exactly one of Secret (HS256),
// PublicKeyPEM (RS256 for an RSA key, ES256 for a P-256 key) or JWKSURL.
type AuthConfig struct {
	Secret       []byte
	PublicKeyPEM []byte
	JWKSURL      string
	Issuer       string        // checked when set
	Audience     string        // checked when set
	Leeway       time.Duration // clock skew allowed on exp, nbf, iat
	JWKSRefresh  time.Duration // periodic refresh (10 min)
	JWKSTimeout  time.Duration // per fetch (5 s)
	HTTPClient   *http.Client
	Logger       *slog.Logger
}

// Claims are what the gateway reads from a token.
type Claims struct {
	UserID   string    // sub, required
	Name     string    // name; sub when absent
	Roles    []string  // roles
	Channels []string  // channels the user may join; "*" for all
	Expires  time.Time // exp, required
}

// IsModerator reports whether the user may moderate.
func (c *Claims) IsModerator() bool {
	return slices.Contains(c.Roles, "moderator") || slices.Contains(c.Roles, "admin")
}

// MayJoin reports whether the token allows the channel.
func (c *Claims) MayJoin(id string) bool {
	return slices.Contains(c.Channels, "*") || slices.Contains(c.Channels, id)
}

// ErrUnauthorized is wrapped by every Verify error.
var ErrUnauthorized = errors.New("unauthorized")

// maxTokenBytes refuses absurd tokens before parsing them.
const maxTokenBytes = 8 << 10

// Verifier checks tokens with golang-jwt, accepting only the algorithm the
// configured key is for (no "none", no HS256 keyed by a public key).
type Verifier struct {
	cfg     AuthConfig
	methods []string
	key     any   // HS256 secret or a public key
	jwks    *jwks // nil unless JWKSURL
	parser  *jwt.Parser
}

// NewVerifier validates cfg and loads its key.
func NewVerifier(cfg AuthConfig) (*Verifier, error) {
	set := 0
	for _, b := range []bool{len(cfg.Secret) > 0, len(cfg.PublicKeyPEM) > 0, cfg.JWKSURL != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("set exactly one of JWT_SECRET, JWT_PUBLIC_KEY and JWKS_URL (%d set)", set)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	v := &Verifier{cfg: cfg}
	switch {
	case len(cfg.Secret) > 0:
		if len(cfg.Secret) < 16 {
			return nil, errors.New("JWT_SECRET: at least 16 bytes")
		}
		v.key, v.methods = cfg.Secret, []string{"HS256"}
	case len(cfg.PublicKeyPEM) > 0:
		key, err := parsePublicKeyPEM(cfg.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("JWT_PUBLIC_KEY: %w", err)
		}
		v.key, v.methods = key, []string{methodFor(key)}
	default:
		v.jwks = newJWKS(cfg)
		v.methods = []string{"RS256", "ES256"}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.methods), jwt.WithExpirationRequired(), jwt.WithLeeway(cfg.Leeway)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

func parsePublicKeyPEM(b []byte) (any, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, errors.New("RSA keys must have at least 2048 bits")
		}
		return k, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("EC keys must be P-256 (ES256)")
		}
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T: want RSA (RS256) or EC P-256 (ES256)", key)
}

func methodFor(key any) string {
	if _, ok := key.(*ecdsa.PublicKey); ok {
		return "ES256"
	}
	return "RS256"
}

// tokenClaims is the JWT body; roles and channels must be string arrays.
type tokenClaims struct {
	jwt.RegisteredClaims
	Name     *string   `json:"name,omitempty"`
	Roles    *[]string `json:"roles,omitempty"`
	Channels *[]string `json:"channels,omitempty"`
}

// Verify checks a token and returns its claims.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: no token", ErrUnauthorized)
	}
	if len(token) > maxTokenBytes {
		return nil, fmt.Errorf("%w: token over %d bytes", ErrUnauthorized, maxTokenBytes)
	}
	var tc tokenClaims
	_, err := v.parser.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		if v.jwks == nil {
			return v.key, nil
		}
		kid, _ := t.Header["kid"].(string)
		key, err := v.jwks.key(ctx, kid)
		if err != nil {
			return nil, err
		}
		if methodFor(key) != t.Method.Alg() {
			return nil, fmt.Errorf("key %q is not for %s", kid, t.Method.Alg())
		}
		return key, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	if tc.Subject == "" || len(tc.Subject) > 256 {
		return nil, fmt.Errorf("%w: sub missing or too long", ErrUnauthorized)
	}
	c := &Claims{UserID: tc.Subject, Name: tc.Subject, Expires: tc.ExpiresAt.Time}
	if tc.Name != nil && *tc.Name != "" {
		c.Name = limits.SanitizeText(*tc.Name)
	}
	if tc.Roles != nil {
		c.Roles = *tc.Roles
	}
	if tc.Channels != nil {
		c.Channels = *tc.Channels
	}
	return c, nil
}

// Breaker is the JWKS fetch's breaker (nil without JWKS).
func (v *Verifier) Breaker() *limits.Breaker {
	if v.jwks == nil {
		return nil
	}
	return v.jwks.breaker
}

// Start fetches the JWKS and refreshes it periodically (no-op otherwise).
func (v *Verifier) Start(ctx context.Context) {
	if v.jwks != nil {
		v.jwks.start(ctx)
	}
}

// Close stops the refresh goroutine.
func (v *Verifier) Close() {
	if v.jwks != nil {
		v.jwks.close()
	}
}

// Refresh fetches the JWKS now (no-op with a static key): the recovery
// endpoint's way of seeing an issuer that is back at once.
func (v *Verifier) Refresh(ctx context.Context) error {
	if v.jwks == nil {
		return nil
	}
	return v.jwks.refresh(ctx)
}

// Healthy reports whether tokens can be verified: always with a static
// key; with JWKS, while keys are cached and fetches have not failed for
// longer than a refresh interval.
func (v *Verifier) Healthy() bool {
	if v.jwks == nil {
		return true
	}
	return v.jwks.healthy()
}

// MintHS256 signs a token (dev mode and tests).
func MintHS256(secret []byte, c Claims, issuer, audience string) (string, error) {
	tc := tokenClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: c.UserID, Issuer: issuer,
		ExpiresAt: jwt.NewNumericDate(c.Expires), IssuedAt: jwt.NewNumericDate(time.Now())}}
	if audience != "" {
		tc.Audience = jwt.ClaimStrings{audience}
	}
	if c.Name != "" {
		tc.Name = &c.Name
	}
	if c.Roles != nil {
		tc.Roles = &c.Roles
	}
	if c.Channels != nil {
		tc.Channels = &c.Channels
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(secret)
}

// NewDevSecret returns 32 random bytes.
func NewDevSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}
