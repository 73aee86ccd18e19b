package socketio

import (
	"encoding/json"
	"errors"
	"time"

	"sio/codec"
)

// RemoteSocket is a socket as FetchSockets returns it, on this node or on
// another one. Its methods reach it wherever it is: on this node directly,
// elsewhere through the namespace's adapter (a broadcast, join, leave or
// disconnect aimed at the socket's own room), as Node's RemoteSocket does.
type RemoteSocket struct {
	ID        SocketID
	Handshake Handshake
	Rooms     []Room
	Data      any

	nsp     *Namespace
	local   *Socket
	timeout time.Duration
}

// ErrNoNamespace is returned by the methods of a RemoteSocket that did not
// come from FetchSockets (it does not know its namespace).
var ErrNoNamespace = errors.New("socketio: remote socket has no namespace (use FetchSockets)")

// Local returns the socket when it lives on this node, else nil.
func (r RemoteSocket) Local() *Socket { return r.local }

// Timeout returns r with an acknowledgement timeout for Emit.
func (r RemoteSocket) Timeout(d time.Duration) RemoteSocket {
	r.timeout = d
	return r
}

func (r RemoteSocket) op() *BroadcastOperator {
	return &BroadcastOperator{nsp: r.nsp, rooms: []Room{Room(r.ID)}, flags: BroadcastFlags{Timeout: r.timeout}}
}

// Emit sends an event to the socket. With an AckHandler last, the handler
// gets the socket's answer, or ErrTimeout (see Timeout).
func (r RemoteSocket) Emit(event string, args ...any) error {
	if r.local != nil {
		if r.timeout > 0 {
			return r.local.Timeout(r.timeout).Emit(event, args...)
		}
		return r.local.Emit(event, args...)
	}
	if r.nsp == nil {
		return ErrNoNamespace
	}
	args, ack := splitAck(args)
	if ack == nil {
		return r.op().Emit(event, args...)
	}
	op := r.op()
	op.flags.ExpectSingleResponse = true
	return op.emitWithAck(event, args, func(replies []*Args, err error) {
		switch {
		case len(replies) > 0:
			ack(replies[0], nil)
		case err != nil:
			ack(nil, err)
		default:
			ack(nil, ErrDisconnected) // no node has it any more
		}
	})
}

// Join makes the socket join rooms.
func (r RemoteSocket) Join(rooms ...Room) error {
	if r.local != nil {
		r.local.Join(rooms...)
		return nil
	}
	if r.nsp == nil {
		return ErrNoNamespace
	}
	r.op().SocketsJoin(rooms...)
	return nil
}

// Leave makes the socket leave rooms.
func (r RemoteSocket) Leave(rooms ...Room) error {
	if r.local != nil {
		for _, room := range rooms {
			r.local.Leave(room)
		}
		return nil
	}
	if r.nsp == nil {
		return ErrNoNamespace
	}
	r.op().SocketsLeave(rooms...)
	return nil
}

// Disconnect disconnects the socket (close: also its connection).
func (r RemoteSocket) Disconnect(close bool) error {
	if r.local != nil {
		r.local.Disconnect(close)
		return nil
	}
	if r.nsp == nil {
		return ErrNoNamespace
	}
	r.op().DisconnectSockets(close)
	return nil
}

// --- Args from other nodes ----------------------------------------------------

// ParseArgs builds Args from a JSON array of arguments, as a cluster
// adapter receives an acknowledgement or a server-side emit from another
// node. attachments back the placeholders {"_placeholder":true,"num":N} the
// array may hold. The Args own nothing: keep array and attachments intact
// while they are used.
func ParseArgs(array []byte, attachments [][]byte) (*Args, error) {
	if codec.Kind(array) != codec.JSONArray || !codec.ValidJSON(array) {
		return nil, errors.New("socketio: ParseArgs: not a JSON array")
	}
	a := &Args{}
	if err := parseArgs(array, 0, attachments, a); err != nil {
		return nil, err
	}
	if a.elems == nil {
		a.elems = a.inline[:0]
	}
	return a, nil
}

// NewArgs builds Args from the raw JSON of each argument. Each must be one
// valid JSON value.
func NewArgs(raw ...json.RawMessage) (*Args, error) {
	a := &Args{elems: make([][]byte, len(raw))}
	for i, r := range raw {
		if !codec.ValidJSON(r) {
			return nil, errors.New("socketio: NewArgs: argument is not one JSON value")
		}
		a.elems[i] = r
	}
	return a, nil
}

// ArgsFromValues builds Args from decoded values (msgpack's, say): each is
// encoded as Emit encodes it, []byte values (at any depth) becoming binary
// attachments.
func ArgsFromValues(values ...any) (*Args, error) {
	var e encoder
	bounds := make([]int, 0, len(values)+1)
	bounds = append(bounds, 0)
	for _, v := range values {
		if err := e.arg(v); err != nil {
			return nil, err
		}
		bounds = append(bounds, len(e.buf))
	}
	a := &Args{elems: make([][]byte, len(values)), attachments: e.attachments}
	for i := range values {
		a.elems[i] = e.buf[bounds[i]:bounds[i+1]:bounds[i+1]]
	}
	return a, nil
}

// Attachments returns the binary attachments the arguments' placeholders
// index (for a cluster adapter that forwards raw arguments as they came).
func (a *Args) Attachments() [][]byte { return a.attachments }
