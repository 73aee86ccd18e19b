package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// kind is a client → server event the benchmark emits (always with an ack).
type kind uint8

const (
	kJoin kind = iota
	kSend
	kTyping // typing:start
	kStop   // typing:stop
	kPresence
	nKinds
)

var kindNames = [nKinds]string{"channel:join", "message:send", "typing:start", "typing:stop", "presence:update"}

// pending is an emitted event waiting for its ack.
type pending struct {
	k    kind
	at   int64 // mono() at the send
	inWn bool  // sent inside the measured window
}

// user is one chat user: a Socket.IO v5 client over a WebSocket (Engine.IO
// v4), with a reader goroutine and, during the load, a scheduler goroutine.
type user struct {
	r    *run
	idx  int
	name string // token sub, "u<idx>"
	ch   int    // channel index
	sh   *shard

	conn net.Conn
	rd   *wsutil.Reader
	rbuf []byte

	wmu  sync.Mutex // guards wbuf and writes to conn
	wbuf []byte
	ebuf []byte // the event being built (scheduler goroutine only)

	amu     sync.Mutex // guards nextID and acks
	nextID  int
	acks    map[int]pending
	joinAck chan bool // the channel:join answer (true: ok)

	joined  bool        // set by the connecting goroutine before the window
	closing atomic.Bool // we close it: EOF is expected
	dead    atomic.Bool
}

var errProto = errors.New("protocol error")

// connect dials the server from src, does the Engine.IO and Socket.IO
// handshakes with the user's token and returns once CONNECT is acknowledged.
// The error's prefix is its kind for the error counts.
func (u *user) connect(ctx context.Context, addr string, src net.IP, token string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	d := ws.Dialer{
		NetDial: func(ctx context.Context, network, a string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}
			return nd.DialContext(ctx, network, a)
		},
	}
	conn, br, _, err := d.Dial(ctx, "ws://"+addr+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		var se ws.StatusError
		if errors.As(err, &se) {
			return fmt.Errorf("upgrade: %w", err)
		}
		return fmt.Errorf("dial: %w", err)
	}
	if br == nil {
		br = bufio.NewReaderSize(conn, 4096)
	}
	u.conn = conn
	u.rd = &wsutil.Reader{Source: br, State: ws.StateClientSide, OnIntermediate: u.control}
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	p, err := u.read()
	if err != nil {
		conn.Close()
		return fmt.Errorf("timeout: no open packet: %w", err)
	}
	if len(p) == 0 || p[0] != '0' {
		conn.Close()
		return fmt.Errorf("proto: first packet %.40q", p)
	}
	if err := u.writeText([]byte(`40{"token":"` + token + `"}`)); err != nil {
		conn.Close()
		return fmt.Errorf("closed: %w", err)
	}
	for {
		p, err := u.read()
		if err != nil {
			conn.Close()
			return fmt.Errorf("timeout: no CONNECT answer: %w", err)
		}
		switch {
		case bytes.HasPrefix(p, []byte("40")):
			_ = conn.SetDeadline(time.Time{})
			return nil
		case bytes.HasPrefix(p, []byte("44")):
			conn.Close()
			return fmt.Errorf("connect_error: %s", field(p, "message"))
		case len(p) == 1 && p[0] == '2':
			if err := u.writeText([]byte("3")); err != nil {
				conn.Close()
				return fmt.Errorf("closed: %w", err)
			}
		default:
			conn.Close()
			return fmt.Errorf("proto: unexpected %.40q before CONNECT", p)
		}
	}
}

// control answers a WebSocket control frame (ping → pong, close → close).
func (u *user) control(h ws.Header, r io.Reader) error {
	return wsutil.ControlFrameHandler(lockedWriter{u}, ws.StateClientSide)(h, r)
}

type lockedWriter struct{ u *user }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.u.wmu.Lock()
	defer w.u.wmu.Unlock()
	return w.u.conn.Write(p)
}

// read returns the next data message; its bytes are valid until the next
// read. Control frames are answered on the way.
func (u *user) read() ([]byte, error) {
	for {
		hdr, err := u.rd.NextFrame()
		if err != nil {
			return nil, err
		}
		if hdr.OpCode.IsControl() {
			if err := u.control(hdr, u.rd); err != nil {
				return nil, err
			}
			continue
		}
		u.rbuf = u.rbuf[:0]
		for {
			if len(u.rbuf) == cap(u.rbuf) {
				u.rbuf = append(u.rbuf, 0)[:len(u.rbuf)]
			}
			n, err := u.rd.Read(u.rbuf[len(u.rbuf):cap(u.rbuf)])
			u.rbuf = u.rbuf[:len(u.rbuf)+n]
			if err == io.EOF {
				return u.rbuf, nil
			}
			if err != nil {
				return nil, err
			}
		}
	}
}

// writeText sends p as one masked text frame in one write.
func (u *user) writeText(p []byte) error {
	u.wmu.Lock()
	defer u.wmu.Unlock()
	b := u.wbuf[:0]
	b = append(b, 0x81) // FIN, text
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	mask := ws.NewMask()
	b = append(b, mask[:]...)
	start := len(b)
	b = append(b, p...)
	ws.Cipher(b[start:], mask, 0)
	u.wbuf = b
	_, err := u.conn.Write(b)
	return err
}

// emit sends event k with an ack id; body is the JSON object argument.
func (u *user) emit(k kind, body []byte, inWindow bool) error {
	u.amu.Lock()
	id := u.nextID
	u.nextID++
	at := mono()
	u.acks[id] = pending{k: k, at: at, inWn: inWindow}
	u.amu.Unlock()
	u.r.pendingAcks.Add(1)
	b := u.ebuf[:0]
	b = append(b, "42"...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, `["`...)
	b = append(b, kindNames[k]...)
	b = append(b, `",`...)
	b = append(b, body...)
	b = append(b, ']')
	u.ebuf = b
	if err := u.writeText(b); err != nil {
		u.amu.Lock()
		if _, ok := u.acks[id]; ok {
			delete(u.acks, id)
			u.r.pendingAcks.Add(-1)
		}
		u.amu.Unlock()
		return err
	}
	return nil
}

// readLoop handles every packet until the connection ends.
func (u *user) readLoop() {
	for {
		p, err := u.read()
		if err != nil {
			u.dead.Store(true)
			if !u.closing.Load() && u.r.phase.Load() < phaseDone {
				u.r.errorf("closed")
			}
			u.failPending()
			return
		}
		u.handle(p)
	}
}

// failPending forgets the acks a dead connection will never receive.
func (u *user) failPending() {
	u.amu.Lock()
	n := len(u.acks)
	clear(u.acks)
	u.amu.Unlock()
	if n > 0 {
		u.r.pendingAcks.Add(-int64(n))
		u.r.errorsAdd("ack lost (connection closed)", int64(n))
	}
	select {
	case u.joinAck <- false:
	default:
	}
}

// handle dispatches one Engine.IO packet.
func (u *user) handle(p []byte) {
	if len(p) == 0 {
		return
	}
	switch p[0] {
	case '2': // ping
		if len(p) == 1 {
			_ = u.writeText([]byte("3"))
		}
	case '1': // close
		if !u.closing.Load() {
			u.r.errorf("engine.io close")
		}
	case '4':
		if len(p) < 2 {
			return
		}
		switch p[1] {
		case '2':
			u.event(p[2:])
		case '3':
			u.ack(p[2:])
		case '1':
			if u.r.phase.Load() < phaseDone {
				u.r.errorf("server disconnect (41)")
			}
		case '4':
			u.r.errorf("connect_error: " + field(p, "message"))
		}
	}
}

var (
	evMessageNew = []byte(`["message:new",`)
	evTyping     = []byte(`["typing:update",`)
	evPresence   = []byte(`["presence:update",`)
	tsMarker     = []byte(" ts=")
	typingTrue   = []byte(`"typing":true`)
	okTrue       = []byte(`"ok":true`)
)

// event counts a server → client event and its delivery latency.
func (u *user) event(p []byte) {
	r := u.r
	now := mono()
	switch {
	case bytes.HasPrefix(p, evMessageNew):
		if r.phase.Load() < phaseMeasure {
			r.other.Add(1)
			return
		}
		if userIndex(p) == u.idx {
			r.errorf("message:new delivered to its sender")
		}
		ts, ok := sendTime(p)
		if !ok {
			r.errorf("message:new without a send time")
			return
		}
		if ts < r.t0.Load() || ts >= r.tEnd.Load() {
			r.other.Add(1)
			return
		}
		r.recv[dMsg].Add(1)
		u.sh.record(&u.sh.deliv[dMsg], now-ts)
	case bytes.HasPrefix(p, evTyping):
		from := userIndex(p)
		if r.phase.Load() < phaseMeasure || from < 0 || from >= len(r.typingAt) {
			r.other.Add(1)
			return
		}
		at := r.typingAt[from].Load()
		if at < r.t0.Load() { // not yet typed, or in the warm-up
			r.other.Add(1)
			return
		}
		if bytes.Contains(p, typingTrue) {
			r.recv[dTypingOn].Add(1)
			u.sh.record(&u.sh.deliv[dTypingOn], now-at)
		} else {
			r.recv[dTypingOff].Add(1)
			// From the typing:start: how long the channel saw the user
			// typing, ended by typing:stop or by the server's timeout.
			if d := now - at; d < typingSplit {
				u.sh.record(&u.sh.deliv[dTypingOff], d)
			} else {
				u.sh.record(&u.sh.typingTimeout, d)
			}
		}
	case bytes.HasPrefix(p, evPresence):
		from := userIndex(p)
		if r.phase.Load() < phaseMeasure || from < 0 || from >= len(r.presenceAt) {
			r.other.Add(1)
			return
		}
		at := r.presenceAt[from].Load()
		if at < r.t0.Load() {
			r.other.Add(1)
			return
		}
		r.recv[dPresence].Add(1)
		u.sh.record(&u.sh.deliv[dPresence], now-at)
	default:
		r.other.Add(1)
	}
}

// ack matches an ACK (`<id>[{...}]`) with its event.
func (u *user) ack(p []byte) {
	now := mono()
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	id, err := strconv.Atoi(string(p[:i]))
	if err != nil {
		u.r.errorf("proto: ack without id")
		return
	}
	u.amu.Lock()
	pd, ok := u.acks[id]
	delete(u.acks, id)
	u.amu.Unlock()
	if !ok {
		u.r.errorf("proto: ack for an unknown id")
		return
	}
	u.r.pendingAcks.Add(-1)
	good := bytes.Contains(p[i:], okTrue)
	if pd.k == kJoin {
		u.sh.record(&u.sh.join, now-pd.at)
		select {
		case u.joinAck <- good:
		default:
		}
		if !good {
			u.r.errorf("ack error: channel:join: " + field(p, "code"))
		}
		return
	}
	if !good {
		u.r.errorf("ack error: " + kindNames[pd.k] + ": " + field(p, "code"))
		if pd.inWn {
			u.r.ackErr[pd.k].Add(1)
		}
		return
	}
	if !pd.inWn {
		return
	}
	u.r.ackOK[pd.k].Add(1)
	u.sh.mu.Lock()
	u.sh.ack[pd.k].Record(now - pd.at)
	if pd.k == kSend {
		u.sh.sendIv.Record(now - pd.at)
	}
	u.sh.mu.Unlock()
}

// close ends the connection on our side.
func (u *user) close() {
	u.closing.Store(true)
	if u.conn != nil {
		u.conn.Close()
	}
}

// userIndex reads the sender of a server event: the first "userId":"u<n>".
func userIndex(p []byte) int {
	const key = `"userId":"u`
	i := bytes.Index(p, []byte(key))
	if i < 0 {
		return -1
	}
	i += len(key)
	n, digits := 0, 0
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		n = n*10 + int(p[i]-'0')
		digits++
	}
	if digits == 0 || i >= len(p) || p[i] != '"' {
		return -1
	}
	return n
}

// sendTime reads the " ts=<mono ns>" the sender put in the message text.
func sendTime(p []byte) (int64, bool) {
	i := bytes.Index(p, tsMarker)
	if i < 0 {
		return 0, false
	}
	i += len(tsMarker)
	var n int64
	digits := 0
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		n = n*10 + int64(p[i]-'0')
		digits++
	}
	return n, digits > 0
}

// field returns the string value of the first "name":"..." in p (enough
// for error codes and connect_error messages, which hold no escapes).
func field(p []byte, name string) string {
	key := []byte(`"` + name + `":"`)
	i := bytes.Index(p, key)
	if i < 0 {
		return "?"
	}
	rest := p[i+len(key):]
	if j := bytes.IndexByte(rest, '"'); j >= 0 {
		return string(rest[:j])
	}
	return "?"
}
