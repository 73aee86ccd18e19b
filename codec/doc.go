// Package codec holds the pure wire formats of the server: Engine.IO v4 packets
// and polling payloads, the handshake JSON, a bounded incremental HTTP/1.1
// request-head parser and WebSocket frame headers (built on gobwas/ws types).
//
// It does no I/O and must not import gnet, net or time. Every decoder works on
// a caller-owned byte slice and returns sub-slices of it: those are borrowed
// and valid only as long as the caller keeps the input alive and unchanged.
// Decoding the common packets allocates nothing.
package codec
