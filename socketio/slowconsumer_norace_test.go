//go:build !race

package socketio_test

// The slow-consumer scenario at the scale of issue 5: 1,000 clients that
// never read (100 under -short), without the race detector, whose shadow
// memory would swamp the figures. See slowconsumer_test.go.

import "testing"

func TestSlowConsumers1000AreClosed(t *testing.T) {
	r := slowRun{slow: 1000, normal: 5, maxRounds: 5000}
	if testing.Short() {
		r.slow = 100
	}
	checkSlowMemory(t, r, runSlow(t, r))
}

func TestSlowConsumers1000LoseVolatilePacketsButStay(t *testing.T) {
	r := slowRun{slow: 1000, normal: 5, volatile: true, rounds: 600}
	if testing.Short() {
		r.slow = 100
	}
	checkSlowMemory(t, r, runSlow(t, r))
}
