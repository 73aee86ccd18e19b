// Command clusterbench is the cluster broadcast scenario of issue 10: it
// starts one redis-server, N server processes joined through it (ours:
// target-sio -redis, i.e. package redisadapter; Node: the Node target with
// @socket.io/redis-adapter 8.3), connects C Socket.IO WebSocket clients
// spread evenly over the servers from several loadgen processes, and has
// one client on the first server emit `bcastall` (io.emit) a few times,
// spaced. Every client records every broadcast it receives (numbered, with
// the send time in the payload). It reports completeness (received ÷
// connected), time to deliver all (send → last receipt), latency
// p50/p99/max, total server RSS and Redis RSS, connect time, and writes
// everything to bench/results/cluster-<time>.json.
//
//	go run ./bench/cmd/clusterbench                  # 100,000 clients over 6 servers, ours then Node
//	go run ./bench/cmd/clusterbench -quick           # 2,000 clients over 3 servers (CI, < 30 s per target)
//	go run ./bench/cmd/clusterbench -targets sio -clients 50000 -servers 8
//	go run ./bench/cmd/clusterbench -report bench/results/cluster-A.json   # the tables again
//
// It exits non-zero when a run is incomplete: a client that did not
// connect, a connected client that missed a broadcast or got one twice, a
// server, loadgen or Redis that failed or died. Timing is reported, never
// asserted.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"sio/bench/internal/load"
	"sio/bench/internal/proc"
	"sio/bench/internal/results"
)

// fdLimit is the hard limit of open files per process here; a loadgen
// process is given at most maxPerLoadgen sockets and a server at most
// this less a margin.
const fdLimit = 20000

type options struct {
	quick                   bool
	targets                 []string
	servers, clients        int
	nodeClients, nodeServer int
	broadcasts              int
	interval, drain, settle time.Duration
	perLoadgen, inflight    int
	rampTimeout             time.Duration
	redisArgs               []string
	root, tmp               string
	logw                    io.Writer
}

func main() {
	var (
		o       options
		targets = flag.String("targets", "sio,node", "comma list of sio (ours), node")
		out     = flag.String("out", "", "results JSON (default bench/results/cluster-<time>.json)")
		reportF = flag.String("report", "", "only print the tables of these results JSON files (comma list)")
	)
	flag.BoolVar(&o.quick, "quick", false, "2,000 clients over 3 servers, 3 broadcasts 1 s apart (CI)")
	flag.IntVar(&o.clients, "clients", 100000, "clients (one WebSocket each), spread evenly over the servers")
	flag.IntVar(&o.servers, "servers", 6, "server processes per cluster")
	flag.IntVar(&o.nodeClients, "node-clients", 0, "clients of the Node cluster (default: -clients)")
	flag.IntVar(&o.nodeServer, "node-servers", 0, "server processes of the Node cluster (default: -servers)")
	flag.IntVar(&o.broadcasts, "broadcasts", 5, "broadcasts, each to every client (at most 64)")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "time between two broadcasts")
	flag.DurationVar(&o.drain, "drain", 15*time.Second, "how long deliveries are still awaited after the last broadcast's slot")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "pause between the last connection and the memory reading")
	flag.IntVar(&o.perLoadgen, "per-loadgen", 18000, "most clients one loadgen process holds (open files: 20,000 per process)")
	flag.IntVar(&o.inflight, "inflight", 128, "handshakes in flight per loadgen process")
	flag.DurationVar(&o.rampTimeout, "ramp-timeout", 5*time.Minute, "longest wait for every client to connect")
	flag.Func("redis-set", `a redis-server directive for the run, "name value…" (repeatable), e.g. "client-output-buffer-limit pubsub 64mb 16mb 60"`,
		func(s string) error {
			name, val, _ := strings.Cut(strings.TrimSpace(s), " ")
			if name == "" {
				return fmt.Errorf("empty directive")
			}
			o.redisArgs = append(o.redisArgs, "--"+name, strings.TrimSpace(val))
			return nil
		})
	flag.StringVar(&o.root, "root", ".", "repository root (holds go.mod of module sio)")
	flag.Parse()

	if *reportF != "" {
		for _, p := range strings.Split(*reportF, ",") {
			b, err := os.ReadFile(strings.TrimSpace(p))
			if err != nil {
				fatal(err)
			}
			var r Result
			if err := json.Unmarshal(b, &r); err != nil {
				fatal(fmt.Errorf("%s: %w", p, err))
			}
			fmt.Print(markdown(&r))
		}
		return
	}
	if o.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("clients", func() { o.clients = 2000 })
		def("servers", func() { o.servers = 3 })
		def("broadcasts", func() { o.broadcasts = 3 })
		def("interval", func() { o.interval = time.Second })
		def("drain", func() { o.drain = 3 * time.Second })
		def("settle", func() { o.settle = time.Second })
		def("ramp-timeout", func() { o.rampTimeout = time.Minute })
	}
	if o.nodeClients <= 0 {
		o.nodeClients = o.clients
	}
	if o.nodeServer <= 0 {
		o.nodeServer = o.servers
	}
	o.targets = splitList(*targets)
	if err := o.check(); err != nil {
		fatal(err)
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !strings.Contains(string(data), "module sio\n") {
		fatal(fmt.Errorf("%s is not the repository root (no go.mod of module sio); run from the root or pass -root", root))
	}
	o.root = root

	t0 := time.Now()
	id := t0.UTC().Format("20060102-150405")
	resDir := filepath.Join(root, "bench", "results")
	if err := os.MkdirAll(resDir, 0o755); err != nil {
		fatal(err)
	}
	if *out == "" {
		*out = filepath.Join(resDir, "cluster-"+id+".json")
	}
	logPath := strings.TrimSuffix(*out, ".json") + "-servers.log"
	logf, err := os.Create(logPath)
	if err != nil {
		fatal(err)
	}
	defer logf.Close()
	o.logw = logf
	o.tmp, err = os.MkdirTemp("", "clusterbench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(o.tmp)

	res := &Result{Run: id, Date: t0.UTC().Format(time.RFC3339), Quick: o.quick, Command: "clusterbench " + strings.Join(os.Args[1:], " "),
		Machine: proc.Describe(), Versions: map[string]string{}, Config: o.config()}
	bins, err := prepare(&o, res)
	if err != nil {
		fatal(err)
	}
	for _, t := range o.targets {
		tr := runTarget(&o, bins, t)
		res.Targets = append(res.Targets, tr)
		for _, why := range tr.Incomplete {
			res.Failures = append(res.Failures, tr.Target+": "+why)
		}
		save(res, *out, t0)
	}
	save(res, *out, t0)
	md := markdown(res)
	fmt.Print(md)
	os.WriteFile(strings.TrimSuffix(*out, ".json")+".md", []byte(md), 0o644)
	logln("results in %s (servers' output in %s)", rel(root, *out), rel(root, logPath))
	if len(res.Failures) > 0 {
		for _, f := range res.Failures {
			logln("INCOMPLETE: %s", f)
		}
		os.Exit(1)
	}
}

func (o *options) check() error {
	if len(o.targets) == 0 {
		return fmt.Errorf("no target")
	}
	for _, t := range o.targets {
		if t != "sio" && t != "node" {
			return fmt.Errorf("unknown target %q (have sio, node)", t)
		}
	}
	if o.broadcasts < 1 || o.broadcasts > load.MaxTracked {
		return fmt.Errorf("-broadcasts: 1 to %d", load.MaxTracked)
	}
	if o.interval <= 0 {
		return fmt.Errorf("-interval must be positive")
	}
	if o.perLoadgen < 1 || o.perLoadgen > fdLimit-1000 {
		return fmt.Errorf("-per-loadgen: 1 to %d (open files)", fdLimit-1000)
	}
	for _, sz := range [][2]int{{o.clients, o.servers}, {o.nodeClients, o.nodeServer}} {
		if sz[1] < 2 || sz[0] < sz[1] {
			return fmt.Errorf("need at least 2 servers and a client per server (%d clients, %d servers)", sz[0], sz[1])
		}
		// Each server holds its share of the sockets, and the process's own
		// files and Redis connections; one process is capped at 20,000.
		if per := (sz[0] + sz[1] - 1) / sz[1]; per > fdLimit-500 {
			return fmt.Errorf("%d clients per server: more than one process can hold (%d open files); use more servers", per, fdLimit)
		}
	}
	return nil
}

func (o *options) config() Config {
	return Config{Servers: o.servers, Clients: o.clients, NodeServers: o.nodeServer, NodeClients: o.nodeClients,
		Broadcasts: o.broadcasts, IntervalS: o.interval.Seconds(), DrainS: o.drain.Seconds(), SettleS: o.settle.Seconds(),
		PerLoadgen: o.perLoadgen, Inflight: o.inflight, RedisArgs: o.redisArgs}
}

// binaries is what prepare built or found.
type binaries struct {
	loadgen, sio, redis string
	node, nodeDir       string
	nodeErr             string // why the Node target cannot run
}

// prepare builds loadgen and target-sio, finds redis-server, and installs
// the Node target's modules when needed.
func prepare(o *options, res *Result) (*binaries, error) {
	b := &binaries{loadgen: filepath.Join(o.tmp, "loadgen"), sio: filepath.Join(o.tmp, "target-sio")}
	v := res.Versions
	v["go"] = strings.TrimSpace(output(o.root, "go", "env", "GOVERSION"))
	v["commit"] = strings.TrimSpace(output(o.root, "git", "rev-parse", "--short", "HEAD"))
	if strings.TrimSpace(output(o.root, "git", "status", "--porcelain", "--untracked-files=no")) != "" {
		v["commit"] += " (with uncommitted changes)"
	}
	var err error
	if b.redis, err = exec.LookPath("redis-server"); err != nil {
		return nil, fmt.Errorf("redis-server is not installed (apt-get install -y redis-server; make deps does)")
	}
	v["redis-server"] = strings.TrimSpace(output(o.root, b.redis, "--version"))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, bd := range [][2]string{{b.loadgen, "./bench/cmd/loadgen"}, {b.sio, "./bench/cmd/target-sio"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			logln("go build -o %s %s", filepath.Base(bd[0]), bd[1])
			cmd := exec.Command("go", "build", "-o", bd[0], bd[1])
			cmd.Dir = o.root
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %v: %s", bd[1], err, strings.TrimSpace(string(out)))
			}
		}()
	}
	if contains(o.targets, "node") {
		prepareNode(o, b, v)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

func prepareNode(o *options, b *binaries, v map[string]string) {
	b.nodeDir = filepath.Join(o.root, "bench", "targets", "node")
	node, errN := exec.LookPath("node")
	_, errP := exec.LookPath("npm")
	if errN != nil || errP != nil {
		b.nodeErr = "node or npm is not installed"
		return
	}
	b.node = node
	v["node"] = strings.TrimSpace(output(b.nodeDir, node, "--version"))
	lock := filepath.Join(b.nodeDir, "package-lock.json")
	installed := filepath.Join(b.nodeDir, "node_modules", ".package-lock.json")
	li, err1 := os.Stat(lock)
	ii, err2 := os.Stat(installed)
	if err1 != nil || err2 != nil || ii.ModTime().Before(li.ModTime()) {
		logln("npm ci in %s", rel(o.root, b.nodeDir))
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = b.nodeDir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.nodeErr = fmt.Sprintf("npm ci: %v: %s", err, strings.TrimSpace(string(out)))
			return
		}
	}
	for _, pkg := range []string{"socket.io", "@socket.io/redis-adapter", "redis", "@redis/client"} {
		var pj struct{ Version string }
		if data, err := os.ReadFile(filepath.Join(b.nodeDir, "node_modules", pkg, "package.json")); err == nil && json.Unmarshal(data, &pj) == nil {
			v["npm "+pkg] = pj.Version
		}
	}
}

// runTarget runs the scenario on one kind of cluster.
func runTarget(o *options, b *binaries, target string) *TargetResult {
	tr := &TargetResult{Target: target, Status: "ok"}
	nServers, nClients := o.servers, o.clients
	switch target {
	case "sio":
		tr.Label = "sio (ours) + sio/redisadapter"
	case "node":
		tr.Label = "Node socket.io 4.8 + @socket.io/redis-adapter 8.3"
		nServers, nClients = o.nodeServer, o.nodeClients
		if b.nodeErr != "" {
			if os.Getenv("CI") == "" {
				tr.Status, tr.Reason = "skipped", b.nodeErr
				logln("node cluster skipped: %s", b.nodeErr)
				return tr
			}
			tr.fail("%s (required when $CI is set)", b.nodeErr)
			return tr
		}
	}
	tr.Clients = nClients
	logln("== %s: %d clients over %d servers, one Redis", tr.Label, nClients, nServers)
	fmt.Fprintf(o.logw, "== %s\n", tr.Label)

	// Redis.
	dir, _ := os.MkdirTemp(o.tmp, "redis-")
	redis, err := startRedis(b.redis, dir, o.redisArgs, &prefixWriter{w: o.logw, prefix: "[redis] "})
	if err != nil {
		tr.fail("redis: %v", err)
		return tr
	}
	defer redis.stop()
	tr.Redis.PID, tr.Redis.Port, tr.Redis.Args = redis.pid, redis.port, redis.args
	tr.Redis.Fresh = redisSnap(redis)

	// Servers, started together.
	servers := make([]*server, nServers)
	errs := make([]error, nServers)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cmd *exec.Cmd
			id := fmt.Sprintf("%s-%d", map[string]string{"sio": "go", "node": "node"}[target], i)
			switch target {
			case "sio":
				cmd = exec.Command(b.sio, "-addr", "127.0.0.1:0", "-redis", redis.url(), "-server-id", id)
			case "node":
				cmd = exec.Command(b.node, "--expose-gc", "server.js", "-addr", "127.0.0.1:0", "-redis", redis.url(), "-server-id", id)
				cmd.Dir = b.nodeDir
			}
			servers[i], errs[i] = startServer(id, cmd, o.logw, 60*time.Second)
		}()
	}
	wg.Wait()
	defer func() {
		for _, s := range servers {
			if s != nil && s.alive() {
				s.kill()
			}
		}
	}()
	for _, err := range errs {
		if err != nil {
			tr.fail("server: %v", err)
		}
	}
	if len(tr.Incomplete) > 0 {
		return tr
	}
	// Every node subscribed: each has the request channel of "/".
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	n, err := waitNumSub(ctx, redis, "socket.io-request#/#", nServers)
	cancel()
	tr.Redis.NumSub = n
	if err != nil {
		tr.fail("cluster not formed: %v", err)
		return tr
	}
	ours := target == "sio"
	for i, s := range servers {
		tr.Servers = append(tr.Servers, ServerResult{ID: s.id, Addr: s.addr, PID: s.pid, Fresh: s.snapshot(ours)})
		_ = i
	}

	// Load generators: each server's share of the clients, in processes of
	// at most perLoadgen sockets, each from its own 127.0.0.x addresses.
	// The sender (one more client) is on the first server.
	var lgs []*lgProc
	base := 0
	share := func(si int) int { return nClients/nServers + b2i(si < nClients%nServers) }
	procsOf := func(si int) int { return (share(si) + b2i(si == 0) + o.perLoadgen - 1) / o.perLoadgen }
	total := 0
	for si := range servers {
		total += procsOf(si)
	}
	for si, s := range servers {
		share, procs := share(si), procsOf(si)
		tr.Servers[si].Clients = share
		for k := 0; k < procs; k++ {
			part := share/procs + b2i(k < share%procs)
			g := len(lgs)
			src, err := sources(g, total)
			if err != nil {
				tr.fail("%v", err)
				break
			}
			args := []string{"-control", "-proc", strconv.Itoa(g), "-addr", s.addr, "-scenario", "idle",
				"-clients", strconv.Itoa(part), "-id-base", strconv.Itoa(base), "-rooms", "0", "-src", src,
				"-max-clients", strconv.Itoa(fdLimit - 1000), "-inflight", strconv.Itoa(o.inflight)}
			if g == 0 {
				args = append(args, "-sender")
			}
			base += part
			p, err := startLoadgen(b.loadgen, g, si, args, os.Stderr)
			if err != nil {
				tr.fail("loadgen: %v", err)
				break
			}
			lgs = append(lgs, p)
			tr.Loadgens = append(tr.Loadgens, LoadgenInfo{Proc: g, Server: s.id, Clients: part, Sender: g == 0,
				Command: "loadgen " + strings.Join(args, " ")})
		}
	}
	if len(tr.Incomplete) > 0 {
		killLoadgens(lgs)
		return tr
	}
	logln("%d loadgen processes connecting %d clients (+1 sender)", len(lgs), nClients)
	ramps, err := ramped(lgs, o.rampTimeout)
	if err != nil {
		tr.fail("ramp: %v", err)
		killLoadgens(lgs)
		return tr
	}
	tr.Ramp = results.MergeRamps(ramps)
	logln("connected %d/%d in %.1fs (%.0f/s), %d failed, errors %v", tr.Ramp.Connected, tr.Ramp.Clients, tr.Ramp.Seconds,
		tr.Ramp.Rate, tr.Ramp.Failed, tr.Ramp.Errors)
	if tr.Ramp.Failed > 0 || tr.Ramp.Connected < tr.Ramp.Clients {
		tr.fail("%d of %d clients did not connect (errors %v)", tr.Ramp.Clients-tr.Ramp.Connected, tr.Ramp.Clients, tr.Ramp.Errors)
	}
	if tr.Ramp.Connected == 0 {
		killLoadgens(lgs)
		return tr
	}
	time.Sleep(o.settle)
	for i, s := range servers {
		tr.Servers[i].Connected = s.snapshot(ours)
	}
	tr.Redis.Connected = redisSnap(redis)

	// The broadcasts: one bcastall every interval from the sender, a slot
	// of interval/2 after the last, then the drain.
	spec := load.PhaseSpec{Name: "broadcast", Kind: "bcast", Event: "bcastall", Track: true,
		Rate:     1 / o.interval.Seconds(),
		Duration: time.Duration(o.broadcasts-1)*o.interval + o.interval/2,
		Drain:    o.drain,
		Start:    time.Now().Add(500 * time.Millisecond).UnixNano()}
	cpu0 := make([]float64, len(servers))
	for i, s := range servers {
		cpu0[i] = s.cpu()
	}
	redisCPU0, _ := proc.CPU(redis.pid)
	m0 := machineCPU()
	logln("%d broadcasts, %s apart, then %s of drain", o.broadcasts, o.interval, o.drain)
	stopSampling := make(chan struct{})
	sampled := make(chan []CPUSample, 1)
	go func() { sampled <- sampleCPU(servers, 250*time.Millisecond, stopSampling) }()
	phases, err := runPhase(lgs, spec)
	close(stopSampling)
	tr.Window.Samples = <-sampled
	m1 := machineCPU()
	if err != nil {
		tr.fail("broadcast phase: %v", err)
		killLoadgens(lgs)
		return tr
	}
	redisCPU1, _ := proc.CPU(redis.pid)
	tr.Window.Seconds, tr.Window.DrainSeconds, tr.Window.RedisCPU = spec.Duration.Seconds(), spec.Drain.Seconds(), redisCPU1-redisCPU0
	tr.Window.Elapsed = time.Since(time.Unix(0, spec.Start)).Seconds()
	if m1.total > m0.total {
		tr.Window.MachineBusy = (m1.busy - m0.busy) / (m1.total - m0.total)
	}
	for i, s := range servers {
		tr.Servers[i].WindowCPU = s.cpu() - cpu0[i]
		tr.Window.ServerCPU += tr.Servers[i].WindowCPU
		tr.Servers[i].After = s.snapshot(ours)
	}
	tr.Redis.After = redisSnap(redis)
	if out, err := redisDo(redis.addr(), "CLIENT", "LIST", "TYPE", "pubsub"); err == nil {
		tr.Redis.PubSubClients = strings.Split(strings.TrimSpace(out), "\n")
	}
	byServer := make([][]results.Phase, len(servers))
	for i, p := range lgs {
		tr.Loadgens[i].Phase = phases[i]
		byServer[p.server] = append(byServer[p.server], phases[i])
	}
	for i := range servers {
		tr.Servers[i].Phase = results.MergePhases(byServer[i])
	}
	tr.Phase = results.MergePhases(phases)

	finals, err := stopLoadgens(lgs)
	if err != nil {
		tr.fail("loadgen: %v", err)
	}
	for i, f := range finals {
		if f != nil {
			tr.Loadgens[i].CPU, tr.Loadgens[i].MaxRSSKB = f.CPU, f.MaxRSSKB
		}
	}
	for _, s := range servers {
		if err := s.stop(); err != nil {
			tr.fail("%v", err)
		}
	}
	if !redis.alive() {
		tr.fail("redis-server died: %s", redis.tail.String())
	}
	tr.verify(o.broadcasts)
	logln("%s: %s", tr.Target, tr.summary())
	return tr
}

// verify checks completeness: every broadcast sent, every connected client
// got each exactly once.
func (tr *TargetResult) verify(broadcasts int) {
	p := &tr.Phase
	if p.Sent != int64(broadcasts) {
		tr.fail("%d broadcasts sent, %d asked", p.Sent, broadcasts)
	}
	if p.Tracked == 0 {
		tr.fail("no client was connected when the broadcasts began")
		return
	}
	if missed := int64(p.Tracked) - p.Got[int(p.Sent)]; missed > 0 {
		tr.fail("%d of %d connected clients missed at least one broadcast (received/expected %d/%d)",
			missed, p.Tracked, tr.received(), tr.expected())
	}
	if p.Dupes > 0 {
		tr.fail("%d broadcasts received twice", p.Dupes)
	}
	if len(p.Sends) != int(p.Sent) {
		tr.fail("%d broadcasts sent, %d seen by any client", p.Sent, len(p.Sends))
	}
	for _, s := range p.Sends {
		if s.N != int64(p.Tracked) {
			tr.fail("broadcast %d reached %d of %d clients", s.Seq, s.N, p.Tracked)
		}
	}
}

func (tr *TargetResult) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if tr.Status == "ok" {
		tr.Status = "incomplete"
	}
	tr.Incomplete = append(tr.Incomplete, msg)
	logln("%s: INCOMPLETE: %s", tr.Target, msg)
}

// waitNumSub waits until channel has want subscribers.
func waitNumSub(ctx context.Context, r *redisProc, channel string, want int) (int, error) {
	n := 0
	for {
		if s, err := redisDo(r.addr(), "PUBSUB", "NUMSUB", channel); err == nil {
			if f := strings.Split(s, "\n"); len(f) == 2 {
				n, _ = strconv.Atoi(f[1])
			}
		}
		if n >= want {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, fmt.Errorf("%d of %d servers subscribed to %s", n, want, channel)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sampleCPU records the servers' summed CPU every step until stop.
func sampleCPU(servers []*server, step time.Duration, stop chan struct{}) []CPUSample {
	var out []CPUSample
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		var c float64
		for _, s := range servers {
			c += s.cpu()
		}
		out = append(out, CPUSample{T: time.Now().UnixNano(), CPU: c})
		select {
		case <-stop:
			return out
		case <-t.C:
		}
	}
}

// redisSnap reads the Redis process's RSS and its INFO clients, memory and
// stats.
func redisSnap(r *redisProc) RedisSnap {
	m, _ := proc.Memory(r.pid)
	s := RedisSnap{RSSKB: m.RSS, Info: map[string]string{}}
	for _, sec := range []string{"clients", "memory", "stats"} {
		for k, v := range r.info(sec) {
			s.Info[k] = v
		}
	}
	return s
}

// sources gives loadgen process g of total its own 16 addresses
// 127.0.0.(2+16g)…, or 8 each when there are more than 15 processes.
func sources(g, total int) (string, error) {
	n := 16
	if 2+total*n-1 > 254 {
		n = 8
	}
	first := 2 + g*n
	if first+n-1 > 254 {
		return "", fmt.Errorf("loadgen %d of %d: no 127.0.0.x addresses left", g, total)
	}
	return fmt.Sprintf("127.0.0.%d-127.0.0.%d", first, first+n-1), nil
}

func save(res *Result, path string, t0 time.Time) {
	res.Seconds = math.Round(time.Since(t0).Seconds()*10) / 10
	data, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		fatal(err)
	}
}

func output(dir, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, _ := cmd.Output()
	return string(out)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
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

func logln(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "clusterbench: "+format+"\n", args...)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "clusterbench:", err)
	os.Exit(1)
}
