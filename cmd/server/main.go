// Command server runs the real-time server with defaults: listen on :3000,
// Socket.IO at /socket.io/, no configuration needed. Until the production
// gateway lands it serves a small demo app any socket.io-client can use:
//
//	emit("echo", x, ack)       → ack(x)
//	emit("join", room, ack)    → joins room, ack()
//	emit("say", room, msg)     → everyone else in room gets "said" (msg)
//
// GET /healthz answers ok. SIGINT/SIGTERM close every session with
// "server shutting down" (clients reconnect) and exit.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"sio/engine"
	"sio/loop"
	"sio/socketio"
)

func main() {
	addr := flag.String("addr", envOr("ADDR", ":3000"), "listen address (env ADDR)")
	path := flag.String("path", envOr("SIO_PATH", "/socket.io/"), "Socket.IO path (env SIO_PATH)")
	reusePort := flag.Bool("reuseport", false, "set SO_REUSEPORT (several processes on one port)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	io := socketio.NewServer(socketio.Options{
		Engine: engine.Config{
			Path: *path,
			Fallback: func(c *loop.Conn, r *loop.Request) {
				if string(r.Path) == "/healthz" {
					c.Respond(&loop.Response{Status: 200, ContentType: "text/plain; charset=utf-8", Body: []byte("ok\n")})
					return
				}
				c.Respond(&loop.Response{Status: 404, ContentType: "text/plain; charset=utf-8", Body: []byte("Not Found")})
			},
		},
		Listen: loop.Options{Addr: *addr, ReusePort: *reusePort, Logger: log},
		Logger: log,
	})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Values()...) })
		s.On("join", func(e *socketio.Event) {
			if room, err := e.String(0); err == nil {
				s.Join(socketio.Room(room))
			}
			_ = e.Ack()
		})
		s.On("say", func(e *socketio.Event) {
			room, err := e.String(0)
			if err != nil {
				return
			}
			v, _ := e.Value(1)
			_ = s.To(socketio.Room(room)).Emit("said", v)
		})
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- io.Serve() }()
	select {
	case <-io.Ready():
		log.Info("listening", "addr", io.Engine().Loop().Addr().String(), "path", *path)
	case err := <-done:
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := io.Close(sctx); err != nil {
			log.Error("shutdown", "err", err)
		}
		<-done
	case err := <-done:
		if err != nil {
			log.Error("server stopped", "err", err)
			os.Exit(1)
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
