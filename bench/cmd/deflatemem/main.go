// Command deflatemem measures what permessage-deflate costs the server in
// memory: it runs a Socket.IO server in a child process, with compression
// off and then on (engine.Config.PerMessageDeflate, Node's threshold 1024),
// opens N WebSocket clients from this process (each offers
// "permessage-deflate; client_max_window_bits", as socket.io-client does in
// Node) and reads the server's VmRSS and Go heap idle, then after a few
// broadcasts of a compressible ~4 KiB message.
//
//	go run ./bench/cmd/deflatemem -clients 10000 -broadcasts 5
//
// Loopback only; the clients use source addresses 127.0.0.2–127.0.0.9.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"sio/bench/internal/proc"
	"sio/engine"
	"sio/loop"
	"sio/socketio"
)

func main() {
	role := flag.String("role", "", "internal: server")
	deflate := flag.Bool("deflate", false, "server: permessage-deflate on")
	clients := flag.Int("clients", 10000, "WebSocket clients")
	broadcasts := flag.Int("broadcasts", 5, "broadcasts of the ~4 KiB message")
	flag.Parse()
	if *role == "server" {
		serve(*deflate)
		return
	}
	js, _ := json.Marshal(message())
	fmt.Printf("deflatemem: %d clients, %d broadcasts of a %d-byte message, %s, %d CPUs\n",
		*clients, *broadcasts, len(js), runtime.Version(), runtime.NumCPU())
	fmt.Println()
	fmt.Println("| deflate | RSS idle | heap idle | RSS after broadcasts | heap after | bytes per broadcast frame | server CPU per broadcast |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, on := range []bool{false, true} {
		r, err := run(on, *clients, *broadcasts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "deflatemem:", err)
			os.Exit(1)
		}
		mode := "off"
		if on {
			mode = "on"
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %d | %.1f ms |\n", mode, mib(r.idle.RSS*1024), mib(r.idle.Heap),
			mib(r.after.RSS*1024), mib(r.after.Heap), r.frameLen, r.cpuPerBroadcast*1000)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// message is the broadcast: ~4 KiB of chat-like JSON, compressible as real
// traffic is (repeated keys, similar values).
func message() []map[string]any {
	var m []map[string]any
	for i := range 40 {
		m = append(m, map[string]any{"id": 100000 + i*7, "user": "user" + strconv.Itoa(i%9),
			"room": "general", "text": "message number " + strconv.Itoa(i) + " in the room", "ts": 1764930000000 + i*1500})
	}
	return m
}

type mem struct {
	RSS  int64 `json:"rss_kb"`
	Heap int64 `json:"heap_inuse"`
}

type result struct {
	idle, after     mem
	frameLen        int
	cpuPerBroadcast float64
}

// --- server (child process) ----------------------------------------------

func serve(deflate bool) {
	var d *engine.Deflate
	if deflate {
		d = &engine.Deflate{}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv := socketio.NewServer(socketio.Options{
		Engine: engine.Config{PerMessageDeflate: d, Transports: []string{"websocket"}},
		Listen: loop.Options{Addr: "127.0.0.1:0", Logger: log},
		Logger: log,
	})
	go func() { _ = srv.Serve() }()
	<-srv.Engine().Ready()
	fmt.Println("READY", srv.Engine().Loop().Addr())
	msg := message()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch f[0] {
		case "bcast":
			n, _ := strconv.Atoi(f[1])
			for range n {
				_ = srv.Emit("news", msg)
				time.Sleep(300 * time.Millisecond)
			}
			fmt.Println("SENT")
		case "mem":
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			m, _ := proc.Memory(os.Getpid())
			b, _ := json.Marshal(mem{RSS: m.RSS, Heap: int64(ms.HeapInuse)})
			fmt.Println("MEM", string(b))
		}
	}
}

// --- orchestrator and clients ---------------------------------------------

func run(deflate bool, n, broadcasts int) (result, error) {
	var r result
	exe, err := os.Executable()
	if err != nil {
		return r, err
	}
	cmd := exec.Command(exe, "-role", "server", "-deflate="+strconv.FormatBool(deflate))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	next := func(prefix string) (string, error) {
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return strings.TrimSpace(rest), nil
			}
		}
		return "", fmt.Errorf("server exited waiting for %s", prefix)
	}
	addr, err := next("READY")
	if err != nil {
		return r, err
	}
	measure := func() (mem, error) {
		var m mem
		fmt.Fprintln(stdin, "mem")
		s, err := next("MEM")
		if err == nil {
			err = json.Unmarshal([]byte(s), &m)
		}
		return m, err
	}

	var got atomic.Int64
	var frameLen atomic.Int64
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	var failed atomic.Int64
	var firstErr atomic.Value
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, br, err := dial(addr, i)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			conns[i] = c
			go readLoop(c, br, &got, &frameLen)
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if f := failed.Load(); f > 0 {
		return r, fmt.Errorf("%d of %d clients failed to connect: %v", f, n, firstErr.Load())
	}
	time.Sleep(2 * time.Second)
	if r.idle, err = measure(); err != nil {
		return r, err
	}
	cpu0, _ := proc.CPU(cmd.Process.Pid)
	fmt.Fprintln(stdin, "bcast", broadcasts)
	if _, err := next("SENT"); err != nil {
		return r, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for got.Load() < int64(n*broadcasts) {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("only %d of %d broadcast deliveries in 60 s", got.Load(), n*broadcasts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpu1, _ := proc.CPU(cmd.Process.Pid)
	// The CPU includes the 300 ms pauses' idle loop wakeups (none: the
	// loops sleep in epoll) and the pings, which are few over a few seconds.
	r.cpuPerBroadcast = (cpu1 - cpu0) / float64(broadcasts)
	time.Sleep(time.Second)
	if r.after, err = measure(); err != nil {
		return r, err
	}
	r.frameLen = int(frameLen.Load())
	return r, nil
}

// dial opens a raw WebSocket session offering permessage-deflate and
// connects it to the main namespace.
func dial(addr string, i int) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, nil, fmt.Errorf("upgrade: %q %v", status, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		if l == "\r\n" {
			break
		}
	}
	if _, _, err := readFrame(br); err != nil { // the open packet
		c.Close()
		return nil, nil, err
	}
	if err := writeText(c, "40"); err != nil {
		c.Close()
		return nil, nil, err
	}
	if _, p, err := readFrame(br); err != nil || !bytes.HasPrefix(p, []byte("40")) {
		c.Close()
		return nil, nil, fmt.Errorf("connect: %q %v", p, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, br, nil
}

// readFrame reads one frame; payloads past 64 bytes are discarded, not kept.
func readFrame(br *bufio.Reader) (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(br)
	if err != nil {
		return h, nil, err
	}
	if h.Length > 64 {
		_, err = io.CopyN(io.Discard, br, h.Length)
		return h, nil, err
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(br, p)
	return h, p, err
}

func writeText(c net.Conn, s string) error {
	return ws.WriteFrame(c, ws.MaskFrame(ws.NewTextFrame([]byte(s))))
}

// readLoop counts broadcast frames and answers pings until the connection closes.
func readLoop(c net.Conn, br *bufio.Reader, got, frameLen *atomic.Int64) {
	for {
		h, p, err := readFrame(br)
		if err != nil {
			return
		}
		switch {
		case h.OpCode == ws.OpText && string(p) == "2":
			_ = writeText(c, "3")
		case h.OpCode == ws.OpText && h.Length > 64:
			got.Add(1)
			frameLen.Store(h.Length)
		}
	}
}
