// Package report turns a benchrun results file into the benchmark section of
// BENCHMARKS.md (between the markers <!-- bench:begin --> and
// <!-- bench:end -->, the rest of the file kept) and SVG charts.
package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"sio/bench/internal/results"
)

// Markers delimit the generated section.
const (
	BeginMarker = "<!-- bench:begin -->"
	EndMarker   = "<!-- bench:end -->"
)

const ours = "sio"

// Write generates the charts into chartsDir, writes the section into mdPath
// (replacing the marked section, or appending it) and returns the section.
func Write(run *results.Run, mdPath, chartsDir string) (string, error) {
	if err := os.MkdirAll(chartsDir, 0o755); err != nil {
		return "", err
	}
	link, err := filepath.Rel(filepath.Dir(mdPath), chartsDir)
	if err != nil {
		link = chartsDir
	}
	link = filepath.ToSlash(link)
	charts := map[string]string{}
	for name, svg := range Charts(run) {
		if err := os.WriteFile(filepath.Join(chartsDir, name), []byte(svg), 0o644); err != nil {
			return "", err
		}
		charts[name] = link + "/" + name
	}
	section := Section(run, charts)
	old, err := os.ReadFile(mdPath)
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	doc := Splice(string(old), section)
	if len(old) == 0 {
		doc = "# Benchmarks\n\n" + section + "\n"
	}
	return section, os.WriteFile(mdPath, []byte(doc), 0o644)
}

// Splice replaces the marked section of doc with section (which carries the
// markers), or appends it when doc has none.
func Splice(doc, section string) string {
	b := strings.Index(doc, BeginMarker)
	e := strings.Index(doc, EndMarker)
	if b >= 0 && e > b {
		return doc[:b] + section + doc[e+len(EndMarker):]
	}
	if doc != "" && !strings.HasSuffix(doc, "\n") {
		doc += "\n"
	}
	return doc + "\n" + section + "\n"
}

// table is a markdown table under construction.
type table struct {
	head []string
	rows [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) String() string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
	for range t.head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

func label(run *results.Run, name string) string {
	for _, t := range run.Targets {
		if t.Name == name {
			if name == ours {
				return "**" + t.Label + "**"
			}
			return t.Label
		}
	}
	return name
}

func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case v >= 100:
		s := fmt.Sprintf("%.0f", v)
		// thousands separators
		var out []byte
		for i := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		return string(out)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// cnt formats a count: no decimals, thousands separators.
func cnt(v int64) string {
	if v < 100 && v > -100 {
		return fmt.Sprint(v)
	}
	return num(float64(v))
}

// ratio is ours ÷ theirs as "0.42×", "–" when either is unknown.
func ratio(oursV, theirs float64) string {
	if math.IsNaN(oursV) || math.IsNaN(theirs) || theirs == 0 || oursV == 0 {
		return "–"
	}
	r := oursV / theirs
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

func statusCell(tr *results.TargetRun) string {
	switch tr.Status {
	case results.StatusUnsupported:
		return "n/a"
	case results.StatusSkipped:
		return tr.Error
	default:
		e := tr.Error
		if len(e) > 120 {
			e = e[:120] + "…"
		}
		return tr.Status + ": " + strings.ReplaceAll(e, "|", "/")
	}
}

// metrics extracted per scenario and target; NaN when unknown.

type idleM struct{ conns, rssBefore, rssAfter, rssPer, heapPer float64 }

func idleMetrics(tr *results.TargetRun) idleM {
	m := idleM{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}
	if tr == nil || tr.Status != results.StatusOK || tr.Ramp == nil || tr.Ramp.Connected == 0 {
		return m
	}
	n := float64(tr.Ramp.Connected)
	m.conns = n
	m.rssBefore, m.rssAfter = float64(tr.Before.RSSKB)/1024, float64(tr.After.RSSKB)/1024
	m.rssPer = float64(tr.After.RSSKB-tr.Before.RSSKB) / n
	if tr.After.HeapBytes > 0 {
		m.heapPer = float64(tr.After.HeapBytes-tr.Before.HeapBytes) / 1024 / n
	}
	return m
}

func phase(tr *results.TargetRun, name string) *results.PhaseRun {
	if tr == nil || tr.Status != results.StatusOK {
		return nil
	}
	for i := range tr.Phases {
		if tr.Phases[i].Name == name {
			return &tr.Phases[i]
		}
	}
	return nil
}

func rate(p *results.PhaseRun) float64 {
	if p == nil || p.Seconds == 0 {
		return math.NaN()
	}
	return float64(p.Ops) / p.Seconds
}

// perOp is server CPU seconds per operation times scale.
func perOp(p *results.PhaseRun, scale float64) float64 {
	if p == nil || p.Ops == 0 {
		return math.NaN()
	}
	return p.ServerCPU / float64(p.Ops) * scale
}

func lat(p *results.PhaseRun, q float64) float64 {
	if p == nil || p.Latency == nil || p.Latency.Count() == 0 {
		return math.NaN()
	}
	return float64(p.Latency.Quantile(q)) / 1e6
}

func isTrue(b *bool) bool { return b != nil && *b }

// stepAt is the broadcast step of tr at rate r, or nil.
func stepAt(tr *results.TargetRun, r float64) *results.PhaseRun {
	if tr == nil || tr.Status != results.StatusOK {
		return nil
	}
	for i := range tr.Phases {
		if tr.Phases[i].Rate == r {
			return &tr.Phases[i]
		}
	}
	return nil
}

// bestStep is the broadcast step at the highest rate meeting ok, or nil.
func bestStep(tr *results.TargetRun, ok func(*results.PhaseRun) bool) *results.PhaseRun {
	if tr == nil || tr.Status != results.StatusOK {
		return nil
	}
	var p *results.PhaseRun
	for i := range tr.Phases {
		ph := &tr.Phases[i]
		if ok(ph) && (p == nil || ph.Rate > p.Rate) {
			p = ph
		}
	}
	return p
}

func passed(p *results.PhaseRun) bool { return isTrue(p.Pass) }
func keptUp(p *results.PhaseRun) bool { return isTrue(p.KeptUp) || (p.KeptUp == nil && isTrue(p.Pass)) }

// commonRate is the highest rate both targets kept up with, else the lowest
// rate both ran; 0 when they share none.
func commonRate(a, b *results.TargetRun) float64 {
	best, lowest := 0.0, math.Inf(1)
	if a == nil || b == nil {
		return 0
	}
	for i := range a.Phases {
		pa := &a.Phases[i]
		pb := stepAt(b, pa.Rate)
		if pb == nil {
			continue
		}
		lowest = math.Min(lowest, pa.Rate)
		if keptUp(pa) && keptUp(pb) {
			best = math.Max(best, pa.Rate)
		}
	}
	if best > 0 {
		return best
	}
	if math.IsInf(lowest, 1) {
		return 0
	}
	return lowest
}

// Section renders the markdown section (with its markers).
func Section(run *results.Run, charts map[string]string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("%s\n", BeginMarker)
	w("<!-- Generated by bench/cmd/benchrun from bench/results/%s.json; edit bench/internal/report, not this section. -->\n", run.ID)
	kind := "full run (`make bench`)"
	if run.Quick {
		kind = "quick run (`make bench-quick`): small sizes, for completeness, not for comparison"
	}
	w("## Load benchmarks\n\n")
	started, _ := time.Parse(time.RFC3339, run.Started)
	w("Run `%s`, %s, taken %s in %.1f minutes. Every target ran on the same machine, back to back, with the same\n",
		run.ID, kind, started.Format("2006-01-02 15:04 MST"), run.Seconds/60)
	w("load generator (`bench/cmd/loadgen`); each target was started fresh for each scenario. **The load generator\n")
	w("shares the cores with the target** (loopback only), so absolute figures are lower bounds for a dedicated\n")
	w("server: read the ratios. \"ours ÷ target\" divides our figure by the target's: above 1 is better for\n")
	w("throughput, below 1 is better for memory, latency and CPU. How each figure is taken: [bench/README.md](bench/README.md).\n\n")

	m := run.Machine
	w("**Machine:** %d × %s, %.1f GiB RAM, Linux %s, open files %s.\n\n", m.CPUs, m.Model, float64(m.MemTotalKB)/(1<<20), m.Kernel, m.FDLimit)
	var keys []string
	for k := range run.Versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var vs []string
	for _, k := range keys {
		if run.Versions[k] != "" {
			vs = append(vs, k+" "+run.Versions[k])
		}
	}
	w("**Versions:** %s.\n\n", strings.Join(vs, ", "))
	w("**Targets:** ")
	var ts []string
	for _, t := range run.Targets {
		s := t.Label + " (`" + t.Name + "`)"
		if t.Status != results.StatusOK {
			s += " — " + t.Status
			if t.Reason != "" {
				s += ": " + t.Reason
			}
		}
		ts = append(ts, s)
	}
	w("%s.\n\n", strings.Join(ts, "; "))
	w("**Commands:**\n\n```\n")
	for _, c := range run.Commands {
		w("%s\n", strings.TrimSpace(c))
	}
	for _, s := range run.Scenarios {
		if s.Command != "" {
			w("# %s, one loadgen process of %s:\n%s\n", s.Name, procsOf(&s), s.Command)
		}
	}
	w("```\n\n")

	for i := range run.Scenarios {
		s := &run.Scenarios[i]
		switch s.Name {
		case "idle":
			idleSection(w, run, s, charts)
		case "connect":
			connectSection(w, run, s)
		case "echo":
			echoSection(w, run, s, charts)
		case "broadcast":
			bcastSection(w, run, s, charts)
		case "mixed":
			mixedSection(w, run, s, charts)
		}
	}
	if len(run.Notes) > 0 || len(run.Failures) > 0 {
		w("### Notes of this run\n\n")
		for _, n := range run.Failures {
			w("- **Incomplete:** %s\n", n)
		}
		for _, n := range run.Notes {
			w("- %s\n", n)
		}
		w("\n")
	}
	w("%s", EndMarker)
	return b.String()
}

func procsOf(s *results.Scenario) string {
	n := 0
	for _, r := range s.Results {
		n = max(n, r.Procs)
	}
	return fmt.Sprint(max(n, 1))
}

func img(w func(string, ...any), charts map[string]string, name, alt string) {
	if p, ok := charts[name]; ok {
		w("![%s](%s)\n\n", alt, p)
	}
}

func idleSection(w func(string, ...any), run *results.Run, s *results.Scenario, charts map[string]string) {
	w("### Idle: memory per connection\n\n")
	w("%v WebSocket connections in `/`, each joined to one of %v rooms, held idle (pings answered). Per connection =\n", pv(s.Params["connections"]), pv(s.Params["rooms"]))
	w("(after − before) ÷ connections, where *before* is the fresh target and *after* follows the ramp and a settle;\n")
	w("heap is read from the target after a forced GC (Go `heap_alloc`, Node `heapUsed + external`).\n\n")
	o := idleMetrics(s.Find(ours))
	t := table{head: []string{"target", "connections", "RSS before → after (MB)", "RSS per conn (KB)", "heap per conn (KB)", "ours ÷ target (RSS)", "ours ÷ target (heap)"}}
	for i := range s.Results {
		tr := &s.Results[i]
		if tr.Status != results.StatusOK {
			t.row(label(run, tr.Target), statusCell(tr), "", "", "", "", "")
			continue
		}
		m := idleMetrics(tr)
		t.row(label(run, tr.Target), cnt(int64(m.conns)), num(m.rssBefore)+" → "+num(m.rssAfter), num(m.rssPer), num(m.heapPer),
			ratioOrDash(tr.Target, o.rssPer, m.rssPer), ratioOrDash(tr.Target, o.heapPer, m.heapPer))
	}
	w("%s\n", t.String())
	img(w, charts, "idle-memory.svg", "memory per idle connection")
}

func ratioOrDash(target string, o, v float64) string {
	if target == ours {
		return "—"
	}
	return ratio(o, v)
}

func connectSection(w func(string, ...any), run *results.Run, s *results.Scenario) {
	w("### Connect: handshakes per second\n\n")
	w("Closed loop, %v handshakes in flight for %vs per mode. **WebSocket**: upgrade request → Engine.IO open →\n", pv(s.Params["concurrency_ws"]), pv(s.Params["seconds_per_mode"]))
	w("`40` → `40{\"sid\"…}`, then the client closes. **Polling → upgrade** (%v in flight): polling handshake, `40` by POST,\n", pv(s.Params["concurrency_upgrade"]))
	w("`40{…}` by long-poll GET, WebSocket probe `2probe`/`3probe`, the pending GET released, `5`, then one echo over the\n")
	w("WebSocket whose ack proves the upgraded session works. Latency is per handshake, first byte to completion.\n\n")
	ow, ou := phase(s.Find(ours), "ws"), phase(s.Find(ours), "upgrade")
	t := table{head: []string{"target", "WS handshakes/s", "p50 / p99 (ms)", "server CPU per WS handshake (µs)", "polling→upgrade/s", "p50 / p99 (ms)", "ours ÷ target (WS/s)", "ours ÷ target (upgrade/s)"}}
	for i := range s.Results {
		tr := &s.Results[i]
		if tr.Status != results.StatusOK {
			t.row(label(run, tr.Target), statusCell(tr), "", "", "", "", "", "")
			continue
		}
		pw, pu := phase(tr, "ws"), phase(tr, "upgrade")
		upRate, upLat := "n/a", "n/a"
		if pu != nil {
			upRate, upLat = num(rate(pu)), num(lat(pu, .5))+" / "+num(lat(pu, .99))
		}
		t.row(label(run, tr.Target), num(rate(pw)), num(lat(pw, .5))+" / "+num(lat(pw, .99)), num(perOp(pw, 1e6)),
			upRate, upLat, ratioOrDash(tr.Target, rate(ow), rate(pw)), ratioOrDash(tr.Target, rate(ou), rate(pu)))
	}
	w("%s\n", t.String())
}

func echoSection(w func(string, ...any), run *results.Run, s *results.Scenario, charts map[string]string) {
	w("### Echo: emit with ack, closed loop\n\n")
	w("%v WebSocket clients, each with one `emit(\"echo\", {t, p}, ack)` in flight at a time, for %vs after a %vs warm-up.\n",
		pv(s.Params["clients"]), pv(s.Params["seconds"]), pv(s.Params["warmup_seconds"]))
	w("Latency is send → ack on the client. Server CPU from `/proc/<pid>/stat` (utime + stime, every thread) over the window.\n\n")
	op := phase(s.Find(ours), "echo")
	t := table{head: []string{"target", "round trips/s", "p50 (ms)", "p99 (ms)", "p99.9 (ms)", "server CPU s per 1M", "ours ÷ target (rt/s)", "ours ÷ target (CPU per rt)"}}
	for i := range s.Results {
		tr := &s.Results[i]
		if tr.Status != results.StatusOK {
			t.row(label(run, tr.Target), statusCell(tr), "", "", "", "", "", "")
			continue
		}
		p := phase(tr, "echo")
		t.row(label(run, tr.Target), num(rate(p)), num(lat(p, .5)), num(lat(p, .99)), num(lat(p, .999)), num(perOp(p, 1e6)),
			ratioOrDash(tr.Target, rate(op), rate(p)), ratioOrDash(tr.Target, perOp(op, 1), perOp(p, 1)))
	}
	w("%s\n", t.String())
	img(w, charts, "echo-latency.svg", "echo latency percentiles")
}

func bcastSection(w func(string, ...any), run *results.Run, s *results.Scenario, charts map[string]string) {
	w("### Broadcast: one room, a steady rate\n\n")
	w("%v WebSocket members in one room; one more client emits `bcast` to it at a fixed rate (ladder %v per second,\n", pv(s.Params["members"]), pv(s.Params["rates"]))
	w("%vs per step). Delivery latency = receive time − the send timestamp in the payload. A step *passes* when at\n", pv(s.Params["seconds_per_step"]))
	w("least 99%% of the expected deliveries arrived and p99 < %v ms; the target *keeps up* when 99%% arrived and\n", pv(s.Params["p99_limit_ms"]))
	w("p99 < %v ms. The ladder stops at the first rate a target does not keep up with. One broadcast to N members is N\n", pv(s.Params["keep_up_p99_ms"]))
	w("socket writes on the server and N reads on the client, so the p50 of the lowest rate is about the time one\n")
	w("fan-out takes on this machine; a p99 under 50 ms may be out of reach for every target when N is large.\n\n")
	otr := s.Find(ours)
	t := table{head: []string{"target", "highest rate passing (/s)", "highest rate kept up (/s)", "deliveries/s there", "p50 / p99 there (ms)",
		"server CPU per delivery there (µs)", "ours ÷ target (deliveries/s kept up)", "ours ÷ target (CPU per delivery, same rate)"}}
	detail := table{head: []string{"target", "rate (/s)", "broadcasts sent", "delivered / expected", "p50 (ms)", "p99 (ms)", "server CPU (s)", "CPU per delivery (µs)", "passes", "keeps up"}}
	okb := bestStep(otr, keptUp)
	for i := range s.Results {
		tr := &s.Results[i]
		if tr.Status != results.StatusOK {
			t.row(label(run, tr.Target), statusCell(tr), "", "", "", "", "", "")
			continue
		}
		strict, kept := bestStep(tr, passed), bestStep(tr, keptUp)
		strictS, keptS := "none", "none"
		if strict != nil {
			strictS = fmt.Sprintf("%g", strict.Rate)
		}
		at := kept
		if kept != nil {
			keptS = fmt.Sprintf("%g", kept.Rate)
		} else if len(tr.Phases) > 0 {
			at = &tr.Phases[0]
			keptS = fmt.Sprintf("none (figures at %g/s)", at.Rate)
		}
		cpuRatio := "—"
		if tr.Target != ours {
			cpuRatio = "–"
			if r := commonRate(otr, tr); r > 0 {
				cpuRatio = ratio(perOp(stepAt(otr, r), 1), perOp(stepAt(tr, r), 1)) + fmt.Sprintf(" (%g/s)", r)
			}
		}
		dRatio := "—"
		if tr.Target != ours {
			dRatio = "–"
			if okb != nil && kept != nil {
				dRatio = ratio(rate(okb), rate(kept))
			}
		}
		t.row(label(run, tr.Target), strictS, keptS, num(rate(at)), num(lat(at, .5))+" / "+num(lat(at, .99)), num(perOp(at, 1e6)), dRatio, cpuRatio)
		for j := range tr.Phases {
			ph := &tr.Phases[j]
			frac := "–"
			if ph.Expected > 0 {
				frac = fmt.Sprintf("%s / %s (%.1f%%)", cnt(ph.Ops), cnt(ph.Expected), 100*float64(ph.Ops)/float64(ph.Expected))
			}
			detail.row(label(run, tr.Target), fmt.Sprintf("%g", ph.Rate), cnt(ph.Sent), frac, num(lat(ph, .5)), num(lat(ph, .99)),
				num(ph.ServerCPU), num(perOp(ph, 1e6)), yesNo(passed(ph)), yesNo(keptUp(ph)))
		}
	}
	w("%s\nEvery step:\n\n%s\n", t.String(), detail.String())
	img(w, charts, "broadcast-latency.svg", "broadcast delivery latency by rate")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// sampleAt is the last sample at or before t seconds.
func sampleAt(ss []results.Sample, t float64) (results.Sample, bool) {
	var out results.Sample
	ok := false
	for _, s := range ss {
		if s.T <= t+0.5 {
			out, ok = s, true
		}
	}
	return out, ok
}

func mixedSection(w func(string, ...any), run *results.Run, s *results.Scenario, charts map[string]string) {
	w("### Mixed: many clients, steady traffic\n\n")
	w("%v clients, %v%% of them on long-polling (the rest WebSocket), each in one of %v rooms, each emitting one\n",
		pv(s.Params["clients"]), pct(s.Params["polling_share"]), pv(s.Params["rooms"]))
	w("`echo` with ack per second (open loop, so latency includes any queueing). RSS and CPU are sampled from `/proc`\n")
	w("over time. Our target runs %v s; the others run %v s so that the whole suite fits in 20 minutes. Ratios compare\n", pv(s.Params["seconds_ours"]), pv(s.Params["seconds_others"]))
	w("ours over the same first seconds as the target's run.\n\n")
	otr := s.Find(ours)
	t := table{head: []string{"target", "seconds", "acks/s", "p50 (ms)", "p99 (ms)", "errors", "RSS start → end (MB)", "CPU (% of one core)", "ours ÷ target (CPU)", "ours ÷ target (RSS at end)"}}
	for i := range s.Results {
		tr := &s.Results[i]
		if tr.Status != results.StatusOK {
			t.row(label(run, tr.Target), statusCell(tr), "", "", "", "", "", "", "", "")
			continue
		}
		p := phase(tr, "mixed")
		if p == nil || len(tr.Samples) == 0 {
			t.row(label(run, tr.Target), "–", "", "", "", "", "", "", "", "")
			continue
		}
		first, last := tr.Samples[0], tr.Samples[len(tr.Samples)-1]
		cpuPct := math.NaN()
		if last.T > 0 {
			cpuPct = 100 * last.CPU / last.T
		}
		r1, r2 := "–", "–"
		if otr != nil && otr.Status == results.StatusOK && tr.Target != ours && len(otr.Samples) > 0 {
			if o2, ok := sampleAt(otr.Samples, last.T); ok && o2.T > 0 {
				r1 = ratio(100*o2.CPU/o2.T, cpuPct)
				r2 = ratio(float64(o2.RSSKB), float64(last.RSSKB))
			}
		} else if tr.Target == ours {
			r1, r2 = "—", "—"
		}
		t.row(label(run, tr.Target), num(p.Seconds), num(rate(p)), num(lat(p, .5)), num(lat(p, .99)), cnt(p.Errors.Total()),
			num(float64(first.RSSKB)/1024)+" → "+num(float64(last.RSSKB)/1024), num(cpuPct), r1, r2)
	}
	w("%s\n", t.String())
	img(w, charts, "mixed-rss.svg", "RSS over time, mixed scenario")
	img(w, charts, "mixed-cpu.svg", "CPU over time, mixed scenario")
}

func pct(v any) string {
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%g", f*100)
	}
	return fmt.Sprint(v)
}

// pv formats a scenario parameter for prose: counts with separators, lists
// as "1, 2, 5".
func pv(v any) string {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) >= 1000 {
			return cnt(int64(x))
		}
		return fmt.Sprintf("%g", x)
	case int:
		return cnt(int64(x))
	case int64:
		return cnt(x)
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, pv(e))
		}
		return strings.Join(parts, ", ")
	case []float64:
		var parts []string
		for _, e := range x {
			parts = append(parts, pv(e))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// Charts renders every chart the run has data for, by file name.
func Charts(run *results.Run) map[string]string {
	out := map[string]string{}
	if s := run.Find("idle"); s != nil {
		var groups []string
		rss, heap := series{name: "RSS per connection"}, series{name: "heap per connection (after GC)"}
		for i := range s.Results {
			tr := &s.Results[i]
			if tr.Status != results.StatusOK {
				continue
			}
			m := idleMetrics(tr)
			groups = append(groups, shortLabel(run, tr.Target))
			rss.values = append(rss.values, m.rssPer)
			heap.values = append(heap.values, m.heapPer)
		}
		if len(groups) > 0 {
			out["idle-memory.svg"] = barChart(fmt.Sprintf("Idle: memory per connection (%v connections)", pv(s.Params["connections"])),
				"KB per connection", groups, []series{rss, heap}, false)
		}
	}
	if s := run.Find("echo"); s != nil {
		var groups []string
		p50, p99, p999 := series{name: "p50"}, series{name: "p99"}, series{name: "p99.9"}
		for i := range s.Results {
			p := phase(&s.Results[i], "echo")
			if p == nil {
				continue
			}
			groups = append(groups, shortLabel(run, s.Results[i].Target))
			p50.values = append(p50.values, lat(p, .5))
			p99.values = append(p99.values, lat(p, .99))
			p999.values = append(p999.values, lat(p, .999))
		}
		if len(groups) > 0 {
			out["echo-latency.svg"] = barChart(fmt.Sprintf("Echo: round-trip latency, %v clients closed loop (log scale)", pv(s.Params["clients"])),
				"ms", groups, []series{p50, p99, p999}, true)
		}
	}
	if s := run.Find("broadcast"); s != nil {
		rates := map[float64]bool{}
		for i := range s.Results {
			if s.Results[i].Status == results.StatusOK {
				for _, p := range s.Results[i].Phases {
					rates[p.Rate] = true
				}
			}
		}
		var rs []float64
		for r := range rates {
			rs = append(rs, r)
		}
		sort.Float64s(rs)
		var xs []float64
		var xl []string
		for i, r := range rs {
			xs = append(xs, float64(i))
			xl = append(xl, fmt.Sprintf("%g", r))
		}
		var ss []series
		for i := range s.Results {
			tr := &s.Results[i]
			if tr.Status != results.StatusOK || len(tr.Phases) == 0 {
				continue
			}
			p99 := series{name: shortLabel(run, tr.Target) + " p99", color: len(ss) / 2}
			p50 := series{name: shortLabel(run, tr.Target) + " p50", dashed: true, color: len(ss) / 2}
			for _, r := range rs {
				v50, v99 := math.NaN(), math.NaN()
				for j := range tr.Phases {
					if tr.Phases[j].Rate == r {
						v50, v99 = lat(&tr.Phases[j], .5), lat(&tr.Phases[j], .99)
					}
				}
				p50.values = append(p50.values, v50)
				p99.values = append(p99.values, v99)
			}
			ss = append(ss, p99, p50)
		}
		if len(ss) > 0 {
			lim, _ := s.Params["p99_limit_ms"].(float64)
			if v, ok := s.Params["p99_limit_ms"].(int64); ok {
				lim = float64(v)
			}
			out["broadcast-latency.svg"] = lineChart(fmt.Sprintf("Broadcast: delivery latency to %v members by rate (log scale)", pv(s.Params["members"])),
				"ms", "broadcasts per second", xs, xl, ss, true, lim)
		}
	}
	if s := run.Find("mixed"); s != nil {
		var rssS, cpuS []series
		var xs []float64
		longest := 0
		for i := range s.Results {
			if len(s.Results[i].Samples) > longest {
				longest = len(s.Results[i].Samples)
				xs = xs[:0]
				for _, smp := range s.Results[i].Samples {
					xs = append(xs, smp.T)
				}
			}
		}
		for i := range s.Results {
			tr := &s.Results[i]
			if tr.Status != results.StatusOK || len(tr.Samples) == 0 {
				continue
			}
			rs := series{name: shortLabel(run, tr.Target), color: len(rssS)}
			cs := series{name: shortLabel(run, tr.Target), color: len(cpuS)}
			prev := results.Sample{}
			for j := range xs {
				if j < len(tr.Samples) {
					smp := tr.Samples[j]
					rs.values = append(rs.values, float64(smp.RSSKB)/1024)
					if smp.T > prev.T {
						cs.values = append(cs.values, 100*(smp.CPU-prev.CPU)/(smp.T-prev.T))
					} else {
						cs.values = append(cs.values, math.NaN())
					}
					prev = smp
				} else {
					rs.values = append(rs.values, math.NaN())
					cs.values = append(cs.values, math.NaN())
				}
			}
			rssS, cpuS = append(rssS, rs), append(cpuS, cs)
		}
		if len(rssS) > 0 && len(xs) > 1 {
			out["mixed-rss.svg"] = lineChart(fmt.Sprintf("Mixed: target RSS over time (%v clients)", pv(s.Params["clients"])),
				"MB", "seconds", xs, nil, rssS, false, 0)
			out["mixed-cpu.svg"] = lineChart(fmt.Sprintf("Mixed: target CPU over time (%v clients, 1 emit/s each)", pv(s.Params["clients"])),
				"% of one core", "seconds", xs, nil, cpuS, false, 0)
		}
	}
	return out
}

func shortLabel(run *results.Run, name string) string {
	for _, t := range run.Targets {
		if t.Name == name {
			return t.Label
		}
	}
	return name
}
