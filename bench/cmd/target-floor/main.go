// Command target-floor is the raw floor target of the benchmark: gnet v2
// event loops (multicore) and a hand-rolled WebSocket codec (gobwas/ws for
// the unmasking cipher and frame constants), one small struct per connection,
// no goroutine per connection, no read or write buffer kept per idle
// connection. It is the floor of user-space cost that the Socket.IO targets
// are compared with.
//
// It speaks only what bench/PROTOCOL.md says the floor speaks:
//
//   - GET /socket.io/?…transport=websocket with a WebSocket upgrade: answers
//     101 and, in the same write, the fixed Engine.IO open packet
//     0{"sid":"floor","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}
//     Any other request gets 400 and is closed (no polling).
//   - "40" (Socket.IO CONNECT to "/", with or without auth) -> 40{"sid":"floor"}
//   - 42N["join",…]  -> 43N[]                     (no rooms: the floor does not broadcast)
//   - 42N["echo",X]  -> 43N[X]                    (X sliced out of the frame, never decoded;
//     42N["echo"] -> 43N[null])
//   - "3" (pong) is ignored, "1" (close) closes; everything else is ignored.
//   - WebSocket ping -> pong, close -> close. Fragmented messages, unmasked
//     frames and messages over 1e6 bytes close the connection.
//
// To keep socket.io clients alive past pingInterval+pingTimeout it sends the
// Engine.IO ping "2" to every open connection every 25 s (-ping=false turns
// it off): one loop task per event loop, no timer per connection. Pong
// timeouts are not enforced.
//
// All replies produced by one read are coalesced into one write.
//
// Flags (the first three default from environment variables):
//
//	-addr       listen address (env ADDR, default 127.0.0.1:3100)
//	-loops      event loops, 0 = one per CPU (env LOOPS)
//	-reuseport  SO_REUSEPORT so several processes can share the port (env REUSEPORT=1)
//	-ping       send Engine.IO pings (default true)
//	-ping-every ping period (default 25s; tests may shorten it)
//
// Protocol with the harness: prints "READY <addr>" on stdout once listening;
// SIGTERM/SIGINT stop it cleanly (exit 0); SIGUSR1 runs debug.FreeOSMemory() and
// prints one JSON line on stdout,
// {"heap_inuse":N,"heap_alloc":N,"sys":N,"num_goroutine":N,"num_gc":N,"mallocs":N,"total_alloc":N}.
package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
)

const (
	maxHead      = 8 << 10
	maxPayload   = 1_000_000
	pingInterval = 25 * time.Second
	wsGUID       = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

var (
	openPacket    = []byte(`0{"sid":"floor","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)
	connectReply  = []byte(`40{"sid":"floor"}`)
	pingFrame     = []byte{0x81, 0x01, '2'}
	badRequest    = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 34\r\nConnection: close\r\n\r\n{\"code\":3,\"message\":\"Bad request\"}")
	upgradeHead   = []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	headEnd       = []byte("\r\n\r\n")
	keyHeader     = []byte("sec-websocket-key:")
	echoPrefix    = []byte(`"echo"`)
	joinPrefix    = []byte(`"join"`)
	nullArg       = []byte(`null]`)
	socketIOPath  = []byte("GET /socket.io/")
	closeProtocol = []byte{0x88, 0x02, 0x03, 0xea} // 1002 protocol error
	closeTooBig   = []byte{0x88, 0x02, 0x03, 0xf1} // 1009 message too big
	closeUnsupp   = []byte{0x88, 0x02, 0x03, 0xeb} // 1003 unsupported data
)

// fconn is all the floor keeps per connection.
type fconn struct {
	c        gnet.Conn
	ls       *loopState
	idx      int32 // position in ls.conns, -1 before the upgrade
	upgraded bool
}

// loopState is owned by one event loop: touched only from its callbacks and
// from tasks it executes.
type loopState struct {
	el    gnet.EventLoop
	conns []*fconn // upgraded connections, for pings
	out   []byte   // scratch for the replies of one OnTraffic
	ping  gnet.Runnable
}

func (ls *loopState) add(fc *fconn) {
	fc.idx = int32(len(ls.conns))
	ls.conns = append(ls.conns, fc)
}

func (ls *loopState) remove(fc *fconn) {
	i := int(fc.idx)
	if i < 0 || i >= len(ls.conns) || ls.conns[i] != fc {
		return
	}
	last := len(ls.conns) - 1
	ls.conns[i] = ls.conns[last]
	ls.conns[i].idx = int32(i)
	ls.conns[last] = nil
	ls.conns = ls.conns[:last]
	fc.idx = -1
}

// pingAll runs on the loop. A failed write closes the connection at once
// (OnClose swaps the last element into its slot), so walk backwards.
func (ls *loopState) pingAll(context.Context) error {
	for i := len(ls.conns) - 1; i >= 0; i-- {
		if i < len(ls.conns) {
			_, _ = ls.conns[i].c.Write(pingFrame)
		}
	}
	return nil
}

type handler struct {
	gnet.BuiltinEventEngine
	eng    gnet.Engine
	loops  sync.Map // gnet.EventLoop -> *loopState
	booted chan struct{}
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.eng = eng
	close(h.booted)
	return gnet.None
}

func (h *handler) loopOf(c gnet.Conn) *loopState {
	el := c.EventLoop()
	if v, ok := h.loops.Load(el); ok {
		return v.(*loopState)
	}
	ls := &loopState{el: el}
	ls.ping = gnet.RunnableFunc(ls.pingAll)
	v, _ := h.loops.LoadOrStore(el, ls)
	return v.(*loopState)
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&fconn{c: c, ls: h.loopOf(c), idx: -1})
	return nil, gnet.None
}

func (h *handler) OnClose(c gnet.Conn, _ error) gnet.Action {
	if fc, ok := c.Context().(*fconn); ok {
		fc.ls.remove(fc)
		c.SetContext(nil)
	}
	return gnet.None
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	fc, ok := c.Context().(*fconn)
	if !ok {
		return gnet.Close
	}
	ls := fc.ls
	buf, _ := c.Peek(-1)
	out := ls.out[:0]
	consumed := 0
	action := gnet.None

	if !fc.upgraded {
		n, o, act := upgrade(buf, out)
		out, action = o, act
		if n == 0 && action == gnet.None { // head incomplete
			return gnet.None
		}
		consumed = n
		if action == gnet.None {
			fc.upgraded = true
			ls.add(fc)
		}
	}

	for action == gnet.None && consumed < len(buf) {
		n, o, act := frame(buf[consumed:], out)
		if n == 0 && act == gnet.None { // frame incomplete
			break
		}
		consumed += n
		out, action = o, act
	}

	// Discard before writing: a failed write closes the connection at once.
	if consumed > 0 {
		_, _ = c.Discard(consumed)
	}
	if len(out) > 0 {
		_, _ = c.Write(out) // copies what the socket does not take
	}
	if cap(out) <= 64<<10 {
		ls.out = out[:0]
	} else {
		ls.out = nil
	}
	return action
}

// upgrade handles the HTTP head at the start of buf. It returns the bytes
// consumed (0 while the head is incomplete) and appends the reply to out.
func upgrade(buf, out []byte) (int, []byte, gnet.Action) {
	end := bytes.Index(buf, headEnd)
	if end < 0 {
		if len(buf) > maxHead {
			return len(buf), append(out, badRequest...), gnet.Close
		}
		return 0, out, gnet.None
	}
	head := buf[:end+2] // keep the last CRLF so every line ends with one
	if !bytes.HasPrefix(head, socketIOPath) {
		return len(buf), append(out, badRequest...), gnet.Close
	}
	var key []byte
	for line := head; len(line) > 0; {
		i := bytes.Index(line, headEnd[:2])
		if i < 0 {
			break
		}
		l := line[:i]
		line = line[i+2:]
		if len(l) > len(keyHeader) && asciiPrefixFold(l, keyHeader) {
			key = bytes.TrimSpace(l[len(keyHeader):])
			break
		}
	}
	if len(key) == 0 || len(key) > 64 {
		return len(buf), append(out, badRequest...), gnet.Close
	}
	var acc [128]byte
	n := copy(acc[:], key)
	n += copy(acc[n:], wsGUID)
	sum := sha1.Sum(acc[:n])
	var accept [28]byte
	base64.StdEncoding.Encode(accept[:], sum[:])

	out = append(out, upgradeHead...)
	out = append(out, accept[:]...)
	out = append(out, headEnd...)
	out = appendTextFrame(out, len(openPacket))
	out = append(out, openPacket...)
	return end + 4, out, gnet.None
}

func asciiPrefixFold(s, lowerPrefix []byte) bool {
	for i, p := range lowerPrefix {
		b := s[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != p {
			return false
		}
	}
	return true
}

// frame handles one client frame at the start of buf: it returns the bytes
// consumed (0 while the frame is incomplete) and appends any reply to out.
// The payload is unmasked in place (the bytes are discarded afterwards).
func frame(buf, out []byte) (int, []byte, gnet.Action) {
	if len(buf) < 2 {
		return 0, out, gnet.None
	}
	b0, b1 := buf[0], buf[1]
	fin, rsv, op := b0&0x80 != 0, b0&0x70, ws.OpCode(b0&0x0f)
	if rsv != 0 || b1&0x80 == 0 { // extensions or unmasked client frame
		return len(buf), append(out, closeProtocol...), gnet.Close
	}
	hdr := 2
	plen := uint64(b1 & 0x7f)
	switch plen {
	case 126:
		if len(buf) < 4 {
			return 0, out, gnet.None
		}
		plen = uint64(binary.BigEndian.Uint16(buf[2:4]))
		hdr = 4
	case 127:
		if len(buf) < 10 {
			return 0, out, gnet.None
		}
		plen = binary.BigEndian.Uint64(buf[2:10])
		hdr = 10
	}
	if plen > maxPayload {
		return len(buf), append(out, closeTooBig...), gnet.Close
	}
	hdr += 4
	total := hdr + int(plen)
	if len(buf) < total {
		return 0, out, gnet.None
	}
	var mask [4]byte
	copy(mask[:], buf[hdr-4:hdr])
	p := buf[hdr:total]
	ws.Cipher(p, mask, 0)

	switch op {
	case ws.OpText:
		if !fin {
			return total, append(out, closeUnsupp...), gnet.Close
		}
		return packet(p, out, total)
	case ws.OpPing:
		if plen > 125 {
			return total, append(out, closeProtocol...), gnet.Close
		}
		out = append(out, 0x8a, byte(plen))
		return total, append(out, p...), gnet.None
	case ws.OpPong, ws.OpBinary:
		return total, out, gnet.None
	case ws.OpClose:
		if len(p) >= 2 {
			out = append(out, 0x88, 0x02, p[0], p[1])
		} else {
			out = append(out, 0x88, 0x00)
		}
		return total, out, gnet.Close
	default: // continuation without a start, reserved opcodes
		return total, append(out, closeProtocol...), gnet.Close
	}
}

// packet answers one Engine.IO text packet.
func packet(p, out []byte, consumed int) (int, []byte, gnet.Action) {
	if len(p) == 0 {
		return consumed, out, gnet.None
	}
	switch p[0] {
	case '1': // Engine.IO close
		return consumed, out, gnet.Close
	case '4': // Engine.IO message: a Socket.IO packet follows
	default: // '3' pong and anything else
		return consumed, out, gnet.None
	}
	if len(p) < 2 {
		return consumed, out, gnet.None
	}
	switch p[1] {
	case '0': // CONNECT "/" (auth, if any, ignored)
		if len(p) == 2 || p[2] == '{' {
			out = appendTextFrame(out, len(connectReply))
			out = append(out, connectReply...)
		}
		return consumed, out, gnet.None
	case '2': // EVENT
	default:
		return consumed, out, gnet.None
	}
	// 42<id>[<name>,...]
	i := 2
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	id := p[2:i]
	if len(id) == 0 || i >= len(p) || p[i] != '[' || p[len(p)-1] != ']' {
		return consumed, out, gnet.None // no ack wanted, or not for the floor
	}
	args := p[i+1:] // `"echo",X]` or `"join",…]`
	switch {
	case bytes.HasPrefix(args, joinPrefix):
		// 43<id>[]
		out = appendTextFrame(out, 2+len(id)+2)
		out = append(out, '4', '3')
		out = append(out, id...)
		out = append(out, '[', ']')
	case bytes.HasPrefix(args, echoPrefix):
		rest := args[len(echoPrefix):] // `,X]` or `]`
		switch rest[0] {
		case ',':
			rest = rest[1:] // `X]`
		case ']':
			rest = nullArg // no payload: [null], as Node acks undefined
		default:
			return consumed, out, gnet.None
		}
		// 43<id>[X]
		out = appendTextFrame(out, 2+len(id)+1+len(rest))
		out = append(out, '4', '3')
		out = append(out, id...)
		out = append(out, '[')
		out = append(out, rest...)
	}
	return consumed, out, gnet.None
}

// appendTextFrame appends the header of an unmasked, final text frame.
func appendTextFrame(out []byte, n int) []byte {
	switch {
	case n < 126:
		return append(out, 0x81, byte(n))
	case n < 1<<16:
		return append(out, 0x81, 126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x81, 127)
		return binary.BigEndian.AppendUint64(out, uint64(n))
	}
}

func main() {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:3100"), "listen address (env ADDR)")
	loops := flag.Int("loops", envInt("LOOPS", 0), "event loops, 0 = one per CPU (env LOOPS)")
	reusePort := flag.Bool("reuseport", os.Getenv("REUSEPORT") == "1", "SO_REUSEPORT (env REUSEPORT=1)")
	ping := flag.Bool("ping", true, "send an Engine.IO ping to every connection every -ping-every")
	pingEvery := flag.Duration("ping-every", pingInterval, "ping period (at most the advertised 25s)")
	flag.Parse()

	bound, err := concretePort(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "target-floor:", err)
		os.Exit(1)
	}
	h := &handler{booted: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- gnet.Run(h, "tcp://"+bound,
			gnet.WithMulticore(true),
			gnet.WithNumEventLoop(*loops),
			gnet.WithReuseAddr(true),
			gnet.WithReusePort(*reusePort),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(stderrLogger{}), // stdout carries only READY and memstats
		)
	}()
	select {
	case <-h.booted:
	case err := <-done:
		fmt.Fprintln(os.Stderr, "target-floor: cannot start:", err)
		os.Exit(1)
	}

	fmt.Fprintf(os.Stdout, "READY %s\n", bound)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	tick := time.NewTicker(*pingEvery)
	if !*ping {
		tick.Stop()
	}
	for {
		select {
		case <-tick.C:
			h.loops.Range(func(_, v any) bool {
				ls := v.(*loopState)
				_ = ls.el.Execute(context.Background(), ls.ping)
				return true
			})
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				printMemStats()
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = h.eng.Stop(ctx)
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
			os.Exit(0)
		case err := <-done:
			if err != nil {
				fmt.Fprintln(os.Stderr, "target-floor: stopped:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
}

// stderrLogger sends gnet's warnings and errors to stderr and drops the rest.
type stderrLogger struct{}

func (stderrLogger) Debugf(string, ...any) {}
func (stderrLogger) Infof(string, ...any)  {}
func (stderrLogger) Warnf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "target-floor: gnet: "+f+"\n", a...)
}
func (stderrLogger) Errorf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "target-floor: gnet: "+f+"\n", a...)
}
func (stderrLogger) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "target-floor: gnet: "+f+"\n", a...)
	os.Exit(1)
}

func printMemStats() {
	// "After GC" for a Go process: collect and return freed pages to the OS,
	// as every Go target does, so RSS is not inflated by ramp-up garbage.
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(os.Stdout, `{"heap_inuse":%d,"heap_alloc":%d,"sys":%d,"num_goroutine":%d,"num_gc":%d,"mallocs":%d,"total_alloc":%d}`+"\n",
		m.HeapInuse, m.HeapAlloc, m.Sys, runtime.NumGoroutine(), m.NumGC, m.Mallocs, m.TotalAlloc)
}

// concretePort replaces port 0 with a free port, so that the READY line
// names the real address and SO_REUSEPORT listeners (one per loop) share it.
func concretePort(addr string) (string, error) {
	addr = strings.TrimPrefix(addr, "tcp://")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}
