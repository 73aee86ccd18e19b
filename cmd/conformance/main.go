// Command conformance serves the servers that the official Socket.IO
// conformance suites expect, so they can be run against this implementation.
//
//	-mode eio   the bare Engine.IO echo server of socketio/engine.io-protocol's test-suite:
//	            path /engine.io/, ping 300/200 ms, maxPayload 1e6, CORS *, every message echoed
//	-mode sio   the Socket.IO server of socketio/socket.io-protocol's test-suite: path
//	            /socket.io/, ping 300/200 ms, connectTimeout 1 s, namespaces / and /custom
//	            emitting "auth", "message" → "message-back", "message-with-ack" acked as sent;
//	            -parser msgpack: the clients use socket.io-msgpack-parser (default json)
//	            with -admin-ui, also the admin UI's /admin namespace (no auth)
//	            -allow-eio3 also lets Engine.IO v3 (socket.io-client 2.x) clients in
//	            -compress turns permessage-deflate on with threshold 0 (every frame is
//	            compressed for the clients that negotiate it)
//	-mode wsecho our WebSocket layer alone as an echo server on any path (text as text,
//	            binary as binary), for standard WebSocket conformance suites (e.g. Autobahn)
//	-mode cluster -redis URL [-sharded] [-sub-mode static|dynamic|dynamic-private] [-id NAME]
//	            a node of a Redis cluster (sio/redisadapter) running the cluster conformance
//	            app of test/interop/cluster-node.mjs, which runs it on Node: the two kinds
//	            of node share one cluster (redisadapter/mixed_test.go). It logs its
//	            listening line once its Redis subscriptions are live.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"sio/engine"
	"sio/loop"
	"sio/redisadapter"
	"sio/socketio"
)

// server is what every mode runs.
type server interface {
	Serve() error
	Ready() <-chan struct{}
	Close(ctx context.Context) error
}

func main() {
	mode := flag.String("mode", "eio", "which server: eio, sio, wsecho, cluster")
	addr := flag.String("addr", ":3000", "listen address")
	redisURL := flag.String("redis", "", "cluster: Redis URL (redis://host:port)")
	sharded := flag.Bool("sharded", false, "cluster: the sharded adapter (Redis 7 SPUBLISH/SSUBSCRIBE) instead of the classic one")
	subMode := flag.String("sub-mode", redisadapter.Dynamic, "cluster: the sharded adapter's subscription mode: static, dynamic, dynamic-private")
	allowEIO3 := flag.Bool("allow-eio3", false, "sio: also accept Engine.IO v3 / socket.io-client 2.x clients (engine.Config.AllowEIO3)")
	id := flag.String("id", "", "cluster: this node's name (socket.data.node, the answer to \"hello\"; default hostname-pid)")
	adminUI := flag.Bool("admin-ui", false, "sio: the admin UI's /admin namespace, no auth (see adminui.go)")
	compress := flag.Bool("compress", false, "sio: permessage-deflate on, threshold 0 (every frame compressed for the clients that offer it)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var srv server
	var addrOf func() string
	switch *mode {
	case "eio":
		e := engine.NewServer(engine.Config{
			Path:              "/engine.io/",
			PingInterval:      300 * time.Millisecond,
			PingTimeout:       200 * time.Millisecond,
			MaxHTTPBufferSize: 1e6,
			CORS:              &engine.CORS{Origins: []string{"*"}},
		}, loop.Options{Addr: *addr, Logger: log})
		e.OnConnection(func(s *engine.Session, _ *loop.Request) {
			s.OnMessage(func(s *engine.Session, data []byte, binary bool) { s.Send(data, binary) })
		})
		srv, addrOf = e, func() string { return e.Loop().Addr().String() }
	case "sio":
		io := socketio.NewServer(socketio.Options{
			Engine: engine.Config{
				Path:              "/socket.io/",
				PingInterval:      300 * time.Millisecond,
				PingTimeout:       200 * time.Millisecond,
				MaxHTTPBufferSize: 1e6,
				CORS:              sioCORS(*adminUI),
				AllowEIO3:         *allowEIO3,
				PerMessageDeflate: deflateFlag(*compress),
			},
			Listen:         loop.Options{Addr: *addr, Logger: log},
			ConnectTimeout: time.Second,
			Logger:         log,
			Parser:         sioParser(),
		})
		io.OnConnection(func(s *socketio.Socket) {
			_ = s.Emit("auth", s.Handshake().Auth)
			s.On("message", func(e *socketio.Event) {
				_ = s.Emit("message-back", e.Values()...)
			})
			s.On("message-with-ack", func(e *socketio.Event) {
				_ = e.Ack(e.Values()...)
			})
		})
		io.Of("/custom").OnConnection(func(s *socketio.Socket) {
			_ = s.Emit("auth", s.Handshake().Auth)
		})
		if *adminUI {
			instrumentAdminUI(io)
		}
		srv, addrOf = io, func() string { return io.Engine().Loop().Addr().String() }
	case "wsecho":
		ls := loop.NewServer(wsEcho{}, loop.Options{Addr: *addr, Logger: log, MaxMessageBytes: 16 << 20, MaxBodyBytes: 1 << 10})
		srv, addrOf = loopServer{ls}, func() string { return ls.Addr().String() }
	case "cluster":
		if *redisURL == "" {
			fmt.Fprintln(os.Stderr, "-mode cluster needs -redis URL")
			os.Exit(2)
		}
		cs, err := newClusterServer(*addr, *redisURL, *sharded, *subMode, *id, log)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		srv, addrOf = cs, func() string { return cs.Engine().Loop().Addr().String() }
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", *mode)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(sctx)
	}()
	go func() {
		<-srv.Ready()
		log.Warn("conformance server listening", "mode", *mode, "addr", addrOf())
	}()
	if err := srv.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if ctx.Err() != nil {
		<-closed // Close goes on after Serve returns (-mode cluster closes its Redis connections last)
	}
}

// wsEcho is the WebSocket echo server of -mode wsecho.
type wsEcho struct{}

func (wsEcho) ServeHTTP(c *loop.Conn, r *loop.Request) {
	if !r.Upgrade {
		c.Respond(&loop.Response{Status: 426, ContentType: "text/plain; charset=utf-8",
			Extra: []byte("Upgrade: websocket\r\n"), Body: []byte("WebSocket only")})
		return
	}
	c.AcceptWebSocket(r)
}

func (wsEcho) OnMessage(c *loop.Conn, binary bool, data []byte) {
	if c.OverCap() { // a peer that sends without reading: the loop leaves the policy to us
		c.FlushNow()
		if c.OverCap() {
			c.Abort(loop.ReasonSlowConsumer)
			return
		}
	}
	op := ws.OpText
	if binary {
		op = ws.OpBinary
	}
	c.WriteFrame(op, data, nil)
}

func (wsEcho) OnClose(*loop.Conn, loop.CloseReason) {}

// loopServer adapts a bare loop.Server to the server interface.
type loopServer struct{ *loop.Server }

func (l loopServer) Close(ctx context.Context) error { return l.Stop(ctx) }
