package engine

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"sio/codec"
	"sio/loop"
)

// Server is an Engine.IO v4 server. It is a loop.Handler.
type Server struct {
	cfg      Config
	loopOpts loop.Options
	ls       *loop.Server
	sessions sessionMap

	onConnection func(s *Session, r *loop.Request)

	mu       sync.Mutex
	closing  bool
	stats    serverStats
	upgrades []string
}

type serverStats struct {
	handshakes atomic.Int64
	upgrades   atomic.Int64
	closedMu   sync.Mutex
	closed     map[Reason]int64
}

// NewServer builds an Engine.IO server that listens with opts. The loop's
// body and message caps follow cfg.MaxHTTPBufferSize.
func NewServer(cfg Config, opts loop.Options) *Server {
	cfg.setDefaults()
	opts.MaxBodyBytes = cfg.MaxHTTPBufferSize
	opts.MaxMessageBytes = cfg.MaxHTTPBufferSize
	if cfg.PerMessageDeflate != nil {
		opts.Deflate = cfg.PerMessageDeflate.deflater()
	}
	s := &Server{cfg: cfg}
	s.ls = loop.NewServer(s, opts)
	s.loopOpts = s.ls.Options()
	s.upgrades = []string{}
	if !cfg.DisableUpgrades && cfg.allows("websocket") && cfg.allows("polling") {
		s.upgrades = []string{"websocket"}
	}
	s.stats.closed = make(map[Reason]int64)
	return s
}

// OnConnection sets the callback for new sessions. It runs on the session's
// loop; r is the handshake request, borrowed until it returns. Set callbacks
// on the session there.
func (s *Server) OnConnection(fn func(s *Session, r *loop.Request)) { s.onConnection = fn }

// Serve runs the server until Close.
func (s *Server) Serve() error { return s.ls.Serve() }

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ls.Ready() }

// Loop returns the underlying loop server (address, stats).
func (s *Server) Loop() *loop.Server { return s.ls }

// Config returns the effective configuration.
func (s *Server) Config() Config { return s.cfg }

// Close closes every session with reason "server shutting down" and stops the
// server. ctx bounds the wait.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	var wg sync.WaitGroup
	s.sessions.each(func(ss *Session) {
		wg.Add(1)
		ss.owner.Load().Post(loop.TaskFunc(func() {
			defer wg.Done()
			ss.exec(ss.owner.Load(), func() { ss.close(ReasonShutdown, true) })
		}))
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return s.ls.Stop(ctx)
}

// Count is the number of open sessions.
func (s *Server) Count() int { return s.sessions.len() }

// Stats is a snapshot of session counters.
type Stats struct {
	Sessions   int
	Handshakes int64
	Upgrades   int64
	Closed     map[Reason]int64
	Conn       loop.Stats
}

// Stats returns the counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	st := Stats{Sessions: s.Count(), Handshakes: s.stats.handshakes.Load(),
		Upgrades: s.stats.upgrades.Load(), Closed: map[Reason]int64{}, Conn: s.ls.Stats()}
	s.stats.closedMu.Lock()
	for k, v := range s.stats.closed {
		st.Closed[k] = v
	}
	s.stats.closedMu.Unlock()
	return st
}

func (s *Server) closed(r Reason) {
	s.stats.closedMu.Lock()
	s.stats.closed[r]++
	s.stats.closedMu.Unlock()
}

// --- loop.Handler ---------------------------------------------------------

// ServeHTTP routes a request (on the connection's loop).
func (s *Server) ServeHTTP(c *loop.Conn, r *loop.Request) {
	if !bytes.HasPrefix(r.Path, []byte(s.cfg.Path)) {
		if s.cfg.Fallback != nil {
			s.cfg.Fallback(c, r)
			return
		}
		c.Respond(&loop.Response{Status: 404, ContentType: "text/plain; charset=utf-8", Body: []byte("Not Found")})
		return
	}
	var extra []byte
	if s.cfg.CORS != nil {
		if string(r.Method) == "OPTIONS" && !r.Upgrade {
			s.cfg.CORS.preflight(c, r)
			return
		}
		extra = s.cfg.CORS.appendHeaders(nil, r)
	}
	if s.cfg.Files != nil && len(r.Path) > len(s.cfg.Path) && s.cfg.Files(c, r, extra) {
		return
	}
	transportB, _, transportRepeated := codec.QueryParam(r.RawQuery, "transport")
	upgrade := r.Upgrade && string(r.Method) == "GET" && string(transportB) == "websocket"

	// Node's verification order: transport, Origin, sid, then method,
	// Upgrade, allowRequest, and EIO at the handshake. A repeated parameter
	// becomes an array in Node's query parser and matches nothing.
	if transportRepeated || !s.cfg.allows(string(transportB)) {
		s.refuse(c, r, upgrade, extra, codec.ErrCodeUnknownTransport, "")
		return
	}
	// Node's next check, an Origin with invalid characters (code 3), cannot
	// trigger here: the head parser already refused control characters in
	// any header value with 400.
	sid, hasSID, sidRepeated := codec.QueryParam(r.RawQuery, "sid")
	if hasSID {
		var ss *Session
		if !sidRepeated {
			ss = s.sessions.get(sid)
		}
		if ss == nil {
			s.refuse(c, r, upgrade, extra, codec.ErrCodeUnknownSID, "")
			return
		}
		if s.cfg.AllowEIO3 && protocolMismatch(r, ss) {
			s.refuse(c, r, upgrade, extra, codec.ErrCodeBadRequest, "")
			return
		}
		isWS := string(transportB) == "websocket"
		if !upgrade && (isWS || ss.upgraded.Load() || ss.upgrading.Load()) {
			s.refuse(c, r, upgrade, extra, codec.ErrCodeBadRequest, "")
			return
		}
		if upgrade {
			if !isWS {
				s.refuse(c, r, upgrade, extra, codec.ErrCodeBadRequest, "")
				return
			}
			if s.originRefused(r) {
				s.refuse(c, r, upgrade, extra, codec.ErrCodeForbidden, "")
				return
			}
			s.probeUpgrade(c, r, ss)
			return
		}
		s.servePolling(c, r, ss, extra)
		return
	}
	if string(r.Method) != "GET" {
		s.refuse(c, r, upgrade, extra, codec.ErrCodeBadHandshakeMethod, "")
		return
	}
	if string(transportB) == "websocket" && !upgrade {
		s.refuse(c, r, upgrade, extra, codec.ErrCodeBadRequest, "")
		return
	}
	if upgrade && s.originRefused(r) {
		s.refuse(c, r, upgrade, extra, codec.ErrCodeForbidden, "")
		return
	}
	if s.cfg.AllowRequest != nil {
		if err := s.cfg.AllowRequest(r); err != nil {
			var rf *Refusal
			if errors.As(err, &rf) {
				s.refuseWith(c, upgrade, extra, rf)
				return
			}
			s.refuse(c, r, upgrade, extra, codec.ErrCodeForbidden, err.Error())
			return
		}
	}
	v3 := false
	if eio, _, repeated := codec.QueryParam(r.RawQuery, "EIO"); repeated || string(eio) != "4" {
		if !s.cfg.AllowEIO3 || repeated || string(eio) != "3" {
			s.refuse(c, r, upgrade, extra, codec.ErrCodeUnsupportedProtocol, "")
			return
		}
		v3 = true
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		c.Respond(&loop.Response{Status: 503, Extra: append(extra, "Retry-After: 1\r\n"...), Close: true})
		return
	}
	if a := s.loopOpts.Admission; a != nil {
		if d := a.AllowHandshake(c.Loop().Now()); !d.OK {
			// Too many new sessions per second: clients back off on 503.
			secs := int64((d.RetryAfter + time.Second - 1) / time.Second)
			extra = append(extra, "Retry-After: "...)
			extra = strconv.AppendInt(extra, secs, 10)
			extra = append(extra, "\r\n"...)
			c.Respond(&loop.Response{Status: d.Status, ContentType: "text/plain; charset=utf-8", Extra: extra,
				Body: []byte("Service Unavailable"), Close: true})
			return
		}
	}
	s.handshake(c, r, upgrade, extra, v3)
}

// refuse answers an Engine.IO error: JSON over plain HTTP, or the raw
// text/html answer Node writes on an upgrade request before destroying it.
func (s *Server) refuse(c *loop.Conn, r *loop.Request, upgrade bool, extra []byte, code int, msg string) {
	if msg == "" {
		msg = codec.ErrorMessages[code]
	}
	status := 400
	if code == codec.ErrCodeForbidden {
		status = 403
	}
	if upgrade {
		c.Respond(&loop.Response{Status: status, ContentType: "text/html", Body: []byte(msg), Close: true})
		return
	}
	c.Respond(&loop.Response{Status: status, ContentType: "application/json", Extra: extra,
		Body: codec.AppendErrorJSON(nil, code, msg)})
}

// refuseWith answers an AllowRequest *Refusal: its status, Retry-After, and
// the Engine.IO error JSON (code 4, the refusal's message) or, on an
// upgrade request, the message as text.
func (s *Server) refuseWith(c *loop.Conn, upgrade bool, extra []byte, rf *Refusal) {
	status := rf.Status
	if status == 0 {
		status = 503
	}
	secs := int64((rf.RetryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	extra = append(extra, "Retry-After: "...)
	extra = strconv.AppendInt(extra, secs, 10)
	extra = append(extra, "\r\n"...)
	if upgrade {
		c.Respond(&loop.Response{Status: status, ContentType: "text/html", Extra: extra, Body: []byte(rf.Error()), Close: true})
		return
	}
	c.Respond(&loop.Response{Status: status, ContentType: "application/json", Extra: extra,
		Body: codec.AppendErrorJSON(nil, codec.ErrCodeForbidden, rf.Error()), Close: true})
}

// originRefused applies CORS.CheckWebSocketOrigin to a WebSocket handshake.
func (s *Server) originRefused(r *loop.Request) bool {
	c := s.cfg.CORS
	return c != nil && c.CheckWebSocketOrigin && len(r.Origin) > 0 && !c.allowed(r.Origin)
}

func (s *Server) handshake(c *loop.Conn, r *loop.Request, upgrade bool, extra []byte, v3 bool) {
	l := c.Loop()
	ss := &Session{srv: s, id: NewID(), remote: c.RemoteAddr(), secure: r.Proto == "https", v3: v3}
	if v3 {
		ss.b64 = wantsBase64(r)
		ss.wsB64 = upgrade && ss.b64
	}
	if ta, ok := ss.remote.(*net.TCPAddr); r.ClientAddr.IsValid() && (!ok || ta.AddrPort().Addr().Unmap() != r.ClientAddr) {
		ss.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(r.ClientAddr, 0)) // a trusted proxy's client
	}
	ss.owner.Store(l)
	upgrades := s.upgrades
	if upgrade {
		if !c.AcceptWebSocket(r) {
			return
		}
		ss.transport = transportWebSocket
		ss.ws = c
		ss.upgraded.Store(true)
		upgrades = []string{}
		c.SetContext(ss)
	}
	s.sessions.put(ss)
	s.stats.handshakes.Add(1)
	var buf [192]byte // the open packet is copied into the connection's buffer: no allocation
	open := codec.AppendHandshake(append(buf[:0], '0'), ss.id, upgrades,
		s.cfg.PingInterval.Milliseconds(), s.cfg.PingTimeout.Milliseconds(), s.cfg.MaxHTTPBufferSize)
	if upgrade {
		c.WriteMessage(ws.OpText, open, nil, true) // compressed at threshold 0, as Node does
	} else {
		if v3 {
			open = codec.AppendPayloadPacketV3(nil, codec.PacketOpen, false, open[1:])
		}
		c.SetContext(ss)
		c.Respond(&loop.Response{Status: 200, ContentType: "text/plain; charset=UTF-8",
			Extra: append(extra, "Cache-Control: no-store\r\n"...), Body: open})
	}
	ss.startHeartbeat()
	if s.onConnection != nil {
		s.onConnection(ss, r)
	}
}

// --- polling --------------------------------------------------------------

func (s *Server) servePolling(c *loop.Conn, r *loop.Request, ss *Session, extra []byte) {
	method := string(r.Method)
	switch method {
	case "GET":
		c.SetContext(ss)
		ss.exec(c.Loop(), func() { ss.onPollGET(c, extra) })
	case "POST":
		c.SetContext(ss)
		if r.BodyTooLarge {
			ss.exec(c.Loop(), func() { ss.onPollPOST(c, nil, extra, postTooLarge) })
			return
		}
		kind := postOK
		if codec.EqualFold(r.ContentType, "application/octet-stream") {
			kind = postBinary
		}
		body := r.Body
		if ss.owner.Load() != c.Loop() {
			body = append([]byte(nil), body...) // the borrowed body does not survive the hop
		}
		ss.exec(c.Loop(), func() { ss.onPollPOST(c, body, extra, kind) })
	default:
		c.Respond(&loop.Response{Status: 500, Extra: extra})
	}
}

func (ss *Session) unknown(c *loop.Conn, extra []byte) {
	respondOn(ss.owner.Load(), c, &loop.Response{Status: 400, ContentType: "application/json", Extra: extra,
		Body: codec.AppendErrorJSON(nil, codec.ErrCodeUnknownSID, codec.ErrorMessages[codec.ErrCodeUnknownSID])})
}

func (ss *Session) badRequest(c *loop.Conn, extra []byte) {
	respondOn(ss.owner.Load(), c, &loop.Response{Status: 400, ContentType: "application/json", Extra: extra,
		Body: codec.AppendErrorJSON(nil, codec.ErrCodeBadRequest, codec.ErrorMessages[codec.ErrCodeBadRequest])})
}

func (ss *Session) onPollGET(c *loop.Conn, extra []byte) {
	cur := ss.owner.Load()
	if ss.upgrading.Load() && ss.transport == transportPolling && ss.state != stateClosed {
		// "5" came on the probe before this GET, and waits in the queue.
		ss.badRequest(c, extra)
		return
	}
	if ss.straggler {
		ss.straggler = false
		ss.closeTimer.stop()
		ss.srv.sessions.del(ss)
		respondOn(cur, c, &loop.Response{Status: 200, ContentType: "text/plain; charset=UTF-8",
			Extra: append(extra, "Cache-Control: no-store\r\n"...), Body: ss.ctlBody(bodyNoop)})
		return
	}
	if ss.expired() {
		ss.unknown(c, extra)
		return
	}
	if ss.transport != transportPolling {
		ss.badRequest(c, extra)
		return
	}
	if ss.pollConn != nil {
		// Overlapping GETs: the new one gets 400, the held one the close packet.
		respondOn(cur, c, &loop.Response{Status: 400, Extra: extra})
		ss.close(ReasonTransportError, true)
		return
	}
	ss.pollConn, ss.pollExtra = c, extra
	switch {
	case ss.state == stateClosing:
		// Node drains its write buffer before it closes the transport: what
		// is buffered goes out alone, and the close packet comes with the
		// next GET. (Sent together, socket.io-client sees the transport
		// close before the DISCONNECT it handles a tick later, and
		// reconnects.)
		if len(ss.pending) > 0 {
			ss.flushPolling()
			return
		}
		ss.answerPoll(ss.ctlBody(bodyNoopClose))
		ss.close(ss.closeReason, false)
	case len(ss.pending) > 0:
		ss.flushPolling()
	case ss.probeOpen.Load():
		// Upgrading: this GET came after the probe WebSocket opened (on
		// another loop, maybe, that has not passed "2probe" or "5" on
		// yet). A client sends "5" only once its last poll has returned,
		// so it may be waiting for this one: released with a noop after
		// upgradePollHold, as Node's 100 ms check does. A "5" read
		// meanwhile shows that nobody waits for it, and completeUpgrade
		// refuses it, as every poll from then on. (Released at once, it
		// would succeed where the same GET a moment later fails: the
		// official suites' "ignores HTTP requests with same sid after
		// upgrade" sends "2probe", "5" and the GET together.)
		ss.pollAfterProbe = true
		ss.pollRelease.arm(ss.owner.Load(), ss.releasePoll, upgradePollHold)
	}
}

// upgradePollHold bounds how long a GET that came during an upgrade is
// held before it is released with a noop (Node's check interval). A
// variable for the tests only (export_test.go).
var upgradePollHold = 100 * time.Millisecond

// releasePoll answers a GET held during an upgrade with a noop (owner loop).
func (ss *Session) releasePoll() {
	ss.pollRelease.stop()
	if ss.pollConn != nil && ss.state == stateOpen && ss.transport == transportPolling {
		ss.answerPoll(ss.ctlBody(bodyNoop))
	}
}

type postKind uint8

const (
	postOK postKind = iota
	postBinary
	postTooLarge
)

var okBody = []byte("ok")

func (ss *Session) onPollPOST(c *loop.Conn, body []byte, extra []byte, kind postKind) {
	cur := ss.owner.Load()
	if ss.expired() {
		ss.unknown(c, extra)
		return
	}
	if ss.transport != transportPolling {
		ss.badRequest(c, extra)
		return
	}
	switch kind {
	case postTooLarge:
		respondOn(cur, c, &loop.Response{Status: 413, Extra: extra, Close: true})
		return
	case postBinary: // v4 polling is always text; Node errors (and never answered: CVE-2026-59725)
		if !ss.v3 {
			ss.badRequest(c, extra)
			ss.close(ReasonTransportError, true)
			return
		}
	}
	if ss.v3 {
		ss.onPollPOSTV3(c, body, extra, kind == postBinary)
		return
	}
	pr := codec.NewPayloadReader(body, ss.srv.cfg.MaxPayloadPackets)
	for ss.state != stateClosed {
		p, ok, err := pr.Next()
		if err != nil {
			ss.badRequest(c, extra)
			ss.close(ReasonParseError, true)
			return
		}
		if !ok {
			break
		}
		ss.onPacket(p)
	}
	respondOn(cur, c, &loop.Response{Status: 200, ContentType: "text/html",
		Extra: append(extra, "Cache-Control: no-store\r\n"...), Body: okBody})
}

// --- WebSocket ------------------------------------------------------------

// probeCtx marks a WebSocket that is probing an upgrade: every frame on it
// goes through the owner loop's queue until the session has moved to it.
// From the upgrade packet ("5") on, frames are held here, on the
// connection's own loop, and replayed in order once the session is there:
// posted to the old owner instead, one could be overtaken by a later frame
// handled directly after the move.
type probeCtx struct {
	s         *Session
	b64       bool // a v3 client asked for binary as base64 text (b64=1)
	upgrading bool // "5" was read: hold what follows (connection's loop only)
	held      []heldFrame
	heldBytes int
}

type heldFrame struct {
	data   []byte
	binary bool
}

func (s *Server) probeUpgrade(c *loop.Conn, r *loop.Request, ss *Session) {
	if !c.AcceptWebSocket(r) {
		return
	}
	ss.probeOpen.Store(true) // from now on a GET may come after "3probe"
	c.SetContext(&probeCtx{s: ss, b64: ss.v3 && wantsBase64(r)})
	ss.exec(c.Loop(), func() { ss.onProbeOpen(c) })
}

func (ss *Session) onProbeOpen(c *loop.Conn) {
	cur := ss.owner.Load()
	if ss.state != stateOpen || ss.transport != transportPolling || ss.probe != nil || ss.srv.cfg.DisableUpgrades {
		// Node accepts the duplicate WebSocket, then closes it.
		closeConnOn(cur, c, ReasonForcedClose)
		if ss.probe == nil {
			ss.probeOpen.Store(false) // no probe after all
		}
		return
	}
	ss.probe = c
	ss.upgradeTimer.arm(cur, func() {
		if ss.probe != nil {
			closeConnOn(ss.owner.Load(), ss.probe, ReasonForcedClose)
			ss.probeGone()
		}
	}, ss.srv.cfg.UpgradeTimeout)
}

var probeReply = []byte("probe")

// onProbeMessage handles a frame from a probing WebSocket (owner loop).
func (ss *Session) onProbeMessage(c *loop.Conn, data []byte, binary bool) {
	cur := ss.owner.Load()
	if ss.ws == c { // already upgraded: the frame was queued behind the move
		ss.onWSMessage(data, binary)
		return
	}
	if ss.probe != c || ss.state == stateClosed {
		return // a session closing on the server's side still completes its upgrade, then closes
	}
	switch {
	case !binary && string(data) == "2probe":
		// "3probe" went out when the WebSocket's loop read it.
		if ss.pollConn != nil && !ss.pollAfterProbe {
			// Held since before the probe opened: the client cannot send
			// "5" before it returns, so it goes at once.
			ss.answerPoll(ss.ctlBody(bodyNoop))
		}
	case !binary && string(data) == "5":
		ss.completeUpgrade(c)
	default:
		closeConnOn(cur, c, ReasonForcedClose)
		ss.probeGone()
		ss.upgradeTimer.stop()
	}
}

// probeGone forgets a probe that failed (owner loop): the session goes on
// polling, and a GET held as having come after "3probe" is a plain poll.
func (ss *Session) probeGone() {
	ss.probe = nil
	ss.probeOpen.Store(false)
	ss.pollAfterProbe = false
}

// completeUpgrade switches the session to the WebSocket and moves its
// ownership to the WebSocket's loop.
func (ss *Session) completeUpgrade(c *loop.Conn) {
	ss.upgradeTimer.stop()
	ss.pollRelease.stop()
	switch {
	case ss.pollConn != nil && ss.pollAfterProbe:
		// It came after "3probe", and the client sent "5" without waiting
		// for it: refused, as every poll from now on.
		pc, extra := ss.pollConn, ss.pollExtra
		ss.pollConn, ss.pollExtra, ss.pollAfterProbe = nil, nil, false
		ss.badRequest(pc, extra)
	case ss.pollConn != nil:
		ss.answerPoll(ss.ctlBody(bodyNoop))
	}
	ss.probe = nil
	ss.transport = transportWebSocket
	ss.ws = c
	ss.upgraded.Store(true)
	ss.srv.stats.upgrades.Add(1)
	pending := ss.pending
	ss.pending = nil
	cur := ss.owner.Load()
	target := c.Loop()
	if target == cur {
		held := adoptConn(c, ss)
		ss.requeuePolling(pending)
		ss.replayHeld(held)
		ss.finishClosing()
		return
	}
	// Hand over to the WebSocket's loop. Nothing below touches the session on
	// this loop after the Post: the migration task owns it from then on. The
	// owner changes after the Post, so that whatever is posted to the new
	// owner (having seen it) queues behind the migration.
	hbAt, hbArmed := ss.hb.When(), ss.hb.Armed()
	ss.hb.Stop()
	ss.closeTimer.stop() // a pending server close completes over the WebSocket (finishClosing)
	ss.mu.Lock()
	ss.migrating.Store(true)
	ss.mu.Unlock()
	target.Post(&migration{ss: ss, c: c, pending: pending, hbAt: hbAt, hbArmed: hbArmed})
	ss.owner.Store(target)
}

type migration struct {
	ss      *Session
	c       *loop.Conn
	pending []byte
	hbAt    int64
	hbArmed bool
}

func (m *migration) Run(l *loop.Loop) {
	ss := m.ss
	ss.owner.Store(l)
	ss.hb.InitArg(l, heartbeatFired, ss) // upgradeTimer and closeTimer were stopped on the old loop
	if ss.state == stateClosed {
		return
	}
	if m.hbArmed {
		ss.hb.ResetAt(m.hbAt)
	}
	held := adoptConn(m.c, ss)
	ss.requeuePolling(m.pending)
	ss.replayHeld(held)
	ss.finishClosing()
	ss.mu.Lock()
	ss.migrating.Store(false)
	flush := ss.flushQueued
	ss.mu.Unlock()
	if flush {
		ss.Run(l)
	}
}

// adoptConn makes the upgraded WebSocket the session's (on its loop) and
// returns the frames it held since the upgrade packet.
func adoptConn(c *loop.Conn, ss *Session) []heldFrame {
	var held []heldFrame
	if pc, ok := c.Context().(*probeCtx); ok {
		held = pc.held
		pc.held = nil
		ss.wsB64 = pc.b64
	}
	c.SetContext(ss)
	return held
}

// replayHeld handles the frames that followed the upgrade packet.
func (ss *Session) replayHeld(held []heldFrame) {
	for _, f := range held {
		ss.onWSMessage(f.data, f.binary)
	}
}

// maxHeldBytes bounds what a probe WebSocket may send between its upgrade
// packet and the session's arrival on its loop (a few loop passes).
func (s *Server) maxHeldBytes() int { return 4 * int(s.cfg.MaxHTTPBufferSize) }

// OnMessage receives a WebSocket message (on the connection's loop).
func (s *Server) OnMessage(c *loop.Conn, binary bool, data []byte) {
	switch ctx := c.Context().(type) {
	case *Session:
		ss := ctx
		if ss.owner.Load() == c.Loop() {
			ss.onWSMessage(data, binary)
			return
		}
		cp := append([]byte(nil), data...)
		ss.exec(c.Loop(), func() { ss.onWSMessage(cp, binary) })
	case *probeCtx:
		ss := ctx.s
		cp := append([]byte(nil), data...)
		if ctx.upgrading {
			ctx.heldBytes += len(cp)
			if ctx.heldBytes > s.maxHeldBytes() {
				ctx.held = nil
				c.CloseWebSocket(ws.StatusPolicyViolation, loop.ReasonProtocolError)
				return
			}
			ctx.held = append(ctx.held, heldFrame{data: cp, binary: binary})
			return
		}
		if !binary && string(data) == "2probe" {
			// Answered here, at once, as Node does: the client may go on
			// (another request, "5") before the session's loop gets to it.
			c.WriteMessage(ws.OpText, packetDigit[codec.PacketPong], probeReply, true)
		}
		if !binary && string(data) == "5" {
			ctx.upgrading = true
			// The client sent "5" before any later polling request: refuse
			// those now, not once the owner loop has run the upgrade (a GET
			// could otherwise overtake it and be answered as a poll).
			ss.upgrading.Store(true)
		}
		ss.owner.Load().Post(&sessTask{s: ss, fn: func() { ss.onProbeMessage(c, cp, binary) }})
	}
}

func (ss *Session) onWSMessage(data []byte, binary bool) {
	if ss.state == stateClosed {
		return
	}
	if ss.v3 {
		ss.onWSMessageV3(data, binary)
		return
	}
	if binary {
		ss.onPacket(codec.DecodeBinary(data))
		return
	}
	p, err := codec.DecodeText(data)
	if err != nil {
		ss.close(ReasonParseError, true)
		return
	}
	ss.onPacket(p)
}

// OnClose learns that a connection closed (on its loop).
func (s *Server) OnClose(c *loop.Conn, reason loop.CloseReason) {
	var ss *Session
	switch ctx := c.Context().(type) {
	case *Session:
		ss = ctx
	case *probeCtx:
		ss = ctx.s
	default:
		return
	}
	ss.exec(c.Loop(), func() { ss.onConnClosed(c, reason) })
}

func (ss *Session) onConnClosed(c *loop.Conn, reason loop.CloseReason) {
	if ss.state == stateClosed {
		return
	}
	switch c {
	case ss.ws:
		r := ReasonTransportClose
		switch reason {
		case loop.ReasonMessageTooLarge:
			r = ReasonMessageTooBig
		case loop.ReasonProtocolError, loop.ReasonInvalidUTF8, loop.ReasonInvalidDeflate, loop.ReasonTooManyFragments:
			r = ReasonProtocolError
		case loop.ReasonSlowConsumer:
			r = ReasonSlowConsumer
		case loop.ReasonIOError:
			r = ReasonTransportError
		case loop.ReasonShutdown:
			r = ReasonShutdown
		}
		ss.ws = nil
		ss.close(r, false)
	case ss.probe:
		ss.probeGone()
		ss.upgradeTimer.stop()
	case ss.pollConn:
		// Node: "poll connection closed prematurely".
		ss.pollConn = nil
		ss.close(ReasonTransportError, false)
	}
}

// finishClosing closes a session whose server-side close waited for a
// polling GET, once it has moved to a WebSocket: the buffered packets were
// just written to it, so the close frame follows them.
func (ss *Session) finishClosing() {
	if ss.state == stateClosing {
		ss.close(ss.closeReason, true)
	}
}

// requeuePolling moves a polling payload that was waiting for a GET onto the
// WebSocket, after an upgrade.
func (ss *Session) requeuePolling(payload []byte) {
	if len(payload) == 0 {
		return
	}
	if ss.v3 {
		ss.requeuePollingV3(payload)
		return
	}
	pr := codec.NewPayloadReader(payload, 0)
	for {
		p, ok, err := pr.Next()
		if err != nil || !ok {
			return
		}
		ss.queue(outPacket{typ: p.Type, binary: p.Binary, data: p.Data})
	}
}
