package socketio

import (
	"bytes"
	"encoding/json"
	"net/url"
	"time"

	"sio/codec"
	"sio/engine"
	"sio/loop"
)

// maxPreConnectPacket caps what an unauthenticated connection may send
// before it joins a namespace (only CONNECT packets are allowed then).
const maxPreConnectPacket = 8 << 10

// client is the Socket.IO state of one Engine.IO session. It lives on the
// session's loop; nothing here is touched elsewhere.
type client struct {
	srv     *Server
	sess    *engine.Session
	head    []byte    // the handshake request head (Handshake parses it on demand)
	at      int64     // handshake time, Unix nanoseconds
	sockets []*Socket // one per namespace, connecting ones included (a few at most: a slice beats a map)
	xdomain bool
	joined  bool // a namespace was joined once (stops the connect timeout)
	closed  bool
	v3      bool // Engine.IO v3 / Socket.IO protocol v4 (eio3.go)

	bin        *binaryPacket
	binGen     uint32
	binTmr     *loop.Timer // the pending packet's attachment timeout
	connectTmr loop.Timer
}

// stopTimers stops what would otherwise keep the client reachable until it
// fired: the connect timeout once a namespace is joined or the client is
// gone, the attachment timeout once the attachments are in.
func (c *client) stopConnectTimer() { c.connectTmr.StopFrom(c.sess.Loop()) }

func (c *client) stopBinTimer() {
	if c.binTmr != nil {
		c.binTmr.StopFrom(c.sess.Loop())
		c.binTmr = nil
	}
}

// OnMessage implements engine.Handler.
func (c *client) OnMessage(sess *engine.Session, data []byte, binary bool) {
	c.onData(sess, data, binary)
}

// OnClose implements engine.Handler.
func (c *client) OnClose(sess *engine.Session, reason engine.Reason) {
	c.protect(func() { c.onEngineClose(sess, reason) })
}

// handshake builds the Handshake of the connection.
func (c *client) handshake() Handshake {
	h := Handshake{Time: time.Unix(0, c.at), rawHead: c.head, XDomain: c.xdomain, Secure: c.sess.Secure()}
	if ra := c.sess.RemoteAddr(); ra != nil {
		h.Address = remoteIP(ra)
	}
	if i := bytes.IndexByte(c.head, ' '); i >= 0 {
		rest := c.head[i+1:]
		if j := bytes.IndexByte(rest, ' '); j >= 0 {
			h.URL = string(rest[:j])
		}
	}
	return h
}

type binaryPacket struct {
	pkt         codec.SIOPacket
	text        []byte
	attachments [][]byte
	bytes       int
}

func (s *Server) onEngineConnection(sess *engine.Session, r *loop.Request) {
	c := &client{srv: s, sess: sess, head: keptHead(r), at: time.Now().UnixNano(), xdomain: len(r.Origin) > 0}
	sess.Data = c
	sess.SetHandler(c)
	l := sess.Loop()
	c.connectTmr.InitArg(l, connectTimeoutFired, c)
	c.connectTmr.Reset(s.opts.ConnectTimeout)
	if isV3(sess) {
		c.v3 = true
		c.connectRootV3()
	}
}

// connectTimeoutFired closes a connection that joined no namespace in
// time (the timer is never stopped: once joined it finds nothing to do).
func connectTimeoutFired(a any) {
	c := a.(*client)
	c.do(func() {
		if !c.joined && !c.closed {
			c.closeWith(ReasonForcedServerClose)
		}
	})
}

// onData receives one Engine.IO message (on the loop); data is borrowed.
// do runs fn on the client's loop (following an upgrade's move) with its
// panics contained to this client.
func (c *client) do(fn func()) {
	c.sess.Do(func() { c.protect(fn) })
}

// protect runs application code (handlers, middlewares, listeners): a panic
// there closes this client only, and is counted and logged once with a stack.
func (c *client) protect(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.panicked(r)
			c.closeWith(ReasonHandlerPanic)
		}
	}()
	fn()
}

func (c *client) onData(sess *engine.Session, data []byte, binary bool) {
	c.protect(func() { c.onMessage(data, binary) })
}

func (c *client) onMessage(data []byte, binary bool) {
	if c.closed {
		return
	}
	if pr := c.srv.opts.Parser; pr != nil {
		c.onParsedMessage(pr, data, binary)
		return
	}
	if c.bin != nil {
		if !binary {
			c.fail() // text while attachments are pending
			return
		}
		b := c.bin
		b.bytes += len(data)
		if b.bytes > c.srv.opts.MaxAttachmentBytes {
			c.fail()
			return
		}
		b.attachments = append(b.attachments, append([]byte(nil), data...))
		if len(b.attachments) == b.pkt.Attachments {
			c.bin = nil
			c.binGen++
			c.stopBinTimer()
			c.dispatch(&b.pkt, b.attachments)
		}
		return
	}
	if binary {
		c.fail() // an attachment nobody announced
		return
	}
	if !c.joined && len(c.sockets) == 0 && len(data) > maxPreConnectPacket {
		c.fail()
		return
	}
	p, err := codec.DecodeSIO(data, c.srv.opts.MaxAttachments)
	if err != nil {
		c.srv.parseErrors.Add(1)
		c.fail()
		return
	}
	if !c.joined && p.Type != codec.SIOConnect {
		c.closeWith(ReasonForcedServerClose) // nothing but CONNECT before a namespace is joined
		return
	}
	if (p.Type == codec.SIOBinaryEvent || p.Type == codec.SIOBinaryAck) && p.Attachments > 0 {
		text := append([]byte(nil), data...)
		p2, _ := codec.DecodeSIO(text, c.srv.opts.MaxAttachments) // re-slice into the owned copy
		c.bin = &binaryPacket{pkt: p2, text: text}
		// A fresh timer per packet, never stopped: a late one finds another
		// generation and does nothing (and no timer is re-armed from a loop
		// that does not own it after an upgrade moved the session).
		gen := c.binGen
		t := &loop.Timer{}
		c.binTmr = t
		t.Init(c.sess.Loop(), func() {
			c.do(func() {
				if c.bin != nil && c.binGen == gen {
					c.fail() // attachments never completed
				}
			})
		})
		t.Reset(c.srv.opts.AttachmentTimeout)
		return
	}
	c.dispatch(&p, nil)
}

func (c *client) dispatch(p *codec.SIOPacket, attachments [][]byte) {
	if p.Type == codec.SIOConnect {
		c.connect(p)
		return
	}
	s := c.socket(p.Nsp)
	if s == nil || !s.connected.Load() {
		c.closeWith(ReasonForcedServerClose) // a namespace this client has not joined
		return
	}
	switch p.Type {
	case codec.SIOEvent, codec.SIOBinaryEvent:
		s.onEvent(p, attachments)
	case codec.SIOAck, codec.SIOBinaryAck:
		s.onAck(p, attachments)
	case codec.SIODisconnect:
		s.onClose(ReasonClientNamespaceDisconnect)
	default: // CONNECT_ERROR is server→client only
		c.fail()
	}
}

var invalidNamespace = []byte(`{"message":"Invalid namespace"}`)

func (c *client) connect(p *codec.SIOPacket) {
	name, auth := string(p.Nsp), p.Data
	if c.v3 {
		name, auth = v3Namespace(p.Nsp)
	}
	if c.socket([]byte(name)) != nil {
		c.closeWith(ReasonForcedServerClose)
		return
	}
	nsp := c.srv.acquireNamespace(name, auth)
	if nsp == nil {
		c.sendControl(codec.SIOConnectError, name, invalidNamespace)
		return
	}
	s := &Socket{nsp: nsp, client: c, auth: emptyAuth}
	if len(auth) > 0 {
		s.auth = append(json.RawMessage(nil), auth...)
	}
	var missed []*Packet
	if c.srv.opts.Recovery != nil && !c.v3 {
		if pid, offset := recoveryKeys(auth); pid != "" {
			if sess, pkts, err := nsp.adapter.RestoreSession(pid, offset); err == nil && sess != nil {
				s.id, s.pid, s.data, s.recovered = sess.SID, sess.PID, sess.Data, true
				s.extras().rooms = sess.Rooms // not yet shared: no lock needed
				missed = pkts
			}
		}
		if !s.recovered {
			s.pid = engine.NewID()
		}
	}
	if c.v3 {
		s.id = v3SocketID(name, c.sess.ID())
	} else if !s.recovered {
		s.id = newSocketID()
	}
	c.sockets = append(c.sockets, s)
	nsp.mu.RLock()
	mws := nsp.middlewares
	nsp.mu.RUnlock()
	if s.recovered && c.srv.opts.Recovery.SkipMiddlewares {
		mws = nil
	}
	c.runConnectMiddlewares(s, mws, 0, missed)
}

func (c *client) runConnectMiddlewares(s *Socket, mws []Middleware, i int, missed []*Packet) {
	if i == len(mws) {
		c.finishConnect(s, nil, missed)
		return
	}
	done := false
	mws[i](s, func(err error) {
		c.do(func() {
			if done {
				return
			}
			done = true
			if err != nil {
				c.finishConnect(s, err, nil)
				return
			}
			c.runConnectMiddlewares(s, mws, i+1, missed)
		})
	})
}

func (c *client) finishConnect(s *Socket, err error, missed []*Packet) {
	name := s.nsp.name
	if c.closed || c.socket([]byte(name)) != s {
		s.closing.Store(true)
		s.endContext("transport close")
		s.releaseNamespace()
		return
	}
	if err != nil {
		c.remove(s)
		s.closing.Store(true)
		s.endContext("connection refused")
		s.releaseNamespace()
		payload := connectErrorPayload(err)
		if c.v3 {
			payload = v3ConnectError(err)
		}
		c.sendControl(codec.SIOConnectError, name, payload)
		return
	}
	if !c.joined {
		c.joined = true
		c.stopConnectTimer()
	}
	s.nsp.add(s)
	s.mu.Lock()
	s.connected.Store(true)
	var rooms []Room
	if s.x != nil {
		rooms = s.x.rooms
		s.x.rooms = nil
	}
	s.mu.Unlock()
	c.srv.namespaceJoined(s.nsp)
	// The socket joins its own room, as in Node, with those joined so far.
	s.nsp.adapter.AddAll(s.id, append([]Room{Room(s.id)}, rooms...))
	for _, p := range missed { // Node sends the missed packets before the ack
		prep, err := c.srv.prepared(p)
		if err != nil {
			c.srv.opts.Logger.Warn("recovery: cannot encode a missed packet", "nsp", name, "err", err)
			continue
		}
		c.sess.SendPrepared(prep, false)
	}
	var ack []byte // protocol v4: an ack without payload
	if !c.v3 {
		ack = append([]byte(`{"sid":`), jsonString(string(s.id))...)
		if s.pid != "" {
			ack = append(ack, `,"pid":`...)
			ack = append(ack, jsonString(s.pid)...)
		}
		ack = append(ack, '}')
	}
	c.sendControl(codec.SIOConnect, name, ack)
	c.srv.notifyConnected(s) // observers first (hooks.go)
	s.nsp.mu.RLock()
	hs := s.nsp.onConnection
	s.nsp.mu.RUnlock()
	for _, h := range hs {
		if !s.connected.Load() {
			break
		}
		h(s)
	}
}

func connectErrorPayload(err error) []byte {
	b := append([]byte(`{"message":`), jsonString(err.Error())...)
	if ce, ok := err.(*ConnectError); ok && ce.Data != nil {
		e := encoder{}
		if e.arg(ce.Data) == nil && len(e.attachments) == 0 {
			b = append(b, `,"data":`...)
			b = append(b, e.buf...)
		}
	}
	return append(b, '}')
}

func jsonString(s string) []byte { return appendJSONString(nil, s) }

// recoveryKeys extracts pid and offset from a CONNECT payload.
func recoveryKeys(auth []byte) (pid, offset string) {
	if codec.Kind(auth) != codec.JSONObject {
		return "", ""
	}
	_ = codec.ObjectMembers(auth, func(k, v []byte) bool {
		if codec.Kind(v) == codec.JSONString {
			switch string(k) {
			case "pid":
				pid = string(v[1 : len(v)-1])
			case "offset":
				offset = string(v[1 : len(v)-1])
			}
		}
		return true
	})
	if offset == "" {
		return "", ""
	}
	return pid, offset
}

func (c *client) remove(s *Socket) {
	for i, x := range c.sockets {
		if x == s {
			c.sockets = append(c.sockets[:i], c.sockets[i+1:]...)
			if len(c.sockets) == 0 {
				c.sockets = nil
			}
			return
		}
	}
}

// socket returns the client's socket in namespace nsp, if any.
func (c *client) socket(nsp []byte) *Socket {
	for _, s := range c.sockets {
		if s.nsp.name == string(nsp) {
			return s
		}
	}
	return nil
}

var emptyAuth = json.RawMessage("{}")

// keptHead copies the handshake request head for Handshake.Headers, minus
// Sec-WebSocket-Key, -Version and -Extensions, which mean nothing once the
// handshake is done (Node keeps them): every connection holds this copy for
// its lifetime.
func keptHead(r *loop.Request) []byte {
	n := 0
	skip := func(name []byte) bool {
		switch len(name) {
		case 17:
			return codec.EqualFold(name, "sec-websocket-key")
		case 21:
			return codec.EqualFold(name, "sec-websocket-version")
		case 24:
			return codec.EqualFold(name, "sec-websocket-extensions")
		}
		return false
	}
	for _, h := range r.Headers {
		if !skip(h.Name) {
			n += len(h.Name) + len(h.Value) + 4
		}
	}
	line := len(r.Method) + 1 + len(r.Target) + len(" HTTP/1.1\r\n")
	out := make([]byte, 0, line+n+2)
	out = append(out, r.Method...)
	out = append(out, ' ')
	out = append(out, r.Target...)
	out = append(out, " HTTP/1.1\r\n"...)
	for _, h := range r.Headers {
		if !skip(h.Name) {
			out = append(out, h.Name...)
			out = append(out, ':', ' ')
			out = append(out, h.Value...)
			out = append(out, '\r', '\n')
		}
	}
	return append(out, '\r', '\n')
}

// fail closes the connection after a protocol error ("forced close" for the
// engine, "parse error"-like for the sockets, as Node's decoder errors do).
func (c *client) fail() {
	c.closeWith(ReasonForcedClose)
}

// closeWith disconnects every socket with reason, then closes the session.
func (c *client) closeWith(reason string) {
	if c.closed {
		return
	}
	c.closed = true
	socks := append([]*Socket(nil), c.sockets...)
	for _, s := range socks {
		s.onClose(reason)
	}
	for _, s := range socks {
		s.releaseNamespace() // those still in their middlewares too
	}
	c.sockets = nil
	c.bin = nil
	c.stopBinTimer()
	c.stopConnectTimer()
	c.sess.Close()
}

// disconnectAll is Socket.Disconnect(true): every namespace gets a
// DISCONNECT, then the connection closes.
func (c *client) disconnectAll() {
	for _, s := range append([]*Socket(nil), c.sockets...) {
		if s.connected.Load() {
			c.sendControl(codec.SIODisconnect, s.nsp.name, nil)
			s.onClose(ReasonServerNamespaceDisconnect)
		}
	}
	c.closeWith(ReasonForcedServerClose)
}

// onEngineClose runs when the Engine.IO session ends.
func (c *client) onEngineClose(_ *engine.Session, reason engine.Reason) {
	if c.closed {
		return
	}
	c.closed = true
	r := string(reason)
	switch reason {
	case engine.ReasonMessageTooBig, engine.ReasonProtocolError:
		r = ReasonTransportError // what Node reports for a WebSocket error
	}
	socks := append([]*Socket(nil), c.sockets...)
	for _, s := range socks {
		s.onClose(r)
	}
	for _, s := range socks {
		s.releaseNamespace() // those still in their middlewares too
	}
	c.sockets = nil
	c.bin = nil
	c.stopBinTimer()
	c.stopConnectTimer()
}

func newSocketID() SocketID {
	// 15 random bytes: 20 URL-safe characters, like Node's base64id (the
	// sharded Redis adapter tells socket-id rooms by that length).
	id := engine.NewID()
	return SocketID(id[:20])
}

func urlUnescape(s string) (string, error) { return url.QueryUnescape(s) }
