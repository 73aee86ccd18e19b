// Command chatbench benchmarks the chat gateway (cmd/server) under a chat
// load: it builds and starts the server, connects U users as Socket.IO v5
// WebSocket clients (JWT in CONNECT auth), puts them in channels of C
// members, and for D has each user type and send a message every ~20 s and
// change their presence every ~5 min, everyone receiving the fan-out. It
// measures ack and delivery latency, deliveries expected vs received, events
// per second, and the server's CPU and memory from /proc, prints a markdown
// table and writes the figures as JSON.
//
//	go run ./bench/cmd/chatbench                 # 2,000 users, 60 s: make bench-chat
//	go run ./bench/cmd/chatbench -quick          # 200 users, 10 s: part of make bench-quick
//	go run ./bench/cmd/chatbench -users 5000
//	go run ./bench/cmd/chatbench -report a.json,b.json   # the table of earlier runs, side by side
//
// It exits non-zero only when the run is incomplete (the server does not
// build, start or stay up, no user connects, no message is acknowledged),
// never because of a timing.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sio/bench/internal/proc"
	"sio/gateway"
)

type options struct {
	users, channelSize, concurrency, sources int
	duration, msgInterval, presence          time.Duration
	leadMin, leadMax, settle, maxDrain       time.Duration
	warmup                                   time.Duration
	typingStop                               float64
	rateLimits                               string
	seed                                     uint64
}

// run is one benchmark run's shared state.
type run struct {
	counters
	opt        options
	users      []*user
	shards     []*shard
	members    []atomic.Int32 // joined users per channel
	typingAt   []atomic.Int64 // mono() of each user's last typing:start
	presenceAt []atomic.Int64 // mono() of each user's last presence:update
}

func main() {
	var (
		o       options
		quick   = flag.Bool("quick", false, "200 users for 10 s (CI)")
		out     = flag.String("out", "", "results JSON (default bench/results/chat-<time>.json)")
		root    = flag.String("root", ".", "repository root (holds go.mod of module sio)")
		bin     = flag.String("server", "", "a built cmd/server to run instead of building one")
		reportF = flag.String("report", "", "only print the table of these results JSON files (comma list)")
	)
	flag.IntVar(&o.users, "users", 2000, "users (one WebSocket each)")
	flag.IntVar(&o.channelSize, "channel-size", 50, "members per channel (each user joins one)")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "measured window")
	flag.DurationVar(&o.warmup, "warmup", 10*time.Second, "load before the window, not counted (the typing timeouts reach their steady rate)")
	flag.DurationVar(&o.msgInterval, "msg-interval", 20*time.Second, "mean time between a user's messages (each 0.5–1.5× this)")
	flag.DurationVar(&o.leadMin, "typing-lead-min", time.Second, "typing:start at least this long before the message")
	flag.DurationVar(&o.leadMax, "typing-lead-max", 2*time.Second, "and at most this long")
	flag.Float64Var(&o.typingStop, "typing-stop", 0.5, "share of users who send typing:stop after their message (the others let typing time out)")
	flag.DurationVar(&o.presence, "presence-interval", 5*time.Minute, "mean time between a user's presence:update")
	flag.IntVar(&o.concurrency, "connect-concurrency", 64, "connections in flight while users connect")
	flag.IntVar(&o.sources, "sources", 16, "source addresses 127.0.0.2 … (one per ~15,000 sockets is enough)")
	flag.DurationVar(&o.settle, "settle", 2*time.Second, "pause between the last join and the window")
	flag.DurationVar(&o.maxDrain, "max-drain", 15*time.Second, "longest wait after the window for acks and deliveries")
	flag.StringVar(&o.rateLimits, "rate-limits", "connection=1000000/1m",
		"RATE_LIMITS of the server; the default lifts only the per-IP connection limit (every user comes from a few loopback addresses)")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed of the schedules")
	flag.Parse()

	if *reportF != "" {
		var runs []*Result
		for _, p := range strings.Split(*reportF, ",") {
			b, err := os.ReadFile(strings.TrimSpace(p))
			if err != nil {
				fatal(err)
			}
			var r Result
			if err := json.Unmarshal(b, &r); err != nil {
				fatal(fmt.Errorf("%s: %w", p, err))
			}
			runs = append(runs, &r)
		}
		fmt.Print(markdown(runs))
		return
	}
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["users"] {
			o.users = 200
		}
		if !set["duration"] {
			o.duration = 10 * time.Second
		}
		if !set["settle"] {
			o.settle = time.Second
		}
		if !set["warmup"] {
			o.warmup = 3 * time.Second
		}
	}
	if o.users < 1 || o.channelSize < 1 || o.duration <= 0 || o.warmup < 0 || o.msgInterval <= 0 || o.presence <= 0 ||
		o.leadMin < 0 || o.leadMax < o.leadMin || o.concurrency < 1 || o.sources < 1 || o.sources > 250 {
		fatal(errors.New("bad flags: sizes and durations must be positive, typing-lead-min ≤ typing-lead-max, 1 ≤ sources ≤ 250"))
	}
	res, incomplete := bench(o, *quick, *root, *bin, *out)
	if res != nil {
		fmt.Print("\n" + markdown([]*Result{res}))
	}
	if len(incomplete) > 0 {
		fmt.Fprintln(os.Stderr, "chatbench: INCOMPLETE:")
		for _, s := range incomplete {
			fmt.Fprintln(os.Stderr, "  - "+s)
		}
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "chatbench: "+format+"\n", args...)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "chatbench:", err)
	os.Exit(1)
}

// bench does the run; it returns the result (nil when nothing could be
// measured) and what made the run incomplete.
func bench(o options, quick bool, root, bin, out string) (*Result, []string) {
	rootAbs, err := filepath.Abs(root)
	if err != nil {
		fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rootAbs, "go.mod")); err != nil {
		fatal(fmt.Errorf("-root %s: no go.mod (run from the repository root)", root))
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	if out == "" {
		out = filepath.Join(rootAbs, "bench", "results", "chat-"+stamp+".json")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		fatal(err)
	}
	logPath := strings.TrimSuffix(out, ".json") + "-server.log"
	channels := (o.users + o.channelSize - 1) / o.channelSize
	res := &Result{
		Run:       "chat-" + stamp,
		Date:      time.Now().UTC().Format(time.RFC3339),
		Quick:     quick,
		Command:   strings.Join(append([]string{"chatbench"}, os.Args[1:]...), " "),
		Commit:    gitCommit(rootAbs),
		GoVersion: runtime.Version(),
		Machine:   proc.Describe(),
		Config: Config{Users: o.users, ChannelSize: o.channelSize, Channels: channels, DurationS: o.duration.Seconds(),
			MsgIntervalS: o.msgInterval.Seconds(), TypingLeadS: [2]float64{o.leadMin.Seconds(), o.leadMax.Seconds()},
			TypingStopShare: o.typingStop, PresenceIntervalS: o.presence.Seconds(), ConnectConcurrency: o.concurrency,
			Sources: o.sources, RateLimits: o.rateLimits, Seed: o.seed},
		Errors: map[string]int64{},
	}
	var incomplete []string
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		incomplete = append(incomplete, msg)
		logf("INCOMPLETE: %s", msg)
	}

	// 1. Build and start the server.
	if bin == "" {
		tmp, err := os.MkdirTemp("", "chatbench-")
		if err != nil {
			fatal(err)
		}
		defer os.RemoveAll(tmp)
		logf("go build ./cmd/server")
		if bin, err = buildServer(rootAbs, tmp); err != nil {
			fail("%v", err)
			return nil, incomplete
		}
	}
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(rand.Uint32())
	}
	env := []string{"JWT_SECRET=" + fmt.Sprintf("%x", secret), "LOG_LEVEL=warn", "RATE_LIMITS=" + o.rateLimits}
	res.Config.ServerEnv = []string{"JWT_SECRET=<random>", "LOG_LEVEL=warn", "RATE_LIMITS=" + o.rateLimits, "HOST=127.0.0.1", "PORT=<free>"}
	logFile, err := os.Create(logPath)
	if err != nil {
		fatal(err)
	}
	defer logFile.Close()
	res.Server.Log = logPath
	srv, err := startServer(bin, env, logFile)
	if err != nil {
		fail("server: %v", err)
		return nil, incomplete
	}
	defer func() {
		if srv.alive() {
			srv.kill()
		}
	}()
	res.Server.PID = srv.pid
	logf("server pid %d on %s", srv.pid, srv.addr)
	time.Sleep(500 * time.Millisecond)
	res.Server.RSSBefore, _ = proc.Memory(srv.pid)

	// 2. Users: tokens, connections, joins.
	r := &run{opt: o, users: make([]*user, o.users), members: make([]atomic.Int32, channels),
		typingAt: make([]atomic.Int64, o.users), presenceAt: make([]atomic.Int64, o.users)}
	for i := 0; i < nShards; i++ {
		r.shards = append(r.shards, &shard{})
	}
	tokens := make([]string, o.users)
	for i := range r.users {
		name := "u" + strconv.Itoa(i)
		tok, err := gateway.MintHS256([]byte(fmt.Sprintf("%x", secret)), gateway.Claims{UserID: name, Name: "User " + strconv.Itoa(i),
			Channels: []string{"*"}, Expires: time.Now().Add(2 * time.Hour)}, "", "")
		if err != nil {
			fatal(err)
		}
		tokens[i] = tok
		r.users[i] = &user{r: r, idx: i, name: name, ch: i / o.channelSize, sh: r.shards[i%nShards],
			acks: make(map[int]pending), joinAck: make(chan bool, 1)}
	}
	logf("connecting %d users (%d in flight), %d channels of %d", o.users, o.concurrency, channels, o.channelSize)
	connStart := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var connected, joined atomic.Int64
	connErrs := &counters{}
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				u := r.users[i]
				src := net.IPv4(127, 0, 0, byte(2+i%o.sources))
				t := mono()
				if err := u.connect(context.Background(), srv.addr, src, tokens[i]); err != nil {
					connErrs.errorf(errKind(err))
					continue
				}
				u.sh.record(&u.sh.handshake, mono()-t)
				connected.Add(1)
				go u.readLoop()
				if err := u.emit(kJoin, []byte(`{"channelId":"`+channelID(u.ch)+`"}`), false); err != nil {
					connErrs.errorf("join: write failed")
					continue
				}
				select {
				case ok := <-u.joinAck:
					if ok {
						u.joined = true
						r.members[u.ch].Add(1)
						joined.Add(1)
					}
				case <-time.After(20 * time.Second):
					connErrs.errorf("join: no ack in 20s")
				}
			}
		}()
	}
	for i := range r.users {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	cs := time.Since(connStart).Seconds()
	m := merged(r.shards)
	res.Connect = Connect{Attempted: o.users, Connected: int(connected.Load()), Joined: int(joined.Load()), Seconds: cs,
		Rate: float64(joined.Load()) / cs, Handshake: m.handshake.Clone(), Join: m.join.Clone(), Errors: connErrs.errorsCopy()}
	for k, v := range res.Connect.Errors {
		res.Errors["connect: "+k] += v
	}
	logf("%d of %d users connected and joined in %.2fs", joined.Load(), o.users, cs)
	if joined.Load() == 0 {
		fail("no user connected and joined (errors: %v; server: %s)", res.Connect.Errors, srv.tail.String())
		closeAll(r)
		return res, incomplete
	}
	if !srv.alive() {
		fail("the server exited while users connected: %v", srv.waitErr)
		return res, incomplete
	}
	// Joined users only take part; the others are closed.
	active := r.users[:0:0]
	for _, u := range r.users {
		if u.joined && !u.dead.Load() {
			active = append(active, u)
		}
	}
	time.Sleep(o.settle)
	res.Server.RSSConnected, _ = proc.Memory(srv.pid)
	res.Server.PromConnected, _ = srv.metrics()

	// 3. The measured window.
	logf("load for %s + %s: a message every ~%s per user (typing:start %s–%s before), presence every ~%s",
		o.warmup, o.duration, o.msgInterval, o.leadMin, o.leadMax, o.presence)
	start := make(chan struct{})
	var sched sync.WaitGroup
	for _, u := range active {
		sched.Add(1)
		go func() {
			defer sched.Done()
			u.schedule(start)
		}()
	}
	t0 := mono() + int64(o.warmup)
	r.t0.Store(t0)
	r.tEnd.Store(t0 + int64(o.duration))
	r.phase.Store(phaseMeasure)
	close(start)
	died := false
	for mono() < t0 && !died {
		time.Sleep(min(100*time.Millisecond, time.Duration(t0-mono())))
		died = !srv.alive()
	}
	cpu0u, cpu0s := cpuSplit(srv.pid)
	self0u, self0s := cpuSplit(os.Getpid())
	mach0 := machineCPU()
	sampleEvery := 5 * time.Second
	if quick {
		sampleEvery = 2 * time.Second
	}
	nextSample := time.Now().Add(sampleEvery)
	interval(r.shards) // the warm-up's acks are not the first sample's
	lastMach := mach0
	for !died && mono() < r.tEnd.Load() {
		time.Sleep(min(100*time.Millisecond, time.Duration(r.tEnd.Load()-mono())))
		if !srv.alive() {
			died = true
			break
		}
		if time.Now().After(nextSample) {
			nextSample = nextSample.Add(sampleEvery)
			mem, _ := proc.Memory(srv.pid)
			u, s := cpuSplit(srv.pid)
			mach := machineCPU()
			iv := interval(r.shards)
			smp := Sample{T: float64(mono()-t0) / 1e9, RSSKB: mem.RSS, CPU: u + s - cpu0u - cpu0s,
				Acks: int64(iv.Count()), AckP50ms: float64(iv.Quantile(0.5)) / 1e6, AckP99ms: float64(iv.Quantile(0.99)) / 1e6}
			if dt := mach.total - lastMach.total; dt > 0 {
				smp.MachineBusyPct = 100 * (mach.busy - lastMach.busy) / dt
			}
			lastMach = mach
			res.Window.Samples = append(res.Window.Samples, smp)
		}
	}
	cpu1u, cpu1s := cpuSplit(srv.pid)
	self1u, self1s := cpuSplit(os.Getpid())
	mach1 := machineCPU()
	r.phase.Store(phaseDrain)
	logf("window over; draining (acks, deliveries, typing timeouts)")
	sched.Wait()
	drainStart := time.Now()
	for !died && time.Since(drainStart) < o.maxDrain {
		if r.pendingAcks.Load() == 0 && r.drained() {
			break
		}
		if !srv.alive() {
			died = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Window.DrainSeconds = time.Since(drainStart).Seconds()
	res.Window.DrainTimeout = !r.drained() || r.pendingAcks.Load() != 0
	cpu2u, cpu2s := cpuSplit(srv.pid)
	if died {
		fail("the server exited during the run: %v: %s", srv.waitErr, srv.tail.String())
	} else {
		res.Server.RSSEnd, _ = proc.Memory(srv.pid)
		res.Server.PromEnd, _ = srv.metrics()
		if st, b, err := srv.get("/metrics/socket"); err == nil && st == 200 && json.Valid(b) {
			res.Server.Metrics = b
		}
	}
	r.phase.Store(phaseDone)
	if n := r.pendingAcks.Load(); n > 0 {
		r.errorsAdd("ack never received", n)
	}

	// 4. Figures.
	win := o.duration.Seconds()
	m = merged(r.shards)
	var in, outN int64
	for k := kSend; k < nKinds; k++ {
		a := AckStat{Event: kindNames[k], Sent: r.sent[k].Load(), OK: r.ackOK[k].Load(), Err: r.ackErr[k].Load(), Latency: m.ack[k].Clone()}
		res.Acks = append(res.Acks, a)
		in += a.Sent
		outN += a.OK + a.Err
	}
	for d := 0; d < nDeliv; d++ {
		dl := Delivery{Event: delivNames[d], Expected: r.expected[d].Load(), Received: r.recv[d].Load(), Latency: m.deliv[d].Clone()}
		if d == dTypingOff {
			dl.TimedOut = m.typingTimeout.Clone()
		}
		res.Deliveries = append(res.Deliveries, dl)
		outN += dl.Received
	}
	res.Window.Seconds, res.Window.WarmupSeconds = win, o.warmup.Seconds()
	res.Window.EventsIn, res.Window.EventsOut = in, outN
	res.Window.InPerSec, res.Window.OutPerSec = float64(in)/win, float64(outN)/win
	res.Window.Other = r.other.Load()
	res.Server.CPUUser, res.Server.CPUSys = cpu1u-cpu0u, cpu1s-cpu0s
	res.Server.CPUWindow = res.Server.CPUUser + res.Server.CPUSys
	res.Server.CPUWithDrain = cpu2u + cpu2s - cpu0u - cpu0s
	res.Server.PctOfCore = 100 * res.Server.CPUWindow / win
	// Per event: the window's CPU over what the window's events caused.
	// With the warm-up before it, the window is in a steady state: the work
	// it does for the warm-up's late events (typing timeouts) matches what
	// its own leave to the drain.
	if n := res.delivered(); n > 0 {
		res.Server.USPerDelivery = 1e6 * res.Server.CPUWindow / float64(n)
	}
	if n := res.ack("message:send").OK; n > 0 {
		res.Server.USPerMessage = 1e6 * res.Server.CPUWindow / float64(n)
	}
	res.Client.CPUWindow = self1u + self1s - self0u - self0s
	res.Client.PctOfCore = 100 * res.Client.CPUWindow / win
	if dt := mach1.total - mach0.total; dt > 0 {
		res.Client.MachineBusyPct = 100 * (mach1.busy - mach0.busy) / dt
		res.Client.MachineStealPct = 100 * (mach1.steal - mach0.steal) / dt
	}
	for k, v := range r.errorsCopy() {
		res.Errors[k] += v
	}
	if res.ack("message:send").OK == 0 {
		fail("no message:send was acknowledged ok (errors: %v)", res.Errors)
	}

	// 5. Stop the server (graceful: SIGTERM), then the clients.
	if !died {
		code, err := srv.stop(20 * time.Second)
		res.Server.ExitCode = code
		if err != nil {
			logf("server stop: %v", err)
			res.Errors["server: "+err.Error()]++
		} else if code != 0 {
			res.Errors[fmt.Sprintf("server: exit status %d after SIGTERM", code)]++
		}
	} else {
		res.Server.ExitCode = srv.cmd.ProcessState.ExitCode()
	}
	closeAll(r)
	res.Incomplete = incomplete
	save(out, res)
	logf("results: %s (server log: %s)", out, logPath)
	return res, incomplete
}

// drained reports whether every expected delivery arrived.
func (r *run) drained() bool {
	for d := 0; d < nDeliv; d++ {
		if r.recv[d].Load() < r.expected[d].Load() {
			return false
		}
	}
	return true
}

func closeAll(r *run) {
	for _, u := range r.users {
		u.close()
	}
}

func save(path string, res *Result) {
	b, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		fatal(err)
	}
}

func channelID(ch int) string { return "c" + strconv.Itoa(ch) }

// errKind is the count key of a connection error: its prefix ("dial",
// "upgrade", "timeout", "proto", "closed"), or the whole connect_error.
func errKind(err error) string {
	s := err.Error()
	if strings.HasPrefix(s, "connect_error") {
		return s
	}
	k, _, _ := strings.Cut(s, ":")
	return k
}

func gitCommit(root string) string {
	cmd := exec.Command("git", "rev-parse", "--short", "HEAD")
	cmd.Dir = root
	b, _ := cmd.Output()
	return strings.TrimSpace(string(b))
}

// cpuSplit returns a process's user and system CPU seconds (every thread).
func cpuSplit(pid int) (user, sys float64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return u / proc.ClockTicks(), s / proc.ClockTicks()
}

// schedule is a user's load: typing:start, then 1–2 s later message:send
// (and, for some users, typing:stop), every ~msgInterval; presence:update
// every ~presence, from the warm-up's start to the window's end. What is
// sent in the window is counted, with the fan-out it should cause.
func (u *user) schedule(start <-chan struct{}) {
	r, o := u.r, u.r.opt
	rng := rand.New(rand.NewPCG(o.seed, uint64(u.idx)))
	uniform := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(rng.Int64N(int64(hi-lo)))
	}
	stopper := rng.Float64() < o.typingStop
	chID := channelID(u.ch)
	others := int64(r.members[u.ch].Load()) - 1
	<-start
	t0 := time.Now()
	end := t0.Add(o.warmup + o.duration)
	typAt := t0.Add(uniform(0, o.msgInterval))
	sendAt := typAt.Add(uniform(o.leadMin, o.leadMax))
	presAt := t0.Add(uniform(0, o.presence))
	typed := false
	seq := 0
	away := true
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	body := make([]byte, 0, 256)
	for {
		next, act := typAt, kTyping
		if typed {
			next, act = sendAt, kSend
		}
		if presAt.Before(next) {
			next, act = presAt, kPresence
		}
		if !next.Before(end) {
			return
		}
		timer.Reset(time.Until(next))
		<-timer.C
		if u.dead.Load() {
			return
		}
		switch act {
		case kTyping:
			typed = true
			at := mono()
			if at >= r.tEnd.Load() {
				return
			}
			in := at >= r.t0.Load()
			r.typingAt[u.idx].Store(at)
			if in {
				r.sent[kTyping].Add(1)
				r.expected[dTypingOn].Add(others)
				r.expected[dTypingOff].Add(others)
			}
			if err := u.emit(kTyping, []byte(`{"channelId":"`+chID+`"}`), in); err != nil {
				r.errorf("write failed")
				return
			}
		case kSend:
			typed = false
			seq++
			ts := mono()
			if ts >= r.tEnd.Load() {
				return
			}
			body = append(body[:0], `{"channelId":"`...)
			body = append(body, chID...)
			body = append(body, `","text":"message `...)
			body = strconv.AppendInt(body, int64(seq), 10)
			body = append(body, " from "...)
			body = append(body, u.name...)
			body = append(body, `: an ordinary line of chat, about as long as most of them are ts=`...)
			body = strconv.AppendInt(body, ts, 10)
			body = append(body, `","clientMsgId":"`...)
			body = append(body, u.name...)
			body = append(body, '-')
			body = strconv.AppendInt(body, int64(seq), 10)
			body = append(body, `"}`...)
			in := ts >= r.t0.Load()
			if in {
				r.sent[kSend].Add(1)
				r.expected[dMsg].Add(others)
			}
			if err := u.emit(kSend, body, in); err != nil {
				r.errorf("write failed")
				return
			}
			if stopper {
				if in {
					r.sent[kStop].Add(1)
				}
				if err := u.emit(kStop, []byte(`{"channelId":"`+chID+`"}`), in); err != nil {
					r.errorf("write failed")
					return
				}
			}
			sendAt = sendAt.Add(uniform(o.msgInterval/2, o.msgInterval*3/2))
			typAt = sendAt.Add(-uniform(o.leadMin, o.leadMax))
			if now := time.Now(); typAt.Before(now) {
				typAt = now
			}
		case kPresence:
			at := mono()
			if at >= r.tEnd.Load() {
				return
			}
			status := "online"
			if away {
				status = "away"
			}
			away = !away
			in := at >= r.t0.Load()
			r.presenceAt[u.idx].Store(at)
			if in {
				r.sent[kPresence].Add(1)
				r.expected[dPresence].Add(others)
			}
			if err := u.emit(kPresence, []byte(`{"status":"`+status+`"}`), in); err != nil {
				r.errorf("write failed")
				return
			}
			presAt = presAt.Add(uniform(o.presence/2, o.presence*3/2))
		}
	}
}
