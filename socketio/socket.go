package socketio

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sio/codec"
	"sio/engine"
	"sio/limits"
	"sio/loop"
)

// Disconnect reasons, as socket.io 4.8 names them.
const (
	ReasonTransportError            = "transport error"
	ReasonTransportClose            = "transport close"
	ReasonForcedClose               = "forced close"
	ReasonPingTimeout               = "ping timeout"
	ReasonParseError                = "parse error"
	ReasonServerShuttingDown        = "server shutting down"
	ReasonForcedServerClose         = "forced server close"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	// ReasonRateLimited is ours: the client kept exceeding a rate limit
	// (Options.EventLimits, MaxRateViolations).
	ReasonRateLimited = "rate limited"
	// ReasonHandlerPanic is ours: an application handler panicked while
	// serving this client; only this client is closed.
	ReasonHandlerPanic = "handler panic"
	// ReasonSlowConsumer is ours, not Node's: the client read too slowly and
	// its queued output passed the cap.
	ReasonSlowConsumer = "slow consumer"
)

// recoverable are the reasons after which a session is kept for recovery.
var recoverable = map[string]bool{
	ReasonTransportError: true, ReasonTransportClose: true, ReasonForcedClose: true,
	ReasonPingTimeout: true, ReasonServerShuttingDown: true, ReasonForcedServerClose: true,
}

// Handshake describes the request that opened the connection.
type Handshake struct {
	Time    time.Time
	Address string // remote IP, without port
	Secure  bool
	URL     string          // request target
	Auth    json.RawMessage // the CONNECT payload, {} when none
	rawHead []byte          // the request head, parsed on demand
	XDomain bool
}

// Headers returns the handshake's headers with lower-case names (the last
// value wins for repeated names, as with Node's header object). The
// Sec-WebSocket-Key, -Version and -Extensions fields of a WebSocket handshake
// are not kept.
func (h *Handshake) Headers() map[string]string {
	out := make(map[string]string)
	var p codec.HeadParser
	var r codec.Request
	if done, err := p.Parse(h.rawHead, &r); !done || err != nil {
		return out
	}
	for _, f := range r.Headers {
		out[strings.ToLower(string(f.Name))] = string(f.Value)
	}
	return out
}

// Query returns the query parameter key of the handshake URL ("" if absent).
func (h *Handshake) Query(key string) string {
	q := h.URL
	if i := strings.IndexByte(q, '?'); i >= 0 {
		q = q[i+1:]
	} else {
		return ""
	}
	v, _ := codec.QueryValue([]byte(q), key)
	s := string(v)
	if strings.ContainsAny(s, "%+") {
		if u, err := urlUnescape(s); err == nil {
			s = u
		}
	}
	return s
}

// Issued is the handshake time in milliseconds since the epoch.
func (h *Handshake) Issued() int64 { return h.Time.UnixMilli() }

// EventHandler handles an event from the client.
type EventHandler func(e *Event)

// AckHandler receives the client's acknowledgement of an emit, or an error
// (ErrTimeout, ErrDisconnected). Pass it as the last argument of Emit.
type AckHandler func(args *Args, err error)

// Event is an event received from a client. Its arguments borrow the read
// buffer until the handler returns; Ack may be called later, from any
// goroutine, once.
type Event struct {
	Args
	socket *Socket
	name   string
	ackID  int64
	acked  atomic.Bool
}

// Name is the event name.
func (e *Event) Name() string { return e.name }

// Socket is the socket that received the event.
func (e *Event) Socket() *Socket { return e.socket }

// HasAck reports whether the client waits for an acknowledgement.
func (e *Event) HasAck() bool { return e.ackID >= 0 }

// Ack answers the client's acknowledgement callback with args ([]byte
// arguments travel as binary). Only the first call counts.
func (e *Event) Ack(args ...any) error {
	if e.ackID < 0 || !e.acked.CompareAndSwap(false, true) {
		return nil
	}
	s := e.socket
	if !s.connected.Load() {
		return ErrDisconnected
	}
	if pr := s.nsp.srv.opts.Parser; pr != nil {
		return s.client.sendEventParsed(pr, s.nsp.name, e.ackID, args, true, false)
	}
	buf, text, att, err := encodeEventPooled(s.nsp.name, e.ackID, args, true)
	if err != nil {
		return err
	}
	s.client.sess.SendPooled(buf, text, att, false)
	return nil
}

// pendingAck is an acknowledgement a client owes: of an emit (fn, with an
// optional timeout timer, touched only on the loop it was armed on) or of a
// broadcast (bcast).
type pendingAck struct {
	fn    AckHandler
	bcast *ackBroadcast
	timer loop.Timer // guarded by the socket's mu where read off its loop
}

// Socket is a client's connection to one namespace. It is kept small: an
// idle server holds one per connection (a few hundred bytes each), so what
// most sockets never use lives in extras, allocated on first use.
type Socket struct {
	id        SocketID
	pid       string
	nsp       *Namespace
	client    *client
	auth      json.RawMessage // the CONNECT payload ({} when none)
	connected atomic.Bool
	closing   atomic.Bool // onClose has started (once)
	released  atomic.Bool // its reference to a dynamic namespace is dropped
	recovered bool

	hasOutgoing atomic.Bool // an OnAnyOutgoing listener exists

	mu           sync.Mutex
	data         any
	handlers     []handlerEntry // a handful per socket: a slice beats a map
	onDisconnect []func(reason string)
	x            *socketExtras // guarded by mu; nil until needed
}

type handlerEntry struct {
	name string
	h    EventHandler
	once bool // removed when it first runs (Once)
}

// socketExtras holds what most sockets never use.
type socketExtras struct {
	anyHandlers     []EventHandler
	anyOutgoing     []func(event string, args []any)
	middlewares     []func(e *Event, next func(error))
	onDisconnecting []func(reason string)
	onError         []func(err error)
	acks            map[int64]*pendingAck
	rooms           []Room          // rooms to join on connect (restored, or joined by a middleware)
	limits          []limits.Bucket // per-event rate limit state (used on the loop only)
	violations      int             // consecutive rate limit refusals (loop only)
	ctx             context.Context // Context(), made on first use
	cancel          context.CancelCauseFunc
}

// extras returns the socket's extras, allocating them. mu must be held.
func (s *Socket) extras() *socketExtras {
	if s.x == nil {
		s.x = &socketExtras{}
	}
	return s.x
}

// ID is the socket id (also the name of its own room).
func (s *Socket) ID() SocketID { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake returns the handshake details (the connection's, with this
// namespace's CONNECT payload as Auth).
func (s *Socket) Handshake() *Handshake {
	h := s.client.handshake()
	h.Auth = s.auth
	return &h
}

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool { return s.connected.Load() }

// Recovered reports whether the socket was restored by connection state recovery.
func (s *Socket) Recovered() bool { return s.recovered }

// Transport is "polling" or "websocket".
func (s *Socket) Transport() string { return s.client.sess.Transport() }

// Protocol is the client's Engine.IO protocol revision (Node's
// socket.conn.protocol): 4, or 3 for socket.io-client 2.x
// (engine.Config.AllowEIO3), whose apps pass their credentials in the query
// (Handshake.Query) since that protocol has no auth payload for "/".
func (s *Socket) Protocol() int { return s.client.sess.Protocol() }

// Data returns the application data attached to the socket.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData attaches application data (kept by recovery, returned by FetchSockets).
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// On registers a handler for an event. Reserved names are refused. Handlers
// of one event run in the order they were registered. See the generic On
// for a handler that receives its argument decoded into a Go type.
func (s *Socket) On(event string, h EventHandler) { s.on(event, h, false) }

// Once registers a handler that runs for the next occurrence of the event
// only (Node's socket.once), then is removed.
func (s *Socket) Once(event string, h EventHandler) { s.on(event, h, true) }

func (s *Socket) on(event string, h EventHandler, once bool) {
	if isReserved(event) || event == errorEvent {
		panic("socketio: On(" + event + "): use OnDisconnect / OnDisconnecting / OnError")
	}
	s.mu.Lock()
	if s.handlers == nil {
		s.handlers = make([]handlerEntry, 0, 4) // one allocation for the usual handful
	}
	s.handlers = append(s.handlers, handlerEntry{name: event, h: h, once: once})
	s.mu.Unlock()
}

// Off removes every handler of an event, Once handlers included (Node's
// socket.removeAllListeners(event): Go functions cannot be compared, so
// there is no removal of one handler among several).
func (s *Socket) Off(event string) {
	s.mu.Lock()
	kept := s.handlers[:0]
	for _, e := range s.handlers {
		if e.name != event {
			kept = append(kept, e)
		}
	}
	for i := len(kept); i < len(s.handlers); i++ {
		s.handlers[i] = handlerEntry{}
	}
	s.handlers = kept
	s.mu.Unlock()
}

// OnAny registers a handler that sees every incoming event first.
func (s *Socket) OnAny(h EventHandler) {
	s.mu.Lock()
	x := s.extras()
	x.anyHandlers = append(x.anyHandlers, h)
	s.mu.Unlock()
}

// OffAny removes every OnAny handler (Node's socket.offAny()).
func (s *Socket) OffAny() {
	s.mu.Lock()
	if s.x != nil {
		s.x.anyHandlers = nil
	}
	s.mu.Unlock()
}

// OnAnyOutgoing registers a listener for every event emitted to this socket.
func (s *Socket) OnAnyOutgoing(fn func(event string, args []any)) {
	s.mu.Lock()
	x := s.extras()
	x.anyOutgoing = append(x.anyOutgoing, fn)
	s.hasOutgoing.Store(true)
	s.mu.Unlock()
}

// Use adds a packet middleware: it sees every incoming event before the
// handlers; calling next with an error drops the event and reports the error
// to OnError handlers.
func (s *Socket) Use(mw func(e *Event, next func(err error))) {
	s.mu.Lock()
	x := s.extras()
	x.middlewares = append(x.middlewares, mw)
	s.mu.Unlock()
}

// OnError registers a handler for packet middleware errors.
func (s *Socket) OnError(fn func(err error)) {
	s.mu.Lock()
	x := s.extras()
	x.onError = append(x.onError, fn)
	s.mu.Unlock()
}

// OnDisconnect registers a handler called once when the socket disconnects,
// with the reason.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, fn)
	s.mu.Unlock()
}

// OnDisconnecting registers a handler called just before the socket leaves
// its rooms.
func (s *Socket) OnDisconnecting(fn func(reason string)) {
	s.mu.Lock()
	x := s.extras()
	x.onDisconnecting = append(x.onDisconnecting, fn)
	s.mu.Unlock()
}

// Join adds the socket to rooms. Safe from any goroutine; rooms joined in a
// connection middleware take effect when the socket connects.
func (s *Socket) Join(rooms ...Room) {
	s.mu.Lock()
	// Under mu: finishConnect sets connected and takes the rooms joined so
	// far under it, so a Join cannot fall between the two.
	if !s.connected.Load() && !s.closing.Load() {
		x := s.extras()
		x.rooms = append(x.rooms, rooms...)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.nsp.adapter.AddAll(s.id, rooms) // ignored once the socket left the namespace
}

// Leave removes the socket from a room.
func (s *Socket) Leave(room Room) { s.nsp.adapter.Del(s.id, room) }

// Rooms returns the rooms the socket is in, its own room first.
func (s *Socket) Rooms() []Room {
	if !s.connected.Load() {
		return nil // as Node's empty set once disconnected
	}
	return s.roomsSnapshot()
}

// roomsSnapshot is Rooms regardless of the connected flag.
func (s *Socket) roomsSnapshot() []Room {
	rs := s.nsp.adapter.SocketRooms(s.id)
	out := make([]Room, 0, len(rs)+1)
	out = append(out, Room(s.id))
	for _, r := range rs {
		if r != Room(s.id) {
			out = append(out, r)
		}
	}
	return out
}

// Emit sends an event to this client. If the last argument is an AckHandler
// the client is asked to acknowledge. Safe from any goroutine.
func (s *Socket) Emit(event string, args ...any) error {
	return s.emit(emitFlags{}, event, args)
}

// EmitWithAck emits and waits for the acknowledgement, the ack timeout or
// ctx. It must not be called on an event loop (it would block it).
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (*Args, error) {
	return s.emitWithAck(ctx, emitFlags{}, event, args)
}

// Timeout returns an emitter whose acknowledgements time out after d.
func (s *Socket) Timeout(d time.Duration) *SocketEmitter {
	return &SocketEmitter{s: s, f: emitFlags{timeout: d}}
}

// Volatile returns an emitter whose packets may be dropped when the
// transport cannot take them at once.
func (s *Socket) Volatile() *SocketEmitter { return &SocketEmitter{s: s, f: emitFlags{volatile: true}} }

// Compress returns an emitter with the compress flag: false sends the
// packet uncompressed over a WebSocket that negotiated permessage-deflate
// (engine.Config.PerMessageDeflate); true, the default, compresses the
// frames that reach the threshold.
func (s *Socket) Compress(v bool) *SocketEmitter {
	return &SocketEmitter{s: s, f: emitFlags{noCompress: !v}}
}

// Broadcast returns an operator that reaches every socket of the namespace
// but this one.
func (s *Socket) Broadcast() *BroadcastOperator {
	return &BroadcastOperator{nsp: s.nsp, except: []Room{Room(s.id)}}
}

// To returns an operator for rooms, excluding this socket.
func (s *Socket) To(rooms ...Room) *BroadcastOperator { return s.Broadcast().To(rooms...) }

// In is To.
func (s *Socket) In(rooms ...Room) *BroadcastOperator { return s.To(rooms...) }

// Except returns an operator excluding rooms and this socket.
func (s *Socket) Except(rooms ...Room) *BroadcastOperator { return s.Broadcast().Except(rooms...) }

// Disconnect disconnects the socket from its namespace (the client gets
// "io server disconnect" and does not reconnect). With close, the whole
// connection is closed. Safe from any goroutine.
func (s *Socket) Disconnect(close bool) {
	s.client.do(func() {
		if close {
			s.client.disconnectAll()
			return
		}
		if !s.connected.Load() {
			return
		}
		s.client.sendControl(codec.SIODisconnect, s.nsp.name, nil)
		s.onClose(ReasonServerNamespaceDisconnect)
	})
}

// SocketEmitter is an emit with flags (Timeout, Volatile).
type SocketEmitter struct {
	s *Socket
	f emitFlags
}

// Timeout sets the acknowledgement timeout.
func (e *SocketEmitter) Timeout(d time.Duration) *SocketEmitter { e.f.timeout = d; return e }

// Volatile sets the volatile flag.
func (e *SocketEmitter) Volatile() *SocketEmitter { e.f.volatile = true; return e }

// Emit emits with the flags.
func (e *SocketEmitter) Emit(event string, args ...any) error { return e.s.emit(e.f, event, args) }

// EmitWithAck emits with the flags and waits for the acknowledgement.
func (e *SocketEmitter) EmitWithAck(ctx context.Context, event string, args ...any) (*Args, error) {
	return e.s.emitWithAck(ctx, e.f, event, args)
}

type emitFlags struct {
	volatile   bool
	noCompress bool
	timeout    time.Duration
}

func isReserved(event string) bool { return codec.IsReservedEvent([]byte(event)) }

// errorEvent is the one more name a client may not send (CVE-2024-38355:
// Node crashed on an unhandled "error"); it is dropped, and errors reach the
// application only through OnError.
const errorEvent = "error"

func splitAck(args []any) ([]any, AckHandler) {
	if n := len(args); n > 0 {
		switch h := args[n-1].(type) {
		case AckHandler:
			return args[:n-1], h
		case func(*Args, error):
			return args[:n-1], h
		}
	}
	return args, nil
}

func (s *Socket) emit(f emitFlags, event string, args []any) error {
	if isReserved(event) {
		return ErrReservedEvent
	}
	args, ack := splitAck(args)
	if !s.connected.Load() {
		if ack != nil {
			ack(nil, ErrDisconnected)
		}
		return ErrDisconnected
	}
	if ack != nil {
		_, err := s.emitAck(f, event, args, ack)
		return err
	}
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	data = append(data, args...)
	s.notifyOutgoing(event, args)
	if s.nsp.srv.opts.Recovery != nil && !f.volatile {
		// With recovery, a socket emit is a broadcast to the socket's own
		// room so that it gets an offset and can be replayed (as in Node).
		s.nsp.adapter.Broadcast(&Packet{Nsp: s.nsp.name, Data: data, ID: -1},
			&BroadcastOptions{Rooms: []Room{Room(s.id)}, Flags: BroadcastFlags{Local: true, Compress: f.compressFlag()}})
		return nil
	}
	if pr := s.nsp.srv.opts.Parser; pr != nil {
		return s.client.sendEventParsed(pr, s.nsp.name, -1, data, false, f.volatile)
	}
	buf, text, att, err := encodeEventPooled(s.nsp.name, -1, data, false)
	if err != nil {
		return err
	}
	s.client.sess.SendWith(buf, text, att, engine.SendOptions{Volatile: f.volatile, NoCompress: f.noCompress})
	return nil
}

func (s *Socket) emitWithAck(ctx context.Context, f emitFlags, event string, args []any) (*Args, error) {
	if s.nsp.srv.eng.Loop().OnLoopThread() {
		return nil, ErrOnLoop
	}
	type res struct {
		a   *Args
		err error
	}
	ch := make(chan res, 1)
	handler := AckHandler(func(a *Args, err error) {
		if a != nil {
			c := a.Clone()
			a = &c
		}
		ch <- res{a, err}
	})
	id, err := s.emitAck(f, event, args, handler)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.a, r.err
	case <-ctx.Done():
		// Nobody waits any more: the entry goes (it counted toward
		// MaxPendingAcks), and so does its timer.
		if pa := s.takeAck(id); pa != nil {
			s.cancelAck(-1, pa)
		}
		return nil, ctx.Err()
	}
}

// emitAck is emit with an ack handler, returning the ack id.
func (s *Socket) emitAck(f emitFlags, event string, args []any, ack AckHandler) (int64, error) {
	if isReserved(event) {
		return 0, ErrReservedEvent
	}
	if !s.connected.Load() {
		return 0, ErrDisconnected
	}
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	data = append(data, args...)
	s.notifyOutgoing(event, args)
	id := s.nsp.ackIDs.Add(1) - 1
	timeout := f.timeout
	if timeout <= 0 {
		timeout = s.nsp.srv.opts.AckTimeout
	}
	pa, err := s.registerAck(id, ack, timeout)
	if err != nil {
		return 0, err
	}
	if pr := s.nsp.srv.opts.Parser; pr != nil {
		if err := s.client.sendEventParsed(pr, s.nsp.name, id, data, false, f.volatile); err != nil {
			s.cancelAck(id, pa)
			return 0, err
		}
		return id, nil
	}
	buf, text, att, err := encodeEventPooled(s.nsp.name, id, data, false)
	if err != nil {
		s.cancelAck(id, pa)
		return 0, err
	}
	s.client.sess.SendWith(buf, text, att, engine.SendOptions{Volatile: f.volatile, NoCompress: f.noCompress})
	return id, nil
}

// notifyOutgoingData calls the OnAnyOutgoing listeners with a packet's data
// ([event, args...]); the check is one atomic load when there are none.
func (s *Socket) notifyOutgoingData(data []any) {
	if !s.hasOutgoing.Load() || len(data) == 0 {
		return
	}
	ev, _ := data[0].(string)
	s.notifyOutgoing(ev, data[1:])
}

func (s *Socket) notifyOutgoing(event string, args []any) {
	if !s.hasOutgoing.Load() {
		return
	}
	s.mu.Lock()
	var ls []func(string, []any)
	if s.x != nil {
		ls = s.x.anyOutgoing
	}
	s.mu.Unlock()
	for _, fn := range ls {
		fn(event, args)
	}
}

// registerAck records a pending acknowledgement. A timeout arms a timer,
// on the session's loop: timers are only ever touched on their loop.
func (s *Socket) registerAck(id int64, fn AckHandler, timeout time.Duration) (*pendingAck, error) {
	pa := &pendingAck{fn: fn}
	s.mu.Lock()
	x := s.extras()
	if len(x.acks) >= s.nsp.srv.opts.MaxPendingAcks {
		s.mu.Unlock()
		return nil, ErrTooManyAcks
	}
	if x.acks == nil {
		x.acks = make(map[int64]*pendingAck)
	}
	x.acks[id] = pa
	s.mu.Unlock()
	if timeout > 0 {
		sess := s.client.sess
		sess.Do(func() {
			s.mu.Lock()
			if s.x != nil && s.x.acks[id] == pa { // not answered or cancelled meanwhile
				pa.timer.Init(sess.Loop(), func() {
					s.client.do(func() {
						if p := s.takeAck(id); p != nil {
							p.fn(nil, ErrTimeout)
						}
					})
				})
				pa.timer.Reset(timeout)
			}
			s.mu.Unlock()
		})
	}
	return pa, nil
}

// registerBroadcastAck records that the socket owes ab an acknowledgement.
// It refuses when the socket already owes MaxPendingAcks (the broadcast
// then skips it) or is disconnecting.
func (s *Socket) registerBroadcastAck(ab *ackBroadcast) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	x := s.extras()
	if len(x.acks) >= s.nsp.srv.opts.MaxPendingAcks {
		return false
	}
	if x.acks == nil {
		x.acks = make(map[int64]*pendingAck)
	}
	x.acks[ab.id] = &pendingAck{bcast: ab}
	return true
}

// dropBroadcastAck takes out ab's entry, if still there (its broadcast ended).
func (s *Socket) dropBroadcastAck(ab *ackBroadcast) {
	s.mu.Lock()
	if s.x != nil {
		if pa := s.x.acks[ab.id]; pa != nil && pa.bcast == ab {
			delete(s.x.acks, ab.id)
		}
	}
	s.mu.Unlock()
}

// takeAck removes a pending ack; the caller stops its timer (stopTimer on
// the loop, cancelAck elsewhere).
func (s *Socket) takeAck(id int64) *pendingAck {
	s.mu.Lock()
	var pa *pendingAck
	if s.x != nil {
		pa = s.x.acks[id]
		delete(s.x.acks, id)
	}
	s.mu.Unlock()
	return pa
}

// stopTimer stops pa's timeout from loop cur, the loop the caller runs on
// (the timer's own loop, or another one after the session moved: then the
// stop is posted to the timer's loop). A stopped timer no longer keeps the
// socket reachable until it would have fired.
func (s *Socket) stopTimer(pa *pendingAck, cur *loop.Loop) {
	s.mu.Lock()
	tl := pa.timer.Loop() // written under mu by the arming task
	s.mu.Unlock()
	if tl != nil {
		pa.timer.StopFrom(cur)
	}
}

// cancelAck withdraws a pending ack from any goroutine (id >= 0: still to
// take out of the table): the timer is stopped by a task on the session's
// loop, after the task that arms it.
func (s *Socket) cancelAck(id int64, pa *pendingAck) {
	if id >= 0 {
		s.mu.Lock()
		if s.x != nil && s.x.acks[id] == pa {
			delete(s.x.acks, id)
		}
		s.mu.Unlock()
	}
	sess := s.client.sess
	sess.Do(func() { s.stopTimer(pa, sess.Loop()) })
}

// onEvent dispatches an EVENT packet (on the loop).
func (s *Socket) onEvent(p *codec.SIOPacket, attachments [][]byte) {
	e := &Event{socket: s, ackID: p.ID}
	// One pass splits the array: the name, then the arguments.
	if err := parseArgs(p.Data, 0, attachments, &e.Args); err != nil || len(e.elems) == 0 {
		return
	}
	nameRaw := e.elems[0]
	isString := codec.Kind(nameRaw) == codec.JSONString
	if isString {
		nameRaw = nameRaw[1 : len(nameRaw)-1]
	}
	e.elems = e.elems[1:]
	if isString && string(nameRaw) == errorEvent {
		return // never reaches handlers: see errorEvent
	}
	if isString {
		if needsUnquote(nameRaw) {
			var n string
			_ = jsonAPI.Unmarshal(append(append([]byte{'"'}, nameRaw...), '"'), &n)
			e.name = n
		} else {
			e.name = string(nameRaw)
		}
	} else {
		e.name = string(nameRaw)
	}
	if tbl := s.nsp.srv.opts.EventLimits; tbl != nil && !s.allowEvent(tbl, e, nameRaw) {
		return
	}
	var mws []func(*Event, func(error))
	s.mu.Lock()
	if s.x != nil {
		mws = s.x.middlewares
	}
	s.mu.Unlock()
	s.runMiddlewares(e, mws, 0)
}

// RateLimitError is reported to OnError handlers for an event refused by
// Options.EventLimits.
type RateLimitError struct {
	Event      string
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return "socketio: event " + strconv.Quote(e.Event) + " rate limited; retry after " + e.RetryAfter.String()
}

// allowEvent applies the per-event rate limit. A refused event is dropped:
// an acknowledged one is answered {"error":"rate limited","retryAfterMs":N},
// OnError handlers get a *RateLimitError, and after MaxRateViolations
// refusals in a row the client is disconnected ("rate limited").
func (s *Socket) allowEvent(tbl *limits.EventLimits, e *Event, name []byte) bool {
	s.mu.Lock()
	x := s.extras()
	if x.limits == nil {
		x.limits = tbl.NewState()
	}
	s.mu.Unlock()
	ok, wait := tbl.Allow(x.limits, name, s.client.sess.Loop().Now())
	if ok {
		x.violations = 0
		return true
	}
	s.nsp.srv.rateLimited.Add(1)
	x.violations++
	if e.HasAck() {
		ms := wait.Milliseconds()
		if ms < 1 {
			ms = 1
		}
		_ = e.Ack(json.RawMessage(`{"error":"rate limited","retryAfterMs":` + strconv.FormatInt(ms, 10) + `}`))
	}
	s.mu.Lock()
	hs := x.onError
	s.mu.Unlock()
	rle := &RateLimitError{Event: e.name, RetryAfter: wait}
	for _, h := range hs {
		h(rle)
	}
	if max := s.nsp.srv.opts.MaxRateViolations; max > 0 && x.violations >= max {
		s.client.sendControl(codec.SIODisconnect, s.nsp.name, nil)
		s.client.closeWith(ReasonRateLimited)
	}
	return false
}

func needsUnquote(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// Packet middleware states: next may be called while the middleware runs
// (on the loop) or later from any goroutine.
const (
	mwRunning int32 = iota // the middleware has not returned, next not called
	mwEarly                // next was called before the middleware returned
	mwAsync                // the middleware returned without calling next
	mwDone                 // next called after the middleware returned
)

func (s *Socket) runMiddlewares(e *Event, mws []func(*Event, func(error)), i int) {
	if i == len(mws) {
		s.dispatch(e)
		return
	}
	var state atomic.Int32
	var result error
	mws[i](e, func(err error) {
		if state.CompareAndSwap(mwRunning, mwEarly) {
			result = err // the loop continues when the middleware returns
			return
		}
		if state.CompareAndSwap(mwAsync, mwDone) {
			// Later, possibly from another goroutine: continue on the loop.
			s.client.do(func() { s.afterMiddleware(e, mws, i, err) })
		}
	})
	if state.CompareAndSwap(mwRunning, mwAsync) {
		// next comes later: the arguments must outlive the read buffer.
		e.Args = e.Args.Clone()
		return
	}
	s.afterMiddleware(e, mws, i, result)
}

func (s *Socket) afterMiddleware(e *Event, mws []func(*Event, func(error)), i int, err error) {
	if err != nil {
		var hs []func(error)
		s.mu.Lock()
		if s.x != nil {
			hs = s.x.onError
		}
		s.mu.Unlock()
		for _, h := range hs {
			h(err)
		}
		return
	}
	s.runMiddlewares(e, mws, i+1)
}

func (s *Socket) dispatch(e *Event) {
	if !s.connected.Load() {
		return
	}
	var anyHs []EventHandler
	var hs [4]EventHandler
	matched := hs[:0]
	s.mu.Lock()
	if s.x != nil {
		anyHs = s.x.anyHandlers
	}
	once := false
	for _, he := range s.handlers {
		if he.name == e.name {
			matched = append(matched, he.h)
			once = once || he.once
		}
	}
	if once {
		s.dropOnce(e.name)
	}
	s.mu.Unlock()
	for _, h := range anyHs {
		h(e)
	}
	for _, h := range matched {
		h(e)
	}
}

// dropOnce removes the Once handlers of an event that is being dispatched.
// mu must be held.
func (s *Socket) dropOnce(name string) {
	kept := s.handlers[:0]
	for _, he := range s.handlers {
		if !he.once || he.name != name {
			kept = append(kept, he)
		}
	}
	for i := len(kept); i < len(s.handlers); i++ {
		s.handlers[i] = handlerEntry{}
	}
	s.handlers = kept
}

// onAck resolves a server→client acknowledgement (on the loop).
func (s *Socket) onAck(p *codec.SIOPacket, attachments [][]byte) {
	pa := s.takeAck(p.ID)
	if pa == nil {
		return // unknown or answered twice: ignored, as in Node
	}
	var a Args
	if err := parseArgs(p.Data, 0, attachments, &a); err != nil {
		return
	}
	if pa.bcast != nil {
		pa.bcast.onAck(&a)
		return
	}
	s.stopTimer(pa, s.client.sess.Loop())
	pa.fn(&a, nil)
}

// onClose runs once when the socket disconnects, whatever the reason (loop).
func (s *Socket) onClose(reason string) {
	if !s.connected.Load() || !s.closing.CompareAndSwap(false, true) {
		return
	}
	var disconnecting []func(string)
	s.mu.Lock()
	if s.x != nil {
		disconnecting = s.x.onDisconnecting
	}
	s.mu.Unlock()
	for _, h := range disconnecting {
		h(reason) // still connected and in its rooms, as in Node
	}
	s.connected.Store(false)
	s.endContext(reason)
	if s.nsp.srv.opts.Recovery != nil && recoverable[reason] {
		s.nsp.adapter.PersistSession(&Session{SID: s.id, PID: s.pid, Rooms: s.roomsSnapshot(), Data: s.Data()})
	}
	s.nsp.remove(s) // first: AddAll refuses sockets no longer in the namespace
	s.nsp.adapter.DelAll(s.id)
	s.client.remove(s)
	s.releaseNamespace()
	var acks map[int64]*pendingAck
	s.mu.Lock()
	if s.x != nil {
		acks = s.x.acks
		s.x.acks = nil
	}
	hs := s.onDisconnect
	s.mu.Unlock()
	cur := s.client.sess.Loop()
	for _, pa := range acks {
		if pa.bcast != nil {
			continue // its broadcast counts the answer missing
		}
		s.stopTimer(pa, cur)
		pa.fn(nil, ErrDisconnected)
	}
	for _, h := range hs {
		h(reason)
	}
}

// releaseNamespace drops the socket's hold on a dynamic namespace, once.
func (s *Socket) releaseNamespace() {
	if s.released.CompareAndSwap(false, true) {
		s.nsp.srv.releaseNamespace(s.nsp)
	}
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
