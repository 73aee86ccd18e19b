package codec

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// describe renders every field of r so two parses can be compared without
// caring whether an absent slice is nil or empty. It copies raw bytes with
// length prefixes (no quoting) because the fuzz target calls it on every run.
func describe(r *Request) string {
	b := make([]byte, 0, 256+r.HeadLen)
	add := func(name string, v []byte) {
		b = append(b, name...)
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
		b = append(b, ' ')
	}
	num := func(name string, v int64) {
		b = append(b, name...)
		b = strconv.AppendInt(b, v, 10)
		b = append(b, ' ')
	}
	flag := func(name string, v bool) {
		b = append(b, name...)
		b = strconv.AppendBool(b, v)
		b = append(b, ' ')
	}
	add("method=", r.Method)
	add("target=", r.Target)
	add("path=", r.Path)
	add("query=", r.RawQuery)
	num("minor=", int64(r.Minor))
	num("cl=", r.ContentLength)
	flag("chunked=", r.Chunked)
	flag("close=", r.Close)
	flag("upgrade=", r.Upgrade)
	num("headlen=", int64(r.HeadLen))
	b = append(b, '\n')
	add("host=", r.Host)
	add("origin=", r.Origin)
	add("ctype=", r.ContentType)
	add("upgradeh=", r.UpgradeHeader)
	add("key=", r.WSKey)
	add("ver=", r.WSVersion)
	add("ext=", r.WSExtensions)
	add("proto=", r.WSProtocol)
	add("acrh=", r.ACRequestHeaders)
	add("acrm=", r.ACRequestMethod)
	add("ua=", r.UserAgent)
	b = append(b, '\n')
	for _, h := range r.Headers {
		add("", h.Name)
		add("", h.Value)
		b = append(b, '\n')
	}
	return string(b)
}

// requestWithin checks that every slice of r is borrowed from buf.
func requestWithin(buf []byte, r *Request) error {
	fields := map[string][]byte{
		"Method": r.Method, "Target": r.Target, "Path": r.Path, "RawQuery": r.RawQuery,
		"Host": r.Host, "Origin": r.Origin, "ContentType": r.ContentType, "UpgradeHeader": r.UpgradeHeader,
		"WSKey": r.WSKey, "WSVersion": r.WSVersion, "WSExtensions": r.WSExtensions, "WSProtocol": r.WSProtocol,
		"ACRequestHeaders": r.ACRequestHeaders, "ACRequestMethod": r.ACRequestMethod, "UserAgent": r.UserAgent,
	}
	for i, h := range r.Headers {
		fields[fmt.Sprintf("Headers[%d].Name", i)] = h.Name
		fields[fmt.Sprintf("Headers[%d].Value", i)] = h.Value
	}
	for name, s := range fields {
		if !within(buf, s) {
			return fmt.Errorf("%s = %q is not borrowed from the input", name, s)
		}
	}
	return nil
}

// parseOnce parses raw with a fresh parser and requires a complete head.
func parseOnce(t *testing.T, p HeadParser, raw string) *Request {
	t.Helper()
	buf := []byte(raw)
	var r Request
	done, err := p.Parse(buf, &r)
	if err != nil || !done {
		t.Fatalf("Parse(%q) = %v, %v; want done", raw, done, err)
	}
	if r.HeadLen > len(buf) {
		t.Fatalf("HeadLen %d > len %d", r.HeadLen, len(buf))
	}
	if err := requestWithin(buf, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

const pollingGET = "GET /socket.io/?EIO=4&transport=polling&t=PZx1a2b HTTP/1.1\r\n" +
	"Host: localhost:3000\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Origin: http://localhost:8080\r\n" +
	"Connection: keep-alive\r\n" +
	"Referer: http://localhost:8080/\r\n" +
	"Sec-Fetch-Dest: empty\r\n" +
	"Sec-Fetch-Mode: cors\r\n" +
	"Sec-Fetch-Site: same-site\r\n" +
	"\r\n"

const wsUpgradeGET = "GET /socket.io/?EIO=4&transport=websocket&sid=IKKiTXn7TZr8pAAAAAAB HTTP/1.1\r\n" +
	"Host: localhost:3000\r\n" +
	"Connection: Upgrade\r\n" +
	"Upgrade: websocket\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
	"\r\n"

func TestHeadParserGET(t *testing.T) {
	r := parseOnce(t, HeadParser{}, pollingGET)
	checks := []struct{ name, got, want string }{
		{"Method", string(r.Method), "GET"},
		{"Target", string(r.Target), "/socket.io/?EIO=4&transport=polling&t=PZx1a2b"},
		{"Path", string(r.Path), "/socket.io/"},
		{"RawQuery", string(r.RawQuery), "EIO=4&transport=polling&t=PZx1a2b"},
		{"Host", string(r.Host), "localhost:3000"},
		{"Origin", string(r.Origin), "http://localhost:8080"},
		{"UserAgent", string(r.UserAgent), "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if r.Minor != 1 || r.ContentLength != -1 || r.Chunked || r.Close || r.Upgrade || r.HeadLen != len(pollingGET) || len(r.Headers) != 11 {
		t.Errorf("parsed %s", describe(r))
	}
	if r.ContentType != nil || r.WSKey != nil || r.UpgradeHeader != nil {
		t.Errorf("absent fields are not nil: %s", describe(r))
	}
	if string(r.Headers[2].Name) != "Accept" || string(r.Headers[2].Value) != "*/*" {
		t.Errorf("Headers[2] = %q: %q", r.Headers[2].Name, r.Headers[2].Value)
	}

	// No query, and a '?' with an empty query.
	r = parseOnce(t, HeadParser{}, "GET /socket.io/ HTTP/1.1\r\n\r\n")
	if string(r.Path) != "/socket.io/" || len(r.RawQuery) != 0 || len(r.Headers) != 0 {
		t.Errorf("no query: %s", describe(r))
	}
	r = parseOnce(t, HeadParser{}, "GET /x? HTTP/1.1\r\n\r\n")
	if string(r.Path) != "/x" || r.RawQuery == nil || len(r.RawQuery) != 0 {
		t.Errorf("empty query: %s", describe(r))
	}
}

func TestHeadParserPOST(t *testing.T) {
	body := `40{"token":"abc"}` + "\x1e" + `420["hi"]`
	raw := "POST /socket.io/?EIO=4&transport=polling&sid=IKKi HTTP/1.1\r\n" +
		"Host: localhost:3000\r\n" +
		"Content-type: text/plain;charset=UTF-8\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", len(body)) +
		"\r\n"
	r := parseOnce(t, HeadParser{}, raw+body)
	if string(r.Method) != "POST" || r.ContentLength != int64(len(body)) || r.HeadLen != len(raw) {
		t.Errorf("POST: %s", describe(r))
	}
	if string(r.ContentType) != "text/plain;charset=UTF-8" {
		t.Errorf("ContentType = %q", r.ContentType)
	}
	// The same Content-Length twice is allowed.
	r = parseOnce(t, HeadParser{}, "POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello")
	if r.ContentLength != 5 {
		t.Errorf("repeated equal Content-Length: %d", r.ContentLength)
	}
	r = parseOnce(t, HeadParser{}, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
	if r.ContentLength != 0 {
		t.Errorf("Content-Length 0: %d", r.ContentLength)
	}
	r = parseOnce(t, HeadParser{}, "POST / HTTP/1.1\r\nContent-Length: 999999999999999999\r\n\r\n")
	if r.ContentLength != 999999999999999999 {
		t.Errorf("18 digits: %d", r.ContentLength)
	}
	r = parseOnce(t, HeadParser{}, "POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n")
	if !r.Chunked || r.ContentLength != -1 {
		t.Errorf("chunked: %s", describe(r))
	}
}

func TestHeadParserPicksFields(t *testing.T) {
	raw := "OPTIONS /socket.io/?EIO=4 HTTP/1.1\r\n" +
		"host: h\r\n" +
		"ORIGIN: https://evil.example\r\n" +
		"Sec-Websocket-Key: k\r\n" +
		"sec-websocket-version: 13\r\n" +
		"Sec-WebSocket-Protocol: chat, superchat\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate\r\n" +
		"Access-Control-Request-Method: POST\r\n" +
		"Access-Control-Request-Headers: content-type\r\n" +
		"Upgrade: websocket\r\n" +
		"Content-Type: application/octet-stream\r\n" +
		"\r\n"
	r := parseOnce(t, HeadParser{}, raw)
	want := map[string]string{
		"host": string(r.Host), "https://evil.example": string(r.Origin), "k": string(r.WSKey), "13": string(r.WSVersion),
		"chat, superchat": string(r.WSProtocol), "permessage-deflate": string(r.WSExtensions),
		"POST": string(r.ACRequestMethod), "content-type": string(r.ACRequestHeaders), "websocket": string(r.UpgradeHeader),
		"application/octet-stream": string(r.ContentType),
	}
	want["h"] = want["host"]
	delete(want, "host")
	for w, got := range want {
		if got != w {
			t.Errorf("field = %q, want %q\n%s", got, w, describe(r))
		}
	}
	if r.Upgrade {
		t.Error("Upgrade without Connection: upgrade")
	}
}

// TestRequestHeaderMixedCaseName: Request.Header promised a case-insensitive
// lookup but only folded the field name, so Header("Content-Type") was nil.
func TestRequestHeaderMixedCaseName(t *testing.T) {
	r := parseOnce(t, HeadParser{}, "GET / HTTP/1.1\r\nContent-Type: text/plain\r\nX-Custom:  v1 \r\nx-custom: v2\r\nEmpty:\r\n\r\n")
	for _, name := range []string{"content-type", "Content-Type", "CONTENT-TYPE", "cOnTeNt-TyPe"} {
		if got := r.Header(name); string(got) != "text/plain" {
			t.Errorf("Header(%q) = %q", name, got)
		}
	}
	if got := r.Header("X-CUSTOM"); string(got) != "v1" {
		t.Errorf("first of repeated header = %q, want v1", got)
	}
	if got := r.Header("empty"); got == nil || len(got) != 0 {
		t.Errorf("empty value = %#v, want non-nil empty", got)
	}
	if got := r.Header("missing"); got != nil {
		t.Errorf("missing header = %q", got)
	}
	if got := r.Header("content-typ"); got != nil {
		t.Errorf("prefix match = %q", got)
	}
	if !EqualFold([]byte("WebSocket"), "websocket") || !EqualFold([]byte("websocket"), "WebSocket") || EqualFold([]byte("websocket!"), "websocket") {
		t.Error("EqualFold")
	}
	// Only ASCII letters fold: '@' (0x40) and '`' (0x60) are not a case pair.
	if EqualFold([]byte("@"), "`") || EqualFold([]byte("["), "{") {
		t.Error("EqualFold folds non-letters")
	}
}

func TestHeadParserConnection(t *testing.T) {
	tests := []struct {
		name           string
		minor          string
		headers        string
		upgrade, close bool
	}{
		{"plain 1.1", "1", "", false, false},
		{"upgrade websocket", "1", "Connection: Upgrade\r\nUpgrade: websocket\r\n", true, false},
		{"upgrade before connection", "1", "Upgrade: WebSocket\r\nConnection: upgrade\r\n", true, false},
		{"keep-alive, Upgrade", "1", "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n", true, false},
		{"list with spaces", "1", "Connection: foo ,  Upgrade  , bar\r\nUpgrade: h2c, websocket\r\n", true, false},
		{"two connection headers", "1", "Connection: keep-alive\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n", true, false},
		{"upgrade h2c", "1", "Connection: Upgrade\r\nUpgrade: h2c\r\n", false, false},
		{"upgrade foo", "1", "Connection: Upgrade\r\nUpgrade: foo\r\n", false, false},
		{"upgrade header only", "1", "Upgrade: websocket\r\n", false, false},
		{"connection only", "1", "Connection: Upgrade\r\n", false, false},
		{"websocket as substring", "1", "Connection: Upgrade\r\nUpgrade: websockets\r\n", false, false},
		{"upgrade as substring", "1", "Connection: Upgraded\r\nUpgrade: websocket\r\n", false, false},
		{"HTTP/1.0", "0", "", false, true},
		{"HTTP/1.0 keep-alive", "0", "Connection: keep-alive\r\n", false, false},
		{"HTTP/1.0 keep-alive and close", "0", "Connection: keep-alive, close\r\n", false, true},
		{"Connection: close", "1", "Connection: close\r\n", false, true},
		{"Connection: CLOSE", "1", "Connection: CLOSE\r\n", false, true},
		{"close and upgrade", "1", "Connection: Upgrade, close\r\nUpgrade: websocket\r\n", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseOnce(t, HeadParser{}, "GET /socket.io/?EIO=4&transport=websocket HTTP/1."+tt.minor+"\r\nHost: x\r\n"+tt.headers+"\r\n")
			if r.Upgrade != tt.upgrade || r.Close != tt.close {
				t.Errorf("Upgrade=%v Close=%v, want %v %v", r.Upgrade, r.Close, tt.upgrade, tt.close)
			}
			if want := map[string]int{"0": 0, "1": 1}[tt.minor]; r.Minor != want {
				t.Errorf("Minor = %d", r.Minor)
			}
		})
	}
	r := parseOnce(t, HeadParser{}, wsUpgradeGET)
	if !r.Upgrade || string(r.WSKey) != "dGhlIHNhbXBsZSBub25jZQ==" || string(r.WSVersion) != "13" ||
		string(r.WSExtensions) != "permessage-deflate; client_max_window_bits" {
		t.Errorf("ws upgrade: %s", describe(r))
	}
}

// TestHeadParserSkipsSeveralLeadingEmptyLines: a terminator search that
// started at byte 0 took "\r\n\r\n" before the request line for the end of
// an empty head, so a request preceded by two CRLFs was rejected.
func TestHeadParserSkipsSeveralLeadingEmptyLines(t *testing.T) {
	for _, lead := range []string{"\r\n", "\r\n\r\n", "\n\n", "\r\n\n\r\n", strings.Repeat("\r\n", 100)} {
		raw := lead + "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n"
		r := parseOnce(t, HeadParser{}, raw)
		if string(r.Method) != "GET" || string(r.Host) != "x" || r.HeadLen != len(raw) {
			t.Errorf("lead %q: %s", lead, describe(r))
		}
	}
	// Leading empty lines count towards the head limit.
	var r Request
	p := HeadParser{MaxHeaderBytes: 64}
	if _, err := p.Parse([]byte(strings.Repeat("\r\n", 33)), &r); err != ErrHeaderTooLarge {
		t.Errorf("66 bytes of CRLF with a 64-byte cap: %v", err)
	}
	p = HeadParser{MaxHeaderBytes: 64}
	if _, err := p.Parse([]byte(strings.Repeat("\r\n", 30)+"GET / HTTP/1.1\r\n\r\n"), &r); err != ErrHeaderTooLarge {
		t.Errorf("60 bytes of CRLF + a head with a 64-byte cap: %v", err)
	}
}

func TestHeadParserLFOnly(t *testing.T) {
	raw := "GET /socket.io/?EIO=4 HTTP/1.1\nHost: x\nConnection: Upgrade\nUpgrade: websocket\n\nBODY"
	r := parseOnce(t, HeadParser{}, raw)
	if !r.Upgrade || string(r.Host) != "x" || r.HeadLen != len(raw)-4 {
		t.Errorf("LF only: %s", describe(r))
	}
	// Mixed endings: CRLF lines closed by a bare LF, and LF lines closed by CRLF.
	for _, raw := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\n", "GET / HTTP/1.1\nHost: x\n\r\n"} {
		r := parseOnce(t, HeadParser{}, raw)
		if string(r.Host) != "x" || r.HeadLen != len(raw) {
			t.Errorf("%q: %s", raw, describe(r))
		}
	}
}

// headMustFail are heads every parser must refuse, with the error and the
// HTTP status the server answers. They seed FuzzHeadParser as well.
var headMustFail = []struct {
	name    string
	raw     string
	wantErr error
	status  int
}{
	{"empty request line", "\r\nHost: x\r\n\r\n", ErrBadRequest, 400},
	{"no target", "GET HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"no version", "GET /\r\n\r\n", ErrBadRequest, 400},
	{"two spaces", "GET  / HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"leading space", " GET / HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"trailing space", "GET / HTTP/1.1 \r\n\r\n", ErrBadRequest, 400},
	{"space in target", "GET /a b HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"tab in target", "GET /a\tb HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"DEL in target", "GET /a\x7fb HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"NUL in target", "GET /a\x00 HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"method with parenthesis", "G(T / HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"method with slash", "GE/T / HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"method with high byte", "G\xc3\xa9T / HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"method with NUL", "GE\x00T / HTTP/1.1\r\n\r\n", ErrBadRequest, 400},
	{"lower-case protocol", "GET / http/1.1\r\n\r\n", ErrBadRequest, 400},
	{"HTTP/1", "GET / HTTP/1\r\n\r\n", ErrBadRequest, 400},
	{"HTTP/1.10", "GET / HTTP/1.10\r\n\r\n", ErrBadRequest, 400},
	{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", ErrBadRequest, 400},
	{"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", ErrUnsupportedVersion, 505},
	{"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", ErrUnsupportedVersion, 505},
	{"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", ErrUnsupportedVersion, 505},
	{"HTTP/1.x", "GET / HTTP/1.x\r\n\r\n", ErrUnsupportedVersion, 505},
	{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ErrUnsupportedVersion, 505},
	{"obs-fold space", "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", ErrBadRequest, 400},
	{"obs-fold tab", "GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", ErrBadRequest, 400},
	{"space before first header", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", ErrBadRequest, 400},
	{"header without colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", ErrBadRequest, 400},
	{"empty header name", "GET / HTTP/1.1\r\n: x\r\n\r\n", ErrBadRequest, 400},
	{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", ErrBadRequest, 400},
	{"tab before colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", ErrBadRequest, 400},
	{"high byte in name", "GET / HTTP/1.1\r\nH\xc3\xb6st: x\r\n\r\n", ErrBadRequest, 400},
	{"bare CR in name", "GET / HTTP/1.1\r\nHo\rst: x\r\n\r\n", ErrBadRequest, 400},
	{"NUL in value", "GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", ErrBadRequest, 400},
	{"bare CR in value", "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", ErrBadRequest, 400},
	{"ESC in value", "GET / HTTP/1.1\r\nX-A: \x1b[31m\r\n\r\n", ErrBadRequest, 400},
	{"DEL in value", "GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n", ErrBadRequest, 400},
	{"record separator in value", "GET / HTTP/1.1\r\nX-A: a\x1eb\r\n\r\n", ErrBadRequest, 400},
	{"duplicate differing Content-Length", "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", ErrBadContentLength, 400},
	{"Content-Length list", "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", ErrBadContentLength, 400},
	{"Content-Length plus", "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", ErrBadContentLength, 400},
	{"Content-Length minus", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", ErrBadContentLength, 400},
	{"Content-Length letters", "POST / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n", ErrBadContentLength, 400},
	{"Content-Length hex", "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", ErrBadContentLength, 400},
	{"Content-Length empty", "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", ErrBadContentLength, 400},
	{"Content-Length inner space", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", ErrBadContentLength, 400},
	{"Content-Length 19 digits", "POST / HTTP/1.1\r\nContent-Length: 1000000000000000000\r\n\r\n", ErrBadContentLength, 400},
	{"Content-Length 19 zeros", "POST / HTTP/1.1\r\nContent-Length: 0000000000000000000\r\n\r\n", ErrBadContentLength, 400},
	{"Content-Length overflow", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", ErrBadContentLength, 400},
	{"Transfer-Encoding gzip", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", ErrUnsupportedTE, 501},
	{"Transfer-Encoding gzip, chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ErrUnsupportedTE, 501},
	{"Transfer-Encoding chunked twice", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrUnsupportedTE, 501},
	{"Transfer-Encoding identity", "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", ErrUnsupportedTE, 501},
	{"Transfer-Encoding empty", "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", ErrUnsupportedTE, 501},
	{"chunked then Content-Length", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", ErrBadRequest, 400},
	{"Content-Length then chunked", "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ErrBadRequest, 400},
}

func TestHeadParserMustFail(t *testing.T) {
	for _, tt := range headMustFail {
		t.Run(tt.name, func(t *testing.T) {
			var p HeadParser
			var r Request
			done, err := p.Parse([]byte(tt.raw), &r)
			if err != tt.wantErr {
				t.Errorf("Parse(%q) = %v, %v; want %v", tt.raw, done, err, tt.wantErr)
			}
			if done {
				t.Errorf("done with an error")
			}
			if got := Status(err); got != tt.status {
				t.Errorf("Status(%v) = %d, want %d", err, got, tt.status)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	want := map[error]int{
		ErrHeaderTooLarge: 431, ErrTooManyHeaders: 431, ErrBadRequest: 400, ErrBadContentLength: 400,
		ErrUnsupportedVersion: 505, ErrUnsupportedTE: 501, ErrInvalidPacket: 400, nil: 400,
	}
	for err, code := range want {
		if got := Status(err); got != code {
			t.Errorf("Status(%v) = %d, want %d", err, got, code)
		}
	}
}

// TestHeadParserHeaderTooLarge: without a terminator the parser fails as soon
// as the buffer exceeds the cap, not when the head ends.
func TestHeadParserHeaderTooLarge(t *testing.T) {
	const max = 1024
	head := "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 4*max)
	var p HeadParser
	p.MaxHeaderBytes = max
	var r Request
	for i := 1; i <= len(head); i++ {
		done, err := p.Parse([]byte(head[:i]), &r)
		if done {
			t.Fatalf("done at %d", i)
		}
		if i <= max && err != nil {
			t.Fatalf("error %v at %d bytes, within the cap", err, i)
		}
		if i > max {
			if err != ErrHeaderTooLarge {
				t.Fatalf("at %d bytes (cap %d): %v, want ErrHeaderTooLarge", i, max, err)
			}
			break
		}
	}

	// A terminator found beyond the cap is too large as well, even in one call.
	p = HeadParser{MaxHeaderBytes: max}
	if _, err := p.Parse([]byte(head+"\r\n\r\n"), &r); err != ErrHeaderTooLarge {
		t.Errorf("complete oversized head: %v", err)
	}
	// A head of exactly the cap is fine, and body bytes after it do not count.
	exact := "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", max-len("GET / HTTP/1.1\r\nX: \r\n\r\n")) + "\r\n\r\n"
	p = HeadParser{MaxHeaderBytes: max}
	if done, err := p.Parse([]byte(exact+strings.Repeat("b", 10*max)), &r); !done || err != nil || r.HeadLen != max {
		t.Errorf("head of exactly the cap: %v, %v, HeadLen %d", done, err, r.HeadLen)
	}

	// Default cap (16 KiB) and a 64 KB single header (CVE-2024-37890 row).
	big := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Big: " +
		strings.Repeat("x", 64<<10) + "\r\n\r\n"
	p = HeadParser{}
	if _, err := p.Parse([]byte(big), &r); err != ErrHeaderTooLarge || Status(err) != 431 {
		t.Errorf("64 KB header: %v", err)
	}
	p = HeadParser{}
	if _, err := p.Parse([]byte(big[:16<<10]), &r); err != nil {
		t.Errorf("16 KiB prefix of a 64 KB header: %v", err)
	}
	if _, err := p.Parse([]byte(big[:16<<10+1]), &r); err != ErrHeaderTooLarge {
		t.Errorf("16 KiB + 1 prefix of a 64 KB header: %v", err)
	}
}

// manyHeaders builds a head with n filler fields and the upgrade fields at
// position at (0 = before all of them, n = after all of them).
func manyHeaders(n, at int) string {
	var b strings.Builder
	b.WriteString("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n")
	for i := 0; i <= n; i++ {
		if i == at {
			b.WriteString("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
		}
		if i < n {
			fmt.Fprintf(&b, "X-H%d: v\r\n", i)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestHeadParserTooManyHeaders is the CVE-2024-37890 row: more fields than
// the cap, with Upgrade before or after the cut, is an error, never a
// half-parsed request.
func TestHeadParserTooManyHeaders(t *testing.T) {
	for _, n := range []int{2001, 5000} {
		for _, at := range []int{0, 1000, 1999, n} {
			raw := manyHeaders(n, at)
			p := HeadParser{MaxHeaderBytes: 1 << 20, MaxHeaders: 2000}
			var r Request
			done, err := p.Parse([]byte(raw), &r)
			if done || err != ErrTooManyHeaders || Status(err) != 431 {
				t.Errorf("%d headers, upgrade at %d: %v, %v", n, at, done, err)
			}
			// With the default limits the same heads are refused as well.
			p = HeadParser{}
			if _, err := p.Parse([]byte(raw), &r); err != ErrTooManyHeaders && err != ErrHeaderTooLarge {
				t.Errorf("%d headers with default limits: %v", n, err)
			}
		}
	}
	// Exactly the cap is accepted (3 upgrade fields + 1997 fillers).
	p := HeadParser{MaxHeaderBytes: 1 << 20, MaxHeaders: 2000}
	var r Request
	if done, err := p.Parse([]byte(manyHeaders(1997, 1997)), &r); !done || err != nil || !r.Upgrade || len(r.Headers) != 2000 {
		t.Errorf("2000 headers: %v, %v, upgrade=%v, %d headers", done, err, r.Upgrade, len(r.Headers))
	}
	// Default MaxHeaders is 100.
	p = HeadParser{}
	if _, err := p.Parse([]byte(manyHeaders(98, 0)), &r); err != ErrTooManyHeaders {
		t.Errorf("101 headers with the default cap: %v", err)
	}
	p = HeadParser{}
	if done, err := p.Parse([]byte(manyHeaders(97, 0)), &r); !done || err != nil {
		t.Errorf("100 headers with the default cap: %v, %v", done, err)
	}
}

// listHead builds an upgrade head whose list-valued fields hold n bytes of
// separators (the ws ReDoS input "b" + " "*n + "x", and commas).
func listHead(n int) []byte {
	spaces := strings.Repeat(" ", n)
	commas := strings.Repeat(", ", n/2)
	return []byte("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n" +
		"Connection: Upgrade" + commas + "\r\n" +
		"Upgrade: websocket" + commas + "\r\n" +
		"Sec-WebSocket-Protocol: b" + spaces + "x\r\n" +
		"Sec-WebSocket-Protocol: " + commas + "x\r\n" +
		"Sec-WebSocket-Extensions: b" + spaces + "x\r\n" +
		"X-Ext: " + commas + "\r\n\r\n")
}

// TestHeadParserListValuesLinear is the CVE-2021-32640 row: 32k spaces and
// commas in list headers parse in linear time. The bound compares 32 KB with
// 4 KB (8x the input) against a generous 20x, so it holds on slow machines
// and under -race.
func TestHeadParserListValuesLinear(t *testing.T) {
	measure := func(buf []byte) time.Duration {
		best := time.Duration(1 << 62)
		for rep := 0; rep < 15; rep++ {
			start := time.Now()
			for k := 0; k < 20; k++ {
				p := HeadParser{MaxHeaderBytes: 1 << 20}
				var r Request
				if done, err := p.Parse(buf, &r); !done || err != nil || !r.Upgrade {
					t.Fatalf("list head of %d bytes: %v, %v, upgrade=%v", len(buf), done, err, r.Upgrade)
				}
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	small, large := listHead(4<<10), listHead(32<<10)
	measure(large) // warm up
	ts, tl := measure(small), measure(large)
	if ts == 0 {
		ts = 1
	}
	if ratio := float64(tl) / float64(ts); ratio >= 20 {
		t.Errorf("32 KB took %v, 4 KB took %v: ratio %.1f, want < 20 (not linear)", tl, ts, ratio)
	} else {
		t.Logf("32 KB %v, 4 KB %v, ratio %.1f", tl, ts, ratio)
	}
	// With the default 16 KiB cap the 32 KB head is refused, not parsed.
	var p HeadParser
	var r Request
	if _, err := p.Parse(large, &r); err != ErrHeaderTooLarge {
		t.Errorf("32 KB list head with the default cap: %v", err)
	}
}

// TestHeadParserExtensionValues is the ws 3.3.1 row: Object.prototype names
// and odd parameters in Sec-WebSocket-Extensions are just bytes here.
func TestHeadParserExtensionValues(t *testing.T) {
	values := []string{
		"hasOwnProperty, toString",
		"foo; constructor",
		"__proto__",
		"constructor; __proto__=1, toString; valueOf",
		"permessage-deflate; client_max_window_bits=99",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate;" + strings.Repeat(" p=1;", 1000),
		";;;,,,;=;=,",
		"",
	}
	for _, v := range values {
		raw := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
			"Sec-WebSocket-Extensions: " + v + "\r\nSec-WebSocket-Protocol: " + v + "\r\n\r\n"
		r := parseOnce(t, HeadParser{}, raw)
		if string(r.WSExtensions) != strings.TrimSpace(v) || string(r.WSProtocol) != strings.TrimSpace(v) || !r.Upgrade {
			t.Errorf("%q: %s", v, describe(r))
		}
	}
	// Transport names from CVE-2023-31125 are ordinary query bytes for the codec.
	for _, tr := range []string{"__proto__", "constructor", "toString", "", "abc"} {
		r := parseOnce(t, HeadParser{}, "GET /engine.io/?EIO=4&transport="+tr+" HTTP/1.1\r\n\r\n")
		if v, ok := QueryValue(r.RawQuery, "transport"); !ok || string(v) != tr {
			t.Errorf("transport=%q: %q, %v", tr, v, ok)
		}
	}
}

// splitHeads are heads (good and bad) for the split-at-every-offset tests.
var splitHeads = []string{
	pollingGET,
	wsUpgradeGET,
	"GET / HTTP/1.0\n\n",
	"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
	"\n\r\nGET /x HTTP/1.1\nHost: a\n\n",
	"GET / HTTP/1.1\r\nA: b\r\n\n",
	"GET / HTTP/1.1\nA: b\n\r\n",
	"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
	"GET / HTTP/2.0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
	"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
	"\r\n\r\n\r\n\r\n",
	manyHeaders(150, 0),
}

type parseResult struct {
	at   int // length of the input at which Parse reported done or an error
	done bool
	err  error
	req  string
}

func oneShot(p HeadParser, buf []byte) parseResult {
	var r Request
	done, err := p.Parse(buf, &r)
	res := parseResult{at: len(buf), done: done, err: err}
	if done {
		res.req = describe(&r)
	}
	return res
}

// growing feeds buf[:i] for i = 1..len(buf) to one parser without Reset, as
// a server does when bytes trickle in, and stops at the first result.
func growing(p HeadParser, buf []byte) parseResult { return growingStep(p, buf, 1) }

// growingStep is growing with step bytes arriving at a time.
func growingStep(p HeadParser, buf []byte, step int) parseResult {
	var r Request
	for i := 0; ; i += step {
		i = min(i, len(buf))
		done, err := p.Parse(buf[:i], &r)
		if done || err != nil {
			res := parseResult{at: i, done: done, err: err}
			if done {
				res.req = describe(&r)
			}
			return res
		}
		if i == len(buf) {
			return parseResult{at: len(buf)}
		}
	}
}

func TestHeadParserByteAtATime(t *testing.T) {
	for _, raw := range splitHeads {
		buf := []byte(raw)
		want := oneShot(HeadParser{}, buf)
		got := growing(HeadParser{}, buf)
		if got != want {
			t.Errorf("%q\nbyte at a time: %+v\none shot:       %+v", raw, got, want)
		}
		// Every one of these heads is complete only at its last byte.
		if (want.done || want.err != nil) && got.at != len(buf) {
			t.Errorf("%q: finished at %d of %d bytes", raw, got.at, len(buf))
		}
	}
}

// TestHeadParserResumesScan asserts the parser's state byte by byte: each
// call resumes where the last stopped (so a trickled head costs linear work)
// and the leading CR/LF run is measured once.
func TestHeadParserResumesScan(t *testing.T) {
	raw := []byte("\r\n\r\n" + pollingGET)
	var p HeadParser
	var r Request
	for i := 0; i < len(raw); i++ {
		done, err := p.Parse(raw[:i], &r)
		if done || err != nil {
			t.Fatalf("at %d: %v, %v", i, done, err)
		}
		if int(p.scanned) != i {
			t.Fatalf("at %d: scanned = %d", i, p.scanned)
		}
		if want := min(i, 4); int(p.lead) != want {
			t.Fatalf("at %d: lead = %d, want %d", i, p.lead, want)
		}
	}
	if done, err := p.Parse(raw, &r); !done || err != nil || r.HeadLen != len(raw) {
		t.Fatalf("complete: %v, %v, HeadLen %d", done, err, r.HeadLen)
	}
	p.Reset()
	if p.scanned != 0 || p.lead != 0 {
		t.Errorf("Reset left scanned=%d lead=%d", p.scanned, p.lead)
	}
}

func TestHeadParserSplitEveryOffset(t *testing.T) {
	for _, raw := range splitHeads {
		buf := []byte(raw)
		want := oneShot(HeadParser{}, buf)
		for k := 0; k < len(buf); k++ {
			var p HeadParser
			var r Request
			done, err := p.Parse(buf[:k], &r)
			if done || err != nil {
				t.Fatalf("%q: prefix of %d bytes gave %v, %v", raw, k, done, err)
			}
			done, err = p.Parse(buf, &r)
			got := parseResult{at: len(buf), done: done, err: err}
			if done {
				got.req = describe(&r)
			}
			if got != want {
				t.Errorf("%q split at %d\ngot  %+v\nwant %+v", raw, k, got, want)
			}
		}
	}
}

// TestHeadParserPipelined feeds two pipelined requests one byte at a time, as
// a server loop would: parse, consume HeadLen (and the body), Reset, go on.
func TestHeadParserPipelined(t *testing.T) {
	pipelines := [][]string{
		{pollingGET, wsUpgradeGET},
		{"GET /a HTTP/1.1\r\n\r\n", "\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n"},
		{"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nContent-Length: 6\r\n\r\n4hello", "GET /c HTTP/1.1\nX: y\n\n"},
	}
	for _, heads := range pipelines {
		buf := []byte(strings.Join(heads, ""))
		var want []parseResult
		var ends []int
		end := 0
		for _, h := range heads {
			// The expected result parses the head alone, shifted to its offset.
			res := oneShot(HeadParser{}, []byte(h))
			var r Request
			var p HeadParser
			p.Parse([]byte(h), &r)
			end += r.HeadLen
			res.at = end
			want = append(want, res)
			end += max(int(r.ContentLength), 0)
			ends = append(ends, end)
		}

		var got []parseResult
		var p HeadParser
		var r Request
		off := 0
		for i := 1; i <= len(buf); i++ {
			if i <= off {
				continue // still receiving a body
			}
			done, err := p.Parse(buf[off:i], &r)
			if err != nil {
				t.Fatalf("%q: error %v at %d", heads, err, i)
			}
			if done {
				if err := requestWithin(buf[off:i], &r); err != nil {
					t.Fatal(err)
				}
				got = append(got, parseResult{at: off + r.HeadLen, done: true, req: describe(&r)})
				if off+r.HeadLen != i {
					t.Errorf("%q: done at %d but the head ends at %d", heads, i, off+r.HeadLen)
				}
				off += r.HeadLen + max(int(r.ContentLength), 0)
				p.Reset()
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d heads, want %d", heads, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%q head %d\ngot  %+v\nwant %+v", heads, i, got[i], want[i])
			}
		}
		if off != len(buf) || off != ends[len(ends)-1] {
			t.Errorf("%q: consumed %d of %d", heads, off, len(buf))
		}
	}
}

func TestQueryValue(t *testing.T) {
	tests := []struct {
		query, key string
		want       string
		ok         bool
	}{
		{"EIO=4&transport=polling&t=NZx", "EIO", "4", true},
		{"EIO=4&transport=polling&t=NZx", "transport", "polling", true},
		{"EIO=4&transport=polling&t=NZx", "t", "NZx", true},
		{"EIO=4&transport=polling&t=NZx", "sid", "", false},
		{"EIO=4&transport=websocket&sid=IKKi", "sid", "IKKi", true},
		{"EIO=4&sid=&transport=polling", "sid", "", true},
		{"sid=a&sid=b", "sid", "a", true},
		{"transport=polling&transport=websocket", "transport", "polling", true},
		{"EIO&transport=polling", "EIO", "", true},
		{"transport=polling&EIO", "EIO", "", true},
		{"EIO=4=5", "EIO", "4=5", true},
		{"eio=4", "EIO", "", false},
		{"EIOX=4", "EIO", "", false},
		{"XEIO=4", "EIO", "", false},
		{"&&EIO=4&&", "EIO", "4", true},
		{"", "EIO", "", false},
		{"=4", "", "4", true},
		{"transport=__proto__", "transport", "__proto__", true},
		{"transport=%70olling", "transport", "%70olling", true}, // not decoded
		{"a=1;EIO=4", "EIO", "", false},
	}
	for _, tt := range tests {
		q := []byte(tt.query)
		v, ok := QueryValue(q, tt.key)
		if ok != tt.ok || string(v) != tt.want {
			t.Errorf("QueryValue(%q, %q) = %q, %v; want %q, %v", tt.query, tt.key, v, ok, tt.want, tt.ok)
		}
		if ok && v == nil {
			t.Errorf("QueryValue(%q, %q): present but nil", tt.query, tt.key)
		}
		if !ok && v != nil {
			t.Errorf("QueryValue(%q, %q): absent but non-nil", tt.query, tt.key)
		}
		if !within(q, v) {
			t.Errorf("QueryValue(%q, %q): value not borrowed", tt.query, tt.key)
		}
	}
}

func TestDuplicateHostIsBadRequest(t *testing.T) {
	var p HeadParser
	var r Request
	_, err := p.Parse([]byte("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), &r)
	if err != ErrBadRequest {
		t.Fatalf("duplicate Host: got %v, want ErrBadRequest", err)
	}
}

func TestPickedHeadersKeepFirstValueLikeHeader(t *testing.T) {
	var p HeadParser
	var r Request
	done, err := p.Parse([]byte("GET / HTTP/1.1\r\nOrigin: https://a.example\r\norigin: https://evil.example\r\n\r\n"), &r)
	if !done || err != nil {
		t.Fatal(done, err)
	}
	if string(r.Origin) != "https://a.example" || string(r.Header("Origin")) != string(r.Origin) {
		t.Fatalf("Origin=%q Header=%q, want the first value in both", r.Origin, r.Header("Origin"))
	}
}
