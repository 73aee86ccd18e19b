package socketio_test

// The msgpack parser against the real npm socket.io-client 4.8.4 with
// socket.io-msgpack-parser 3.0.2 (test/interop/driver.mjs, parser
// "msgpack"), over polling, WebSocket and polling upgraded to WebSocket.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/socketio"
)

// countingParser counts the packets the server encodes.
type countingParser struct {
	socketio.MsgpackParser
	encodes atomic.Int64
}

func (p *countingParser) Encode(dst []byte, pk *socketio.ParserPacket) ([]byte, bool, error) {
	p.encodes.Add(1)
	return p.MsgpackParser.Encode(dst, pk)
}

func TestMsgpackParserWithNpmClient(t *testing.T) {
	for _, mode := range []struct {
		name       string
		transports []string
	}{
		{"polling", []string{"polling"}},
		{"websocket", []string{"websocket"}},
		{"upgrade", []string{"polling", "websocket"}},
	} {
		t.Run(mode.name, func(t *testing.T) { testMsgpackNpm(t, mode.transports) })
	}
}

func testMsgpackNpm(t *testing.T, transports []string) {
	parser := &countingParser{}
	ts := startServer(t, socketio.Options{Parser: parser})
	srv := ts.srv
	base := "http://" + ts.addr
	type answer struct {
		raw []string
		bin []byte
		err error
	}
	answers := make(chan answer, 4)
	received := make(chan []string, 8)
	srv.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Values()...) })
		s.On("record", func(e *socketio.Event) {
			received <- argsStrings(&e.Args)
			_ = e.Ack()
		})
		s.On("types", func(e *socketio.Event) {
			_ = e.Ack(1, int64(1)<<40, -5, -200, 70000, 3.25, 0.1, "s", nil, true,
				map[string]any{"m": []any{1, "two"}}, []byte{1, 2, 3}, uint64(1)<<53-1, -2147483649)
		})
		s.On("ask", func(e *socketio.Event) {
			_ = s.Timeout(5*time.Second).Emit("question", "q?", []byte{0xca, 0xfe}, socketio.AckHandler(func(a *socketio.Args, err error) {
				if err != nil {
					answers <- answer{err: err}
					return
				}
				var bin []byte
				var m map[string]json.RawMessage
				if a.Decode(0, &m) == nil {
					_ = json.Unmarshal(m["ok"], &bin) // []byte as base64 once decoded
				}
				answers <- answer{raw: argsStrings(a), bin: bin}
			}))
		})
	})
	chat := srv.Of("/chat")
	chat.Use(func(s *socketio.Socket, next func(error)) {
		var auth struct{ Token string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if auth.Token != "ok" {
			next(&socketio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 42, "why": []any{"token", nil}}})
			return
		}
		next(nil)
	})
	chat.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(append([]any{"chat"}, e.Values()...)...) })
	})

	nc := testutil.StartNodeClients(t)
	opts := func(url string, auth any) testutil.ClientOptions {
		return testutil.ClientOptions{URL: url, Transports: transports, Parser: "msgpack", Auth: auth}
	}
	if _, err := nc.Connect("a", opts(base, nil)); err != nil {
		t.Fatal(err)
	}

	// Client → server → client: every JSON type and binary, nested, in an
	// ack carrying back what the handler received.
	args := []any{1, -1, 300, 2.5, 1e-7, "str ✓", "", nil, true, false, []any{1, "x", []any{}},
		map[string]any{"k": map[string]any{"n": true, "bin": testutil.NodeBin{0xff, 0}}}, testutil.NodeBin{1, 2, 3}}
	want := `[1,-1,300,2.5,1e-7,"str ✓","",null,true,false,[1,"x",[]],{"k":{"bin":{"$bin":"ff00"},"n":true}},{"$bin":"010203"}]`
	got, err := nc.Emit("a", "echo", args...)
	if err != nil || string(got) != want {
		t.Fatalf("echo: %s %v\nwant %s", got, err, want)
	}
	// What the handler saw, as JSON with placeholders.
	if _, err := nc.Emit("a", "record", 7, 1.5, "é", nil, map[string]any{"a": []any{testutil.NodeBin{9}}}); err != nil {
		t.Fatal(err)
	}
	if r := <-received; fmt.Sprint(r) != `[7 1.5 "é" null {"a":[{"_placeholder":true,"num":0}]}]` {
		t.Fatalf("handler got %q", r)
	}

	// Server → client: Go values as the client decodes them.
	got, err = nc.Emit("a", "types")
	wantTypes := `[1,1099511627776,-5,-200,70000,3.25,0.1,"s",null,true,{"m":[1,"two"]},{"$bin":"010203"},9007199254740991,-2147483649]`
	if err != nil || string(got) != wantTypes {
		t.Fatalf("types: %s %v\nwant %s", got, err, wantTypes)
	}

	// Server → client with an ack, binary both ways.
	if _, err := nc.Connect("q", testutil.ClientOptions{URL: base, Transports: transports, Parser: "msgpack",
		AutoAck: map[string]any{"question": map[string]any{"ok": testutil.NodeBin{9, 8}, "n": 1}}}); err != nil {
		t.Fatal(err)
	}
	nc.EmitNoAck("q", "ask")
	if q, err := nc.Next("q", "question", interopWait); err != nil || string(q) != `["q?",{"$bin":"cafe"},{"$fn":true}]` {
		t.Fatalf("question: %s %v", q, err)
	}
	select {
	case a := <-answers:
		if a.err != nil || fmt.Sprint(a.raw) != `[{"n":1,"ok":{"_placeholder":true,"num":0}}]` || string(a.bin) != "\x09\x08" {
			t.Fatalf("answer %q %x %v", a.raw, a.bin, a.err)
		}
	case <-time.After(interopWait):
		t.Fatal("no answer")
	}

	// A namespace with a middleware: the refusal's message and data, then
	// a connection, and events there.
	_, err = nc.Connect("c", opts(base+"/chat", map[string]any{"token": "bad"}))
	var ce *testutil.ConnectError
	if !errors.As(err, &ce) || ce.Message != "not authorized" || string(ce.Data) != `{"code":42,"why":["token",null]}` {
		t.Fatalf("connect error: %v", err)
	}
	if _, err := nc.Connect("c2", opts(base+"/chat", map[string]any{"token": "ok"})); err != nil {
		t.Fatal(err)
	}
	if got, err := nc.Emit("c2", "echo", testutil.NodeBin{5}); err != nil || string(got) != `["chat",{"$bin":"05"}]` {
		t.Fatalf("chat echo: %s %v", got, err)
	}
	// An unknown namespace.
	if _, err := nc.Connect("d", opts(base+"/nope", nil)); !errors.As(err, &ce) || ce.Message != "Invalid namespace" {
		t.Fatalf("unknown namespace: %v", err)
	}

	// A broadcast to many clients, encoded once, decoded by each.
	ids := []string{"a", "q"}
	for i := range 6 {
		id := fmt.Sprintf("m%d", i)
		if _, err := nc.Connect(id, opts(base, nil)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	before := parser.encodes.Load()
	if err := srv.Emit("news", map[string]any{"n": 1, "f": 0.5}, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if got, err := nc.Next(id, "news", interopWait); err != nil || string(got) != `[{"f":0.5,"n":1},{"$bin":"0102"}]` {
			t.Fatalf("%s: news %s %v", id, got, err)
		}
	}
	if n := parser.encodes.Load() - before; n != 1 {
		t.Fatalf("a broadcast to %d clients was encoded %d times", len(ids), n)
	}
	// A broadcast with acks: every client answers.
	for _, id := range ids {
		nc.Disconnect(id)
	}
	for i := range 3 {
		id := fmt.Sprintf("r%d", i)
		if _, err := nc.Connect(id, testutil.ClientOptions{URL: base, Transports: transports, Parser: "msgpack",
			AutoAck: map[string]any{"poll": map[string]any{"me": testutil.AckSocketID}}}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), interopWait)
	defer cancel()
	replies, err := srv.Timeout(interopWait).EmitWithAck(ctx, "poll", "?")
	if err != nil || len(replies) != 3 {
		t.Fatalf("broadcast with acks: %d replies, %v", len(replies), err)
	}
	for _, r := range replies {
		var m struct{ Me string }
		if err := r.Decode(0, &m); err != nil || len(m.Me) != 20 {
			t.Fatalf("reply %q %v", argsStrings(r), err)
		}
	}
	if st := srv.Stats(); st.ParseErrors != 0 {
		t.Fatalf("%d parse errors", st.ParseErrors)
	}
}
