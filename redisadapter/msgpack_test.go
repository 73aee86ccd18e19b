package redisadapter

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// Bytes the real notepack.io 3.0.1 wrote (REDIS-ADAPTER-WIRE.md §4.1):
// io.emit("hello","world",1) from the Node adapter.
const nodeHello = "93a66355315477648" + "3a47479706502a46461746193a568656c6c6fa5776f726c6401a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"

func TestMsgpackFromNodeToJSONAndBack(t *testing.T) {
	msg, err := hex.DecodeString(nodeHello)
	if err != nil {
		t.Fatal(err)
	}
	js, att, err := decodeMsgpack(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := `["cU1Twd",{"type":2,"data":["hello","world",1],"nsp":"/"},{"rooms":[],"except":[],"flags":{}}]`
	if string(js) != want || len(att) != 0 {
		t.Fatalf("got %s (%d attachments)", js, len(att))
	}
	var buf bytes.Buffer
	if err := jsonToMsgpack(newEncoder(&buf), js, nil); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(buf.Bytes()); got != nodeHello {
		t.Fatalf("re-encoded\n%s\nwant\n%s", got, nodeHello)
	}
}

func TestMsgpackNumbersAsNotepackWritesThem(t *testing.T) {
	for _, c := range []struct{ json, hex string }{
		{`0`, "00"}, {`127`, "7f"}, {`128`, "cc80"}, {`256`, "cd0100"}, {`65536`, "ce00010000"},
		{`4294967296`, "cf0000000100000000"}, {`-1`, "ff"}, {`-32`, "e0"}, {`-33`, "d0df"}, {`-129`, "d1ff7f"},
		{`1.5`, "cb3ff8000000000000"}, {`1.0`, "01"}, {`1e3`, "cd03e8"}, {`-0.25`, "cbbfd0000000000000"},
		{`"` + string(bytes.Repeat([]byte("a"), 40)) + `"`, "d928" + hex.EncodeToString(bytes.Repeat([]byte("a"), 40))},
		{`{"_placeholder":true,"num":0}`, "c403010203"},
		{`null`, "c0"}, {`true`, "c3"}, {`"\u00e9\n"`, "a3c3a90a"},
	} {
		var buf bytes.Buffer
		if err := jsonToMsgpack(newEncoder(&buf), []byte(c.json), [][]byte{{1, 2, 3}}); err != nil {
			t.Fatalf("%s: %v", c.json, err)
		}
		if got := hex.EncodeToString(buf.Bytes()); got != c.hex {
			t.Errorf("%s: %s, want %s", c.json, got, c.hex)
		}
	}
}

func TestMsgpackBinaryDatesAndLegacyExtensions(t *testing.T) {
	for _, c := range []struct {
		hex, json string
		att       int
	}{
		{"92a26576c403010203", `["ev",{"_placeholder":true,"num":0}]`, 1},
		{"d6ff00000000", `"1970-01-01T00:00:00.000Z"`, 0},
		{"d40000", `null`, 0},                                // notepack 2.x undefined
		{"c70300010203", `{"_placeholder":true,"num":0}`, 1}, // notepack 2.x ArrayBuffer
		{"81 01 a178", `{"1":"x"}`, 0},                       // a number as a key
		{"cb7ff8000000000000", `null`, 0},                    // NaN
		{"a2 22 5c", `"\"\\"`, 0},
	} {
		msg, _ := hex.DecodeString(stripSpaces(c.hex))
		js, att, err := decodeMsgpack(msg)
		if err != nil || string(js) != c.json || len(att) != c.att {
			t.Errorf("%s: %s %d %v, want %s %d", c.hex, js, len(att), err, c.json, c.att)
		}
	}
}

func TestMsgpackRefusesBadInput(t *testing.T) {
	for _, h := range []string{
		"", "93a1", "c1", "92 01", // truncated, reserved code
		"0101",         // trailing bytes (notepack throws)
		"c9ffffffff00", // an ext claiming 4 GiB
		"dd7fffffff",   // an array claiming 2^31 elements, none there
	} {
		msg, _ := hex.DecodeString(stripSpaces(h))
		if js, _, err := decodeMsgpack(msg); err == nil {
			t.Errorf("%q decoded to %s", h, js)
		}
	}
	deep := bytes.Repeat([]byte{0x91}, 10000)
	if _, _, err := decodeMsgpack(append(deep, 0xc0)); err == nil {
		t.Error("10,000 nested arrays accepted")
	}
}

func stripSpaces(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil))
}
