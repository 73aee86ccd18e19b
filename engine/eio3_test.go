package engine_test

import (
	"bytes"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"sio/codec"
	"sio/engine"
	"sio/loop"
)

// Engine.IO v3 over raw HTTP and WebSocket: what engine.io 6 with
// allowEIO3 answers to engine.io-client 3.x (the real client's traffic is
// in the socketio interop tests).

func startV3(t *testing.T, cfg engine.Config) *testServer {
	t.Helper()
	cfg.AllowEIO3 = true
	return startServer(t, cfg, loop.Options{}, nil)
}

func (ts *testServer) path3(query string) string {
	return ts.srv.Config().Path + "?EIO=3&" + query
}

// handshake3 opens a v3 polling session (b64 as engine.io-client 3 sends it
// from Node) and checks the length-prefixed open packet.
func (ts *testServer) handshake3(t *testing.T, query string) handshakeInfo {
	t.Helper()
	c := ts.dial(t)
	defer c.close()
	r := c.do(t, get(ts.path3("transport=polling&"+query)))
	if r.status != 200 || r.header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Fatalf("handshake: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	colon := bytes.IndexByte(r.body, ':')
	if colon < 0 || string(r.body[:colon]) != strconv.Itoa(len(r.body)-colon-1) {
		t.Fatalf("open packet is not length-prefixed: %q", r.body)
	}
	return parseOpen(t, r.body[colon+1:])
}

func (ts *testServer) poll3(t *testing.T, sid string) *response {
	t.Helper()
	c := ts.dial(t)
	defer c.close()
	return c.do(t, get(ts.path3("transport=polling&sid="+sid)))
}

func (ts *testServer) send3(t *testing.T, sid string, body string, headers ...string) *response {
	t.Helper()
	c := ts.dial(t)
	defer c.close()
	return c.do(t, post(ts.path3("transport=polling&sid="+sid), body, headers...))
}

func TestEIO3RefusedByDefault(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	c := ts.dial(t)
	expectError(t, c.do(t, get(ts.path3("transport=polling"))), 400, 5, "Unsupported protocol version")
	w := ts.dial(t)
	if r := w.do(t, wsRequest(ts.path3("transport=websocket"))); r.status != 400 || string(r.body) != "Unsupported protocol version" {
		t.Fatalf("WebSocket EIO=3: %d %q", r.status, r.body)
	}
}

func TestEIO3OnlyVersion3(t *testing.T) {
	// Node takes any EIO but 4 for 3; only EIO=3 is v3 here, so that a
	// missing or bad EIO is still refused as the official suites expect.
	ts := startV3(t, engine.Config{})
	p := ts.srv.Config().Path
	for _, q := range []string{"transport=polling", "EIO=abc&transport=polling", "EIO=3&EIO=3&transport=polling", "EIO=5&transport=polling"} {
		c := ts.dial(t)
		expectError(t, c.do(t, get(p+"?"+q)), 400, 5, "Unsupported protocol version")
	}
	// A v4 handshake is unchanged.
	ts.handshake(t)
}

func TestEIO3PollingMessages(t *testing.T) {
	ts := startV3(t, engine.Config{})
	hs := ts.handshake3(t, "b64=1")
	if len(hs.Upgrades) != 1 || hs.Upgrades[0] != "websocket" {
		t.Fatalf("upgrades %v", hs.Upgrades)
	}
	// A request of another protocol revision for the session is refused,
	// and the session is left alone.
	c := ts.dial(t)
	expectError(t, c.do(t, get(ts.sidPath(hs.SID))), 400, 3, "Bad request")
	// Two messages, one with a character beyond the BMP: lengths count
	// UTF-16 units. The echo comes back in one payload.
	if r := ts.send3(t, hs.SID, "6:4hello4:4a😀"); r.status != 200 || string(r.body) != "ok" {
		t.Fatalf("POST: %d %q", r.status, r.body)
	}
	expectPollBody(t, ts.poll3(t, hs.SID), "6:4hello4:4a😀")
	// Binary as base64 (b64=1): b4<base64> both ways.
	if r := ts.send3(t, hs.SID, "10:b4AQIDBA=="); r.status != 200 {
		t.Fatalf("POST: %d %q", r.status, r.body)
	}
	expectPollBody(t, ts.poll3(t, hs.SID), "10:b4AQIDBA==")
}

func TestEIO3PollingBinaryPayload(t *testing.T) {
	// Without b64 the client reads binary payloads (XHR2 browsers): a GET
	// whose payload holds a binary packet is application/octet-stream in
	// parser-v3's binary format; one without stays text.
	ts := startV3(t, engine.Config{})
	hs := ts.handshake3(t, "")
	body := codec.AppendBinaryPayloadPacketV3(nil, codec.PacketMessage, false, []byte("é"))
	body = codec.AppendBinaryPayloadPacketV3(body, codec.PacketMessage, true, []byte{1, 2, 3})
	if r := ts.send3(t, hs.SID, string(body), "Content-Type: application/octet-stream"); r.status != 200 {
		t.Fatalf("binary POST: %d %q", r.status, r.body)
	}
	r := ts.poll3(t, hs.SID)
	if r.status != 200 || r.header.Get("Content-Type") != "application/octet-stream" || !bytes.Equal(r.body, body) {
		t.Fatalf("GET: %d %q % x, want % x", r.status, r.header.Get("Content-Type"), r.body, body)
	}
	if r := ts.send3(t, hs.SID, "2:4é"); r.status != 200 {
		t.Fatalf("POST: %d", r.status)
	}
	expectPollBody(t, ts.poll3(t, hs.SID), "2:4é")
}

func TestEIO3MalformedPayloadClosesSession(t *testing.T) {
	for _, body := range []string{"abc", "4:4hello", "99:4", "2:4😀", "1:9", "5:b4A=A", "0", "1:3" /* a pong: wrong direction */} {
		t.Run(body, func(t *testing.T) {
			ts := startV3(t, engine.Config{})
			hs := ts.handshake3(t, "b64=1")
			r := ts.send3(t, hs.SID, body)
			if body == "1:3" {
				if r.status != 200 {
					t.Fatalf("POST pong: %d", r.status)
				}
			} else {
				expectError(t, r, 400, 3, "Bad request")
			}
			expectError(t, ts.poll3(t, hs.SID), 400, 1, "Session ID unknown")
		})
	}
	ts := startV3(t, engine.Config{})
	hs := ts.handshake3(t, "")
	expectError(t, ts.send3(t, hs.SID, "\x00\x09\xff4", "Content-Type: application/octet-stream"), 400, 3, "Bad request")
}

func TestEIO3ClientPingKeepsSessionAlive(t *testing.T) {
	ts := startV3(t, engine.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 700 * time.Millisecond})
	hs := ts.handshake3(t, "b64=1")
	// The server never pings a v3 client: a poll waits, and the client's
	// pings, each within pingInterval+pingTimeout (1 s), keep it open for
	// well past that.
	start := time.Now()
	for range 5 {
		time.Sleep(400 * time.Millisecond)
		if r := ts.send3(t, hs.SID, "1:2"); r.status != 200 {
			t.Fatalf("ping POST after %v: %d %q", time.Since(start), r.status, r.body)
		}
		expectPollBody(t, ts.poll3(t, hs.SID), "1:3")
	}
	// Silent from now on: closed after 1 s.
	time.Sleep(1300 * time.Millisecond)
	expectError(t, ts.poll3(t, hs.SID), 400, 1, "Session ID unknown")
	if n := ts.srv.Stats().Closed[engine.ReasonPingTimeout]; n != 1 {
		t.Fatalf("closed for ping timeout: %d", n)
	}
}

func TestEIO3WebSocketBase64(t *testing.T) {
	// A client that asked for base64 (forceBase64: b64=1 on its WebSocket)
	// gets binary as b4<base64> text.
	ts := startV3(t, engine.Config{})
	c := ts.dial(t)
	r := c.do(t, wsRequest(ts.path3("transport=websocket&b64=1")))
	if r.status != 101 {
		t.Fatalf("upgrade: %d", r.status)
	}
	wc := &wsConn{httpConn: c, resp: r}
	wc.readFrame(t) // open
	wc.sendText(t, "b4AQI=")
	wc.expectText(t, "b4AQI=")
	wc.sendBinary(t, []byte{4, 3})
	wc.expectText(t, "b4Aw==")
}

func TestEIO3WebSocket(t *testing.T) {
	ts := startV3(t, engine.Config{PingInterval: shortPingInterval, PingTimeout: shortPingTimeout})
	c := ts.dial(t)
	r := c.do(t, wsRequest(ts.path3("transport=websocket")))
	if r.status != 101 {
		t.Fatalf("upgrade: %d", r.status)
	}
	wc := &wsConn{httpConn: c, resp: r}
	op, p := wc.readFrame(t)
	if op != ws.OpText {
		t.Fatalf("open frame %v", op)
	}
	if hs := parseOpen(t, p); len(hs.Upgrades) != 0 {
		t.Fatalf("upgrades %v", hs.Upgrades)
	}
	wc.sendText(t, "4hello")
	wc.expectText(t, "4hello")
	// Binary messages carry the type byte 4, both ways.
	wc.sendBinary(t, []byte{4, 1, 2, 3})
	wc.expectBinary(t, []byte{4, 1, 2, 3})
	// Base64 text from a forceBase64 client is a binary message too.
	wc.sendText(t, "b4AQI=")
	wc.expectBinary(t, []byte{4, 1, 2})
	// Client pings answered; no server ping in between.
	for range 3 {
		time.Sleep(250 * time.Millisecond)
		wc.sendText(t, "2")
		wc.expectText(t, "3")
	}
	// A binary message without the type byte is a parse error.
	wc.sendBinary(t, []byte{1, 2})
	wc.expectClose(t, 1005)
}

func TestEIO3WebSocketPingTimeout(t *testing.T) {
	ts := startV3(t, engine.Config{PingInterval: shortPingInterval, PingTimeout: shortPingTimeout})
	c := ts.dial(t)
	r := c.do(t, wsRequest(ts.path3("transport=websocket")))
	if r.status != 101 {
		t.Fatalf("upgrade: %d", r.status)
	}
	wc := &wsConn{httpConn: c, resp: r}
	wc.readFrame(t) // open
	start := time.Now()
	wc.expectClose(t, 1005) // no ping from the server: the next frame is the close
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("closed after %v, before pingInterval+pingTimeout", d)
	}
}

func TestEIO3Upgrade(t *testing.T) {
	ts := startV3(t, engine.Config{})
	hs := ts.handshake3(t, "b64=1")
	_, held := ts.pollAsync3(t, hs.SID)
	c := ts.dial(t)
	r := c.do(t, wsRequest(ts.path3("transport=websocket&sid="+hs.SID)))
	if r.status != 101 {
		t.Fatalf("probe: %d", r.status)
	}
	wc := &wsConn{httpConn: c, resp: r}
	wc.sendText(t, "2probe")
	wc.expectText(t, "3probe")
	// The held poll is released with a v3 noop.
	expectPollBody(t, wait(t, held), "1:6")
	wc.sendText(t, "5")
	wc.sendText(t, "4after")
	wc.expectText(t, "4after")
	wc.sendBinary(t, []byte{4, 9})
	wc.expectBinary(t, []byte{4, 9})
}

func (ts *testServer) pollAsync3(t *testing.T, sid string) (*httpConn, <-chan result) {
	t.Helper()
	c := ts.dial(t)
	return c, c.async(t, get(ts.path3("transport=polling&sid="+sid)))
}

func TestEIO3UpgradeMovesPendingPayload(t *testing.T) {
	// Packets waiting for a GET when the client upgrades are written to the
	// WebSocket, whichever payload format they waited in.
	for _, q := range []string{"b64=1", ""} {
		t.Run("query="+q, func(t *testing.T) {
			ts := startV3(t, engine.Config{})
			hs := ts.handshake3(t, q)
			if r := ts.send3(t, hs.SID, "10:b4AQIDBA==6:4hello"); r.status != 200 {
				t.Fatalf("POST: %d %q", r.status, r.body)
			}
			c := ts.dial(t)
			r := c.do(t, wsRequest(ts.path3("transport=websocket&sid="+hs.SID)))
			if r.status != 101 {
				t.Fatalf("probe: %d", r.status)
			}
			wc := &wsConn{httpConn: c, resp: r}
			wc.sendText(t, "2probe")
			wc.expectText(t, "3probe")
			wc.sendText(t, "5")
			wc.expectBinary(t, []byte{4, 1, 2, 3, 4})
			wc.expectText(t, "4hello")
		})
	}
}

func TestEIO3PreparedBroadcast(t *testing.T) {
	// One Prepared, sent to a v4 WebSocket, a v3 WebSocket, a v3 polling
	// session with b64 and one without: each decodes it in its own format.
	var mu sync.Mutex
	var sessions []*engine.Session
	ts := startServer(t, engine.Config{AllowEIO3: true}, loop.Options{}, func(s *engine.Session, _ *loop.Request) {
		mu.Lock()
		sessions = append(sessions, s)
		mu.Unlock()
	})
	w4, _ := ts.openWS(t)
	c := ts.dial(t)
	r := c.do(t, wsRequest(ts.path3("transport=websocket")))
	if r.status != 101 {
		t.Fatalf("upgrade: %d", r.status)
	}
	w3 := &wsConn{httpConn: c, resp: r}
	w3.readFrame(t)
	b64 := ts.handshake3(t, "b64=1")
	bin := ts.handshake3(t, "")
	p := engine.NewPrepared([]byte(`51-["e","😀",{"_placeholder":true,"num":0}]`), [][]byte{{0xca, 0xfe}})
	mu.Lock()
	for _, s := range sessions {
		s.SendPrepared(p, false)
	}
	mu.Unlock()
	w4.expectText(t, `451-["e","😀",{"_placeholder":true,"num":0}]`)
	w4.expectBinary(t, []byte{0xca, 0xfe})
	w3.expectText(t, `451-["e","😀",{"_placeholder":true,"num":0}]`)
	w3.expectBinary(t, []byte{4, 0xca, 0xfe})
	expectPollBody(t, ts.poll3(t, b64.SID), `44:451-["e","😀",{"_placeholder":true,"num":0}]6:b4yv4=`)
	r = ts.poll3(t, bin.SID)
	want := codec.AppendBinaryPayloadPacketV3(nil, codec.PacketMessage, false, []byte(`51-["e","😀",{"_placeholder":true,"num":0}]`))
	want = codec.AppendBinaryPayloadPacketV3(want, codec.PacketMessage, true, []byte{0xca, 0xfe})
	if r.status != 200 || r.header.Get("Content-Type") != "application/octet-stream" || !bytes.Equal(r.body, want) {
		t.Fatalf("binary GET: %d %q % x", r.status, r.header.Get("Content-Type"), r.body)
	}
}
