package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"sio/loop"
	"sio/socketio"
)

// A chat room: clients join rooms, and what one says reaches the others in
// the room; the server also broadcasts to everyone.
func Example_chatRoom() {
	srv := socketio.NewServer(socketio.Options{Listen: loop.Options{Addr: "127.0.0.1:0", NumLoops: 1}})
	srv.OnConnection(func(s *socketio.Socket) {
		s.On("join", func(e *socketio.Event) {
			room, _ := e.String(0)
			e.Socket().Join(socketio.Room(room))
			_ = e.Ack("joined " + room)
		})
		s.On("say", func(e *socketio.Event) {
			room, _ := e.String(0)
			text, _ := e.String(1)
			// Everyone in the room but the sender.
			_ = e.Socket().To(socketio.Room(room)).Emit("said", text)
		})
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	<-srv.Ready()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		<-served
	}()
	addr := srv.Engine().Loop().Addr().String()

	// Three clients connect to the main namespace ("40" → `40{"sid":…}`).
	alice, bob, carol := dialExample(addr), dialExample(addr), dialExample(addr)
	for _, c := range []*exampleClient{alice, bob, carol} {
		defer c.conn.Close()
		c.send("40")
		c.read()
	}
	// Alice and Bob join the lobby, asking for an acknowledgement (id 1).
	alice.send(`421["join","lobby"]`)
	fmt.Println("alice:", alice.read())
	bob.send(`421["join","lobby"]`)
	fmt.Println("bob:", bob.read())
	inLobby, _ := srv.In("lobby").FetchSockets(context.Background())
	fmt.Println("in the lobby:", len(inLobby))

	alice.send(`42["say","lobby","hello"]`)
	fmt.Println("bob:", bob.read())

	// Alice did not get her own message, and Carol (not in the lobby) got
	// nothing: the next thing each receives is the announcement.
	_ = srv.Emit("announcement", "closing at 6")
	fmt.Println("alice:", alice.read())
	fmt.Println("carol:", carol.read())

	// Output:
	// alice: 431["joined lobby"]
	// bob: 431["joined lobby"]
	// in the lobby: 2
	// bob: 42["said","hello"]
	// alice: 42["announcement","closing at 6"]
	// carol: 42["announcement","closing at 6"]
}

// The server asks the client a question and waits for its acknowledgement,
// at most 200 ms: the handler runs once, with the answer or ErrTimeout.
func ExampleSocket_Timeout() {
	srv := socketio.NewServer(socketio.Options{Listen: loop.Options{Addr: "127.0.0.1:0", NumLoops: 1}})
	answers := make(chan string, 2)
	srv.OnConnection(func(s *socketio.Socket) {
		_ = s.Timeout(200*time.Millisecond).Emit("question", "ready?", socketio.AckHandler(
			func(a *socketio.Args, err error) {
				if err != nil {
					answers <- "error: " + err.Error()
					return
				}
				answer, _ := a.String(0)
				answers <- "answer: " + answer
			}))
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	<-srv.Ready()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		<-served
	}()
	addr := srv.Engine().Loop().Addr().String()

	// This client answers with the ack id of the question (0).
	c := dialExample(addr)
	defer c.conn.Close()
	c.send("40")
	c.read()
	fmt.Println("client got:", c.read())
	c.send(`430["yes"]`)
	fmt.Println(<-answers)

	// This one never answers (ack ids count per namespace: this is 1).
	d := dialExample(addr)
	defer d.conn.Close()
	d.send("40")
	d.read()
	fmt.Println("client got:", d.read())
	fmt.Println(<-answers)

	// Output:
	// client got: 420["question","ready?"]
	// answer: yes
	// client got: 421["question","ready?"]
	// error: operation has timed out
}

// A namespace middleware refuses clients without the right token; a
// *ConnectError carries data to the client (err.data in socket.io-client).
func ExampleNamespace_Use() {
	srv := socketio.NewServer(socketio.Options{Listen: loop.Options{Addr: "127.0.0.1:0", NumLoops: 1}})
	admin := srv.Of("/admin")
	admin.Use(func(s *socketio.Socket, next func(error)) {
		var auth struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if auth.Token != "secret" {
			next(&socketio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 42}})
			return
		}
		next(nil)
	})
	admin.OnConnection(func(s *socketio.Socket) { _ = s.Emit("welcome", "admin") })
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	<-srv.Ready()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		<-served
	}()
	addr := srv.Engine().Loop().Addr().String()

	c := dialExample(addr)
	defer c.conn.Close()
	c.send("40/admin,")
	fmt.Println(c.read())
	// The connection stays open: the client tries again with a token.
	c.send(`40/admin,{"token":"secret"}`)
	fmt.Println("connected:", strings.HasPrefix(c.read(), `40/admin,{"sid":`))
	fmt.Println(c.read())

	// Output:
	// 44/admin,{"message":"not authorized","data":{"code":42}}
	// connected: true
	// 42/admin,["welcome","admin"]
}

// Typed handlers: the first argument is decoded once into a Go type and the
// ack takes a Go value. An argument that does not fit never reaches the
// handler; the client's ack gets {"error":"invalid",…} instead.
func ExampleOn() {
	type Message struct {
		Room string `json:"room"`
		Text string `json:"text"`
	}
	type Receipt struct {
		ID   int    `json:"id"`
		Room string `json:"room"`
	}
	srv := socketio.NewServer(socketio.Options{Listen: loop.Options{Addr: "127.0.0.1:0", NumLoops: 1}})
	next := 0
	srv.OnConnection(func(s *socketio.Socket) {
		socketio.On(s, "send", func(s *socketio.Socket, m Message, ack func(Receipt)) {
			next++ // handlers of one socket run in order, on its loop
			ack(Receipt{ID: next, Room: m.Room})
		})
	})
	addr, stop := serveExample(srv)
	defer stop()

	c := dialExample(addr)
	defer c.conn.Close()
	c.send("40")
	c.read()
	c.send(`421["send",{"room":"lobby","text":"hi"}]`)
	fmt.Println(c.read())
	c.send(`422["send","hi"]`)
	fmt.Println(c.read())
	fmt.Println("invalid arguments:", srv.Stats().InvalidArgs)

	// Output:
	// 431[{"id":1,"room":"lobby"}]
	// 432[{"error":"invalid","message":"argument does not match the expected type"}]
	// invalid arguments: 1
}

// Once handles the next occurrence of an event only; Off removes every
// handler of an event; OffAny removes the catch-all handlers.
func ExampleSocket_Once() {
	srv := socketio.NewServer(socketio.Options{Listen: loop.Options{Addr: "127.0.0.1:0", NumLoops: 1}})
	srv.OnConnection(func(s *socketio.Socket) {
		socketio.Once(s, "hello", func(s *socketio.Socket, name string, ack func(string)) {
			ack("welcome, " + name)
		})
		s.OnAny(func(e *socketio.Event) { _ = e.Socket().Emit("seen", e.Name()) })
		s.On("quiet", func(e *socketio.Event) {
			e.Socket().OffAny()
			e.Socket().Off("quiet")
			_ = e.Ack("ok")
		})
	})
	addr, stop := serveExample(srv)
	defer stop()

	c := dialExample(addr)
	defer c.conn.Close()
	c.send("40")
	c.read()
	c.send(`421["hello","ann"]`)
	fmt.Println(c.read()) // the catch-all runs first
	fmt.Println(c.read())
	c.send(`422["hello","bob"]`) // no handler any more: no ack
	fmt.Println(c.read())
	c.send(`423["quiet"]`)
	fmt.Println(c.read())
	fmt.Println(c.read())
	c.send(`424["quiet"]`) // neither the catch-all nor "quiet" is left
	c.send(`425["hello","cy"]`)
	_ = srv.Emit("done")
	fmt.Println(c.read())

	// Output:
	// 42["seen","hello"]
	// 431["welcome, ann"]
	// 42["seen","hello"]
	// 42["seen","quiet"]
	// 433["ok"]
	// 42["done"]
}

// Socket.Context is cancelled when the client goes: blocking work started
// from a handler (off the event loop) runs under it and stops with its
// client, learning why from context.Cause.
func ExampleSocket_Context() {
	srv := socketio.NewServer(socketio.Options{Listen: loop.Options{Addr: "127.0.0.1:0", NumLoops: 1}})
	stopped := make(chan error, 1)
	srv.OnConnection(func(s *socketio.Socket) {
		s.On("export", func(e *socketio.Event) {
			ctx := e.Socket().Context()
			_ = e.Ack("started")
			go func() { // a long export, streamed in chunks
				for {
					select {
					case <-ctx.Done():
						stopped <- context.Cause(ctx)
						return
					case <-time.After(10 * time.Millisecond):
						// … the next chunk
					}
				}
			}()
		})
	})
	addr, stop := serveExample(srv)
	defer stop()

	c := dialExample(addr)
	defer c.conn.Close()
	c.send("40")
	c.read()
	c.send(`421["export"]`)
	fmt.Println(c.read())
	c.send("41") // the client leaves the namespace
	fmt.Println(<-stopped)

	// Output:
	// 431["started"]
	// socketio: socket disconnected: client namespace disconnect
}

// serveExample runs srv until stop is called and returns its address.
func serveExample(srv *socketio.Server) (addr string, stop func()) {
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	<-srv.Ready()
	return srv.Engine().Loop().Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		<-served
	}
}

// exampleClient is a tiny Socket.IO client over a WebSocket: it writes text
// frames and reads the server's, answering the heartbeat.
type exampleClient struct {
	conn net.Conn
	rw   io.ReadWriter
}

func dialExample(addr string) *exampleClient {
	conn, br, _, err := ws.Dial(context.Background(), "ws://"+addr+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		panic(err)
	}
	c := &exampleClient{conn: conn, rw: conn}
	if br != nil { // frames that arrived with the handshake response
		c.rw = struct {
			io.Reader
			io.Writer
		}{br, conn}
	}
	c.read() // the Engine.IO open packet, 0{"sid":…}
	return c
}

func (c *exampleClient) send(frame string) {
	if err := wsutil.WriteClientText(c.conn, []byte(frame)); err != nil {
		panic(err)
	}
}

// read returns the next frame from the server, answering pings ("2") with
// pongs ("3").
func (c *exampleClient) read() string {
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		data, op, err := wsutil.ReadServerData(c.rw)
		if err != nil {
			panic(err)
		}
		if op == ws.OpBinary {
			return fmt.Sprintf("<binary %x>", data)
		}
		if string(data) == "2" {
			c.send("3")
			continue
		}
		return string(data)
	}
}
