package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/socketio"
)

type sendMsg struct {
	Channel string   `json:"channel"`
	Text    string   `json:"text"`
	Tags    []string `json:"tags"`
	Blob    []byte   `json:"blob"`
}

type sendResult struct {
	OK     bool   `json:"ok"`
	Echo   string `json:"echo"`
	Tags   int    `json:"tags"`
	BlobSz int    `json:"blobSize"`
}

// TestTypedHandlersWithTheRealClient: the generic On decodes the real
// client's argument (nested binary included) into a Go struct and answers
// its ack with a Go value; an argument that does not fit is answered
// {"error":"invalid"}, counted, reported to OnError, and never reaches the
// handler; Once handles one event only.
func TestTypedHandlersWithTheRealClient(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	var mu sync.Mutex
	var handled []sendMsg
	var reported []error
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.OnError(func(err error) {
			mu.Lock()
			reported = append(reported, err)
			mu.Unlock()
		})
		socketio.On(s, "send", func(s *socketio.Socket, m sendMsg, ack func(sendResult)) {
			mu.Lock()
			handled = append(handled, m)
			mu.Unlock()
			ack(sendResult{OK: true, Echo: m.Channel + ":" + m.Text, Tags: len(m.Tags), BlobSz: len(m.Blob)})
		})
		socketio.Once(s, "hello", func(s *socketio.Socket, name string, ack func(string)) {
			ack("hello " + name)
		})
	})
	n := testutil.StartNodeClients(t)
	if _, err := n.Connect("a", testutil.ClientOptions{URL: "http://" + ts.addr}); err != nil {
		t.Fatal(err)
	}
	ack, err := n.Emit("a", "send", map[string]any{"channel": "general", "text": "hi", "tags": []string{"x", "y"}, "blob": testutil.NodeBin{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	jsonSame(t, "typed ack", ack, `[{"ok":true,"echo":"general:hi","tags":2,"blobSize":3}]`)

	// A string where an object is expected, and no argument at all.
	for _, c := range []struct {
		args []any
		want string
	}{
		{[]any{"not an object"}, `[{"error":"invalid","message":"argument does not match the expected type"}]`},
		{[]any{}, `[{"error":"invalid","message":"missing argument"}]`},
	} {
		ack, err = n.Emit("a", "send", c.args...)
		if err != nil {
			t.Fatal(err)
		}
		jsonSame(t, "ack of an invalid argument", ack, c.want)
	}
	if got := ts.srv.Stats().InvalidArgs; got != 2 {
		t.Errorf("Stats().InvalidArgs = %d, want 2", got)
	}
	mu.Lock()
	if len(handled) != 1 || handled[0].Channel != "general" || string(handled[0].Blob) != "\x01\x02\x03" {
		t.Errorf("handler saw %+v, want only the valid message", handled)
	}
	var ie *socketio.InvalidArgsError
	if len(reported) != 2 || !errors.As(reported[0], &ie) || ie.Event != "send" {
		t.Errorf("OnError got %v, want two *InvalidArgsError for send", reported)
	}
	mu.Unlock()

	ack, err = n.Emit("a", "hello", "bob")
	if err != nil {
		t.Fatal(err)
	}
	jsonSame(t, "once ack", ack, `["hello bob"]`)
	if _, err := n.Emit("a", "hello", "carol"); !errors.Is(err, testutil.ErrNoAck) {
		t.Fatalf("a second hello after Once: %v, want no answer", err)
	}
}

// TestOnceOffAndOffAny: Once handlers run for one event and leave the
// other handlers of that event in place; Off removes every handler of an
// event; OffAny removes the catch-all handlers.
func TestOnceOffAndOffAny(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	ts.srv.OnConnection(func(s *socketio.Socket) {
		s.Once("e", func(e *socketio.Event) { _ = e.Socket().Emit("once") })
		s.On("e", func(e *socketio.Event) { _ = e.Socket().Emit("always") })
		s.OnAny(func(e *socketio.Event) { _ = e.Socket().Emit("any", e.Name()) })
		s.On("off", func(e *socketio.Event) { e.Socket().Off("e"); _ = e.Ack() })
		s.On("offAny", func(e *socketio.Event) { e.Socket().OffAny(); _ = e.Ack() })
	})
	c, _ := ts.wsConnected(t, "/")
	c.send(t, `42["e"]`)
	c.expect(t, `42["any","e"]`)
	c.expect(t, `42["once"]`)
	c.expect(t, `42["always"]`)
	c.send(t, `42["e"]`)
	c.expect(t, `42["any","e"]`)
	c.expect(t, `42["always"]`)
	c.send(t, `421["offAny"]`)
	c.expect(t, `42["any","offAny"]`) // the catch-all ran before the handler removed it
	c.expect(t, `431[]`)
	c.send(t, `42["e"]`)
	c.expect(t, `42["always"]`)
	c.send(t, `422["off"]`)
	c.expect(t, `432[]`)
	c.send(t, `42["e"]`)
	c.expectNone(t, 200*time.Millisecond)
}

// TestSocketContextIsCancelledOnDisconnect: work started from a handler
// under Socket.Context stops when its client goes, whichever side ends
// the connection, and learns why; a context asked for after the end is
// already cancelled; a refused connection's context is cancelled too.
func TestSocketContextIsCancelledOnDisconnect(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	type ended struct {
		id    socketio.SocketID
		cause error
	}
	stopped := make(chan ended, 8)
	sockets := make(chan *socketio.Socket, 8)
	ts.srv.OnConnection(func(s *socketio.Socket) {
		sockets <- s
		s.On("work", func(e *socketio.Event) {
			ctx := e.Socket().Context()
			_ = e.Ack("started")
			go func() { // blocking work, off the loop
				<-ctx.Done()
				stopped <- ended{e.Socket().ID(), context.Cause(ctx)}
			}()
		})
	})
	waitStop := func(id socketio.SocketID, reason string) {
		t.Helper()
		select {
		case got := <-stopped:
			var de *socketio.DisconnectError
			if got.id != id || !errors.As(got.cause, &de) || de.Reason != reason || !errors.Is(got.cause, socketio.ErrDisconnected) {
				t.Fatalf("work of %s stopped with %v, want %s's with reason %q", got.id, got.cause, id, reason)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the work of %s did not stop (%s)", id, reason)
		}
	}

	// The client leaves the namespace.
	c, _ := ts.wsConnected(t, "/")
	s := <-sockets
	c.send(t, `421["work"]`)
	c.expect(t, `431["started"]`)
	select {
	case got := <-stopped:
		t.Fatalf("work stopped while its client is connected: %v", got.cause)
	case <-time.After(100 * time.Millisecond):
	}
	c.send(t, `41`)
	waitStop(s.ID(), "client namespace disconnect")
	if err := s.Context().Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Context() after the disconnect: %v, want cancelled", err)
	}
	c.close()

	// The server disconnects a socket.
	c2, _ := ts.wsConnected(t, "/")
	s2 := <-sockets
	c2.send(t, `421["work"]`)
	c2.expect(t, `431["started"]`)
	s2.Disconnect(false)
	waitStop(s2.ID(), "server namespace disconnect")

	// The connection drops.
	c3, _ := ts.wsConnected(t, "/")
	s3 := <-sockets
	c3.send(t, `421["work"]`)
	c3.expect(t, `431["started"]`)
	c3.close()
	waitStop(s3.ID(), "transport close")

	// A middleware that starts work, then refuses the connection.
	nsp := ts.srv.Of("/refused")
	nsp.Use(func(s *socketio.Socket, next func(error)) {
		ctx := s.Context()
		go func() {
			<-ctx.Done()
			stopped <- ended{s.ID(), context.Cause(ctx)}
		}()
		next(errors.New("no"))
	})
	c4 := ts.ws(t)
	c4.send(t, connectFrame("/refused", ""))
	if p := c4.next(t); p.typ != 4 {
		t.Fatalf("got %s, want a CONNECT_ERROR", p)
	}
	select {
	case got := <-stopped:
		if !errors.Is(got.cause, socketio.ErrDisconnected) {
			t.Fatalf("refused socket's context ended with %v", got.cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the refused socket's context was not cancelled")
	}
	c4.close()
}

// jsonSame compares JSON documents (key order and spacing aside).
func jsonSame(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation %v", what, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s: got %s, want %s", what, got, want)
	}
}
