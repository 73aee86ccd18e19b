package socketio_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/socketio"
)

// TestRecoveryLogIsBoundedByCountAndBytes: the packets kept for replay used
// to be bounded by age alone (every packet of the last two minutes, however
// many). Past MaxPackets or MaxBytes the oldest go, and a client whose
// offset went with them gets a fresh session rather than a replay with a
// hole in it.
func TestRecoveryLogIsBoundedByCountAndBytes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rec       socketio.Recovery
		payload   int
		sent      int
		recovered bool
	}{
		{"under MaxPackets", socketio.Recovery{MaxPackets: 50}, 10, 40, true},
		{"over MaxPackets", socketio.Recovery{MaxPackets: 50}, 10, 60, false},
		{"under MaxBytes", socketio.Recovery{MaxBytes: 40 << 10}, 1 << 10, 20, true},
		{"over MaxBytes", socketio.Recovery{MaxBytes: 40 << 10}, 1 << 10, 60, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec
			rec.MaxDisconnectionDuration = time.Minute
			ts := startServer(t, socketio.Options{Recovery: &rec})
			conns := connections(ts.srv.Sockets())
			reasons := disconnectReasons(ts.srv.Sockets())
			a, sid, pid := recoveringClient(t, ts, "/")
			testutil.Recv(t, conns)
			_ = ts.srv.Emit("e", 0)
			last := expectEventWithOffset(t, a, "/", `["e",0]`)
			a.close()
			testutil.Recv(t, reasons)
			payload := strings.Repeat("p", tc.payload)
			for i := 1; i <= tc.sent; i++ {
				_ = ts.srv.Emit("e", i, payload)
			}
			a2 := reconnect(t, ts, "/", pid, last)
			if !tc.recovered {
				if got, _ := connectAck(t, a2.next(t), "/"); got == sid {
					t.Fatal("recovered although the packets after its offset are gone")
				}
				if s := testutil.Recv(t, conns); s.Recovered() {
					t.Fatal("Recovered() on a fresh socket")
				}
				return
			}
			for i := 1; i <= tc.sent; i++ {
				expectEventWithOffset(t, a2, "/", fmt.Sprintf(`["e",%d,%q]`, i, payload))
			}
			if got, _ := connectAck(t, a2.next(t), "/"); got != sid {
				t.Fatalf("not recovered: sid %q, want %q", got, sid)
			}
		})
	}
}
