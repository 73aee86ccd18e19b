package socketio_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sio/engine"
	"sio/internal/testutil"
	"sio/loop"
	"sio/socketio"
)

// clientDist is socket.io-client's dist directory in test/interop (the
// pinned 4.8.4, installed by npm ci).
func clientDist(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(wd, "..", "test", "interop", "node_modules", "socket.io-client", "dist")
	if _, err := os.Stat(filepath.Join(dir, "socket.io.min.js")); err != nil {
		testutil.RequireDependency(t, "socket.io-client's dist is missing ("+dir+")", "run `make deps` or `make client-dist`")
	}
	return dir
}

// get requests path with headers, without the transport's transparent gzip.
func get(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestServeClient: the files Node's serveClient serves, with its headers,
// ETag (the client's version) and 304, gzip when asked, and nothing else.
func TestServeClient(t *testing.T) {
	dist := clientDist(t)
	ts := startServer(t, socketio.Options{ServeClient: dist,
		Engine: engine.Config{CORS: &engine.CORS{Origins: []string{"*"}}}})
	base := "http://" + ts.addr + "/socket.io/"
	for _, name := range []string{"socket.io.js", "socket.io.min.js", "socket.io.esm.min.js",
		"socket.io.js.map", "socket.io.min.js.map", "socket.io.esm.min.js.map",
		"socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map"} {
		want, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, "GET", base+name+"?v=1", nil)
		ctype := "application/javascript; charset=utf-8"
		if strings.HasSuffix(name, ".map") {
			ctype = "application/json; charset=utf-8"
		}
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("%s: %d, %d bytes; want 200 and the file's %d", name, resp.StatusCode, len(body), len(want))
		}
		for k, v := range map[string]string{"Content-Type": ctype, "Cache-Control": "public, max-age=0",
			"Etag": `"4.8.4"`, "Access-Control-Allow-Origin": "*"} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", name, k, got, v)
			}
		}
		// gzip when the client takes it.
		resp, body = get(t, "GET", base+name, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: Content-Encoding %q, want gzip", name, resp.Header.Get("Content-Encoding"))
		} else if zr, err := gzip.NewReader(bytes.NewReader(body)); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, want) {
			t.Errorf("%s: gzip body is not the file (%v)", name, err)
		}
		if resp, _ := get(t, "GET", base+name, map[string]string{"Accept-Encoding": "gzip;q=0"}); resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: gzip;q=0 got Content-Encoding %q", name, resp.Header.Get("Content-Encoding"))
		}
	}
	// If-None-Match with the ETag, strong or weak: 304 and no body.
	for _, inm := range []string{`"4.8.4"`, `W/"4.8.4"`} {
		if resp, body := get(t, "GET", base+"socket.io.min.js", map[string]string{"If-None-Match": inm}); resp.StatusCode != 304 || len(body) != 0 {
			t.Errorf("If-None-Match %s: %d with %d bytes, want 304 and none", inm, resp.StatusCode, len(body))
		}
	}
	if resp, _ := get(t, "GET", base+"socket.io.min.js", map[string]string{"If-None-Match": `"4.8.3"`}); resp.StatusCode != 200 {
		t.Errorf("If-None-Match of another version: %d, want 200", resp.StatusCode)
	}
	if resp, body := get(t, "HEAD", base+"socket.io.js", nil); resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD: %d with %d bytes", resp.StatusCode, len(body))
	}
	// Any other name goes to Engine.IO (which refuses it, as Node's does),
	// and nothing outside the list is read from the directory.
	for _, p := range []string{"socket.io.cjs", "../package.json", "%2e%2e/package.json", "dist/socket.io.js",
		"socket.io.js/", "./socket.io.js", "socket.io.JS", "package.json", "", "socket.io.js%00"} {
		resp, body := get(t, "GET", base+p, nil)
		if resp.StatusCode == 200 && len(body) > 200 {
			t.Errorf("%q: 200 with %d bytes, want no file", p, len(body))
		}
	}
	// Engine.IO still answers at the path.
	if resp, body := get(t, "GET", base+"?EIO=4&transport=polling", nil); resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte(`0{"sid":`)) {
		t.Errorf("handshake: %d %s", resp.StatusCode, body)
	}
}

// TestServeClientContentHash: without socket.io-client's package.json the
// ETag is a hash of each file's content; files are read once at start
// (changing them on disk changes nothing), and no other file of the
// directory is served.
func TestServeClientContentHash(t *testing.T) {
	dist := clientDist(t)
	dir := t.TempDir()
	for _, name := range []string{"socket.io.js", "socket.io.min.js", "socket.io.esm.min.js"} {
		b, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, socketio.Options{ServeClient: dir, Engine: engine.Config{Path: "/custom"}})
	base := "http://" + ts.addr + "/custom/"
	etags := map[string]bool{}
	for _, name := range []string{"socket.io.js", "socket.io.min.js", "socket.io.esm.min.js"} {
		resp, _ := get(t, "GET", base+name, nil)
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(etag) {
			t.Errorf("%s: %d, ETag %q, want 200 and a quoted content hash", name, resp.StatusCode, etag)
		}
		etags[etag] = true
		if resp, _ := get(t, "GET", base+name, map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 {
			t.Errorf("%s: If-None-Match %s: %d, want 304", name, etag, resp.StatusCode)
		}
	}
	if len(etags) != 3 {
		t.Errorf("ETags %v: want one per file", etags)
	}
	for _, name := range []string{"socket.io.js.map", "secret.txt"} {
		if resp, body := get(t, "GET", base+name, nil); resp.StatusCode == 200 || bytes.Contains(body, []byte("secret")) {
			t.Errorf("%s: %d %q, want it not served", name, resp.StatusCode, body)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "socket.io.js"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, "GET", base+"socket.io.js", nil); string(body) == "changed" {
		t.Error("the file was read again after start")
	}
}

// TestServeClientMissing: a directory without the bundle makes Serve fail
// with ErrClientFiles instead of serving 404s.
func TestServeClientMissing(t *testing.T) {
	srv := socketio.NewServer(socketio.Options{ServeClient: t.TempDir(), Listen: loop.Options{Addr: "127.0.0.1:0"},
		Logger: testutil.NewLogWriter(t).Logger()})
	if err := srv.Serve(); !errors.Is(err, socketio.ErrClientFiles) {
		t.Fatalf("Serve: %v, want ErrClientFiles", err)
	}
}

// TestServeClientInChromium: a page loads /socket.io/socket.io.min.js from
// our server (which serves the page too, from its Fallback) and connects
// with it: the server sees the event it emits, the page the answer.
func TestServeClientInChromium(t *testing.T) {
	dist := clientDist(t)
	page := []byte(`<!doctype html><html><head><meta charset="utf-8"><title>loading</title>
<script src="/socket.io/socket.io.min.js"></script></head><body><script>
const socket = io({ transports: ["polling", "websocket"] });
socket.on("connect", () => socket.emit("hello", socket.id));
socket.on("welcome", (id) => { document.title = "welcome " + id; });
</script></body></html>`)
	ts := startServer(t, socketio.Options{ServeClient: dist, Engine: engine.Config{
		Fallback: func(c *loop.Conn, r *loop.Request) {
			if string(r.Path) != "/" {
				c.Respond(&loop.Response{Status: 404})
				return
			}
			c.Respond(&loop.Response{Status: 200, ContentType: "text/html; charset=utf-8", Body: page})
		}}})
	hello := make(chan string, 1)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("hello", func(e *socketio.Event) {
			id, _ := e.String(0)
			if id == string(s.ID()) {
				_ = s.Emit("welcome", id)
			}
			select {
			case hello <- id:
			default:
			}
		})
	})
	ctx := testutil.Browser(t, 30*time.Second)
	if err := chromedp.Run(ctx, chromedp.Navigate("http://"+ts.addr+"/")); err != nil {
		t.Fatal(err)
	}
	id := testutil.Recv(t, hello)
	if ts.srv.Sockets().Socket(socketio.SocketID(id)) == nil {
		t.Fatalf("the page's socket %q is not ours", id)
	}
	var title string
	if err := chromedp.Run(ctx, chromedp.Poll(`document.title.startsWith("welcome ")`, nil,
		chromedp.WithPollingTimeout(10*time.Second)), chromedp.Title(&title)); err != nil {
		t.Fatal(err)
	}
	if title != "welcome "+id {
		t.Errorf("page title %q, want welcome %s", title, id)
	}
}
