package socketio_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/limits"
	"sio/socketio"
)

// TestEventRateLimitRefusesOverTheLimitWithRetryAfter: events beyond the
// per-event limit are dropped, an acknowledged one is answered with the
// rate-limit error and how long to wait, OnError gets a *RateLimitError, and
// other events (default limit) still go through.
func TestEventRateLimitRefusesOverTheLimitWithRetryAfter(t *testing.T) {
	ts := startServer(t, socketio.Options{
		EventLimits: limits.NewEventLimits(limits.PerSecond(1000), map[string]limits.Limit{"typing": limits.PerWindow(2, time.Minute)}),
	})
	handled := make(chan string, 16)
	errs := make(chan error, 16)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.OnError(func(err error) { errs <- err })
		s.On("typing", func(e *socketio.Event) { handled <- "typing"; _ = e.Ack("ok") })
		s.On("msg", func(e *socketio.Event) { handled <- "msg" })
	})
	c, _ := ts.wsConnected(t, "/")
	c.emit(t, `420["typing"]`)
	c.expect(t, `430["ok"]`)
	c.emit(t, `421["typing"]`)
	c.expect(t, `431["ok"]`)
	c.emit(t, `422["typing"]`)
	p := c.next(t)
	if !strings.HasPrefix(p.frame, `432[{"error":"rate limited","retryAfterMs":`) {
		t.Fatalf("third typing in the window: %s", p.frame)
	}
	var rle *socketio.RateLimitError
	if err := testutil.Recv(t, errs); !errors.As(err, &rle) || rle.Event != "typing" || rle.RetryAfter < 50*time.Second {
		t.Fatalf("OnError got %v", err)
	}
	c.emit(t, `42["msg"]`)
	for _, want := range []string{"typing", "typing", "msg"} {
		if got := testutil.Recv(t, handled); got != want {
			t.Fatalf("handled %q, want %q", got, want)
		}
	}
	if n := ts.srv.Stats().RateLimited; n != 1 {
		t.Fatalf("RateLimited counter %d", n)
	}
}

// TestFloodingClientIsDisconnectedWhileOthersKeepTheirLatency: one client
// floods far past its limit and is cut after MaxRateViolations refusals; a
// well-behaved client on the same server keeps getting fast answers.
func TestFloodingClientIsDisconnectedWhileOthersKeepTheirLatency(t *testing.T) {
	ts := startServer(t, socketio.Options{
		EventLimits:       limits.NewEventLimits(limits.PerSecond(50), nil),
		MaxRateViolations: 500,
	})
	reasons := disconnectReasons(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Values()...) })
	})
	flooder, _ := ts.wsConnected(t, "/")
	good, _ := ts.wsConnected(t, "/")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			flooder.sendLenient(`42["echo","` + strings.Repeat("x", 64) + `"]`)
		}
	}()
	var worst time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		good.emit(t, `42`+itoa(i)+`["echo",`+itoa(i)+`]`)
		good.expect(t, `43`+itoa(i)+`[`+itoa(i)+`]`)
		if d := time.Since(start); d > worst {
			worst = d
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := testutil.Recv(t, reasons); r != socketio.ReasonRateLimited {
		t.Fatalf("flooder disconnected with %q, want %q", r, socketio.ReasonRateLimited)
	}
	close(stop)
	<-done
	flooder.waitClosed(t)
	t.Logf("well-behaved client's worst round trip during the flood: %v", worst)
	if worst > time.Second {
		t.Fatalf("the well-behaved client waited %v during another client's flood", worst)
	}
	if ts.srv.Stats().RateLimited < 500 {
		t.Fatalf("RateLimited %d", ts.srv.Stats().RateLimited)
	}
}

// TestPanickingHandlerClosesOnlyThatClient: a panic in an event handler is
// recovered, counted, and closes that client only.
func TestPanickingHandlerClosesOnlyThatClient(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	reasons := disconnectReasons(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("boom", func(e *socketio.Event) { panic("handler bug") })
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Values()...) })
		s.OnAnyOutgoing(func(ev string, _ []any) {
			if ev == "poison" {
				panic("listener bug")
			}
		})
	})
	a, _ := ts.wsConnected(t, "/")
	b, _ := ts.wsConnected(t, "/")
	a.emit(t, `42["boom"]`)
	if r := testutil.Recv(t, reasons); r != socketio.ReasonHandlerPanic {
		t.Fatalf("reason %q", r)
	}
	a.waitClosed(t)
	b.emit(t, `421["echo","still here"]`)
	b.expect(t, `431["still here"]`)
	// A panicking listener during a broadcast closes only its client.
	_, sid := ts.wsConnected(t, "/")
	_ = ts.srv.To(socketio.Room(sid)).Emit("poison")
	if r := testutil.Recv(t, reasons); r != socketio.ReasonHandlerPanic {
		t.Fatalf("reason %q", r)
	}
	b.emit(t, `422["echo",2]`)
	b.expect(t, `432[2]`)
	if n := ts.srv.Stats().HandlerPanics; n != 2 {
		t.Fatalf("HandlerPanics %d, want 2", n)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
