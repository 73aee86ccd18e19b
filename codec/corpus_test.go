package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// The fuzz seed corpus under testdata/fuzz/<Target>/seed-* is generated from
// the vectors below: real wire strings (PROTOCOL.md) and the hostile inputs of
// BAD-INPUTS.md §1a-1e that reach the codec (the Socket.IO and JSON vectors
// live in sio_test.go and json_test.go). Regenerate it with
//
//	SIO_WRITE_CORPUS=1 go test -run '^TestSeedCorpus$' ./codec
//
// Files without the seed- prefix are crashers the fuzzer found; keep them.

type seed struct {
	name string
	args []any // the fuzz target's arguments, in order
}

func fuzzSeeds() map[string][]seed {
	return map[string][]seed{
		"FuzzDecodeText":        decodeTextSeeds(),
		"FuzzPayloadReader":     payloadSeeds(),
		"FuzzHeadParser":        headSeeds(),
		"FuzzFrameHeader":       frameSeeds(),
		"FuzzParseClosePayload": closeSeeds(),
		"FuzzDecodeSIO":         sioSeeds(),
		"FuzzJSONScanner":       jsonSeeds(),
	}
}

func decodeTextSeeds() []seed {
	var s []seed
	for i, v := range textVectors {
		s = append(s, seed{fmt.Sprintf("vector-%02d", i), []any{[]byte(v.wire)}})
	}
	for name, in := range map[string]string{
		"empty": "", "abc": "abc", "type-7": "7", "type-9": "9", "high-byte": "\x80", "ff-4": "\xff4hello",
		"b64": "bAQIDBA==", "separator": "\x1e", "nul": "\x00",
		"invalid-utf8-message": "4\xff\xfe\xfd", "sio-event-no-args": "42[]", "sio-open-bracket": "42[",
		"sio-unterminated": `42["a"`, "sio-connect-ns": "40/unknown,", "sio-bad-ack": `42abc["message-with-ack",1,"2",{"3":[false]}]`,
		"sio-attachments": `451-["hello",{"_placeholder":true,"num":"splice"}]`, "sio-digits": "42" + strings.Repeat("9", 4096),
		"sio-event-tostring": `42[{"toString":"foo"}]`, "sio-reserved-event": `42["error"]`,
		"close-over-ws": "1", "client-ping": "2", "upgrade": "5",
	} {
		s = append(s, seed{name, []any{[]byte(in)}})
	}
	return s
}

func payloadSeeds() []seed {
	var s []seed
	for i, v := range payloadVectors {
		s = append(s, seed{fmt.Sprintf("vector-%02d", i), []any{[]byte(v.wire), len(v.packets)}})
	}
	for name, in := range map[string]struct {
		body string
		max  int
	}{
		"several":            {"4test1\x1e4test2\x1e4test3", 0},
		"text-binary":        {"4hello\x1ebAQIDBA==", 0},
		"welcome":            {`40{"sid":"RolN"}` + "\x1e" + `420["welcome","hi"]`, 16},
		"noop-close":         {"6\x1e1", 0},
		"post-close":         {"1", 0},
		"post-pong":          {"3", 0},
		"abc":                {"abc", 0},
		"empty":              {"", 0},
		"trailing-separator": {"4test1\x1e", 0},
		"leading-separator":  {"\x1e4test1", 0},
		"bad-padding":        {"bAQIDBA=", 0},
		"no-padding":         {"bAQIDBA", 0},
		"padding-inside":     {"bAQ==AQID", 0},
		"newline-in-base64":  {"bAQID\nBA==", 0},
		"type-7":             {"7", 0},
		"type-9":             {"4a\x1e9", 0},
		"empty-binary":       {"b", 0},
		"invalid-utf8":       {"4\xff\xfe\x1e4ok", 0},
		"10k-separators":     {strings.Repeat("\x1e", 10_000), 1000},
		"100k-packets-cap":   {"4" + strings.Repeat("\x1e4", 100_000), 1000},
		"over-cap":           {"4a\x1e4b\x1e4c", 2},
		"negative-cap":       {"4a\x1e4b", -1},
	} {
		s = append(s, seed{name, []any{[]byte(in.body), in.max}})
	}
	return s
}

func headSeeds() []seed {
	type h struct {
		raw        string
		maxBytes   uint32
		maxHeaders uint16
	}
	heads := map[string]h{}
	for i, raw := range splitHeads {
		heads[fmt.Sprintf("split-%02d", i)] = h{raw, 0, 0}
	}
	for i, tt := range headMustFail {
		heads[fmt.Sprintf("fail-%02d", i)] = h{tt.raw, 0, 0}
	}
	get := func(query string, extra string) string {
		return "GET /engine.io/?" + query + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n"
	}
	upgrade := "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	// CVE-2023-31125 and the other transport/EIO rows, over polling and upgrade.
	for _, q := range []string{
		"EIO=4&transport=__proto__", "EIO=4&transport=constructor", "EIO=4&transport=toString", "EIO=4&transport=",
		"EIO=4&transport=abc", "EIO=4&transport=polling&transport=websocket", "EIO=3&transport=polling",
		"EIO=5&transport=polling", "EIO=abc&transport=polling", "transport=polling", "EIO=4",
		"EIO=4&transport=polling&sid=guessedSID00000000000", "EIO=4&transport=polling&j=0&b64=1",
	} {
		heads["poll-"+q] = h{get(q, ""), 0, 0}
		heads["ws-"+q] = h{get(q, upgrade), 0, 0}
	}
	// CVE-2022-41940 / engine.io#658.
	heads["upgrade-h2c"] = h{get("EIO=4&transport=websocket", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"), 0, 0}
	heads["upgrade-foo"] = h{get("EIO=4&transport=websocket", "Connection: Upgrade\r\nUpgrade: foo\r\n"), 0, 0}
	heads["upgrade-no-key"] = h{get("EIO=4&transport=websocket", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"), 0, 0}
	heads["upgrade-long-key"] = h{get("EIO=4&transport=websocket", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "+strings.Repeat("dGhlIHNhbXBsZSBub25jZQ==", 5)+"\r\n"), 0, 0}
	heads["upgrade-no-connection"] = h{get("EIO=4&transport=websocket", "Upgrade: websocket\r\n"), 0, 0}
	// CVE-2020-36048: big and never-ending bodies; the head is what the codec sees.
	post := func(extra, body string) string {
		return "POST /engine.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n" + body
	}
	heads["post-10MB"] = h{post("Content-Length: 10000000\r\nContent-Type: text/plain;charset=UTF-8\r\n", "4aaaa"), 0, 0}
	heads["post-cl1-then-more"] = h{post("Content-Length: 1\r\n", "4"+strings.Repeat("a", 1000)), 0, 0}
	heads["post-chunked-endless"] = h{post("Transfer-Encoding: chunked\r\n", "ffffff\r\n4aaaaaaaaa"), 0, 0}
	heads["post-over-max"] = h{post("Content-Length: 1000001\r\n", ""), 0, 0}
	// CVE-2026-59725.
	heads["post-octet-stream"] = h{post("Content-Type: application/octet-stream\r\nContent-Length: 4\r\n", "\x01\x02\x03\x04"), 0, 0}
	// CVE-2020-28481.
	heads["origin-evil"] = h{get("EIO=4&transport=polling", "Origin: https://evil.example\r\n"), 0, 0}
	heads["origin-evil-ws"] = h{get("EIO=4&transport=websocket", "Origin: https://evil.example\r\n"+upgrade), 0, 0}
	heads["preflight"] = h{"OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n", 0, 0}
	heads["delete-with-sid"] = h{"DELETE /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0}
	heads["put-without-sid"] = h{"PUT /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 0, 0}
	// CVE-2024-37890: header count and size.
	heads["2001-headers-upgrade-first"] = h{manyHeaders(2001, 0), 1 << 20, 2000}
	heads["2001-headers-upgrade-last"] = h{manyHeaders(2001, 2001), 1 << 20, 2000}
	heads["5000-headers-upgrade-first"] = h{manyHeaders(5000, 0), 1 << 20, 2000}
	heads["5000-headers-upgrade-last"] = h{manyHeaders(5000, 5000), 1 << 20, 2000}
	heads["5000-headers-defaults"] = h{manyHeaders(5000, 4000), 0, 0}
	heads["64KB-header"] = h{get("EIO=4&transport=websocket", upgrade+"X-Big: "+strings.Repeat("x", 64<<10)+"\r\n"), 0, 0}
	heads["64KB-header-allowed"] = h{get("EIO=4&transport=websocket", upgrade+"X-Big: "+strings.Repeat("x", 64<<10)+"\r\n"), 1 << 20, 0}
	// CVE-2021-32640: 32k spaces / commas.
	heads["32k-spaces-protocol"] = h{get("EIO=4&transport=websocket", upgrade+"Sec-WebSocket-Protocol: b"+strings.Repeat(" ", 32<<10)+"x\r\n"), 1 << 20, 0}
	heads["32k-commas-extensions"] = h{get("EIO=4&transport=websocket", upgrade+"Sec-WebSocket-Extensions: "+strings.Repeat(", ", 16<<10)+"x\r\n"), 1 << 20, 0}
	heads["32k-commas-connection"] = h{get("EIO=4&transport=websocket", "Connection: "+strings.Repeat(" ,", 16<<10)+"Upgrade\r\nUpgrade: websocket\r\n"), 1 << 20, 0}
	// ws 3.3.1: Object.prototype names in extensions.
	for i, v := range []string{"hasOwnProperty, toString", "foo; constructor", "__proto__", "constructor; __proto__=1",
		"permessage-deflate; client_max_window_bits=99", "permessage-deflate;" + strings.Repeat(" p=1;", 1000)} {
		heads[fmt.Sprintf("extensions-%d", i)] = h{get("EIO=4&transport=websocket", upgrade+"Sec-WebSocket-Extensions: "+v+"\r\n"), 1 << 16, 0}
	}
	// Pipelining and leading empty lines.
	heads["pipelined"] = h{pollingGET + wsUpgradeGET, 0, 0}
	heads["pipelined-post"] = h{post("Content-Length: 6\r\n", "4hello") + pollingGET, 0, 0}
	heads["leading-crlf"] = h{"\r\n\r\n" + pollingGET, 0, 0}
	heads["only-crlf"] = h{strings.Repeat("\r\n", 100), 64, 0}

	var s []seed
	for name, v := range heads {
		s = append(s, seed{name, []any{[]byte(v.raw), uint32(len(v.raw) / 3), v.maxBytes, v.maxHeaders}})
	}
	return s
}

func frameSeeds() []seed {
	mask := []byte{0x37, 0xfa, 0x21, 0x3d}
	masked := func(b0 byte, payload string) []byte {
		var buf bytes.Buffer
		p := []byte(payload)
		var m [4]byte
		copy(m[:], mask)
		ws.Cipher(p, m, 0)
		ws.WriteHeader(&buf, ws.Header{Fin: b0&0x80 != 0, Rsv: (b0 >> 4) & 7, OpCode: ws.OpCode(b0 & 0xf), Masked: true, Mask: m, Length: int64(len(p))})
		buf.Write(p)
		return buf.Bytes()
	}
	frames := map[string]struct {
		b          []byte
		max        int64
		fragmented bool
	}{
		"2probe":                 {masked(0x81, "2probe"), 1e6, false},
		"5":                      {masked(0x81, "5"), 1e6, false},
		"message":                {masked(0x81, `42["thanks"]`), 1e6, false},
		"binary-16bit":           {masked(0x82, strings.Repeat("b", 300)), 1e6, false},
		"close-1000":             {masked(0x88, "\x03\xe8bye"), 1e6, false},
		"close-1-byte":           {masked(0x88, "\x03"), 1e6, false},
		"ping-126":               {masked(0x89, strings.Repeat("p", 126)), 1e6, false},
		"ping-no-fin":            {masked(0x09, ""), 1e6, false},
		"rsv2-rsv3":              {append([]byte{0xB1, 0x80}, mask...), 1e6, false},
		"rsv1":                   {append([]byte{0xD1, 0x80}, mask...), 1e6, false},
		"unmasked":               {[]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}, 1e6, false},
		"continuation-no-start":  {masked(0x80, "x"), 1e6, false},
		"text-inside-fragmented": {masked(0x81, "x"), 1e6, true},
		"fin0-text":              {masked(0x01, "a"), 1e6, false},
		"1-byte-continuation":    {masked(0x00, "a"), 1e6, true},
		"0-byte-continuation":    {masked(0x00, ""), 1e6, true},
		"length-msb":             {[]byte{0x01, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}, 0, false},
		"length-2^40":            {append([]byte{0x81, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0}, mask...), 1e6, false},
		"length-2^62-cont":       {append([]byte{0x00, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0}, mask...), 1e6, true},
		"length-1e6":             {append(binary.BigEndian.AppendUint64([]byte{0x82, 0xFF}, 1e6), mask...), 1e6, false},
		"length-1e6+1":           {append(binary.BigEndian.AppendUint64([]byte{0x82, 0xFF}, 1e6+1), mask...), 1e6, false},
		"non-minimal-16bit":      {append([]byte{0x81, 0xFE, 0, 5}, mask...), 1e6, false},
		"empty":                  {nil, 1e6, false},
		"one-byte":               {[]byte{0x81}, 1e6, false},
		"max-negative":           {masked(0x82, "abc"), -1, false},
	}
	for op := byte(0x3); op <= 0xF; op++ {
		if op < 0x8 || op > 0xA {
			frames[fmt.Sprintf("reserved-op-%X", op)] = struct {
				b          []byte
				max        int64
				fragmented bool
			}{append([]byte{0x80 | op, 0x80}, mask...), 1e6, false}
		}
	}
	var s []seed
	for name, f := range frames {
		s = append(s, seed{name, []any{f.b, f.max, f.fragmented}})
	}
	for i, h := range frameHeaders {
		var b bytes.Buffer
		ws.WriteHeader(&b, h)
		s = append(s, seed{fmt.Sprintf("header-%02d", i), []any{b.Bytes(), int64(0), i%2 == 0}})
	}
	return s
}

func closeSeeds() []seed {
	code := func(c uint16, reason string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, c), reason...)
	}
	var s []seed
	add := func(name string, p []byte) { s = append(s, seed{name, []any{p}}) }
	add("empty", []byte{})
	add("one-byte", []byte{0x03})
	for _, c := range []uint16{0, 999, 1000, 1001, 1002, 1004, 1005, 1006, 1009, 1011, 1012, 1015, 1016, 2999, 3000, 3999, 4000, 4999, 5000, 65535} {
		add(fmt.Sprintf("code-%d", c), code(c, ""))
	}
	add("1000-bye", code(1000, "bye"))
	add("1000-invalid-utf8", code(1000, "\xff\xfe"))
	add("1000-truncated-rune", code(1000, "ab\xe2\x82"))
	add("1000-surrogate", code(1000, "\xed\xa0\x80"))
	add("1009-200-byte-reason", code(1009, "ab"+strings.Repeat("€", 66)))
	add("4999-123-byte-reason", code(4999, strings.Repeat("x", 122)+"é"))
	return s
}

// marshalSeed writes a "go test fuzz v1" file.
func marshalSeed(args []any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case int:
			fmt.Fprintf(&b, "int(%d)\n", v)
		case int64:
			fmt.Fprintf(&b, "int64(%d)\n", v)
		case uint32:
			fmt.Fprintf(&b, "uint32(%d)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		default:
			panic(fmt.Sprintf("marshalSeed: %T", a))
		}
	}
	return b.Bytes()
}

func seedFileName(name string) string {
	var b strings.Builder
	b.WriteString("seed-")
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// TestSeedCorpus checks that the committed seed files match the vectors (or
// rewrites them with SIO_WRITE_CORPUS=1).
func TestSeedCorpus(t *testing.T) {
	write := os.Getenv("SIO_WRITE_CORPUS") == "1"
	for target, seeds := range fuzzSeeds() {
		dir := filepath.Join("testdata", "fuzz", target)
		want := map[string][]byte{}
		for _, sd := range seeds {
			name := seedFileName(sd.name)
			if _, dup := want[name]; dup {
				t.Fatalf("%s: duplicate seed file %s", target, name)
			}
			want[name] = marshalSeed(sd.args)
		}
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
			for _, f := range old {
				if _, keep := want[filepath.Base(f)]; !keep {
					os.Remove(f)
				}
			}
			for name, content := range want {
				if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		for name, content := range want {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(got, content) {
				t.Errorf("%s/%s is missing or stale (regenerate with SIO_WRITE_CORPUS=1): %v", target, name, err)
			}
		}
		files, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		for _, f := range files {
			if _, ok := want[filepath.Base(f)]; !ok {
				t.Errorf("%s has no vector (regenerate with SIO_WRITE_CORPUS=1)", f)
			}
		}
	}
}

// sioSeeds: every Socket.IO packet of PROTOCOL.md §2 (sioVectors), the
// accepted and refused inputs of §2.3 and BAD-INPUTS §1d/§1e, and the same
// rows as Engine.IO wire strings ("4"+packet), which DecodeSIO sees as
// CONNECT_ERROR-typed garbage. Arguments: data, split offset, maxAttachments.
func sioSeeds() []seed {
	var s []seed
	add := func(name, in string, max int) {
		s = append(s, seed{name, []any{[]byte(in), uint32(len(in) / 2), max}})
	}
	for _, v := range sioVectors {
		add("vector-"+v.name, v.enc, 0)
		add("wire-"+v.name, "4"+v.enc, 0)
	}
	for _, v := range sioAccepted {
		add("accepted-"+v.name, v.in, v.max)
	}
	for _, v := range sioMustFail {
		add("fail-"+v.name, v.in, v.max)
	}
	// BAD-INPUTS rows as they arrive on the wire (Engine.IO type included).
	for name, in := range map[string]string{
		"wire-event-no-args": "42[]", "wire-event-no-payload": "42", "wire-empty-message": "4", "wire-ping": "2",
		"wire-open-bracket": "42[", "wire-unterminated": `42["a"`, "wire-tostring": `42[{"toString":"foo"}]`,
		"wire-object": "42{}", "wire-string": `42"x"`, "wire-null-name": "42[null]", "wire-bad-ack": `42abc["message-with-ack",1,"2",{"3":[false]}]`,
		"wire-splice": `451-["hello",{"_placeholder":true,"num":"splice"}]`, "wire-too-many": `45100000-["e"]`,
		"wire-empty-count": "45-[", "wire-zero-attachments": `450-["a"]`, "wire-unknown-nsp": "40/unknown,",
		"wire-random-nsp": "40/random", "wire-reserved": `42["disconnect"]`, "wire-error-event": `42["error"]`,
		"wire-abc": "4abc",
		// §2.2 polling bodies and §2.5 Engine.IO frames around the packets.
		"wire-polling-binary":      `451-["baz",{"_placeholder":true,"num":0}]` + "\x1ebAQIDBA==",
		"wire-polling-attachments": "bAQID\x1ebCQk=",
		"wire-polling-bin-back":    `452-["bin-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		"wire-eio-open":            `0{"sid":"JfAfQ","upgrades":[],"pingInterval":1000,"pingTimeout":500,"maxPayload":1000000}`,
		"wire-heartbeat-pong":      "3",
		"wire-client-ack":          `430["thanks"]`,
		"wire-client-ack-id":       `420["hello","world"]`,
		"wire-admin-connect":       "40/admin,",
	} {
		add(name, in, 0)
	}
	// CVE-2020-36049 and friends, cut to 4 KB (the unit test uses 1 MB).
	digits := strings.Repeat("9", 4096)
	add("digits-ack-id", "2"+digits+`["a"]`, 0)
	add("digits-attachments", "5"+digits+`-["a"]`, 0)
	add("digits-nsp-ack-id", "3/admin,"+digits+"[]", 0)
	add("max-attachments-huge", `5999999-["a",{"_placeholder":true,"num":300}]`, 1<<30)
	add("max-attachments-negative", `51-["a",`+ph(0)+`]`, -1)
	add("placeholder-255", `5256-["a",{"_placeholder":true,"num":255}]`, 300)
	add("placeholder-256", `5300-["a",{"_placeholder":true,"num":256}]`, 300)
	add("deep-event", `2["a",`+strings.Repeat("[", MaxJSONDepth)+strings.Repeat("]", MaxJSONDepth)+`]`, 0)
	return s
}

// jsonSeeds: the scanner tables, the nesting limits, and every Socket.IO
// payload of sioVectors.
func jsonSeeds() []seed {
	var s []seed
	for i, in := range jsonValid {
		s = append(s, seed{fmt.Sprintf("valid-%02d", i), []any{[]byte(in)}})
	}
	for i, in := range jsonInvalid {
		s = append(s, seed{fmt.Sprintf("invalid-%02d", i), []any{[]byte(in)}})
	}
	for _, v := range sioVectors {
		if v.want.data != "" {
			s = append(s, seed{"payload-" + v.name, []any{[]byte(v.want.data)}})
		}
	}
	for name, in := range map[string]string{
		"depth-max-arrays":    nestedArrays(MaxJSONDepth),
		"depth-over-arrays":   nestedArrays(MaxJSONDepth + 1),
		"depth-max-objects":   nestedObjects(MaxJSONDepth),
		"depth-over-objects":  nestedObjects(MaxJSONDepth + 1),
		"depth-open-only":     strings.Repeat("[", 4096),
		"nested-doc":          nestedDoc,
		"invalid-utf8-string": "\"\xff\xfe\"",
		"invalid-utf8-key":    "{\"\xc3\":[\"\xed\xa0\x80\"]}",
		"placeholder-like":    `{"_placeholder":true,"num":0}`,
		"big-number":          "-" + strings.Repeat("9", 400) + ".5e-" + strings.Repeat("9", 50),
	} {
		s = append(s, seed{name, []any{[]byte(in)}})
	}
	return s
}
