package codec

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// Seeds: the npm parser's packets (testdata/msgpack_sio_vectors.json.gz,
// the short ones) and hand-made bad inputs.
func msgpackSeeds(f *testing.F) {
	for _, v := range loadSIOVectors(f) {
		if len(v.Hex) <= 2048 {
			f.Add(v.bytes(f))
		}
	}
	for _, h := range []string{
		"", "c1", "93a1", "dd7fffffff", "df7fffffff", "c9ffffffff00", "d40000", "d700fffffffffffffc17",
		"d6ff00000000", "c70300010203", "81 92 01 02 a178", "83a474797065 05 a46461746191a161 a36e7370a12f",
		"82a474797065 02 a46461746191a161", "83a474797065 02 a46461746191c403010203 a36e7370a12f",
	} {
		b, _ := hex.DecodeString(stringsNoSpace(h))
		f.Add(b)
	}
}

func stringsNoSpace(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)) }

// Any input: an error or valid JSON whose placeholders are the bin values,
// and JSON → msgpack → JSON is stable.
func FuzzMsgpackToJSON(f *testing.F) {
	msgpackSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		js, att, err := AppendJSONFromMsgpack(nil, nil, in)
		if !bytes.Equal(in, data) {
			t.Fatal("input modified")
		}
		if err != nil {
			return
		}
		if !ValidJSON(js) {
			t.Fatalf("invalid JSON %q from %x", js, data)
		}
		mp, err := AppendMsgpackFromJSON(nil, js, att)
		if err != nil {
			t.Fatalf("re-encoding %q: %v", js, err)
		}
		js2, att2, err := AppendJSONFromMsgpack(nil, nil, mp)
		if err != nil || !bytes.Equal(js, js2) || len(att) != len(att2) {
			t.Fatalf("round trip of %q: %q %v", js, js2, err)
		}
	})
}

// Any input: an error or a packet that DecodeSIO would accept in its JSON
// form, and that survives AppendSIOMsgpack and a second decode unchanged.
func FuzzDecodeSIOMsgpack(f *testing.F) {
	msgpackSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, att, err := DecodeSIOMsgpack(nil, data, 4)
		if err != nil {
			return
		}
		if p.Type > SIOBinaryAck || len(att) != p.Attachments || len(att) > 4 || p.ID > MaxAckID {
			t.Fatalf("packet %+v with %d attachments", p, len(att))
		}
		for _, a := range att {
			if !within(data, a) {
				t.Fatal("attachment not borrowed")
			}
		}
		text := AppendSIOHeader(nil, p.Type, p.Attachments, "/", p.ID)
		if _, err := DecodeSIO(append(text, p.Data...), 4); err != nil {
			t.Fatalf("JSON form %q refused: %v", append(text, p.Data...), err)
		}
		msg, err := AppendSIOMsgpack(nil, p.Type, string(p.Nsp), p.ID, p.Data, att)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		p2, att2, err := DecodeSIOMsgpack(nil, msg, 4)
		if err != nil || p2.Type != p.Type || p2.ID != p.ID || !bytes.Equal(p2.Nsp, p.Nsp) || !bytes.Equal(p2.Data, p.Data) || len(att2) != len(att) {
			t.Fatalf("round trip: %+v %v, want %+v", p2, err, p)
		}
	})
}

// Valid JSON (within the depth bound) always transcodes, and back to the
// same JSON value.
func FuzzJSONToMsgpack(f *testing.F) {
	for _, s := range []string{`[1,2.5,"a",null,true,{"b":[{}]}]`, `{"_placeholder":true,"num":0}`, `"\ud83d\ude00\u2028"`, `-0`, `1e400`, `[18446744073709551616]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		mp, err := AppendMsgpackFromJSON(nil, js, [][]byte{{1}})
		if !ValidJSON(js) {
			if err == nil {
				t.Fatalf("invalid JSON %q transcoded", js)
			}
			return
		}
		if err != nil {
			if err == ErrJSONTooDeep {
				return
			}
			t.Fatalf("%q: %v", js, err)
		}
		back, _, err := AppendJSONFromMsgpack(nil, nil, mp)
		if err != nil || !ValidJSON(back) {
			t.Fatalf("%q → %x → %q, %v", js, mp, back, err)
		}
	})
}
