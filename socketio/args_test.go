package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"sio/codec"
)

// argsTestEncode encodes one argument as an emit does.
func argsTestEncode(t *testing.T, v any) (string, [][]byte) {
	t.Helper()
	var e encoder
	if err := e.arg(v); err != nil {
		t.Fatalf("arg(%#v): %v", v, err)
	}
	return string(e.buf), e.attachments
}

// argsTestPointThree is a variable so that 0.3-0.1 is computed in float64,
// as JavaScript does, not exactly as Go constants are.
var argsTestPointThree = 0.3

// TestEncodeStringMatchesEncodingJSON: expected strings are
// encoding/json.Marshal's: `"`, `\` and C0 controls escaped (\b \f \n \r \t
// short), and `<>&` and U+2028/2029 too (HTML-safe); DEL and other
// non-ASCII go out as they are. (These used to be JSON.stringify's output,
// which leaves `<>&` and U+2028/2029 alone: the emit encoder now writes what
// encoding/json writes; both decode to the same string.)
func TestEncodeStringMatchesEncodingJSON(t *testing.T) {
	var all strings.Builder
	for i := range 128 {
		all.WriteByte(byte(i))
	}
	for _, tt := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{``, `""`},
		{`a"b`, `"a\"b"`},
		{`back\slash`, `"back\\slash"`},
		{`slash/`, `"slash/"`},
		{`<script>&amp;</script>`, `"\u003cscript\u003e\u0026amp;\u003c/script\u003e"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"é日本語💬", `"é日本語💬"`},
		{"\x00\x01\x07\b\t\n\x0b\f\r\x0e\x1f", `"\u0000\u0001\u0007\b\t\n\u000b\f\r\u000e\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"it's", `"it's"`},
		{all.String(), `"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f !\"#$%\u0026'()*+,-./0123456789:;\u003c=\u003e?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_` + "`" + `abcdefghijklmnopqrstuvwxyz{|}~` + "\x7f\""},
	} {
		if got := string(appendJSONString(nil, tt.in)); got != tt.want {
			t.Errorf("appendJSONString(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// The encoder takes the same path for a string argument.
		if got, att := argsTestEncode(t, tt.in); got != tt.want || att != nil {
			t.Errorf("arg(%q) = %q, %d attachments", tt.in, got, len(att))
		}
		// It is encoding/json's output, which reads the original back.
		if ref, _ := json.Marshal(tt.in); string(ref) != tt.want {
			t.Errorf("encoding/json writes %q as %s, the test expects %s", tt.in, ref, tt.want)
		}
		var back string
		if err := json.Unmarshal([]byte(tt.want), &back); err != nil || back != tt.in {
			t.Errorf("%q decodes to %q, %v", tt.want, back, err)
		}
	}
	dst := make([]byte, 0, 256)
	s := "hello \"world\" <b>\u2028\n"
	if allocs := testing.AllocsPerRun(100, func() { dst = appendJSONString(dst[:0], s) }); allocs != 0 {
		t.Errorf("appendJSONString: %v allocations", allocs)
	}
}

// TestEncodeStringInvalidUTF8BecomesReplacementChar: a Go string is not always UTF-8, but the
// packet goes out in a WebSocket text frame, which must be (RFC 6455 §8.1: the
// client fails the connection otherwise). Bad bytes become \ufffd, as
// encoding/json writes them; valid multi-byte runes are kept.
func TestEncodeStringInvalidUTF8BecomesReplacementChar(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"\xff", `"\ufffd"`},
		{"a\xffb", `"a\ufffdb"`},
		{"\xc3", `"\ufffd"`},                     // truncated 2-byte rune
		{"\xe2\x82", `"\ufffd\ufffd"`},           // truncated 3-byte rune
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`}, // surrogate half
		{"é\xfe\"日", `"é\ufffd\"日"`},
		{"\xc0\xaf", `"\ufffd\ufffd"`}, // overlong
	} {
		got := string(appendJSONString(nil, tt.in))
		if got != tt.want {
			t.Errorf("appendJSONString(%q) = %q, want %q", tt.in, got, tt.want)
		}
		ref, _ := json.Marshal(tt.in)
		if got != string(ref) {
			t.Errorf("appendJSONString(%q) = %s, encoding/json %s", tt.in, got, ref)
		}
	}
}

func TestEncoderScalars(t *testing.T) {
	type myInt int16
	for _, tt := range []struct {
		v    any
		want string
	}{
		{nil, `null`},
		{true, `true`},
		{false, `false`},
		{0, `0`},
		{-1, `-1`},
		{42, `42`},
		{math.MaxInt64, `9223372036854775807`},
		{math.MinInt64, `-9223372036854775808`},
		{int64(-7), `-7`},
		{int32(math.MinInt32), `-2147483648`},
		{int8(-5), `-5`},
		{myInt(300), `300`},
		{uint(7), `7`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{uint32(math.MaxUint32), `4294967295`},
		{uint16(65535), `65535`},
		// Floats as JSON.stringify writes the same double (Node 20).
		{0.0, `0`},
		{0.1, `0.1`},
		{1.5, `1.5`},
		{-2.5, `-2.5`},
		{100.0, `100`},
		{1e21, `1e+21`},
		{1e-7, `1e-7`},
		{123456789012345680000.0, `123456789012345680000`},
		{1e20, `100000000000000000000`},
		{5e-324, `5e-324`},
		{1.7976931348623157e308, `1.7976931348623157e+308`},
		{0.000001, `0.000001`},
		{argsTestPointThree - 0.1, `0.19999999999999998`},
		{1.0 / 3, `0.3333333333333333`},
		{float64(1 << 53), `9007199254740992`},
		{float32(0.1), `0.1`}, // shortest float32 form, as encoding/json writes it
		{float32(16777216), `16777216`},
		{json.Number("1.50"), `1.50`},
	} {
		if got, att := argsTestEncode(t, tt.v); got != tt.want || att != nil {
			t.Errorf("arg(%T %v) = %q (%d attachments), want %q", tt.v, tt.v, got, len(att), tt.want)
		}
	}
	// NaN and ±Inf have no JSON form: an error, encoding/json's. (They
	// used to be written as null, as JSON.stringify does; an emit now
	// fails as encoding/json.Marshal fails rather than change a number.)
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		var e encoder
		err := e.arg(f)
		_, want := json.Marshal(f)
		var uv *json.UnsupportedValueError
		if !errors.As(err, &uv) || err.Error() != want.Error() {
			t.Errorf("arg(%v) = %q, %v; want %v", f, e.buf, err, want)
		}
	}
}

func TestEncoderRawMessagePassthrough(t *testing.T) {
	for _, raw := range []string{
		`{"b":1,"a":2}`, ` { "spaced" : [ 1 , 2 ] } `, `1.50`, `1e2`, `"\u003c\u2028"`, `[{"_placeholder":true,"num":0}]`, `null`,
	} {
		if got, att := argsTestEncode(t, json.RawMessage(raw)); got != raw || att != nil {
			t.Errorf("RawMessage %q became %q", raw, got)
		}
		nested := []any{json.RawMessage(raw), map[string]any{"k": json.RawMessage(raw)}}
		if got, _ := argsTestEncode(t, nested); got != `[`+raw+`,{"k":`+raw+`}]` {
			t.Errorf("nested RawMessage %q became %q", raw, got)
		}
	}
	if got, _ := argsTestEncode(t, json.RawMessage(nil)); got != `null` {
		t.Errorf("empty RawMessage = %q", got)
	}
}

// TestEncodeRawMessageNextToBinary: a json.RawMessage inside a value that
// also holds []byte is still JSON, not an attachment (it used to become a
// placeholder, because the reflective walk saw a byte slice first).
func TestEncodeRawMessageNextToBinary(t *testing.T) {
	type withRaw struct {
		Raw json.RawMessage `json:"raw"`
		Bin []byte          `json:"bin"`
	}
	got, att := argsTestEncode(t, withRaw{json.RawMessage(`{"a":[1,2]}`), []byte{9}})
	if got != `{"raw":{"a":[1,2]},"bin":{"_placeholder":true,"num":0}}` || len(att) != 1 || !bytes.Equal(att[0], []byte{9}) {
		t.Errorf("struct: %s, %q", got, att)
	}
	got, att = argsTestEncode(t, []json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`[true]`)})
	if got != `[{"a":1},[true]]` || att != nil {
		t.Errorf("[]json.RawMessage: %s, %d attachments", got, len(att))
	}
	got, att = argsTestEncode(t, map[string]json.RawMessage{"k": json.RawMessage(`"v"`)})
	if got != `{"k":"v"}` || att != nil {
		t.Errorf("map of RawMessage: %s, %d attachments", got, len(att))
	}
	got, att = argsTestEncode(t, []any{[]json.RawMessage{json.RawMessage(`1`)}, []byte{1}})
	if got != `[[1],{"_placeholder":true,"num":0}]` || len(att) != 1 {
		t.Errorf("[]any: %s, %d attachments", got, len(att))
	}
}

// argsTestMarshaler encodes itself although it holds bytes.
type argsTestMarshaler struct{ B []byte }

func (m argsTestMarshaler) MarshalJSON() ([]byte, error) { return []byte(`"custom"`), nil }

func TestEncoderMarshalerIsOpaque(t *testing.T) {
	got, att := argsTestEncode(t, map[string]any{"m": argsTestMarshaler{[]byte{1}}})
	if got != `{"m":"custom"}` || att != nil {
		t.Errorf("%s, %d attachments", got, len(att))
	}
	type outer struct {
		M   argsTestMarshaler
		Ptr *argsTestMarshaler
		B   []byte
	}
	got, att = argsTestEncode(t, outer{argsTestMarshaler{[]byte{1}}, &argsTestMarshaler{}, []byte{2}})
	if got != `{"M":"custom","Ptr":"custom","B":{"_placeholder":true,"num":0}}` || len(att) != 1 || att[0][0] != 2 {
		t.Errorf("%s, %q", got, att)
	}
}

func TestEncoderBinaryTopLevel(t *testing.T) {
	bin := []byte{1, 2, 3, 4}
	got, att := argsTestEncode(t, bin)
	if got != `{"_placeholder":true,"num":0}` || len(att) != 1 || !bytes.Equal(att[0], bin) {
		t.Fatalf("%s, %q", got, att)
	}
	text, att, err := encodeEvent("/", -1, []any{"baz", bin}, false)
	if err != nil || string(text) != `51-["baz",{"_placeholder":true,"num":0}]` || len(att) != 1 || !bytes.Equal(att[0], bin) {
		t.Fatalf("encodeEvent: %s, %q, %v", text, att, err)
	}
	text, att, err = encodeEvent("/admin", -1, []any{"baz", []byte{1, 2}, []byte{3, 4}}, false)
	if err != nil || string(text) != `52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` ||
		len(att) != 2 || !bytes.Equal(att[0], []byte{1, 2}) || !bytes.Equal(att[1], []byte{3, 4}) {
		t.Fatalf("encodeEvent: %s, %q, %v", text, att, err)
	}
}

// argsTestPlaceholders walks encoded JSON in document order and returns the
// placeholder numbers met, and the non-placeholder leaves as a sanity check.
func argsTestPlaceholders(t *testing.T, v []byte) []int {
	t.Helper()
	var nums []int
	var walk func(v []byte)
	walk = func(v []byte) {
		if n, ok := codec.PlaceholderNum(v); ok {
			nums = append(nums, n)
			return
		}
		switch codec.Kind(v) {
		case codec.JSONArray:
			codec.ArrayElements(v, func(_ int, e []byte) bool { walk(e); return true })
		case codec.JSONObject:
			codec.ObjectMembers(v, func(_, e []byte) bool { walk(e); return true })
		}
	}
	if !codec.ValidJSON(v) {
		t.Fatalf("invalid JSON %s", v)
	}
	walk(v)
	return nums
}

// TestEncoderNestedBinaryDepthFirst: []byte at any depth (maps, slices,
// structs with json tags, pointers, interfaces) becomes a placeholder, and
// the placeholders are numbered 0, 1, 2… in the order they appear in the
// JSON (depth first), each pointing at its own bytes.
func TestEncoderNestedBinaryDepthFirst(t *testing.T) {
	type file struct {
		Name    string  `json:"name"`
		Data    []byte  `json:"data"`
		Thumb   *[]byte `json:"thumb,omitempty"`
		Skip    []byte  `json:"-"`
		private []byte
		Meta    any `json:"meta"`
	}
	type upload struct {
		Files  []file          `json:"files"`
		ByName map[string]file `json:"by_name"`
		First  *file           `json:"first"`
		None   *file           `json:"none"`
		Pair   [2][]byte       `json:"pair"`
		Blobs  map[string][]byte
	}
	b := func(n byte) []byte { return []byte{n, n, n} }
	thumb := b(3)
	v := []any{
		b(0),
		map[string]any{"x": b(1), "y": []any{b(2), "text", 1}},
		&upload{
			Files:  []file{{Name: "a", Data: b(4), Thumb: &thumb, Skip: b(99), private: b(98), Meta: []any{b(5)}}, {Name: "b", Data: b(6)}},
			ByName: map[string]file{"k": {Name: "k", Data: b(7), Meta: map[string]any{"deep": []any{[]any{b(8)}}}}},
			First:  &file{Name: "f", Data: b(9)},
			Pair:   [2][]byte{b(10), b(11)},
			Blobs:  map[string][]byte{"p": b(12), "q": b(13)},
		},
	}
	text, att, err := encodeEvent("/", -1, append([]any{"up"}, v...), false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := codec.DecodeSIO(text, 64)
	if err != nil || p.Type != codec.SIOBinaryEvent || p.Attachments != len(att) || len(att) != 14 {
		t.Fatalf("%s: %+v, %v, %d attachments", text, p, err, len(att))
	}
	nums := argsTestPlaceholders(t, p.Data)
	if len(nums) != len(att) {
		t.Fatalf("%d placeholders, %d attachments: %s", len(nums), len(att), text)
	}
	seen := map[byte]bool{}
	for i, n := range nums {
		if n != i {
			t.Fatalf("placeholder %d is num %d: not depth-first order: %s", i, n, text)
		}
		if len(att[n]) != 3 || seen[att[n][0]] {
			t.Fatalf("attachment %d = %v", n, att[n])
		}
		seen[att[n][0]] = true
	}
	if seen[98] || seen[99] {
		t.Fatal("json:\"-\" or unexported []byte was sent")
	}
	// Field names and nils as encoding/json writes them.
	for _, want := range []string{`"name":"a"`, `"thumb":{"_placeholder":true`, `"none":null`, `"by_name":{"k":{`, `"Blobs":{`} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("%s lacks %s", text, want)
		}
	}
	if bytes.Contains(text, []byte(`"thumb":null`)) {
		t.Errorf("omitempty thumb written as null: %s", text)
	}
	// A deterministic order: the first placeholder is the top-level []byte.
	if !bytes.HasPrefix(text, []byte(`514-["up",{"_placeholder":true,"num":0},{`)) {
		t.Errorf("header/first placeholder: %s", text)
	}
}

func TestEncodeEventTypes(t *testing.T) {
	for _, tt := range []struct {
		nsp  string
		id   int64
		data []any
		ack  bool
		want string
		att  int
	}{
		{"/", -1, []any{"foo"}, false, `2["foo"]`, 0},
		{"/admin", -1, []any{"bar"}, false, `2/admin,["bar"]`, 0},
		{"/", 12, []any{"foo"}, false, `212["foo"]`, 0},
		{"/", 12, nil, true, `312[]`, 0},
		{"/admin", 13, []any{"bar"}, true, `3/admin,13["bar"]`, 0},
		{"/", 15, []any{"bar", []byte{1, 2, 3, 4}}, true, `61-15["bar",{"_placeholder":true,"num":0}]`, 1},
		{"/", -1, []any{"bin-back", []byte{1, 2, 3}, []byte{9, 9}}, false, `52-["bin-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, 2},
		{"/", 0, []any{"welcome", "hi"}, false, `20["welcome","hi"]`, 0},
		{"/", 0, []any{map[string]any{"got": "world"}}, true, `30[{"got":"world"}]`, 0},
		{"/", 0, []any{nil}, true, `30[null]`, 0},
		{"/", -1, []any{"x", map[string]any{"nested": []any{[]byte{}}}}, false, `51-["x",{"nested":[{"_placeholder":true,"num":0}]}]`, 1},
	} {
		text, att, err := encodeEvent(tt.nsp, tt.id, tt.data, tt.ack)
		if err != nil || string(text) != tt.want || len(att) != tt.att {
			t.Errorf("encodeEvent(%q, %d, %v, %v) = %s, %d attachments, %v; want %s, %d", tt.nsp, tt.id, tt.data, tt.ack, text, len(att), err, tt.want, tt.att)
			continue
		}
		// What we send is what the decoder (and socket.io-parser) accepts.
		p, err := codec.DecodeSIO(text, 0)
		if err != nil || string(p.Nsp) != map[bool]string{true: tt.nsp, false: "/"}[tt.nsp != ""] || p.ID != tt.id || p.Attachments != len(att) {
			t.Errorf("%s decodes to %+v, %v", text, p, err)
		}
		want := codec.SIOEvent
		if tt.ack {
			want = codec.SIOAck
		}
		if tt.att > 0 {
			want += codec.SIOBinaryEvent - codec.SIOEvent
		}
		if p.Type != want {
			t.Errorf("%s: type %d, want %d", text, p.Type, want)
		}
	}
}

func TestEncodeControl(t *testing.T) {
	for _, tt := range []struct {
		typ     codec.SIOType
		nsp     string
		payload string
		want    string
	}{
		{codec.SIOConnect, "/", `{"sid":"RolN"}`, `0{"sid":"RolN"}`},
		{codec.SIOConnect, "/admin", `{"sid":"oSO0"}`, `0/admin,{"sid":"oSO0"}`},
		{codec.SIODisconnect, "/", ``, `1`},
		{codec.SIODisconnect, "/admin", ``, `1/admin,`},
		{codec.SIOConnectError, "/random", `{"message":"Invalid namespace"}`, `4/random,{"message":"Invalid namespace"}`},
	} {
		if got := string(encodeControl(tt.typ, tt.nsp, []byte(tt.payload))); got != tt.want {
			t.Errorf("encodeControl = %s, want %s", got, tt.want)
		}
	}
}

// argsTestParse decodes a packet and splits its arguments as the socket
// layer does (the event name skipped for events).
func argsTestParse(t *testing.T, packet string, attachments [][]byte) *Args {
	t.Helper()
	p, err := codec.DecodeSIO([]byte(packet), 0)
	if err != nil {
		t.Fatalf("DecodeSIO(%s): %v", packet, err)
	}
	skip := 0
	if p.Type == codec.SIOEvent || p.Type == codec.SIOBinaryEvent {
		skip = 1
	}
	var a Args
	if err := parseArgs(p.Data, skip, attachments, &a); err != nil {
		t.Fatal(err)
	}
	return &a
}

func TestArgsAccessorsText(t *testing.T) {
	a := argsTestParse(t, `2["ev", "h\u00e9\"llo" , 42,{"b":1,"a":[true,null]},null,{"_placeholder":true,"num":0}]`, nil)
	if a.Len() != 5 {
		t.Fatalf("Len %d", a.Len())
	}
	for i, want := range []string{`"h\u00e9\"llo"`, `42`, `{"b":1,"a":[true,null]}`, `null`, `{"_placeholder":true,"num":0}`} {
		if got := string(a.Raw(i)); got != want {
			t.Errorf("Raw(%d) = %s, want %s", i, got, want)
		}
	}
	if a.Raw(-1) != nil || a.Raw(5) != nil {
		t.Error("Raw out of range is not nil")
	}
	if s, err := a.String(0); err != nil || s != `hé"llo` {
		t.Errorf("String(0) = %q, %v", s, err)
	}
	if _, err := a.String(1); err == nil {
		t.Error("String of a number")
	}
	if _, err := a.String(9); !errors.Is(err, ErrArgIndex) {
		t.Errorf("String(9): %v", err)
	}
	var n int
	if err := a.Decode(1, &n); err != nil || n != 42 {
		t.Errorf("Decode(1) = %d, %v", n, err)
	}
	var obj struct {
		B int   `json:"b"`
		A []any `json:"a"`
	}
	if err := a.Decode(2, &obj); err != nil || obj.B != 1 || len(obj.A) != 2 || obj.A[0] != true {
		t.Errorf("Decode(2) = %+v, %v", obj, err)
	}
	if err := a.Decode(7, &n); !errors.Is(err, ErrArgIndex) {
		t.Errorf("Decode(7): %v", err)
	}
	// No attachments: a placeholder-looking object is data.
	if b, ok := a.Bytes(4); ok || b != nil {
		t.Errorf("Bytes(4) without attachments = %v, %v", b, ok)
	}
	v, err := a.Value(2)
	if raw, ok := v.(json.RawMessage); err != nil || !ok || string(raw) != `{"b":1,"a":[true,null]}` {
		t.Errorf("Value(2) = %T %v, %v", v, v, err)
	}
	if _, err := a.Value(5); !errors.Is(err, ErrArgIndex) {
		t.Errorf("Value(5): %v", err)
	}
	// Values re-emit byte for byte.
	text, att, err := encodeEvent("/", -1, append([]any{"ev"}, a.Values()...), false)
	if err != nil || att != nil || string(text) != `2["ev","h\u00e9\"llo",42,{"b":1,"a":[true,null]},null,{"_placeholder":true,"num":0}]` {
		t.Errorf("re-emitted Values: %s, %v", text, err)
	}
}

func TestArgsAccessorsBinary(t *testing.T) {
	att := [][]byte{{1, 2, 3}, {9, 9}}
	a := argsTestParse(t, `62-7[{"_placeholder":true,"num":1},"s",{"file":{"_placeholder":true,"num":0},"name":"f"},[{"_placeholder":true,"num":0,"x":1}]]`, att)
	if a.Len() != 4 {
		t.Fatalf("Len %d", a.Len())
	}
	if b, ok := a.Bytes(0); !ok || !bytes.Equal(b, att[1]) {
		t.Errorf("Bytes(0) = %v, %v", b, ok)
	}
	if _, ok := a.Bytes(1); ok {
		t.Error("Bytes of a string")
	}
	if _, ok := a.Bytes(2); ok {
		t.Error("Bytes of an object holding a placeholder")
	}
	if _, ok := a.Bytes(9); ok {
		t.Error("Bytes out of range")
	}
	var b []byte
	if err := a.Decode(0, &b); err != nil || !bytes.Equal(b, att[1]) {
		t.Errorf("Decode(0, *[]byte) = %v, %v", b, err)
	}
	var f struct {
		File []byte `json:"file"`
		Name string `json:"name"`
	}
	if err := a.Decode(2, &f); err != nil || !bytes.Equal(f.File, att[0]) || f.Name != "f" {
		t.Errorf("Decode(2) = %+v, %v", f, err)
	}
	if s, err := a.String(1); err != nil || s != "s" {
		t.Errorf("String(1) = %q, %v", s, err)
	}
	// Value: []byte for a placeholder, raw JSON for scalars and containers
	// without attachments, RawBinary (raw JSON + attachments) for containers
	// holding some, so they re-emit byte for byte.
	v0, _ := a.Value(0)
	if bv, ok := v0.([]byte); !ok || !bytes.Equal(bv, att[1]) {
		t.Errorf("Value(0) = %T %v", v0, v0)
	}
	v1, _ := a.Value(1)
	if rv, ok := v1.(json.RawMessage); !ok || string(rv) != `"s"` {
		t.Errorf("Value(1) = %T %v", v1, v1)
	}
	v2, _ := a.Value(2)
	if rb, ok := v2.(RawBinary); !ok || string(rb.JSON) != string(a.Raw(2)) {
		t.Errorf("Value(2) = %T %v", v2, v2)
	} else {
		var m map[string]any
		if err := rb.Decode(&m); err != nil || m["name"] != "f" {
			t.Errorf("RawBinary.Decode = %v, %v", m, err)
		}
	}
	v3, _ := a.Value(3)
	if rv, ok := v3.(json.RawMessage); !ok || string(rv) != string(a.Raw(3)) {
		t.Errorf("Value(3) (a placeholder with extra keys is data) = %T %v", v3, v3)
	}
	// Values re-emit as a binary packet with the same attachments.
	vals := a.Values()
	text, out, err := encodeEvent("/", 7, vals, true)
	if err != nil {
		t.Fatal(err)
	}
	p, err := codec.DecodeSIO(text, 0)
	if err != nil || p.Type != codec.SIOBinaryAck || p.ID != 7 || p.Attachments != 2 || len(out) != 2 {
		t.Fatalf("re-emitted %s: %+v, %v, %d attachments", text, p, err, len(out))
	}
	if !bytes.Equal(out[0], att[1]) || !bytes.Equal(out[1], att[0]) {
		t.Errorf("re-emitted attachments %v", out)
	}
	// The extra-key object stayed data (a map now: its key order is Go's).
	if !bytes.Contains(text, []byte(`"x":1`)) {
		t.Errorf("extra-key object lost: %s", text)
	}
}

func TestArgsClone(t *testing.T) {
	buf := []byte(`51-["ev","text",{"_placeholder":true,"num":0}]`)
	att := [][]byte{{1, 2, 3}}
	p, err := codec.DecodeSIO(buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	var a Args
	if err := parseArgs(p.Data, 1, att, &a); err != nil {
		t.Fatal(err)
	}
	c := a.Clone()
	// The connection reuses its buffers: scribble over them.
	for i := range buf {
		buf[i] = 'x'
	}
	att[0][0] = 0xff
	if s, err := c.String(0); err != nil || s != "text" {
		t.Errorf("clone String(0) = %q, %v", s, err)
	}
	if b, ok := c.Bytes(1); !ok || !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Errorf("clone Bytes(1) = %v, %v", b, ok)
	}
	if string(a.Raw(0)) == `"text"` {
		t.Error("the original did not borrow the buffer (test is wrong)")
	}
	empty := (&Args{}).Clone()
	if empty.Len() != 0 {
		t.Errorf("empty clone has %d args", empty.Len())
	}
}

// TestParseArgsReusesStorage: the socket layer reuses one Args per packet.
func TestParseArgsReusesStorage(t *testing.T) {
	var a Args
	data := []byte(`["ev",1,2,3]`)
	parseArgs(data, 1, nil, &a)
	if allocs := testing.AllocsPerRun(100, func() { parseArgs(data, 1, nil, &a) }); allocs != 0 {
		t.Errorf("parseArgs: %v allocations", allocs)
	}
	if a.Len() != 3 || string(a.Raw(2)) != "3" {
		t.Errorf("Len %d, Raw(2) %s", a.Len(), a.Raw(2))
	}
	parseArgs([]byte(`[1]`), 0, [][]byte{{1}}, &a)
	if a.Len() != 1 || len(a.attachments) != 1 {
		t.Errorf("after reuse: %d args, %d attachments", a.Len(), len(a.attachments))
	}
}

// TestEncodeEventAllocations: encoding an event with small arguments costs
// the packet buffer and its header copy, not one allocation per argument.
func TestEncodeEventAllocations(t *testing.T) {
	data := []any{"chat", "hello world", 42, true, nil, json.RawMessage(`{"a":1}`)}
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := encodeEvent("/", -1, data, false); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Errorf("encodeEvent: %v allocations", allocs)
	}
}

// TestEncodeNumbersLikeEncodingJSON: -0 is written -0 and NaN/±Inf fail,
// as with encoding/json. (This test used to expect JSON.stringify's 0 and
// null: the emit encoder now follows encoding/json.)
func TestEncodeNumbersLikeEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{math.Copysign(0, -1), "-0"},
		{math.NaN(), ""},
		{math.Inf(1), ""},
		{math.Inf(-1), ""},
		{float32(math.Inf(-1)), ""},
		{1.5, "1.5"},
		{float32(0.1), "0.1"}, // shortest for float32, as encoding/json does
		{1e21, "1e+21"},
		{1e-7, "1e-7"},
		{123456789.125, "123456789.125"},
		{[]any(nil), "null"},
		{map[string]any(nil), "null"},
	} {
		var e encoder
		err := e.arg(tc.v)
		ref, refErr := json.Marshal(tc.v)
		if tc.want == "" {
			if err == nil || refErr == nil || err.Error() != refErr.Error() {
				t.Errorf("%#v: error %v, encoding/json's %v", tc.v, err, refErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.v, err)
		}
		if string(e.buf) != tc.want || string(ref) != tc.want {
			t.Errorf("%#v encoded as %s, want %s (encoding/json: %s)", tc.v, e.buf, tc.want, ref)
		}
	}
}
