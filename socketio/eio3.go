package socketio

import (
	"strings"

	"sio/codec"
	"sio/engine"
)

// Socket.IO protocol v4, spoken by socket.io-client 2.x over Engine.IO v3
// (engine.Config.AllowEIO3), as socket.io 4.8 serves it when
// conn.protocol === 3:
//   - the client is connected to "/" as soon as its session opens, running
//     "/"'s middlewares, without waiting for a CONNECT packet (it sends none
//     for "/");
//   - a CONNECT to another namespace carries its query in the namespace
//     string ("0/admin?token=abc,"), which becomes the socket's auth
//     (Handshake.Auth, {"token":"abc"}); the auth of "/" is {};
//   - the CONNECT ack has no payload, and the socket id is the Engine.IO
//     session id ("/admin#<sid>" outside "/"), which is how the client
//     computes its own socket.id;
//   - a middleware refusal is an ERROR packet (type 4, as CONNECT_ERROR)
//     whose payload is the *ConnectError's Data, or else the message as a
//     JSON string; socket.io-client 2.x emits it as an "error" event;
//   - there is no connection state recovery.
// Events, acks, binary attachments and DISCONNECT are encoded as in v5.

// v3Namespace splits a v4-protocol CONNECT namespace into the name and the
// auth: the query's entries as a JSON object of strings (the last value of
// a repeated key wins, at the key's first position, as Node's
// Object.fromEntries over URLSearchParams has it).
func v3Namespace(nsp []byte) (name string, auth []byte) {
	s := string(nsp)
	q := ""
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s, q = s[:i], s[i+1:]
	}
	if s == "" {
		s = "/"
	}
	if q == "" {
		return s, emptyAuth
	}
	var keys, vals []string
	for _, pair := range strings.Split(q, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, v = formUnescape(k), formUnescape(v)
		found := false
		for i := range keys {
			if keys[i] == k {
				vals[i], found = v, true
				break
			}
		}
		if !found {
			keys, vals = append(keys, k), append(vals, v)
		}
	}
	out := []byte{'{'}
	for i := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, keys[i])
		out = append(out, ':')
		out = appendJSONString(out, vals[i])
	}
	return s, append(out, '}')
}

// formUnescape decodes application/x-www-form-urlencoded text as
// URLSearchParams does: '+' is a space, and a bad escape stays as it is.
func formUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := urlUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}

// v3SocketID is the socket id Node gives a protocol-3 client, which the
// client computes the same way.
func v3SocketID(nsp string, sid string) SocketID {
	if nsp == "/" {
		return SocketID(sid)
	}
	return SocketID(nsp + "#" + sid)
}

// v3ConnectError is the ERROR payload of a refusal: err.data || err.message.
func v3ConnectError(err error) []byte {
	if ce, ok := err.(*ConnectError); ok && ce.Data != nil {
		e := encoder{}
		if e.arg(ce.Data) == nil && len(e.attachments) == 0 {
			return e.buf
		}
	}
	return jsonString(err.Error())
}

// connectRootV3 connects a v3 client to "/" at once (on its loop).
func (c *client) connectRootV3() {
	c.protect(func() {
		c.connect(&codec.SIOPacket{Type: codec.SIOConnect, Nsp: rootNsp, ID: -1})
	})
}

var rootNsp = []byte{'/'}

// isV3 reports whether the client speaks Socket.IO protocol v4 over
// Engine.IO v3.
func isV3(sess *engine.Session) bool { return sess.Protocol() == 3 }
