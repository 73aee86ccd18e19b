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
	// Adapter builds each namespace's adapter; nil is the in-memory adapter.
	Adapter func(nsp *Namespace) Adapter
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// Recovery configures connection state recovery (Node's connectionStateRecovery).
type Recovery struct {
	MaxDisconnectionDuration time.Duration // 2 min
	SkipMiddlewares          bool
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
	if o.Recovery != nil && o.Recovery.MaxDisconnectionDuration <= 0 {
		o.Recovery.MaxDisconnectionDuration = 2 * time.Minute
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

	mu      sync.RWMutex
	nsps    map[string]*Namespace
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
	s := &Server{opts: opts, nsps: make(map[string]*Namespace)}
	s.eng = engine.NewServer(opts.Engine, opts.Listen)
	s.eng.OnConnection(s.onEngineConnection)
	s.Of("/")
	return s
}

// Serve runs the server until Close.
func (s *Server) Serve() error { return s.eng.Serve() }

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
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
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

// lookupNamespace finds or creates (dynamically) the namespace.
func (s *Server) lookupNamespace(name string, auth []byte) *Namespace {
	s.mu.RLock()
	n := s.nsps[name]
	parents := s.parents
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	for _, p := range parents {
		if p.match(name, auth) {
			s.mu.Lock()
			if n = s.nsps[name]; n == nil {
				n = newNamespace(s, name)
				p.template.mu.RLock()
				n.middlewares = append(n.middlewares, p.template.middlewares...)
				n.onConnection = append(n.onConnection, p.template.onConnection...)
				p.template.mu.RUnlock()
				s.nsps[name] = n
			}
			s.mu.Unlock()
			return n
		}
	}
	return nil
}

// panicked counts and logs a panic in application code.
func (s *Server) panicked(r any) {
	s.panics.Add(1)
	s.opts.Logger.Error("panic in a handler; closing that client", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}

// Stats are the Socket.IO layer's counters.
type Stats struct {
	HandlerPanics int64 // application code panics (each closed one client)
	RateLimited   int64 // events refused by EventLimits
	Engine        engine.Stats
}

// Stats returns the counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	return Stats{HandlerPanics: s.panics.Load(), RateLimited: s.rateLimited.Load(), Engine: s.eng.Stats()}
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
