package engine_test

// Hygiene under hostile input: every row class of BAD-INPUTS.md §1a–1c,
// repeated many times against one server, must leave nothing behind — no
// file descriptor, goroutine, session or connection — and recover no panic.
//
// security_test.go's tables live inside their test functions and cannot be
// reused, so this file keeps one representative exchange per row (per
// advisory, and per distinct input of a row where the inputs take different
// code paths). Each exchange asserts the status or close code the row
// demands; the loop then asserts the typed close reasons in the metrics and
// that the process is back to its baseline.

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"sio/engine"
	"sio/internal/testutil"
	"sio/loop"
)

// hostile is one exchange of a bad-input row. run performs it once on fresh
// connections, asserts the answer and closes everything it opened. reasons
// are the session close reasons one run adds to the engine's metrics, conn
// the connection close reasons it adds to the loop's (only those that name
// the fault; ordinary "peer closed"/"server closed" are not listed).
type hostile struct {
	name    string
	run     func(t *testing.T, ts *testServer)
	reasons map[engine.Reason]int64
	conn    map[string]int64
}

// leakRounds is how often each row runs: 200 rounds normally, fewer under
// -short or the race detector (which only needs to see the code paths).
func leakRounds() int {
	switch {
	case testing.Short():
		return 20
	case testutil.RaceEnabled():
		return 25
	}
	return 200
}

// expectRaw reads the answer to an upgrade request that the server refuses:
// status, a body containing want, Connection: close and then EOF.
func expectRaw(t *testing.T, c *httpConn, status int, want string) {
	t.Helper()
	r := c.read(t)
	if r.status != status || !strings.Contains(string(r.body), want) {
		t.Fatalf("got %d %q, want %d containing %q", r.status, trunc(r.body), status, want)
	}
	if !r.close {
		t.Fatalf("%d without Connection: close", r.status)
	}
	c.expectEOF(t)
}

// wsCloseRow opens a WebSocket session, writes raw and expects a close
// frame with code.
func wsCloseRow(name string, raw []byte, code ws.StatusCode, reason engine.Reason) hostile {
	connReason := map[ws.StatusCode]string{
		ws.StatusProtocolError: "protocol error", ws.StatusMessageTooBig: "message too large",
		ws.StatusPolicyViolation: "too many fragments", ws.StatusInvalidFramePayloadData: "invalid utf8",
	}[code]
	return hostile{name: name, reasons: map[engine.Reason]int64{reason: 1}, conn: map[string]int64{connReason: 1}, run: func(t *testing.T, ts *testServer) {
		w, _ := ts.openWS(t)
		defer w.close()
		w.writeRaw(t, raw)
		w.expectClose(t, code)
	}}
}

func refusedRow(name, req string, status int, want string) hostile {
	var conn map[string]int64
	if status == 431 {
		conn = map[string]int64{"header too large": 1}
	}
	return hostile{name: name, conn: conn, run: func(t *testing.T, ts *testServer) {
		c := ts.dial(t)
		defer c.close()
		c.write(t, req)
		expectRaw(t, c, status, want)
	}}
}

func jsonErrorRow(name, req string, code int, msg string) hostile {
	return hostile{name: name, run: func(t *testing.T, ts *testServer) {
		c := ts.dial(t)
		defer c.close()
		expectError(t, c.do(t, req), 400, code, msg)
	}}
}

func hostileRows(ts *testServer) []hostile {
	p := ts.srv.Config().Path
	up := func(extra ...string) []string {
		return append([]string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13"}, extra...)
	}
	h2c := []string{"Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA"}
	bigFrame := frame(finText, []byte("4"+strings.Repeat("B", 64<<10-1)))
	var flood1, flood0 []byte
	flood1 = frame(0x01, []byte("4"))
	flood0 = frame(0x01, []byte("4"))
	for i := 0; i < 2000; i++ {
		flood1 = append(flood1, frame(0x00, []byte("z"))...)
		flood0 = append(flood0, frame(0x00, nil)...)
	}
	const (
		transportUnknown = "Transport unknown"
		sidUnknown       = "Session ID unknown"
		badRequest       = "Bad request"
	)
	rows := []hostile{
		// §1a CVE-2023-31125: bogus transports, over polling and over an upgrade.
		jsonErrorRow("1a CVE-2023-31125 polling transport=__proto__", get(p+"?EIO=4&transport=__proto__"), 0, transportUnknown),
		jsonErrorRow("1a CVE-2023-31125 polling transport=constructor", get(p+"?EIO=4&transport=constructor"), 0, transportUnknown),
		jsonErrorRow("1a CVE-2023-31125 repeated transport", get(p+"?EIO=4&transport=abc&transport=polling"), 0, transportUnknown),
		jsonErrorRow("1a CVE-2023-31125 EIO=abc", get(p+"?EIO=abc&transport=polling"), 5, "Unsupported protocol version"),
		jsonErrorRow("1a CVE-2023-31125 EIO missing", get(p+"?transport=polling"), 5, "Unsupported protocol version"),
		// An upgrade request whose transport is not "websocket" is no
		// upgrade to the engine: the plain JSON error, as over polling.
		jsonErrorRow("1a CVE-2023-31125 upgrade transport=__proto__", wsRequest(p+"?EIO=4&transport=__proto__"), 0, transportUnknown),
		jsonErrorRow("1a CVE-2023-31125 upgrade transport empty", wsRequest(p+"?EIO=4&transport="), 0, transportUnknown),
		refusedRow("1a CVE-2023-31125 upgrade EIO=3", wsRequest(p+"?EIO=3&transport=websocket"), 400, "Unsupported protocol version"),

		// §1a CVE-2022-41940 / engine.io#658: invalid upgrades, then resets.
		jsonErrorRow("1a CVE-2022-41940 Upgrade: h2c", get(p+"?EIO=4&transport=websocket", h2c...), 3, badRequest),
		jsonErrorRow("1a CVE-2022-41940 Upgrade: foo", get(p+"?EIO=4&transport=websocket", "Connection: Upgrade", "Upgrade: foo"), 3, badRequest),
		refusedRow("1a CVE-2022-41940 missing Sec-WebSocket-Key", get(p+"?EIO=4&transport=websocket", up()...), 400, "Sec-WebSocket-Key"),
		{name: "1a CVE-2022-41940 RST in the middle of the refusal", run: func(t *testing.T, ts *testServer) {
			c := ts.dial(t)
			c.write(t, get(p+"?EIO=4&transport=websocket", up()...))
			_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
			if _, err := c.br.ReadByte(); err != nil {
				t.Fatalf("no answer before the reset: %v", err)
			}
			c.reset()
		}},
		{name: "1a CVE-2022-41940 RST right after a request", run: func(t *testing.T, ts *testServer) {
			c := ts.dial(t)
			c.write(t, get(p+"?EIO=4&transport=websocket", h2c...))
			c.reset()
		}},
		{name: "1a CVE-2022-41940 RST right after the 101", reasons: map[engine.Reason]int64{engine.ReasonTransportClose: 1},
			run: func(t *testing.T, ts *testServer) {
				w, _ := ts.openWS(t)
				w.reset()
			}},
		{name: "1a CVE-2022-41940 RST right after a probe's 101", reasons: map[engine.Reason]int64{engine.ReasonTransportClose: 1},
			run: func(t *testing.T, ts *testServer) {
				hs := ts.handshake(t)
				w := ts.dialWS(t, "transport=websocket&sid="+hs.SID)
				w.reset()
				ts.mustSend(t, hs.SID, "4after the probe") // the polling session survived it
				expectPollBody(t, ts.poll(t, hs.SID), "4after the probe")
				ts.closeSession(t, hs.SID)
			}},

		// §1a CVE-2020-36048: polling bodies over maxPayload (1e6 here).
		{name: "1a CVE-2020-36048 10 MB body is 413 after the head", run: func(t *testing.T, ts *testServer) {
			hs := ts.handshake(t)
			c := ts.dial(t)
			defer c.close()
			c.write(t, "POST "+ts.sidPath(hs.SID)+" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 10000000\r\n\r\n"+
				strings.Repeat("4", 64<<10))
			if r := c.read(t); r.status != 413 || !r.close {
				t.Fatalf("10 MB POST: %d close=%v, want 413 and a close", r.status, r.close)
			}
			c.close()
			ts.closeSession(t, hs.SID)
		}},
		{name: "1a CVE-2020-36048 chunked body that never ends", conn: map[string]int64{"bad request": 1}, run: func(t *testing.T, ts *testServer) {
			c := ts.dial(t)
			defer c.close()
			c.write(t, "POST "+ts.sidPath("AAAAAAAAAAAAAAAAAAAAAA")+" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffff\r\n4aaa")
			if r := c.read(t); r.status != 411 || !r.close {
				t.Fatalf("chunked POST: %d close=%v, want 411 and a close", r.status, r.close)
			}
			c.expectEOF(t)
		}},
		{name: "1a CVE-2020-36048 Content-Length: 2 then 100 KB", run: func(t *testing.T, ts *testServer) {
			hs := ts.handshake(t)
			c := ts.dial(t)
			defer c.close()
			c.write(t, "POST "+ts.sidPath(hs.SID)+" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n4a"+
				strings.Repeat("x", 100_000))
			if r := c.read(t); r.status != 200 || string(r.body) != "ok" {
				t.Fatalf("first request: %d %q", r.status, r.body)
			}
			if r := c.read(t); r.status != 400 && r.status != 431 || !r.close {
				t.Fatalf("garbage after the body: %d close=%v", r.status, r.close)
			}
			c.close()
			expectPollBody(t, ts.poll(t, hs.SID), "4a")
			ts.closeSession(t, hs.SID)
		}},

		// §1a CVE-2026-59725: octet-stream POST on EIO=4 is answered and closed.
		{name: "1a CVE-2026-59725 octet-stream POST", reasons: map[engine.Reason]int64{engine.ReasonTransportError: 1},
			run: func(t *testing.T, ts *testServer) {
				c := ts.dial(t)
				defer c.close()
				sid := parseOpen(t, c.do(t, get(ts.path("transport=polling"))).body).SID
				expectError(t, c.do(t, post(ts.sidPath(sid), "4hi", "Content-Type: application/octet-stream")), 400, 3, badRequest)
				expectError(t, c.do(t, get(ts.sidPath(sid))), 400, 1, sidUnknown)
			}},

		// §1a CVE-2017-16031: a guessed or foreign sid.
		jsonErrorRow("1a CVE-2017-16031 guessed sid GET", get(p+"?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAAAA"), 1, sidUnknown),
		jsonErrorRow("1a CVE-2017-16031 guessed sid POST", post(p+"?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAAAA", "4x"), 1, sidUnknown),
		refusedRow("1a CVE-2017-16031 guessed sid upgrade", wsRequest(p+"?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAAAA"), 400, sidUnknown),

		// §1a CVE-2020-28481: CORS (the server allows only http://ok.example).
		{name: "1a CVE-2020-28481 polling from a foreign Origin", run: func(t *testing.T, ts *testServer) {
			c := ts.dial(t)
			defer c.close()
			r := c.do(t, get(ts.path("transport=polling"), "Origin: https://evil.example"))
			if r.status != 200 {
				t.Fatalf("handshake: %d %q", r.status, r.body)
			}
			if v := r.header.Values("Access-Control-Allow-Origin"); len(v) != 0 {
				t.Fatalf("foreign origin allowed: %q", v)
			}
			ts.closeSession(t, parseOpen(t, r.body).SID)
		}},
		refusedRow("1a CVE-2020-28481 upgrade from a foreign Origin",
			wsRequest(p+"?EIO=4&transport=websocket", "Origin: https://evil.example"), 403, "Forbidden"),

		// §1a CVE-2024-37890: header count and size caps.
		refusedRow("1a CVE-2024-37890 2001 headers, Upgrade first", headerFlood(p+"?EIO=4&transport=websocket", 2001, true), 431, ""),
		refusedRow("1a CVE-2024-37890 2001 headers, Upgrade last", headerFlood(p+"?EIO=4&transport=websocket", 2001, false), 431, ""),
		refusedRow("1a CVE-2024-37890 one 64 KB header", get(p+"?EIO=4&transport=polling", "X-Big: "+strings.Repeat("a", 64<<10)), 431, ""),

		// §1a CVE-2021-32640: long list headers, over and under the head cap.
		refusedRow("1a CVE-2021-32640 32k spaces in Sec-WebSocket-Protocol",
			wsRequest(p+"?EIO=4&transport=websocket", "Sec-WebSocket-Protocol: b"+strings.Repeat(" ", 32<<10)+"x"), 431, ""),
		{name: "1a CVE-2021-32640 15k commas in Sec-WebSocket-Protocol", reasons: map[engine.Reason]int64{engine.ReasonTransportClose: 1},
			run: func(t *testing.T, ts *testServer) {
				start := time.Now()
				w, _ := ts.openWS(t, "Sec-WebSocket-Protocol: b"+strings.Repeat(" ,", 7500)+"x")
				if el := time.Since(start); el > time.Second {
					t.Fatalf("answered after %v", el)
				}
				w.close()
			}},

		// §1a ws GHSA-5v72-xg48-5rpm: Object.prototype names as extensions.
		{name: "1a GHSA-5v72-xg48-5rpm hostile Sec-WebSocket-Extensions", reasons: map[engine.Reason]int64{engine.ReasonTransportClose: 1},
			run: func(t *testing.T, ts *testServer) {
				w, _ := ts.openWS(t, "Sec-WebSocket-Extensions: hasOwnProperty, toString, foo; constructor, "+
					"permessage-deflate; client_max_window_bits=99; __proto__=1")
				defer w.close()
				if got := w.resp.header.Values("Sec-WebSocket-Extensions"); len(got) != 0 {
					t.Fatalf("extension negotiated: %q", got)
				}
				w.sendText(t, "4ext")
				w.expectText(t, "4ext")
				w.sendText(t, "1")
				w.expectClose(t, ws.StatusNoStatusRcvd)
			}},

		// §1b CVE-2016-10542 and CVE-2020-27813: lengths.
		wsCloseRow("1b CVE-2016-10542 2^40-byte frame header", header64(finText, 1<<40), ws.StatusMessageTooBig, engine.ReasonMessageTooBig),
		wsCloseRow("1b CVE-2020-27813 length with the MSB set", header64(finText, 1<<63), ws.StatusProtocolError, engine.ReasonProtocolError),
		wsCloseRow("1b CVE-2020-27813 2^62 continuation", cat(frame(0x01, []byte("4")), header64(0x00, 1<<62)),
			ws.StatusMessageTooBig, engine.ReasonMessageTooBig),

		// §1b CVE-2026-48779 / ws#2331: fragment floods that never FIN.
		wsCloseRow("1b CVE-2026-48779 2000 one-byte continuations", flood1, ws.StatusPolicyViolation, engine.ReasonProtocolError),
		wsCloseRow("1b CVE-2026-48779 2000 empty continuations", flood0, ws.StatusPolicyViolation, engine.ReasonProtocolError),
		{name: "1b CVE-2026-48779 a valid frame one byte per write", reasons: map[engine.Reason]int64{engine.ReasonTransportClose: 1},
			run: func(t *testing.T, ts *testServer) {
				w, _ := ts.openWS(t)
				defer w.close()
				w.writeBytewise(t, frame(finText, []byte("4one byte at a time")))
				w.expectText(t, "4one byte at a time")
				w.sendText(t, "1")
				w.expectClose(t, ws.StatusNoStatusRcvd)
			}},

		// §1b CVE-2016-10518: a pooled buffer must not carry another message's bytes.
		{name: "1b CVE-2016-10518 big message, then a small one elsewhere", reasons: map[engine.Reason]int64{engine.ReasonTransportClose: 2},
			run: func(t *testing.T, ts *testServer) {
				a, _ := ts.openWS(t)
				defer a.close()
				b, _ := ts.openWS(t)
				defer b.close()
				a.writeRaw(t, bigFrame)
				op, got := a.readFrame(t)
				if op != ws.OpText || len(got) != 64<<10 {
					t.Fatalf("A: %v %d bytes", op, len(got))
				}
				b.sendText(t, "4b")
				b.expectText(t, "4b")
				a.sendText(t, "1")
				a.expectClose(t, ws.StatusNoStatusRcvd)
				b.sendText(t, "1")
				b.expectClose(t, ws.StatusNoStatusRcvd)
			}},

		// §1b CVE-2026-45736: close payloads.
		wsCloseRow("1b CVE-2026-45736 close with a 1-byte body", frame(finClose, []byte{0x03}), ws.StatusProtocolError, engine.ReasonProtocolError),
		wsCloseRow("1b CVE-2026-45736 close reason not UTF-8", frame(finClose, []byte{0x03, 0xe8, 0xff, 0xfe}),
			ws.StatusProtocolError, engine.ReasonProtocolError),

		// §1b CVE-2022-21676 and the RFC 6455 rules.
		wsCloseRow("1b CVE-2022-21676 RSV2+RSV3", frame(0xB1, nil), ws.StatusProtocolError, engine.ReasonProtocolError),
		wsCloseRow("1b RSV1 without deflate", frame(0xC1, []byte("4a")), ws.StatusProtocolError, engine.ReasonProtocolError),
		wsCloseRow("1b reserved data opcode 0x3", frame(0x83, []byte("x")), ws.StatusProtocolError, engine.ReasonProtocolError),
		wsCloseRow("1b reserved control opcode 0xB", frame(0x8B, nil), ws.StatusProtocolError, engine.ReasonProtocolError),
		wsCloseRow("1b unmasked client frame", frameMask(finText, []byte("4a"), false), ws.StatusProtocolError, engine.ReasonProtocolError),
		wsCloseRow("1b ping over 125 bytes", frame(finPing, bytes.Repeat([]byte{1}, 126)), ws.StatusProtocolError, engine.ReasonProtocolError),
		wsCloseRow("1b continuation without a start", frame(0x80, []byte("x")), ws.StatusProtocolError, engine.ReasonProtocolError),
		wsCloseRow("1b text inside a fragmented message", cat(frame(0x01, []byte("4a")), frame(finText, []byte("4b"))),
			ws.StatusProtocolError, engine.ReasonProtocolError),
		wsCloseRow("1b invalid UTF-8 text", frame(finText, []byte{'4', 0xff}), ws.StatusInvalidFramePayloadData, engine.ReasonProtocolError),

		// §1c engine.io-protocol test suite.
		{name: "1c invalid POST body abc", reasons: map[engine.Reason]int64{engine.ReasonParseError: 1},
			run: func(t *testing.T, ts *testServer) {
				hs := ts.handshake(t)
				expectError(t, ts.send(t, hs.SID, "abc"), 400, 3, badRequest)
				expectError(t, ts.poll(t, hs.SID), 400, 1, sidUnknown)
			}},
		{name: "1c second concurrent GET", reasons: map[engine.Reason]int64{engine.ReasonTransportError: 1},
			run: func(t *testing.T, ts *testServer) {
				hs := ts.handshake(t)
				// Whichever GET the session sees first is held; the other
				// gets 400 and the held one the close packet.
				c1, r1 := ts.pollAsync(t, hs.SID)
				defer c1.close()
				c2, r2 := ts.pollAsync(t, hs.SID)
				defer c2.close()
				a, b := wait(t, r1), wait(t, r2)
				if a.status == 400 {
					a, b = b, a
				}
				if b.status != 400 {
					t.Fatalf("neither GET was refused: %d %q, %d %q", a.status, a.body, b.status, b.body)
				}
				expectPollBody(t, a, "1")
				expectError(t, ts.poll(t, hs.SID), 400, 1, sidUnknown)
			}},
		{name: "1c WebSocket message abc", reasons: map[engine.Reason]int64{engine.ReasonParseError: 1},
			run: func(t *testing.T, ts *testServer) {
				w, _ := ts.openWS(t)
				defer w.close()
				w.sendText(t, "abc")
				w.expectClose(t, ws.StatusNoStatusRcvd)
			}},

		// §1c design rows: polling payloads.
		{name: "1c 100k separators", reasons: map[engine.Reason]int64{engine.ReasonParseError: 1},
			run: func(t *testing.T, ts *testServer) {
				hs := ts.handshake(t)
				expectError(t, ts.send(t, hs.SID, strings.Repeat("4a\x1e", 100_000)+"4a"), 400, 3, badRequest)
			}},
	}
	for _, body := range []string{"bAQIDBA=", "7", "9hello", "", "4a\x1e", "4a\x1e\x1e4b"} {
		rows = append(rows, hostile{name: "1c polling payload " + strconv.Quote(body),
			reasons: map[engine.Reason]int64{engine.ReasonParseError: 1},
			run: func(t *testing.T, ts *testServer) {
				hs := ts.handshake(t)
				expectError(t, ts.send(t, hs.SID, body), 400, 3, badRequest)
			}})
	}
	rows = append(rows, hostile{name: "1c type-4 message with invalid UTF-8", run: func(t *testing.T, ts *testServer) {
		hs := ts.handshake(t)
		r := ts.send(t, hs.SID, "4\xff\xfe")
		switch r.status {
		case 200:
			ts.closeSession(t, hs.SID)
		case 400:
		default:
			t.Fatalf("status %d %q", r.status, r.body)
		}
	}})
	return rows
}

func TestHostileInputsLeakNothing(t *testing.T) {
	cfg := engine.Config{CORS: &engine.CORS{Origins: []string{"http://ok.example"}, CheckWebSocketOrigin: true}}
	ts := startServer(t, cfg, loop.Options{}, nil)
	rounds := leakRounds()
	base := testutil.Snapshot(t)
	inSubtest := base
	inSubtest.Goroutines++ // t.Run runs the subtest on a goroutine of its own
	var total time.Duration
	rows := hostileRows(ts)
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			before := ts.srv.Stats()
			start := time.Now()
			round := 0
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("failed in round %d of %d", round, rounds)
				}
			})
			for ; round < rounds; round++ {
				row.run(t, ts)
			}
			total += time.Since(start)
			ts.checkResources(t, inSubtest, 0, 0, 5*time.Second)
			// Every session close was counted under its typed reason.
			after := ts.srv.Stats()
			for reason, per := range row.reasons {
				if got := after.Closed[reason] - before.Closed[reason]; got != per*int64(rounds) {
					t.Errorf("session closes %q: %d, want %d (%d rounds); all now %v", reason, got, per*int64(rounds), rounds, after.Closed)
				}
			}
			for reason, per := range row.conn {
				if got := after.Conn.Closed[reason] - before.Conn.Closed[reason]; got != per*int64(rounds) {
					t.Errorf("connection closes %q: %d, want %d (%d rounds); all now %v", reason, got, per*int64(rounds), rounds, after.Conn.Closed)
				}
			}
			ts.assertServing(t)
		})
	}
	ts.checkResources(t, base, 0, 0, 5*time.Second)
	t.Logf("%d rounds of %d rows in %v; %v at the end, baseline %v; loop closes %v", rounds, len(rows),
		total.Round(time.Millisecond), testutil.Snapshot(t), base, ts.srv.Loop().Stats().Closed)
}

// BAD-INPUTS' rule for every row: "a typed close reason that shows in the
// metrics". loop.ReasonBodyTooLarge exists for the over-cap body of
// CVE-2020-36048, but nothing ever sets it.
func TestOversizedBodyIsCountedAsBodyTooLarge(t *testing.T) {
	ts := startServer(t, engine.Config{MaxHTTPBufferSize: 1000}, loop.Options{}, nil)
	hs := ts.handshake(t)
	for _, body := range []string{"4" + strings.Repeat("x", 1000), ""} {
		c := ts.dial(t)
		if body == "" { // a Content-Length over the cap, no body at all
			c.write(t, "POST "+ts.sidPath(hs.SID)+" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
		} else {
			c.write(t, post(ts.sidPath(hs.SID), body))
		}
		if r := c.read(t); r.status != 413 || !r.close {
			t.Fatalf("%d close=%v, want 413 and a close", r.status, r.close)
		}
		c.expectEOF(t)
		c.close()
	}
	ts.closeSession(t, hs.SID)
	ts.checkNoLeaks(t)
	if got := ts.srv.Loop().Stats().Closed["body too large"]; got != 2 {
		t.Fatalf(`%d connections counted as "body too large", want 2; all closes %v`, got, ts.srv.Loop().Stats().Closed)
	}
}
