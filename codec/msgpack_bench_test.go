package codec

import "testing"

// The msgpack forms of benchSIOEvent and benchSIOBinaryEvent (the JSON
// parser's benchmarks), so the two parsers' costs compare directly.
var (
	benchMPEventData  = []byte(`["chat",{"user":"ann","text":"hello world"}]`)
	benchMPBinaryData = []byte(`["file",{"name":"a.png","data":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]`)
	benchMPAtt        = [][]byte{make([]byte, 1024), make([]byte, 16)}
)

func BenchmarkMsgpackEncodeEvent(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		out, err := AppendSIOMsgpack(buf[:0], SIOEvent, "/", -1, benchMPEventData, nil)
		if err != nil {
			b.Fatal(err)
		}
		buf = out
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkMsgpackEncodeBinaryEvent(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 2048)
	for b.Loop() {
		out, err := AppendSIOMsgpack(buf[:0], SIOBinaryEvent, "/upload", 3, benchMPBinaryData, benchMPAtt)
		if err != nil {
			b.Fatal(err)
		}
		buf = out
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkMsgpackDecodeEvent(b *testing.B) {
	msg, _ := AppendSIOMsgpack(nil, SIOEvent, "/", -1, benchMPEventData, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	dst := make([]byte, 0, 256)
	for b.Loop() {
		p, _, err := DecodeSIOMsgpack(dst[:0], msg, 0)
		if err != nil || p.Type != SIOEvent {
			b.Fatal(p, err)
		}
	}
}

func BenchmarkMsgpackDecodeBinaryEvent(b *testing.B) {
	msg, _ := AppendSIOMsgpack(nil, SIOBinaryEvent, "/upload", 3, benchMPBinaryData, benchMPAtt)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	dst := make([]byte, 0, 256)
	for b.Loop() {
		p, att, err := DecodeSIOMsgpack(dst[:0], msg, 0)
		if err != nil || p.Type != SIOBinaryEvent || len(att) != 2 || p.ID != 3 {
			b.Fatal(p, err)
		}
	}
}
