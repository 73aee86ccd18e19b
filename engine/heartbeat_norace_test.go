//go:build !race

package engine_test

// The heartbeat at the official engine.io-protocol suite's short settings
// (pingInterval 300 ms, pingTimeout 200 ms) and with its precision: a ping
// about pingInterval after the handshake or the last pong, the session gone
// just after pingInterval+pingTimeout. Windows of 200 ms do not survive the
// race detector's slowdown on a busy machine (a pong that a stalled client
// sends 200 ms late is a legitimate ping timeout), so these tests build
// without it; the Makefile runs them in a step of their own, without -race
// and with nothing else running. The heartbeat's logic (pings over the
// upgraded WebSocket, pongs keeping the session, a missing pong closing it)
// is also covered under the race detector by
// TestUpgradeHeartbeatMovesToTheWebSocket, with a timeout that tolerates it.

import (
	"testing"
	"time"

	"github.com/gobwas/ws"

	"sio/engine"
	"sio/loop"
)

func TestHeartbeatPingOverPollingAndPongKeepsTheSession(t *testing.T) {
	ts := startServer(t, shortPing, loop.Options{}, nil)
	// Every interval is timed from before what arms the ping (the
	// handshake, then each pong), so a client that is slow to see an
	// answer cannot make a ping look early.
	start := time.Now()
	hs := ts.handshake(t)
	if hs.PingInterval != 300 || hs.PingTimeout != 200 {
		t.Fatalf("handshake advertises %d/%d", hs.PingInterval, hs.PingTimeout)
	}
	for round := 0; round < 3; round++ {
		r := ts.poll(t, hs.SID)
		el := time.Since(start)
		expectPollBody(t, r, "2")
		if el < shortPingInterval-60*time.Millisecond || el > shortPingInterval+400*time.Millisecond {
			t.Fatalf("round %d: ping after %v, want about %v", round, el, shortPingInterval)
		}
		// The next ping is armed pingInterval after the pong.
		start = time.Now()
		ts.mustSend(t, hs.SID, "3")
	}
	// Three pongs took the session well past pingInterval+pingTimeout.
	ts.mustSend(t, hs.SID, "4alive")
	expectPollBody(t, ts.poll(t, hs.SID), "4alive")
	ts.closeSession(t, hs.SID)
	ts.checkNoLeaks(t)
}

func TestHeartbeatWithoutPongClosesThePollingSession(t *testing.T) {
	ts := startServer(t, shortPing, loop.Options{}, nil)
	a := ts.handshake(t)
	aAt := time.Now()
	b := ts.handshake(t)
	c := ts.handshake(t)

	// c holds a GET through the ping and the timeout: it gets the ping, then
	// the close packet.
	expectPollBody(t, ts.poll(t, c.SID), "2")
	connC, heldC := ts.pollAsync(t, c.SID)

	// b, after its ping and before its deadline, still gets the buffered ping.
	time.Sleep(time.Until(aAt.Add(shortPingInterval + 50*time.Millisecond)))
	expectPollBody(t, ts.poll(t, b.SID), "2")

	// a, just after pingInterval+pingTimeout, is gone (the test suites'
	// precision requirement).
	time.Sleep(time.Until(aAt.Add(shortPingInterval + shortPingTimeout + 5*time.Millisecond)))
	expectError(t, ts.poll(t, a.SID), 400, 1, "Session ID unknown")

	expectPollBody(t, wait(t, heldC), "1")
	connC.close()
	ts.checkNoLeaks(t)
	expectError(t, ts.poll(t, b.SID), 400, 1, "Session ID unknown")
	expectError(t, ts.poll(t, c.SID), 400, 1, "Session ID unknown")
	st := ts.srv.Stats()
	if st.Closed[engine.ReasonPingTimeout] != 3 {
		t.Fatalf("closed reasons %v, want 3 ping timeouts", st.Closed)
	}
}

func TestHeartbeatOverWebSocket(t *testing.T) {
	ts := startServer(t, shortPing, loop.Options{}, nil)
	// As over polling: timed from before what arms the ping.
	start := time.Now()
	w, _ := ts.openWS(t)
	for round := 0; round < 3; round++ {
		w.expectText(t, "2")
		el := time.Since(start)
		t.Logf("round %d: ping after %v", round, el)
		if el < shortPingInterval-60*time.Millisecond || el > shortPingInterval+400*time.Millisecond {
			t.Fatalf("round %d: ping after %v, want about %v", round, el, shortPingInterval)
		}
		start = time.Now()
		w.sendText(t, "3")
	}
	lastPong := start
	w.sendText(t, "4alive")
	w.expectText(t, "4alive")
	// No pong: the server closes the WebSocket pingTimeout after the ping,
	// which it sent pingInterval after the last pong. Timed from that pong
	// (not from when this client got around to reading the ping), the close
	// cannot come before pingInterval+pingTimeout.
	w.expectText(t, "2")
	w.expectClose(t, ws.StatusNoStatusRcvd)
	if el := time.Since(lastPong); el < shortPingInterval+shortPingTimeout-60*time.Millisecond {
		t.Fatalf("closed %v after the last pong, want pingInterval+pingTimeout = %v (the server did not wait pingTimeout for the pong)",
			el, shortPingInterval+shortPingTimeout)
	}
	w.close()
	ts.checkNoLeaks(t)
	if n := ts.srv.Stats().Closed[engine.ReasonPingTimeout]; n != 1 {
		t.Fatalf("%d ping timeouts", n)
	}
}
