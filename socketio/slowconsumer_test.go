package socketio_test

// Slow consumers (issue 5): every connection's queued output is capped.
// Above the soft cap (64 KiB) volatile packets are dropped; above the hard
// cap (loop.Options.MaxOutboundBytes for what the socket holds, plus
// engine.Config.MaxBufferedBytes for what waits behind it) the connection
// is closed with reason "slow consumer"; a polling session's buffer is
// capped by engine.Config.MaxBufferedBytes the same way. (The stall rule,
// loop.Options.WriteStallTimeout, is set out of the way here: these tests
// measure the byte caps.)
//
// Clients that never read sit in a room with a few normal clients while
// the server broadcasts 2 KB packets to it, paced by the normal clients (so
// that they are never slow themselves). The slow ones must be closed as
// slow consumers, the normal ones must get every broadcast exactly once and
// in order, and the server's memory must stay under a bound derived from
// the caps. This file runs 50 slow clients (race detector included);
// slowconsumer_norace_test.go runs 1,000.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sio/engine"
	"sio/internal/testutil"
	"sio/loop"
	"sio/socketio"
)

const (
	slowCap        = 256 << 10 // loop.Options.MaxOutboundBytes + engine.Config.MaxBufferedBytes in these tests
	volatileSoft   = 64 << 10  // engine's volatileSoftCap (not exported)
	slowPayloadLen = 2048
	// slowRcvBuf is the slow clients' SO_RCVBUF. Small, so that the kernel
	// absorbs little before the server's own queue fills; the kernel doubles
	// it and its receive window is about half of that.
	slowRcvBuf = 4096
	// slowMSS is the MSS the slow clients advertise (TCP_MAXSEG), that of
	// an Ethernet path. Loopback's is 65483, and Linux sizes a socket's send
	// buffer from it (tcp_sndbuf_expand: 2 × max(10, cwnd) segments), so on
	// loopback every server socket of a peer that stops reading holds
	// about 1.2 MiB of kernel memory at once — 1.2 GiB for 1,000 of them,
	// which is neither what a real slow consumer costs nor kind to a shared
	// test machine.
	slowMSS = 1460
)

// dialSlow opens a WebSocket session from source address i, connects it
// to "/" and from then on never reads.
func dialSlow(addr string, i int) (net.Conn, error) {
	d := testutil.SourceDialer(i)
	d.Control = func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, slowRcvBuf)
			if serr == nil && os.Getenv("SIO_SLOW_LOOPBACK_MSS") == "" {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, slowMSS)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
	c, err := dialChurnWS(d, addr)
	if err != nil {
		return nil, err
	}
	if err = c.send("40"); err == nil {
		err = c.expect(isConnectAck, "the CONNECT ack")
	}
	if err != nil {
		c.conn.Close()
		return nil, err
	}
	_ = c.conn.SetDeadline(time.Time{})
	return c.conn, nil
}

// memPeak samples the process's memory while a test runs: HeapInuse
// (runtime.ReadMemStats), VmRSS, and the bytes the kernel holds for the
// server's connections — unsent or unacknowledged in the server sockets'
// send queues plus unread in the peers' receive queues (/proc/net/tcp
// tx_queue and rx_queue of every socket with the server's port). Kernel
// buffers are not part of the process's RSS.
type memPeak struct {
	port    int
	stop    chan struct{}
	done    chan struct{}
	heap    atomic.Uint64
	rss     atomic.Int64
	kernel  atomic.Int64
	kernMax atomic.Int64 // the largest kernel total of one connection (both ends)
	samples atomic.Int64
}

func startMemPeak(t testing.TB, port int) *memPeak {
	m := &memPeak{port: port, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if h := ms.HeapInuse; h > m.heap.Load() {
				m.heap.Store(h)
			}
			if r := testutil.ReadRSS(); r > m.rss.Load() {
				m.rss.Store(r)
			}
			if i%20 == 0 { // every 100 ms: /proc/net/tcp lists every socket of the host, TIME_WAIT included
				total, perConn := kernelQueued(port)
				if total > m.kernel.Load() {
					m.kernel.Store(total)
				}
				for _, one := range perConn {
					if one > m.kernMax.Load() {
						m.kernMax.Store(one)
					}
				}
			}
			m.samples.Add(1)
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(m.end)
	return m
}

func (m *memPeak) end() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

// kernelQueued sums tx_queue of the sockets whose local port is port (the
// server's) and rx_queue of those whose remote port is port (its peers), as
// /proc/net/tcp reports them, per connection (keyed by its client end's
// address in /proc/net/tcp form, see procAddr): what the kernel holds of
// the server's output to that peer, sent or not.
func kernelQueued(port int) (total int64, perConn map[string]int64) {
	perConn = map[string]int64{}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, perConn
	}
	defer f.Close()
	hexPort := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 || !strings.Contains(fs[4], ":") {
			continue
		}
		local, remote := fs[1], fs[2]
		tx, rx, _ := strings.Cut(fs[4], ":")
		txn, _ := strconv.ParseInt(tx, 16, 64)
		rxn, _ := strconv.ParseInt(rx, 16, 64)
		switch {
		case strings.HasSuffix(local, hexPort) && remote != "00000000:0000":
			total += txn
			perConn[remote] += txn
		case strings.HasSuffix(remote, hexPort):
			total += rxn
			perConn[local] += rxn
		}
	}
	return total, perConn
}

// procAddr is an IPv4 TCP address as /proc/net/tcp writes it.
func procAddr(a net.Addr) string {
	ta := a.(*net.TCPAddr)
	ip := ta.IP.To4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ta.Port)
}

// broadcastFrame is the Socket.IO frame of broadcast seq.
func broadcastPrefix(seq int) string { return `42["b",` + strconv.Itoa(seq) + `,"` }

// follower reads a normal client's broadcasts and checks that each arrives
// exactly once and in order, up to the "end" packet.
type follower struct {
	c    *wsClient
	last atomic.Int64 // the last sequence number received, -1 before any
	err  atomic.Pointer[error]
	done chan struct{}
}

func follow(c *wsClient, payloadLen int) *follower {
	f := &follower{c: c, done: make(chan struct{})}
	f.last.Store(-1)
	fail := func(format string, a ...any) {
		err := fmt.Errorf(format, a...)
		f.err.CompareAndSwap(nil, &err)
	}
	go func() {
		defer close(f.done)
		for {
			p := c.nextWithin(30 * time.Second)
			if p == nil {
				fail("nothing received after broadcast %d (closed: %v, %v)", f.last.Load(), c.isClosed(), c.err())
				return
			}
			if strings.HasPrefix(p.frame, `42["end",`) {
				if want := `42["end",` + strconv.FormatInt(f.last.Load(), 10) + `]`; p.frame != want {
					fail("got %s after broadcast %d, want %s", p, f.last.Load(), want)
				}
				return
			}
			next := f.last.Load() + 1
			prefix := broadcastPrefix(int(next))
			if !strings.HasPrefix(p.frame, prefix) || len(p.frame) != len(prefix)+payloadLen+2 {
				fail("got %s, want broadcast %d (%d-byte payload)", p, next, payloadLen)
				return
			}
			f.last.Store(next)
		}
	}()
	return f
}

// slowRun is one slow-consumer scenario.
type slowRun struct {
	slow     int  // clients that never read
	normal   int  // clients that read everything
	volatile bool // broadcast volatile packets
	// rounds is the number of broadcasts when volatile; otherwise they go on
	// until every slow client is closed (at most maxRounds).
	rounds, maxRounds int
}

// slowResult is what a scenario measured.
type slowResult struct {
	broadcasts int
	elapsed    time.Duration

	baseHeap uint64 // HeapInuse with every client connected and idle
	baseLive uint64 // HeapAlloc then
	baseRSS  int64

	// At the cap: the moment the fullest slow client's user-space queue was
	// within two frames of the hard cap (or every slow client was at the
	// soft cap, for volatile broadcasts), with the live heap measured after
	// two collections.
	capBroadcasts  int
	userQueued     int64 // bytes queued in the server for the slow clients: sent − what the kernel holds
	userQueuedMax  int64 // ... for the fullest one
	kernelQueued   int64 // bytes the kernel holds for them (server send queues + client receive queues)
	kernelQueuedMx int64
	pinnedLive     uint64 // HeapAlloc then
	pinnedHeap     uint64 // HeapInuse then
	pinnedRSS      int64

	peakHeap, afterHeap uint64 // sampled every 5 ms over the whole run; after every slow client is gone
	peakRSS             int64
	peakKernel          int64
	reasons             map[string]int
}

// frameBytes is the size on the wire of broadcast seq: a WebSocket text
// frame (4-byte header: the payload is over 125 bytes) holding
// 42["b",<seq>,"<payload>"].
func frameBytes(seq int) int64 { return int64(4 + len(broadcastPrefix(seq)) + slowPayloadLen + 2) }

func runSlow(t *testing.T, r slowRun) slowResult {
	ts := startServer(t, socketio.Options{
		Listen: loop.Options{MaxOutboundBytes: slowCap / 2, WriteStallTimeout: time.Minute},
		Engine: engine.Config{MaxBufferedBytes: slowCap / 2},
	})
	port := ts.srv.Engine().Loop().Addr().(*net.TCPAddr).Port
	var mu sync.Mutex
	reasons := map[string]int{}                   // by reason, for every socket
	slowReasons := map[socketio.SocketID]string{} // by socket, for the slow ones
	normalIDs := map[socketio.SocketID]bool{}
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.Join("all")
		s.OnDisconnect(func(reason string) {
			mu.Lock()
			reasons[reason]++
			if !normalIDs[s.ID()] {
				slowReasons[s.ID()] = reason
			}
			mu.Unlock()
		})
	})
	base := testutil.Snapshot(t)

	var followers []*follower
	for i := 0; i < r.normal; i++ {
		c, err := dialWS(ts.addr, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		id := c.connect(t, "/", "")
		mu.Lock()
		normalIDs[socketio.SocketID(id)] = true
		mu.Unlock()
		followers = append(followers, follow(c, slowPayloadLen))
	}
	slow := make([]net.Conn, 0, r.slow)
	slowAddrs := make([]string, 0, r.slow)
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	for i := 0; i < r.slow; i++ {
		c, err := dialSlow(ts.addr, i)
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		slow = append(slow, c)
		slowAddrs = append(slowAddrs, procAddr(c.LocalAddr()))
	}
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := ts.srv.Sockets().Len(); n != r.slow+r.normal {
			return fmt.Errorf("%d sockets connected, want %d", n, r.slow+r.normal)
		}
		return nil
	})

	res := slowResult{baseLive: testutil.HeapLive(), baseHeap: testutil.HeapInUse(), baseRSS: testutil.SettledRSS(t)}
	peak := startMemPeak(t, port)
	slowClosed := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(slowReasons)
	}
	payload := strings.Repeat("p", slowPayloadLen)
	op := ts.srv.To("all")
	if r.volatile {
		op = op.Volatile()
	}
	// waitFollowers waits until every normal client has broadcast seq.
	waitFollowers := func(seq int) {
		deadline := time.Now().Add(ioTimeout)
		for _, f := range followers {
			for f.last.Load() < int64(seq) {
				if f.err.Load() != nil || time.Now().After(deadline) {
					t.Fatalf("waiting for broadcast %d: a normal client is stuck at %d: %v", seq, f.last.Load(), f.err.Load())
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	// atCap checks, once the loops have delivered broadcast seq to
	// everyone, whether the slow clients' queues are at the cap; if so it
	// records the figures at the cap.
	var sent int64 // bytes sent to each slow client so far
	// The least and most the kernel held for one slow client at the last
	// reading: it only grows while they do not read, so the user-space
	// queues are at most sent − kernLow and at least sent − kernHigh.
	var kernLow, kernHigh int64
	measured := false
	atCap := func(seq int) {
		next := frameBytes(seq + 1)
		if r.volatile && sent-kernHigh < volatileSoft-next || !r.volatile && sent-kernLow+2*next <= slowCap {
			return // the queues cannot be at the cap yet (reading /proc/net/tcp is slow with many sockets)
		}
		waitFollowers(seq) // a normal client on each loop: the loops have run this broadcast
		_, perConn := kernelQueued(port)
		var user, userMax, userMin, kern, kernMax int64
		userMin = -1
		kernLow, kernHigh = -1, 0
		for _, a := range slowAddrs {
			k := perConn[a]
			if kernLow < 0 || k < kernLow {
				kernLow = k
			}
			kernHigh = max(kernHigh, k)
			u := sent - k
			user += u
			kern += k
			userMax, kernMax = max(userMax, u), max(kernMax, k)
			if userMin < 0 || u < userMin {
				userMin = u
			}
		}
		switch {
		case r.volatile && userMin >= volatileSoft-next:
		case !r.volatile && userMax+2*next > slowCap:
		default:
			return
		}
		if n := slowClosed(); n != 0 {
			t.Fatalf("%d slow clients closed before the cap was reached (queue of the fullest %d bytes)", n, userMax)
		}
		measured = true
		res.capBroadcasts = seq + 1
		res.userQueued, res.userQueuedMax, res.kernelQueued, res.kernelQueuedMx = user, userMax, kern, kernMax
		res.pinnedLive = testutil.HeapLive()
		res.pinnedHeap = testutil.HeapInUse()
		res.pinnedRSS = testutil.SettledRSS(t)
	}
	// Each broadcast waits until every normal client has the one before
	// last: they read as fast as they can, so nothing queues up for them.
	const window = 2
	start := time.Now()
	seq := 0
	for ; ; seq++ {
		if r.volatile && seq == r.rounds || !r.volatile && slowClosed() == r.slow {
			break
		}
		if seq == r.maxRounds && !r.volatile {
			t.Fatalf("%d broadcasts and only %d of %d slow clients closed", seq, slowClosed(), r.slow)
		}
		waitFollowers(seq - window)
		if err := op.Emit("b", seq, payload); err != nil {
			t.Fatal(err)
		}
		sent += frameBytes(seq)
		if !measured {
			atCap(seq)
		}
	}
	if !measured {
		t.Fatalf("the slow clients never reached the cap in %d broadcasts", seq)
	}
	res.broadcasts = seq
	if err := ts.srv.To("all").Emit("end", seq-1); err != nil {
		t.Fatal(err)
	}
	for i, f := range followers {
		select {
		case <-f.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("normal client %d stuck at broadcast %d of %d", i, f.last.Load(), seq)
		}
		if p := f.err.Load(); p != nil {
			t.Fatalf("normal client %d: %v", i, *p)
		}
		if got := f.last.Load(); got != int64(seq-1) {
			t.Fatalf("normal client %d got %d broadcasts, want %d", i, got+1, seq)
		}
	}
	res.elapsed = time.Since(start)
	peak.end()
	res.peakHeap, res.peakRSS, res.peakKernel = peak.heap.Load(), peak.rss.Load(), peak.kernel.Load()

	if r.volatile {
		// Nobody was closed: the slow clients only lost packets.
		if n := slowClosed(); n != 0 {
			t.Fatalf("%d slow clients closed by volatile broadcasts: %v", n, reasons)
		}
		if n := ts.srv.Sockets().Len(); n != r.slow+r.normal {
			t.Fatalf("%d sockets left, want %d", n, r.slow+r.normal)
		}
	} else {
		mu.Lock()
		for id, reason := range slowReasons {
			if reason != socketio.ReasonSlowConsumer {
				t.Errorf("slow socket %s disconnected with %q, want %q", id, reason, socketio.ReasonSlowConsumer)
			}
		}
		mu.Unlock()
		st := ts.srv.Stats()
		if n := st.Engine.Conn.Closed[loop.ReasonSlowConsumer.String()]; n != int64(r.slow) {
			t.Errorf("loop closes as slow consumer: %d, want %d (all %v)", n, r.slow, st.Engine.Conn.Closed)
		}
		if n := st.Engine.Closed[engine.ReasonSlowConsumer]; n != int64(r.slow) {
			t.Errorf("sessions closed as slow consumer: %d, want %d (all %v)", n, r.slow, st.Engine.Closed)
		}
		// Their buffers went with them.
		ts.checkResources(t, testutil.Resources{FDs: base.FDs + 2*r.normal + r.slow, Goroutines: base.Goroutines + r.normal},
			leftovers{sessions: r.normal, conns: int64(r.normal), sockets: r.normal, rooms: []socketio.Room{"all"}}, 5*time.Second)
	}
	for _, c := range slow {
		c.Close()
	}
	slow = nil
	for _, f := range followers {
		f.c.close()
	}
	ts.checkResources(t, base, leftovers{}, 10*time.Second)
	res.afterHeap = testutil.HeapInUse()
	mu.Lock()
	res.reasons = reasons
	mu.Unlock()
	return res
}

// checkSlowMemory asserts the memory bounds of a scenario and logs the figures.
//
// What a slow client pins in user space is its queue — at most the cap
// (MaxOutboundBytes, or the 64 KiB soft cap under volatile broadcasts) plus
// the frame that crosses it — as gnet keeps it: a static ring buffer of up
// to WriteBufferCap (64 KiB by default) in a pooled power-of-two array,
// which stays allocated once grown (ring = 128 KiB), then a list of pooled
// power-of-two chunks, one per write (a 2 KB frame, just over 2048 bytes,
// takes a 4 KiB chunk: up to twice the bytes) with a list node each
// (nodes = 64 B per queued frame). Measured live (HeapAlloc after two
// collections) at the cap:
//
//	pinned heap − baseline ≤ slow × perClient + fixed,
//	perClient = 2 × (cap + frame) + ring + nodes
//
// Over the whole run, sampled every 5 ms, HeapInuse and VmRSS also count
// garbage not yet collected — retired write buffers, pooled chunks of
// closed connections — which GOGC=100 lets reach the live heap again:
//
//	peak − baseline ≤ slow × 2 × perClient + fixed
//
// fixed (16 MiB) covers the normal clients, the runtime and the sampler.
// The kernel's socket buffers are measured apart: they are in neither heap
// nor RSS.
func checkSlowMemory(t *testing.T, r slowRun, res slowResult) {
	mib := testutil.MiB
	capBytes := int64(slowCap)
	kind := ""
	if r.volatile {
		capBytes, kind = volatileSoft, "volatile "
	}
	frame := frameBytes(res.broadcasts)
	const fixed = 16 << 20
	const ring = 2 * 64 << 10          // gnet's static buffer: WriteBufferCap (64 KiB), pooled in a power of two
	nodes := (capBytes/frame + 1) * 64 // gnet's list node per queued chunk (48 B, rounded up)
	perClient := 2*(capBytes+frame) + ring + nodes
	pinnedBound := int64(r.slow)*perClient + fixed
	peakBound := int64(r.slow)*2*perClient + fixed
	n := float64(r.slow)
	perSlow := func(b int64) string { return fmt.Sprintf("%.1f KiB", float64(b)/n/1024) }
	pinned := int64(res.pinnedLive) - int64(res.baseLive)
	pinnedInuse := int64(res.pinnedHeap) - int64(res.baseHeap)
	pinnedRSS := res.pinnedRSS - res.baseRSS
	grown := int64(res.peakHeap) - int64(res.baseHeap)
	rssGrown := res.peakRSS - res.baseRSS
	t.Logf("%d slow + %d normal clients, %d %sbroadcasts of %d bytes in %v; closes %v", r.slow, r.normal, res.broadcasts,
		kind, slowPayloadLen, res.elapsed.Round(time.Millisecond), res.reasons)
	t.Logf("at the cap (after %d broadcasts, %s sent to each slow client): user-space queues %s (%s per slow client, fullest %.1f KiB, cap %d KiB); "+
		"kernel %s (%s per slow client, fullest %.1f KiB: the server's send queue and the client's receive queue, not in RSS); "+
		"live heap (HeapAlloc) +%s (%s per slow client; bound %s = %d × (2 × (%d KiB + %d B) + %d KiB + %d B) + %s), "+
		"HeapInuse +%s (%s per slow client), RSS +%s (%s per slow client)",
		res.capBroadcasts, mib(int64(res.capBroadcasts)*frame), mib(res.userQueued), perSlow(res.userQueued),
		float64(res.userQueuedMax)/1024, capBytes>>10, mib(res.kernelQueued), perSlow(res.kernelQueued),
		float64(res.kernelQueuedMx)/1024, mib(pinned), perSlow(pinned), mib(pinnedBound), r.slow, capBytes>>10, frame,
		ring>>10, nodes, mib(fixed), mib(pinnedInuse), perSlow(pinnedInuse), mib(pinnedRSS), perSlow(pinnedRSS))
	t.Logf("peaks over the run: heap in use %s → %s (+%s, %s per slow client), RSS %s → %s (+%s, %s per slow client), "+
		"bound %s = %d × 2 × %.1f KiB + %s; kernel %s; heap after the slow clients are gone %s",
		mib(int64(res.baseHeap)), mib(int64(res.peakHeap)), mib(grown), perSlow(grown), mib(res.baseRSS), mib(res.peakRSS),
		mib(rssGrown), perSlow(rssGrown), mib(peakBound), r.slow, float64(perClient)/1024, mib(fixed), mib(res.peakKernel),
		mib(int64(res.afterHeap)))
	if pinned > pinnedBound {
		t.Errorf("live heap at the cap grew by %s, over the bound %s", mib(pinned), mib(pinnedBound))
	}
	if grown > peakBound {
		t.Errorf("peak heap grew by %s, over the bound %s", mib(grown), mib(peakBound))
	}
	if rssGrown > peakBound && !testutil.RaceEnabled() { // the race detector's shadow memory is in RSS
		t.Errorf("peak RSS grew by %s, over the bound %s", mib(rssGrown), mib(peakBound))
	}
	if after := int64(res.afterHeap) - int64(res.baseHeap); after > fixed/4 {
		t.Errorf("heap in use still %s over the baseline once every slow client is gone", mib(after))
	}
}

func TestSlowConsumersAreClosed(t *testing.T) {
	r := slowRun{slow: 50, normal: 5, maxRounds: 5000}
	checkSlowMemory(t, r, runSlow(t, r))
}

func TestSlowConsumersLoseVolatilePacketsButStay(t *testing.T) {
	// 600 broadcasts of 2 KB: 1.2 MB, far over the hard cap, were they not dropped.
	r := slowRun{slow: 50, normal: 5, volatile: true, rounds: 600}
	checkSlowMemory(t, r, runSlow(t, r))
}

func TestSlowConsumerOverPollingIsClosed(t *testing.T) {
	// A polling session that never GETs buffers broadcasts for its next
	// GET up to MaxBufferedBytes, then is closed as a slow consumer.
	const maxBuffered = 64 << 10
	ts := startServer(t, socketio.Options{Engine: engine.Config{MaxBufferedBytes: maxBuffered}})
	reasons := make(chan string, 8)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.Join("all")
		s.OnDisconnect(func(reason string) { reasons <- reason })
	})
	base := testutil.Snapshot(t)
	normal, _ := ts.wsConnected(t, "/")
	p := &churnPoll{d: testutil.SourceDialer(0), addr: ts.addr}
	open, err := p.do("GET", "")
	if err != nil || !strings.HasPrefix(open, `0{"sid":"`) {
		t.Fatalf("handshake %q: %v", open, err)
	}
	p.sid = open[len(`0{"sid":"`):][:strings.IndexByte(open[len(`0{"sid":"`):], '"')]
	if _, err := p.do("POST", "40"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.pollUntil(isConnectAck); err != nil {
		t.Fatal(err)
	}
	// From here on the polling client never GETs again. Each broadcast adds
	// a payload segment (and a \x1e separator) to its buffer: it must stay
	// open up to the cap and close with the broadcast that crosses it.
	payload := strings.Repeat("q", slowPayloadLen)
	var buffered, crossing int
	for n := 0; ; n++ {
		seg := len(broadcastPrefix(n)) + slowPayloadLen + 2
		if n > 0 {
			seg++
		}
		if buffered+seg > maxBuffered {
			crossing = n
			break
		}
		buffered += seg
	}
	emit := func(n int) {
		if err := ts.srv.To("all").Emit("b", n, payload); err != nil {
			t.Fatal(err)
		}
		normal.expect(t, broadcastPrefix(n)+payload+`"]`)
	}
	for n := 0; n < crossing; n++ {
		emit(n)
	}
	testutil.RecvNone(t, reasons, 200*time.Millisecond) // the polling session's loop may lag the normal client's
	if n := ts.srv.Engine().Count(); n != 2 {
		t.Fatalf("%d sessions with %d bytes buffered, under the cap of %d", n, buffered, maxBuffered)
	}
	emit(crossing)
	if r := testutil.Recv(t, reasons); r != socketio.ReasonSlowConsumer {
		t.Fatalf("reason %q, want %q", r, socketio.ReasonSlowConsumer)
	}
	if got := ts.srv.Stats().Engine.Closed[engine.ReasonSlowConsumer]; got != 1 {
		t.Fatalf("sessions closed as slow consumer: %d (all %v)", got, ts.srv.Stats().Engine.Closed)
	}
	// Its buffer is gone with it: the next GET finds no session.
	if _, err := p.do("GET", ""); err == nil || !strings.Contains(err.Error(), "Session ID unknown") {
		t.Fatalf("GET after the close: %v, want 400 Session ID unknown", err)
	}
	p.close()
	normal.close()
	ts.checkResources(t, base, leftovers{}, 5*time.Second)
	t.Logf("open with %d bytes buffered after %d broadcasts, closed by the next (cap %d bytes)", buffered, crossing, maxBuffered)
}
