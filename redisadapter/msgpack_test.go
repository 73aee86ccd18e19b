package redisadapter

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// Bytes the real notepack.io 3.0.1 wrote (REDIS-ADAPTER-WIRE.md §4.1):
// io.emit("hello","world",1) from the Node adapter. The transcoder itself
// is tested in codec (msgpack_test.go); this checks the adapter's use of it.
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
	b, err := encodeMsgpack(js, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != nodeHello {
		t.Fatalf("re-encoded\n%s\nwant\n%s", got, nodeHello)
	}
}

func TestMsgpackAttachmentsBothWays(t *testing.T) {
	b, err := encode([]any{"ev", map[string]any{"_placeholder": true, "num": 0}}, false, [][]byte{{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != "92a26576c403010203" {
		t.Fatalf("encoded %s", got)
	}
	js, att, err := decodeAny(string(b))
	if err != nil || string(js) != `["ev",{"_placeholder":true,"num":0}]` || len(att) != 1 || !bytes.Equal(att[0], []byte{1, 2, 3}) {
		t.Fatalf("decoded %s %v %v", js, att, err)
	}
	for _, h := range []string{"", "93a1", "c1", "0101", "c9ffffffff00", "dd7fffffff"} {
		msg, _ := hex.DecodeString(h)
		if js, _, err := decodeMsgpack(msg); err == nil {
			t.Errorf("%q decoded to %s", h, js)
		}
	}
}
