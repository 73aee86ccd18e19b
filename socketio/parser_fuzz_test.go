package socketio

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"sio/codec"
)

// FuzzMsgpackParserMatchesJSON: for random JSON-shaped values (binary
// included), what a client decoding the msgpack packet sees is what it
// would see over the JSON parser: MsgpackParser's Decode of its own Encode
// gives back the JSON form's value, placeholders numbered alike, the same
// attachments.
func FuzzMsgpackParserMatchesJSON(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x0b\x03\x02\x04<&>\x01\x11"))
	f.Add([]byte("\x08\x04\x0e\x00\x02\x06\xff\xfe\x0d\x02\x06\x00\x01\x02"))
	f.Add([]byte("\x1e\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	for i := range len(encFuzzTypes) {
		f.Add([]byte{0x1e, byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	}
	pr := MsgpackParser{}
	f.Fuzz(func(t *testing.T, in []byte) {
		g := &encFuzz{in: in, binary: true}
		data := []any{"ev", g.value(0), g.value(0)}
		js, att, err := encodePayload(nil, data)
		if err != nil || len(att) > codec.MaxAttachmentsLimit {
			return // what the JSON encoder refuses (NaN, cycles…) is FuzzEncodeMatchesEncodingJSON's
		}
		msg, binary, err := pr.Encode(nil, &ParserPacket{Type: eventType(false, len(att)), Nsp: "/", ID: 1, Data: js, Attachments: att})
		if err != nil || !binary {
			t.Fatalf("encode %s: %v", js, err)
		}
		p, att2, err := pr.Decode(nil, msg, true, codec.MaxAttachmentsLimit)
		if err != nil {
			t.Fatalf("decode of %s: %v", js, err)
		}
		if p.ID != 1 || string(p.Nsp) != "/" || p.Attachments != len(att) || len(att2) != len(att) {
			t.Fatalf("packet %+v", p)
		}
		for i := range att {
			if !bytes.Equal(att[i], att2[i]) {
				t.Fatalf("attachment %d differs", i)
			}
		}
		var a, b any
		if json.Unmarshal(js, &a) != nil || json.Unmarshal(p.Data, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("JSON form\n%s\nafter msgpack\n%s", js, p.Data)
		}
	})
}
