package load

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"

	"github.com/gobwas/ws"
)

type cstate uint8

const (
	csNew          cstate = iota
	csDial                // ws: waiting for 101 and the open packet; polling: for the handshake response
	csConnecting          // `40` sent, waiting for `40{"sid":…}`
	csJoining             // join emitted, waiting for its ack
	csProbing             // upgrade: probe WebSocket opening, `2probe` sent, waiting for `3probe`
	csPausing             // upgrade: `3probe` received, waiting for the pending GET to return
	csUpgradeCheck        // upgrade: `5` sent and an echo emitted over the WebSocket, waiting for its ack
	csReady
	csDead
)

type role uint8

const (
	roleRamp   role = iota // a client of the ramp: stays connected
	roleSender             // the broadcast sender (a ramp client that joins no room)
	roleChurn              // a connect-phase client: connects, is counted, disconnects
)

// client is one Socket.IO client: a small state machine over one WebSocket,
// or over a GET and a POST connection when it long-polls.
type client struct {
	l        *loop
	id       int
	role     role
	polling  bool // on the polling transport now
	upgrade  bool // polling first, then upgrade to WebSocket
	room     string
	state    cstate
	ws       *sock
	get      *sock
	post     *sock
	sid      string
	ackSeq   int64
	waitAck  int64 // the ack id the handshake waits for (join, upgrade check)
	postQ    []byte
	start    int64 // when the current attempt began
	attempts int
	seq      [nTimerKinds]uint32
	nextEmit int64
	sent     int64 // roleSender: broadcasts sent in this phase
	// A tracked phase: whether c was ready when it began, the broadcasts
	// it received (bit seq-1), and how many it received again.
	tracked bool
	seen    uint64
	dupes   int64
}

// handshakeTimeout bounds one connection attempt.
const handshakeTimeout = 20e9

// begin starts a connection attempt.
func (c *client) begin() {
	l := c.l
	c.state = csDial
	c.start = l.now
	c.sid = ""
	c.postQ = c.postQ[:0]
	l.schedule(c, tDeadline, l.now+handshakeTimeout)
	var err error
	if c.polling {
		c.get, err = l.dial(c, kindGet, c.pollRequest(nil, false))
		if c.get != nil {
			c.get.busy = true
		}
	} else {
		c.ws, err = l.dial(c, kindWS, c.wsRequest())
	}
	if err != nil {
		c.fail("dial", err)
	}
}

func (c *client) wsRequest() []byte {
	l := c.l
	var key [16]byte
	r1, r2 := l.rand(), l.rand()
	for i := 0; i < 8; i++ {
		key[i], key[8+i] = byte(r1>>(8*i)), byte(r2>>(8*i))
	}
	b := l.frame[:0]
	b = append(b, "GET "...)
	b = append(b, l.e.cfg.Path...)
	b = append(b, "?EIO=4&transport=websocket"...)
	if c.sid != "" {
		b = append(b, "&sid="...)
		b = append(b, c.sid...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, l.e.cfg.Addr...)
	b = append(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "...)
	b = base64.StdEncoding.AppendEncode(b, key[:])
	b = append(b, "\r\n\r\n"...)
	l.frame = b
	return b
}

// pollRequest builds a polling GET (body nil) or POST in l.frame.
func (c *client) pollRequest(body []byte, post bool) []byte {
	l := c.l
	b := l.frame[:0]
	if post {
		b = append(b, "POST "...)
	} else {
		b = append(b, "GET "...)
	}
	b = append(b, l.e.cfg.Path...)
	b = append(b, "?EIO=4&transport=polling&t="...)
	b = strconv.AppendUint(b, l.rand()&0xffffff, 36)
	if c.sid != "" {
		b = append(b, "&sid="...)
		b = append(b, c.sid...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, l.e.cfg.Addr...)
	if post {
		b = append(b, "\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	l.frame = b
	return b
}

// send sends one Engine.IO packet on the current transport.
func (c *client) send(pkt []byte) {
	if c.polling {
		if len(c.postQ) > 0 {
			c.postQ = append(c.postQ, 0x1e)
		}
		c.postQ = append(c.postQ, pkt...)
		c.flushPost()
		return
	}
	c.l.write(c.ws, c.l.wsFrame(ws.OpText, pkt))
}

func (c *client) flushPost() {
	if len(c.postQ) == 0 || c.state == csDead {
		return
	}
	if c.post != nil && c.post.busy {
		return
	}
	req := c.pollRequest(c.postQ, true)
	c.postQ = c.postQ[:0]
	if c.post == nil || c.post.state == sockClosed {
		var err error
		if c.post, err = c.l.dial(c, kindPost, req); err != nil {
			c.fail("dial", err)
			return
		}
	} else if !c.l.write(c.post, req) {
		return
	}
	c.post.busy = true
}

func (c *client) pollGet() {
	if c.state == csDead {
		return
	}
	req := c.pollRequest(nil, false)
	if c.get == nil || c.get.state == sockClosed {
		var err error
		if c.get, err = c.l.dial(c, kindGet, req); err != nil {
			c.fail("dial", err)
			return
		}
	} else if !c.l.write(c.get, req) {
		return
	}
	c.get.busy = true
}

// dropSock forgets a socket the server is closing after its response.
func (c *client) dropSock(s *sock) {
	switch s {
	case c.get:
		c.get = nil
	case c.post:
		c.post = nil
	}
}

func (c *client) onWSOpen(s *sock) {
	if c.state == csProbing {
		c.l.write(s, c.l.wsFrame(ws.OpText, []byte("2probe")))
	}
}

func (c *client) onHTTP(s *sock, status int, body []byte) {
	if status != 200 {
		c.fail("http", errors.New("polling request answered "+strconv.Itoa(status)))
		return
	}
	if s.kind == kindPost {
		c.flushPost()
		return
	}
	// A GET: a payload of packets separated by 0x1e.
	for len(body) > 0 && c.state != csDead {
		p := body
		if i := bytes.IndexByte(body, 0x1e); i >= 0 {
			p, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		c.onPacket(s, p)
	}
	if c.state == csDead || !c.polling {
		return
	}
	if c.state == csPausing {
		c.finishUpgrade()
		return
	}
	c.pollGet()
}

// onPacket handles one Engine.IO packet that arrived on s.
func (c *client) onPacket(s *sock, p []byte) {
	if len(p) == 0 {
		c.fail("proto", errors.New("empty packet"))
		return
	}
	switch p[0] {
	case '0': // open
		if c.state != csDial {
			return
		}
		if c.polling {
			sid, ok := jsonString(p[1:], `"sid":"`)
			if !ok {
				c.fail("proto", errors.New("open packet without sid"))
				return
			}
			c.sid = string(sid)
		}
		c.state = csConnecting
		c.send([]byte("40"))
	case '1':
		c.fail("closed", errors.New("server sent close"))
	case '2': // ping
		if s.kind == kindWS {
			c.l.write(s, c.l.wsFrame(ws.OpText, append(c.l.pkt[:0], '3')))
		} else {
			c.send([]byte("3"))
		}
	case '3':
		if string(p) == "3probe" && c.state == csProbing && s == c.ws {
			c.state = csPausing
			if c.get == nil || !c.get.busy {
				c.finishUpgrade()
			}
		}
	case '4':
		c.onSIO(p[1:])
	case '6': // noop
	}
}

func (c *client) onSIO(d []byte) {
	if len(d) == 0 {
		c.fail("proto", errors.New("empty message"))
		return
	}
	switch d[0] {
	case '0':
		if c.state == csConnecting {
			c.onConnected()
		}
	case '1':
		c.fail("closed", errors.New("server disconnected the socket"))
	case '2':
		if bytes.HasPrefix(d[1:], []byte(`["bcast",`)) {
			if t, ok := payloadTime(d); ok {
				c.l.recordOp(t)
				if c.tracked {
					if seq, ok := payloadInt(d, `"n":`); ok {
						c.l.recordDelivery(c, seq, t)
					}
				}
			}
		}
	case '3':
		i := 1
		var id int64
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			id = id*10 + int64(d[i]-'0')
			i++
		}
		c.onAck(id, d[i:])
	case '4':
		c.fail("connect_error", errors.New("connect error: "+string(d[1:])))
	}
}

func (c *client) onConnected() {
	if c.upgrade && c.polling {
		// Open the probe WebSocket while polling goes on, as socket.io-client does.
		c.state = csProbing
		var err error
		if c.ws, err = c.l.dial(c, kindWS, c.wsRequest()); err != nil {
			c.fail("dial", err)
		}
		return
	}
	if c.room != "" {
		c.state = csJoining
		c.waitAck = c.nextAck()
		pkt := append(c.l.pkt[:0], `42`...)
		pkt = strconv.AppendInt(pkt, c.waitAck, 10)
		pkt = append(pkt, `["join","`...)
		pkt = append(pkt, c.room...)
		pkt = append(pkt, `"]`...)
		c.l.pkt = pkt
		c.send(pkt)
		return
	}
	c.ready()
}

// finishUpgrade completes a probe: `5` on the WebSocket, the polling
// connections closed, and an echo over the WebSocket whose ack proves the
// session works on its new transport.
func (c *client) finishUpgrade() {
	l := c.l
	l.write(c.ws, l.wsFrame(ws.OpText, []byte("5")))
	c.polling = false
	l.closeSock(c.get)
	l.closeSock(c.post)
	c.get, c.post = nil, nil
	c.state = csUpgradeCheck
	c.waitAck = c.nextAck()
	c.send(c.echoPacket(c.waitAck, l.now))
}

func (c *client) onAck(id int64, data []byte) {
	switch c.state {
	case csJoining, csUpgradeCheck:
		if id == c.waitAck {
			c.ready()
		}
	case csReady:
		if t, ok := payloadTime(data); ok {
			c.l.recordOp(t)
			if c.l.ph != nil && c.l.ph.kind == kindEcho {
				c.emitEcho()
			}
		}
	}
}

func (c *client) nextAck() int64 { c.ackSeq++; return c.ackSeq }

// echoPacket builds `42<id>["echo",{"t":…,"p":"…"}]` in l.pkt.
func (c *client) echoPacket(id int64, t int64) []byte {
	l := c.l
	pkt := append(l.pkt[:0], `42`...)
	pkt = strconv.AppendInt(pkt, id, 10)
	pkt = append(pkt, `["echo",`...)
	pkt = l.e.appendPayload(pkt, t)
	pkt = append(pkt, ']')
	l.pkt = pkt
	return pkt
}

// emitEcho sends the next echo when the window is still open.
func (c *client) emitEcho() {
	l := c.l
	if !l.inWindow() || c.state != csReady {
		return
	}
	l.ph.sent++
	l.aSent.Add(1)
	c.send(c.echoPacket(c.nextAck(), l.now))
}

func (c *client) emitBcast() {
	l := c.l
	var pkt []byte
	if l.ph.spec.Event == "bcastall" {
		pkt = append(l.pkt[:0], `42["bcastall",`...)
	} else {
		pkt = append(l.pkt[:0], `42["bcast","`...)
		pkt = append(pkt, l.e.cfg.BcastRoom...)
		pkt = append(pkt, `",`...)
	}
	if l.ph.spec.Track {
		// {"t":<ns>,"n":<seq>,"p":"…"}: the sequence number names the
		// broadcast even where the server re-encodes t (Node rounds it).
		pkt = append(pkt, `{"t":`...)
		pkt = strconv.AppendInt(pkt, l.now, 10)
		pkt = append(pkt, `,"n":`...)
		pkt = strconv.AppendInt(pkt, c.sent, 10)
		pkt = append(pkt, `,"p":"`...)
		pkt = append(pkt, l.e.pad...)
		pkt = append(pkt, `"}`...)
	} else {
		pkt = l.e.appendPayload(pkt, l.now)
	}
	pkt = append(pkt, ']')
	l.pkt = pkt
	l.ph.sent++
	l.aSent.Add(1)
	c.send(pkt)
}

func (c *client) ready() {
	l := c.l
	l.cancel(c, tDeadline)
	c.state = csReady
	switch c.role {
	case roleChurn:
		l.recordOp(c.start)
		c.close()
		l.churnDone(c)
		return
	default:
		if c.attempts >= 0 { // first time ready in the ramp
			l.rampLat.Record(l.now - c.start)
			l.aReady.Add(1)
			l.inflight--
			c.attempts = -1
		}
		l.aLive.Add(1)
	}
}

func (c *client) onTimer(k timerKind) {
	l := c.l
	switch k {
	case tDeadline:
		if c.state == csDead {
			c.begin() // retry backoff elapsed
			return
		}
		c.fail("timeout", errors.New("handshake timed out"))
	case tEmit:
		if l.ph == nil || c.state != csReady || l.now >= l.ph.end {
			return
		}
		switch l.ph.kind {
		case kindEcho:
			c.emitEcho()
		case kindMixed:
			if l.now >= l.ph.start {
				l.ph.sent++
				l.aSent.Add(1)
				c.send(c.echoPacket(c.nextAck(), l.now))
			}
			c.nextEmit += 1e9
			l.schedule(c, tEmit, c.nextEmit)
		case kindBcast:
			rate := l.ph.spec.Rate
			due := int64(float64(l.now-l.ph.start)*rate/1e9) + 1
			for c.sent < due {
				c.sent++
				c.emitBcast()
			}
			next := l.ph.start + int64(float64(c.sent)*1e9/rate)
			l.schedule(c, tEmit, next)
		}
	}
}

// close ends the client without counting an error.
func (c *client) close() {
	l := c.l
	l.cancel(c, tDeadline)
	l.cancel(c, tEmit)
	l.closeSock(c.ws)
	l.closeSock(c.get)
	l.closeSock(c.post)
	c.ws, c.get, c.post = nil, nil, nil
	c.state = csDead
}

// maxAttempts bounds the connection attempts of a ramp client.
const maxAttempts = 3

// fail ends the client's current attempt with an error of the given kind.
func (c *client) fail(kind string, err error) {
	if c.state == csDead {
		return
	}
	l := c.l
	wasReady := c.state == csReady
	c.close()
	l.countErr(kind, l.ph != nil)
	if l.e.cfg.Verbose {
		l.e.logf("client %d: %s: %v", c.id, kind, err)
	}
	switch {
	case c.role == roleChurn:
		l.churnDone(c)
	case wasReady:
		l.aLive.Add(-1)
	case c.attempts >= 0:
		c.attempts++
		if c.attempts >= maxAttempts {
			l.aFailed.Add(1)
			l.inflight--
			c.attempts = -1
			return
		}
		c.polling = c.upgrade || c.polling
		l.schedule(c, tDeadline, l.now+int64(c.attempts)*500e6)
	}
}

// payloadTime finds the `"t":<unix ns>` of a latency payload.
func payloadTime(b []byte) (int64, bool) { return payloadInt(b, `"t":`) }

// payloadInt finds key (e.g. `"n":`) and the non-negative integer after it.
func payloadInt(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	i += len(key)
	var t int64
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		t = t*10 + int64(b[j]-'0')
		j++
	}
	return t, j > i
}

// jsonString finds key (e.g. `"sid":"`) and returns the string after it.
func jsonString(b []byte, key string) ([]byte, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil, false
	}
	b = b[i+len(key):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return nil, false
	}
	return b[:j], true
}
