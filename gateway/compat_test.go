package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sio/admin"
	"sio/internal/testutil"
)

// The options for clients and tools migrating from Node: socket.io-client
// 2.x (ALLOW_EIO3), WebSocket compression (PER_MESSAGE_DEFLATE), the client
// bundle (SERVE_CLIENT) and the admin UI (ADMIN_UI), each driven by the
// real npm client or tool.

// v2Connect connects a socket.io-client 2.5.0 client with the token of u
// in the query (2.x clients have no auth payload).
func v2Connect(t *testing.T, nc *testutil.NodeClients, id, url string, u user, transports ...string) error {
	t.Helper()
	_, err := nc.Connect(id, testutil.ClientOptions{URL: url, Query: map[string]string{"token": token(t, u)}, Transports: transports})
	return err
}

// TestV2ClientsChatWithV4Clients: with ALLOW_EIO3 a socket.io-client 2.x
// app authenticates with its token in the query, joins a channel and
// exchanges messages (with acks) with a 4.x client; a bad token is refused
// as for 4.x; without the option 2.x clients cannot connect at all.
func TestV2ClientsChatWithV4Clients(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.AllowEIO3 = true })
	v2 := testutil.StartNodeClientsV2(t)
	tg.connect("alice", alice)
	tg.ok("alice", "channel:join", map[string]any{"channelId": "general"})
	for _, tr := range [][]string{{"websocket"}, {"polling"}, {"polling", "websocket"}} {
		t.Run(strings.Join(tr, "+"), func(t *testing.T) {
			id := "bob-" + strings.Join(tr, "+")
			if err := v2Connect(t, v2, id, tg.url, bob, tr...); err != nil {
				t.Fatal(err)
			}
			emit := func(event string, payload any) ack {
				t.Helper()
				raw, err := v2.Emit(id, event, payload)
				var args []json.RawMessage
				if err != nil || json.Unmarshal(raw, &args) != nil || len(args) != 1 {
					t.Fatalf("%s: %s %v", event, raw, err)
				}
				a := ack{raw: args[0]}
				if err := json.Unmarshal(args[0], &a); err != nil || !a.OK {
					t.Fatalf("%s: ack %s %v", event, args[0], err)
				}
				return a
			}
			emit("channel:join", map[string]any{"channelId": "general"})
			sent := tg.ok("alice", "message:send", map[string]any{"channelId": "general", "text": "to 2.x"})
			var want, got Message
			sent.field(t, "message", &want)
			raw, err := v2.Next(id, "message:new", 5*time.Second)
			var args []Message
			if err != nil || json.Unmarshal(raw, &args) != nil || len(args) != 1 {
				t.Fatalf("message:new at the 2.x client: %s %v", raw, err)
			}
			if args[0].ID != want.ID || args[0].Text != "to 2.x" || args[0].UserID != "alice" {
				t.Fatalf("2.x client got %+v, want %+v", args[0], want)
			}
			a := emit("message:send", map[string]any{"channelId": "general", "text": "from 2.x"})
			a.field(t, "message", &want)
			tg.next("alice", "message:new", &got)
			if got.ID != want.ID || got.Text != "from 2.x" || got.UserID != "bob" {
				t.Fatalf("alice got %+v, want %+v", got, want)
			}
			v2.Disconnect(id)
		})
	}
	_, err := v2.Connect("forger", testutil.ClientOptions{URL: tg.url, Query: map[string]string{"token": "not-a-jwt"}})
	var ce *testutil.ConnectError
	if !errors.As(err, &ce) || ce.Message != "unauthorized" {
		t.Fatalf("bad token: %v, want connect_error unauthorized", err)
	}

	// A 4.x client's token goes in auth: one in its URL is not read.
	if ce := tg.connectErr("q4", testutil.ClientOptions{Query: map[string]string{"token": token(t, bob)}}); ce.Message != "unauthorized" {
		t.Fatalf("a 4.x client's query token: %q, want unauthorized", ce.Message)
	}

	plain := startGateway(t, nil)
	if err := v2Connect(t, v2, "refused", plain.url, bob, "polling"); err == nil {
		t.Fatal("a 2.x client connected without ALLOW_EIO3")
	}
}

// TestPerMessageDeflate: with PER_MESSAGE_DEFLATE the real ws client's
// offer is accepted and a chat message of 1 KiB or more reaches it
// compressed (RSV1 on the wire), a short one uncompressed; without the
// option nothing is negotiated.
func TestPerMessageDeflate(t *testing.T) {
	for _, on := range []bool{true, false} {
		name := "off"
		if on {
			name = "on"
		}
		t.Run(name, func(t *testing.T) {
			tg := startGateway(t, func(c *Config) { c.PerMessageDeflate = on })
			tg.connect("alice", alice)
			tg.ok("alice", "channel:join", map[string]any{"channelId": "general"})
			ws := testutil.StartWSDeflate(t, "ws://"+tg.Addr()+"/socket.io/?EIO=4&transport=websocket", `{}`)
			if ext := ws.Open(); strings.HasPrefix(ext, "permessage-deflate") != on {
				t.Fatalf("Sec-WebSocket-Extensions %q with the option %s", ext, name)
			}
			auth, _ := json.Marshal(map[string]string{"token": token(t, bob)})
			ws.SendText("40"+string(auth), false)
			if m := ws.Next("message"); !strings.HasPrefix(m.Data, `40{"sid":`) {
				t.Fatalf("connect answer %q", m.Data)
			}
			ws.SendText(`420["channel:join",{"channelId":"general"}]`, false)
			if m := ws.Next("message"); !strings.HasPrefix(m.Data, `430[{`) || !strings.Contains(m.Data, `"ok":true`) {
				t.Fatalf("join ack %q", m.Data)
			}
			for _, text := range []string{"short", strings.Repeat("compressible chat text, ", 80) + "end"} {
				tg.ok("alice", "message:send", map[string]any{"channelId": "general", "text": text})
				var frame testutil.WSLine
				for {
					l := ws.Next("frame", "message")
					if l.Ev == "frame" {
						frame = l
						continue
					}
					if !strings.HasPrefix(l.Data, `42["message:new"`) {
						continue // presence and the like
					}
					if !strings.Contains(l.Data, `"text":"`+text+`"`) {
						t.Fatalf("message:new %q, want the text %q", l.Data, text)
					}
					break
				}
				if want := on && len(text) >= 1024; frame.Rsv1 != want {
					t.Errorf("a %d-byte message: compressed=%v (frame %d bytes), want %v", len(text), frame.Rsv1, frame.Len, want)
				}
			}
		})
	}
}

// TestServeClient: SERVE_CLIENT serves the real socket.io-client bundle
// under the Socket.IO path; a directory that is not there stops the
// configuration.
func TestServeClient(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(wd, "..", "test", "interop", "node_modules", "socket.io-client", "dist")
	want, err := os.ReadFile(filepath.Join(dir, "socket.io.min.js"))
	if err != nil {
		testutil.RequireDependency(t, "socket.io-client's dist is missing ("+dir+")", "run `make deps` or `make client-dist`")
	}
	tg := startGateway(t, func(c *Config) { c.ServeClient = dir })
	code, body := tg.http("GET", "/socket.io/socket.io.min.js", "")
	if code != http.StatusOK || string(body) != string(want) {
		t.Fatalf("GET /socket.io/socket.io.min.js: %d, %d bytes, want 200 and the %d bytes of the bundle", code, len(body), len(want))
	}
	if code, _ := startGateway(t, nil).http("GET", "/socket.io/socket.io.min.js", ""); code == http.StatusOK {
		t.Fatal("the bundle is served without SERVE_CLIENT")
	}
	env := map[string]string{"JWT_SECRET": testSecret, "SERVE_CLIENT": filepath.Join(dir, "nope")}
	if _, err := LoadConfig(nil, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "SERVE_CLIENT") {
		t.Fatalf("a missing SERVE_CLIENT directory: %v", err)
	}
}

// TestAdminUI: with ADMIN_UI and a bcrypt-hashed password, a real client
// logs in to /admin as the UI does, sees the chat's sockets with their
// channel rooms, and disconnects one; a wrong password is refused. Without
// a password the gateway refuses to start, except in -dev.
func TestAdminUI(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tg := startGateway(t, func(c *Config) {
		c.AdminUI, c.AdminUIUsername, c.AdminUIPassword = true, "ops", string(hash)
	})
	tg.connect("alice", alice)
	tg.ok("alice", "channel:join", map[string]any{"channelId": "general"})
	nc := tg.clients()
	_, err = nc.Connect("intruder", testutil.ClientOptions{URL: tg.url + "/admin", Auth: map[string]any{"username": "ops", "password": "guess"}})
	var ce *testutil.ConnectError
	if !errors.As(err, &ce) || ce.Message != "invalid credentials" {
		t.Fatalf("wrong password: %v, want connect_error invalid credentials", err)
	}
	if _, err := nc.Connect("ui", testutil.ClientOptions{URL: tg.url + "/admin", Auth: map[string]any{"username": "ops", "password": "s3cret"}}); err != nil {
		t.Fatal(err)
	}
	raw, err := nc.Next("ui", "all_sockets", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var all [][]struct {
		ID    string   `json:"id"`
		Nsp   string   `json:"nsp"`
		Rooms []string `json:"rooms"`
	}
	if err := json.Unmarshal(raw, &all); err != nil || len(all) != 1 {
		t.Fatalf("all_sockets %s: %v", raw, err)
	}
	var sid string
	for _, s := range all[0] {
		if s.Nsp == "/" && strings.Contains(strings.Join(s.Rooms, ","), "general") {
			sid = s.ID
		}
	}
	if sid == "" {
		t.Fatalf("all_sockets %s: no socket of / in the general channel's room", raw)
	}
	nc.EmitNoAck("ui", "_disconnect", "/", false, sid)
	if reason, err := nc.WaitDisconnect("alice", 5*time.Second); err != nil || reason != "io server disconnect" {
		t.Fatalf("alice: %q %v, want io server disconnect", reason, err)
	}

	cfg := Defaults()
	cfg.JWTSecret, cfg.AdminUI = testSecret, true
	if _, err := New(cfg, Options{Logger: quiet()}); !errors.Is(err, ErrAdminUIOpen) {
		t.Fatalf("ADMIN_UI without a password: %v, want ErrAdminUIOpen", err)
	}
	for _, env := range []map[string]string{
		{"ADMIN_UI": "true", "ADMIN_UI_USERNAME": "ops"},
		{"ADMIN_UI_USERNAME": "ops", "ADMIN_UI_PASSWORD_HASH": string(hash)},
		{"ADMIN_UI": "maybe"},
	} {
		env["JWT_SECRET"] = testSecret
		if _, err := LoadConfig(nil, func(k string) string { return env[k] }); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
	// -dev lets it start without a password; ADMIN_UI_READONLY takes the
	// UI's operations away (its config announces none).
	cfg.Dev, cfg.AdminUIReadOnly = true, true
	g, err := New(cfg, Options{Logger: quiet()})
	if err != nil {
		t.Fatalf("ADMIN_UI without a password in -dev: %v", err)
	}
	if f := g.admin.Features(); slices.Contains(f, admin.FeatureDisconnect) || slices.Contains(f, admin.FeatureJoin) {
		t.Errorf("ADMIN_UI_READONLY: features %v still offer operations", f)
	}
	g.admin.Close()
	cfg.Dev, cfg.AdminUIReadOnly = false, false
	cfg.AdminUIPassword, cfg.AdminUIUsername = "not a bcrypt hash", "ops"
	if _, err := New(cfg, Options{Logger: quiet()}); err == nil {
		t.Error("a password that is no bcrypt hash was accepted")
	}
}
