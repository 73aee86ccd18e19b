package codec

import "errors"

// Errors returned by HeadParser. Each maps to one HTTP status (see Status).
var (
	ErrHeaderTooLarge     = errors.New("http: request head too large")
	ErrTooManyHeaders     = errors.New("http: too many header fields")
	ErrBadRequest         = errors.New("http: malformed request")
	ErrBadContentLength   = errors.New("http: invalid Content-Length")
	ErrUnsupportedVersion = errors.New("http: unsupported HTTP version")
	ErrUnsupportedTE      = errors.New("http: unsupported Transfer-Encoding")
)

// Status is the HTTP status code a server should answer for a parser error.
func Status(err error) int {
	switch err {
	case ErrHeaderTooLarge, ErrTooManyHeaders:
		return 431
	case ErrUnsupportedVersion:
		return 505
	case ErrUnsupportedTE:
		return 501
	default:
		return 400
	}
}

// Header is one raw header field; both slices are borrowed from the input.
type Header struct {
	Name, Value []byte
}

// Request is a parsed HTTP/1.x request head. Every slice is borrowed from the
// buffer given to HeadParser.Parse and is valid only while it is unchanged.
// A Request is meant to be reused: Parse resets it.
type Request struct {
	Method   []byte
	Target   []byte // raw request-target
	Path     []byte // Target up to '?'
	RawQuery []byte // after '?', without it
	Minor    int    // HTTP/1.<Minor>

	Headers []Header // every field in order, at most HeadParser.MaxHeaders

	ContentLength int64 // -1 when absent
	Chunked       bool  // Transfer-Encoding: chunked
	Close         bool  // the connection closes after the response
	Upgrade       bool  // Connection: upgrade and Upgrade: websocket

	// Fields the server looks at, picked out while parsing (nil if absent).
	Host, Origin, ContentType, UpgradeHeader     []byte
	WSKey, WSVersion, WSExtensions, WSProtocol   []byte
	ACRequestHeaders, ACRequestMethod, UserAgent []byte

	HeadLen int    // bytes of the head, including the final empty line
	Raw     []byte // the whole head (HeadLen bytes)
}

// Header returns the value of the first field named name (case-insensitive).
func (r *Request) Header(name string) []byte {
	for i := range r.Headers {
		if equalFold(r.Headers[i].Name, name) {
			return r.Headers[i].Value
		}
	}
	return nil
}

// HeadParser finds and parses a request head incrementally. Feed it the whole
// unconsumed input each time more bytes arrive: the search for the end of the
// head resumes where it stopped, so the work is linear in the head size even
// when the head arrives one byte at a time. Limits are enforced before the
// head is complete.
type HeadParser struct {
	MaxHeaderBytes int32 // 0 means 16 KiB
	MaxHeaders     int32 // 0 means 100
	scanned        int32
	lead           int32 // length of the leading CR/LF run, once scanned reaches past it
}

// Reset prepares the parser for the next request.
func (p *HeadParser) Reset() { p.scanned, p.lead = 0, 0 }

// Parse looks for a complete head at the start of buf. It returns done=false
// and no error when more bytes are needed; done is false whenever err is not
// nil. On success r describes the head and
// r.HeadLen bytes of buf belong to it. The parser must be Reset before the next
// request.
func (p *HeadParser) Parse(buf []byte, r *Request) (done bool, err error) {
	maxBytes := int(p.MaxHeaderBytes)
	if maxBytes <= 0 {
		maxBytes = 16 << 10
	}
	if len(buf) > maxBytes+3 {
		buf = buf[:maxBytes+3] // nothing past the cap can be part of an acceptable head
	}
	// Skip empty lines before the request line (RFC 9112 §2.2) only at the
	// start; they count towards the limit.
	end := -1
	i, lead := int(p.scanned), int(p.lead)
	if i == lead { // still inside the leading CR/LF run
		for i < len(buf) && (buf[i] == '\r' || buf[i] == '\n') {
			i++
		}
		lead = i
		p.lead = int32(lead)
	} else if i > lead+3 {
		i -= 3 // the terminator may straddle the previous scan's end
	} else {
		i = lead
	}
	for ; i < len(buf); i++ {
		if buf[i] != '\n' {
			continue
		}
		if i+1 < len(buf) && buf[i+1] == '\n' {
			end = i + 2
			break
		}
		if i+2 < len(buf) && buf[i+1] == '\r' && buf[i+2] == '\n' {
			end = i + 3
			break
		}
	}
	if end < 0 {
		p.scanned = int32(len(buf))
		if len(buf) > maxBytes {
			return false, ErrHeaderTooLarge
		}
		return false, nil
	}
	if end > maxBytes {
		return false, ErrHeaderTooLarge
	}
	err = p.parseHead(buf[:end], r)
	return err == nil, err
}

func (p *HeadParser) parseHead(head []byte, r *Request) error {
	maxHeaders := int(p.MaxHeaders)
	if maxHeaders <= 0 {
		maxHeaders = 100
	}
	hdrs := r.Headers[:0]
	*r = Request{Headers: hdrs, ContentLength: -1, HeadLen: len(head), Raw: head}

	for len(head) > 0 && (head[0] == '\r' || head[0] == '\n') { // leading empty lines
		head = head[1:]
	}
	line, rest := nextLine(head)
	if err := parseRequestLine(line, r); err != nil {
		return err
	}
	r.Close = r.Minor == 0
	var connUpgrade, connKeepAlive, connClose, sawTE bool
	for len(rest) > 0 {
		line, rest = nextLine(rest)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' { // obsolete line folding
			return ErrBadRequest
		}
		colon := -1
		for j, c := range line {
			if c == ':' {
				colon = j
				break
			}
			if !isTokenChar(c) {
				return ErrBadRequest
			}
		}
		if colon <= 0 {
			return ErrBadRequest
		}
		if len(r.Headers) >= maxHeaders {
			return ErrTooManyHeaders
		}
		name := line[:colon]
		value := trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return ErrBadRequest
			}
		}
		r.Headers = append(r.Headers, Header{Name: name, Value: value})
		switch len(name) {
		case 4:
			if equalFold(name, "host") {
				if r.Host != nil {
					return ErrBadRequest // RFC 9112 §3.2: exactly one Host
				}
				r.Host = value
			}
		case 6:
			if equalFold(name, "origin") {
				if r.Origin == nil {
					r.Origin = value
				}
			}
		case 7:
			if equalFold(name, "upgrade") {
				if r.UpgradeHeader == nil {
					r.UpgradeHeader = value
				}
			}
		case 10:
			if equalFold(name, "connection") {
				forEachToken(value, func(tok []byte) {
					switch {
					case equalFold(tok, "upgrade"):
						connUpgrade = true
					case equalFold(tok, "close"):
						connClose = true
					case equalFold(tok, "keep-alive"):
						connKeepAlive = true
					}
				})
			} else if equalFold(name, "user-agent") {
				if r.UserAgent == nil {
					r.UserAgent = value
				}
			}
		case 12:
			if equalFold(name, "content-type") {
				if r.ContentType == nil {
					r.ContentType = value
				}
			}
		case 14:
			if equalFold(name, "content-length") {
				n, ok := parseContentLength(value)
				if !ok || (r.ContentLength >= 0 && r.ContentLength != n) {
					return ErrBadContentLength
				}
				r.ContentLength = n
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				if sawTE || !equalFold(value, "chunked") {
					return ErrUnsupportedTE
				}
				sawTE = true
				r.Chunked = true
			} else if equalFold(name, "sec-websocket-key") {
				if r.WSKey == nil {
					r.WSKey = value
				}
			}
		case 21:
			if equalFold(name, "sec-websocket-version") {
				if r.WSVersion == nil {
					r.WSVersion = value
				}
			}
		case 22:
			if equalFold(name, "sec-websocket-protocol") {
				if r.WSProtocol == nil {
					r.WSProtocol = value
				}
			}
		case 24:
			if equalFold(name, "sec-websocket-extensions") {
				if r.WSExtensions == nil {
					r.WSExtensions = value
				}
			}
		case 29:
			if equalFold(name, "access-control-request-method") {
				if r.ACRequestMethod == nil {
					r.ACRequestMethod = value
				}
			}
		case 30:
			if equalFold(name, "access-control-request-headers") {
				if r.ACRequestHeaders == nil {
					r.ACRequestHeaders = value
				}
			}
		}
	}
	if r.Chunked && r.ContentLength >= 0 {
		return ErrBadRequest // both framings: a request-smuggling vector
	}
	if connClose {
		r.Close = true
	} else if connKeepAlive {
		r.Close = false
	}
	if connUpgrade && r.UpgradeHeader != nil {
		forEachToken(r.UpgradeHeader, func(tok []byte) {
			if equalFold(tok, "websocket") {
				r.Upgrade = true
			}
		})
	}
	return nil
}

func parseRequestLine(line []byte, r *Request) error {
	sp1 := indexByte(line, ' ')
	if sp1 <= 0 {
		return ErrBadRequest
	}
	r.Method = line[:sp1]
	for _, c := range r.Method {
		if !isTokenChar(c) {
			return ErrBadRequest
		}
	}
	rest := line[sp1+1:]
	sp2 := indexByte(rest, ' ')
	if sp2 <= 0 {
		return ErrBadRequest
	}
	r.Target = rest[:sp2]
	for _, c := range r.Target {
		if c <= 0x20 || c == 0x7f {
			return ErrBadRequest
		}
	}
	proto := rest[sp2+1:]
	if len(proto) != 8 || string(proto[:7]) != "HTTP/1." {
		if len(proto) == 8 && string(proto[:5]) == "HTTP/" {
			return ErrUnsupportedVersion
		}
		return ErrBadRequest
	}
	switch proto[7] {
	case '0':
		r.Minor = 0
	case '1':
		r.Minor = 1
	default:
		return ErrUnsupportedVersion
	}
	if q := indexByte(r.Target, '?'); q >= 0 {
		r.Path, r.RawQuery = r.Target[:q], r.Target[q+1:]
	} else {
		r.Path = r.Target
	}
	return nil
}

func nextLine(b []byte) (line, rest []byte) {
	i := indexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// forEachToken calls fn with each comma-separated, OWS-trimmed, non-empty
// element of a list header. Linear in len(v) whatever its content.
func forEachToken(v []byte, fn func([]byte)) {
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' {
			if tok := trimOWS(v[start:i]); len(tok) > 0 {
				fn(tok)
			}
			start = i + 1
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// equalFold reports whether b equals the ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// EqualFold reports whether b equals the ASCII string s, ignoring case.
func EqualFold(b []byte, s string) bool { return equalFold(b, s) }

var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

func isTokenChar(c byte) bool { return tokenTable[c] }

// QueryValue returns the first value of key in a raw query string, and
// whether it is present. The value is returned raw (percent-escapes are not
// decoded); Engine.IO's own parameters never need decoding.
func QueryValue(rawQuery []byte, key string) ([]byte, bool) {
	v, ok, _ := QueryParam(rawQuery, key)
	return v, ok
}

// QueryParam is QueryValue that also reports whether key appears more than
// once. Node's query parser turns a repeated key into an array, which
// matches no transport, protocol version or session id: callers treat a
// repeated key as an invalid value.
func QueryParam(rawQuery []byte, key string) (value []byte, found, repeated bool) {
	for len(rawQuery) > 0 {
		var pair []byte
		if i := indexByte(rawQuery, '&'); i >= 0 {
			pair, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			pair, rawQuery = rawQuery, nil
		}
		k, v := pair, []byte(nil)
		if i := indexByte(pair, '='); i >= 0 {
			k, v = pair[:i], pair[i+1:]
		}
		if string(k) != key {
			continue
		}
		if found {
			return value, true, true
		}
		if v == nil {
			v = pair[len(pair):]
		}
		value, found = v, true
	}
	return value, found, false
}
