// Package socketio is a Socket.IO v5 server (socket.io 4.x compatible) on
// top of package engine: namespaces (static and dynamic), connection and
// packet middlewares, events with acknowledgements in both directions,
// binary arguments, rooms, broadcasts, and connection state recovery.
//
// Threading. Every socket lives on the event loop that owns its Engine.IO
// session. Handlers (connection, events, acks, disconnect) run there, one at
// a time per socket, and must not block: hand blocking work to a goroutine
// and emit or acknowledge from it. Emitting, joining, leaving and
// disconnecting are safe from any goroutine. EmitWithAck blocks and refuses
// to run on an event loop; use an AckHandler there instead.
//
// Arguments received by a handler borrow the connection's read buffer: they
// are valid until the handler returns (Args.Clone keeps them). Emitted
// values are encoded as encoding/json.Marshal encodes them, except that
// []byte values become binary attachments and json.RawMessage / RawBinary
// arguments pass through unchanged.
//
// Compression. With Options.Engine.PerMessageDeflate set (off by default,
// as in Node), WebSocket frames from its Threshold up are compressed for
// the clients that negotiated permessage-deflate; Socket.Compress(false),
// BroadcastOperator.Compress(false) and Namespace.Compress(false) send
// uncompressed. A broadcast is compressed once for all its recipients.
//
// Clusters. The Adapter interface is what a cluster adapter (Redis)
// implements, usually around a MemoryAdapter for the local part; remote
// sockets (FetchSockets), broadcasts with acks counted per node, server-side
// emits with acks and recovery offsets assigned by the adapter all go
// through it.
package socketio
