// Package engine implements the Engine.IO v4 server: sessions over HTTP
// long-polling and WebSocket, the upgrade between them, server-side
// heartbeats, CORS and every error answer of Node's engine.io 6. With
// Config.AllowEIO3 it also serves Engine.IO v3 clients (engine.io-client
// 3.x): client pings, length-prefixed polling payloads, typed binary
// WebSocket messages (eio3.go; Session.Protocol tells them apart).
//
// Every session is owned by one event loop (package loop): its state is only
// touched there. Requests for it that arrive on another loop are posted to the
// owner, and answers are posted back to the connection's loop. When a polling
// session upgrades, ownership moves to the WebSocket connection's loop.
// Session.Send and Session.Close are safe from any goroutine.
//
// WebSocket compression (permessage-deflate, RFC 7692) is off unless
// Config.PerMessageDeflate is set; it is then negotiated without context
// takeover either way, so that no session keeps compression state and a
// Prepared broadcast is compressed once for all its deflate recipients
// (see Deflate). SendOptions.NoCompress is the compress(false) flag.
//
// engine must not import gnet: all socket work goes through package loop.
package engine
