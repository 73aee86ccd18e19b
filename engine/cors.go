package engine

import (
	"strconv"

	"sio/loop"
)

// CORS mirrors the options of the npm cors middleware that Node's engine.io
// applies to every request.
type CORS struct {
	// Origins allowed. "*" alone allows any origin (and cannot be combined
	// with Credentials, which then echoes the request's origin, as the cors
	// middleware does with origin: true).
	Origins     []string
	Credentials bool
	// Methods for preflights; default GET,HEAD,PUT,PATCH,POST,DELETE.
	Methods string
	// AllowedHeaders for preflights; default: echo Access-Control-Request-Headers.
	AllowedHeaders string
	MaxAge         int // seconds; 0 omits the header
	// CheckWebSocketOrigin refuses WebSocket handshakes whose Origin is not
	// allowed with 403 (browsers do not apply CORS to WebSocket).
	CheckWebSocketOrigin bool
}

func (c *CORS) wildcard() bool { return len(c.Origins) == 1 && c.Origins[0] == "*" }

// allowed reports whether origin is in the list.
func (c *CORS) allowed(origin []byte) bool {
	if c.wildcard() {
		return true
	}
	for _, o := range c.Origins {
		if o == string(origin) {
			return true
		}
	}
	return false
}

// appendHeaders appends the headers of an actual (non-preflight) response.
func (c *CORS) appendHeaders(dst []byte, r *loop.Request) []byte {
	if c.wildcard() && !c.Credentials {
		return append(dst, "Access-Control-Allow-Origin: *\r\n"...)
	}
	if len(r.Origin) > 0 && c.allowed(r.Origin) {
		dst = append(dst, "Access-Control-Allow-Origin: "...)
		dst = append(dst, r.Origin...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "Vary: Origin\r\n"...)
	if c.Credentials {
		dst = append(dst, "Access-Control-Allow-Credentials: true\r\n"...)
	}
	return dst
}

// preflight answers an OPTIONS request with 204.
func (c *CORS) preflight(conn *loop.Conn, r *loop.Request) {
	var h []byte
	vary := "Vary: Access-Control-Request-Headers\r\n"
	if c.wildcard() && !c.Credentials {
		h = append(h, "Access-Control-Allow-Origin: *\r\n"...)
	} else {
		if len(r.Origin) > 0 && c.allowed(r.Origin) {
			h = append(h, "Access-Control-Allow-Origin: "...)
			h = append(h, r.Origin...)
			h = append(h, "\r\n"...)
		}
		vary = "Vary: Origin, Access-Control-Request-Headers\r\n"
	}
	if c.Credentials {
		h = append(h, "Access-Control-Allow-Credentials: true\r\n"...)
	}
	methods := c.Methods
	if methods == "" {
		methods = "GET,HEAD,PUT,PATCH,POST,DELETE"
	}
	h = append(h, "Access-Control-Allow-Methods: "...)
	h = append(h, methods...)
	h = append(h, "\r\n"...)
	if c.AllowedHeaders != "" {
		h = append(h, "Access-Control-Allow-Headers: "...)
		h = append(h, c.AllowedHeaders...)
		h = append(h, "\r\n"...)
	} else if len(r.ACRequestHeaders) > 0 {
		h = append(h, "Access-Control-Allow-Headers: "...)
		h = append(h, r.ACRequestHeaders...)
		h = append(h, "\r\n"...)
	}
	if c.MaxAge > 0 {
		h = append(h, "Access-Control-Max-Age: "...)
		h = strconv.AppendInt(h, int64(c.MaxAge), 10)
		h = append(h, "\r\n"...)
	}
	h = append(h, vary...)
	conn.Respond(&loop.Response{Status: 204, Extra: h})
}
