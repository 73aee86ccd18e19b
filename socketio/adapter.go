package socketio

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"sio/engine"
)

// SocketID is a Socket.IO socket id (the sid of the CONNECT ack). It is also
// the name of the socket's own room.
type SocketID string

// Room is a room name.
type Room string

// BroadcastFlags are the modifiers of a broadcast (Node's BroadcastFlags).
type BroadcastFlags struct {
	Volatile bool
	Compress *bool // nil: unset
	Local    bool  // do not forward to other nodes
	Timeout  time.Duration
	// ExpectSingleResponse marks an emit with ack to one (remote) socket:
	// the handler gets that socket's answer rather than a list (Node's
	// RemoteSocket.emitWithAck sets it; cluster adapters carry it).
	ExpectSingleResponse bool
}

// BroadcastOptions select the recipients of a broadcast.
type BroadcastOptions struct {
	Rooms  []Room // empty: every socket of the namespace
	Except []Room
	Flags  BroadcastFlags
}

// Packet is what a broadcast carries: the namespace and the event with its
// arguments. Data keeps the values as the emitter gave them (so a cluster
// adapter can re-encode them for other nodes); the local wire bytes are
// encoded once, on first use, and shared (Prepared).
type Packet struct {
	Nsp  string
	Data []any // [event, args...], with the recovery offset last when there is one
	ID   int64 // ack id for broadcasts with acks, else -1

	prepared atomic.Pointer[Prepared]
	parsed   atomic.Pointer[Prepared] // encoded with the server's Parser, when it has one (one Parser per cluster)
	ackEnd   *ackEndHook              // a broadcast with acks from this node: its collector's end
}

// ackEndHook runs functions when a broadcast-with-ack collector ends (all
// answered, or timed out): each node's part takes its pending entries out
// of the sockets then.
type ackEndHook struct {
	mu    sync.Mutex
	ended bool
	fns   []func()
}

func (h *ackEndHook) onEnd(fn func()) {
	h.mu.Lock()
	if !h.ended {
		h.fns = append(h.fns, fn)
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	fn()
}

func (h *ackEndHook) end() {
	h.mu.Lock()
	h.ended = true
	fns := h.fns
	h.fns = nil
	h.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Prepared returns the packet encoded for both transports by the default
// (JSON) parser, encoding it on first use. Safe from any goroutine; the
// result is shared and immutable.
func (p *Packet) Prepared() (*Prepared, error) {
	if pp := p.prepared.Load(); pp != nil {
		return pp, nil
	}
	text, att, err := encodeEvent(p.Nsp, p.ID, p.Data, false)
	if err != nil {
		return nil, err
	}
	pp := engine.NewPrepared(text, att)
	if !p.prepared.CompareAndSwap(nil, pp) {
		return p.prepared.Load(), nil
	}
	return pp, nil
}

// Session is what connection state recovery keeps of a disconnected socket.
type Session struct {
	SID   SocketID
	PID   string
	Rooms []Room
	Data  any
}

// Adapter tracks room membership and delivers broadcasts. The in-memory
// adapter serves one node; a cluster adapter (Redis) implements the same
// interface, usually around a MemoryAdapter for the local part, and
// forwards every operation to the other nodes, which is why the
// cluster-wide operations take options rather than socket lists.
//
// Methods are called from any goroutine (event loops included) and must
// not block for long: a cluster adapter hands network work to its own
// goroutines.
type Adapter interface {
	// Init is called once when the namespace is created; Close when the
	// server closes or a dynamic namespace is removed.
	Init() error
	Close() error

	// AddAll adds a local socket to rooms. A socket joins its own room
	// (Room(id)) when it connects, as in Node; an unknown id (a socket no
	// longer in the namespace) is ignored.
	AddAll(id SocketID, rooms []Room)
	// Del removes the socket from a room; DelAll from every room, its own
	// included (the socket is leaving the namespace).
	Del(id SocketID, room Room)
	DelAll(id SocketID)
	// SocketRooms returns the rooms of a local socket, its own first (nil
	// if unknown).
	SocketRooms(id SocketID) []Room
	// Rooms returns every local room (socket id rooms included).
	Rooms() []Room

	// Broadcast delivers p to the selected sockets (here and, unless
	// Flags.Local, on other nodes). With connection state recovery, the
	// adapter assigns the offset (appended to p.Data) and keeps what it
	// needs to replay the packet.
	Broadcast(p *Packet, opts *BroadcastOptions)
	// BroadcastWithAck is Broadcast where every recipient acknowledges:
	// clientCount is called exactly once per node (this one, then each
	// other node that answered) with the number of clients it asked, ack
	// once per acknowledgement. How many nodes report is ServerCount's.
	BroadcastWithAck(p *Packet, opts *BroadcastOptions, clientCount func(n int), ack func(args *Args))

	// Sockets returns the ids of the matching sockets (cluster-wide).
	Sockets(ctx context.Context, opts *BroadcastOptions) ([]SocketID, error)
	// FetchSockets returns the matching sockets (cluster-wide). Remote
	// entries need only ID, Handshake, Rooms and Data: the namespace
	// attaches itself so that their methods reach them through the adapter.
	FetchSockets(ctx context.Context, opts *BroadcastOptions) ([]RemoteSocket, error)
	// AddSockets makes the matching sockets join rooms; DelSockets leave them.
	AddSockets(opts *BroadcastOptions, rooms []Room)
	DelSockets(opts *BroadcastOptions, rooms []Room)
	// DisconnectSockets disconnects the matching sockets (close: also their
	// underlying connection).
	DisconnectSockets(opts *BroadcastOptions, close bool)
	// ServerSideEmit sends an event ([event, args...]) to the other nodes'
	// namespace. With ack non-nil every other node answers once; ack gets
	// the answers, or ErrTimeout with those that came in time.
	ServerSideEmit(ctx context.Context, data []any, ack func(replies []*Args, err error))
	// ServerCount is the number of nodes (1 for a single node).
	ServerCount(ctx context.Context) (int, error)

	// PersistSession keeps a disconnected socket's state for recovery;
	// RestoreSession takes it back with the packets it missed since offset
	// (nil when the session or the offset is unknown). The packets carry
	// their offset as their last argument; the caller encodes them
	// (Packet.Prepared), so an adapter can replay what it did not encode.
	PersistSession(s *Session)
	RestoreSession(pid, offset string) (*Session, []*Packet, error)
}
