// Package results holds the JSON shapes shared by loadgen (one process's
// figures) and benchrun (a whole run). Histograms travel with their buckets so
// figures from several loadgen processes merge exactly.
package results

import (
	"slices"

	"sio/bench/internal/hist"
)

// Errors counts failures by kind (dial, handshake, timeout, closed, ...).
type Errors map[string]int64

// Total is the sum over kinds.
func (e Errors) Total() int64 {
	var n int64
	for _, v := range e {
		n += v
	}
	return n
}

// Add adds every count of o to e.
func (e Errors) Add(o Errors) {
	for k, v := range o {
		e[k] += v
	}
}

// Ramp is the connection phase of one loadgen process.
type Ramp struct {
	Clients   int     `json:"clients"`   // clients asked for
	Polling   int     `json:"polling"`   // of which on long-polling
	Connected int     `json:"connected"` // ready (connected, and joined when asked) at the end of the ramp
	Failed    int     `json:"failed"`    // gave up after retries
	Seconds   float64 `json:"seconds"`
	Rate      float64 `json:"rate"`    // connected per second
	Latency   *hist.H `json:"latency"` // dial to ready, ns
	Errors    Errors  `json:"errors"`
}

// Phase is one measured window of one loadgen process.
type Phase struct {
	Name    string  `json:"name"`
	Kind    string  `json:"kind"` // idle, connect, echo, bcast, mixed
	Rate    float64 `json:"rate,omitempty"`
	Seconds float64 `json:"seconds"` // length of the window
	// Sent counts what was started in the window: emits, broadcasts sent (by
	// the sender), handshakes begun.
	Sent int64 `json:"sent"`
	// Ops counts what completed for things started in the window: acks
	// received, broadcast deliveries, handshakes completed.
	Ops         int64   `json:"ops"`
	Latency     *hist.H `json:"latency"` // ns
	Errors      Errors  `json:"errors"`
	Live        int     `json:"live"`       // sessions alive at the end
	ClientCPU   float64 `json:"client_cpu"` // seconds of loadgen CPU in the window
	Members     int     `json:"members,omitempty"`
	PollingLive int     `json:"polling_live,omitempty"`

	// A tracked broadcast phase (load.PhaseSpec.Track): Tracked clients
	// were ready when it began; Got maps a number of distinct broadcasts
	// received to the clients that received that many; Dupes counts
	// broadcasts a client received again; Sends is per broadcast; Missed
	// names (at most 20 per process) clients that lack a broadcast another
	// client of their process received, or got one twice.
	Tracked int           `json:"tracked,omitempty"`
	Got     map[int]int64 `json:"got,omitempty"`
	Dupes   int64         `json:"dupes,omitempty"`
	Sends   []Send        `json:"sends,omitempty"`
	Missed  []Missed      `json:"missed,omitempty"`
}

// Send is one numbered broadcast of a tracked phase, as its receivers saw it.
type Send struct {
	Seq     int64   `json:"seq"`
	T       int64   `json:"t"`     // the send time in the payload, unix ns
	N       int64   `json:"n"`     // clients that received it (first copies)
	Dupes   int64   `json:"dupes"` // further copies
	First   int64   `json:"first"` // first receipt, unix ns
	Last    int64   `json:"last"`  // last receipt, unix ns
	Latency *hist.H `json:"latency"`
}

// Merge adds o (the same broadcast seen by other clients) to s.
func (s *Send) Merge(o *Send) {
	if s.T == 0 {
		s.T = o.T
	}
	if o.N > 0 {
		if s.N == 0 || o.First < s.First {
			s.First = o.First
		}
		s.Last = max(s.Last, o.Last)
	}
	s.N += o.N
	s.Dupes += o.Dupes
	if s.Latency == nil {
		s.Latency = hist.New()
	}
	if o.Latency != nil {
		s.Latency.Merge(o.Latency)
	}
}

// Missed is a client of a tracked phase that lacks a broadcast or got one
// twice: Seen has bit seq-1 set for each broadcast it received.
type Missed struct {
	ID    int    `json:"id"`
	Seen  uint64 `json:"seen"`
	Dupes int64  `json:"dupes,omitempty"`
}

// Loadgen is the final JSON object a loadgen process writes.
type Loadgen struct {
	Proc     int     `json:"proc"`
	Scenario string  `json:"scenario"`
	Addr     string  `json:"addr"`
	Sources  string  `json:"sources"`
	Ramp     Ramp    `json:"ramp"`
	Phases   []Phase `json:"phases"`
	CPU      float64 `json:"cpu"`        // user+system seconds of the whole process
	MaxRSSKB int64   `json:"max_rss_kb"` // peak RSS of the process
}

// MergePhases sums the same phase of several processes: counts add,
// histograms merge, the window is the longest.
func MergePhases(ps []Phase) Phase {
	var out Phase
	out.Latency = hist.New()
	out.Errors = Errors{}
	for i, p := range ps {
		if i == 0 {
			out.Name, out.Kind, out.Rate = p.Name, p.Kind, p.Rate
		}
		out.Seconds = max(out.Seconds, p.Seconds)
		out.Sent += p.Sent
		out.Ops += p.Ops
		out.Latency.Merge(p.Latency)
		out.Errors.Add(p.Errors)
		out.Live += p.Live
		out.PollingLive += p.PollingLive
		out.ClientCPU += p.ClientCPU
		out.Members += p.Members
		out.Tracked += p.Tracked
		out.Dupes += p.Dupes
		out.Missed = append(out.Missed, p.Missed...)
		for k, v := range p.Got {
			if out.Got == nil {
				out.Got = map[int]int64{}
			}
			out.Got[k] += v
		}
		for j := range p.Sends {
			s := &p.Sends[j]
			k := slices.IndexFunc(out.Sends, func(m Send) bool { return m.Seq == s.Seq })
			if k < 0 {
				out.Sends = append(out.Sends, Send{Seq: s.Seq, Latency: hist.New()})
				k = len(out.Sends) - 1
			}
			out.Sends[k].Merge(s)
		}
	}
	slices.SortFunc(out.Sends, func(a, b Send) int { return int(a.Seq - b.Seq) })
	return out
}

// MergeRamps sums the ramps of several processes.
func MergeRamps(rs []Ramp) Ramp {
	var out Ramp
	out.Latency = hist.New()
	out.Errors = Errors{}
	for _, r := range rs {
		out.Clients += r.Clients
		out.Polling += r.Polling
		out.Connected += r.Connected
		out.Failed += r.Failed
		out.Seconds = max(out.Seconds, r.Seconds)
		out.Latency.Merge(r.Latency)
		out.Errors.Add(r.Errors)
	}
	if out.Seconds > 0 {
		out.Rate = float64(out.Connected) / out.Seconds
	}
	return out
}
