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
// Parsers. Options.Parser is Node's parser option, chosen per server:
// nil is socket.io-parser's JSON (binary as attachment messages);
// MsgpackParser{} is socket.io-msgpack-parser's, each packet one msgpack
// binary message with binary values inline, written byte for byte as the
// npm parser writes the same values (clients must use that parser too:
// io(url, {parser: require("socket.io-msgpack-parser")})). Handlers, Args,
// acks, rooms, recovery and adapters work the same with either: a Parser
// translates each packet to and from the JSON form the server works on,
// and a broadcast is encoded once whatever the number of recipients. A
// packet the parser refuses closes its client (ReasonParseError) and
// counts in Stats.ParseErrors.
//
// Older clients. With Options.Engine.AllowEIO3, socket.io-client 2.x
// (Engine.IO v3, Socket.IO protocol v4) connects too, served as socket.io
// 4.8 serves it: connected to "/" at once, its namespace query as auth,
// the Engine.IO sid as socket id, refusals as ERROR packets (eio3.go,
// docs/EIO3.md). Handlers need no change.
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
//
// Instrumentation. Server.Observe reports every namespace's connections and
// every room membership change (package admin, the server side of the
// official admin UI, is built on it). Options.ServeClient serves the
// socket.io-client bundle under the Engine.IO path, as Node's serveClient.
package socketio
