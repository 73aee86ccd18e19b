package socketio

import "testing"

// BenchmarkMsgpackParserEncodeEvent is BenchmarkEncodeEvent's packet through
// the msgpack parser: the JSON payload, then its transcoding, as an emit or
// a broadcast pays it once.
func BenchmarkMsgpackParserEncodeEvent(b *testing.B) {
	data := []any{"chat message", "hello world", 42, true}
	pr := MsgpackParser{}
	b.ReportAllocs()
	var js, msg []byte
	for b.Loop() {
		var att [][]byte
		var err error
		js, att, err = encodePayload(js[:0], data)
		if err != nil {
			b.Fatal(err)
		}
		msg, _, err = pr.Encode(msg[:0], &ParserPacket{Type: eventType(false, len(att)), Nsp: "/", ID: -1, Data: js, Attachments: att})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(msg)))
}
