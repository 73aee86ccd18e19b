package engine_test

// Slowloris (issue 8): a request head that never completes is dropped after
// loop.Options.HeadTimeout, whatever the request timeout.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"sio/engine"
	"sio/loop"
)

// TestIncompleteRequestHeadIsDroppedAfterHeadTimeout: a head that stays
// incomplete gets 408 after HeadTimeout, although the request timeout is
// far away; a complete head whose body is slow is not cut by it.
func TestIncompleteRequestHeadIsDroppedAfterHeadTimeout(t *testing.T) {
	if d := loop.NewServer(nil, loop.Options{}).Options().HeadTimeout; d != 10*time.Second {
		t.Fatalf("default HeadTimeout %v, want 10s", d)
	}
	ts := startServer(t, engine.Config{}, loop.Options{HeadTimeout: 300 * time.Millisecond, RequestTimeout: 20 * time.Second}, nil)

	slow := ts.dial(t)
	slow.write(t, "GET "+ts.path("transport=polling")+" HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	r := slow.read(t)
	if r.status != 408 {
		t.Fatalf("status %d, want 408", r.status)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("408 after %v, want about the 300 ms head timeout", d)
	}
	slow.expectEOF(t)
	if n := ts.srv.Loop().Stats().HeadTimeouts; n != 1 {
		t.Fatalf("HeadTimeouts %d", n)
	}

	// A trickle of header lines is still one incomplete head.
	trickle := ts.dial(t)
	trickle.write(t, "GET "+ts.path("transport=polling")+" HTTP/1.1\r\n")
	for i := range 4 {
		time.Sleep(100 * time.Millisecond)
		trickle.write(t, fmt.Sprintf("X-Slow-%d: %s\r\n", i, strings.Repeat("s", 10)))
	}
	if r := trickle.read(t); r.status != 408 {
		t.Fatalf("trickled head: status %d, want 408", r.status)
	}

	// The body has the request timeout, not the head timeout.
	hs := ts.handshake(t)
	body := "4hello"
	c := ts.dial(t)
	c.write(t, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s",
		ts.sidPath(hs.SID), len(body), body[:2]))
	time.Sleep(700 * time.Millisecond)
	c.write(t, body[2:])
	if r := c.read(t); r.status != 200 || string(r.body) != "ok" {
		t.Fatalf("slow body: %d %q", r.status, r.body)
	}
	expectPollBody(t, ts.poll(t, hs.SID), "4hello")
}
