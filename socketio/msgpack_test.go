package socketio_test

// The msgpack parser at the byte level, with the raw WebSocket client of
// helpers_test.go: what the server writes, bad input, and recovery.

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"sio/codec"
	"sio/socketio"
)

// mp builds a client packet as socket.io-msgpack-parser writes it.
func mp(t testing.TB, typ codec.SIOType, nsp string, id int64, data string, att ...[]byte) []byte {
	t.Helper()
	b, err := codec.AppendSIOMsgpack(nil, typ, nsp, id, []byte(data), att)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nextMsgpack reads the next message, which must be one binary msgpack
// packet, and decodes it.
func nextMsgpack(t testing.TB, c *wsClient) (codec.SIOPacket, [][]byte) {
	t.Helper()
	p := c.next(t)
	if p.eio != 'b' || len(p.att) != 1 {
		t.Fatalf("got %v, want one binary message", p)
	}
	pk, att, err := codec.DecodeSIOMsgpack(nil, p.att[0], 10)
	if err != nil {
		t.Fatalf("%x: %v", p.att[0], err)
	}
	return pk, att
}

func TestMsgpackParserBytes(t *testing.T) {
	ts := startServer(t, socketio.Options{Parser: socketio.MsgpackParser{}})
	conns := connections(ts.srv.Sockets())
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.On("e", func(e *socketio.Event) { _ = e.Ack("ok", []byte{1}) })
	})
	c := ts.ws(t)
	c.sendBin(t, mp(t, codec.SIOConnect, "/", -1, ""))
	p := c.next(t)
	s := <-conns
	// {type:0, data:{sid}, nsp:"/"}, as socket.io writes its CONNECT.
	want := append([]byte("\x83\xa4type\x00\xa4data\x81\xa3sid\xb4"), s.ID()...)
	want = append(want, "\xa3nsp\xa1/"...)
	if p.eio != 'b' || len(p.att) != 1 || !bytes.Equal(p.att[0], want) {
		t.Fatalf("connect ack %v %q, want %q", p, p.att, want)
	}
	// An event with an ack id and binary: the ack is one message.
	c.sendBin(t, mp(t, codec.SIOBinaryEvent, "/", 3, `["e",{"_placeholder":true,"num":0}]`, []byte{9}))
	p = c.next(t)
	want = []byte("\x84\xa2id\x03\xa4type\x03\xa4data\x92\xa2ok\xc4\x01\x01\xa3nsp\xa1/")
	if p.eio != 'b' || !bytes.Equal(p.att[0], want) {
		t.Fatalf("ack %q, want %q", p.att, want)
	}
	// Server-side disconnect.
	s.Disconnect(false)
	if pk, _ := nextMsgpack(t, c); pk.Type != codec.SIODisconnect || string(pk.Nsp) != "/" || len(pk.Data) != 0 {
		t.Fatalf("disconnect %+v", pk)
	}
}

func TestMsgpackParserRefusesBadInput(t *testing.T) {
	ts := startServer(t, socketio.Options{Parser: socketio.MsgpackParser{}, MaxAttachments: 2, MaxAttachmentBytes: 100})
	reasons := disconnectReasons(ts.srv.Sockets())
	valid := mp(t, codec.SIOEvent, "/", -1, `["a"]`)
	deep := append([]byte("\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1a"), bytes.Repeat([]byte{0x91}, 300)...)
	deep = append(deep, 0xc0)
	cases := map[string][]byte{
		"truncated":        valid[:len(valid)-2],
		"lying length":     []byte("\x83\xa4type\x02\xa3nsp\xa1/\xa4data\xdd\x7f\xff\xff\xff"),
		"lying bin length": []byte("\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1a\xc6\xff\xff\xff\x00"),
		"deep nesting":     deep,
		"array top level":  []byte("\x93\x02\xa1/\x91\xa1a"),
		"type as string":   []byte("\x83\xa4type\xa12\xa3nsp\xa1/\xa4data\x91\xa1a"),
		"unknown type":     []byte("\x83\xa4type\x07\xa3nsp\xa1/\xa4data\x91\xa1a"),
		"binary type":      []byte("\x83\xa4type\x05\xa3nsp\xa1/\xa4data\x91\xa1a"),
		"nsp as int":       []byte("\x83\xa4type\x02\xa3nsp\x01\xa4data\x91\xa1a"),
		"data as map":      []byte("\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x81\xa1a\x01"),
		"reserved event":   mp(t, codec.SIOEvent, "/", -1, `["disconnect"]`),
		"too many binary":  mp(t, codec.SIOBinaryEvent, "/", -1, `["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]`, []byte{1}, []byte{2}, []byte{3}),
		"oversized binary": mp(t, codec.SIOBinaryEvent, "/", -1, `["a",{"_placeholder":true,"num":0}]`, make([]byte, 101)),
		"trailing bytes":   append(bytes.Clone(valid), 0xc0),
		"reserved code":    []byte{0xc1},
		"empty":            {},
	}
	n := 0
	for name, msg := range cases {
		// Before any CONNECT, and once connected.
		for _, connected := range []bool{false, true} {
			c := ts.ws(t)
			if connected {
				c.sendBin(t, mp(t, codec.SIOConnect, "/", -1, ""))
				if pk, _ := nextMsgpack(t, c); pk.Type != codec.SIOConnect {
					t.Fatalf("%s: %+v", name, pk)
				}
			}
			c.sendBin(t, msg)
			c.waitClosed(t)
			n++
			if connected {
				select {
				case r := <-reasons:
					if r != socketio.ReasonParseError {
						t.Fatalf("%s: disconnect reason %q", name, r)
					}
				case <-time.After(ioTimeout):
					t.Fatalf("%s: no disconnect", name)
				}
			}
		}
	}
	// A text message is not a msgpack packet.
	c := ts.ws(t)
	c.send(t, "40")
	c.waitClosed(t)
	n++
	if got := ts.srv.Stats().ParseErrors; got != int64(n) {
		t.Fatalf("ParseErrors %d, want %d", got, n)
	}
	// Nothing before CONNECT but CONNECT, whatever the parser.
	c = ts.ws(t)
	c.sendBin(t, valid)
	c.waitClosed(t)
	ts.noPanics(t)
}

// The JSON parser counts its refusals too.
func TestJSONParserCountsParseErrors(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	c := ts.ws(t)
	c.send(t, `42["a"`)
	c.waitClosed(t)
	if got := ts.srv.Stats().ParseErrors; got != 1 {
		t.Fatalf("ParseErrors %d", got)
	}
}

// Connection state recovery with the msgpack parser: the offset travels as
// the last argument, and missed broadcasts (binary included) are replayed
// as msgpack before the CONNECT.
func TestMsgpackParserRecovery(t *testing.T) {
	ts := startServer(t, socketio.Options{Parser: socketio.MsgpackParser{}, Recovery: &socketio.Recovery{}})
	conns := connections(ts.srv.Sockets())
	reasons := disconnectReasons(ts.srv.Sockets())
	c := ts.ws(t)
	c.sendBin(t, mp(t, codec.SIOConnect, "/", -1, ""))
	ack, _ := nextMsgpack(t, c)
	var sid, pid string
	if sid, pid = jsonField(t, ack.Data, "sid"), jsonField(t, ack.Data, "pid"); sid == "" || pid == "" {
		t.Fatalf("connect ack %s", ack.Data)
	}
	s := <-conns
	_ = s.Emit("x", 1)
	ev, _ := nextMsgpack(t, c)
	offset := lastString(t, ev.Data)
	if !strings.HasPrefix(string(ev.Data), `["x",1,"`) || offset == "" {
		t.Fatalf("event %s", ev.Data)
	}
	c.close()
	<-reasons
	_ = ts.srv.Emit("missed", []byte{7, 7}, "two")
	_ = ts.srv.Emit("missed", 3)

	c2 := ts.ws(t)
	c2.sendBin(t, mp(t, codec.SIOConnect, "/", -1, `{"pid":"`+pid+`","offset":"`+offset+`"}`))
	m1, att := nextMsgpack(t, c2)
	if !strings.HasPrefix(string(m1.Data), `["missed",{"_placeholder":true,"num":0},"two","`) || len(att) != 1 || !bytes.Equal(att[0], []byte{7, 7}) {
		t.Fatalf("first missed packet %s %x", m1.Data, att)
	}
	m2, _ := nextMsgpack(t, c2)
	if !strings.HasPrefix(string(m2.Data), `["missed",3,"`) || lastString(t, m2.Data) <= lastString(t, m1.Data) {
		t.Fatalf("second missed packet %s after %s", m2.Data, m1.Data)
	}
	ack2, _ := nextMsgpack(t, c2)
	if ack2.Type != codec.SIOConnect || jsonField(t, ack2.Data, "sid") != sid {
		t.Fatalf("recovered connect %s, want sid %s", ack2.Data, sid)
	}
	if s2 := <-conns; !s2.Recovered() {
		t.Fatal("not recovered")
	}
}

func jsonField(t testing.TB, obj []byte, key string) string {
	t.Helper()
	var out string
	_ = codec.ObjectMembers(obj, func(k, v []byte) bool {
		if string(k) == key && codec.Kind(v) == codec.JSONString {
			out = string(v[1 : len(v)-1])
		}
		return true
	})
	return out
}

func lastString(t testing.TB, arr []byte) string {
	t.Helper()
	var last []byte
	_ = codec.ArrayElements(arr, func(_ int, e []byte) bool { last = e; return true })
	if codec.Kind(last) != codec.JSONString {
		t.Fatalf("%s does not end with a string", arr)
	}
	return string(last[1 : len(last)-1])
}
