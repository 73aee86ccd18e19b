package engine_test

// permessage-deflate against the real npm ws client (test/interop/ws-deflate.mjs),
// with the frames the server sent sniffed off the client's socket: those of
// at least the threshold arrive compressed (RSV1), smaller ones and
// compress(false) ones do not, whatever the client offered; what the
// client compresses is inflated; a deflate bomb, corrupt data and RSV1
// without negotiation close the connection with ws's codes.

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"sio/engine"
	"sio/internal/testutil"
	"sio/loop"
)

// deflateServer echoes: "echo:X" → X, "plain:X" → X with compress(false),
// "bcast:X" → X as a Prepared with two binary attachments (16 bytes and
// 3000 bytes); a binary message is echoed as binary.
func deflateServer(t *testing.T, d *engine.Deflate) *engine.Server {
	t.Helper()
	srv := engine.NewServer(engine.Config{PerMessageDeflate: d, PingInterval: 10 * time.Second},
		loop.Options{Addr: "127.0.0.1:0", NumLoops: 2})
	srv.OnConnection(func(s *engine.Session, _ *loop.Request) {
		s.OnMessage(func(s *engine.Session, data []byte, binary bool) {
			switch {
			case binary:
				s.Send(data, true)
			case bytes.HasPrefix(data, []byte("echo:")):
				s.Send(data[5:], false)
			case bytes.HasPrefix(data, []byte("plain:")):
				s.SendWith(nil, append([]byte(nil), data[6:]...), nil, engine.SendOptions{NoCompress: true})
			case bytes.HasPrefix(data, []byte("bcast:")):
				p := engine.NewPrepared(data[6:], [][]byte{bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 3000)})
				s.SendPrepared(p, false)
			}
		})
	})
	go func() { _ = srv.Serve() }()
	<-srv.Ready()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

func startWSD(t *testing.T, srv *engine.Server, pmd string) *testutil.WSDeflate {
	t.Helper()
	return testutil.StartWSDeflate(t, "ws://"+srv.Loop().Addr().String()+"/engine.io/?EIO=4&transport=websocket", pmd)
}

func TestDeflateInteropWS(t *testing.T) {
	srv := deflateServer(t, &engine.Deflate{})  // Node's threshold: 1024
	big := strings.Repeat("héllo wörld, ", 200) // > 1024 bytes, compressible
	bigBin := bytes.Repeat([]byte("0123456789abcdef"), 300)

	offers := []struct {
		name string
		pmd  string
		want bool // negotiated
	}{
		{"default offer", `{}`, true},
		{"client_no_context_takeover", `{"clientNoContextTakeover":true}`, true},
		{"server_no_context_takeover and client window 10", `{"serverNoContextTakeover":true,"clientMaxWindowBits":10}`, true},
		{"server window 15", `{"serverMaxWindowBits":15}`, true},
		{"server window 10 (declined)", `{"serverMaxWindowBits":10}`, false},
		{"no offer", `false`, false},
	}
	for _, o := range offers {
		t.Run(o.name, func(t *testing.T) {
			before := srv.Loop().Stats()
			c := startWSD(t, srv, o.pmd)
			ext := c.Open()
			if got := strings.HasPrefix(ext, "permessage-deflate"); got != o.want {
				t.Fatalf("negotiated %q, want deflate %v", ext, o.want)
			}
			if o.want && (!strings.Contains(ext, "server_no_context_takeover") || !strings.Contains(ext, "client_no_context_takeover")) {
				t.Errorf("negotiated %q: context takeover not off both ways", ext)
			}
			check := func(what string, cmd map[string]any, want []bool, wantData []string) {
				t.Helper()
				c.Send(cmd)
				frames, msgs := c.Collect(len(want))
				for i, f := range frames {
					if f.Rsv1 != (want[i] && o.want) {
						t.Errorf("%s: frame %d (%d bytes on the wire) RSV1 %v, want %v", what, i, f.Len, f.Rsv1, want[i] && o.want)
					}
				}
				for i, m := range msgs {
					if m.Data != wantData[i] {
						t.Errorf("%s: message %d is %.40q… (%d), want %.40q… (%d)", what, i, m.Data, len(m.Data), wantData[i], len(wantData[i]))
					}
				}
			}
			// The client compresses what it sends (ws's threshold is 1024 too).
			check("large text", map[string]any{"op": "send", "data": "4echo:" + big, "compress": true}, []bool{true}, []string{"4" + big})
			check("small text", map[string]any{"op": "send", "data": "4echo:hi", "compress": true}, []bool{false}, []string{"4hi"})
			check("compress(false)", map[string]any{"op": "send", "data": "4plain:" + big, "compress": true}, []bool{false}, []string{"4" + big})
			check("binary", map[string]any{"op": "send", "data": hex.EncodeToString(bigBin), "hex": true, "binary": true, "compress": true},
				[]bool{true}, []string{hex.EncodeToString(bigBin)})
			check("prepared with attachments", map[string]any{"op": "send", "data": "4bcast:" + big, "compress": true},
				[]bool{true, false, true}, []string{"4" + big, strings.Repeat("07", 16), strings.Repeat("09", 3000)})
			check("uncompressed by the client", map[string]any{"op": "send", "data": "4echo:" + big, "compress": false}, []bool{true}, []string{"4" + big})
			after := srv.Loop().Stats()
			if o.want {
				if after.Inflated-before.Inflated < 4 {
					t.Errorf("server inflated %d messages, want the client's 4 compressed ones at least", after.Inflated-before.Inflated)
				}
			}
			c.Send(map[string]any{"op": "close"})
			if code := c.Next("close").Code; code != 1005 && code != 1000 {
				t.Errorf("close code %d", code)
			}
		})
	}
}

func TestDeflateInteropWSBadInput(t *testing.T) {
	srv := deflateServer(t, &engine.Deflate{Threshold: -1})
	cases := []struct {
		name string
		pmd  string
		cmd  map[string]any
		code int
	}{
		// 5 MB of zeros compress to ~5 KB: inflating stops at maxPayload (1e6).
		{"deflate bomb", `{}`, map[string]any{"op": "send", "data": strings.Repeat("00", 5e6), "hex": true, "binary": true, "compress": true}, 1009},
		{"corrupt data", `{}`, map[string]any{"op": "raw", "hex": "ffffffff", "rsv1": true, "opcode": 1}, 1007},
		{"RSV1 on a control frame", `{}`, map[string]any{"op": "raw", "hex": "", "rsv1": true, "opcode": 9}, 1002},
		{"RSV1 without negotiation", `false`, map[string]any{"op": "raw", "hex": "3400", "rsv1": true, "opcode": 1}, 1002},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startWSD(t, srv, tc.pmd)
			c.Open()
			// Threshold -1: even the one-byte ping reply is compressed.
			c.SendText("4echo:x", false)
			frames, _ := c.Collect(1)
			if len(frames) != 1 || frames[0].Rsv1 != (tc.pmd != "false") {
				t.Fatalf("echo of one byte: frames %+v", frames)
			}
			c.Send(tc.cmd)
			if code := c.Next("close").Code; code != tc.code {
				t.Fatalf("close code %d, want %d", code, tc.code)
			}
		})
	}
}

// A ws client that insists on context takeover cannot connect: the server
// always answers client_no_context_takeover (the memory bound), which the
// RFC lets it do and ws refuses only when told to.
func TestDeflateInteropWSClientInsistsOnContextTakeover(t *testing.T) {
	srv := deflateServer(t, &engine.Deflate{})
	c := startWSD(t, srv, `{"clientNoContextTakeover":false}`)
	l := c.Next("error")
	if l.Message != "Invalid Sec-WebSocket-Extensions header" {
		t.Fatalf("error %q", l.Message)
	}
}
