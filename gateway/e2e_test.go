package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"sio/internal/testutil"
)

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

var (
	alice = user{id: "alice", name: "Alice", channels: []string{"general", "random"}}
	bob   = user{id: "bob", name: "Bob", channels: []string{"general"}}
	carol = user{id: "carol", name: "Carol", channels: []string{"*"}}
	mod   = user{id: "mod", name: "Mod", roles: []string{"moderator"}, channels: []string{"*"}}
)

// TestAuthRefusals: every way a token can be wrong is refused with
// connect_error "unauthorized", and a good token in the CONNECT auth or in
// an Authorization header connects.
func TestAuthRefusals(t *testing.T) {
	tg := startGateway(t, nil)
	claims := jwt.MapClaims{"sub": "eve", "exp": time.Now().Add(time.Hour).Unix(), "channels": []string{"*"}}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))})
	expired := jwt.MapClaims{"sub": "eve", "exp": time.Now().Add(-time.Minute).Unix()}
	noExp := jwt.MapClaims{"sub": "eve"}
	noSub := jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}
	none := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims)
	cases := map[string]any{
		"missing":                     nil,
		"empty":                       map[string]any{"token": ""},
		"not a string":                map[string]any{"token": 42},
		"malformed":                   map[string]any{"token": "not.a.jwt"},
		"alg none":                    map[string]any{"token": none},
		"wrong key":                   map[string]any{"token": sign(jwt.SigningMethodHS256, []byte("another secret"), claims)},
		"expired":                     map[string]any{"token": sign(jwt.SigningMethodHS256, []byte(testSecret), expired)},
		"no exp":                      map[string]any{"token": sign(jwt.SigningMethodHS256, []byte(testSecret), noExp)},
		"no sub":                      map[string]any{"token": sign(jwt.SigningMethodHS256, []byte(testSecret), noSub)},
		"RS256 not HS256":             map[string]any{"token": sign(jwt.SigningMethodRS256, rsaKey, claims)},
		"HS256 keyed by a public key": map[string]any{"token": sign(jwt.SigningMethodHS256, pubPEM, claims)},
	}
	i := 0
	for name, auth := range cases {
		i++
		ce := tg.connectErr(fmt.Sprintf("bad%d", i), testutil.ClientOptions{Auth: auth})
		if ce.Message != "unauthorized" {
			t.Errorf("%s: connect_error %q, want unauthorized", name, ce.Message)
		}
	}
	// A good token, in auth and in an Authorization header (polling and websocket).
	tg.connect("good", alice)
	for _, tr := range []string{"polling", "websocket"} {
		if _, err := tg.clients().Connect("hdr-"+tr, testutil.ClientOptions{URL: tg.url, Transports: []string{tr},
			Headers: map[string]string{"Authorization": "Bearer " + token(t, bob)}}); err != nil {
			t.Fatalf("Authorization header over %s: %v", tr, err)
		}
	}
	if n := num(tg.metricsJSON(), "connectRefusals", "unauthorized"); n != float64(len(cases)) {
		t.Fatalf("%v unauthorized refusals counted, want %d", n, len(cases))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestTokenExpiryDisconnects: a socket whose token expires is disconnected
// by the server, and the metrics say why.
func TestTokenExpiryDisconnects(t *testing.T) {
	tg := startGateway(t, nil)
	u := alice
	u.exp = 1500 * time.Millisecond
	tg.connect("a", u)
	reason, err := tg.clients().WaitDisconnect("a", 5*time.Second)
	if err != nil || reason != "io server disconnect" {
		t.Fatalf("disconnect %q, %v; want io server disconnect", reason, err)
	}
	testutil.CheckFor(t, 2*time.Second, 10*time.Millisecond, func() error {
		if n := num(tg.metricsJSON(), "closeReasons", "token expired"); n != 1 {
			return fmt.Errorf("closeReasons[token expired] = %v", n)
		}
		return nil
	})
}

// TestChannelMembership: the token's channels decide joins; sending,
// history and typing need a join; payloads of the wrong shape are invalid
// and the connection stays up.
func TestChannelMembership(t *testing.T) {
	tg := startGateway(t, nil)
	tg.connect("bob", bob)
	tg.fails("bob", "channel:join", map[string]any{"channelId": "random"}, "forbidden")
	tg.fails("bob", "message:send", map[string]any{"channelId": "general", "text": "hi"}, "forbidden")
	tg.fails("bob", "message:history", map[string]any{"channelId": "general"}, "forbidden")
	tg.fails("bob", "typing:start", map[string]any{"channelId": "general"}, "forbidden")
	for _, bad := range []any{
		"general", 42, nil, []any{"general"},
		map[string]any{},
		map[string]any{"channelId": 7},
		map[string]any{"channelId": ""},
		map[string]any{"channelId": "has space"},
		map[string]any{"channelId": strings.Repeat("x", 129)},
		map[string]any{"channelId": "<script>"},
	} {
		tg.fails("bob", "channel:join", bad, "invalid")
	}
	a := tg.ok("bob", "channel:join", map[string]any{"channelId": "general"})
	var ch string
	a.field(t, "channelId", &ch)
	if ch != "general" {
		t.Fatalf("channelId %q", ch)
	}
	tg.ok("bob", "message:send", map[string]any{"channelId": "general", "text": "hi"})
	tg.fails("bob", "message:send", map[string]any{"channelId": "general", "text": 5}, "invalid")
	tg.fails("bob", "message:send", map[string]any{"channelId": "general", "text": "   "}, "invalid")
	tg.fails("bob", "message:send", map[string]any{"channelId": "general", "text": strings.Repeat("é", 2001)}, "invalid")
	tg.ok("bob", "message:send", map[string]any{"channelId": "general", "text": strings.Repeat("é", 2000)})
	tg.fails("bob", "message:send", map[string]any{"channelId": "general", "text": "x",
		"attachments": []any{map[string]any{"url": "http://insecure.example/a.png", "name": "a", "mimeType": "image/png", "size": 1}}}, "invalid")
	tg.fails("bob", "message:send", map[string]any{"channelId": "general", "text": "x",
		"attachments": []any{map[string]any{"url": "https://x.example/a.png", "name": "a", "mimeType": "image/png", "size": 26214401}}}, "invalid")
	eleven := make([]any, 11)
	for i := range eleven {
		eleven[i] = map[string]any{"url": "https://x.example/a.png", "name": "a", "mimeType": "image/png", "size": 1}
	}
	tg.fails("bob", "message:send", map[string]any{"channelId": "general", "text": "x", "attachments": eleven}, "invalid")
	tg.fails("bob", "no:such:event", map[string]any{}, "invalid")
	tg.ok("bob", "channel:leave", map[string]any{"channelId": "general"})
	tg.fails("bob", "message:send", map[string]any{"channelId": "general", "text": "hi"}, "forbidden")
	tg.ok("bob", "channel:join", map[string]any{"channelId": "general"}) // still connected
}

// TestMessageFlowAmongThreeClients: a message reaches every other socket in
// the channel and not the sender; a repeated clientMsgId returns the first
// message and delivers nothing again; history pages oldest first.
func TestMessageFlowAmongThreeClients(t *testing.T) {
	topologies(t, nil, func(t *testing.T, tg *testGateway) {
		for id, u := range map[string]user{"alice": alice, "bob": bob, "carol": carol} {
			tg.connect(id, u)
			tg.ok(id, "channel:join", map[string]any{"channelId": "general"})
		}
		tg.connect("outsider", carol) // carol's second tab, not in the channel
		att := map[string]any{"url": "https://files.example/cat.png", "name": "cat <b>.png", "mimeType": "image/png", "size": 5120}
		a := tg.ok("alice", "message:send", map[string]any{"channelId": "general", "text": "  hello <img src=x onerror=alert(1)>  ",
			"attachments": []any{att}, "clientMsgId": "c1"})
		var sent Message
		a.field(t, "message", &sent)
		if sent.ID == "" || sent.UserID != "alice" || sent.ChannelID != "general" || sent.EditedAt != nil ||
			sent.Text != "hello &lt;img src=x onerror=alert(1)&gt;" || len(sent.Attachments) != 1 || sent.Attachments[0].Name != "cat &lt;b&gt;.png" {
			t.Fatalf("message %s", a.raw)
		}
		if ts, err := time.Parse(time.RFC3339, sent.CreatedAt); err != nil || ts.Location() != time.UTC || time.Since(ts) > time.Minute {
			t.Fatalf("createdAt %q: want RFC 3339 UTC, now", sent.CreatedAt)
		}
		if !strings.Contains(string(a.raw), `"editedAt":null`) {
			t.Fatalf("editedAt must be null: %s", a.raw)
		}
		for _, id := range []string{"bob", "carol"} {
			var got Message
			tg.next(id, "message:new", &got)
			if got.ID != sent.ID || got.Text != sent.Text {
				t.Fatalf("%s got %+v", id, got)
			}
		}
		// The retry: same id, nothing delivered twice.
		again := tg.ok("alice", "message:send", map[string]any{"channelId": "general", "text": "hello again", "clientMsgId": "c1"})
		var dup Message
		again.field(t, "message", &dup)
		if dup.ID != sent.ID || dup.Text != sent.Text {
			t.Fatalf("retry returned %+v, want the first message %s", dup, sent.ID)
		}
		tg.none("alice", "message:new", 200*time.Millisecond)
		tg.none("outsider", "message:new", 0)
		// Another user's same clientMsgId is another message.
		other := tg.ok("bob", "message:send", map[string]any{"channelId": "general", "text": "bob's", "clientMsgId": "c1"})
		var bobs Message
		other.field(t, "message", &bobs)
		if bobs.ID == sent.ID {
			t.Fatal("clientMsgId de-duplicated across users")
		}
		tg.next("alice", "message:new", nil)
		tg.next("carol", "message:new", nil)
		tg.none("bob", "message:new", 200*time.Millisecond)
		tg.none("carol", "message:new", 0) // exactly one each so far

		var ids []string
		ids = append(ids, sent.ID, bobs.ID)
		for i := range 5 {
			a := tg.ok("carol", "message:send", map[string]any{"channelId": "general", "text": fmt.Sprint("n", i)})
			var m Message
			a.field(t, "message", &m)
			ids = append(ids, m.ID)
		}
		history := func(payload map[string]any) []string {
			a := tg.ok("bob", "message:history", payload)
			var msgs []Message
			a.field(t, "messages", &msgs)
			out := make([]string, len(msgs))
			for i, m := range msgs {
				out[i] = m.ID
			}
			return out
		}
		if got := history(map[string]any{"channelId": "general"}); fmt.Sprint(got) != fmt.Sprint(ids) {
			t.Fatalf("history %v, want %v (oldest first)", got, ids)
		}
		if got := history(map[string]any{"channelId": "general", "limit": 3}); fmt.Sprint(got) != fmt.Sprint(ids[4:]) {
			t.Fatalf("limit 3: %v, want %v", got, ids[4:])
		}
		if got := history(map[string]any{"channelId": "general", "limit": 2, "before": ids[4]}); fmt.Sprint(got) != fmt.Sprint(ids[2:4]) {
			t.Fatalf("before %s: %v, want %v", ids[4], got, ids[2:4])
		}
		tg.fails("bob", "message:history", map[string]any{"channelId": "general", "limit": 101}, "invalid")
		tg.fails("bob", "message:history", map[string]any{"channelId": "general", "limit": 0}, "invalid")
		tg.fails("bob", "message:history", map[string]any{"channelId": "general", "before": "0000"}, "not_found")
	})
}

// TestEditAndDeleteByTheWrongUserAreRefused: only the author edits; the
// author or a moderator deletes; everyone else in the channel sees what
// changed.
func TestEditAndDeleteByTheWrongUserAreRefused(t *testing.T) {
	topologies(t, nil, func(t *testing.T, tg *testGateway) {
		for id, u := range map[string]user{"alice": alice, "bob": bob, "mod": mod} {
			tg.connect(id, u)
			tg.ok(id, "channel:join", map[string]any{"channelId": "general"})
		}
		a := tg.ok("alice", "message:send", map[string]any{"channelId": "general", "text": "first"})
		var m Message
		a.field(t, "message", &m)
		tg.next("bob", "message:new", nil)
		tg.next("mod", "message:new", nil)
		tg.fails("bob", "message:edit", map[string]any{"channelId": "general", "messageId": m.ID, "text": "hacked"}, "forbidden")
		tg.fails("mod", "message:edit", map[string]any{"channelId": "general", "messageId": m.ID, "text": "hacked"}, "forbidden")
		tg.fails("alice", "message:edit", map[string]any{"channelId": "general", "messageId": "999", "text": "x"}, "not_found")
		e := tg.ok("alice", "message:edit", map[string]any{"channelId": "general", "messageId": m.ID, "text": "first, edited"})
		var edited Message
		e.field(t, "message", &edited)
		if edited.ID != m.ID || edited.Text != "first, edited" || edited.EditedAt == nil || edited.CreatedAt != m.CreatedAt {
			t.Fatalf("edited %s", e.raw)
		}
		var upd Message
		tg.next("bob", "message:updated", &upd)
		if upd.Text != "first, edited" || upd.EditedAt == nil {
			t.Fatalf("bob saw %+v", upd)
		}
		tg.none("alice", "message:updated", 100*time.Millisecond)
		tg.fails("bob", "message:delete", map[string]any{"channelId": "general", "messageId": m.ID}, "forbidden")
		tg.ok("mod", "message:delete", map[string]any{"channelId": "general", "messageId": m.ID})
		var del struct{ ChannelID, MessageID string }
		tg.next("bob", "message:deleted", &del)
		if del.ChannelID != "general" || del.MessageID != m.ID {
			t.Fatalf("message:deleted %+v", del)
		}
		tg.next("alice", "message:deleted", nil)
		tg.fails("alice", "message:delete", map[string]any{"channelId": "general", "messageId": m.ID}, "not_found")
		h := tg.ok("bob", "message:history", map[string]any{"channelId": "general"})
		var msgs []Message
		h.field(t, "messages", &msgs)
		if len(msgs) != 0 {
			t.Fatalf("deleted message still in history: %s", h.raw)
		}
		// The author deletes their own.
		a = tg.ok("bob", "message:send", map[string]any{"channelId": "general", "text": "mine"})
		a.field(t, "message", &m)
		tg.ok("bob", "message:delete", map[string]any{"channelId": "general", "messageId": m.ID})
	})
}

// TestTypingEndsByItself: typing:start reaches the others once; it ends
// with typing:false after the timeout, on stop, and on disconnect.
func TestTypingEndsByItself(t *testing.T) {
	topologies(t, func(c *Config) { c.TypingTimeout = time.Second }, func(t *testing.T, tg *testGateway) {
		for id, u := range map[string]user{"alice": alice, "bob": bob} {
			tg.connect(id, u)
			tg.ok(id, "channel:join", map[string]any{"channelId": "general"})
		}
		type upd struct {
			ChannelID string `json:"channelId"`
			UserID    string `json:"userId"`
			Typing    bool   `json:"typing"`
		}
		start := time.Now()
		tg.ok("alice", "typing:start", map[string]any{"channelId": "general"})
		var u upd
		tg.next("bob", "typing:update", &u)
		if u != (upd{"general", "alice", true}) {
			t.Fatalf("typing:update %+v", u)
		}
		tg.ok("alice", "typing:start", map[string]any{"channelId": "general"}) // extends, sends nothing
		tg.next("bob", "typing:update", &u)
		if u.Typing || time.Since(start) < 900*time.Millisecond {
			t.Fatalf("typing ended %v after start: %+v", time.Since(start), u)
		}
		tg.none("alice", "typing:update", 0)
		tg.ok("alice", "typing:start", map[string]any{"channelId": "general"})
		tg.next("bob", "typing:update", &u)
		tg.ok("alice", "typing:stop", map[string]any{"channelId": "general"})
		tg.next("bob", "typing:update", &u)
		if u.Typing {
			t.Fatal("typing:stop did not end typing")
		}
		tg.ok("alice", "typing:start", map[string]any{"channelId": "general"})
		tg.next("bob", "typing:update", &u)
		tg.clients().Disconnect("alice")
		tg.next("bob", "typing:update", &u)
		if u.Typing || u.UserID != "alice" {
			t.Fatalf("after disconnect: %+v", u)
		}
		tg.none("bob", "typing:update", 1200*time.Millisecond) // and the timer does not send it again
	})
}

// TestPresenceCountsUsersNotSockets: two tabs are one user; closing one
// changes nothing for the others, closing both makes the user offline.
func TestPresenceCountsUsersNotSockets(t *testing.T) {
	topologies(t, nil, func(t *testing.T, tg *testGateway) {
		tg.connect("bob", bob)
		tg.ok("bob", "channel:join", map[string]any{"channelId": "general"})
		tg.connect("alice1", alice)
		a := tg.ok("alice1", "channel:join", map[string]any{"channelId": "general"})
		var online []map[string]string
		a.field(t, "online", &online)
		if fmt.Sprint(online) != "[map[name:Alice status:online userId:alice] map[name:Bob status:online userId:bob]]" {
			t.Fatalf("online %v", online)
		}
		var p Presence
		tg.next("bob", "presence:update", &p)
		if p.UserID != "alice" || p.Status != "online" {
			t.Fatalf("join presence %+v", p)
		}
		tg.connect("alice2", alice)
		tg.ok("alice2", "channel:join", map[string]any{"channelId": "general"})
		tg.none("bob", "presence:update", 200*time.Millisecond)
		tg.ok("alice2", "presence:update", map[string]any{"status": "away"})
		tg.next("bob", "presence:update", &p)
		if p.Status != "away" || p.UserID != "alice" {
			t.Fatalf("away %+v", p)
		}
		if _, err := time.Parse(time.RFC3339, p.LastActiveAt); err != nil {
			t.Fatalf("lastActiveAt %q", p.LastActiveAt)
		}
		tg.next("alice1", "presence:update", nil) // the other tab hears it too
		tg.fails("alice2", "presence:update", map[string]any{"status": "offline"}, "invalid")
		tg.clients().Disconnect("alice1")
		tg.none("bob", "presence:update", 300*time.Millisecond)
		tg.clients().Disconnect("alice2")
		tg.next("bob", "presence:update", &p)
		if p.UserID != "alice" || p.Status != "offline" {
			t.Fatalf("last tab closed: %+v", p)
		}
	})
}

// TestKickBanUnban: a kicked user leaves the channel; a banned one is
// disconnected and cannot come back until unbanned; only moderators may.
func TestKickBanUnban(t *testing.T) {
	topologies(t, nil, func(t *testing.T, tg *testGateway) {
		for id, u := range map[string]user{"alice": alice, "bob": bob, "mod": mod} {
			tg.connect(id, u)
			tg.ok(id, "channel:join", map[string]any{"channelId": "general"})
		}
		tg.fails("alice", "moderation:kick", map[string]any{"channelId": "general", "userId": "bob"}, "forbidden")
		tg.fails("alice", "moderation:ban", map[string]any{"userId": "bob"}, "forbidden")
		tg.fails("mod", "moderation:kick", map[string]any{"channelId": "general"}, "invalid")
		tg.ok("mod", "moderation:kick", map[string]any{"channelId": "general", "userId": "bob"})
		var kicked struct{ ChannelID, By string }
		tg.next("bob", "moderation:kicked", &kicked)
		if kicked.ChannelID != "general" || kicked.By != "mod" {
			t.Fatalf("kicked %+v", kicked)
		}
		tg.fails("bob", "message:send", map[string]any{"channelId": "general", "text": "still here?"}, "forbidden")
		tg.ok("alice", "message:send", map[string]any{"channelId": "general", "text": "after the kick"})
		tg.none("bob", "message:new", 200*time.Millisecond)

		tg.fails("mod", "moderation:ban", map[string]any{"userId": "bob", "durationSec": -1}, "invalid")
		b := tg.ok("mod", "moderation:ban", map[string]any{"userId": "bob", "reason": "spam <b>links</b>"})
		var until any = "unset"
		b.field(t, "until", &until)
		if until != nil {
			t.Fatalf("permanent ban until %v, want null", until)
		}
		var banned struct {
			Reason string  `json:"reason"`
			Until  *string `json:"until"`
		}
		tg.next("bob", "moderation:banned", &banned)
		if banned.Reason != "spam &lt;b&gt;links&lt;/b&gt;" || banned.Until != nil {
			t.Fatalf("banned %+v", banned)
		}
		if reason, err := tg.clients().WaitDisconnect("bob", 5*time.Second); err != nil || reason != "io server disconnect" {
			t.Fatalf("banned socket: %q %v", reason, err)
		}
		ce := tg.connectErr("bob2", testutil.ClientOptions{Auth: map[string]any{"token": token(t, bob)}})
		var data struct {
			Until  *string `json:"until"`
			Reason string  `json:"reason"`
		}
		if err := json.Unmarshal(ce.Data, &data); ce.Message != "banned" || err != nil || data.Reason != "spam &lt;b&gt;links&lt;/b&gt;" || data.Until != nil {
			t.Fatalf("reconnect: %q %s", ce.Message, ce.Data)
		}
		tg.ok("mod", "moderation:unban", map[string]any{"userId": "bob"})
		tg.connect("bob3", bob)

		// A timed ban says until when, and ends by itself.
		tg.ok("mod", "moderation:ban", map[string]any{"userId": "bob", "durationSec": 2})
		var timed struct{ Until *string }
		tg.next("bob3", "moderation:banned", &timed)
		if timed.Until == nil {
			t.Fatal("timed ban without until")
		}
		if u, err := time.Parse(time.RFC3339, *timed.Until); err != nil || time.Until(u) > 3*time.Second {
			t.Fatalf("until %q", *timed.Until)
		}
		ce = tg.connectErr("bob4", testutil.ClientOptions{Auth: map[string]any{"token": token(t, bob)}})
		if ce.Message != "banned" {
			t.Fatalf("during a timed ban: %q", ce.Message)
		}
		testutil.CheckFor(t, 5*time.Second, 200*time.Millisecond, func() error {
			_, err := tg.clients().Connect(fmt.Sprint("bob-late-", time.Now().UnixNano()), testutil.ClientOptions{URL: tg.url,
				Auth: map[string]any{"token": token(t, bob)}})
			return err
		})
	})
}
