//go:build !race

package socketio_test

import "testing"

// TestInteropPipelinedBurstOfLargeAcksGetsEveryAck is the 900 KB half of
// burst_interop_test.go (90 MB each way per burst).
func TestInteropPipelinedBurstOfLargeAcksGetsEveryAck(t *testing.T) {
	runBursts(t, []burst{
		{100, 900_000, "websocket"},
		{100, 900_000, "polling,websocket"},
		{100, 900_000, "polling"},
	})
}
