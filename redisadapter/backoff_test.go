package redisadapter

import (
	"testing"
	"time"
)

// Reconnection waits grow exponentially from ReconnectMin to ReconnectMax
// (1 s to 30 s by default), each with ±20 % jitter, never outside the bounds.
func TestReconnectBackoff(t *testing.T) {
	o := Options{URL: "redis://127.0.0.1:1"}
	o.defaults()
	c := &Cluster{opts: o}
	for n, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second} {
		lo, hi := max(time.Duration(float64(base)*0.8), time.Second), min(time.Duration(float64(base)*1.2), 30*time.Second)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := c.backoff(n)
			if d < lo || d > hi {
				t.Fatalf("attempt %d: %v outside [%v, %v]", n, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("attempt %d: %d distinct waits in 200, no jitter", n, len(seen))
		}
	}
}
