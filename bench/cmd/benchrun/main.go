// Command benchrun is the benchmark harness: it builds the load generator
// and the targets, runs every scenario against every target (each target
// started fresh for each scenario and stopped after it), measures the
// target from /proc and through its SIGUSR1 memstats line, writes the run as
// JSON under bench/results/ and regenerates the benchmark section of
// BENCHMARKS.md with its charts.
//
//	go run ./bench/cmd/benchrun              # everything, full sizes (< 20 min): make bench
//	go run ./bench/cmd/benchrun -quick       # small sizes (< 3 min): make bench-quick, CI
//	go run ./bench/cmd/benchrun -targets sio,node -scenarios echo
//	go run ./bench/cmd/benchrun -report bench/results/<id>.json   # report only
//
// It exits non-zero when something is incomplete (a target that does not
// build or start or dies, a scenario with no successful operation, Node
// missing while $CI is set); never because of a timing.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"sio/bench/internal/proc"
	"sio/bench/internal/report"
	"sio/bench/internal/results"
)

var allScenarios = []string{"idle", "connect", "echo", "broadcast", "mixed"}

type bench struct {
	root       string
	quick      bool
	sz         sizes
	tmp        string
	loadgenBin string
	targets    []*targetDef
	targetLog  io.Writer
	commands   map[string]string
	run        *results.Run
}

func main() {
	var (
		quick      = flag.Bool("quick", false, "small sizes (under 3 minutes): what CI runs")
		targetsF   = flag.String("targets", "sio,node,zishang,floor", "targets to run (comma list)")
		scenariosF = flag.String("scenarios", strings.Join(allScenarios, ","), "scenarios to run (comma list)")
		out        = flag.String("out", "", "results JSON (default bench/results/<run>.json)")
		mdPath     = flag.String("md", "", "markdown file whose bench section is regenerated (default BENCHMARKS.md; with -quick bench/results/<run>.md)")
		chartsDir  = flag.String("charts", "", "directory for the SVG charts (default bench/charts; with -quick bench/results/<run>-charts)")
		reportOnly = flag.String("report", "", "only regenerate the report from this results JSON")
		root       = flag.String("root", ".", "repository root (holds go.mod of module sio)")
		mixedOurs  = flag.Duration("mixed-ours", 0, "override the mixed scenario's length for our target")
		mixedOther = flag.Duration("mixed-others", 0, "override the mixed scenario's length for the other targets")
		idleN      = flag.Int("idle-clients", 0, "override the idle scenario's connection count")
	)
	flag.Parse()
	if err := checkRoot(*root); err != nil {
		fatal(err)
	}
	abs, _ := filepath.Abs(*root)

	if *reportOnly != "" {
		b, err := os.ReadFile(*reportOnly)
		if err != nil {
			fatal(err)
		}
		var run results.Run
		if err := json.Unmarshal(b, &run); err != nil {
			fatal(err)
		}
		md, charts := outputs(abs, &run, *mdPath, *chartsDir)
		section, err := report.Write(&run, md, charts)
		if err != nil {
			fatal(err)
		}
		fmt.Println(section)
		return
	}

	t0 := time.Now()
	id := t0.UTC().Format("20060102-150405")
	if *quick {
		id += "-quick"
	}
	b := &bench{root: abs, quick: *quick, commands: map[string]string{}}
	b.sz = fullSizes()
	if *quick {
		b.sz = quickSizes()
	}
	if *mixedOurs > 0 {
		b.sz.mixedOurs = *mixedOurs
	}
	if *mixedOther > 0 {
		b.sz.mixedOthers = *mixedOther
	}
	if *idleN > 0 {
		b.sz.idleClients = *idleN
	}
	b.run = &results.Run{
		ID: id, Started: t0.UTC().Format(time.RFC3339), Quick: *quick,
		Machine: proc.Describe(), Versions: map[string]string{},
		Commands: []string{strings.TrimSpace("go run ./bench/cmd/benchrun " + strings.Join(os.Args[1:], " "))},
	}
	resultsDir := filepath.Join(abs, "bench", "results")
	if err := os.MkdirAll(resultsDir, 0o755); err != nil {
		fatal(err)
	}
	if *out == "" {
		*out = filepath.Join(resultsDir, id+".json")
	}
	logPath := filepath.Join(resultsDir, id+"-targets.log")
	lf, err := os.Create(logPath)
	if err != nil {
		fatal(err)
	}
	defer lf.Close()
	b.targetLog = lf

	var err2 error
	b.tmp, err2 = os.MkdirTemp("", "benchrun-")
	if err2 != nil {
		fatal(err2)
	}
	defer os.RemoveAll(b.tmp)

	scenarios := splitList(*scenariosF)
	for _, s := range scenarios {
		if !contains(allScenarios, s) {
			fatal(fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(allScenarios, ", ")))
		}
	}
	b.logf("benchrun %s: scenarios %s, targets %s, results %s", id, strings.Join(scenarios, ","), *targetsF, rel(abs, *out))
	b.prepare(splitList(*targetsF))

	for si, scn := range scenarios {
		sc := results.Scenario{Name: scn, Params: b.params(scn)}
		for _, def := range b.targets {
			switch {
			case def.status != results.StatusOK:
				sc.Results = append(sc.Results, results.TargetRun{Target: def.name, Status: def.status, Error: def.reason})
				continue
			case !def.supports(scn):
				sc.Results = append(sc.Results, results.TargetRun{Target: def.name, Status: results.StatusUnsupported,
					Error: "the floor speaks only what idle, connect (WebSocket) and echo need"})
				continue
			}
			b.logf("== [%d/%d] %s × %s (%.0fs elapsed)", si+1, len(scenarios), scn, def.name, time.Since(t0).Seconds())
			tr := b.runOne(scn, def)
			b.logf("== %s × %s: %s in %.1fs %s", scn, def.name, tr.Status, tr.Seconds, tr.Error)
			sc.Results = append(sc.Results, tr)
		}
		sc.Command = b.commands[scn]
		b.run.Scenarios = append(b.run.Scenarios, sc)
		b.save(*out) // after every scenario, so an interrupted run keeps what it measured
	}
	b.run.Seconds = time.Since(t0).Seconds()
	b.save(*out)

	md, charts := outputs(abs, b.run, *mdPath, *chartsDir)
	section, err := report.Write(b.run, md, charts)
	if err != nil {
		b.failf("report: %v", err)
	}
	fmt.Println(section)
	b.logf("results: %s; report: %s; charts: %s; target logs: %s", rel(abs, *out), rel(abs, md), rel(abs, charts), rel(abs, logPath))
	b.logf("total %.0fs", time.Since(t0).Seconds())
	if len(b.run.Failures) > 0 {
		b.save(*out)
		fmt.Fprintf(os.Stderr, "\nbenchrun: INCOMPLETE, %d failure(s):\n", len(b.run.Failures))
		for _, f := range b.run.Failures {
			fmt.Fprintln(os.Stderr, "  - "+f)
		}
		os.Exit(1)
	}
}

// outputs picks the markdown file and chart directory: the committed ones
// for a full run, files under bench/results/ for a quick one.
func outputs(root string, run *results.Run, md, charts string) (string, string) {
	if md == "" {
		if run.Quick {
			md = filepath.Join(root, "bench", "results", run.ID+".md")
		} else {
			md = filepath.Join(root, "BENCHMARKS.md")
		}
	}
	if charts == "" {
		if run.Quick {
			charts = filepath.Join(root, "bench", "results", run.ID+"-charts")
		} else {
			charts = filepath.Join(root, "bench", "charts")
		}
	}
	return md, charts
}

func (b *bench) params(scn string) map[string]any {
	s := b.sz
	switch scn {
	case "idle":
		return map[string]any{"connections": s.idleClients, "rooms": max(1, s.idleClients/10), "transport": "websocket"}
	case "connect":
		return map[string]any{"seconds_per_mode": s.connectDur.Seconds(), "concurrency_ws": s.connectConcWS,
			"concurrency_upgrade": s.connectConcUp}
	case "echo":
		return map[string]any{"clients": s.echoClients, "seconds": s.echoDur.Seconds(), "warmup_seconds": s.echoWarmup.Seconds(),
			"payload_bytes": 88}
	case "broadcast":
		return map[string]any{"members": s.bcastMembers, "rates": s.bcastRates, "seconds_per_step": s.bcastStep.Seconds(),
			"p99_limit_ms": s.bcastP99.Milliseconds(), "keep_up_p99_ms": s.bcastKeep.Milliseconds()}
	case "mixed":
		return map[string]any{"clients": s.mixedClients, "polling_share": s.mixedPolling, "emits_per_second_each": 1,
			"seconds_ours": s.mixedOurs.Seconds(), "seconds_others": s.mixedOthers.Seconds(), "rooms": 50}
	}
	return nil
}

// prepare builds the load generator and the targets, and records versions.
func (b *bench) prepare(names []string) {
	v := b.run.Versions
	v["go"] = strings.TrimSpace(b.output(b.root, "go", "env", "GOVERSION"))
	v["commit"] = strings.TrimSpace(b.output(b.root, "git", "rev-parse", "--short", "HEAD"))
	if strings.TrimSpace(b.output(b.root, "git", "status", "--porcelain", "--untracked-files=no")) != "" {
		v["commit"] += " (with uncommitted changes)"
	}
	v["gnet"] = modVersion(filepath.Join(b.root, "go.mod"), "github.com/panjf2000/gnet/v2")
	v["gobwas/ws"] = modVersion(filepath.Join(b.root, "go.mod"), "github.com/gobwas/ws")

	// Build everything at once: the Go builds share the build cache and the
	// node install is independent.
	b.loadgenBin = filepath.Join(b.tmp, "loadgen")
	type build struct {
		def           *targetDef
		dir, out, pkg string
	}
	var builds []build
	builds = append(builds, build{nil, b.root, b.loadgenBin, "./bench/cmd/loadgen"})
	var nodeDef *targetDef
	for _, n := range names {
		def := &targetDef{name: n, status: results.StatusOK}
		switch n {
		case "sio":
			def.label, def.ours, def.polling = "sio (ours)", true, true
			bin := filepath.Join(b.tmp, "target-sio")
			builds = append(builds, build{def, b.root, bin, "./bench/cmd/target-sio"})
			def.command = func(addr string) *exec.Cmd { return exec.Command(bin, "-addr", addr) }
		case "floor":
			def.label = "floor (gnet + gobwas/ws)"
			def.only = map[string]bool{"idle": true, "connect": true, "echo": true}
			bin := filepath.Join(b.tmp, "target-floor")
			builds = append(builds, build{def, b.root, bin, "./bench/cmd/target-floor"})
			def.command = func(addr string) *exec.Cmd { return exec.Command(bin, "-addr", addr) }
		case "zishang":
			def.label, def.polling = "zishang520/socket.io v3", true
			dir := filepath.Join(b.root, "bench", "targets", "zishang")
			bin := filepath.Join(b.tmp, "target-zishang")
			builds = append(builds, build{def, dir, bin, "."})
			v["zishang520/socket.io"] = modVersion(filepath.Join(dir, "go.mod"), "github.com/zishang520/socket.io/servers/socket/v3")
			def.command = func(addr string) *exec.Cmd { return exec.Command(bin, "-addr", addr) }
		case "node":
			def.label, def.polling = "Node socket.io", true
			nodeDef = def
		default:
			fatal(fmt.Errorf("unknown target %q (have sio, node, zishang, floor)", n))
		}
		b.targets = append(b.targets, def)
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, bd := range builds {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = b.goBuild(bd.dir, bd.out, bd.pkg) }()
	}
	if nodeDef != nil {
		b.prepareNode(nodeDef)
	}
	wg.Wait()
	for i, bd := range builds {
		switch {
		case errs[i] == nil:
		case bd.def == nil:
			fatal(fmt.Errorf("building loadgen: %v", errs[i]))
		default:
			b.targetFailed(bd.def, "build: %v", errs[i])
		}
	}
	for _, def := range b.targets {
		b.run.Targets = append(b.run.Targets, results.TargetInfo{Name: def.name, Label: def.label, Status: def.status, Reason: def.reason})
	}
}

func (b *bench) prepareNode(def *targetDef) {
	dir := filepath.Join(b.root, "bench", "targets", "node")
	node, errN := exec.LookPath("node")
	_, errP := exec.LookPath("npm")
	if errN != nil || errP != nil {
		if os.Getenv("CI") != "" {
			b.targetFailed(def, "node or npm is not installed (required when $CI is set)")
		} else {
			def.status, def.reason = results.StatusSkipped, "skipped (node not installed)"
			b.notef("node target skipped: node or npm is not installed")
		}
		return
	}
	b.run.Versions["node"] = strings.TrimSpace(b.output(dir, node, "--version"))
	lock := filepath.Join(dir, "package-lock.json")
	installed := filepath.Join(dir, "node_modules", ".package-lock.json")
	li, err1 := os.Stat(lock)
	ii, err2 := os.Stat(installed)
	if err1 != nil || err2 != nil || ii.ModTime().Before(li.ModTime()) {
		b.logf("npm ci in %s", rel(b.root, dir))
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.targetFailed(def, "npm ci: %v: %s", err, strings.TrimSpace(string(out)))
			return
		}
	}
	for _, pkg := range []string{"socket.io", "engine.io", "ws"} {
		var pj struct{ Version string }
		if data, err := os.ReadFile(filepath.Join(dir, "node_modules", pkg, "package.json")); err == nil && json.Unmarshal(data, &pj) == nil {
			b.run.Versions["npm "+pkg] = pj.Version
		}
	}
	def.command = func(addr string) *exec.Cmd {
		cmd := exec.Command(node, "--expose-gc", "server.js", "-addr", addr)
		cmd.Dir = dir
		return cmd
	}
}

func (b *bench) targetFailed(def *targetDef, format string, args ...any) {
	def.status, def.reason = results.StatusFailed, fmt.Sprintf(format, args...)
	b.failf("target %s: %s", def.name, def.reason)
}

func (b *bench) goBuild(dir, out, pkg string) error {
	b.logf("go build -o %s %s (in %s)", filepath.Base(out), pkg, rel(b.root, dir))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(o)))
	}
	return nil
}

func (b *bench) output(dir, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, _ := cmd.Output()
	return string(out)
}

func (b *bench) save(path string) {
	data, err := json.MarshalIndent(b.run, "", " ")
	if err != nil {
		fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		fatal(err)
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchrun: "+format+"\n", args...)
}

func (b *bench) failf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.run.Failures = append(b.run.Failures, msg)
	b.logf("FAILURE: %s", msg)
}

func (b *bench) notef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.run.Notes = append(b.run.Notes, msg)
	b.logf("note: %s", msg)
}

// modVersion finds the required version of a module in a go.mod file.
func modVersion(gomod, module string) string {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == module {
			return f[1]
		}
	}
	return ""
}

func checkRoot(root string) error {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.Contains(string(data), "module sio\n") {
		return fmt.Errorf("%s is not the repository root (no go.mod of module sio); run from the root or pass -root", root)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchrun:", err)
	os.Exit(1)
}
