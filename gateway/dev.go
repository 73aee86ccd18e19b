package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// DevTokens are what -dev prints: a member's and a moderator's token.
type DevTokens struct {
	Member, Moderator, AdminToken string
}

// SetupDev prepares a development configuration: a generated HS256 secret
// when no key is configured, a generated admin token when none is set, and
// two tokens valid for 24 hours. Dev mode also lets any browser origin in
// when ALLOWED_ORIGINS is empty (see New).
func SetupDev(cfg *Config) (DevTokens, error) {
	if !cfg.KeyConfigured() {
		cfg.JWTSecret = hex.EncodeToString(NewDevSecret())
	}
	if cfg.AdminToken == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		cfg.AdminToken = hex.EncodeToString(b)
	}
	var t DevTokens
	t.AdminToken = cfg.AdminToken
	if cfg.JWTSecret == "" {
		// A public key or JWKS: we cannot sign; the operator's issuer does.
		return t, nil
	}
	exp := time.Now().Add(24 * time.Hour)
	var err error
	t.Member, err = MintHS256([]byte(cfg.JWTSecret), Claims{UserID: "alice", Name: "Alice",
		Channels: []string{"general", "random"}, Expires: exp}, cfg.JWTIssuer, cfg.JWTAudience)
	if err != nil {
		return t, fmt.Errorf("dev token: %w", err)
	}
	t.Moderator, err = MintHS256([]byte(cfg.JWTSecret), Claims{UserID: "mod", Name: "Moderator",
		Roles: []string{"moderator"}, Channels: []string{"*"}, Expires: exp}, cfg.JWTIssuer, cfg.JWTAudience)
	if err != nil {
		return t, fmt.Errorf("dev token: %w", err)
	}
	return t, nil
}

// ClientExample is a one-line Node client for a token.
func ClientExample(addr, token string) string {
	return fmt.Sprintf(`node -e 'const s=require("socket.io-client").io("http://%s",{auth:{token:"%s"}});s.on("connect",()=>s.emit("channel:join",{channelId:"general"},a=>{console.log(a);s.emit("message:send",{channelId:"general",text:"hello"},console.log)}));s.on("connect_error",e=>console.log(e.message))'`, addr, token)
}
