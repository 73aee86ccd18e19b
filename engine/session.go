package engine

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/valyala/bytebufferpool"

	"sio/codec"
	"sio/loop"
)

// Reason is why a session closed; the strings are Node's.
type Reason string

// Session close reasons.
const (
	ReasonTransportClose Reason = "transport close" // the client closed the WebSocket or sent a close packet
	ReasonTransportError Reason = "transport error" // polling overlap, a dropped poll, a bad request body
	ReasonPingTimeout    Reason = "ping timeout"
	ReasonParseError     Reason = "parse error"
	ReasonForcedClose    Reason = "forced close"         // Session.Close
	ReasonShutdown       Reason = "server shutting down" // Server.Close
	ReasonSlowConsumer   Reason = "slow consumer"        // too much output buffered
	ReasonMessageTooBig  Reason = "message too large"    // a WebSocket message over maxPayload
	ReasonProtocolError  Reason = "protocol error"       // a WebSocket framing violation
)

type transport uint8

const (
	transportPolling transport = iota
	transportWebSocket
)

func (t transport) String() string {
	if t == transportWebSocket {
		return "websocket"
	}
	return "polling"
}

type sessState uint8

const (
	stateOpen    sessState = iota
	stateClosing           // polling: a server close waits for the next GET
	stateClosed
)

type outPacket struct {
	typ        codec.PacketType
	binary     bool
	noCompress bool
	data       []byte
}

// outItem is one entry of the cross-goroutine outbox: a message with its
// binary attachments (sent back to back), or a prepared broadcast packet.
type outItem struct {
	text        []byte
	attachments [][]byte
	pooled      *bytebufferpool.ByteBuffer // backs text; returned to the pool once framed
	prepared    *Prepared
	binary      bool // text is a binary message (Send with binary=true)
	volatile    bool
	noCompress  bool // never compressed (permessage-deflate), whatever its size
}

// size is what the item costs while it waits: its bytes on the wire.
func (it *outItem) size() int {
	if it.prepared != nil {
		return len(it.prepared.WS)
	}
	n := len(it.text) + 1
	for _, a := range it.attachments {
		n += len(a) + 1
	}
	return n
}

// release gives back what the item holds (a pooled buffer).
func (it *outItem) release() {
	if it.pooled != nil {
		bytebufferpool.Put(it.pooled)
	}
	*it = outItem{}
}

// Session is one Engine.IO connection, whatever its transport.
type Session struct {
	srv   *Server
	id    string
	owner atomic.Pointer[loop.Loop]

	// Owner-loop state.
	state     sessState
	transport transport
	// Engine.IO v3 (Config.AllowEIO3), here where they cost no padding:
	v3         bool       // fixed at the handshake
	b64        bool       // v3 polling: the client asked for binary as base64 (b64=1)
	wsB64      bool       // v3 WebSocket: the same, on the WebSocket's request
	pendingBin bool       // v3: pending is in the binary payload format
	ws         *loop.Conn // WebSocket transport
	probe      *loop.Conn // WebSocket being probed for an upgrade
	// pollAfterProbe: the held GET came after the probe opened (see
	// onPollGET); "5" refuses it rather than releasing it.
	pollAfterProbe bool
	pollConn       *loop.Conn // held GET
	pollExtra      []byte     // CORS headers for the held GET
	pending        []byte     // polling: the next GET's payload, already encoded
	awaitingPong   bool
	hb             loop.Timer // next ping, or the pong deadline
	upgradeTimer   lazyTimer  // armed while a probe WebSocket waits for "5"
	pollRelease    lazyTimer  // armed while a GET that came after "3probe" is held (upgradePollHold)
	closeTimer     lazyTimer  // armed while a server close waits for a GET
	closeReason    Reason
	straggler      bool // closed by the client; one late GET is still answered "6"

	upgraded  atomic.Bool // transport is WebSocket (read by other loops to verify requests)
	upgrading atomic.Bool // a probe WebSocket sent the upgrade packet: polling requests are refused from then on
	probeOpen atomic.Bool // a probe WebSocket was accepted (by its loop; see onPollGET)
	migrating atomic.Bool // ownership is moving to the WebSocket's loop (changed under mu)

	mu          sync.Mutex
	outbox      *outboxBuf // guarded by mu; nil when empty
	queued      int        // guarded by mu: bytes in outbox and backlog
	flushQueued bool       // guarded by mu
	closeReq    bool       // guarded by mu
	overflow    bool       // guarded by mu: the backlog passed MaxBufferedBytes; close as a slow consumer
	ended       bool       // guarded by mu: the session is closed; nothing more is queued

	// backlog holds what the outbox handed over and the WebSocket could not
	// take yet (owner loop only): it is written as the connection drains.
	backlog []outItem
	bhead   int

	handler Handler

	remote net.Addr
	secure bool

	// Data is free for the application (the Socket.IO layer keeps its client here).
	Data any
}

// RemoteAddr is the address of the client that opened the session (behind
// a trusted proxy, the one its headers name; port 0 then).
func (s *Session) RemoteAddr() net.Addr { return s.remote }

// Secure reports whether a trusted proxy said the client used https.
func (s *Session) Secure() bool { return s.secure }

// ID is the Engine.IO session id (the sid of the handshake).
func (s *Session) ID() string { return s.id }

// Transport is "polling" or "websocket". Safe from any goroutine.
func (s *Session) Transport() string {
	if s.upgraded.Load() {
		return "websocket"
	}
	return "polling"
}

// OnMessage sets the message callback. It runs on the session's loop with
// data borrowed until it returns. Set it in Server.OnConnection.
func (s *Session) OnMessage(fn func(s *Session, data []byte, binary bool)) {
	f := s.funcs()
	f.message = fn
}

// Handler receives a session's messages and its close, on the session's
// loop. SetHandler with a type implementing it costs no allocation, unlike
// a pair of OnMessage/OnClose closures.
type Handler interface {
	OnMessage(s *Session, data []byte, binary bool)
	OnClose(s *Session, reason Reason)
}

// SetHandler sets the session's handler (in Server.OnConnection).
func (s *Session) SetHandler(h Handler) { s.handler = h }

// funcHandler adapts OnMessage/OnClose callbacks to Handler.
type funcHandler struct {
	message func(s *Session, data []byte, binary bool)
	close   func(s *Session, reason Reason)
}

func (f *funcHandler) OnMessage(s *Session, data []byte, binary bool) {
	if f.message != nil {
		f.message(s, data, binary)
	}
}

func (f *funcHandler) OnClose(s *Session, reason Reason) {
	if f.close != nil {
		f.close(s, reason)
	}
}

func (s *Session) funcs() *funcHandler {
	f, ok := s.handler.(*funcHandler)
	if !ok {
		f = &funcHandler{}
		s.handler = f
	}
	return f
}

// OnClose sets the close callback, run once on the session's loop.
func (s *Session) OnClose(fn func(s *Session, reason Reason)) {
	f := s.funcs()
	f.close = fn
}

// Send queues a message packet. data is copied. Safe from any goroutine.
func (s *Session) Send(data []byte, binary bool) {
	s.SendOwned(append([]byte(nil), data...), binary)
}

// SendOwned is Send without the copy: the session owns data from now on.
func (s *Session) SendOwned(data []byte, binary bool) {
	s.push(outItem{text: data, binary: binary})
}

// SendMessage queues a text message followed by binary messages, back to back
// (a Socket.IO packet and its attachments). The session owns the slices.
// A volatile message is dropped when the transport cannot take it at once.
// Safe from any goroutine.
func (s *Session) SendMessage(text []byte, attachments [][]byte, volatile bool) {
	s.push(outItem{text: text, attachments: attachments, volatile: volatile})
}

// SendPooled is SendMessage for a text held in a pooled buffer: the session
// returns buf to bytebufferpool once the packet is framed (text must point
// into buf.B). It lets a hot path encode without allocating.
func (s *Session) SendPooled(buf *bytebufferpool.ByteBuffer, text []byte, attachments [][]byte, volatile bool) {
	s.push(outItem{text: text, attachments: attachments, pooled: buf, volatile: volatile})
}

// SendOptions are the flags of SendWith.
type SendOptions struct {
	// Volatile drops the message when the transport cannot take it at once.
	Volatile bool
	// NoCompress sends it uncompressed whatever its size (the compress(false)
	// flag; see Config.PerMessageDeflate).
	NoCompress bool
}

// SendWith is SendPooled (buf may be nil: then the session owns text and
// attachments, as with SendMessage) with flags. Safe from any goroutine.
func (s *Session) SendWith(buf *bytebufferpool.ByteBuffer, text []byte, attachments [][]byte, o SendOptions) {
	s.push(outItem{text: text, attachments: attachments, pooled: buf, volatile: o.Volatile, noCompress: o.NoCompress})
}

// SendPrepared queues a prepared packet (see Prepared). Safe from any goroutine.
func (s *Session) SendPrepared(p *Prepared, volatile bool) {
	s.push(outItem{prepared: p, volatile: volatile})
}

// outboxPool recycles outbox slices: an idle session holds none. It holds
// *outboxBuf so that putting one back allocates nothing.
var outboxPool = sync.Pool{New: func() any { return &outboxBuf{items: make([]outItem, 0, 8)} }}

type outboxBuf struct{ items []outItem }

// push queues an item for the owner loop. What waits (outbox and backlog)
// is bounded by Config.MaxBufferedBytes: past it the session is closed as a
// slow consumer and what it held is dropped at once. One item larger than
// the bound is still admitted when nothing waits (a client that drains
// can take a large message). A volatile item is dropped rather than queued
// behind a backlog.
func (s *Session) push(it outItem) {
	n := it.size()
	s.mu.Lock()
	switch {
	case s.overflow || s.ended:
		s.mu.Unlock()
		it.release()
		return
	case it.volatile && s.queued > volatileSoftCap:
		s.mu.Unlock()
		it.release()
		return
	case s.queued > 0 && s.queued+n > s.srv.cfg.MaxBufferedBytes:
		s.overflow = true
		var dropped []outItem
		if s.outbox != nil {
			dropped = s.outbox.items
			s.outbox = nil
		}
		s.queued = 0
		post := !s.flushQueued
		s.flushQueued = true
		s.mu.Unlock()
		it.release()
		for i := range dropped {
			dropped[i].release()
		}
		if post {
			s.owner.Load().Post(s)
		}
		return
	}
	if s.outbox == nil {
		s.outbox = outboxPool.Get().(*outboxBuf)
	}
	s.outbox.items = append(s.outbox.items, it)
	s.queued += n
	post := !s.flushQueued
	s.flushQueued = true
	s.mu.Unlock()
	if post {
		s.owner.Load().Post(s)
	}
}

// Loop is the loop that owns the session now (it changes once, on upgrade).
func (s *Session) Loop() *loop.Loop { return s.owner.Load() }

// Do runs fn on the session's owner loop, after everything posted to it
// before, following an ownership move. Safe from any goroutine.
func (s *Session) Do(fn func()) {
	s.owner.Load().Post(&sessTask{s: s, fn: fn})
}

// Closed reports whether the session is closed (owner loop only).
func (s *Session) Closed() bool { return s.state == stateClosed }

// WritePrepared queues p at once; it must be called on the owner loop (see
// Loop) and reports false when it was not (the caller then uses
// SendPrepared), when the session is closed, or when a volatile packet was
// dropped.
func (s *Session) WritePrepared(l *loop.Loop, p *Prepared, volatile bool) bool {
	if s.owner.Load() != l || s.state != stateOpen {
		return false
	}
	if s.migrating.Load() { // no lock: this runs once per broadcast recipient
		return false
	}
	if volatile && !s.writable() {
		return false
	}
	if s.transport == transportWebSocket && (s.bhead < len(s.backlog) || s.ws.OverCap()) {
		// Behind a backlog: wait in line, within the session's bound.
		s.push(outItem{prepared: p, volatile: volatile})
		return true
	}
	s.queuePrepared(p)
	s.flushPolling()
	return true
}

// Close closes the session from the server side. Safe from any goroutine.
func (s *Session) Close() {
	s.mu.Lock()
	s.closeReq = true
	post := !s.flushQueued
	s.flushQueued = true
	s.mu.Unlock()
	if post {
		s.owner.Load().Post(s)
	}
}

// Run flushes the outbox on the owner loop (Session is the loop.Task posted by
// Send, and the one run when a backed-up WebSocket drains), following the
// session if its ownership moved.
func (s *Session) Run(l *loop.Loop) {
	if o := s.owner.Load(); o != l {
		o.Post(s)
		return
	}
	s.mu.Lock()
	if s.migrating.Load() { // the migration task flushes when it lands
		s.mu.Unlock()
		return
	}
	ob := s.outbox
	s.outbox = nil
	s.flushQueued = false
	closeReq, overflow := s.closeReq, s.overflow
	s.mu.Unlock()
	if ob != nil {
		s.backlog = append(s.backlog, ob.items...)
		clear(ob.items)
		if cap(ob.items) <= 1024 {
			ob.items = ob.items[:0]
			outboxPool.Put(ob)
		}
	}
	if overflow {
		s.dropBacklog()
		s.close(ReasonSlowConsumer, true)
		return
	}
	// A close writes what waits, whatever the cap: it is bounded by
	// MaxBufferedBytes, and the lingering close gives the client its chance.
	if n := s.writeBacklog(closeReq); n > 0 {
		s.mu.Lock()
		if !s.overflow && !s.ended { // both zeroed the count
			s.queued -= n
		}
		s.mu.Unlock()
	}
	s.flushPolling()
	if closeReq {
		s.closeByServer(ReasonForcedClose)
	}
}

// writeBacklog puts waiting items on the transport in order and returns
// the bytes it took from the backlog. A WebSocket takes items while its
// unsent output (after a write attempt) is within loop.Options.MaxOutboundBytes,
// and always one item when it is: a consumer is slow when it does not drain,
// not because one pass produced a lot. When it is over, the rest waits for
// the connection to drain (loop.Conn.NotifyDrained runs Run again).
func (s *Session) writeBacklog(force bool) int {
	n := 0
	for s.bhead < len(s.backlog) {
		it := &s.backlog[s.bhead]
		if s.transport == transportWebSocket && s.state != stateClosed && !force && s.ws.OverCap() {
			s.ws.FlushNow()
			if s.ws.OverCap() {
				// Stop reading the client until it has read this: a client
				// that writes faster than it reads waits in its own memory.
				s.ws.PauseInput()
				s.ws.NotifyDrained(s)
				break
			}
		}
		n += it.size()
		if !it.volatile || s.writable() {
			switch {
			case it.prepared != nil:
				s.queuePrepared(it.prepared)
			default:
				s.queue(outPacket{typ: codec.PacketMessage, binary: it.binary, noCompress: it.noCompress, data: it.text})
				for _, a := range it.attachments {
					s.queue(outPacket{typ: codec.PacketMessage, binary: true, noCompress: it.noCompress, data: a})
				}
			}
		}
		it.release() // queue copied the bytes (into the frame or the polling payload)
		s.bhead++
	}
	if s.bhead == len(s.backlog) {
		if s.transport == transportWebSocket && s.ws != nil {
			s.ws.ResumeInput()
		}
		if cap(s.backlog) > 1024 {
			s.backlog = nil
		} else {
			s.backlog = s.backlog[:0]
		}
		s.bhead = 0
	}
	return n
}

// dropBacklog releases what waits (the session is closing as a slow consumer).
func (s *Session) dropBacklog() {
	for i := s.bhead; i < len(s.backlog); i++ {
		s.backlog[i].release()
	}
	s.backlog, s.bhead = nil, 0
}

// exec runs fn on the session's owner loop, following migrations.
func (s *Session) exec(cur *loop.Loop, fn func()) {
	if o := s.owner.Load(); o == cur {
		fn()
		return
	}
	s.owner.Load().Post(&sessTask{s: s, fn: fn})
}

type sessTask struct {
	s  *Session
	fn func()
}

func (t *sessTask) Run(l *loop.Loop) { t.s.exec(l, t.fn) }

// queue puts one packet on the transport (owner loop only). Over WebSocket it
// is framed at once and leaves with the loop's batch; over polling it waits
// for a GET.
func (s *Session) queue(p outPacket) {
	if s.state == stateClosed {
		return
	}
	if s.transport == transportWebSocket {
		if p.binary {
			if s.v3 {
				s.writeBinaryV3(p.data)
				return
			}
			s.ws.WriteMessage(ws.OpBinary, p.data, nil, !p.noCompress)
		} else {
			s.ws.WriteMessage(ws.OpText, packetDigit[p.typ], p.data, !p.noCompress)
		}
		return // the loop caps WebSocket output (MaxOutboundBytes) and reports "slow consumer"
	}
	if s.v3 {
		s.queuePollingV3(p)
		return
	}
	s.pending = codec.AppendPayloadPacket(s.pending, len(s.pending) == 0, p.typ, p.binary, p.data)
	if len(s.pending) > s.srv.cfg.MaxBufferedBytes {
		s.close(ReasonSlowConsumer, true)
	}
}

// queuePrepared is queue for a prepared packet.
func (s *Session) queuePrepared(p *Prepared) {
	if s.state == stateClosed {
		return
	}
	if s.v3 {
		s.queuePreparedV3(p)
		return
	}
	if s.transport == transportWebSocket {
		s.ws.WriteRaw(p.wsFor(s.ws))
		return
	}
	if len(s.pending) > 0 {
		s.pending = append(s.pending, codec.Separator)
	}
	s.pending = append(s.pending, p.Polling...)
	if len(s.pending) > s.srv.cfg.MaxBufferedBytes {
		s.close(ReasonSlowConsumer, true)
	}
}

// writable reports whether the transport can take a packet at once, which
// is when volatile packets are sent: over polling a GET must be held, over
// WebSocket nothing may be waiting in the socket's buffers.
func (s *Session) writable() bool {
	if s.state != stateOpen {
		return false
	}
	if s.transport == transportWebSocket {
		return s.ws.Buffered() < volatileSoftCap
	}
	return s.pollConn != nil
}

// Backlog is the bytes queued for the session and not yet handed to its
// transport (owner loop or any goroutine).
func (s *Session) Backlog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued
}

// volatileSoftCap is the queued output above which volatile packets to a
// WebSocket are dropped.
const volatileSoftCap = 64 << 10

// lazyTimer is a loop.Timer allocated only when armed, for the rare timers
// (upgrade, close) every idle session would otherwise carry.
type lazyTimer struct{ t *loop.Timer }

func (lt *lazyTimer) arm(l *loop.Loop, fn func(), d time.Duration) {
	if lt.t == nil {
		lt.t = &loop.Timer{}
	}
	lt.t.Init(l, fn)
	lt.t.Reset(d)
}

func (lt *lazyTimer) stop() {
	if lt.t != nil {
		lt.t.Stop()
		lt.t = nil
	}
}

// stragglerGrace is how long a session closed by the client's POST waits for
// a GET the client sent before it.
const stragglerGrace = 100 * time.Millisecond

var packetDigit = [...][]byte{{'0'}, {'1'}, {'2'}, {'3'}, {'4'}, {'5'}, {'6'}}

// flushPolling answers the held GET if there is something to send.
func (s *Session) flushPolling() {
	if s.transport != transportPolling || s.pollConn == nil || len(s.pending) == 0 {
		return
	}
	body := s.pending
	s.pending = nil
	if s.pendingBin {
		s.pendingBin = false
		s.answerPollAs(body, "application/octet-stream")
		return
	}
	s.answerPoll(body)
}

// answerPoll sends body to the held GET, on its connection's loop.
func (s *Session) answerPoll(body []byte) {
	s.answerPollAs(body, "text/plain; charset=UTF-8")
}

func (s *Session) answerPollAs(body []byte, contentType string) {
	c, extra := s.pollConn, s.pollExtra
	s.pollConn, s.pollExtra, s.pollAfterProbe = nil, nil, false
	respondOn(s.owner.Load(), c, &loop.Response{
		Status: 200, ContentType: contentType,
		Extra: append(extra, "Cache-Control: no-store\r\n"...), Body: body,
	})
}

// respondOn answers c from loop cur, hopping to c's loop when needed.
func respondOn(cur *loop.Loop, c *loop.Conn, r *loop.Response) {
	if c.Loop() == cur {
		c.Respond(r)
		return
	}
	c.Post(func(c *loop.Conn) { c.Respond(r) })
}

// startHeartbeat arms the first ping (owner loop).
func (s *Session) startHeartbeat() {
	s.hb.InitArg(s.owner.Load(), heartbeatFired, s)
	if s.v3 { // the client pings: its silence closes the session
		s.hb.Reset(s.srv.cfg.PingInterval + s.srv.cfg.PingTimeout)
		return
	}
	s.hb.Reset(s.srv.cfg.PingInterval)
}

func heartbeatFired(s any) { s.(*Session).onHeartbeat() }

func (s *Session) onHeartbeat() {
	if s.state == stateClosed {
		return
	}
	if s.awaitingPong || s.v3 {
		s.close(ReasonPingTimeout, false)
		return
	}
	s.awaitingPong = true
	// From the scheduled ping time, not from when the timer ran: a busy
	// loop must not stretch pingInterval+pingTimeout (the suites expect the
	// session gone right after it). But a ping that leaves late (the loop
	// stalled) still gives the client half the timeout to answer: the
	// client cannot answer a ping before it is sent.
	pt := int64(s.srv.cfg.PingTimeout)
	s.hb.ResetAt(max(s.hb.When()+pt, s.owner.Load().Now()+pt/2))
	s.queue(outPacket{typ: codec.PacketPing})
	s.flushPolling()
}

// expired checks the pong deadline lazily, so a request that arrives just
// after it never sees a session the timer has not yet closed.
func (s *Session) expired() bool {
	if s.state != stateClosed && (s.awaitingPong || s.v3) && s.hb.Armed() && s.owner.Load().Now() >= s.hb.When() {
		s.close(ReasonPingTimeout, false)
	}
	return s.state == stateClosed
}

// onPacket handles one decoded packet from the client (owner loop).
func (s *Session) onPacket(p codec.Packet) {
	switch p.Type {
	case codec.PacketPong:
		if s.v3 {
			s.close(ReasonTransportError, false) // "invalid heartbeat direction"
			return
		}
		if s.awaitingPong {
			s.awaitingPong = false
			s.hb.Reset(s.srv.cfg.PingInterval)
		}
	case codec.PacketMessage:
		if s.handler != nil {
			s.handler.OnMessage(s, p.Data, p.Binary)
		}
	case codec.PacketPing:
		if s.v3 {
			s.onPingV3()
			return
		}
		s.close(ReasonTransportError, false) // v4: only the server pings ("invalid heartbeat direction")
	case codec.PacketClose:
		s.close(ReasonTransportClose, false)
	}
}

// closeByServer closes on the server's initiative: over polling the close
// packet is delivered to the next GET (or after CloseTimeout).
func (s *Session) closeByServer(reason Reason) {
	if s.state != stateOpen {
		return
	}
	if s.transport == transportPolling && s.pollConn == nil {
		s.state = stateClosing
		s.closeReason = reason
		s.closeTimer.arm(s.owner.Load(), func() { s.close(reason, false) }, s.srv.cfg.CloseTimeout)
		return
	}
	s.close(reason, true)
}

// close ends the session (owner loop). byServer says whether the client
// should be told (a close packet on a held GET, a close frame).
func (s *Session) close(reason Reason, byServer bool) {
	if s.state == stateClosed {
		return
	}
	s.state = stateClosed
	s.hb.Stop()
	s.upgradeTimer.stop()
	s.pollRelease.stop()
	s.closeTimer.stop()
	cur := s.owner.Load()
	if reason == ReasonTransportClose && s.transport == transportPolling && s.pollConn == nil {
		// The client's POST "1" overtook its own GET on another connection:
		// keep the sid briefly so that GET is released with a noop, as if it
		// had arrived first, instead of failing with 400.
		s.straggler = true
		s.closeTimer.arm(cur, func() { s.straggler = false; s.srv.sessions.del(s) }, stragglerGrace)
	} else {
		s.srv.sessions.del(s)
	}
	if s.pollConn != nil {
		body := s.ctlBody(bodyClose)
		if reason == ReasonTransportClose { // the client's own close packet
			body = s.ctlBody(bodyNoop)
		}
		s.pending = nil
		s.answerPoll(body)
	}
	if s.probe != nil {
		closeConnOn(cur, s.probe, reason)
		s.probe = nil
	}
	if s.ws != nil {
		closeConnOn(cur, s.ws, reason)
	}
	s.pending = nil
	s.dropBacklog()
	s.mu.Lock()
	s.ended, s.queued = true, 0
	var dropped []outItem
	if s.outbox != nil {
		dropped = s.outbox.items
		s.outbox = nil
	}
	s.mu.Unlock()
	for i := range dropped {
		dropped[i].release()
	}
	s.srv.closed(reason)
	if s.handler != nil {
		s.handler.OnClose(s, reason)
	}
}

// closeConnOn closes a WebSocket of the session from loop cur: with a close
// frame after what is queued, or, for a slow consumer, at once.
func closeConnOn(cur *loop.Loop, c *loop.Conn, reason Reason) {
	fn := func(c *loop.Conn) { c.CloseWebSocket(0, loop.ReasonServerClosed) }
	if reason == ReasonSlowConsumer {
		fn = func(c *loop.Conn) { c.Abort(loop.ReasonSlowConsumer) }
	}
	if c.Loop() == cur {
		fn(c)
		return
	}
	c.Post(fn)
}
