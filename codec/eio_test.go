package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// within reports whether s lies inside buf's memory (empty slices always do):
// decoders must hand out borrowed sub-slices, never copies or foreign memory.
func within(buf, s []byte) bool {
	if len(s) == 0 {
		return true
	}
	if len(buf) == 0 {
		return false
	}
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	s0 := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return s0 >= b0 && s0+uintptr(len(s)) <= b0+uintptr(len(buf))
}

// textVectors are shared by the text decoder and encoder tests: wire is what
// AppendText(typ, data) produces and what DecodeText decodes back.
var textVectors = []struct {
	wire string
	typ  PacketType
	data string
}{
	{`0{"sid":"cyqnawj9W8aBsPhKAAAA","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`, PacketOpen,
		`{"sid":"cyqnawj9W8aBsPhKAAAA","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`},
	{"0", PacketOpen, ""},
	{"1", PacketClose, ""},
	{"2", PacketPing, ""},
	{"2probe", PacketPing, "probe"},
	{"3", PacketPong, ""},
	{"3probe", PacketPong, "probe"},
	{"4", PacketMessage, ""},
	{"4hello", PacketMessage, "hello"},
	{`40{"sid":"QBbx"}`, PacketMessage, `0{"sid":"QBbx"}`},
	{`420["welcome","hi"]`, PacketMessage, `20["welcome","hi"]`},
	{"4\xff\xfe", PacketMessage, "\xff\xfe"}, // UTF-8 is not the codec's business
	{"4\x1e", PacketMessage, "\x1e"},
	{"5", PacketUpgrade, ""},
	{"6", PacketNoop, ""},
}

func TestDecodeText(t *testing.T) {
	for _, v := range textVectors {
		in := []byte(v.wire)
		p, err := DecodeText(in)
		if err != nil {
			t.Fatalf("DecodeText(%q): %v", v.wire, err)
		}
		if p.Type != v.typ || p.Binary || string(p.Data) != v.data {
			t.Errorf("DecodeText(%q) = {%v %v %q}, want {%v false %q}", v.wire, p.Type, p.Binary, p.Data, v.typ, v.data)
		}
		if !within(in, p.Data) {
			t.Errorf("DecodeText(%q): Data is not borrowed from the input", v.wire)
		}
	}
}

func TestDecodeTextMustFail(t *testing.T) {
	for _, in := range []string{"", "abc", "7", "9", "/", ":", "b", "bAQIDBA==", " 4", "\x1e", "\x00", "\x80", "\xc3\xa94", "\xff4hello"} {
		p, err := DecodeText([]byte(in))
		if !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("DecodeText(%q) = %+v, %v; want ErrInvalidPacket", in, p, err)
		}
	}
	if _, err := DecodeText(nil); err != ErrInvalidPacket {
		t.Errorf("DecodeText(nil) = %v", err)
	}
}

func TestAppendText(t *testing.T) {
	for _, v := range textVectors {
		got := AppendText(nil, v.typ, []byte(v.data))
		if string(got) != v.wire {
			t.Errorf("AppendText(%v, %q) = %q, want %q", v.typ, v.data, got, v.wire)
		}
		// Appending keeps what dst already holds.
		got = AppendText([]byte("xyz"), v.typ, []byte(v.data))
		if string(got) != "xyz"+v.wire {
			t.Errorf("AppendText with prefix = %q", got)
		}
	}
}

func TestDecodeBinary(t *testing.T) {
	in := []byte{1, 2, 3, 4}
	p := DecodeBinary(in)
	if p.Type != PacketMessage || !p.Binary || !bytes.Equal(p.Data, in) || !within(in, p.Data) {
		t.Errorf("DecodeBinary = %+v", p)
	}
	if p := DecodeBinary(nil); p.Type != PacketMessage || !p.Binary || len(p.Data) != 0 {
		t.Errorf("DecodeBinary(nil) = %+v", p)
	}
}

func TestPacketTypeString(t *testing.T) {
	want := []string{"open", "close", "ping", "pong", "message", "upgrade", "noop", "error", "error"}
	for i, w := range want {
		if got := PacketType(i).String(); got != w {
			t.Errorf("PacketType(%d).String() = %q, want %q", i, got, w)
		}
	}
	if got := PacketType(255).String(); got != "error" {
		t.Errorf("PacketType(255).String() = %q", got)
	}
}

type wantPacket struct {
	typ    PacketType
	binary bool
	data   string
}

// readAll drains r and returns the packets and the error that ended it. It
// fails the test if the reader does not stop within limit calls.
func readAll(t testing.TB, r *PayloadReader, limit int) ([]wantPacket, error) {
	t.Helper()
	var got []wantPacket
	for range limit {
		p, ok, err := r.Next()
		if err != nil {
			if ok {
				t.Fatalf("Next returned ok=true with error %v", err)
			}
			// A reader that failed stays finished.
			if _, ok2, err2 := r.Next(); ok2 || err2 != nil {
				t.Fatalf("Next after error = %v, %v; want false, nil", ok2, err2)
			}
			return got, err
		}
		if !ok {
			return got, nil
		}
		got = append(got, wantPacket{p.Type, p.Binary, string(p.Data)})
	}
	t.Fatalf("PayloadReader did not finish within %d calls", limit)
	return nil, nil
}

func TestPayloadReader(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		max     int
		want    []wantPacket
		wantErr error
	}{
		{"single", "4hello", 0, []wantPacket{{PacketMessage, false, "hello"}}, nil},
		{"close", "1", 0, []wantPacket{{PacketClose, false, ""}}, nil},
		{"pong", "3", 0, []wantPacket{{PacketPong, false, ""}}, nil},
		{"several", "4test1\x1e4test2\x1e4test3", 0, []wantPacket{
			{PacketMessage, false, "test1"}, {PacketMessage, false, "test2"}, {PacketMessage, false, "test3"}}, nil},
		{"text and binary", "4hello\x1ebAQIDBA==", 0, []wantPacket{
			{PacketMessage, false, "hello"}, {PacketMessage, true, "\x01\x02\x03\x04"}}, nil},
		{"binary first", "bAQIDBA==\x1e4hello", 0, []wantPacket{
			{PacketMessage, true, "\x01\x02\x03\x04"}, {PacketMessage, false, "hello"}}, nil},
		{"empty binary", "b", 0, []wantPacket{{PacketMessage, true, ""}}, nil},
		{"socket.io connect and event", `40{"sid":"QBbx"}` + "\x1e" + `420["welcome","hi"]`, 0, []wantPacket{
			{PacketMessage, false, `0{"sid":"QBbx"}`}, {PacketMessage, false, `20["welcome","hi"]`}}, nil},
		{"noop then close", "6\x1e1", 0, []wantPacket{{PacketNoop, false, ""}, {PacketClose, false, ""}}, nil},
		{"exactly max", "4a\x1e4b\x1e4c", 3, []wantPacket{
			{PacketMessage, false, "a"}, {PacketMessage, false, "b"}, {PacketMessage, false, "c"}}, nil},

		{"empty body", "", 0, nil, ErrInvalidPacket},
		{"only separator", "\x1e", 0, nil, ErrInvalidPacket},
		{"trailing separator", "4test1\x1e", 0, []wantPacket{{PacketMessage, false, "test1"}}, ErrInvalidPacket},
		{"leading separator", "\x1e4test1", 0, nil, ErrInvalidPacket},
		{"empty middle", "4a\x1e\x1e4b", 0, []wantPacket{{PacketMessage, false, "a"}}, ErrInvalidPacket},
		{"abc", "abc", 0, nil, ErrInvalidPacket},
		{"type 7", "7", 0, nil, ErrInvalidPacket},
		{"type 9 after good", "4ok\x1e9", 0, []wantPacket{{PacketMessage, false, "ok"}}, ErrInvalidPacket},
		{"high byte", "\xff", 0, nil, ErrInvalidPacket},
		{"bad padding short", "bAQIDBA=", 0, nil, ErrInvalidBase64},
		{"bad padding none", "bAQIDBA", 0, nil, ErrInvalidBase64},
		{"bad padding triple", "bAQ===", 0, nil, ErrInvalidBase64},
		{"padding in the middle", "bAQ==AQID", 0, nil, ErrInvalidBase64},
		{"bad alphabet", "b!!!!", 0, nil, ErrInvalidBase64},
		{"url alphabet", "b-_-_", 0, nil, ErrInvalidBase64},
		{"bad base64 after good", "4a\x1ebAQIDBA=", 0, []wantPacket{{PacketMessage, false, "a"}}, ErrInvalidBase64},
		{"over max", "4a\x1e4b\x1e4c", 2, []wantPacket{{PacketMessage, false, "a"}, {PacketMessage, false, "b"}}, ErrTooManyPackets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			r := NewPayloadReader(body, tt.max)
			got, err := readAll(t, &r, 1000)
			if err != tt.wantErr {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !equalPackets(got, tt.want) {
				t.Errorf("packets = %+v, want %+v", got, tt.want)
			}
			// Reset reuses the reader for another body.
			r.Reset([]byte("4again"), 0)
			if got, err := readAll(t, &r, 10); err != nil || len(got) != 1 || got[0].data != "again" {
				t.Errorf("after Reset: %+v, %v", got, err)
			}
		})
	}
}

func equalPackets(a, b []wantPacket) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPayloadReaderDataIsBorrowed(t *testing.T) {
	body := []byte("4hello\x1ebAQIDBA==\x1e2probe")
	r := NewPayloadReader(body, 0)
	for {
		p, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if !within(body, p.Data) {
			t.Errorf("packet %+v does not alias the body", p)
		}
	}
}

// TestPayloadReaderTooManyPackets feeds 100k separators (BAD-INPUTS §1c): the
// reader must stop at the cap without scanning the rest of the body.
func TestPayloadReaderTooManyPackets(t *testing.T) {
	const seps = 100_000
	const maxPackets = 1000
	body := []byte("4" + strings.Repeat("\x1e4", seps))
	r := NewPayloadReader(body, maxPackets)
	n := 0
	for {
		_, ok, err := r.Next()
		if err != nil {
			if err != ErrTooManyPackets {
				t.Fatalf("err = %v, want ErrTooManyPackets", err)
			}
			break
		}
		if !ok {
			t.Fatal("reader finished without hitting the cap")
		}
		n++
	}
	if n != maxPackets {
		t.Errorf("read %d packets before the cap, want %d", n, maxPackets)
	}
	// Stopped early: the unread rest of the body is still pending, untouched.
	if want := len(body) - 2*maxPackets; len(r.rest) != want {
		t.Errorf("rest = %d bytes, want %d (the reader scanned past the cap)", len(r.rest), want)
	}

	// Bare separators fail at the first (empty) packet.
	r.Reset(bytes.Repeat([]byte{Separator}, seps), maxPackets)
	if _, ok, err := r.Next(); ok || err != ErrInvalidPacket {
		t.Errorf("bare separators: ok=%v err=%v, want ErrInvalidPacket", ok, err)
	}
	if len(r.rest) != seps-1 {
		t.Errorf("bare separators: rest = %d, want %d", len(r.rest), seps-1)
	}

	// Without a cap every packet is read.
	r.Reset(body, 0)
	got, err := readAll(t, &r, seps+10)
	if err != nil || len(got) != seps+1 {
		t.Errorf("uncapped: %d packets, %v", len(got), err)
	}
}

// TestDecodeBase64InPlace pins down that decoding over the input itself (the
// reader does it to avoid allocating) equals an ordinary decode, at every
// length and for every alignment of the 8- and 4-byte fast paths.
func TestDecodeBase64InPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 300; n++ {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(raw)
		want, err := base64.StdEncoding.DecodeString(strings.Clone(enc))
		if err != nil || !bytes.Equal(want, raw) {
			t.Fatalf("n=%d: reference decode failed: %v", n, err)
		}

		buf := []byte(enc)
		m, err := decodeBase64InPlace(buf)
		if err != nil || !bytes.Equal(buf[:m], want) {
			t.Fatalf("n=%d: in-place decode = %x, %v; want %x", n, buf[:m], err, want)
		}

		// The same through the reader, surrounded by other packets.
		body := []byte("4x\x1eb" + enc + "\x1e4y")
		r := NewPayloadReader(body, 0)
		got, err := readAll(t, &r, 10)
		if err != nil || len(got) != 3 || !got[1].binary || got[1].data != string(raw) || got[2].data != "y" {
			t.Fatalf("n=%d: reader = %+v, %v", n, got, err)
		}
	}
}

// payloadVectors are shared by AppendPayloadPacket/PayloadPacketLen and the
// PayloadReader: wire is the exact encoding of packets.
var payloadVectors = []struct {
	wire    string
	packets []wantPacket
}{
	{"4hello", []wantPacket{{PacketMessage, false, "hello"}}},
	{"2", []wantPacket{{PacketPing, false, ""}}},
	{"6\x1e1", []wantPacket{{PacketNoop, false, ""}, {PacketClose, false, ""}}},
	{"4test1\x1e4test2\x1e4test3", []wantPacket{
		{PacketMessage, false, "test1"}, {PacketMessage, false, "test2"}, {PacketMessage, false, "test3"}}},
	{"4hello\x1ebAQIDBA==", []wantPacket{{PacketMessage, false, "hello"}, {PacketMessage, true, "\x01\x02\x03\x04"}}},
	{"bAQID\x1eb\x1ebAA==\x1ebAAE=", []wantPacket{
		{PacketMessage, true, "\x01\x02\x03"}, {PacketMessage, true, ""}, {PacketMessage, true, "\x00"}, {PacketMessage, true, "\x00\x01"}}},
	{`40{"sid":"QBbx"}` + "\x1e" + `420["welcome","hi"]` + "\x1e2", []wantPacket{
		{PacketMessage, false, `0{"sid":"QBbx"}`}, {PacketMessage, false, `20["welcome","hi"]`}, {PacketPing, false, ""}}},
	{`0{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3}`, []wantPacket{
		{PacketOpen, false, `{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3}`}}},
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, v := range payloadVectors {
		var enc []byte
		size := 0
		for i, p := range v.packets {
			enc = AppendPayloadPacket(enc, i == 0, p.typ, p.binary, []byte(p.data))
			if i > 0 {
				size++
			}
			size += PayloadPacketLen(p.binary, []byte(p.data))
		}
		if string(enc) != v.wire {
			t.Errorf("encode %+v = %q, want %q", v.packets, enc, v.wire)
		}
		if size != len(enc) {
			t.Errorf("PayloadPacketLen sum = %d, encoded %d bytes", size, len(enc))
		}
		r := NewPayloadReader(enc, len(v.packets))
		got, err := readAll(t, &r, 100)
		if err != nil || !equalPackets(got, v.packets) {
			t.Errorf("decode %q = %+v, %v; want %+v", v.wire, got, err, v.packets)
		}
	}
}

func TestPayloadRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 500; iter++ {
		n := 1 + rng.IntN(8)
		want := make([]wantPacket, n)
		var enc []byte
		for i := range want {
			data := make([]byte, rng.IntN(64))
			binary := rng.IntN(2) == 0
			for j := range data {
				if binary {
					data[j] = byte(rng.Uint32())
				} else {
					data[j] = byte(0x20 + rng.IntN(0x5f)) // never the separator
				}
			}
			typ := PacketMessage
			if !binary {
				typ = PacketType(rng.IntN(7))
			}
			want[i] = wantPacket{typ, binary, string(data)}
			before := len(enc)
			enc = AppendPayloadPacket(enc, i == 0, typ, binary, data)
			sep := 1
			if i == 0 {
				sep = 0
			}
			if got := len(enc) - before - sep; got != PayloadPacketLen(binary, data) {
				t.Fatalf("PayloadPacketLen = %d, appended %d", PayloadPacketLen(binary, data), got)
			}
		}
		r := NewPayloadReader(enc, 0)
		got, err := readAll(t, &r, 100)
		if err != nil || !equalPackets(got, want) {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", enc, got, err, want)
		}
	}
}

func TestAppendHandshake(t *testing.T) {
	tests := []struct {
		sid      string
		upgrades []string
		want     string
	}{
		{"abc", []string{"websocket"},
			`{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`},
		{"abc", []string{},
			`{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`},
		{"abc", nil,
			`{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`},
		{"abc", []string{"websocket", "webtransport"},
			`{"sid":"abc","upgrades":["websocket","webtransport"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`},
	}
	for _, tt := range tests {
		got := AppendHandshake(nil, tt.sid, tt.upgrades, 25000, 20000, 1000000)
		if string(got) != tt.want {
			t.Errorf("AppendHandshake(%q, %q) =\n%s\nwant\n%s", tt.sid, tt.upgrades, got, tt.want)
		}
		var m map[string]any
		if err := json.Unmarshal(got, &m); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		if len(m) != 5 {
			t.Errorf("handshake has %d keys, want exactly 5: %v", len(m), m)
		}
		for _, k := range []string{"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"} {
			if _, ok := m[k]; !ok {
				t.Errorf("handshake lacks %q", k)
			}
		}
		if ups, ok := m["upgrades"].([]any); !ok || len(ups) != len(tt.upgrades) {
			t.Errorf("upgrades = %#v, want %d elements", m["upgrades"], len(tt.upgrades))
		}
	}

	// PROTOCOL.md §1.3: Node's open packet is 118 bytes for a 20-char sid.
	open := AppendText(nil, PacketOpen, AppendHandshake(nil, "cyqnawj9W8aBsPhKAAAA", []string{"websocket"}, 25000, 20000, 1e6))
	if len(open) != 118 {
		t.Errorf("open packet is %d bytes, want 118: %s", len(open), open)
	}
	// Appending keeps the prefix.
	if got := AppendHandshake([]byte("0"), "s", nil, 1, 2, 3); string(got) != `0{"sid":"s","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3}` {
		t.Errorf("with prefix: %s", got)
	}
}

func TestAppendErrorJSON(t *testing.T) {
	want := []string{
		`{"code":0,"message":"Transport unknown"}`,
		`{"code":1,"message":"Session ID unknown"}`,
		`{"code":2,"message":"Bad handshake method"}`,
		`{"code":3,"message":"Bad request"}`,
		`{"code":4,"message":"Forbidden"}`,
		`{"code":5,"message":"Unsupported protocol version"}`,
	}
	codes := []int{ErrCodeUnknownTransport, ErrCodeUnknownSID, ErrCodeBadHandshakeMethod,
		ErrCodeBadRequest, ErrCodeForbidden, ErrCodeUnsupportedProtocol}
	if len(ErrorMessages) != len(want) {
		t.Fatalf("%d error messages, want %d", len(ErrorMessages), len(want))
	}
	for i, code := range codes {
		if code != i {
			t.Errorf("error code constant %d = %d", i, code)
		}
		if got := AppendErrorJSON(nil, code, ErrorMessages[code]); string(got) != want[i] {
			t.Errorf("AppendErrorJSON(%d) = %s, want %s", code, got, want[i])
		}
	}

	escapes := []struct{ msg, want string }{
		{`say "hi"`, `{"code":4,"message":"say \"hi\""}`},
		{`back\slash`, `{"code":4,"message":"back\\slash"}`},
		{"line\nbreak\ttab\x00nul\x1fus\r", `{"code":4,"message":"line\u000abreak\u0009tab\u0000nul\u001fus\u000d"}`},
		{"héllo €", `{"code":4,"message":"héllo €"}`},
		{"", `{"code":4,"message":""}`},
		{`</script>`, `{"code":4,"message":"</script>"}`},
	}
	for _, e := range escapes {
		got := AppendErrorJSON(nil, ErrCodeForbidden, e.msg)
		if string(got) != e.want {
			t.Errorf("AppendErrorJSON(%q) = %s, want %s", e.msg, got, e.want)
		}
		var v struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(got, &v); err != nil || v.Code != 4 || v.Message != e.msg {
			t.Errorf("AppendErrorJSON(%q) does not round-trip through encoding/json: %+v, %v", e.msg, v, err)
		}
	}
	// Every byte value below 0x80 survives a JSON round trip.
	var all []byte
	for c := 0; c < 0x80; c++ {
		all = append(all, byte(c))
	}
	var v struct{ Message string }
	if err := json.Unmarshal(AppendErrorJSON(nil, 3, string(all)), &v); err != nil || v.Message != string(all) {
		t.Errorf("ASCII round trip: %q, %v", v.Message, err)
	}
}
