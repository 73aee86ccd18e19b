package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"sio/bench/internal/hist"
	"sio/bench/internal/proc"
)

// Result is the JSON a run writes (-out) and -report reads back.
type Result struct {
	Run        string           `json:"run"`
	Date       string           `json:"date"` // RFC 3339, UTC
	Quick      bool             `json:"quick"`
	Command    string           `json:"command"`
	Commit     string           `json:"commit"`
	GoVersion  string           `json:"go_version"`
	Machine    proc.Machine     `json:"machine"`
	Config     Config           `json:"config"`
	Connect    Connect          `json:"connect"`
	Window     Window           `json:"window"`
	Acks       []AckStat        `json:"acks"`
	Deliveries []Delivery       `json:"deliveries"`
	Server     Server           `json:"server"`
	Client     Client           `json:"client"`
	Errors     map[string]int64 `json:"errors"`
	Incomplete []string         `json:"incomplete,omitempty"`
}

// Config is what the run was asked to do.
type Config struct {
	Users              int        `json:"users"`
	ChannelSize        int        `json:"channel_size"`
	Channels           int        `json:"channels"`
	DurationS          float64    `json:"duration_s"`
	MsgIntervalS       float64    `json:"msg_interval_s"`
	TypingLeadS        [2]float64 `json:"typing_lead_s"`
	TypingStopShare    float64    `json:"typing_stop_share"`
	PresenceIntervalS  float64    `json:"presence_interval_s"`
	ConnectConcurrency int        `json:"connect_concurrency"`
	Sources            int        `json:"sources"`
	RateLimits         string     `json:"rate_limits"`
	ServerEnv          []string   `json:"server_env"`
	Seed               uint64     `json:"seed"`
}

// Connect is the connection phase: every user connects and joins.
type Connect struct {
	Attempted int              `json:"attempted"`
	Connected int              `json:"connected"`
	Joined    int              `json:"joined"`
	Seconds   float64          `json:"seconds"`   // first dial to last join ack
	Rate      float64          `json:"rate"`      // joined users per second
	Handshake *hist.H          `json:"handshake"` // dial → CONNECT ack, ns
	Join      *hist.H          `json:"join"`      // channel:join → ack, ns
	Errors    map[string]int64 `json:"errors,omitempty"`
}

// Window is the measured load.
type Window struct {
	WarmupSeconds float64  `json:"warmup_seconds"` // load before the window, not counted
	Seconds       float64  `json:"seconds"`
	DrainSeconds  float64  `json:"drain_seconds"` // after the window, until every expected event arrived (or the limit)
	DrainTimeout  bool     `json:"drain_timed_out"`
	EventsIn      int64    `json:"events_in"`  // client → server events emitted in the window
	EventsOut     int64    `json:"events_out"` // their acks and fan-out received
	InPerSec      float64  `json:"in_per_s"`
	OutPerSec     float64  `json:"out_per_s"`
	Other         int64    `json:"other_events"` // server events not caused by the window (joins, ...)
	Samples       []Sample `json:"samples"`
}

// Sample is the server every few seconds of the window.
type Sample struct {
	T     float64 `json:"t_s"`
	RSSKB int64   `json:"rss_kb"`
	CPU   float64 `json:"cpu_s"` // since the window began
	// message:send acks since the previous sample, their latency, and how
	// busy the machine was (both cores; other jobs included) meanwhile.
	Acks           int64   `json:"acks"`
	AckP50ms       float64 `json:"ack_p50_ms"`
	AckP99ms       float64 `json:"ack_p99_ms"`
	MachineBusyPct float64 `json:"machine_busy_pct"`
}

// AckStat is one event kind's acks.
type AckStat struct {
	Event   string  `json:"event"`
	Sent    int64   `json:"sent"`
	OK      int64   `json:"ok"`
	Err     int64   `json:"err"`
	Latency *hist.H `json:"latency"` // send → ack, ns
}

// Delivery is one server → client event kind: expected vs received.
type Delivery struct {
	Event    string `json:"event"`
	Expected int64  `json:"expected"`
	Received int64  `json:"received"`
	// Latency is cause sent → received, ns. For typing:update (false) it is
	// from the typing:start (how long the channel saw the user typing) of
	// the episodes ended by typing:stop, and TimedOut that of the episodes
	// the server's typing timeout ended (≥ 4 s).
	Latency  *hist.H `json:"latency"`
	TimedOut *hist.H `json:"timed_out,omitempty"`
}

// Server is what was read of cmd/server.
type Server struct {
	PID           int             `json:"pid"`
	RSSBefore     proc.Mem        `json:"rss_before"`
	RSSConnected  proc.Mem        `json:"rss_connected"`
	RSSEnd        proc.Mem        `json:"rss_end"`
	PromConnected promSample      `json:"prom_connected"`
	PromEnd       promSample      `json:"prom_end"`
	CPUWindow     float64         `json:"cpu_window_s"` // utime+stime over the window
	CPUUser       float64         `json:"cpu_window_user_s"`
	CPUSys        float64         `json:"cpu_window_sys_s"`
	CPUWithDrain  float64         `json:"cpu_window_drain_s"` // over window + drain
	PctOfCore     float64         `json:"pct_of_core"`
	USPerDelivery float64         `json:"us_per_delivery"`          // window+drain CPU ÷ fan-out deliveries
	USPerMessage  float64         `json:"us_per_message"`           // window+drain CPU ÷ messages sent (all of a message's work)
	Metrics       json.RawMessage `json:"metrics_socket,omitempty"` // GET /metrics/socket at the end
	ExitCode      int             `json:"exit_code"`
	Log           string          `json:"log"`
}

// Client is the load generator (this process) and the machine.
type Client struct {
	CPUWindow       float64 `json:"cpu_window_s"`
	PctOfCore       float64 `json:"pct_of_core"`
	MachineBusyPct  float64 `json:"machine_busy_pct"` // of all cores, over the window
	MachineStealPct float64 `json:"machine_steal_pct"`
}

func (r *Result) delivered() int64 {
	var n int64
	for _, d := range r.Deliveries {
		n += d.Received
	}
	return n
}

func (r *Result) ack(event string) *AckStat {
	for i := range r.Acks {
		if r.Acks[i].Event == event {
			return &r.Acks[i]
		}
	}
	return &AckStat{Latency: hist.New()}
}

// markdown renders runs side by side, one column each.
func markdown(runs []*Result) string {
	var b strings.Builder
	b.WriteString("| |")
	for _, r := range runs {
		fmt.Fprintf(&b, " %s users |", num(int64(r.Config.Users)))
	}
	b.WriteString("\n|---|")
	for range runs {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(label string, f func(r *Result) string) {
		b.WriteString("| " + label + " |")
		for _, r := range runs {
			b.WriteString(" " + f(r) + " |")
		}
		b.WriteString("\n")
	}
	row("channels × members", func(r *Result) string {
		return fmt.Sprintf("%d × %d", r.Config.Channels, r.Config.ChannelSize)
	})
	row("connect + join, all users", func(r *Result) string {
		s := fmt.Sprintf("%.2f s (%s/s, %d in flight)", r.Connect.Seconds, num(int64(r.Connect.Rate)), r.Config.ConnectConcurrency)
		if r.Connect.Joined != r.Connect.Attempted {
			s += fmt.Sprintf(", **%d of %d joined**", r.Connect.Joined, r.Connect.Attempted)
		}
		return s
	})
	row("handshake p50 / p99 (ms)", func(r *Result) string { return q2(r.Connect.Handshake) })
	row("warm-up, measured window, drain", func(r *Result) string {
		return fmt.Sprintf("%.0f s, **%.0f s**, %.1f s", r.Window.WarmupSeconds, r.Window.Seconds, r.Window.DrainSeconds)
	})
	row("events in / s (client → server)", func(r *Result) string { return num(int64(r.Window.InPerSec + 0.5)) })
	row("events out / s (acks + fan-out)", func(r *Result) string { return num(int64(r.Window.OutPerSec + 0.5)) })
	row("messages sent (ok / sent)", func(r *Result) string {
		a := r.ack("message:send")
		return fmt.Sprintf("%s / %s", num(a.OK), num(a.Sent))
	})
	row("**message:send ack** p50 / p99 / p99.9 (ms)", func(r *Result) string { return q3(r.ack("message:send").Latency) })
	row("typing:start ack p50 / p99 (ms)", func(r *Result) string { return q2(r.ack("typing:start").Latency) })
	row("presence:update ack p50 / p99 (ms)", func(r *Result) string { return q2(r.ack("presence:update").Latency) })
	for i, name := range delivNames {
		i := i
		label := name + " delivery p50 / p99 / p99.9 (ms)"
		if i == dMsg {
			label = "**message:new delivery** (send → receive) p50 / p99 / p99.9 (ms)"
		}
		if i == dTypingOff {
			row("typing shown (typing:start → typing:update false), p50 (s)", func(r *Result) string {
				d := r.Deliveries[i]
				if d.Latency == nil || d.TimedOut == nil || d.Received == 0 {
					return "–"
				}
				return fmt.Sprintf("%.2f ended by typing:stop, %.2f by the timeout (%.0f %% of them)",
					float64(d.Latency.Quantile(0.5))/1e9, float64(d.TimedOut.Quantile(0.5))/1e9,
					100*float64(d.TimedOut.Count())/float64(d.Received))
			})
			continue
		}
		row(label, func(r *Result) string { return q3(r.Deliveries[i].Latency) })
	}
	row("deliveries received / expected", func(r *Result) string {
		var parts []string
		for _, d := range r.Deliveries {
			parts = append(parts, fmt.Sprintf("%s %s / %s", shortName(d.Event), num(d.Received), num(d.Expected)))
		}
		return strings.Join(parts, "; ")
	})
	row("completeness", func(r *Result) string {
		var exp, got int64
		for _, d := range r.Deliveries {
			exp += d.Expected
			got += min(d.Received, d.Expected)
		}
		if exp == 0 {
			return "–"
		}
		return fmt.Sprintf("%.3f %%", 100*float64(got)/float64(exp))
	})
	row("errors", func(r *Result) string {
		if len(r.Errors) == 0 {
			return "none"
		}
		var parts []string
		for _, k := range sortedKeys(r.Errors) {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, r.Errors[k]))
		}
		return strings.Join(parts, "; ")
	})
	row("**server CPU** (window)", func(r *Result) string {
		return fmt.Sprintf("%.1f %% of one core (user %.1f, sys %.1f)", r.Server.PctOfCore,
			100*r.Server.CPUUser/r.Window.Seconds, 100*r.Server.CPUSys/r.Window.Seconds)
	})
	row("server CPU per delivered event / per message sent (µs)", func(r *Result) string {
		return fmt.Sprintf("%.1f / %s", r.Server.USPerDelivery, num(int64(r.Server.USPerMessage+0.5)))
	})
	row("**server RSS** before users → connected → end (MB)", func(r *Result) string {
		return fmt.Sprintf("%.1f → %.1f → %.1f", mb(r.Server.RSSBefore.RSS), mb(r.Server.RSSConnected.RSS), mb(r.Server.RSSEnd.RSS))
	})
	row("server RSS per connected user (KB)", func(r *Result) string {
		if r.Connect.Joined == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f", float64(r.Server.RSSConnected.RSS-r.Server.RSSBefore.RSS)/float64(r.Connect.Joined))
	})
	row("server Go heap connected → end (MB); goroutines", func(r *Result) string {
		return fmt.Sprintf("%.1f → %.1f; %.0f → %.0f", r.Server.PromConnected.HeapAllocMB, r.Server.PromEnd.HeapAllocMB,
			r.Server.PromConnected.Goroutines, r.Server.PromEnd.Goroutines)
	})
	row("load generator CPU; machine busy (both cores)", func(r *Result) string {
		return fmt.Sprintf("%.0f %% of one core; %.0f %%", r.Client.PctOfCore, r.Client.MachineBusyPct)
	})
	return b.String()
}

func shortName(e string) string {
	switch e {
	case "typing:update (true)":
		return "typing on"
	case "typing:update (false)":
		return "typing off"
	}
	return e
}

func ms(ns int64) string {
	v := float64(ns) / 1e6
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func q2(h *hist.H) string {
	if h == nil || h.Count() == 0 {
		return "–"
	}
	return ms(h.Quantile(0.5)) + " / " + ms(h.Quantile(0.99))
}

func q3(h *hist.H) string {
	if h == nil || h.Count() == 0 {
		return "–"
	}
	return ms(h.Quantile(0.5)) + " / " + ms(h.Quantile(0.99)) + " / " + ms(h.Quantile(0.999))
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// num formats n with thousands separators.
func num(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
