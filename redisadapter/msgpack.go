package redisadapter

import "sio/codec"

// The Node adapter encodes with notepack.io. Our messages are built as JSON
// (the values an application emits are encoded once, by the socketio
// encoder, with encoding/json's semantics and []byte as attachment
// placeholders) and transcoded to msgpack by codec, placeholders becoming
// bin, as notepack writes the same values byte for byte; what arrives as
// msgpack is transcoded back to JSON plus attachments, so that the socketio
// layer sees what a client would have sent: key order kept, binary as
// attachments. The transcoder is shared with socketio's MsgpackParser (see
// codec/msgpack.go for what is written and read).

// encodeMsgpack transcodes the JSON value js to msgpack, each attachment
// placeholder {"_placeholder":true,"num":N} becoming bin att[N].
func encodeMsgpack(js []byte, att [][]byte) ([]byte, error) {
	n := len(js)
	for _, a := range att {
		n += len(a)
	}
	return codec.AppendMsgpackFromJSON(make([]byte, 0, n), js, att)
}

// decodeMsgpack transcodes the one msgpack value msg holds (trailing bytes
// are an error, as for notepack) to JSON and its attachments, which borrow
// msg.
func decodeMsgpack(msg []byte) (js []byte, att [][]byte, err error) {
	return codec.AppendJSONFromMsgpack(make([]byte, 0, len(msg)+len(msg)/2), nil, msg)
}
