package socketio_test

// permessage-deflate with real clients: socket.io-client 4.8 (which offers
// it in Node by default, threshold 1024 on its side) exchanging events,
// acks, binary attachments and broadcasts with compression on; and the raw
// ws client showing on the wire that the compress flag is honoured for
// socket emits and broadcasts.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"sio/engine"
	"sio/internal/testutil"
	"sio/socketio"
)

func deflateApp(t *testing.T, threshold int) *testServer {
	t.Helper()
	ts := startServer(t, socketio.Options{Engine: engine.Config{PerMessageDeflate: &engine.Deflate{Threshold: threshold}}})
	io := ts.srv
	io.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Values()...) })
		s.On("shout", func(e *socketio.Event) { _ = io.Emit("news", e.Values()...) })
		s.On("shout-plain", func(e *socketio.Event) { _ = io.Of("/").Compress(false).Emit("news", e.Values()...) })
		s.On("plain", func(e *socketio.Event) { _ = s.Compress(false).Emit("back", e.Values()...) })
		s.On("squeeze", func(e *socketio.Event) { _ = s.Compress(true).Emit("back", e.Values()...) })
		s.On("bin", func(e *socketio.Event) {
			_ = s.Emit("binback", bytes.Repeat([]byte{0xab}, 4000), []byte{1, 2, 3})
		})
	})
	return ts
}

func TestDeflateInteropSocketIOClient(t *testing.T) {
	for _, th := range []struct {
		name      string
		threshold int
	}{{"threshold 1024", 0}, {"threshold 0", -1}} {
		t.Run(th.name, func(t *testing.T) {
			ts := deflateApp(t, th.threshold)
			n := testutil.StartNodeClients(t)
			url := "http://" + ts.addr
			for _, id := range []string{"a", "b"} {
				if _, err := n.Connect(id, testutil.ClientOptions{URL: url}); err != nil {
					t.Fatalf("connect %s: %v", id, err)
				}
			}
			// A polling client upgraded to WebSocket negotiates it too.
			if _, err := n.Connect("c", testutil.ClientOptions{URL: url, Transports: []string{"polling", "websocket"}}); err != nil {
				t.Fatalf("connect c: %v", err)
			}
			big := strings.Repeat("compressible text, ", 300)
			bigBin := bytes.Repeat([]byte("0123456789"), 500)
			want, _ := json.Marshal([]any{big, testutil.NodeBin(bigBin), "small", 42})

			// Events with acks, both ways compressed (the client compresses
			// what reaches its threshold: big and the attachment).
			got, err := n.Emit("a", "echo", big, testutil.NodeBin(bigBin), "small", 42)
			if err != nil {
				t.Fatal(err)
			}
			interopJSONEq(t, "echo ack", got, string(want))

			// A broadcast, compressed once for every recipient.
			n.EmitNoAck("a", "shout", big, testutil.NodeBin(bigBin))
			wantNews, _ := json.Marshal([]any{big, testutil.NodeBin(bigBin)})
			for _, id := range []string{"a", "b", "c"} {
				args, err := n.Next(id, "news", 10*time.Second)
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				interopJSONEq(t, id+" news", args, string(wantNews))
			}
			n.EmitNoAck("b", "shout-plain", big)
			wantPlain, _ := json.Marshal([]any{big})
			for _, id := range []string{"a", "b", "c"} {
				args, err := n.Next(id, "news", 10*time.Second)
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				interopJSONEq(t, id+" uncompressed news", args, string(wantPlain))
			}

			// Binary attachments, one above and one below the threshold.
			n.EmitNoAck("c", "bin")
			args, err := n.Next("c", "binback", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			wantBin, _ := json.Marshal([]any{testutil.NodeBin(bytes.Repeat([]byte{0xab}, 4000)), testutil.NodeBin([]byte{1, 2, 3})})
			interopJSONEq(t, "binback", args, string(wantBin))

			n.EmitNoAck("b", "plain", big)
			if args, err := n.Next("b", "back", 10*time.Second); err != nil {
				t.Fatal(err)
			} else {
				interopJSONEq(t, "compress(false) emit", args, string(wantPlain))
			}

			st := ts.srv.Engine().Loop().Stats()
			if st.Deflate < 3 {
				t.Errorf("%d connections negotiated permessage-deflate, want the 3 clients'", st.Deflate)
			}
			if st.Inflated < 2 {
				t.Errorf("%d compressed messages inflated, want the client's big text and attachment at least", st.Inflated)
			}
		})
	}
}

// The compress flag on the wire: frames from the threshold (1024) up are
// compressed unless the emit or broadcast said compress(false).
func TestDeflateCompressFlagOnTheWire(t *testing.T) {
	ts := deflateApp(t, 0)
	c := testutil.StartWSDeflate(t, "ws://"+ts.addr+"/socket.io/?EIO=4&transport=websocket", "{}")
	if ext := c.Open(); !strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("not negotiated: %q", ext)
	}
	c.SendText("40", false)
	if _, msgs := c.Collect(1); !strings.HasPrefix(msgs[0].Data, "40{") {
		t.Fatalf("connect: %q", msgs[0].Data)
	}
	big := strings.Repeat("x", 2000)
	for _, tc := range []struct {
		event string
		rsv1  bool
	}{
		{"squeeze", true}, {"plain", false}, {"shout", true}, {"shout-plain", false}, {"echo", true},
	} {
		frame := `42["` + tc.event + `","` + big + `"]`
		if tc.event == "echo" {
			frame = `421["echo","` + big + `"]`
		}
		c.SendText(frame, true)
		frames, msgs := c.Collect(1)
		var f testutil.WSLine
		for _, x := range frames {
			if x.Opcode == 1 && x.Len > 1 { // not a ping
				f = x
			}
		}
		if f.Rsv1 != tc.rsv1 {
			t.Errorf("%s: RSV1 %v (%d bytes on the wire), want %v", tc.event, f.Rsv1, f.Len, tc.rsv1)
		}
		if tc.rsv1 && f.Len > 200 {
			t.Errorf("%s: %d bytes on the wire for 2000 x", tc.event, f.Len)
		}
		if !strings.Contains(msgs[0].Data, big) {
			t.Errorf("%s: got %.60q", tc.event, msgs[0].Data)
		}
	}
	// A small message stays uncompressed whatever the flag.
	c.SendText(`42["squeeze","hi"]`, false)
	frames, _ := c.Collect(1)
	if frames[len(frames)-1].Rsv1 {
		t.Errorf("a message below the threshold was compressed")
	}
	// Binary attachments decide by their own size.
	c.SendText(`42["bin"]`, false)
	frames, msgs := c.Collect(3)
	var rsv []bool
	for _, f := range frames {
		if f.Len > 1 {
			rsv = append(rsv, f.Rsv1)
		}
	}
	if len(rsv) != 3 || rsv[0] || !rsv[1] || rsv[2] {
		t.Errorf("binback frames RSV1 %v, want [false true false] (header, 4000-byte and 3-byte attachments)", rsv)
	}
	if msgs[1].Data != hex.EncodeToString(bytes.Repeat([]byte{0xab}, 4000)) {
		t.Errorf("attachment corrupted")
	}
}
