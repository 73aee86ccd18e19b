package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"sio/bench/internal/hist"
	"sio/bench/internal/proc"
	"sio/bench/internal/results"
)

// Result is the JSON a run writes and -report reads back.
type Result struct {
	Run      string            `json:"run"`
	Date     string            `json:"date"` // RFC 3339, UTC
	Seconds  float64           `json:"seconds"`
	Quick    bool              `json:"quick"`
	Command  string            `json:"command"`
	Machine  proc.Machine      `json:"machine"`
	Versions map[string]string `json:"versions"`
	Config   Config            `json:"config"`
	Targets  []*TargetResult   `json:"targets"`
	Failures []string          `json:"failures,omitempty"`
}

// Config is what the run was asked to do.
type Config struct {
	Servers     int      `json:"servers"`
	Clients     int      `json:"clients"`
	NodeServers int      `json:"node_servers"`
	NodeClients int      `json:"node_clients"`
	Broadcasts  int      `json:"broadcasts"`
	IntervalS   float64  `json:"interval_s"`
	DrainS      float64  `json:"drain_s"`
	SettleS     float64  `json:"settle_s"`
	PerLoadgen  int      `json:"per_loadgen"`
	Inflight    int      `json:"inflight_per_loadgen"`
	RedisArgs   []string `json:"redis_args,omitempty"`
}

// TargetResult is the scenario on one kind of cluster.
type TargetResult struct {
	Target     string         `json:"target"` // sio, node
	Label      string         `json:"label"`
	Status     string         `json:"status"` // ok, incomplete, skipped
	Reason     string         `json:"reason,omitempty"`
	Clients    int            `json:"clients"` // asked for, the sender not included
	Servers    []ServerResult `json:"servers"`
	Loadgens   []LoadgenInfo  `json:"loadgens"`
	Redis      RedisResult    `json:"redis"`
	Ramp       results.Ramp   `json:"ramp"`  // every loadgen, the sender included
	Phase      results.Phase  `json:"phase"` // the broadcasts, every loadgen
	Window     Window         `json:"window"`
	Incomplete []string       `json:"incomplete,omitempty"`
}

// ServerResult is one node.
type ServerResult struct {
	ID        string        `json:"id"`
	Addr      string        `json:"addr"`
	PID       int           `json:"pid"`
	Clients   int           `json:"clients"`   // assigned to it (the sender not included)
	Fresh     Snapshot      `json:"fresh"`     // started and subscribed, no client
	Connected Snapshot      `json:"connected"` // every client connected, after a settle
	After     Snapshot      `json:"after"`     // after the broadcasts
	WindowCPU float64       `json:"window_cpu_s"`
	Phase     results.Phase `json:"phase"` // its clients' deliveries
}

// Snapshot is a server's memory after a forced GC (SIGUSR1) and, for ours,
// its adapter's counters.
type Snapshot struct {
	RSSKB   int64              `json:"rss_kb"`
	HWMKB   int64              `json:"hwm_kb"`
	Mem     map[string]float64 `json:"mem,omitempty"`
	Adapter json.RawMessage    `json:"adapter,omitempty"`
}

// LoadgenInfo is one loadgen process.
type LoadgenInfo struct {
	Proc     int           `json:"proc"`
	Server   string        `json:"server"`
	Clients  int           `json:"clients"`
	Sender   bool          `json:"sender,omitempty"`
	Command  string        `json:"command"`
	CPU      float64       `json:"cpu_s"`
	MaxRSSKB int64         `json:"max_rss_kb"`
	Phase    results.Phase `json:"phase"`
}

// RedisResult is the run's redis-server.
type RedisResult struct {
	PID           int       `json:"pid"`
	Port          int       `json:"port"`
	Args          []string  `json:"args"`
	NumSub        int       `json:"numsub"` // subscribers of the request channel once every node was up
	Fresh         RedisSnap `json:"fresh"`
	Connected     RedisSnap `json:"connected"`
	After         RedisSnap `json:"after"`
	PubSubClients []string  `json:"pubsub_clients"` // CLIENT LIST TYPE pubsub after the broadcasts
}

// RedisSnap is Redis's RSS and INFO clients, memory and stats.
type RedisSnap struct {
	RSSKB int64             `json:"rss_kb"`
	Info  map[string]string `json:"info"`
}

// Window is the broadcast phase.
type Window struct {
	Seconds      float64 `json:"seconds"`
	DrainSeconds float64 `json:"drain_seconds"`
	Elapsed      float64 `json:"elapsed_s"`    // from the window's start until every loadgen answered
	ServerCPU    float64 `json:"server_cpu_s"` // every server, user+system, over Elapsed
	RedisCPU     float64 `json:"redis_cpu_s"`
	MachineBusy  float64 `json:"machine_busy"` // share of both cores busy
	// The servers' summed CPU every 250 ms over the window.
	Samples []CPUSample `json:"samples"`
}

// CPUSample is the servers' summed CPU (s) at T (unix ns).
type CPUSample struct {
	T   int64   `json:"t"`
	CPU float64 `json:"cpu"`
}

// cpuAt is the servers' summed CPU at t, interpolated between samples.
func cpuAt(ss []CPUSample, t int64) float64 {
	if t <= ss[0].T {
		return ss[0].CPU
	}
	for i := 1; i < len(ss); i++ {
		if t <= ss[i].T {
			a, b := ss[i-1], ss[i]
			return a.CPU + (b.CPU-a.CPU)*float64(t-a.T)/float64(b.T-a.T)
		}
	}
	return ss[len(ss)-1].CPU
}

// broadcastCPU is, per broadcast, the servers' CPU from its send until
// 250 ms after its last receipt: the broadcast's own work and whatever else
// the servers did meanwhile. The idle CPU of many connections is not steady
// (each client is pinged every 25 s, so the pings come in a band as long as
// the ramp was, once per 25 s, and delayed by a busy machine): it cannot be
// subtracted reliably, and the least of these values is the closest to a
// broadcast alone.
func broadcastCPU(w *Window, p *results.Phase) []float64 {
	ss := w.Samples
	if len(ss) < 2 {
		return nil
	}
	var out []float64
	for _, s := range p.Sends {
		if end := s.Last + 250e6; s.N > 0 && end <= ss[len(ss)-1].T {
			out = append(out, cpuAt(ss, end)-cpuAt(ss, s.T))
		}
	}
	return out
}

func (tr *TargetResult) received() int64 {
	var n int64
	for _, s := range tr.Phase.Sends {
		n += s.N
	}
	return n
}

func (tr *TargetResult) expected() int64 { return int64(tr.Phase.Tracked) * tr.Phase.Sent }

// latency merges every broadcast's delivery latencies.
func latency(p *results.Phase) *hist.H {
	h := hist.New()
	for _, s := range p.Sends {
		if s.Latency != nil {
			h.Merge(s.Latency)
		}
	}
	return h
}

// deliverAll is, per broadcast, send → last receipt (ns).
func deliverAll(p *results.Phase) []int64 {
	var out []int64
	for _, s := range p.Sends {
		if s.N > 0 {
			out = append(out, s.Last-s.T)
		}
	}
	return out
}

func (tr *TargetResult) rss(pick func(ServerResult) Snapshot) int64 {
	var n int64
	for _, s := range tr.Servers {
		n += pick(s).RSSKB
	}
	return n
}

func (tr *TargetResult) summary() string {
	if tr.Status == "skipped" {
		return "skipped: " + tr.Reason
	}
	l := latency(&tr.Phase)
	d := deliverAll(&tr.Phase)
	return fmt.Sprintf("%s received/expected %d/%d, deliver-all max %s ms, p50 %s p99 %s max %s ms, server RSS %.0f MB, Redis RSS %.1f MB",
		tr.Status, tr.received(), tr.expected(), ms(maxOf(d)), ms(l.Quantile(0.5)), ms(l.Quantile(0.99)), ms(l.Max()),
		mb(tr.rss(func(s ServerResult) Snapshot { return s.Connected })), mb(tr.Redis.Connected.RSSKB))
}

// markdown renders the run: the main table (one column per target), every
// broadcast, and every server.
func markdown(r *Result) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	kind := "full"
	if r.Quick {
		kind = "quick"
	}
	w("### Cluster broadcast over Redis: run %s (%s), %s\n\n", r.Run, kind, r.Date)
	w("Machine: %d × %s, %.1f GiB, Linux %s, open files %s. Versions: %s.\n\n", r.Machine.CPUs, r.Machine.Model,
		float64(r.Machine.MemTotalKB)/(1<<20), r.Machine.Kernel, r.Machine.FDLimit, versions(r.Versions))
	c := r.Config
	w("%d broadcasts (`io.emit` from one client's `bcastall` on the first server), %.0f s apart; %.0f s of drain.\n\n",
		c.Broadcasts, c.IntervalS, c.DrainS)
	var ts []*TargetResult
	for _, t := range r.Targets {
		if t.Status == "skipped" {
			w("%s: skipped (%s).\n\n", t.Label, t.Reason)
			continue
		}
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return b.String()
	}
	w("| |")
	for _, t := range ts {
		w(" %s |", t.Label)
	}
	w("\n|---|")
	for range ts {
		w("---|")
	}
	w("\n")
	row := func(name string, cell func(t *TargetResult) string) {
		w("| %s |", name)
		for _, t := range ts {
			w(" %s |", cell(t))
		}
		w("\n")
	}
	row("status", func(t *TargetResult) string {
		if t.Status == "ok" {
			return "complete"
		}
		return "**" + t.Status + "**"
	})
	row("server processes × clients", func(t *TargetResult) string {
		return fmt.Sprintf("%d × %s (+1 sender)", len(t.Servers), num(int64((t.Clients+len(t.Servers)-1)/max(1, len(t.Servers)))))
	})
	row("loadgen processes", func(t *TargetResult) string { return fmt.Sprint(len(t.Loadgens)) })
	row("clients connected / asked", func(t *TargetResult) string {
		return fmt.Sprintf("%s / %s", num(int64(t.Ramp.Connected)), num(int64(t.Ramp.Clients)))
	})
	row("connect time, all clients (rate)", func(t *TargetResult) string {
		return fmt.Sprintf("%.1f s (%s/s)", t.Ramp.Seconds, num(int64(t.Ramp.Rate)))
	})
	row("handshake p50 / p99 (ms)", func(t *TargetResult) string {
		if t.Ramp.Latency == nil {
			return ""
		}
		return ms(t.Ramp.Latency.Quantile(0.5)) + " / " + ms(t.Ramp.Latency.Quantile(0.99))
	})
	row("broadcasts sent", func(t *TargetResult) string { return fmt.Sprint(t.Phase.Sent) })
	row("**deliveries received / expected**", func(t *TargetResult) string {
		e := t.expected()
		if e == 0 {
			return "–"
		}
		return fmt.Sprintf("%s / %s (%s %%)", num(t.received()), num(e), pct(float64(t.received())/float64(e)))
	})
	row("clients that got every broadcast", func(t *TargetResult) string {
		return fmt.Sprintf("%s / %s", num(t.Phase.Got[int(t.Phase.Sent)]), num(int64(t.Phase.Tracked)))
	})
	row("duplicates", func(t *TargetResult) string { return num(t.Phase.Dupes) })
	row("**time to deliver all** (send → last receipt), median / max of broadcasts (ms)", func(t *TargetResult) string {
		d := deliverAll(&t.Phase)
		return ms(median(d)) + " / " + ms(maxOf(d))
	})
	row("first receipt after send, median (ms)", func(t *TargetResult) string {
		var d []int64
		for _, s := range t.Phase.Sends {
			if s.N > 0 {
				d = append(d, s.First-s.T)
			}
		}
		return ms(median(d))
	})
	row("**latency** p50 / p99 / p99.9 / max (ms)", func(t *TargetResult) string {
		l := latency(&t.Phase)
		return ms(l.Quantile(0.5)) + " / " + ms(l.Quantile(0.99)) + " / " + ms(l.Quantile(0.999)) + " / " + ms(l.Max())
	})
	row("p99 on the sender's server / on the others (ms)", func(t *TargetResult) string {
		if len(t.Servers) < 2 {
			return ""
		}
		others := hist.New()
		for _, s := range t.Servers[1:] {
			others.Merge(latency(&s.Phase))
		}
		return ms(latency(&t.Servers[0].Phase).Quantile(0.99)) + " / " + ms(others.Quantile(0.99))
	})
	row("**server RSS, total** fresh → connected → after (MB)", func(t *TargetResult) string {
		return fmt.Sprintf("%.0f → %.0f → %.0f", mb(t.rss(func(s ServerResult) Snapshot { return s.Fresh })),
			mb(t.rss(func(s ServerResult) Snapshot { return s.Connected })), mb(t.rss(func(s ServerResult) Snapshot { return s.After })))
	})
	row("server RSS per connection (KB)", func(t *TargetResult) string {
		d := t.rss(func(s ServerResult) Snapshot { return s.Connected }) - t.rss(func(s ServerResult) Snapshot { return s.Fresh })
		if t.Ramp.Connected == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f", float64(d)/float64(t.Ramp.Connected))
	})
	row("server peak RSS, total (MB)", func(t *TargetResult) string {
		var n int64
		for _, s := range t.Servers {
			n += max(s.After.HWMKB, s.Connected.HWMKB)
		}
		return fmt.Sprintf("%.0f", mb(n))
	})
	row("**Redis RSS** connected → after (MB); used_memory after (MB)", func(t *TargetResult) string {
		return fmt.Sprintf("%.1f → %.1f; %.1f", mb(t.Redis.Connected.RSSKB), mb(t.Redis.After.RSSKB), infoMB(t.Redis.After.Info, "used_memory"))
	})
	row("CPU over the window and drain: servers / Redis (s); machine busy", func(t *TargetResult) string {
		over := ""
		if t.Window.Elapsed > 0 {
			over = fmt.Sprintf(" over %.1f s", t.Window.Elapsed)
		}
		return fmt.Sprintf("%.2f / %.2f%s; %.0f %%", t.Window.ServerCPU, t.Window.RedisCPU, over, 100*t.Window.MachineBusy)
	})
	row("**server CPU per broadcast** (send → last receipt), all servers: min / median / max (s); per delivery at the min (µs)", func(t *TargetResult) string {
		c := broadcastCPU(&t.Window, &t.Phase)
		if len(c) == 0 || t.Phase.Tracked == 0 {
			return "n/a"
		}
		sort.Float64s(c)
		return fmt.Sprintf("%.2f / %.2f / %.2f; %.1f", c[0], c[len(c)/2], c[len(c)-1], c[0]/float64(t.Phase.Tracked)*1e6)
	})
	row("loadgen CPU, all processes (s)", func(t *TargetResult) string {
		var c float64
		for _, l := range t.Loadgens {
			c += l.CPU
		}
		return fmt.Sprintf("%.1f", c)
	})
	row("adapter published / received, all nodes (whole run)", func(t *TargetResult) string {
		var pub, recv uint64
		seen := false
		for _, s := range t.Servers {
			var a struct{ Published, Received uint64 }
			if json.Unmarshal(s.After.Adapter, &a) == nil {
				pub += a.Published
				recv += a.Received
				seen = true
			}
		}
		if !seen {
			return "n/a"
		}
		return fmt.Sprintf("%s / %s", num(int64(pub)), num(int64(recv)))
	})
	row("errors (connect; window)", func(t *TargetResult) string {
		return fmt.Sprintf("%s; %s", errs(t.Ramp.Errors), errs(t.Phase.Errors))
	})
	w("\n")

	w("Every broadcast (latency = receipt − send time in the payload; all clients on one machine):\n\n")
	w("| cluster | # | received / expected | first (ms) | p50 (ms) | p99 (ms) | last = time to deliver all (ms) |\n|---|---|---|---|---|---|---|\n")
	for _, t := range ts {
		for _, s := range t.Phase.Sends {
			w("| %s | %d | %s / %s | %s | %s | %s | %s |\n", t.Target, s.Seq, num(s.N), num(int64(t.Phase.Tracked)),
				ms(s.First-s.T), ms(s.Latency.Quantile(0.5)), ms(s.Latency.Quantile(0.99)), ms(s.Last-s.T))
		}
	}
	w("\nEvery server (the first one receives the sender's `bcastall`; the others get the broadcast through Redis):\n\n")
	w("| server | clients | received / expected | p50 (ms) | p99 (ms) | last (ms) | RSS connected (MB) | CPU in window (s) |\n|---|---|---|---|---|---|---|---|\n")
	for _, t := range ts {
		for _, s := range t.Servers {
			var recv int64
			for _, x := range s.Phase.Sends {
				recv += x.N
			}
			l := latency(&s.Phase)
			var last int64
			for _, x := range s.Phase.Sends {
				last = max(last, x.Last-x.T)
			}
			w("| %s | %s | %s / %s | %s | %s | %s | %.1f | %.2f |\n", s.ID, num(int64(s.Phase.Tracked)), num(recv),
				num(int64(s.Phase.Tracked)*t.Phase.Sent), ms(l.Quantile(0.5)), ms(l.Quantile(0.99)), ms(last),
				mb(s.Connected.RSSKB), s.WindowCPU)
		}
	}
	for _, t := range r.Targets {
		for _, why := range t.Incomplete {
			w("\n**%s incomplete:** %s", t.Target, why)
		}
		if len(t.Phase.Missed) > 0 {
			w("\n%s: clients that missed a broadcast or got one twice (first %d): ", t.Target, len(t.Phase.Missed))
			for _, m := range t.Phase.Missed {
				w("id %d seen %b dupes %d; ", m.ID, m.Seen, m.Dupes)
			}
		}
	}
	w("\n")
	return b.String()
}

func versions(v map[string]string) string {
	var ks []string
	for k := range v {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var out []string
	for _, k := range ks {
		out = append(out, k+" "+v[k])
	}
	return strings.Join(out, ", ")
}

func errs(e results.Errors) string {
	if e.Total() == 0 {
		return "none"
	}
	var ks []string
	for k, v := range e {
		ks = append(ks, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func infoMB(info map[string]string, k string) float64 {
	var v float64
	fmt.Sscan(info[k], &v)
	return v / (1 << 20)
}

func median(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func maxOf(v []int64) int64 {
	var m int64
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func ms(ns int64) string {
	v := float64(ns) / 1e6
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func pct(f float64) string {
	if f == 1 {
		return "100"
	}
	return fmt.Sprintf("%.3f", 100*f)
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

func num(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
