package testutil

import (
	"runtime"
	"testing"
	"time"
)

// IOTimeout bounds every wait on the server under test (a read, a dial, a
// value on a channel), so that a hung server fails one test instead of
// hanging the run.
const IOTimeout = 5 * time.Second

// CheckFor calls fn every tick until it returns nil, and fails the test with
// fn's last error once wait has passed.
func CheckFor(t testing.TB, wait, tick time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkFor: still failing after %v: %v", wait, err)
		}
		time.Sleep(tick)
	}
}

// WaitGoroutines waits (up to 3 s) until the process runs no more than want
// goroutines; otherwise it reports a leak with every goroutine's stack.
func WaitGoroutines(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutine leak: %d, want <= %d\n%s", n, want, buf)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Recv waits (up to IOTimeout) for one value on ch.
func Recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(IOTimeout):
		t.Fatalf("nothing received on %T after %v", ch, IOTimeout)
		var zero T
		return zero
	}
}

// RecvNone asserts that nothing arrives on ch for d.
func RecvNone[T any](t testing.TB, ch <-chan T, d time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected value %v", v)
	case <-time.After(d):
	}
}
