package results

import "sio/bench/internal/proc"

// Run is everything one benchrun invocation measured: bench/results/<id>.json.
type Run struct {
	ID       string            `json:"id"`
	Started  string            `json:"started"` // RFC 3339, UTC
	Seconds  float64           `json:"seconds"` // wall time of the whole run
	Quick    bool              `json:"quick"`
	Machine  proc.Machine      `json:"machine"`
	Versions map[string]string `json:"versions"`
	Commands []string          `json:"commands"`
	Targets  []TargetInfo      `json:"targets"`
	// Scenarios in the order they ran.
	Scenarios []Scenario `json:"scenarios"`
	Failures  []string   `json:"failures,omitempty"`
	Notes     []string   `json:"notes,omitempty"`
}

// TargetInfo says which targets took part.
type TargetInfo struct {
	Name   string `json:"name"`  // sio, node, zishang, floor
	Label  string `json:"label"` // for people
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Target statuses.
const (
	StatusOK          = "ok"
	StatusSkipped     = "skipped"
	StatusFailed      = "failed"
	StatusUnsupported = "unsupported"
)

// Scenario is one scenario over every target.
type Scenario struct {
	Name    string         `json:"name"` // idle, connect, echo, broadcast, mixed
	Params  map[string]any `json:"params"`
	Command string         `json:"command"` // the loadgen command line (for one process, target address elided)
	Results []TargetRun    `json:"results"`
}

// Find returns the run of the named target, or nil.
func (s *Scenario) Find(target string) *TargetRun {
	for i := range s.Results {
		if s.Results[i].Target == target {
			return &s.Results[i]
		}
	}
	return nil
}

// TargetRun is one scenario against one target.
type TargetRun struct {
	Target  string  `json:"target"`
	Status  string  `json:"status"`
	Error   string  `json:"error,omitempty"`
	Procs   int     `json:"loadgen_procs"`
	Seconds float64 `json:"seconds"`
	Ramp    *Ramp   `json:"ramp,omitempty"`
	// Memory of the target: after start (baseline), after the ramp, at the end.
	Before MemSnap `json:"before"`
	After  MemSnap `json:"after"`
	// ServerCPU is the target's CPU seconds over the whole scenario.
	ServerCPU float64    `json:"server_cpu"`
	Phases    []PhaseRun `json:"phases,omitempty"`
	Samples   []Sample   `json:"samples,omitempty"` // mixed: over time
	ClientCPU float64    `json:"client_cpu"`        // loadgen CPU seconds over the scenario
}

// MemSnap is the target's memory at one moment: RSS from /proc and, when
// the target answers SIGUSR1, its heap after a forced GC.
type MemSnap struct {
	RSSKB int64 `json:"rss_kb"`
	// HeapBytes: Go heap_alloc (live bytes after runtime.GC), or Node
	// heapUsed + external after global.gc(). 0 when unknown.
	HeapBytes int64              `json:"heap_bytes"`
	Raw       map[string]float64 `json:"raw,omitempty"` // the target's JSON line
}

// PhaseRun is a measured phase merged over the loadgen processes, with the
// target's CPU and memory over it.
type PhaseRun struct {
	Phase
	ServerCPU float64 `json:"server_cpu"` // seconds during the phase (and its drain)
	RSSKB     int64   `json:"rss_kb"`     // target RSS at its end
	Expected  int64   `json:"expected,omitempty"`
	// Broadcast ladder: Pass when 99% of the deliveries arrived and p99 was
	// under the strict limit (50 ms); KeptUp when 99% arrived and p99 was
	// under the loose one (500 ms), i.e. the target sustained the rate.
	Pass   *bool `json:"pass,omitempty"`
	KeptUp *bool `json:"kept_up,omitempty"`
}

// Sample is one point of a time series (mixed).
type Sample struct {
	T     float64 `json:"t"`      // seconds since the phase began
	RSSKB int64   `json:"rss_kb"` // target RSS
	CPU   float64 `json:"cpu"`    // target CPU seconds since the phase began
}

// Find returns the named scenario, or nil.
func (r *Run) Find(name string) *Scenario {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name {
			return &r.Scenarios[i]
		}
	}
	return nil
}
