package socketio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"sio/codec"
	"sio/engine"
	"sio/limits"
	"sio/loop"
)

// Options configures a Server. Zero values take socket.io 4.8's defaults.
type Options struct {
	// Engine.IO settings; Path defaults to "/socket.io/".
	Engine engine.Config
	// Listen settings (address, loops, caps).
	Listen loop.Options

	// ConnectTimeout closes connections that join no namespace in time (45 s).
	ConnectTimeout time.Duration
	// MaxAttachments per packet (socket.io-parser's maxAttachments, 10; at most 256).
	MaxAttachments int
	// MaxAttachmentBytes caps the bytes of one packet's attachments (10 MiB).
	MaxAttachmentBytes int
	// AttachmentTimeout closes a connection whose announced attachments do
	// not all arrive in time (60 s).
	AttachmentTimeout time.Duration
	// AckTimeout, if set, is the timeout of emits with an ack that set none.
	AckTimeout time.Duration
	// MaxPendingAcks caps the acknowledgements a socket may owe the server
	// (1024); emits beyond it fail with ErrTooManyAcks.
	MaxPendingAcks int
	// Recovery enables connection state recovery when non-nil.
	Recovery *Recovery
	// EventLimits, if set, rate-limits incoming events per socket, per
	// event name, with a default for the rest (see limits.NewEventLimits).
	EventLimits *limits.EventLimits
	// MaxRateViolations disconnects a client after this many refused events
	// in a row ("rate limited"); 0 never disconnects.
	MaxRateViolations int
	// Parser is the packet format of every client (Node's parser option):
	// nil is socket.io-parser's JSON, MsgpackParser{} socket.io-msgpack-parser's.
	// Clients must be configured with the same parser.
	Parser Parser
	// Adapter builds each namespace's adapter; nil is the in-memory adapter.
	Adapter func(nsp *Namespace) Adapter
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
	// ServeClient, if set, is a directory holding socket.io-client's dist
	// bundle (node_modules/socket.io-client/dist; `make client-dist`):
	// the server then answers <path>socket.io.js, .min.js, .esm.min.js,
	// their .map files and the msgpack build, as Node's serveClient does,
	// from memory (read once by NewServer; see serveclient.go). Empty
	// serves nothing (Node serves them by default). Serve fails when the
	// directory lacks the bundle.
	ServeClient string
}

// Recovery configures connection state recovery (Node's connectionStateRecovery).
// The in-memory adapter keeps the packets of the last
// MaxDisconnectionDuration for replay, within MaxPackets and MaxBytes (the
// oldest go first; a client whose offset is gone gets a fresh session), and
// at most MaxSessions disconnected sessions.
type Recovery struct {
	MaxDisconnectionDuration time.Duration // 2 min
	SkipMiddlewares          bool
	MaxPackets               int // per namespace; 65536
	MaxBytes                 int // per namespace, as encoded; 64 MiB
	MaxSessions              int // per namespace; 65536
}

func (o *Options) setDefaults() {
	if o.Engine.Path == "" {
		o.Engine.Path = "/socket.io/"
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 45 * time.Second
	}
	if o.MaxAttachments <= 0 {
		o.MaxAttachments = codec.DefaultMaxAttachments
	}
	if o.MaxAttachments > codec.MaxAttachmentsLimit {
		o.MaxAttachments = codec.MaxAttachmentsLimit
	}
	if o.MaxAttachmentBytes <= 0 {
		o.MaxAttachmentBytes = 10 << 20
	}
	if o.AttachmentTimeout <= 0 {
		o.AttachmentTimeout = 60 * time.Second
	}
	if o.MaxPendingAcks <= 0 {
		o.MaxPendingAcks = 1024
	}
	if r := o.Recovery; r != nil {
		rc := *r // the caller's value is not changed
		if rc.MaxDisconnectionDuration <= 0 {
			rc.MaxDisconnectionDuration = 2 * time.Minute
		}
		if rc.MaxPackets <= 0 {
			rc.MaxPackets = 1 << 16
		}
		if rc.MaxBytes <= 0 {
			rc.MaxBytes = 64 << 20
		}
		if rc.MaxSessions <= 0 {
			rc.MaxSessions = 1 << 16
		}
		o.Recovery = &rc
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Listen.Logger == nil {
		o.Listen.Logger = o.Logger
	}
}

// Errors.
var (
	ErrTimeout        = errors.New("operation has timed out")
	ErrDisconnected   = errors.New("socketio: socket disconnected")
	ErrTooManyAcks    = errors.New("socketio: too many pending acknowledgements")
	ErrOnLoop         = errors.New("socketio: blocking call on an event loop; use an AckHandler")
	ErrReservedEvent  = errors.New("socketio: reserved event name")
	ErrInvalidNspName = errors.New("socketio: namespace names start with /")
)

// Server is a Socket.IO server.
type Server struct {
	opts Options
	eng  *engine.Server

	panics      atomic.Int64
	rateLimited atomic.Int64
	invalidArgs atomic.Int64
	parseErrors atomic.Int64
	obs         observers // see Observe (hooks.go)
	initErr     error     // returned by Serve (ServeClient's bundle missing)

	mu      sync.RWMutex
	nsps    map[string]*Namespace // static namespaces, and dynamic ones a CONNECT succeeded to
	pending map[string]*Namespace // dynamic namespaces whose first CONNECTs are still in their middlewares
	parents []*parentNsp
	closing bool
}

type parentNsp struct {
	match    func(name string, auth []byte) bool
	template *Namespace // middlewares and handlers copied into each child
}

// NewServer builds a server; call Serve to run it.
func NewServer(opts Options) *Server {
	opts.setDefaults()
	s := &Server{opts: opts, nsps: make(map[string]*Namespace), pending: make(map[string]*Namespace)}
	if opts.ServeClient != "" {
		s.initErr = s.serveClient(&opts.Engine)
	}
	s.eng = engine.NewServer(opts.Engine, opts.Listen)
	s.eng.OnConnection(s.onEngineConnection)
	s.Of("/")
	return s
}

// Serve runs the server until Close.
func (s *Server) Serve() error {
	if s.initErr != nil {
		return s.initErr
	}
	return s.eng.Serve()
}

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.eng.Ready() }

// Engine returns the Engine.IO server underneath.
func (s *Server) Engine() *engine.Server { return s.eng }

// Options returns the effective options.
func (s *Server) Options() Options { return s.opts }

// Close disconnects every client ("server shutting down": clients reconnect)
// and stops the server.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	nsps := make([]*Namespace, 0, len(s.nsps)+len(s.pending))
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	for _, n := range s.pending {
		nsps = append(nsps, n)
	}
	s.mu.Unlock()
	err := s.eng.Close(ctx)
	for _, n := range nsps {
		_ = n.adapter.Close()
	}
	return err
}

// Of returns the namespace called name, creating it. name must start with "/".
func (s *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nsps[name]; n != nil {
		n.dynamic.Store(false) // named by the application: it stays
		return n
	}
	if n := s.pending[name]; n != nil {
		delete(s.pending, name)
		n.dynamic.Store(false)
		s.nsps[name] = n
		return n
	}
	n := newNamespace(s, name)
	s.nsps[name] = n
	return n
}

// OfFunc registers dynamic namespaces: a CONNECT to an unknown namespace for
// which match returns true creates it as a child of the returned template,
// inheriting its middlewares and connection handlers. auth is the raw JSON
// of the CONNECT payload (may be empty).
func (s *Server) OfFunc(match func(name string, auth []byte) bool) *Namespace {
	t := newNamespace(s, "")
	s.mu.Lock()
	s.parents = append(s.parents, &parentNsp{match: match, template: t})
	s.mu.Unlock()
	return t
}

// OfRegexp is OfFunc matching the namespace name against re.
func (s *Server) OfRegexp(re *regexp.Regexp) *Namespace {
	return s.OfFunc(func(name string, _ []byte) bool { return re.MatchString(name) })
}

// acquireNamespace finds the namespace a CONNECT names, or creates it as a
// child of the first parent (OfFunc) that matches. A dynamic namespace is
// counted: each socket connecting or connected to it holds a reference
// (released by releaseNamespace), it is listed only once a CONNECT to it
// succeeded (namespaceJoined), and it goes away with its last socket, so
// that CONNECTs to names that never succeed cannot pile namespaces up.
func (s *Server) acquireNamespace(name string, auth []byte) *Namespace {
	s.mu.Lock()
	if n := s.lookupLocked(name); n != nil {
		s.mu.Unlock()
		return n
	}
	parents := s.parents
	s.mu.Unlock()
	for _, p := range parents {
		if !p.match(name, auth) { // application code: called without the lock
			continue
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if n := s.lookupLocked(name); n != nil { // created meanwhile
			return n
		}
		n := newNamespace(s, name)
		n.dynamic.Store(true)
		n.refs = 1
		p.template.mu.RLock()
		n.middlewares = append(n.middlewares, p.template.middlewares...)
		n.onConnection = append(n.onConnection, p.template.onConnection...)
		p.template.mu.RUnlock()
		s.pending[name] = n
		return n
	}
	return nil
}

// lookupLocked finds a namespace, counting a reference to a dynamic one.
// mu is held.
func (s *Server) lookupLocked(name string) *Namespace {
	n := s.nsps[name]
	if n == nil {
		n = s.pending[name]
	}
	if n != nil && n.dynamic.Load() {
		n.refs++
	}
	return n
}

// namespaceJoined lists a dynamic namespace once a CONNECT to it succeeded.
func (s *Server) namespaceJoined(n *Namespace) {
	if !n.dynamic.Load() {
		return
	}
	s.mu.Lock()
	if n.dynamic.Load() && s.pending[n.name] == n {
		delete(s.pending, n.name)
		s.nsps[n.name] = n
	}
	s.mu.Unlock()
}

// releaseNamespace drops a socket's reference to a dynamic namespace and
// removes the namespace with the last one.
func (s *Server) releaseNamespace(n *Namespace) {
	if !n.dynamic.Load() {
		return
	}
	s.mu.Lock()
	gone := false
	if n.dynamic.Load() {
		n.refs--
		if n.refs == 0 {
			gone = true
			if s.nsps[n.name] == n {
				delete(s.nsps, n.name)
			}
			if s.pending[n.name] == n {
				delete(s.pending, n.name)
			}
		}
	}
	s.mu.Unlock()
	if gone {
		if err := n.adapter.Close(); err != nil {
			s.opts.Logger.Warn("adapter close failed", "nsp", n.name, "err", err)
		}
	}
}

// Namespaces returns the names of the namespaces that exist: the static
// ones and the dynamic ones that have sockets.
func (s *Server) Namespaces() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.nsps))
	for name := range s.nsps {
		out = append(out, name)
	}
	return out
}

// panicked counts and logs a panic in application code.
func (s *Server) panicked(r any) {
	s.panics.Add(1)
	s.opts.Logger.Error("panic in a handler; closing that client", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}

// guard runs application code that belongs to no one client (a broadcast's
// ack handler, a server-side emit handler, a callback on a timer): a panic
// is counted and logged, and goes no further.
func (s *Server) guard(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			s.panics.Add(1)
			s.opts.Logger.Error("panic in an application callback", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// Stats are the Socket.IO layer's counters.
type Stats struct {
	HandlerPanics int64 // application code panics (each closed one client)
	RateLimited   int64 // events refused by EventLimits
	InvalidArgs   int64 // events whose argument a typed handler (On, Once) could not decode
	ParseErrors   int64 // packets the parser refused (each closed its client)
	Engine        engine.Stats
}

// Stats returns the counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	return Stats{HandlerPanics: s.panics.Load(), RateLimited: s.rateLimited.Load(), InvalidArgs: s.invalidArgs.Load(),
		ParseErrors: s.parseErrors.Load(), Engine: s.eng.Stats()}
}

// Sockets is the main namespace "/".
func (s *Server) Sockets() *Namespace { return s.Of("/") }

// Use adds a connection middleware to the main namespace.
func (s *Server) Use(mw Middleware) { s.Sockets().Use(mw) }

// OnConnection adds a connection handler to the main namespace.
func (s *Server) OnConnection(fn func(*Socket)) { s.Sockets().OnConnection(fn) }

// Emit broadcasts to every socket of the main namespace.
func (s *Server) Emit(event string, args ...any) error { return s.Sockets().Emit(event, args...) }

// To selects rooms of the main namespace for a broadcast.
func (s *Server) To(rooms ...Room) *BroadcastOperator { return s.Sockets().To(rooms...) }

// In is To.
func (s *Server) In(rooms ...Room) *BroadcastOperator { return s.To(rooms...) }

// Except excludes rooms of the main namespace from a broadcast.
func (s *Server) Except(rooms ...Room) *BroadcastOperator { return s.Sockets().Except(rooms...) }

// Volatile marks a broadcast on the main namespace as droppable.
func (s *Server) Volatile() *BroadcastOperator { return s.Sockets().Volatile() }

// Local restricts a broadcast on the main namespace to this node.
func (s *Server) Local() *BroadcastOperator { return s.Sockets().Local() }

// Timeout sets the ack timeout of a broadcast on the main namespace.
func (s *Server) Timeout(d time.Duration) *BroadcastOperator { return s.Sockets().Timeout(d) }

// FetchSockets returns the sockets of the main namespace.
func (s *Server) FetchSockets(ctx context.Context) ([]RemoteSocket, error) {
	return s.Sockets().FetchSockets(ctx)
}

// SocketsJoin makes every socket of the main namespace join rooms.
func (s *Server) SocketsJoin(rooms ...Room) { s.Sockets().SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the main namespace leave rooms.
func (s *Server) SocketsLeave(rooms ...Room) { s.Sockets().SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket of the main namespace.
func (s *Server) DisconnectSockets(close bool) { s.Sockets().DisconnectSockets(close) }

// ServerSideEmit emits to the main namespace of the other nodes.
func (s *Server) ServerSideEmit(event string, args ...any) error {
	return s.Sockets().ServerSideEmit(event, args...)
}
