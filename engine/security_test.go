package engine_test

// Hostile inputs from BAD-INPUTS.md §1a–1c, over real sockets. Every test
// ends by checking that the server still serves a fresh handshake and never
// recovered a panic.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"sio/engine"
	"sio/internal/testutil"
	"sio/loop"
)

// --- §1a HTTP handshake / request layer -----------------------------------------

func TestBadUpgradeHeadersAreAnsweredAndSurviveReset(t *testing.T) {
	// CVE-2022-41940 / engine.io PR #658: Upgrade: h2c and friends, then a
	// TCP reset in the middle of the answer.
	ts := startServer(t, shortPing, loop.Options{}, nil) // stray sessions expire by themselves
	hs := ts.handshake(t)
	p := ts.srv.Config().Path
	h2c := []string{"Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA"}
	rows := []struct {
		name   string
		req    string
		status int
		body   string // substring
	}{
		{"h2c on polling is a plain handshake", get(p+"?EIO=4&transport=polling", h2c...), 200, `0{"sid":`},
		{"h2c on websocket", get(p+"?EIO=4&transport=websocket", h2c...), 400, `"code":3`},
		{"Upgrade: foo", get(p+"?EIO=4&transport=websocket", "Connection: Upgrade", "Upgrade: foo"), 400, `"code":3`},
		{"Upgrade without Connection: Upgrade", get(p+"?EIO=4&transport=websocket", "Upgrade: websocket",
			"Sec-WebSocket-Key: "+testutil.WSKey, "Sec-WebSocket-Version: 13"), 400, `"code":3`},
		{"missing Sec-WebSocket-Key", get(p+"?EIO=4&transport=websocket", "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Version: 13"), 400, "Sec-WebSocket-Key"},
		{"short Sec-WebSocket-Key", get(p+"?EIO=4&transport=websocket", "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Key: abc", "Sec-WebSocket-Version: 13"), 400, "Sec-WebSocket-Key"},
		{"long Sec-WebSocket-Key", get(p+"?EIO=4&transport=websocket", "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Key: "+strings.Repeat("A", 200), "Sec-WebSocket-Version: 13"), 400, "Sec-WebSocket-Key"},
		{"missing Sec-WebSocket-Version", get(p+"?EIO=4&transport=websocket", "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Key: "+testutil.WSKey), 400, "Sec-WebSocket-Version"},
		{"Sec-WebSocket-Version: 12", get(p+"?EIO=4&transport=websocket", "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Key: "+testutil.WSKey, "Sec-WebSocket-Version: 12"), 400, "Sec-WebSocket-Version"},
		{"POST upgrade", request("POST", p+"?EIO=4&transport=websocket", "", "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Key: "+testutil.WSKey, "Sec-WebSocket-Version: 13"), 400, `"code":2`},
		{"probe without Sec-WebSocket-Key", get(p+"?EIO=4&transport=websocket&sid="+hs.SID, "Connection: Upgrade",
			"Upgrade: websocket", "Sec-WebSocket-Version: 13"), 400, "Sec-WebSocket-Key"},
	}
	for _, rw := range rows {
		c := ts.dial(t)
		r := c.do(t, rw.req)
		c.close()
		if r.status != rw.status || !strings.Contains(string(r.body), rw.body) {
			t.Errorf("%s: %d %q, want %d containing %q", rw.name, r.status, r.body, rw.status, rw.body)
		}
	}
	// The bad probe did not hurt the session it named.
	ts.mustSend(t, hs.SID, "4x")
	expectPollBody(t, ts.poll(t, hs.SID), "4x")

	// Reset right after the request, and after the first byte of the answer.
	for i := 0; i < 10; i++ {
		for _, rw := range rows {
			c := ts.dial(t)
			c.write(t, rw.req)
			c.reset()
			c = ts.dial(t)
			c.write(t, rw.req)
			_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
			if _, err := c.br.ReadByte(); err != nil {
				t.Fatalf("%s: %v", rw.name, err)
			}
			c.reset()
		}
	}
	// Reset right after a 101, on a fresh WebSocket session and on a probe.
	for i := 0; i < 10; i++ {
		w := ts.dialWS(t, "transport=websocket")
		w.reset()
		hs := ts.handshake(t)
		w = ts.dialWS(t, "transport=websocket&sid="+hs.SID)
		w.reset()
	}
	// Reset in the middle of a large polling answer and a large WebSocket message.
	hs = ts.handshake(t)
	big := "4" + strings.Repeat("r", 900_000)
	ts.mustSend(t, hs.SID, big)
	c := ts.dial(t)
	c.write(t, get(ts.sidPath(hs.SID)))
	if _, err := io.ReadFull(c.br, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	c.reset()
	w, _ := ts.openWS(t)
	w.sendText(t, big)
	if _, err := io.ReadFull(w.br, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	w.reset()

	ts.assertHealthy(t)
	ts.checkNoLeaks(t)
}

// headerFlood builds a request to target with n extra header fields, with
// the upgrade headers first or last.
func headerFlood(target string, n int, upgradeFirst bool) string {
	up := []string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: " + testutil.WSKey, "Sec-WebSocket-Version: 13"}
	var hs []string
	if upgradeFirst {
		hs = append(hs, up...)
	}
	for i := 0; i < n; i++ {
		hs = append(hs, "X-H"+strconv.Itoa(i)+": v")
	}
	if !upgradeFirst {
		hs = append(hs, up...)
	}
	return get(target, hs...)
}

// expect431 sends a request that must be refused with 431 and a close.
func expect431(t *testing.T, ts *testServer, req string) {
	t.Helper()
	c := ts.dial(t)
	defer c.close()
	start := time.Now()
	r := c.do(t, req)
	if r.status != 431 {
		t.Fatalf("%d %q, want 431", r.status, trunc(r.body))
	}
	if !r.close {
		t.Fatal("431 without Connection: close")
	}
	c.expectEOF(t)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("answered after %v", el)
	}
}

func TestTooManyHeadersAre431(t *testing.T) {
	// CVE-2024-37890 (ws): more headers than the cap, Upgrade before or after the cut.
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	for _, n := range []int{101, 2001, 5000} {
		for _, first := range []bool{true, false} {
			for _, tr := range []string{"websocket", "polling"} {
				t.Run(fmt.Sprintf("%d headers upgrade first %v %s", n, first, tr), func(t *testing.T) {
					expect431(t, ts, headerFlood(ts.path("transport="+tr), n, first))
				})
			}
		}
	}
	ts.assertHealthy(t)
	ts.checkNoLeaksAfterHandshakes(t)
}

func TestHugeHeaderIs431(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	expect431(t, ts, get(ts.path("transport=polling"), "X-Big: "+strings.Repeat("a", 64<<10)))
	expect431(t, ts, wsRequest(ts.path("transport=websocket"), "X-Big: "+strings.Repeat("a", 64<<10)))
	expect431(t, ts, get(ts.path("transport=polling&pad="+strings.Repeat("q", 64<<10))))
	// A head that never ends is cut at the cap, not buffered forever.
	c := ts.dial(t)
	c.write(t, "GET "+ts.path("transport=polling")+" HTTP/1.1\r\nX-Slow: "+strings.Repeat("b", 20<<10))
	if r := c.read(t); r.status != 431 {
		t.Fatalf("endless head: %d", r.status)
	}
	c.close()
	ts.assertHealthy(t)
	ts.checkNoLeaksAfterHandshakes(t)
}

func TestLongListHeadersAreAnsweredQuickly(t *testing.T) {
	// CVE-2021-32640 (ws ReDoS): "b" + 32k spaces + "x" in Sec-WebSocket-Protocol.
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	for _, name := range []string{"Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"} {
		// Over the head cap: refused at once.
		expect431(t, ts, wsRequest(ts.path("transport=websocket"), name+": b"+strings.Repeat(" ", 32<<10)+"x"))
		// Just under it: served, in linear time.
		for _, filler := range []string{" ", ",", " ,", ";"} {
			v := "b" + strings.Repeat(filler, 15000/len(filler)) + "x"
			start := time.Now()
			w, _ := ts.openWS(t, name+": "+v)
			if el := time.Since(start); el > time.Second {
				t.Fatalf("%s with %q filler answered after %v", name, filler, el)
			}
			// No extension is ever negotiated; the first offered subprotocol
			// is selected when it is a token, as Node's ws does: "b" before a
			// comma, nothing for "b   …x" or "b;;;x".
			want := ""
			if name == "Sec-WebSocket-Protocol" && strings.Contains(filler, ",") {
				want = "b"
			}
			if got := w.resp.header.Get(name); got != want {
				t.Fatalf("101 carries %s: %q, want %q", name, trunc([]byte(got)), want)
			}
			w.close()
		}
	}
	ts.assertHealthy(t)
	ts.checkNoLeaksAfterHandshakes(t)
}

func TestHostileWebSocketExtensionsAreDeclined(t *testing.T) {
	// ws GHSA-5v72-xg48-5rpm: Object.prototype names in the extension header.
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	thousand := "permessage-deflate" + strings.Repeat("; a=1", 1000)
	for _, ext := range []string{
		"constructor", "__proto__", "hasOwnProperty, toString", "foo; constructor", "permessage-deflate; __proto__=1",
		"permessage-deflate; client_max_window_bits=99", "permessage-deflate; client_max_window_bits",
		thousand, ",,,,", ";;;", "=",
	} {
		w, hs := ts.openWS(t, "Sec-WebSocket-Extensions: "+ext)
		if got := w.resp.header.Values("Sec-WebSocket-Extensions"); len(got) != 0 {
			t.Fatalf("%q: extension negotiated: %q", trunc([]byte(ext)), got)
		}
		if len(hs.Upgrades) != 0 {
			t.Fatalf("upgrades %v", hs.Upgrades)
		}
		// Frames still carry no RSV bits and echo works.
		w.sendText(t, "4ext")
		w.expectText(t, "4ext")
		w.close()
	}
	ts.assertHealthy(t)
	ts.checkNoLeaksAfterHandshakes(t)
}

func TestHugePollingBodiesAreRefusedWithoutBuffering(t *testing.T) {
	// CVE-2020-36048: huge POSTs to the polling transport.
	ts := startServer(t, engine.Config{}, loop.Options{}, nil) // maxPayload 1e6
	hs := ts.handshake(t)

	// A 10 MB body: 413 once the head is read; the body is discarded, not buffered.
	body := bytes.Repeat([]byte("4"), 10<<20)
	heap0 := testutil.HeapLive()
	c := ts.dial(t)
	c.write(t, "POST "+ts.sidPath(hs.SID)+" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n")
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_, _ = c.conn.Write(body) // the server may cut us before the end
	}()
	r := c.read(t)
	if r.status != 413 || len(r.body) != 0 {
		t.Fatalf("10 MB POST: %d %q", r.status, trunc(r.body))
	}
	<-wrote
	c.close()
	if grown := int64(testutil.HeapLive()) - int64(heap0); grown > 2e6 {
		t.Errorf("heap grew by %d bytes for a refused 10 MB body", grown)
	}
	runtime.KeepAlive(body)

	// A Content-Length over the cap is refused before any body byte arrives.
	c = ts.dial(t)
	c.write(t, "POST "+ts.sidPath(hs.SID)+" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n")
	if r := c.read(t); r.status != 413 {
		t.Fatalf("huge Content-Length: %d", r.status)
	}
	c.close()

	// A chunked body that never ends is refused at once.
	c = ts.dial(t)
	c.write(t, "POST "+ts.sidPath(hs.SID)+" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffff\r\n4aaa")
	if r := c.read(t); r.status < 400 || r.status > 499 || !r.close {
		t.Fatalf("chunked POST: %d close=%v", r.status, r.close)
	}
	c.close()

	// Content-Length: 1 followed by more bytes: the extra bytes are the next
	// (garbage) request, refused without hurting the first.
	c = ts.dial(t)
	c.write(t, "POST "+ts.sidPath(hs.SID)+" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n4a"+
		strings.Repeat("x", 100_000))
	if r := c.read(t); r.status != 200 || string(r.body) != "ok" {
		t.Fatalf("first request: %d %q", r.status, r.body)
	}
	if r := c.read(t); r.status < 400 || r.status > 499 || !r.close {
		t.Fatalf("garbage after the body: %d close=%v", r.status, r.close)
	}
	c.close()

	// Malformed framing headers.
	for _, h := range []string{
		"Content-Length: -1", "Content-Length: abc", "Content-Length: 1\r\nContent-Length: 2",
		"Content-Length: 2\r\nTransfer-Encoding: chunked", "Content-Length: 99999999999999999999999",
		"Transfer-Encoding: gzip",
	} {
		c = ts.dial(t)
		c.write(t, "POST "+ts.sidPath(hs.SID)+" HTTP/1.1\r\nHost: x\r\n"+h+"\r\n\r\n4a")
		if r := c.read(t); r.status < 400 || !r.close {
			t.Fatalf("%q: %d close=%v", h, r.status, r.close)
		}
		c.close()
	}

	// The session saw only the one good packet.
	expectPollBody(t, ts.poll(t, hs.SID), "4a")
	ts.closeSession(t, hs.SID)
	ts.assertHealthy(t)
	ts.checkNoLeaksAfterHandshakes(t)
}

func TestPipelinedFloodBehindAHeldRequestIsCut(t *testing.T) {
	// A client that keeps sending while its GET is held is bounded (practice 4).
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	hs := ts.handshake(t)
	c := ts.dial(t)
	c.write(t, get(ts.sidPath(hs.SID)))
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		junk := bytes.Repeat([]byte("GET / HTTP/1.1\r\n\r\n"), 4<<20/18)
		_, _ = c.conn.Write(junk)
	}()
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := io.ReadAll(c.br) // cut: EOF or reset, after at most an answer to the GET
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the flooding connection was never cut")
	}
	c.close()
	<-flooded
	expectError(t, ts.poll(t, hs.SID), 400, 1, "Session ID unknown") // its held GET went with it
	ts.assertHealthy(t)
	ts.checkNoLeaksAfterHandshakes(t)
}

// --- §1b WebSocket framing --------------------------------------------------------

// expectWSClose opens a fresh WebSocket session, writes raw bytes and expects
// a close frame with code, then checks the server is healthy.
func expectWSClose(t *testing.T, ts *testServer, raw []byte, code ws.StatusCode) {
	t.Helper()
	w, _ := ts.openWS(t)
	w.writeRaw(t, raw)
	w.expectClose(t, code)
	w.close()
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// header64 is a masked frame header with a 64-bit length field.
func header64(b0 byte, length uint64) []byte {
	h := []byte{b0, 0x80 | 127}
	h = binary.BigEndian.AppendUint64(h, length)
	return append(h, 1, 2, 3, 4)
}

func TestWebSocketFramingViolationsClose1002(t *testing.T) {
	// CVE-2022-21676 (RSV2/RSV3), RSV1 without deflate, reserved opcodes,
	// unmasked frames, CVE-2020-27813 (length MSB), control-frame rules,
	// continuation order and bad close frames.
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	rows := []struct {
		name string
		raw  []byte
	}{
		{"RSV2+RSV3 (0xB1)", frame(0xB1, nil)},
		{"RSV2", frame(0xA1, []byte("4a"))},
		{"RSV3", frame(0x91, []byte("4a"))},
		{"RSV1 without deflate", frame(0xC1, []byte("4a"))},
		{"RSV1 on a continuation", cat(frame(0x01, []byte("4a")), frame(0xC0, []byte("b")))},
		{"unmasked text", frameMask(finText, []byte("4a"), false)},
		{"unmasked empty", frameMask(finText, nil, false)},
		{"length MSB", header64(finText, 1<<63)},
		{"length MSB on binary", header64(finBinary, 0xFFFFFFFFFFFFFFFF)},
		{"ping over 125 bytes", frame(finPing, bytes.Repeat([]byte{1}, 126))},
		{"fragmented ping", frame(0x09, []byte("p"))},
		{"fragmented close", frame(0x08, nil)},
		{"continuation without a start", frame(0x80, []byte("x"))},
		{"text inside a fragmented message", cat(frame(0x01, []byte("4a")), frame(finText, []byte("4b")))},
		{"binary inside a fragmented message", cat(frame(0x01, []byte("4a")), frame(finBinary, []byte{1}))},
		{"close with a 1-byte body", frame(finClose, []byte{0x03})},
		{"close with an invalid UTF-8 reason", frame(finClose, []byte{0x03, 0xe8, 0xff, 0xfe})},
		{"close code 0", frame(finClose, []byte{0, 0})},
		{"close code 999", frame(finClose, []byte{0x03, 0xe7})},
		{"close code 1004", frame(finClose, []byte{0x03, 0xec})},
		{"close code 1005", frame(finClose, []byte{0x03, 0xed})},
		{"close code 1006", frame(finClose, []byte{0x03, 0xee})},
		{"close code 1015", frame(finClose, []byte{0x03, 0xf7})},
		{"close code 1016", frame(finClose, []byte{0x03, 0xf8})},
		{"close code 2999", frame(finClose, []byte{0x0b, 0xb7})},
	}
	for op := byte(0x3); op <= 0x7; op++ {
		rows = append(rows, struct {
			name string
			raw  []byte
		}{fmt.Sprintf("reserved opcode 0x%X", op), frame(0x80|op, []byte("x"))})
	}
	for op := byte(0xB); op <= 0xF; op++ {
		rows = append(rows, struct {
			name string
			raw  []byte
		}{fmt.Sprintf("reserved opcode 0x%X", op), frame(0x80|op, nil)})
	}
	for _, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			expectWSClose(t, ts, rw.raw, ws.StatusProtocolError)
		})
	}
	ts.checkNoLeaks(t)
	if n := ts.srv.Stats().Closed[engine.ReasonProtocolError]; n != int64(len(rows)) {
		t.Errorf("%d sessions closed as protocol errors, want %d: %v", n, len(rows), ts.srv.Stats().Closed)
	}
	// Valid close codes are echoed.
	for _, code := range []uint16{1000, 1001, 1003, 1011, 3000, 4999} {
		w, _ := ts.openWS(t)
		w.writeRaw(t, frame(finClose, []byte{byte(code >> 8), byte(code), 'o', 'k'}))
		w.expectClose(t, ws.StatusCode(code))
		w.close()
	}
	ts.assertHealthy(t)
	ts.checkNoLeaksAfterHandshakes(t)
}

func TestWebSocketInvalidUTF8TextCloses1007(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	expectWSClose(t, ts, frame(finText, []byte{'4', 0xff}), ws.StatusInvalidFramePayloadData)
	expectWSClose(t, ts, frame(finText, []byte{'4', 0xed, 0xa0, 0x80}), ws.StatusInvalidFramePayloadData) // surrogate
	expectWSClose(t, ts, cat(frame(0x01, []byte{'4', 0xc3}), frame(0x80, []byte{0x28})), ws.StatusInvalidFramePayloadData)
	// A code point split across fragments is fine.
	w, _ := ts.openWS(t)
	w.writeRaw(t, cat(frame(0x01, []byte{'4', 0xc3}), frame(0x80, []byte{0xa9})))
	w.expectText(t, "4é")
	w.close()
	ts.assertHealthy(t)
	ts.checkNoLeaksAfterHandshakes(t)
}

func TestWebSocketHugeLengthIs1009BeforeAllocation(t *testing.T) {
	// CVE-2016-10542: a 2^40-byte frame header with no payload behind it.
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	for _, length := range []uint64{1 << 40, 1 << 62, 1e6 + 1} {
		w, _ := ts.openWS(t)
		runtime.GC()
		before := testutil.TotalAlloc()
		w.writeRaw(t, header64(finText, length))
		w.expectClose(t, ws.StatusMessageTooBig)
		if grown := testutil.TotalAlloc() - before; grown > 10<<20 {
			t.Errorf("length %d: %d bytes allocated", length, grown)
		}
		w.close()
	}
	// Two continuation frames of 2^62 each cannot overflow the running total.
	expectWSClose(t, ts, cat(frame(0x01, []byte("4")), header64(0x00, 1<<62)), ws.StatusMessageTooBig)
	ts.checkNoLeaks(t)
	if n := ts.srv.Stats().Closed[engine.ReasonMessageTooBig]; n != 4 {
		t.Errorf("closed reasons %v", ts.srv.Stats().Closed)
	}
	ts.assertHealthy(t)
}

func TestWebSocketFragmentsSummingOverMaxPayloadClose1009(t *testing.T) {
	ts := startServer(t, engine.Config{MaxHTTPBufferSize: 1000}, loop.Options{}, nil)
	p := bytes.Repeat([]byte("f"), 600)
	expectWSClose(t, ts, cat(frame(0x01, append([]byte("4"), p...)), frame(0x80, p)), ws.StatusMessageTooBig)
	expectWSClose(t, ts, cat(frame(0x02, p), frame(0x00, p), frame(0x80, nil)), ws.StatusMessageTooBig)
	// Exactly 1000 over fragments passes.
	w, _ := ts.openWS(t)
	w.writeRaw(t, cat(frame(0x01, []byte("4"+strings.Repeat("f", 499))), frame(0x80, p[:500])))
	w.expectText(t, "4"+strings.Repeat("f", 999))
	w.close()
	ts.checkNoLeaks(t)
	ts.assertHealthy(t)
}

func TestWebSocketFragmentFloodClosesAtTheCap1008(t *testing.T) {
	// CVE-2026-48779 / ws#2331: endless tiny fragments, never FIN.
	ts := startServer(t, engine.Config{}, loop.Options{}, nil) // MaxFragments 1024
	for _, size := range []int{1, 0} {
		t.Run(fmt.Sprintf("%d-byte continuations", size), func(t *testing.T) {
			raw := frame(0x01, []byte("4"))
			for i := 0; i < 2000; i++ {
				raw = append(raw, frame(0x00, bytes.Repeat([]byte("z"), size))...)
			}
			expectWSClose(t, ts, raw, ws.StatusPolicyViolation)
		})
	}
	// 1024 fragments in all is still one valid message.
	w, _ := ts.openWS(t)
	raw := frame(0x01, []byte("4"))
	for i := 0; i < 1022; i++ {
		raw = append(raw, frame(0x00, []byte("a"))...)
	}
	raw = append(raw, frame(0x80, []byte("a"))...)
	w.writeRaw(t, raw)
	w.expectText(t, "4"+strings.Repeat("a", 1023))
	w.close()
	ts.checkNoLeaks(t)
	ts.assertHealthy(t)
}

func TestWebSocketPooledBuffersDoNotLeakBetweenConnections(t *testing.T) {
	// CVE-2016-10518 analogue: a big message on A, then small ones on B; B's
	// frames must hold exactly B's payload.
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	a, _ := ts.openWS(t)
	b, _ := ts.openWS(t)
	bigA := "4" + strings.Repeat("A", 64<<10-1)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if _, err := a.conn.Write(frame(finText, []byte(bigA))); err != nil {
				errs <- err
				return
			}
			op, p, err := a.readFrameErr(ioTimeout)
			if err != nil || op != ws.OpText || string(p) != bigA {
				errs <- fmt.Errorf("A round %d: %v %v %q", i, err, op, trunc(p))
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 400; i++ {
			msg := "4b" + strconv.Itoa(i)
			bin := []byte{byte(i), byte(i >> 8)}
			if _, err := b.conn.Write(cat(frame(finText, []byte(msg)), frame(finBinary, bin))); err != nil {
				errs <- err
				return
			}
			op, p, err := b.readFrameErr(ioTimeout)
			if err != nil || op != ws.OpText || string(p) != msg {
				errs <- fmt.Errorf("B round %d: %v %v %q, want %q", i, err, op, trunc(p), msg)
				return
			}
			op, p, err = b.readFrameErr(ioTimeout)
			if err != nil || op != ws.OpBinary || !bytes.Equal(p, bin) {
				errs <- fmt.Errorf("B round %d: %v %v %q, want %q", i, err, op, trunc(p), bin)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The same over polling: a large answer on one session, then a small one.
	s1 := ts.handshake(t)
	s2 := ts.handshake(t)
	ts.mustSend(t, s1.SID, bigA)
	expectPollBody(t, ts.poll(t, s1.SID), bigA)
	ts.mustSend(t, s2.SID, "4tiny")
	expectPollBody(t, ts.poll(t, s2.SID), "4tiny")
	ts.closeSession(t, s1.SID)
	ts.closeSession(t, s2.SID)
	a.close()
	b.close()
	ts.checkNoLeaks(t)
	ts.assertHealthy(t)
}

func TestWebSocketSlowReaderIsClosedAsSlowConsumer(t *testing.T) {
	// Practice 7: the outbound queue is bounded; a peer that never reads is cut.
	ts := startServer(t, engine.Config{}, loop.Options{MaxOutboundBytes: 256 << 10}, nil)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	conn, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, wsRequest(ts.path("transport=websocket"))); err != nil {
		t.Fatal(err)
	}
	msg := frame(finText, []byte("4"+strings.Repeat("s", 64<<10)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for i := 0; i < 200; i++ { // 12.8 MB of echoes, never read
			if _, err := conn.Write(msg); err != nil {
				return
			}
		}
	}()
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := ts.srv.Stats().Closed[engine.ReasonSlowConsumer]; n != 1 {
			return fmt.Errorf("closed reasons %v", ts.srv.Stats().Closed)
		}
		return nil
	})
	conn.Close()
	<-done
	ts.checkNoLeaks(t)
	ts.assertHealthy(t)
}

// --- §1c Engine.IO packets and polling payloads -----------------------------------

func TestPollingMalformedPayloadsAre400AndCloseTheSession(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	rows := []struct{ name, body string }{
		{"100k separators", strings.Repeat("4a\x1e", 100_000) + "4a"},
		{"100k bare separators", strings.Repeat("\x1e", 100_000)},
		{"bad base64 padding", "bAQIDBA="},
		{"base64 with extra padding", "bAQIDBA==="},
		{"padding inside base64", "bAQ=DBA="},
		{"base64 alphabet", "b!!!!"},
		{"URL-safe base64", "b-_-_"},
		{"bad base64 after a good packet", "4ok\x1ebAQIDBA"},
		{"packet type 7", "7"},
		{"packet type 9", "9hello"},
		{"letter type", "abc"},
		{"empty packet", ""},
		{"trailing separator", "4a\x1e"},
		{"leading separator", "\x1e4a"},
		{"double separator", "4a\x1e\x1e4b"},
	}
	for _, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			hs := ts.handshake(t)
			expectError(t, ts.send(t, hs.SID, rw.body), 400, 3, "Bad request")
			expectError(t, ts.poll(t, hs.SID), 400, 1, "Session ID unknown")
		})
	}
	ts.checkNoLeaks(t)
	if n := ts.srv.Stats().Closed[engine.ReasonParseError]; n != int64(len(rows)) {
		t.Errorf("closed reasons %v, want %d parse errors", ts.srv.Stats().Closed, len(rows))
	}
	ts.assertHealthy(t)
}

func TestPollingMaxPayloadPacketsBoundary(t *testing.T) {
	ts := startServer(t, engine.Config{MaxPayloadPackets: 100}, loop.Options{}, nil)
	hs := ts.handshake(t)
	ts.mustSend(t, hs.SID, strings.Repeat("4p\x1e", 99)+"4p")
	expectPollBody(t, ts.poll(t, hs.SID), strings.Repeat("4p\x1e", 99)+"4p")
	expectError(t, ts.send(t, hs.SID, strings.Repeat("4p\x1e", 100)+"4p"), 400, 3, "Bad request")
	expectError(t, ts.poll(t, hs.SID), 400, 1, "Session ID unknown")
	ts.checkNoLeaks(t)
	ts.assertHealthy(t)
}

func TestPollingInvalidUTF8MessageDoesNotCrash(t *testing.T) {
	// BAD-INPUTS §1c lists a type-4 message with invalid UTF-8. Node decodes
	// polling bodies leniently; whatever the answer, the server must survive.
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	hs := ts.handshake(t)
	r := ts.send(t, hs.SID, "4\xff\xfe")
	t.Logf("POST of invalid UTF-8: %d %q", r.status, r.body)
	if r.status != 200 && r.status != 400 {
		t.Fatalf("status %d", r.status)
	}
	ts.assertHealthy(t)
	ts.checkNoLeaksAfterHandshakes(t)
}

func TestPollingSlowConsumerIsClosed(t *testing.T) {
	ts := startServer(t, engine.Config{MaxBufferedBytes: 10_000}, loop.Options{}, nil)
	hs := ts.handshake(t)
	chunk := "4" + strings.Repeat("q", 6000)
	ts.mustSend(t, hs.SID, chunk)
	ts.send(t, hs.SID, chunk) // the echo goes over the cap
	expectError(t, ts.poll(t, hs.SID), 400, 1, "Session ID unknown")
	ts.checkNoLeaks(t)
	if n := ts.srv.Stats().Closed[engine.ReasonSlowConsumer]; n != 1 {
		t.Errorf("closed reasons %v", ts.srv.Stats().Closed)
	}
	ts.assertHealthy(t)
}
