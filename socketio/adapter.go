package socketio

import (
	"context"
	"time"
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
// encoded once, lazily, and shared.
type Packet struct {
	Nsp  string
	Data []any // [event, args...]
	ID   int64 // ack id for broadcasts with acks, else -1
}

// RemoteSocket is a socket as FetchSockets returns it, local or on another node.
type RemoteSocket struct {
	ID        SocketID
	Handshake Handshake
	Rooms     []Room
	Data      any
	local     *Socket
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
// interface and forwards every operation to the other nodes, which is why
// the cluster-wide operations take options rather than socket lists.
//
// Methods are called from any goroutine and must be safe for that.
type Adapter interface {
	// Init is called once when the namespace is created; Close when the
	// server closes.
	Init() error
	Close() error

	// AddAll adds the socket to the rooms (creating them as needed).
	AddAll(id SocketID, rooms []Room)
	// Del removes the socket from a room; DelAll from every room.
	Del(id SocketID, room Room)
	DelAll(id SocketID)
	// SocketRooms returns the rooms of a local socket (nil if unknown).
	SocketRooms(id SocketID) []Room
	// Rooms returns every local room (socket id rooms included).
	Rooms() []Room

	// Broadcast delivers p to the selected sockets (here and, unless
	// Flags.Local, on other nodes).
	Broadcast(p *Packet, opts *BroadcastOptions)
	// BroadcastWithAck is Broadcast where every recipient acknowledges:
	// clientCount is called once per node with the number of recipients it
	// reached, ack once per acknowledgement.
	BroadcastWithAck(p *Packet, opts *BroadcastOptions, clientCount func(n int), ack func(args *Args))

	// Sockets returns the ids of the matching sockets (cluster-wide).
	Sockets(ctx context.Context, opts *BroadcastOptions) ([]SocketID, error)
	// FetchSockets returns the matching sockets (cluster-wide).
	FetchSockets(ctx context.Context, opts *BroadcastOptions) ([]RemoteSocket, error)
	// AddSockets makes the matching sockets join rooms; DelSockets leave them.
	AddSockets(opts *BroadcastOptions, rooms []Room)
	DelSockets(opts *BroadcastOptions, rooms []Room)
	// DisconnectSockets disconnects the matching sockets (close: also their
	// underlying connection).
	DisconnectSockets(opts *BroadcastOptions, close bool)
	// ServerSideEmit sends an event to the other nodes' namespace. With ack
	// non-nil every node answers once; ack gets the answers (or an error on
	// timeout).
	ServerSideEmit(ctx context.Context, data []any, ack func(replies []*Args, err error))
	// ServerCount is the number of nodes (1 for a single node).
	ServerCount(ctx context.Context) (int, error)

	// PersistSession keeps a disconnected socket's state for recovery;
	// RestoreSession takes it back with the packets it missed since offset
	// (nil when the session or the offset is unknown).
	PersistSession(s *Session)
	RestoreSession(pid, offset string) (*Session, []*Prepared, error)
}
