package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sio/bench/internal/hist"
	"sio/bench/internal/results"
)

func TestSplice(t *testing.T) {
	sec := BeginMarker + "\nnew\n" + EndMarker
	doc := "# T\n\nintro\n" + BeginMarker + "\nold\n" + EndMarker + "\n\ntail\n"
	got := Splice(doc, sec)
	if got != "# T\n\nintro\n"+sec+"\n\ntail\n" {
		t.Fatalf("replace: %q", got)
	}
	got = Splice("# T\nbody", sec)
	if got != "# T\nbody\n\n"+sec+"\n" {
		t.Fatalf("append: %q", got)
	}
}

func histOf(vals ...int64) *hist.H {
	h := hist.New()
	for _, v := range vals {
		h.Record(v)
	}
	return h
}

// A small synthetic run renders every section and chart, and a second write
// replaces the section instead of appending another.
func TestWrite(t *testing.T) {
	yes, no := true, false
	run := &results.Run{
		ID: "test", Started: "2026-01-02T03:04:05Z", Seconds: 60,
		Versions: map[string]string{"go": "go1.26"},
		Targets:  []results.TargetInfo{{Name: "sio", Label: "sio (ours)", Status: "ok"}, {Name: "node", Label: "Node socket.io", Status: "ok"}},
		Scenarios: []results.Scenario{
			{Name: "idle", Params: map[string]any{"connections": 10, "rooms": 1}, Results: []results.TargetRun{
				{Target: "sio", Status: "ok", Ramp: &results.Ramp{Connected: 10}, Before: results.MemSnap{RSSKB: 1000}, After: results.MemSnap{RSSKB: 1040, HeapBytes: 20480}},
				{Target: "node", Status: "ok", Ramp: &results.Ramp{Connected: 10}, Before: results.MemSnap{RSSKB: 5000}, After: results.MemSnap{RSSKB: 5120}},
			}},
			{Name: "echo", Params: map[string]any{"clients": 2}, Results: []results.TargetRun{
				{Target: "sio", Status: "ok", Phases: []results.PhaseRun{{Phase: results.Phase{Name: "echo", Seconds: 1, Ops: 1000, Latency: histOf(1e6, 2e6)}, ServerCPU: 0.1}}},
				{Target: "node", Status: "failed", Error: "boom"},
			}},
			{Name: "broadcast", Params: map[string]any{"members": 5, "p99_limit_ms": 50.0}, Results: []results.TargetRun{
				{Target: "sio", Status: "ok", Phases: []results.PhaseRun{
					{Phase: results.Phase{Rate: 1, Seconds: 1, Ops: 5, Latency: histOf(1e6)}, Expected: 5, Pass: &yes, KeptUp: &yes},
					{Phase: results.Phase{Rate: 2, Seconds: 1, Ops: 9, Latency: histOf(9e8)}, Expected: 10, Pass: &no, KeptUp: &no}}},
				{Target: "node", Status: "ok", Phases: []results.PhaseRun{
					{Phase: results.Phase{Rate: 1, Seconds: 1, Ops: 5, Latency: histOf(3e6)}, Expected: 5, Pass: &yes, KeptUp: &yes}}},
			}},
			{Name: "mixed", Params: map[string]any{"clients": 3}, Results: []results.TargetRun{
				{Target: "sio", Status: "ok", Phases: []results.PhaseRun{{Phase: results.Phase{Name: "mixed", Seconds: 4, Ops: 12, Latency: histOf(1e6), Errors: results.Errors{}}}},
					Samples: []results.Sample{{T: 0, RSSKB: 100}, {T: 2, RSSKB: 110, CPU: 0.1}, {T: 4, RSSKB: 120, CPU: 0.2}}},
				{Target: "node", Status: "ok", Phases: []results.PhaseRun{{Phase: results.Phase{Name: "mixed", Seconds: 2, Ops: 6, Latency: histOf(2e6), Errors: results.Errors{}}}},
					Samples: []results.Sample{{T: 0, RSSKB: 300}, {T: 2, RSSKB: 330, CPU: 0.4}}},
			}},
		},
	}
	// Through JSON, as -report reads it.
	b, _ := json.Marshal(run)
	var back results.Run
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	os.WriteFile(md, []byte("# Benchmarks\n\nkept\n"), 0o644)
	for i := 0; i < 2; i++ {
		if _, err := Write(&back, md, filepath.Join(dir, "charts")); err != nil {
			t.Fatal(err)
		}
	}
	doc, _ := os.ReadFile(md)
	s := string(doc)
	if strings.Count(s, BeginMarker) != 1 || !strings.Contains(s, "kept\n") {
		t.Fatalf("markers or kept text wrong:\n%s", s)
	}
	for _, want := range []string{"| **sio (ours)** | 10 | 0.98 → 1.02 | 4.00 | 2.00 | — | — |", "0.33×", "failed: boom",
		"charts/idle-memory.svg", "charts/broadcast-latency.svg", "charts/mixed-rss.svg", "| 1 | 1 |"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in:\n%s", want, s)
		}
	}
	for _, f := range []string{"idle-memory.svg", "echo-latency.svg", "broadcast-latency.svg", "mixed-rss.svg", "mixed-cpu.svg"} {
		data, err := os.ReadFile(filepath.Join(dir, "charts", f))
		if err != nil || !strings.HasPrefix(string(data), "<svg") || strings.Contains(string(data), "NaN") {
			t.Errorf("%s: %v %.80q", f, err, data)
		}
	}
}
