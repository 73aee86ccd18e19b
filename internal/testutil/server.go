package testutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is the lifecycle engine.Server and socketio.Server share.
type Server interface {
	Serve() error
	Ready() <-chan struct{}
	Close(ctx context.Context) error
}

// Serving is a Server running under a test (see Serve).
type Serving struct {
	srv    Server
	served chan error

	once sync.Once
	err  error
}

// Serve runs srv.Serve on a goroutine and returns once srv is ready. The test
// fails if Serve returns first or srv is not ready within IOTimeout. The
// caller shuts the server down with Shutdown, usually in a t.Cleanup.
func Serve(t testing.TB, srv Server) *Serving {
	t.Helper()
	s := &Serving{srv: srv, served: make(chan error, 1)}
	go func() { s.served <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-s.served:
		t.Fatalf("Serve: %v", err)
	case <-time.After(IOTimeout):
		t.Fatalf("server not ready after %v", IOTimeout)
	}
	return s
}

// Shutdown closes the server once and waits (up to IOTimeout) for Serve to
// return. It returns Serve's error, an error if Serve did not return, or
// else Close's error; later calls return the same.
//
// gnet's Stop polls for the end of the engine every 500 ms, while Serve
// returns as soon as it has ended: Close's context is cancelled then, which
// cuts that wait (and the context.Canceled it then returns is no error).
func (s *Serving) Shutdown() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), IOTimeout)
		defer cancel()
		serveErr := make(chan error, 1)
		go func() {
			defer cancel()
			select {
			case err := <-s.served:
				serveErr <- err
			case <-time.After(IOTimeout):
				serveErr <- errors.New("Serve did not return after Close")
			}
		}()
		err := s.srv.Close(ctx)
		if serr := <-serveErr; serr != nil {
			s.err = serr
		} else if err != nil && !errors.Is(err, context.Canceled) {
			s.err = err
		}
	})
	return s.err
}

// LogWriter sends a server's log lines to t.Log while the test runs, and
// drops them once stopped (t.Log after the end of a test panics).
type LogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

// NewLogWriter returns a LogWriter for t.
func NewLogWriter(t testing.TB) *LogWriter { return &LogWriter{t: t} }

// Logger is a text logger at level Warn writing to w.
func (w *LogWriter) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// Stop drops every later line.
func (w *LogWriter) Stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// Probe reads what a server under test holds, for the warm-up and the leak
// checks. Each layer's harness fills it from its own server's accessors.
type Probe struct {
	Sessions func() int   // open Engine.IO sessions
	Conns    func() int64 // open TCP connections
	Loops    func() int   // event loops that have served at least one connection
}

// WarmUp connects to addr until numLoops loops have served a connection (a
// loop starts its timer goroutine on first use; the server must answer a
// GET of /warm-up with 404), then waits until no connection is open. It
// returns the goroutine count then: the server's baseline with no client.
func (p Probe) WarmUp(t testing.TB, addr string, numLoops int) int {
	t.Helper()
	for i := 0; p.Loops() < numLoops; i++ {
		if i > 100 {
			t.Fatalf("only %d of %d loops started", p.Loops(), numLoops)
		}
		conn, err := net.DialTimeout("tcp", addr, IOTimeout)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		_ = conn.SetDeadline(time.Now().Add(IOTimeout))
		_, err = io.WriteString(conn, "GET /warm-up HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		var resp *http.Response
		if err == nil {
			resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
		}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		conn.Close()
		if err != nil {
			t.Fatalf("warm-up: %v", err)
		}
		if resp.StatusCode != 404 {
			t.Fatalf("warm-up: status %d", resp.StatusCode)
		}
	}
	CheckFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if o := p.Conns(); o != 0 {
			return fmt.Errorf("%d connections open", o)
		}
		return nil
	})
	return runtime.NumGoroutine()
}

// CheckNoLeaks waits (up to 3 s) until no session and no connection is left
// and the goroutine count is back to baseline (WarmUp's). Call it once every
// client of the test has closed.
func (p Probe) CheckNoLeaks(t testing.TB, baseline int) {
	t.Helper()
	CheckFor(t, 3*time.Second, 5*time.Millisecond, func() error {
		if n := p.Sessions(); n != 0 {
			return fmt.Errorf("%d sessions open", n)
		}
		if o := p.Conns(); o != 0 {
			return fmt.Errorf("%d connections open", o)
		}
		if g := runtime.NumGoroutine(); g > baseline {
			return fmt.Errorf("%d goroutines, baseline %d", g, baseline)
		}
		return nil
	})
}

// CheckResources waits (up to wait) until the server holds no more than
// sessions sessions and conns open connections, extra (when not nil) returns
// nil, and the process holds no more fds and goroutines than base; it fails
// the test with the last reason otherwise.
func (p Probe) CheckResources(t testing.TB, base Resources, sessions int, conns int64, wait time.Duration, extra func() error) {
	t.Helper()
	CheckFor(t, wait, 10*time.Millisecond, func() error {
		if n := p.Sessions(); n > sessions {
			return fmt.Errorf("%d sessions open, want %d", n, sessions)
		}
		if o := p.Conns(); o > conns {
			return fmt.Errorf("%d connections open, want %d", o, conns)
		}
		if extra != nil {
			if err := extra(); err != nil {
				return err
			}
		}
		if now := Snapshot(t); now.FDs > base.FDs || now.Goroutines > base.Goroutines {
			return fmt.Errorf("%v, baseline %v", now, base)
		}
		return nil
	})
}
