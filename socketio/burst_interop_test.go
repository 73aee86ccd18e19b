package socketio_test

// The burst that issue 8 reproduced: the real npm socket.io-client pipelines
// thousands of acknowledged emits, or a hundred of 900 KB, while it reads
// the answers as it can. Node socket.io delivers every ack; so must we. The
// 900 KB bursts (90 MB each way) run without the race detector, in
// burst_norace_test.go: under it the server reads them so slowly that the
// client's pong, queued behind its own burst, misses the ping timeout.

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"sio/engine"
	"sio/socketio"
)

func TestInteropPipelinedAckedBurstGetsEveryAck(t *testing.T) {
	runBursts(t, []burst{
		{3000, 4 << 10, "websocket"},
		{3000, 4 << 10, "polling,websocket"},
		{3000, 4 << 10, "polling"},
	})
}

type burst struct {
	n, size    int
	transports string
}

// runBursts runs burst.mjs against an echo server for each burst and
// requires every ack.
func runBursts(t *testing.T, bursts []burst) {
	dir := interopNodeDir(t)
	ts := startServer(t, socketio.Options{})
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Values()...) })
	})
	url := "http://" + ts.addr
	for _, tc := range bursts {
		name := strconv.Itoa(tc.n) + "x" + strconv.Itoa(tc.size) + "/" + tc.transports
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "burst.mjs"), url,
				strconv.Itoa(tc.n), strconv.Itoa(tc.size), tc.transports, "--timeout-ms", "90000")
			cmd.Dir = dir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			runErr := cmd.Run()
			var res struct {
				Acks, Bad  int
				MS         int64
				Disconnect string
				Error      string
				Timeout    bool
			}
			if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
				t.Fatalf("burst.mjs: %v; stdout %q stderr %q", err, stdout.String(), stderr.String())
			}
			if runErr != nil || res.Acks != tc.n || res.Bad != 0 {
				t.Fatalf("%d of %d acks (%d wrong), %+v, exit %v; server closes %v; stderr %s",
					res.Acks, tc.n, res.Bad, res, runErr, ts.srv.Stats().Engine.Closed, stderr.String())
			}
			t.Logf("%d acks in %d ms", res.Acks, res.MS)
		})
	}
	if c := ts.srv.Stats().Engine.Closed; c[engine.ReasonSlowConsumer] != 0 {
		t.Fatalf("slow consumers: %v", c)
	}
}
