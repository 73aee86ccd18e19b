// Package admin is the server side of the official Socket.IO admin UI
// (@socket.io/admin-ui 0.5, https://admin.socket.io): Instrument is Node's
// instrument(io, options). It adds an admin namespace ("/admin") that the
// UI connects to, optionally behind basic authentication with a bcrypt
// hash, and sends it what Node's instrument sends:
//
//   - "config" {supportedFeatures} and, in development mode, "all_sockets"
//     to each admin socket that connects (and "session" after a password
//     login, for the UI to reconnect without the password);
//   - "server_stats" every 2 s: serverId, hostname, pid, uptime,
//     clientsCount, pollingClientsCount, aggregatedEvents and namespaces;
//   - in development mode, for every namespace (those created later too):
//     "socket_connected", "socket_updated" (transport upgrades),
//     "socket_disconnected", "room_joined", "room_left", "event_received"
//     and "event_sent".
//
// It answers the UI's operations unless ReadOnly: "join", "leave",
// "_disconnect" and "emit" (socketsJoin, socketsLeave, disconnectSockets
// and emit on a namespace, optionally restricted to a room or one socket).
//
// Differences from Node: "session" comes after the CONNECT rather than
// from the middleware; aggregatedEvents counts rawConnection,
// rawDisconnection (by reason), and bytesIn and bytesOut as they crossed
// the wire (HTTP and WebSocket framing included, where Node counts each
// Engine.IO packet's data) but not packetsIn and packetsOut, which the UI
// does not show; socket_updated is
// sent for transport changes (seen on the stats tick), not for changes of
// socket data; uptime counts from Instrument, not from the process start.
// Only sockets on this node are reported by the events; the
// "all_sockets" snapshot uses FetchSockets, so a cluster adapter adds the
// other nodes' sockets (without clientId or transport).
package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sio/socketio"
)

// Mode of the instrumentation, as Node's mode option.
const (
	Development = "development" // every socket event is forwarded (the default)
	Production  = "production"  // statistics only
)

// Features the UI may use (config.supportedFeatures).
const (
	FeatureEmit             = "EMIT"
	FeatureJoin             = "JOIN"
	FeatureLeave            = "LEAVE"
	FeatureDisconnect       = "DISCONNECT"
	FeatureMJoin            = "MJOIN"
	FeatureMLeave           = "MLEAVE"
	FeatureMDisconnect      = "MDISCONNECT"
	FeatureAggregatedEvents = "AGGREGATED_EVENTS"
	FeatureAllEvents        = "ALL_EVENTS"
)

// BasicAuth is Node's auth: {type: "basic", username, password}.
type BasicAuth struct {
	Username string
	// PasswordHash is the bcrypt hash of the password (for example
	// `htpasswd -nbBC 10 "" secret | cut -c2-`, or bcrypt.GenerateFromPassword).
	PasswordHash string
}

// Options configure Instrument.
type Options struct {
	// Auth is nil for no authentication (Node's auth: false): anyone who
	// reaches the server can see and act on every socket.
	Auth *BasicAuth
	// NamespaceName is the admin namespace, "/admin" by default.
	NamespaceName string
	// ReadOnly refuses the UI's operations (join, leave, disconnect, emit).
	ReadOnly bool
	// ServerID names this server in the UI; the host name by default.
	ServerID string
	// Mode is Development (default) or Production.
	Mode string
	// StatsInterval is the period of server_stats, 2 s by default (Node's).
	StatsInterval time.Duration
}

// Errors of Instrument.
var (
	ErrBadHash = errors.New("admin: the password must be a valid bcrypt hash")
	ErrBadMode = errors.New("admin: mode must be development or production")
)

// ErrInvalidCredentials is the refusal of a wrong username or password, as
// Node words it (the UI shows it).
var ErrInvalidCredentials = errors.New("invalid credentials")

// maxSessions bounds the remembered login sessions (the oldest go first).
const maxSessions = 1024

// Admin is an instrumented server. Close stops the statistics and the
// forwarding of events.
type Admin struct {
	io       *socketio.Server
	opts     Options
	nsp      *socketio.Namespace
	features []string
	dev      bool
	hostname string
	started  time.Time

	stop      chan struct{}
	done      chan struct{}
	closing   sync.Once
	unobserve func()
	bcryptSem chan struct{} // bounds concurrent password checks

	mu        sync.Mutex
	sessions  map[string]struct{}
	order     []string                     // sessions, oldest first
	pending   map[socketio.SocketID]string // session ids to send after the CONNECT
	tracked   map[*socketio.Socket]string  // dev mode: sockets and their last reported transport
	lastStats engineCounters               // for the aggregated events
}

type engineCounters struct {
	handshakes        int64
	closed            map[string]int64
	bytesIn, bytesOut int64
}

// Instrument adds the admin namespace to io and starts the statistics
// (Node's instrument). Call it before Serve so that no socket goes unseen.
func Instrument(io *socketio.Server, opts Options) (*Admin, error) {
	if opts.NamespaceName == "" {
		opts.NamespaceName = "/admin"
	}
	if !strings.HasPrefix(opts.NamespaceName, "/") {
		opts.NamespaceName = "/" + opts.NamespaceName
	}
	if opts.Mode == "" {
		opts.Mode = Development
	}
	if opts.Mode != Development && opts.Mode != Production {
		return nil, fmt.Errorf("%w: %q", ErrBadMode, opts.Mode)
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = 2 * time.Second
	}
	if opts.Auth != nil {
		if _, err := bcrypt.Cost([]byte(opts.Auth.PasswordHash)); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadHash, err)
		}
	}
	host, _ := os.Hostname()
	a := &Admin{
		io: io, opts: opts, dev: opts.Mode == Development, hostname: host, started: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}),
		bcryptSem: make(chan struct{}, max(1, runtime.NumCPU())),
		sessions:  make(map[string]struct{}), pending: make(map[socketio.SocketID]string),
		tracked: make(map[*socketio.Socket]string),
	}
	if a.opts.ServerID == "" {
		a.opts.ServerID = host
	}
	if !opts.ReadOnly {
		a.features = []string{FeatureEmit, FeatureJoin, FeatureLeave, FeatureDisconnect,
			FeatureMJoin, FeatureMLeave, FeatureMDisconnect}
	} else {
		a.features = []string{}
	}
	a.features = append(a.features, FeatureAggregatedEvents)
	if a.dev {
		a.features = append(a.features, FeatureAllEvents)
	}
	a.lastStats = a.engineCounters()

	a.nsp = io.Of(opts.NamespaceName)
	if opts.Auth != nil {
		a.nsp.Use(a.authenticate)
	}
	a.nsp.OnConnection(a.onAdminConnection)
	if a.dev {
		a.unobserve = io.Observe(socketio.Observer{
			Connected: a.onSocketConnected,
			RoomJoined: func(n *socketio.Namespace, r socketio.Room, id socketio.SocketID) {
				a.roomEvent("room_joined", n, r, id)
			},
			RoomLeft: func(n *socketio.Namespace, r socketio.Room, id socketio.SocketID) { a.roomEvent("room_left", n, r, id) },
		})
	}
	go a.statsLoop()
	return a, nil
}

// Namespace is the admin namespace.
func (a *Admin) Namespace() *socketio.Namespace { return a.nsp }

// Features are the features announced to the UI.
func (a *Admin) Features() []string { return append([]string(nil), a.features...) }

// Close stops the statistics and the forwarding of events (the admin
// namespace itself stays). It returns once the statistics goroutine is gone.
func (a *Admin) Close() {
	a.closing.Do(func() {
		close(a.stop)
		if a.unobserve != nil {
			a.unobserve()
		}
	})
	<-a.done
}

// --- authentication ---------------------------------------------------------

type authPayload struct {
	SessionID string `json:"sessionId"`
	Username  string `json:"username"`
	Password  string `json:"password"`
}

// authenticate is Node's basic auth middleware: a known session id, or the
// username and a password matching the bcrypt hash (checked off the loop).
func (a *Admin) authenticate(s *socketio.Socket, next func(error)) {
	var p authPayload
	_ = json.Unmarshal(s.Handshake().Auth, &p) // a bad payload has no credentials
	if p.SessionID != "" {
		a.mu.Lock()
		_, ok := a.sessions[p.SessionID]
		a.mu.Unlock()
		if ok {
			next(nil)
			return
		}
	}
	if p.Username != a.opts.Auth.Username || p.Password == "" {
		next(ErrInvalidCredentials)
		return
	}
	id := s.ID()
	go func() { // bcrypt takes tens of milliseconds: never on an event loop
		a.bcryptSem <- struct{}{}
		err := bcrypt.CompareHashAndPassword([]byte(a.opts.Auth.PasswordHash), []byte(p.Password))
		<-a.bcryptSem
		if err != nil {
			next(ErrInvalidCredentials)
			return
		}
		sid := randomID()
		a.mu.Lock()
		a.sessions[sid] = struct{}{}
		a.order = append(a.order, sid)
		if len(a.order) > maxSessions {
			delete(a.sessions, a.order[0])
			a.order = a.order[1:]
		}
		if len(a.pending) >= maxSessions { // logins whose CONNECT never completed
			clear(a.pending)
		}
		a.pending[id] = sid
		a.mu.Unlock()
		next(nil)
	}()
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// --- the admin sockets --------------------------------------------------------

func (a *Admin) onAdminConnection(s *socketio.Socket) {
	a.mu.Lock()
	sid, hasSession := a.pending[s.ID()]
	delete(a.pending, s.ID())
	a.mu.Unlock()
	if !a.opts.ReadOnly {
		a.registerOperations(s)
	}
	if hasSession {
		_ = s.Emit("session", sid)
	}
	_ = s.Emit("config", map[string]any{"supportedFeatures": a.features})
	if a.dev {
		go func() { // FetchSockets may ask other nodes: off the loop
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Emit("all_sockets", a.allSockets(ctx))
		}()
	}
}

// registerOperations answers the UI's join, leave, _disconnect and emit
// (Node's registerFeatureHandlers for Socket.IO v4). Malformed arguments
// are ignored; namespaces that do not exist are never created.
func (a *Admin) registerOperations(s *socketio.Socket) {
	s.On("join", func(e *socketio.Event) {
		if sel := a.selection(e, 2); sel != nil {
			if room := stringArg(e, 1); room != "" {
				sel.SocketsJoin(socketio.Room(room))
			}
		}
	})
	s.On("leave", func(e *socketio.Event) {
		if sel := a.selection(e, 2); sel != nil {
			if room := stringArg(e, 1); room != "" {
				sel.SocketsLeave(socketio.Room(room))
			}
		}
	})
	s.On("_disconnect", func(e *socketio.Event) {
		if sel := a.selection(e, 2); sel != nil {
			var closeConn bool
			_ = e.Decode(1, &closeConn) // anything but true keeps the connection
			sel.DisconnectSockets(closeConn)
		}
	})
	s.On("emit", func(e *socketio.Event) {
		n := a.namespaceArg(e, 0)
		ev := stringArg(e, 2)
		if n == nil || ev == "" {
			return
		}
		args := e.Args.Clone()
		vals := args.Values()
		if len(vals) < 3 {
			return
		}
		if f := stringArg(e, 1); f != "" {
			_ = n.In(socketio.Room(f)).Emit(ev, vals[3:]...)
		} else {
			_ = n.Emit(ev, vals[3:]...)
		}
	})
}

// selector is what both a namespace and a broadcast operator do.
type selector interface {
	SocketsJoin(rooms ...socketio.Room)
	SocketsLeave(rooms ...socketio.Room)
	DisconnectSockets(close bool)
}

// selection is the namespace named by argument 0, restricted to the room
// (or socket id) of argument filter when there is one; nil when the
// namespace does not exist.
func (a *Admin) selection(e *socketio.Event, filter int) selector {
	n := a.namespaceArg(e, 0)
	if n == nil {
		return nil
	}
	if f := stringArg(e, filter); f != "" {
		return n.In(socketio.Room(f))
	}
	return n
}

func (a *Admin) namespaceArg(e *socketio.Event, i int) *socketio.Namespace {
	name := stringArg(e, i)
	if name == "" {
		return nil
	}
	return a.io.LookupNamespace(name)
}

// stringArg is argument i when it is a string, else "".
func stringArg(e *socketio.Event, i int) string {
	if i >= e.Len() {
		return ""
	}
	v, err := e.String(i)
	if err != nil {
		return ""
	}
	return v
}

// --- serialisation ------------------------------------------------------------

// socketInfo is Node's serialize(socket, nsp).
type socketInfo struct {
	ID        string          `json:"id"`
	ClientID  string          `json:"clientId,omitempty"`
	Transport string          `json:"transport,omitempty"`
	Nsp       string          `json:"nsp"`
	Data      json.RawMessage `json:"data"`
	Handshake handshakeInfo   `json:"handshake"`
	Rooms     []string        `json:"rooms"`
}

type handshakeInfo struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	Time    string            `json:"time"`
	URL     string            `json:"url"`
	XDomain bool              `json:"xdomain"`
}

func serializeHandshake(h *socketio.Handshake) handshakeInfo {
	headers := h.Headers()
	address := h.Address
	if v := headers["cf-connecting-ip"]; v != "" {
		address = v
	} else if v := headers["x-forwarded-for"]; v != "" {
		address = v
	}
	query := map[string]string{}
	if _, q, ok := strings.Cut(h.URL, "?"); ok {
		if vs, err := url.ParseQuery(q); err == nil {
			for k, v := range vs {
				if len(v) > 0 {
					query[k] = v[0]
				}
			}
		}
	}
	return handshakeInfo{
		Address: address, Headers: headers, Query: query, Issued: h.Issued(), Secure: h.Secure,
		// Node's new Date().toString().
		Time: h.Time.Format("Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"),
		URL:  h.URL, XDomain: h.XDomain,
	}
}

// serializeData is the socket's data as JSON, {} when none or when it
// cannot be encoded.
func serializeData(v any) json.RawMessage {
	if v == nil {
		return json.RawMessage(`{}`)
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return json.RawMessage(`{}`)
	}
	return b
}

func roomStrings(rs []socketio.Room) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// serializeLocal describes a socket of this node (any goroutine: only its
// thread-safe accessors are read).
func serializeLocal(s *socketio.Socket) socketInfo {
	clientID := s.ClientID()
	if len(clientID) > 12 {
		clientID = clientID[:12] // as Node
	}
	return socketInfo{
		ID: string(s.ID()), ClientID: clientID, Transport: s.Transport(), Nsp: s.Namespace().Name(),
		Data: serializeData(s.Data()), Handshake: serializeHandshake(s.Handshake()), Rooms: roomStrings(s.Rooms()),
	}
}

// allSockets is every socket of every namespace (Node's fetchAllSockets).
func (a *Admin) allSockets(ctx context.Context) []socketInfo {
	out := []socketInfo{}
	names := a.io.Namespaces()
	sort.Strings(names)
	for _, name := range names {
		n := a.io.LookupNamespace(name)
		if n == nil {
			continue
		}
		rs, err := n.FetchSockets(ctx)
		if err != nil {
			continue
		}
		for _, r := range rs {
			if l := r.Local(); l != nil {
				if l.Connected() {
					out = append(out, serializeLocal(l))
				}
				continue
			}
			h := r.Handshake
			out = append(out, socketInfo{ID: string(r.ID), Nsp: name, Data: serializeData(r.Data),
				Handshake: serializeHandshake(&h), Rooms: roomStrings(r.Rooms)})
		}
	}
	return out
}

// now is a timestamp as JSON.stringify(new Date()) writes it.
func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// --- development mode events -------------------------------------------------

// stopped reports whether Close was called.
func (a *Admin) stopped() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

func (a *Admin) onSocketConnected(s *socketio.Socket) {
	if a.stopped() {
		return
	}
	nspName := s.Namespace().Name()
	info := serializeLocal(s)
	a.mu.Lock()
	a.tracked[s] = info.Transport
	a.mu.Unlock()
	_ = a.nsp.Emit("socket_connected", info, now())
	if s.Namespace() != a.nsp {
		id := string(s.ID())
		s.OnAny(func(e *socketio.Event) {
			if a.stopped() {
				return
			}
			args := e.Args.Clone()
			_ = a.nsp.Emit("event_received", nspName, id, append([]any{e.Name()}, args.Values()...), now())
		})
		s.OnAnyOutgoing(func(event string, args []any) {
			if a.stopped() {
				return
			}
			data := make([]any, 0, len(args)+1)
			data = append(data, event)
			for _, v := range args {
				switch v.(type) {
				case socketio.AckHandler, func(*socketio.Args, error):
					continue // an ack callback is not an argument
				}
				data = append(data, v)
			}
			_ = a.nsp.Emit("event_sent", nspName, id, data, now())
		})
	}
	s.OnDisconnect(func(reason string) {
		a.mu.Lock()
		delete(a.tracked, s)
		a.mu.Unlock()
		if a.stopped() {
			return
		}
		_ = a.nsp.Emit("socket_disconnected", nspName, string(s.ID()), reason, now())
	})
}

func (a *Admin) roomEvent(ev string, n *socketio.Namespace, r socketio.Room, id socketio.SocketID) {
	_ = a.nsp.Emit(ev, n.Name(), string(r), string(id), now())
}

// --- statistics -----------------------------------------------------------------

func (a *Admin) statsLoop() {
	defer close(a.done)
	t := time.NewTicker(a.opts.StatsInterval)
	defer t.Stop()
	a.emitStats()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.emitStats()
		}
	}
}

func (a *Admin) engineCounters() engineCounters {
	st := a.io.Engine().Stats()
	c := engineCounters{handshakes: st.Handshakes, closed: make(map[string]int64, len(st.Closed)),
		bytesIn: st.Conn.BytesIn, bytesOut: st.Conn.BytesOut}
	for r, n := range st.Closed {
		c.closed[string(r)] = n
	}
	return c
}

type aggregatedEvent struct {
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int64  `json:"count"`
}

type namespaceStats struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

type serverStats struct {
	ServerID            string            `json:"serverId"`
	Hostname            string            `json:"hostname"`
	PID                 int               `json:"pid"`
	Uptime              float64           `json:"uptime"`
	ClientsCount        int               `json:"clientsCount"`
	PollingClientsCount int               `json:"pollingClientsCount"`
	AggregatedEvents    []aggregatedEvent `json:"aggregatedEvents"`
	Namespaces          []namespaceStats  `json:"namespaces"`
}

func (a *Admin) stats() serverStats {
	polling, ws := a.io.Engine().TransportCounts()
	st := serverStats{
		ServerID: a.opts.ServerID, Hostname: a.hostname, PID: os.Getpid(),
		Uptime:       time.Since(a.started).Seconds(),
		ClientsCount: polling + ws, PollingClientsCount: polling,
		AggregatedEvents: []aggregatedEvent{}, Namespaces: []namespaceStats{},
	}
	ts := time.Now().Truncate(time.Second).UnixMilli()
	cur := a.engineCounters()
	a.mu.Lock()
	last := a.lastStats
	a.lastStats = cur
	a.mu.Unlock()
	if d := cur.handshakes - last.handshakes; d > 0 {
		st.AggregatedEvents = append(st.AggregatedEvents, aggregatedEvent{Timestamp: ts, Type: "rawConnection", Count: d})
	}
	// The dashboard's "bytes received / sent" chart.
	if d := cur.bytesIn - last.bytesIn; d > 0 {
		st.AggregatedEvents = append(st.AggregatedEvents, aggregatedEvent{Timestamp: ts, Type: "bytesIn", Count: d})
	}
	if d := cur.bytesOut - last.bytesOut; d > 0 {
		st.AggregatedEvents = append(st.AggregatedEvents, aggregatedEvent{Timestamp: ts, Type: "bytesOut", Count: d})
	}
	reasons := make([]string, 0, len(cur.closed))
	for r := range cur.closed {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		if d := cur.closed[r] - last.closed[r]; d > 0 {
			st.AggregatedEvents = append(st.AggregatedEvents, aggregatedEvent{Timestamp: ts, Type: "rawDisconnection", SubType: r, Count: d})
		}
	}
	names := a.io.Namespaces()
	sort.Strings(names)
	for _, name := range names {
		if n := a.io.LookupNamespace(name); n != nil {
			st.Namespaces = append(st.Namespaces, namespaceStats{Name: name, SocketsCount: n.Len()})
		}
	}
	return st
}

func (a *Admin) emitStats() {
	_ = a.nsp.Emit("server_stats", a.stats())
	if !a.dev {
		return
	}
	// Transport upgrades since the last tick (Node reports them at once).
	type change struct {
		s         *socketio.Socket
		transport string
	}
	var changes []change
	a.mu.Lock()
	for s, last := range a.tracked {
		if t := s.Transport(); t != last {
			a.tracked[s] = t
			changes = append(changes, change{s, t})
		}
	}
	a.mu.Unlock()
	for _, c := range changes {
		_ = a.nsp.Emit("socket_updated", map[string]string{
			"id": string(c.s.ID()), "nsp": c.s.Namespace().Name(), "transport": c.transport})
	}
}
