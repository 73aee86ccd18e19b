package main

import (
	"strings"
	"testing"

	"sio/bench/internal/hist"
	"sio/bench/internal/results"
)

// complete is a phase where 3 clients got both of 2 broadcasts.
func complete() results.Phase {
	return results.Phase{Sent: 2, Tracked: 3, Got: map[int]int64{2: 3}, Sends: []results.Send{
		{Seq: 1, T: 100, N: 3, First: 110, Last: 150, Latency: hist.New()},
		{Seq: 2, T: 200, N: 3, First: 205, Last: 260, Latency: hist.New()},
	}}
}

func TestVerify(t *testing.T) {
	tr := &TargetResult{Status: "ok", Phase: complete()}
	tr.verify(2)
	if tr.Status != "ok" || len(tr.Incomplete) != 0 {
		t.Fatalf("complete run judged %s: %v", tr.Status, tr.Incomplete)
	}

	// One client missed broadcast 2.
	tr = &TargetResult{Status: "ok", Phase: complete()}
	tr.Phase.Got = map[int]int64{2: 2, 1: 1}
	tr.Phase.Sends[1].N = 2
	tr.verify(2)
	if tr.Status != "incomplete" || !strings.Contains(strings.Join(tr.Incomplete, "\n"), "1 of 3 connected clients missed") {
		t.Fatalf("a miss: %s %v", tr.Status, tr.Incomplete)
	}

	// A duplicate hides nothing: the client's set is still complete, but the
	// copy is reported.
	tr = &TargetResult{Status: "ok", Phase: complete()}
	tr.Phase.Dupes = 1
	tr.verify(2)
	if tr.Status != "incomplete" || !strings.Contains(tr.Incomplete[0], "twice") {
		t.Fatalf("a duplicate: %s %v", tr.Status, tr.Incomplete)
	}

	// A broadcast that was never sent.
	tr = &TargetResult{Status: "ok", Phase: complete()}
	tr.verify(3)
	if tr.Status != "incomplete" {
		t.Fatal("a missing broadcast passed")
	}
}

func TestSources(t *testing.T) {
	for _, c := range []struct {
		g, total int
		want     string
	}{
		{0, 6, "127.0.0.2-127.0.0.17"}, {1, 6, "127.0.0.18-127.0.0.33"}, {14, 15, "127.0.0.226-127.0.0.241"},
		// More than 15 processes: 8 addresses each, for all of them, so
		// that no two share one.
		{0, 16, "127.0.0.2-127.0.0.9"}, {15, 16, "127.0.0.122-127.0.0.129"},
	} {
		if got, err := sources(c.g, c.total); err != nil || got != c.want {
			t.Errorf("loadgen %d of %d: %q %v, want %q", c.g, c.total, got, err, c.want)
		}
	}
	if _, err := sources(40, 41); err == nil {
		t.Error("no addresses left, yet no error")
	}
}

func TestBroadcastCPU(t *testing.T) {
	w := &Window{Samples: []CPUSample{{T: 0, CPU: 0}, {T: 1e9, CPU: 1}, {T: 2e9, CPU: 3}, {T: 3e9, CPU: 3}}}
	if v := cpuAt(w.Samples, 1.5e9); v != 2 {
		t.Fatalf("interpolated %v", v)
	}
	p := &results.Phase{Sends: []results.Send{
		{Seq: 1, T: 1e9, N: 1, Last: 1.75e9}, // 1 s → 2 s: 2 s of CPU
		{Seq: 2, T: 2e9, N: 1, Last: 2.9e9},  // its end is past the last sample: skipped
	}}
	if c := broadcastCPU(w, p); len(c) != 1 || c[0] != 2 {
		t.Fatalf("%v", c)
	}
}

func TestNum(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 100001: "100,001", 500005: "500,005"} {
		if got := num(n); got != want {
			t.Errorf("%d: %q", n, got)
		}
	}
}
