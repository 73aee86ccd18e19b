package codec

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// sioVector is a packet encoded by the real socket.io-msgpack-parser (see
// test/interop/msgpack-vectors.mjs, which wrote testdata/msgpack_sio_vectors.json.gz).
type sioVector struct {
	Name string   `json:"name"`
	Dir  string   `json:"dir"` // "out": the server's packets; "in": the client's
	Type SIOType  `json:"type"`
	Nsp  string   `json:"nsp"`
	ID   int64    `json:"id"`
	Data string   `json:"data"`
	Att  []string `json:"att"`
	Hex  string   `json:"hex"`
}

func loadSIOVectors(t testing.TB) []sioVector {
	f, err := os.Open("testdata/msgpack_sio_vectors.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var vs []sioVector
	if err := json.NewDecoder(zr).Decode(&vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 20 {
		t.Fatalf("only %d vectors", len(vs))
	}
	return vs
}

func (v *sioVector) attachments(t testing.TB) [][]byte {
	out := make([][]byte, len(v.Att))
	for i, h := range v.Att {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func (v *sioVector) bytes(t testing.TB) []byte {
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// What the server sends must be byte for byte what socket.io (with the npm
// parser) sends for the same packet.
func TestSIOMsgpackEncodeMatchesNpmParser(t *testing.T) {
	for _, v := range loadSIOVectors(t) {
		if v.Dir != "out" {
			continue
		}
		got, err := AppendSIOMsgpack(nil, v.Type, v.Nsp, v.ID, []byte(v.Data), v.attachments(t))
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if want := v.bytes(t); !bytes.Equal(got, want) {
			t.Errorf("%s: encoded\n%s\nnpm parser\n%s", v.Name, short(hex.EncodeToString(got)), short(v.Hex))
		}
	}
}

func short(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// Every packet the npm encoder writes, the client's and the server's alike,
// decodes to the JSON parser's form of the same packet.
func TestSIOMsgpackDecodesNpmParserOutput(t *testing.T) {
	for _, v := range loadSIOVectors(t) {
		msg := v.bytes(t)
		orig := bytes.Clone(msg)
		p, att, err := DecodeSIOMsgpack(nil, msg, 10)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if p.Type != v.Type || string(p.Nsp) != v.Nsp || p.ID != v.ID || p.Attachments != len(v.Att) {
			t.Errorf("%s: got type %d nsp %q id %d attachments %d", v.Name, p.Type, p.Nsp, p.ID, p.Attachments)
		}
		if !sameJSON(t, p.Data, []byte(v.Data)) {
			t.Errorf("%s: data\n%s\nwant\n%s", v.Name, short(string(p.Data)), short(v.Data))
		}
		if want := v.attachments(t); !reflect.DeepEqual(att, want) && !(len(att) == 0 && len(want) == 0) {
			t.Errorf("%s: attachments differ", v.Name)
		}
		if !bytes.Equal(msg, orig) {
			t.Fatalf("%s: input modified", v.Name)
		}
		for _, a := range att {
			if !within(msg, a) {
				t.Errorf("%s: attachment not borrowed from the message", v.Name)
			}
		}
		// Every strict prefix is refused, never a panic.
		for i := 0; i < len(msg); i += 1 + len(msg)/512 {
			if _, _, err := DecodeSIOMsgpack(nil, msg[:i], 10); err == nil {
				t.Fatalf("%s: prefix of %d bytes accepted", v.Name, i)
			}
		}
	}
}

// sameJSON compares two JSON texts as values (numbers as float64).
func sameJSON(t testing.TB, a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Errorf("invalid JSON %s: %v", short(string(a)), err)
		return false
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Errorf("invalid JSON %s: %v", short(string(b)), err)
		return false
	}
	return reflect.DeepEqual(x, y)
}

// Redis adapter vector (REDIS-ADAPTER-WIRE.md §4.1): bytes notepack.io 3.0.1
// wrote for io.emit("hello","world",1) from the Node adapter.
const nodeHello = "93a66355315477648" + "3a47479706502a46461746193a568656c6c6fa5776f726c6401a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"

func TestMsgpackJSONRoundTrip(t *testing.T) {
	msg, _ := hex.DecodeString(nodeHello)
	js, att, err := AppendJSONFromMsgpack(nil, nil, msg)
	if err != nil {
		t.Fatal(err)
	}
	want := `["cU1Twd",{"type":2,"data":["hello","world",1],"nsp":"/"},{"rooms":[],"except":[],"flags":{}}]`
	if string(js) != want || len(att) != 0 {
		t.Fatalf("got %s (%d attachments)", js, len(att))
	}
	back, err := AppendMsgpackFromJSON(nil, js, nil)
	if err != nil || hex.EncodeToString(back) != nodeHello {
		t.Fatalf("re-encoded %x, %v", back, err)
	}
}

func TestMsgpackFromJSONAsNotepackWritesIt(t *testing.T) {
	a40 := strings.Repeat("a", 40)
	for _, c := range []struct{ json, hex string }{
		{`0`, "00"}, {`127`, "7f"}, {`128`, "cc80"}, {`256`, "cd0100"}, {`65536`, "ce00010000"},
		{`4294967296`, "cf0000000100000000"}, {`-1`, "ff"}, {`-32`, "e0"}, {`-33`, "d0df"}, {`-129`, "d1ff7f"},
		{`-2147483649`, "d3ffffffff7fffffff"}, {`18446744073709551615`, "cfffffffffffffffff"},
		{`1.5`, "cb3ff8000000000000"}, {`1.0`, "01"}, {`1e3`, "cd03e8"}, {`-0.25`, "cbbfd0000000000000"}, {`-0`, "00"},
		{`"` + a40 + `"`, "d928" + hex.EncodeToString([]byte(a40))},
		{`{"_placeholder":true,"num":0}`, "c403010203"},
		{`{ "num" : 0 , "_placeholder" : true }`, "c403010203"},
		{`{"_placeholder":true,"num":1}`, "82ac5f706c616365686f6c646572c3a36e756d01"}, // no attachment 1: a map
		{`null`, "c0"}, {`true`, "c3"}, {`false`, "c2"}, {`"\u00e9\n"`, "a3c3a90a"}, {`"\ud83d\ude00"`, "a4f09f9880"},
		{`"\ud83d"`, "a3efbfbd"}, {` [ 1 , { } , [ ] ] `, "930180 90"},
		{`"` + strings.Repeat(`\u0041`, 40) + `"`, "d928" + strings.Repeat("41", 40)}, // raw 240 bytes, decoded 40: both str 8
		{`"` + strings.Repeat(`\u0041`, 6) + `"`, "a6414141414141"},                   // raw 36 bytes (str 8), decoded 6 (fixstr)
	} {
		got, err := AppendMsgpackFromJSON(nil, []byte(c.json), [][]byte{{1, 2, 3}})
		if err != nil {
			t.Fatalf("%s: %v", c.json, err)
		}
		if want := strings.ReplaceAll(c.hex, " ", ""); hex.EncodeToString(got) != want {
			t.Errorf("%s: %x, want %s", c.json, got, want)
		}
	}
	// Containers of 16 and 65536 members widen their header.
	for _, n := range []int{15, 16, 65535, 65536} {
		arr := "[" + strings.TrimSuffix(strings.Repeat("0,", n), ",") + "]"
		got, err := AppendMsgpackFromJSON(nil, []byte(arr), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := AppendMsgpackArrayHeader(nil, n)
		want = append(want, make([]byte, n)...)
		if !bytes.Equal(got, want) {
			t.Errorf("array of %d: header %x", n, got[:5])
		}
	}
	for _, bad := range []string{``, `[`, `[1,]`, `{"a"}`, `{"a":1,}`, `"abc`, `"\x"`, `"\u12"`, `tru`, `nul`, `-`, `1e`, `[1] 2`, "\"a\x01\"", `{1:2}`} {
		if _, err := AppendMsgpackFromJSON(nil, []byte(bad), nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	deep := strings.Repeat("[", MaxJSONDepth+2) + strings.Repeat("]", MaxJSONDepth+2)
	if _, err := AppendMsgpackFromJSON(nil, []byte(deep), nil); !errors.Is(err, ErrJSONTooDeep) {
		t.Errorf("deep JSON: %v", err)
	}
}

func TestMsgpackToJSONExtensionsAndOddForms(t *testing.T) {
	for _, c := range []struct {
		hex, json string
		att       int
	}{
		{"92a26576c403010203", `["ev",{"_placeholder":true,"num":0}]`, 1},
		{"d6ff00000000", `"1970-01-01T00:00:00.000Z"`, 0},                     // notepack 3 Date (timestamp 32)
		{"d7ff 0bebc200 6553f100", `"2023-11-14T22:13:20.050Z"`, 0},           // timestamp 64
		{"c70cff 05f5e100 ffffffffffffffff", `"1969-12-31T23:59:59.100Z"`, 0}, // timestamp 96
		{"d700 0000018bcfe5687b", `"2023-11-14T22:13:20.123Z"`, 0},            // notepack 2 Date
		{"d700 fffffffffffffc17", `"1969-12-31T23:59:58.999Z"`, 0},            // before 1970
		{"d40000", `null`, 0},                                // notepack 2.x undefined
		{"c70300010203", `{"_placeholder":true,"num":0}`, 1}, // notepack 2.x ArrayBuffer
		{"d50a0000", `null`, 0},                              // an unknown extension
		{"81 01 a178", `{"1":"x"}`, 0},                       // a number as a key
		{"81 92 01 02 a178", `{"[1,2]":"x"}`, 0},             // an array as a key
		{"cb7ff8000000000000", `null`, 0},                    // NaN
		{"cb3e7ad7f29abcaf48", `1e-7`, 0},                    // as JavaScript writes it
		{"ca3fc00000", `1.5`, 0},                             // float 32
		{"a2 22 5c", `"\"\\"`, 0},                            // escapes
		{"a2 c3 28", "\"\ufffd(\"", 0},                       // invalid UTF-8
		{"d3 ffffffffffffffff", `-1`, 0}, {"cf 8000000000000000", `9223372036854775808`, 0},
		{"dc0002 01 02", `[1,2]`, 0}, {"de0001 a161 c0", `{"a":null}`, 0}, {"db00000001 61", `"a"`, 0},
		{"c50003 010203 c60000000100", ``, -1}, // trailing bytes
	} {
		msg, _ := hex.DecodeString(strings.ReplaceAll(c.hex, " ", ""))
		js, att, err := AppendJSONFromMsgpack(nil, nil, msg)
		if c.att < 0 {
			if err == nil {
				t.Errorf("%s accepted", c.hex)
			}
			continue
		}
		if err != nil || string(js) != c.json || len(att) != c.att {
			t.Errorf("%s: %s %d %v, want %s %d", c.hex, js, len(att), err, c.json, c.att)
		}
	}
}

func TestMsgpackToJSONRefusesBadInput(t *testing.T) {
	for _, h := range []string{
		"", "93a1", "c1", "92 01", // truncated, reserved code
		"0101",            // trailing bytes (notepack throws)
		"c9ffffffff00",    // an ext claiming 4 GiB
		"dd7fffffff",      // an array claiming 2^31 elements, none there
		"df7fffffff c0c0", // a map claiming 2^31 entries
		"c6ffffffff", "dbffffffff", "c4", "c405 0102", "cd01", "cf00", "d9", "8f", "81a161", "d4", "d7ff00",
	} {
		msg, _ := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		if js, _, err := AppendJSONFromMsgpack(nil, nil, msg); err == nil {
			t.Errorf("%q decoded to %s", h, js)
		}
	}
	deep := bytes.Repeat([]byte{0x91}, 10000)
	if _, _, err := AppendJSONFromMsgpack(nil, nil, append(deep, 0xc0)); !errors.Is(err, ErrJSONTooDeep) {
		t.Errorf("10,000 nested arrays: %v", err)
	}
}

// The Socket.IO packet decoder: what socket.io-msgpack-parser refuses, and
// what the JSON parser's validation refuses beyond it.
func TestDecodeSIOMsgpackRefuses(t *testing.T) {
	enc := func(kv ...any) []byte {
		b := AppendMsgpackMapHeader(nil, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			b = AppendMsgpackString(b, kv[i].(string))
			switch v := kv[i+1].(type) {
			case int:
				b = AppendMsgpackInt(b, int64(v))
			case float64:
				b = AppendMsgpackFloat64(b, v)
			case string:
				b = AppendMsgpackString(b, v)
			case []byte: // raw msgpack
				b = append(b, v...)
			case nil:
				b = AppendMsgpackNil(b)
			}
		}
		return b
	}
	ev := func(js string) []byte {
		b, err := AppendMsgpackFromJSON(nil, []byte(js), [][]byte{{1}, {2}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ok := enc("type", 2, "data", ev(`["a",1]`), "nsp", "/")
	if _, _, err := DecodeSIOMsgpack(nil, ok, 10); err != nil {
		t.Fatalf("valid packet refused: %v", err)
	}
	ok2 := enc("type", 2.0, "data", ev(`["a"]`), "nsp", "/x", "id", 3.0, "extra", ev(`{"k":[1,2,{"_placeholder":true,"num":0}]}`))
	if p, att, err := DecodeSIOMsgpack(nil, ok2, 10); err != nil || p.ID != 3 || len(att) != 0 || p.Type != SIOEvent {
		t.Fatalf("integral floats, unknown key: %+v %v", p, err)
	}
	for name, c := range map[string]struct {
		msg  []byte
		want error
	}{
		"array top level":    {ev(`[2,"/"]`), ErrSIOPayload},
		"string top level":   {AppendMsgpackString(nil, "2"), ErrSIOPayload},
		"no type":            {enc("data", ev(`["a"]`), "nsp", "/"), ErrSIOType},
		"type 5":             {enc("type", 5, "data", ev(`["a"]`), "nsp", "/"), ErrSIOType},
		"type -1":            {enc("type", -1, "data", ev(`["a"]`), "nsp", "/"), ErrSIOType},
		"type string":        {enc("type", "2", "data", ev(`["a"]`), "nsp", "/"), ErrSIOType},
		"type 2.5":           {enc("type", 2.5, "data", ev(`["a"]`), "nsp", "/"), ErrSIOType},
		"type twice":         {enc("type", 2, "type", 2, "data", ev(`["a"]`), "nsp", "/"), ErrSIOPayload},
		"no nsp":             {enc("type", 2, "data", ev(`["a"]`)), ErrSIOPayload},
		"nsp number":         {enc("type", 2, "data", ev(`["a"]`), "nsp", 1), ErrSIOPayload},
		"nsp too long":       {enc("type", 2, "data", ev(`["a"]`), "nsp", "/"+strings.Repeat("n", 1024)), ErrSIONamespaceTooBig},
		"event data object":  {enc("type", 2, "data", ev(`{"a":1}`), "nsp", "/"), ErrSIOPayload},
		"event data nil":     {enc("type", 2, "data", nil, "nsp", "/"), ErrSIOPayload},
		"event no data":      {enc("type", 2, "nsp", "/"), ErrSIOPayload},
		"event empty":        {enc("type", 2, "data", ev(`[]`), "nsp", "/"), ErrSIOPayload},
		"event name bool":    {enc("type", 2, "data", ev(`[true]`), "nsp", "/"), ErrSIOPayload},
		"reserved event":     {enc("type", 2, "data", ev(`["disconnect"]`), "nsp", "/"), ErrSIOReservedEvent},
		"connect data array": {enc("type", 0, "data", ev(`[1]`), "nsp", "/"), ErrSIOPayload},
		"connect data nil":   {enc("type", 0, "data", nil, "nsp", "/"), ErrSIOPayload},
		"disconnect data":    {enc("type", 1, "data", ev(`{}`), "nsp", "/"), ErrSIOPayload},
		"ack data string":    {enc("type", 3, "data", "x", "id", 1, "nsp", "/"), ErrSIOPayload},
		"id nil":             {enc("type", 2, "data", ev(`["a"]`), "id", nil, "nsp", "/"), ErrSIOAckID},
		"id negative":        {enc("type", 2, "data", ev(`["a"]`), "id", -1, "nsp", "/"), ErrSIOAckID},
		"id too big":         {enc("type", 2, "data", ev(`["a"]`), "id", 1<<53, "nsp", "/"), ErrSIOAckID},
		"id string":          {enc("type", 2, "data", ev(`["a"]`), "id", "1", "nsp", "/"), ErrSIOAckID},
		"too many binaries":  {enc("type", 2, "data", ev(`["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), "nsp", "/"), ErrSIOTooManyAttach},
		"binary in connect":  {enc("type", 0, "data", ev(`{"k":{"_placeholder":true,"num":0}}`), "nsp", "/"), ErrSIOAttachments},
		"trailing byte":      {append(bytes.Clone(ok), 0xc0), ErrMsgpackTrailing},
		"truncated":          {ok[:len(ok)-1], ErrMsgpackTruncated},
		"lying map length":   {append([]byte{0xdf, 0x7f, 0xff, 0xff, 0xff}, ok[1:]...), ErrMsgpackTruncated},
		"lying str length":   {enc("type", 2, "data", ev(`["a"]`), "nsp", []byte{0xdb, 0xff, 0xff, 0xff, 0xf0, '/'}), ErrMsgpackTruncated},
		"reserved code":      {enc("type", 2, "data", []byte{0xc1}, "nsp", "/"), ErrMsgpack},
		"deep data":          {enc("type", 2, "data", append(append([]byte{0x92, 0xa1, 'a'}, bytes.Repeat([]byte{0x91}, 200)...), 0xc0), "nsp", "/"), ErrJSONTooDeep},
		"empty":              {nil, ErrMsgpackTruncated},
	} {
		_, _, err := DecodeSIOMsgpack(nil, c.msg, 1)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// The decoded data is appended to dst, whose contents are kept.
func TestDecodeSIOMsgpackAppends(t *testing.T) {
	msg, _ := AppendSIOMsgpack(nil, SIOBinaryAck, "/a", 9, []byte(`[{"_placeholder":true,"num":0},"x"]`), [][]byte{{7, 7}})
	dst := []byte("keep")
	p, att, err := DecodeSIOMsgpack(dst, msg, 0)
	if err != nil || string(p.Data) != `[{"_placeholder":true,"num":0},"x"]` || p.Type != SIOBinaryAck || p.Attachments != 1 ||
		p.ID != 9 || string(p.Nsp) != "/a" || len(att) != 1 || !bytes.Equal(att[0], []byte{7, 7}) || string(dst) != "keep" {
		t.Fatalf("%+v %q %v", p, att, err)
	}
}
