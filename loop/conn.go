package loop

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"sio/codec"
)

type connState uint8

const (
	stateHTTP     connState = iota // reading HTTP/1.1 requests
	stateWS                        // upgraded: reading WebSocket frames
	stateDraining                  // our side is done: discard input until the peer closes or the linger timer fires
	stateClosed
)

const (
	flagDirty        uint16 = 1 << iota // queued in Loop.dirty
	flagAwaiting                        // a request is with the handler and has no response yet
	flagHeadDone                        // the current request's head is parsed; waiting for its body
	flagCloseAfter                      // close gracefully once the current response is flushed
	flagClosing                         // close at the next flush
	flagGraceful                        // ... with a lingering close rather than at once
	flagCloseNow                        // OnTraffic must return gnet.Close
	flagClosed                          // OnClose ran
	flagFragmented                      // a fragmented WebSocket message is in progress
	flagResumeQueued                    // a resume task is posted
	flagDiscardInput                    // the rest of the input is unwanted (an unread oversized body)
	flagHead                            // the held request is a HEAD: its response has no body
	flagAdmitted                        // counted by Options.Admission: release on close
	flagPaused                          // input paused (PauseInput): nothing is read or parsed
	flagTrusted                         // the peer is a trusted proxy (Options.TrustedProxies)
)

// lingerTimeout bounds how long a connection we are done with may keep
// sending before it is cut.
const lingerTimeout = 2 * time.Second

// Conn is one TCP connection. All methods must be called on its loop unless
// stated otherwise; use Post from elsewhere.
type Conn struct {
	gc    gnet.Conn
	loop  *Loop
	ctx   any
	flags uint16
	state connState

	reason CloseReason

	hp      codec.HeadParser
	headLen int32 // caps keep these far below 2^31
	bodyLen int32
	wsNeed  int32

	wbuf *bytebufferpool.ByteBuffer // queued output, pooled while non-empty

	frag      *bytebufferpool.ByteBuffer // fragmented message being assembled
	fragOp    ws.OpCode
	fragCount int32

	timer *connTimer // allocated while the connection speaks HTTP (request and head timeouts) or lingers

	refuse     uint16 // admission refused: the status to answer the first request with
	retryAfter uint16 // seconds, with refuse

	ext uint8 // WebSocket extension state (extDeflate, extFragDeflated)
}

const (
	extDeflate      uint8 = 1 << iota // permessage-deflate was negotiated
	extFragDeflated                   // the fragmented message in progress is compressed
)

// Loop returns the loop that owns c. Safe from any goroutine.
func (c *Conn) Loop() *Loop { return c.loop }

// Context returns the value set by SetContext.
func (c *Conn) Context() any { return c.ctx }

// SetContext attaches a value to the connection (the engine's session).
func (c *Conn) SetContext(v any) { c.ctx = v }

// RemoteAddr is the peer address.
func (c *Conn) RemoteAddr() net.Addr { return c.gc.RemoteAddr() }

// Closed reports whether the connection is closed or closing.
func (c *Conn) Closed() bool {
	return c.flags&(flagClosed|flagClosing) != 0 || c.state >= stateDraining
}

// IsWebSocket reports whether the connection has been upgraded.
func (c *Conn) IsWebSocket() bool { return c.state == stateWS }

// Post runs fn on c's loop if c is still open then. Safe from any goroutine.
func (c *Conn) Post(fn func(c *Conn)) {
	c.loop.Post(TaskFunc(func() {
		if c.flags&flagClosed == 0 {
			fn(c)
		}
	}))
}

func (c *Conn) buf() *bytebufferpool.ByteBuffer {
	if c.wbuf == nil {
		c.wbuf = bytebufferpool.Get()
	}
	c.loop.markDirty(c)
	return c.wbuf
}

// Buffered is the number of bytes queued for c and not yet written to the
// socket, in our queue and in gnet's: what a write attempt left unsent, plus
// what this loop pass queued since.
func (c *Conn) Buffered() int {
	n := 0
	if c.wbuf != nil {
		n = len(c.wbuf.B)
	}
	if c.flags&flagClosed == 0 {
		n += c.gc.OutboundBuffered()
	}
	return n
}

// OverCap reports whether c's unsent output is above Options.MaxOutboundBytes.
// The loop never closes a connection for its output by itself: whoever feeds
// it (the engine's session) stops while it is over the cap, waits for it to
// drain (NotifyDrained), and decides when a consumer is too slow.
func (c *Conn) OverCap() bool { return c.Buffered() > c.loop.srv.opts.MaxOutboundBytes }

// NotifyDrained runs t on c's loop once c's unsent output has fallen to half
// of Options.MaxOutboundBytes, or c has closed. One waiter per connection.
func (c *Conn) NotifyDrained(t Task) { c.loop.waitDrain(c, t, c.loop.srv.opts.MaxOutboundBytes/2) }

// discard consumes n bytes of c's input (all of it for -1), counted in
// the loop's BytesIn.
func (c *Conn) discard(n int) {
	d, _ := c.gc.Discard(n)
	c.loop.bytesIn.Add(int64(d))
}

// FlushNow writes c's queued output at once rather than at the end of the
// loop pass, so that what stays unsent is what the socket would not take
// (gnet keeps it). Nothing is written while gnet still holds older output:
// it appends.
func (c *Conn) FlushNow() {
	if c.wbuf == nil || len(c.wbuf.B) == 0 || c.flags&flagClosed != 0 {
		return
	}
	b := c.wbuf
	c.wbuf = nil
	c.loop.srv.stats.writes.Add(1)
	c.loop.bytesOut.Add(int64(len(b.B)))
	_, _ = c.gc.Write(b.B) // on error gnet closes c and OnClose runs
	bytebufferpool.Put(b)
	if c.flags&(flagPaused|flagClosed) == flagPaused {
		c.setInterest(true) // a partial write makes gnet register reads again
	}
}

// PauseInput stops reading c: its bytes stay in the kernel, so a client
// that writes faster than it reads what its writes produce is held back by
// TCP rather than by our memory. The producer that paused it resumes it
// once its output drained. A no-op where gnet's poller cannot be reached
// (counted in Stats.PauseUnavailable).
func (c *Conn) PauseInput() {
	if c.flags&(flagPaused|flagClosed) != 0 || c.state != stateWS {
		return
	}
	if !c.setInterest(true) {
		c.loop.srv.stats.pauseUnavailable.Add(1)
		return
	}
	c.flags |= flagPaused
	c.loop.srv.stats.pauses.Add(1)
}

// ResumeInput undoes PauseInput and parses what was read meanwhile.
func (c *Conn) ResumeInput() {
	if c.flags&flagPaused == 0 {
		return
	}
	c.flags &^= flagPaused
	if c.flags&flagClosed != 0 {
		return
	}
	c.setInterest(false)
	if c.flags&flagResumeQueued == 0 && c.gc.InboundBuffered() > 0 && c.loop.serving != c {
		c.flags |= flagResumeQueued
		c.loop.Post(c)
	}
}

// InputPaused reports whether c's input is paused.
func (c *Conn) InputPaused() bool { return c.flags&flagPaused != 0 }

// earlyFlushBytes is the queued output above which a connection is written
// at once rather than at the end of the pass: a pass that produces a lot
// should not hold it all in memory before the first write attempt.
const earlyFlushBytes = 256 << 10

// connTimer is a connection's timer with the deadlines it serves.
type connTimer struct {
	Timer
	deadline     int64 // loop time of the request (or linger) deadline
	headDeadline int64 // loop time by which the current request head must be complete; 0: none
}

// armTimer (re)arms the connection's request timer; see onTimer.
func (c *Conn) armTimer(d time.Duration) {
	if c.timer == nil {
		c.timer = &connTimer{}
		c.timer.InitArg(c.loop, connTimerFired, c)
	}
	c.timer.headDeadline = 0
	c.timer.deadline = c.loop.Now() + int64(d)
	c.timer.ResetAt(c.timer.deadline)
}

// headDone ends the head deadline: the body has the request timeout.
func (c *Conn) headDone() {
	if t := c.timer; t != nil && t.headDeadline != 0 {
		t.headDeadline = 0
		t.ResetAt(t.deadline)
	}
}

// armHeadTimer starts the head deadline when the first bytes of a request
// head arrive: an incomplete head is dropped after Options.HeadTimeout,
// however long the request timeout is.
func (c *Conn) armHeadTimer() {
	if c.timer == nil || c.timer.headDeadline != 0 {
		return
	}
	at := c.loop.Now() + int64(c.loop.srv.opts.HeadTimeout)
	c.timer.headDeadline = at
	if !c.timer.Armed() || at < c.timer.When() {
		c.timer.ResetAt(at)
	}
}

func connTimerFired(c any) { c.(*Conn).onTimer() }

// onTimer ends a connection that took too long: a lingering close whose
// peer never closed, an HTTP connection whose request head stayed incomplete
// for Options.HeadTimeout, or one that did not complete a request in
// Options.RequestTimeout (idle keep-alive, a slow head, a slow body). A held
// request is the handler's business and is not timed here.
func (c *Conn) onTimer() {
	if c.flags&flagClosed != 0 || c.flags&flagClosing != 0 && c.state != stateDraining {
		return // closing: it waits for its output to be written (or to stall)
	}
	switch {
	case c.state == stateDraining:
		c.flags &^= flagGraceful
		c.Close(c.reason)
	case c.state == stateHTTP && c.flags&flagAwaiting != 0:
		c.armTimer(c.loop.srv.opts.RequestTimeout)
	case c.state == stateHTTP:
		t, now := c.timer, c.loop.Now()
		if t.headDeadline != 0 && now >= t.headDeadline {
			c.reason = ReasonTimeout
			c.loop.srv.stats.headTimeouts.Add(1)
			c.respondError(408, "request head timeout")
			return
		}
		if now < t.deadline { // fired for a head deadline that has since been lifted
			t.ResetAt(t.deadline)
			return
		}
		c.reason = ReasonTimeout
		if c.gc.InboundBuffered() > 0 { // a request had started
			c.respondError(408, "request timeout")
			return
		}
		c.Close(ReasonTimeout)
	}
}

// serve processes whatever input is buffered.
func (c *Conn) serve() {
	if c.flags&flagDiscardInput != 0 {
		c.discard(-1)
		return
	}
	for {
		switch c.state {
		case stateHTTP:
			c.serveHTTP()
			if c.state != stateWS {
				return
			}
		case stateWS:
			c.serveWS()
			return
		case stateDraining:
			c.discard(-1)
			return
		default:
			return
		}
	}
}

// Run resumes reading after a held request got its response.
func (c *Conn) Run(l *Loop) {
	c.flags &^= flagResumeQueued
	if c.flags&(flagClosed|flagClosing) == 0 {
		prev := l.serving
		l.serving = c
		c.serve()
		l.serving = prev
	}
}

// Request is a complete HTTP request handed to Handler.ServeHTTP. It and every
// slice in it are borrowed: valid only until ServeHTTP returns.
type Request struct {
	codec.Request
	// ClientAddr is the client's address: the peer's, or, when the peer is
	// a trusted proxy (Options.TrustedProxies), the one its forwarding
	// headers name. Proto is "https" or "http" as a trusted proxy reported
	// it ("" when none did).
	ClientAddr netip.Addr
	Proto      string
	Body       []byte
	// BodyTooLarge is set when Content-Length exceeds Options.MaxBodyBytes. The
	// body is not read; the handler answers (413 or an earlier error) and the
	// connection is closed after the response.
	BodyTooLarge bool
}

func (c *Conn) serveHTTP() {
	srv := c.loop.srv
	for c.state == stateHTTP && c.flags&(flagAwaiting|flagClosing|flagClosed) == 0 {
		n := c.gc.InboundBuffered()
		if n == 0 {
			return
		}
		if c.flags&flagHeadDone != 0 && int64(n) < int64(c.headLen)+int64(c.bodyLen) {
			return
		}
		buf, _ := c.gc.Peek(n)
		req := &c.loop.req
		done, err := c.hp.Parse(buf, &req.Request)
		if err != nil {
			if err == codec.ErrHeaderTooLarge || err == codec.ErrTooManyHeaders {
				c.reason = ReasonHeaderTooLarge
			}
			c.respondError(codec.Status(err), err.Error())
			return
		}
		if !done {
			c.armHeadTimer()
			return
		}
		c.headDone()
		req.ClientAddr, req.Proto = remoteIP(c.gc.RemoteAddr()), ""
		if c.flags&flagTrusted != 0 {
			c.forwarded(req)
		}
		if c.refuse != 0 {
			c.reason = ReasonRefused
			c.flags |= flagAwaiting | flagDiscardInput
			extra := appendRetryAfter(nil, int(c.retryAfter))
			c.Respond(&Response{Status: int(c.refuse), ContentType: "text/plain; charset=utf-8", Extra: extra,
				Body: []byte(statusText[int(c.refuse)]), Close: true})
			return
		}
		if req.Chunked {
			c.respondError(411, "chunked request bodies are not supported")
			return
		}
		headLen := req.HeadLen
		bodyLen := max(req.ContentLength, 0)
		req.Body, req.BodyTooLarge = nil, false
		if bodyLen > srv.opts.MaxBodyBytes {
			c.reason = ReasonBodyTooLarge
			req.BodyTooLarge = true
			c.flags |= flagAwaiting | flagCloseAfter | flagDiscardInput
			c.flags &^= flagHeadDone
			srv.h.ServeHTTP(c, req)
			c.discard(-1) // the body is never read
			return
		}
		if int64(n) < int64(headLen)+bodyLen {
			c.flags |= flagHeadDone
			c.headLen, c.bodyLen = int32(headLen), int32(bodyLen)
			return
		}
		req.Body = buf[headLen : int64(headLen)+bodyLen]
		c.flags = (c.flags | flagAwaiting) &^ (flagHeadDone | flagHead)
		if string(req.Method) == "HEAD" {
			c.flags |= flagHead
		}
		if req.Close {
			c.flags |= flagCloseAfter
		}
		c.hp.Reset()
		srv.h.ServeHTTP(c, req)
		c.discard(headLen + int(bodyLen))
	}
	// A client that keeps sending while its request is held is capped.
	if c.flags&flagAwaiting != 0 && c.state == stateHTTP &&
		int64(c.gc.InboundBuffered()) > int64(srv.opts.MaxHeaderBytes)+srv.opts.MaxBodyBytes {
		c.Close(ReasonBadRequest)
	}
}

// forwarded takes the client's address from a trusted proxy's headers and,
// with Options.Admission, admits the connection under it (admission of a
// trusted proxy's connections waits for their first request; a proxy that
// reuses a connection for other clients keeps it under the first one's).
func (c *Conn) forwarded(req *Request) {
	srv := c.loop.srv
	req.ClientAddr, req.Proto = codec.ForwardedClient(&req.Request, req.ClientAddr, srv.trusted)
	a := srv.opts.Admission
	if a == nil || c.flags&flagAdmitted != 0 || c.refuse != 0 {
		return
	}
	d := a.Admit(req.ClientAddr, c.loop.Now())
	if !d.OK {
		c.refuse, c.retryAfter = uint16(d.Status), uint16((d.RetryAfter+time.Second-1)/time.Second)
		srv.stats.refused.Add(1)
		return
	}
	c.flags |= flagAdmitted
	if c.loop.admittedAs == nil {
		c.loop.admittedAs = make(map[*Conn]netip.Addr)
	}
	c.loop.admittedAs[c] = req.ClientAddr
}

func (c *Conn) respondError(status int, msg string) {
	if c.reason == ReasonNone {
		c.reason = ReasonBadRequest
	}
	c.flags |= flagAwaiting | flagDiscardInput
	c.Respond(&Response{Status: status, ContentType: "text/plain; charset=utf-8", Body: []byte(msg), Close: true})
}

// Response is an HTTP response. Extra holds preformatted header lines, each
// ending in CRLF. Content-Length is always written.
type Response struct {
	Status      int
	ContentType string
	Extra       []byte
	Body        []byte
	Close       bool // close the connection (gracefully) after the response
}

// Respond queues the response to the request held by c and resumes reading.
func (c *Conn) Respond(r *Response) {
	if c.flags&flagClosed != 0 || c.state != stateHTTP {
		return
	}
	b := c.buf()
	b.B = appendStatusLine(b.B, r.Status)
	if r.ContentType != "" {
		b.B = append(b.B, "Content-Type: "...)
		b.B = append(b.B, r.ContentType...)
		b.B = append(b.B, "\r\n"...)
	}
	b.B = append(b.B, "Content-Length: "...)
	b.B = strconv.AppendInt(b.B, int64(len(r.Body)), 10)
	b.B = append(b.B, "\r\n"...)
	b.B = append(b.B, r.Extra...)
	closeAfter := r.Close || c.flags&flagCloseAfter != 0
	if closeAfter {
		b.B = append(b.B, "Connection: close\r\n"...)
	}
	b.B = append(b.B, "\r\n"...)
	if c.flags&flagHead == 0 { // RFC 9110 §9.3.2: a HEAD response has no content
		b.B = append(b.B, r.Body...)
	}
	c.flags &^= flagAwaiting | flagHead
	if closeAfter {
		c.CloseGracefully(ReasonServerClosed)
		return
	}
	c.armTimer(c.loop.srv.opts.RequestTimeout) // the next request must come in time too
	// Input that arrived while the request was held is parsed now, unless
	// this very connection's parse loop is running and will get to it.
	if c.flags&flagResumeQueued == 0 && c.gc.InboundBuffered() > 0 && c.loop.serving != c {
		c.flags |= flagResumeQueued
		c.loop.Post(c)
	}
}

// AcceptWebSocket answers the held upgrade request with 101 and switches c to
// WebSocket framing. It validates the handshake headers first and, if they
// are wrong, answers 400 itself (as the ws library does) and returns false.
// Call it from ServeHTTP: it needs the request.
func (c *Conn) AcceptWebSocket(req *Request) bool {
	if string(req.Method) != "GET" || !req.Upgrade {
		c.Respond(&Response{Status: 400, ContentType: "text/html", Body: []byte("Invalid Upgrade header"), Close: true})
		return false
	}
	if string(req.WSVersion) != "13" && string(req.WSVersion) != "8" {
		c.Respond(&Response{Status: 400, ContentType: "text/html", Extra: []byte("Sec-WebSocket-Version: 13, 8\r\n"),
			Body: []byte("Missing or invalid Sec-WebSocket-Version header"), Close: true})
		return false
	}
	if !codec.ValidWebSocketKey(req.WSKey) {
		c.Respond(&Response{Status: 400, ContentType: "text/html", Body: []byte("Missing or invalid Sec-WebSocket-Key header"), Close: true})
		return false
	}
	b := c.buf()
	b.B = append(b.B, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b.B = codec.AppendAcceptKey(b.B, req.WSKey)
	if proto := firstSubprotocol(req.WSProtocol); len(proto) > 0 {
		// Node's ws selects the first offered subprotocol; a browser that
		// offered some fails the handshake if none is selected.
		b.B = append(b.B, "\r\nSec-WebSocket-Protocol: "...)
		b.B = append(b.B, proto...)
	}
	if d := c.loop.srv.opts.Deflate; d != nil && len(req.WSExtensions) > 0 {
		if params, ok := codec.NegotiateDeflate(req.WSExtensions); ok {
			b.B = append(b.B, "\r\nSec-WebSocket-Extensions: "...)
			b.B = codec.AppendDeflateResponse(b.B, params)
			c.ext = extDeflate
			c.loop.srv.stats.deflate.Add(1)
		}
	}
	b.B = append(b.B, "\r\n\r\n"...)
	c.flags &^= flagAwaiting | flagCloseAfter
	c.state = stateWS
	c.wsNeed = 0
	if c.timer != nil { // WebSocket liveness is the heartbeat's job
		c.timer.Stop()
		c.timer = nil
	}
	return true
}

// WriteFrame queues one final WebSocket frame whose payload is p1 followed by
// p2 (either may be empty), so a one-byte Engine.IO type and its data need no
// joining copy.
func (c *Conn) WriteFrame(op ws.OpCode, p1, p2 []byte) {
	if c.state != stateWS || c.flags&(flagClosed|flagClosing) != 0 {
		return
	}
	b := c.buf()
	b.B = codec.AppendFrameHeader(b.B, op, len(p1)+len(p2))
	b.B = append(b.B, p1...)
	b.B = append(b.B, p2...)
	if len(b.B) >= earlyFlushBytes {
		c.FlushNow()
	}
}

// Deflate reports whether c negotiated permessage-deflate: WriteMessage
// compresses for it, and WriteRaw takes frames compressed by the server's
// Options.Deflate.
func (c *Conn) Deflate() bool { return c.ext&extDeflate != 0 }

// WriteMessage is WriteFrame for a data message (text or binary) that is
// compressed when c negotiated permessage-deflate, compress is set and the
// payload reaches Options.Deflate's threshold.
func (c *Conn) WriteMessage(op ws.OpCode, p1, p2 []byte, compress bool) {
	if c.ext&extDeflate == 0 || !compress {
		c.WriteFrame(op, p1, p2)
		return
	}
	d := c.loop.srv.opts.Deflate
	if !d.Compresses(len(p1) + len(p2)) {
		c.WriteFrame(op, p1, p2)
		return
	}
	if c.state != stateWS || c.flags&(flagClosed|flagClosing) != 0 {
		return
	}
	b := c.buf()
	b.B = d.AppendFrame(b.B, op, p1, p2)
	if len(b.B) >= earlyFlushBytes {
		c.FlushNow()
	}
}

// Abort drops c's queued output and closes it at once (a slow consumer:
// what it has not read it will not read).
func (c *Conn) Abort(reason CloseReason) {
	if c.flags&flagClosed != 0 {
		return
	}
	if c.wbuf != nil {
		bytebufferpool.Put(c.wbuf)
		c.wbuf = nil
	}
	c.reason = reason
	c.flags &^= flagGraceful | flagClosing
	c.Close(reason)
}

// WriteRaw queues bytes that are already framed.
func (c *Conn) WriteRaw(p []byte) {
	if c.flags&(flagClosed|flagClosing) != 0 || c.state >= stateDraining {
		return
	}
	b := c.buf()
	b.B = append(b.B, p...)
	if len(b.B) >= earlyFlushBytes {
		c.FlushNow()
	}
}

// CloseWebSocket sends a close frame (code 0: no status, as Node's engine.io
// does) and closes the connection gracefully.
func (c *Conn) CloseWebSocket(code ws.StatusCode, reason CloseReason) {
	if c.state != stateWS || c.flags&(flagClosed|flagClosing) != 0 {
		c.Close(reason)
		return
	}
	b := c.buf()
	b.B = codec.AppendCloseFrame(b.B, code, "")
	c.CloseGracefully(reason)
}

// Close closes c once its queued output is flushed, without waiting for the peer.
func (c *Conn) Close(reason CloseReason) {
	if c.flags&(flagClosed|flagClosing) != 0 {
		return
	}
	if c.reason == ReasonNone {
		c.reason = reason
	}
	c.flags |= flagClosing
	c.loop.markDirty(c)
}

// CloseGracefully flushes queued output, half-closes the socket and discards
// input until the peer closes (bounded by a linger timer), so that the last
// response or close frame is not destroyed by a TCP reset.
func (c *Conn) CloseGracefully(reason CloseReason) {
	if c.flags&(flagClosed|flagClosing) != 0 {
		return
	}
	c.flags |= flagGraceful
	c.Close(reason)
}

// flush writes queued output in one syscall and carries out a pending close.
func (c *Conn) flush() {
	if c.flags&flagClosed != 0 {
		c.releaseBuffers()
		return
	}
	srv := c.loop.srv
	if c.wbuf != nil {
		b := c.wbuf
		c.wbuf = nil
		if len(b.B) > 0 {
			srv.stats.writes.Add(1)
			c.loop.bytesOut.Add(int64(len(b.B)))
			_, _ = c.gc.Write(b.B) // on error gnet closes c and OnClose runs
			bytebufferpool.Put(b)
			if c.flags&flagClosed != 0 {
				return
			}
			if c.flags&flagPaused != 0 {
				c.setInterest(true) // a partial write makes gnet register reads again
			}
		} else {
			bytebufferpool.Put(b)
		}
	}
	if c.flags&flagClosing == 0 {
		return
	}
	if c.flags&flagGraceful != 0 && c.state != stateDraining {
		if c.gc.OutboundBuffered() > 0 {
			// The last response or frame is not all written yet: closing
			// now would cut it (gnet writes what it can, once). Close once
			// gnet has written it, or when the peer stops taking it
			// (WriteStallTimeout).
			c.loop.waitDrain(c, closeWhenWritten{c}, 0)
			return
		}
		if err := unix.Shutdown(c.gc.Fd(), unix.SHUT_WR); err == nil {
			c.state = stateDraining
			c.flags &^= flagClosing
			c.armTimer(lingerTimeout)
			c.discard(-1)
			return
		}
	}
	if c == c.loop.current {
		c.flags |= flagCloseNow
		return
	}
	_ = c.loop.el.Close(c.gc)
}

// closeWhenWritten resumes a graceful close once gnet wrote what it held.
type closeWhenWritten struct{ c *Conn }

func (t closeWhenWritten) Run(*Loop) {
	if t.c.flags&flagClosed == 0 {
		t.c.loop.markDirty(t.c)
	}
}

func (c *Conn) releaseBuffers() {
	if c.wbuf != nil {
		bytebufferpool.Put(c.wbuf)
		c.wbuf = nil
	}
	if c.frag != nil {
		bytebufferpool.Put(c.frag)
		c.frag = nil
	}
}

// onClosed runs once, when gnet reports the connection closed.
func (c *Conn) onClosed(err error) {
	if c.flags&flagClosed != 0 {
		return
	}
	c.flags |= flagClosed
	c.state = stateClosed
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.releaseBuffers()
	if c.reason == ReasonNone {
		c.reason = ReasonPeerClosed
		// gnet reports a peer's FIN as "read: EOF"; a reset or broken pipe
		// is the peer going away too. Anything else is a real I/O error.
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, unix.ECONNRESET) && !errors.Is(err, unix.EPIPE) {
			c.reason = ReasonIOError
		}
	}
	c.loop.srv.count(c.reason)
	c.loop.srv.h.OnClose(c, c.reason)
}

func (c *Conn) serveWS() {
	srv := c.loop.srv
	maxMsg := srv.opts.MaxMessageBytes
	for c.state == stateWS && c.flags&(flagClosing|flagClosed|flagPaused) == 0 {
		n := c.gc.InboundBuffered()
		if n == 0 || n < int(c.wsNeed) {
			return
		}
		buf, _ := c.gc.Peek(n)
		h, hn, err := codec.ParseFrameHeader(buf, maxMsg)
		if err != nil {
			if err == codec.ErrFrameTooLarge {
				c.failWS(ws.StatusMessageTooBig, ReasonMessageTooLarge)
			} else {
				c.failWS(ws.StatusProtocolError, ReasonProtocolError)
			}
			return
		}
		if hn == 0 {
			c.wsNeed = int32(n + 1)
			return
		}
		compressed := false
		if c.ext&extDeflate != 0 {
			compressed, err = codec.CheckClientHeaderDeflate(h, c.flags&flagFragmented != 0)
		} else {
			err = codec.CheckClientHeader(h, c.flags&flagFragmented != 0)
		}
		if err != nil {
			c.failWS(ws.StatusProtocolError, ReasonProtocolError)
			return
		}
		total := hn + int(h.Length)
		if n < total {
			c.wsNeed = int32(total)
			return
		}
		c.wsNeed = 0
		payload := buf[hn:total]
		codec.Unmask(payload, h.Mask, 0)
		switch h.OpCode {
		case ws.OpPing:
			if !c.OverCap() { // a peer that pings but does not read gets no pongs
				c.WriteFrame(ws.OpPong, payload, nil)
			}
		case ws.OpPong:
		case ws.OpClose:
			code, err := codec.ParseClosePayload(payload)
			if err != nil {
				c.failWS(ws.StatusProtocolError, ReasonProtocolError)
				return
			}
			b := c.buf()
			if code == ws.StatusNoStatusRcvd {
				code = 0
			}
			b.B = codec.AppendCloseFrame(b.B, code, "")
			c.CloseGracefully(ReasonPeerClosed)
		case ws.OpText, ws.OpBinary:
			switch {
			case h.Fin && compressed:
				c.deliverDeflated(h.OpCode, payload)
			case h.Fin:
				c.deliver(h.OpCode, payload)
			default:
				c.frag = bytebufferpool.Get()
				c.frag.B = append(c.frag.B[:0], payload...)
				c.fragOp, c.fragCount = h.OpCode, 1
				c.flags |= flagFragmented
				if compressed {
					c.ext |= extFragDeflated
				}
			}
		case ws.OpContinuation:
			c.fragCount++
			if int64(len(c.frag.B)+len(payload)) > maxMsg {
				c.failWS(ws.StatusMessageTooBig, ReasonMessageTooLarge)
				return
			}
			if int(c.fragCount) > srv.opts.MaxFragments {
				c.failWS(ws.StatusPolicyViolation, ReasonTooManyFragments)
				return
			}
			c.frag.B = append(c.frag.B, payload...)
			if h.Fin {
				frag := c.frag
				c.frag = nil
				c.flags &^= flagFragmented
				if c.ext&extFragDeflated != 0 {
					c.ext &^= extFragDeflated
					c.deliverDeflated(c.fragOp, frag.B)
				} else {
					c.deliver(c.fragOp, frag.B)
				}
				bytebufferpool.Put(frag)
			}
		}
		c.discard(total)
	}
}

func (c *Conn) deliver(op ws.OpCode, data []byte) {
	if op == ws.OpText && !utf8.Valid(data) {
		c.failWS(ws.StatusInvalidFramePayloadData, ReasonInvalidUTF8)
		return
	}
	c.loop.srv.h.OnMessage(c, op == ws.OpBinary, data)
}

// deliverDeflated inflates a compressed message into a pooled buffer,
// never past Options.MaxMessageBytes (a deflate bomb is closed with 1009,
// invalid data with 1007, as Node's ws does), and delivers it.
func (c *Conn) deliverDeflated(op ws.OpCode, data []byte) {
	srv := c.loop.srv
	buf := bytebufferpool.Get()
	out, err := codec.Inflate(buf.B[:0], data, srv.opts.MaxMessageBytes)
	buf.B = out
	switch err {
	case nil:
		srv.stats.inflated.Add(1)
		c.deliver(op, out)
	case codec.ErrInflateTooLarge:
		c.failWS(ws.StatusMessageTooBig, ReasonMessageTooLarge)
	default:
		c.failWS(ws.StatusInvalidFramePayloadData, ReasonInvalidDeflate)
	}
	if cap(buf.B) <= 64<<10 { // a large message's buffer is not kept for every later one
		bytebufferpool.Put(buf)
	}
}

// failWS closes the WebSocket with a status code after a protocol violation.
func (c *Conn) failWS(code ws.StatusCode, reason CloseReason) {
	c.reason = reason
	c.flags |= flagDiscardInput
	b := c.buf()
	b.B = codec.AppendCloseFrame(b.B, code, "")
	c.CloseGracefully(reason)
}

var statusText = map[int]string{
	101: "Switching Protocols", 200: "OK", 204: "No Content", 304: "Not Modified",
	400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
	408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large", 426: "Upgrade Required",
	429: "Too Many Requests", 431: "Request Header Fields Too Large",
	500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
	505: "HTTP Version Not Supported",
}

func appendRetryAfter(dst []byte, seconds int) []byte {
	if seconds <= 0 {
		seconds = 1
	}
	dst = append(dst, "Retry-After: "...)
	dst = strconv.AppendInt(dst, int64(seconds), 10)
	return append(dst, "\r\n"...)
}

func appendStatusLine(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText[status]...)
	return append(dst, "\r\n"...)
}

// firstSubprotocol returns the first token of a Sec-WebSocket-Protocol
// header, or nil when it is not a valid token.
func firstSubprotocol(v []byte) []byte {
	end := len(v)
	for i, ch := range v {
		if ch == ',' {
			end = i
			break
		}
	}
	tok := v[:end]
	for len(tok) > 0 && (tok[0] == ' ' || tok[0] == '\t') {
		tok = tok[1:]
	}
	for len(tok) > 0 && (tok[len(tok)-1] == ' ' || tok[len(tok)-1] == '\t') {
		tok = tok[:len(tok)-1]
	}
	if len(tok) == 0 || len(tok) > 256 {
		return nil
	}
	for _, ch := range tok {
		if ch <= ' ' || ch >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", ch) >= 0 {
			return nil
		}
	}
	return tok
}
