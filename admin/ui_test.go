package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"sio/admin"
	"sio/engine"
	"sio/internal/testutil"
	"sio/socketio"
)

// uiDir is the admin UI's build in the npm package.
func uiDir(t *testing.T) string {
	dir := filepath.Join(interopDir(t), "node_modules", "@socket.io", "admin-ui", "ui", "dist")
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		testutil.RequireDependency(t, "the admin UI build is missing ("+dir+")", "run `make deps` (npm ci in test/interop)")
	}
	return dir
}

// serveUI serves the admin UI's build on its own origin.
func serveUI(t *testing.T) string {
	ts := httptest.NewServer(http.FileServer(http.Dir(uiDir(t))))
	t.Cleanup(ts.Close)
	return ts.URL
}

// pollJS evaluates a JavaScript expression until it returns true.
func pollJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	var ok bool
	if err := chromedp.Run(ctx, chromedp.Poll(expr, &ok, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		var text string
		_ = chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate(`document.body ? document.body.innerText : ""`, &text))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, text)
	}
}

// uiConnected is true once the UI's status shows connected.
const uiConnected = `/Status:\s*connected/i.test(document.body.innerText)`

// bodyHas is a JavaScript test that the page's text holds every string.
func bodyHas(ss ...string) string {
	var conds []string
	for _, s := range ss {
		conds = append(conds, fmt.Sprintf("document.body.innerText.includes(%q)", s))
	}
	return strings.Join(conds, " && ")
}

// connectUI fills the UI's connection form (empty: a fresh page) and
// submits it.
func connectUI(t *testing.T, ctx context.Context, serverURL, username, password string) {
	t.Helper()
	field := func(label string) string { return `//label[text()="` + label + `"]/following-sibling::input` }
	actions := []chromedp.Action{
		chromedp.WaitVisible(field("Server URL"), chromedp.BySearch),
		chromedp.SendKeys(field("Server URL"), serverURL, chromedp.BySearch),
	}
	if username != "" {
		actions = append(actions,
			chromedp.SendKeys(field("Username"), username, chromedp.BySearch),
			chromedp.SendKeys(field("Password"), password, chromedp.BySearch))
	}
	actions = append(actions, chromedp.Click(`//button[@type="submit"][normalize-space()="Connect"]`, chromedp.BySearch))
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("connection form: %v", err)
	}
}

// goTo changes the UI's route (hash mode: no reload).
func goTo(t *testing.T, ctx context.Context, route string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf("location.hash = %q; true", route), nil)); err != nil {
		t.Fatal(err)
	}
}

// click clicks the element an XPath selects once it is visible.
func click(t *testing.T, ctx context.Context, what, xpath string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.WaitVisible(xpath, chromedp.BySearch), chromedp.Click(xpath, chromedp.BySearch)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// uiServer is our server instrumented without auth, with the CORS the UI
// needs from its own origin (it polls with credentials), and three real
// socket.io-client 4.8.4 sockets in rooms: u1 over WebSocket in room-red,
// u2 over polling in room-blue, u3 upgraded; all in lobby.
func uiServer(t *testing.T, opts admin.Options) (*ours, *testutil.NodeClients, [3]string) {
	t.Helper()
	o := startOurs(t, opts, socketio.Options{Engine: engine.Config{
		CORS: &engine.CORS{Origins: []string{"*"}, Credentials: true}}})
	nc := testutil.StartNodeClients(t)
	var sids [3]string
	for i, c := range []struct {
		transports []string
		room       string
	}{{[]string{"websocket"}, "room-red"}, {[]string{"polling"}, "room-blue"}, {[]string{"polling", "websocket"}, ""}} {
		id := fmt.Sprint("u", i+1)
		sid, err := nc.Connect(id, testutil.ClientOptions{URL: o.url, Transports: c.transports})
		if err != nil {
			t.Fatal(err)
		}
		sids[i] = sid
		if c.room != "" {
			if _, err := nc.Emit(id, "join", c.room); err != nil {
				t.Fatal(err)
			}
		}
	}
	return o, nc, sids
}

// roomsOf is a local socket's rooms, nil when it is gone.
func roomsOf(o *ours, sid string) []string {
	s := o.srv.Sockets().Socket(socketio.SocketID(sid))
	if s == nil {
		return nil
	}
	var out []string
	for _, r := range s.Rooms() {
		out = append(out, string(r))
	}
	return out
}

func hasRoom(rooms []string, r string) bool { return slices.Contains(rooms, r) }

// TestRealUI opens the real admin UI (the npm package's ui/dist) in
// headless Chromium, connects it to our server through its connection
// form, checks that it lists our sockets and rooms, and acts from it:
// a socket leaves a room, joins another, and is disconnected, each seen
// on the server.
func TestRealUI(t *testing.T) {
	o, nc, sids := uiServer(t, admin.Options{})
	ui := serveUI(t)
	ctx := testutil.Browser(t, 60*time.Second)
	if err := chromedp.Run(ctx, chromedp.Navigate(ui+"/")); err != nil {
		t.Fatal(err)
	}
	connectUI(t, ctx, o.url, "", "")
	pollJS(t, ctx, "the UI connects", uiConnected)

	goTo(t, ctx, "#/sockets")
	pollJS(t, ctx, "the sockets page lists our sockets", bodyHas(sids[0], sids[1], sids[2]))
	goTo(t, ctx, "#/rooms")
	pollJS(t, ctx, "the rooms page lists our rooms", bodyHas("lobby", "room-red", "room-blue"))

	// u1's page: its rooms, and the operations.
	goTo(t, ctx, "#/n/%2F/sockets/"+sids[0])
	pollJS(t, ctx, "u1's page lists its rooms", bodyHas(sids[0], "lobby", "room-red"))
	click(t, ctx, "leave room-red", `//tr[td[normalize-space()="room-red"]]//button`)
	testutil.CheckFor(t, wait, 10*time.Millisecond, func() error {
		if rs := roomsOf(o, sids[0]); rs == nil || hasRoom(rs, "room-red") {
			return fmt.Errorf("u1's rooms %v: still in room-red", rs)
		}
		return nil
	})
	// The click also reaches the row, which opens the room's page (the
	// UI does so with Node too): go back to u1's.
	goTo(t, ctx, "#/n/%2F/sockets/"+sids[0])
	pollJS(t, ctx, "the UI shows that u1 left room-red", bodyHas(sids[0], "lobby")+` && !document.body.innerText.includes("room-red")`)

	join := `//form[.//i[contains(@class,"mdi-tag-plus-outline")]]`
	if err := chromedp.Run(ctx,
		chromedp.SendKeys(join+`//input[@type="text"]`, "room-green", chromedp.BySearch),
		chromedp.Click(join+`//button[@type="submit"]`, chromedp.BySearch)); err != nil {
		t.Fatalf("join form: %v", err)
	}
	testutil.CheckFor(t, wait, 10*time.Millisecond, func() error {
		if rs := roomsOf(o, sids[0]); !hasRoom(rs, "room-green") {
			return fmt.Errorf("u1's rooms %v: not in room-green", rs)
		}
		return nil
	})
	pollJS(t, ctx, "the UI shows u1 in room-green", bodyHas("room-green"))

	// The socket's disconnect button (the client's, first, closes the
	// whole connection).
	click(t, ctx, "disconnect u1", `(//button[.//i[contains(@class,"mdi-logout")]])[2]`)
	if reason, err := nc.WaitDisconnect("u1", wait); err != nil || reason != "io server disconnect" {
		t.Fatalf("u1: disconnect %q %v, want io server disconnect", reason, err)
	}
	if rs := roomsOf(o, sids[0]); rs != nil {
		t.Errorf("u1 still on the server, in %v", rs)
	}
	goTo(t, ctx, "#/sockets")
	pollJS(t, ctx, "the sockets page drops u1", bodyHas(sids[1], sids[2])+fmt.Sprintf(" && !document.body.innerText.includes(%q)", sids[0]))
}

// TestRealUIBasicAuth: with a bcrypt-hashed password, the UI's login with
// a wrong password is refused (it shows "invalid credentials") and the
// right one lets it in to see our sockets.
func TestRealUIBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	o, _, sids := uiServer(t, admin.Options{Auth: &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)}})
	ui := serveUI(t)
	ctx := testutil.Browser(t, 60*time.Second)
	if err := chromedp.Run(ctx, chromedp.Navigate(ui+"/")); err != nil {
		t.Fatal(err)
	}
	connectUI(t, ctx, o.url, "admin", "wrong")
	pollJS(t, ctx, "the UI reports the refusal", `/invalid credentials/i.test(document.body.innerText)`)
	if err := chromedp.Run(ctx, chromedp.Reload()); err != nil { // a fresh, empty form
		t.Fatal(err)
	}
	connectUI(t, ctx, o.url, "admin", "s3cret")
	pollJS(t, ctx, "the UI connects", uiConnected)
	goTo(t, ctx, "#/sockets")
	pollJS(t, ctx, "the sockets page lists our sockets", bodyHas(sids[0], sids[1], sids[2]))
}
