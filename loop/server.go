package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"sio/codec"
	"sio/limits"
)

// Handler receives complete requests and messages. Every method runs on the
// connection's loop and must not block.
type Handler interface {
	// ServeHTTP handles a request. It answers with c.Respond or
	// c.AcceptWebSocket, now or later (from c's loop, see Conn.Post); until it
	// does, c reads nothing more.
	ServeHTTP(c *Conn, r *Request)
	// OnMessage receives one complete WebSocket message; data is borrowed
	// until it returns.
	OnMessage(c *Conn, binary bool, data []byte)
	// OnClose runs once when c is closed, whoever closed it.
	OnClose(c *Conn, reason CloseReason)
}

// Options configures a Server. Zero values take the defaults noted.
type Options struct {
	Addr            string // host:port; default ":3000"
	NumLoops        int    // event loops; default one per CPU
	ReusePort       bool   // SO_REUSEPORT, for several processes on one port
	MaxHeaderBytes  int    // request head cap; default 16 KiB (431 beyond)
	MaxHeaders      int    // header field cap; default 100 (431 beyond)
	MaxBodyBytes    int64  // request body cap; default 1e6 (the handler answers 413)
	MaxMessageBytes int64  // WebSocket message cap; default 1e6 (close 1009 beyond)
	MaxFragments    int    // fragments per WebSocket message; default 1024 (close 1008 beyond)
	// MaxOutboundBytes is the unsent output per connection above which its
	// producer stops feeding it until it drains (Conn.OverCap,
	// Conn.NotifyDrained); default 1 MiB. The engine closes a WebSocket
	// client as a slow consumer when its session's backlog beyond this
	// passes engine.Config.MaxBufferedBytes, or when it stalls
	// (WriteStallTimeout).
	MaxOutboundBytes int
	// WriteStallTimeout closes a connection whose producer waits for it to
	// drain (Conn.NotifyDrained) and which takes no byte for this long, as
	// a slow consumer: it is not reading. 5 s.
	WriteStallTimeout time.Duration
	// MaxPendingTasks bounds each loop's queue of posted tasks: a goroutine
	// other than an event loop waits in Post while the queue is full. 65536.
	MaxPendingTasks int
	// RequestTimeout bounds how long an HTTP connection may take to deliver
	// a complete request (head and body), counted from its opening or its
	// last response: idle keep-alive connections are closed, a started
	// request gets 408. A request held by the handler is not timed. 30 s.
	RequestTimeout time.Duration
	// HeadTimeout bounds how long a started request head may stay
	// incomplete (slowloris); 408 then. 10 s. The body and idle keep-alive
	// keep RequestTimeout.
	HeadTimeout time.Duration
	// Admission, if set, vets each new connection before anything is
	// parsed; refused ones get 429 or 503 with Retry-After to their first
	// request, then are closed. A trusted proxy's connection is vetted at
	// its first request, under the client address its headers give.
	Admission *limits.Admission
	// TrustedProxies are the networks of the load balancers in front of
	// the server (none by default). A request from one of them has its
	// client address (Request.ClientAddr: admission, Handshake().Address,
	// rate limits keyed by address) taken from Forwarded or
	// X-Forwarded-For, and its scheme (Handshake().Secure) from Forwarded
	// or X-Forwarded-Proto. Requests from anyone else have those headers
	// ignored.
	TrustedProxies []netip.Prefix
	// Deflate, if set, turns permessage-deflate (RFC 7692) on: it is
	// negotiated with WebSocket clients that offer it, always without
	// context takeover either way, so that no connection keeps compression
	// state between messages. Compressed messages from clients are
	// inflated up to MaxMessageBytes; what the server compresses is up to
	// its writer (Conn.WriteMessage, Conn.WriteRaw). Off when nil.
	Deflate *codec.Deflater
	Logger  *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = ":3000"
	}
	if o.MaxHeaderBytes <= 0 || o.MaxHeaderBytes > 1<<30 {
		o.MaxHeaderBytes = 16 << 10
	}
	if o.MaxHeaders <= 0 {
		o.MaxHeaders = 100
	}
	if o.MaxBodyBytes <= 0 || o.MaxBodyBytes > 1<<30 {
		o.MaxBodyBytes = 1e6
	}
	if o.MaxMessageBytes <= 0 || o.MaxMessageBytes > 1<<30 {
		o.MaxMessageBytes = 1e6
	}
	if o.MaxFragments <= 0 {
		o.MaxFragments = 1024
	}
	if o.MaxOutboundBytes <= 0 {
		o.MaxOutboundBytes = 1 << 20
	}
	if o.WriteStallTimeout <= 0 {
		o.WriteStallTimeout = 5 * time.Second
	}
	if o.MaxPendingTasks <= 0 {
		o.MaxPendingTasks = 1 << 16
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.HeadTimeout <= 0 {
		o.HeadTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server runs a Handler on gnet event loops.
type Server struct {
	opts Options
	h    Handler
	base time.Time

	eng   gnet.Engine
	ready chan struct{}
	addr  net.Addr

	mu      sync.Mutex
	loops   []*Loop
	stopped bool

	loopTIDs sync.Map // OS thread id → *Loop

	stats stats
}

type stats struct {
	refused          atomic.Int64
	open             atomic.Int64
	accepted         atomic.Int64
	writes           atomic.Int64
	panics           atomic.Int64
	postWaits        atomic.Int64
	headTimeouts     atomic.Int64
	pauses           atomic.Int64
	pauseUnavailable atomic.Int64
	deflate          atomic.Int64
	inflated         atomic.Int64
	closed           [numReasons]atomic.Int64
}

// NewServer returns a server for h; call Serve to run it.
func NewServer(h Handler, opts Options) *Server {
	opts.setDefaults()
	return &Server{opts: opts, h: h, base: time.Now(), ready: make(chan struct{})}
}

// Options returns the effective options.
func (s *Server) Options() Options { return s.opts }

// trusted reports whether a is in Options.TrustedProxies.
func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Server) now() int64 { return int64(time.Since(s.base)) }

// Serve listens and runs the event loops until Stop. It returns once the
// engine has stopped.
func (s *Server) Serve() error {
	addr := s.opts.Addr
	if s.opts.ReusePort {
		// gnet binds one listener per loop with SO_REUSEPORT; on port 0 each
		// would get its own random port and only the first would be found.
		a, err := concretePort(addr)
		if err != nil {
			return err
		}
		addr = a
	}
	if !strings.Contains(addr, "://") {
		addr = "tcp://" + addr
	}
	err := gnet.Run(&gnetHandler{s: s}, addr,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.opts.NumLoops),
		gnet.WithReuseAddr(true),
		gnet.WithReusePort(s.opts.ReusePort),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{s.opts.Logger}),
		// Each loop keeps its OS thread, so OnLoopThread can tell a loop
		// from any other goroutine (and blocking calls can refuse to run there).
		gnet.WithLockOSThread(true),
	)
	s.stopDrivers()
	// gnet unlocks the loops' threads as they exit; forget them so that no
	// other goroutine scheduled there later passes for a loop.
	s.loopTIDs.Range(func(k, _ any) bool { s.loopTIDs.Delete(k); return true })
	return err
}

// concretePort replaces port 0 in addr with a free port.
func concretePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(addr, "tcp://"))
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

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the bound address, once Ready.
func (s *Server) Addr() net.Addr { return s.addr }

// Stop shuts the engine down: every connection is closed (handlers see
// OnClose with ReasonShutdown) and Serve returns.
func (s *Server) Stop(ctx context.Context) error {
	select {
	case <-s.ready:
	default:
		return errors.New("loop: server not running")
	}
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	return s.eng.Stop(ctx)
}

// Loops returns the loops that have served at least one connection.
func (s *Server) Loops() []*Loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Loop(nil), s.loops...)
}

// OnLoopThread reports whether the caller runs on one of the server's event
// loops (where blocking would stall every connection of that loop).
func (s *Server) OnLoopThread() bool {
	_, ok := s.loopTIDs.Load(unix.Gettid())
	return ok
}

func (s *Server) loopOf(el gnet.EventLoop) *Loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.loops {
		if l.el == el {
			return l
		}
	}
	l := newLoop(s, el, len(s.loops))
	s.loops = append(s.loops, l)
	s.loopTIDs.Store(unix.Gettid(), l) // called on the loop's own (locked) thread
	if a := s.opts.Admission; a != nil && l.idx == 0 {
		// The per-IP table forgets idle clients as they leave; this sweep,
		// on loop 0's timer, forgets those whose rate history outlived them.
		t := &Timer{}
		t.Init(l, func() { a.Sweep(s.now()); t.Reset(a.SweepEvery()) })
		t.Reset(a.SweepEvery())
	}
	return l
}

func (s *Server) stopDrivers() {
	s.mu.Lock()
	loops := s.loops
	s.mu.Unlock()
	for _, l := range loops {
		select {
		case <-l.stop:
		default:
			close(l.stop)
		}
		<-l.driverDone
		l.shutdown()
	}
}

func (s *Server) count(r CloseReason) { s.stats.closed[r].Add(1) }

// recovered counts and logs a panic caught at a connection boundary.
func (s *Server) recovered(r any, c *Conn) {
	s.stats.panics.Add(1)
	s.opts.Logger.Error("panic recovered; closing the connection", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	if c != nil {
		c.reason = ReasonPanic
		c.flags &^= flagGraceful
		c.Close(ReasonPanic)
	}
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Open, Accepted, Writes, Panics, Refused int64
	// PostWaits counts the times a producer waited in Loop.Post for a full
	// task queue; HeadTimeouts the requests dropped for an incomplete head;
	// Pauses the times a connection's input was paused (Conn.PauseInput),
	// PauseUnavailable those it could not be.
	PostWaits, HeadTimeouts, Pauses, PauseUnavailable int64
	// Deflate counts the WebSocket connections that negotiated
	// permessage-deflate (Options.Deflate); Inflated the compressed
	// messages received and inflated.
	Deflate, Inflated int64
	// BytesIn counts the bytes consumed from the connections (requests,
	// frames, what was refused), BytesOut those handed to them for writing
	// (gnet keeps what a full socket does not take yet): the wire, headers
	// and framing included.
	BytesIn, BytesOut int64
	Closed            map[string]int64 // by CloseReason name
}

// Stats returns the counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	st := Stats{
		Open: s.stats.open.Load(), Accepted: s.stats.accepted.Load(),
		Writes: s.stats.writes.Load(), Panics: s.stats.panics.Load(), Refused: s.stats.refused.Load(),
		PostWaits: s.stats.postWaits.Load(), HeadTimeouts: s.stats.headTimeouts.Load(),
		Pauses: s.stats.pauses.Load(), PauseUnavailable: s.stats.pauseUnavailable.Load(),
		Deflate: s.stats.deflate.Load(), Inflated: s.stats.inflated.Load(),
		Closed: make(map[string]int64, numReasons),
	}
	for r := CloseReason(1); r < numReasons; r++ {
		st.Closed[r.String()] = s.stats.closed[r].Load()
	}
	for _, l := range s.Loops() {
		st.BytesIn += l.bytesIn.Load()
		st.BytesOut += l.bytesOut.Load()
	}
	return st
}

// gnetHandler adapts gnet's callbacks; it is the only gnet.EventHandler.
type gnetHandler struct {
	gnet.BuiltinEventEngine
	s *Server
}

func (g *gnetHandler) OnBoot(eng gnet.Engine) gnet.Action {
	s := g.s
	s.eng = eng
	if fd, err := eng.Dup(); err == nil {
		if sa, err := unix.Getsockname(fd); err == nil {
			switch a := sa.(type) {
			case *unix.SockaddrInet4:
				s.addr = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
			case *unix.SockaddrInet6:
				s.addr = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
			}
		}
		_ = unix.Close(fd)
	}
	close(s.ready)
	return gnet.None
}

func (g *gnetHandler) OnShutdown(gnet.Engine) {
	g.s.loopTIDs.Range(func(k, _ any) bool { g.s.loopTIDs.Delete(k); return true })
}

func (g *gnetHandler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := g.s
	l := s.loopOf(gc.EventLoop())
	c := &Conn{gc: gc, loop: l}
	c.hp.MaxHeaderBytes = int32(s.opts.MaxHeaderBytes)
	c.hp.MaxHeaders = int32(s.opts.MaxHeaders)
	gc.SetContext(c)
	s.stats.open.Add(1)
	s.stats.accepted.Add(1)
	peer := remoteIP(gc.RemoteAddr())
	if len(s.opts.TrustedProxies) > 0 && s.trusted(peer) {
		c.flags |= flagTrusted // admitted at its first request, under the client's address
	} else if a := s.opts.Admission; a != nil {
		d := a.Admit(peer, s.now())
		if d.OK {
			c.flags |= flagAdmitted
		} else {
			c.refuse, c.retryAfter = uint16(d.Status), uint16((d.RetryAfter+time.Second-1)/time.Second)
			s.stats.refused.Add(1)
		}
	}
	c.armTimer(s.opts.RequestTimeout)
	return nil, gnet.None
}

func (g *gnetHandler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, _ := gc.Context().(*Conn)
	if c == nil {
		return gnet.Close
	}
	l := c.loop
	if c.flags&flagPaused != 0 {
		// gnet re-registered reads (its write state changed) and read one
		// buffer: keep it for later and pause again.
		c.setInterest(true)
		return gnet.None
	}
	l.enter()
	l.current = c
	g.serve(c)
	l.exit()
	l.current = nil
	if c.flags&flagCloseNow != 0 {
		return gnet.Close
	}
	return gnet.None
}

func (g *gnetHandler) serve(c *Conn) {
	defer func() {
		c.loop.serving = nil
		if r := recover(); r != nil {
			g.s.recovered(r, c)
		}
	}()
	c.loop.serving = c
	c.serve()
}

func (g *gnetHandler) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, _ := gc.Context().(*Conn)
	if c == nil {
		return gnet.None
	}
	s := g.s
	s.stats.open.Add(-1)
	if c.flags&flagAdmitted != 0 {
		ip := remoteIP(gc.RemoteAddr())
		if fwd, ok := c.loop.admittedAs[c]; ok {
			ip = fwd
			delete(c.loop.admittedAs, c)
		}
		s.opts.Admission.Release(ip)
	}
	if c.reason == ReasonNone {
		s.mu.Lock()
		if s.stopped {
			c.reason = ReasonShutdown
		}
		s.mu.Unlock()
	}
	l := c.loop
	if l.depth > 0 { // closed from inside one of our callbacks
		c.onClosed(err)
		return gnet.None
	}
	l.enter()
	func() {
		defer func() {
			if r := recover(); r != nil {
				s.recovered(r, nil)
			}
		}()
		c.onClosed(err)
	}()
	l.exit()
	return gnet.None
}

// remoteIP extracts the peer IP for admission (the zero Addr if unknown).
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// gnetLogger routes gnet's logs to slog, demoting its chatter.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(string, ...any) {}
func (g gnetLogger) Infof(string, ...any)  {}
func (g gnetLogger) Warnf(f string, a ...any) {
	g.l.Debug("gnet: " + fmt.Sprintf(f, a...))
}
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error("gnet fatal: " + fmt.Sprintf(f, a...)) }
