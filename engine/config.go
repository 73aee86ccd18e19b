package engine

import (
	"errors"
	"strings"
	"time"

	"sio/codec"
	"sio/loop"
)

// Config configures an Engine.IO server. Zero values take Node engine.io's defaults.
type Config struct {
	Path              string        // default "/engine.io/"; Socket.IO uses "/socket.io/"
	PingInterval      time.Duration // default 25s
	PingTimeout       time.Duration // default 20s
	UpgradeTimeout    time.Duration // default 10s
	CloseTimeout      time.Duration // polling: how long a server close waits for a GET; default 30s
	MaxHTTPBufferSize int64         // maxPayload; default 1e6
	// Transports allowed; default polling and websocket.
	Transports []string
	// DisableUpgrades advertises no upgrades (allowUpgrades: false).
	DisableUpgrades bool
	// MaxPayloadPackets caps the packets in one polling POST; default 10000.
	MaxPayloadPackets int
	// MaxBufferedBytes caps the output a session holds for its client
	// beyond what its connection has taken: a polling session's next GET
	// response, or the messages a WebSocket session keeps while its socket
	// drains (loop.Options.MaxOutboundBytes is what the socket itself may
	// hold; while messages wait, the client's input is paused, so its own
	// requests cannot pile answers up). Beyond it the session is closed as
	// a slow consumer. Default 16 MiB.
	MaxBufferedBytes int
	// CORS is off when nil.
	CORS *CORS
	// AllowRequest, if set, vets every handshake (requests without sid). A
	// non-nil error refuses it with 403 {"code":4,"message":err.Error()},
	// or, when the error is a *Refusal, with the Refusal's status and
	// Retry-After (a node shedding load answers 503 and clients back off).
	// It runs on an event loop and must not block.
	AllowRequest func(r *loop.Request) error
	// Fallback serves requests outside Path; nil answers 404.
	Fallback func(c *loop.Conn, r *loop.Request)
	// Files, if set, sees the requests under Path that name something
	// beyond it (such as /socket.io/socket.io.js) before Engine.IO does,
	// with the CORS headers of the answer (nil without CORS), and returns
	// true when it answered (socketio's Options.ServeClient). It runs on
	// an event loop and must not block.
	Files func(c *loop.Conn, r *loop.Request, cors []byte) bool
	// AllowEIO3 also accepts Engine.IO v3 clients (EIO=3: socket.io-client
	// 2.x, engine.io-client 3.x), as Node's allowEIO3 does; off, they are
	// refused with {"code":5,"message":"Unsupported protocol version"}.
	// A v3 session differs on the wire only (the client pings and the
	// server answers, length-prefixed polling payloads, a type byte in
	// binary WebSocket messages): Session.Protocol tells them apart. Unlike
	// Node, only EIO=3 selects v3; a missing or other EIO is still refused.
	AllowEIO3 bool
	// PerMessageDeflate turns WebSocket compression (RFC 7692) on for the
	// clients that offer it; nil leaves it off, as Node's default
	// perMessageDeflate: false. See Deflate.
	PerMessageDeflate *Deflate
}

// Deflate configures permessage-deflate. It is always negotiated without
// context takeover in either direction (server_no_context_takeover and
// client_no_context_takeover in the answer): each message is compressed
// or inflated on its own with a pooled compressor, so an idle connection
// holds no compression state at all (Node's ws keeps a zlib context per
// connection: socket.io#3477) and a broadcast is compressed once, for
// every recipient. A client that insists on context takeover (ws with
// clientNoContextTakeover: false) fails the handshake; one that limits the
// server's window below 15 bits (server_max_window_bits) is answered
// without compression.
type Deflate struct {
	// Threshold is the size in bytes from which a WebSocket frame (an
	// Engine.IO packet, or one binary attachment) is compressed. Zero
	// takes Node's 1024; a negative value compresses every frame (Node's
	// threshold: 0).
	Threshold int
	// Level is the flate level, 1 (fastest) to 9 (smallest); zero or
	// anything else takes the default (5).
	Level int
}

func (d *Deflate) deflater() *codec.Deflater {
	t := d.Threshold
	if t == 0 {
		t = 1024
	}
	return codec.NewDeflater(t, d.Level)
}

// ErrForbidden is the default AllowRequest refusal.
var ErrForbidden = errors.New("Forbidden")

// Refusal is an AllowRequest error answered with its own HTTP status (429
// or 503, say) and a Retry-After header instead of 403.
type Refusal struct {
	Status     int           // HTTP status; 503 when zero
	RetryAfter time.Duration // rounded up to whole seconds; 1 s when zero
	Message    string        // the body's message; the status text when empty
}

func (r *Refusal) Error() string {
	if r.Message != "" {
		return r.Message
	}
	return "Service Unavailable"
}

func (c *Config) setDefaults() {
	if c.Path == "" {
		c.Path = "/engine.io/"
	}
	if !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.MaxHTTPBufferSize <= 0 {
		c.MaxHTTPBufferSize = 1e6
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{"polling", "websocket"}
	}
	if c.MaxPayloadPackets <= 0 {
		c.MaxPayloadPackets = 10000
	}
	if c.MaxBufferedBytes <= 0 {
		c.MaxBufferedBytes = 16 << 20
	}
}

func (c *Config) allows(transport string) bool {
	for _, t := range c.Transports {
		if t == transport {
			return true
		}
	}
	return false
}
