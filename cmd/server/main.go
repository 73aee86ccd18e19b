// Command server runs the real-time server with defaults: listen on :3000,
// Engine.IO at /socket.io/, no configuration needed. It grows into the
// production gateway (Socket.IO, auth, channels) in later milestones.
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
)

func main() {
	addr := flag.String("addr", envOr("ADDR", ":3000"), "listen address (env ADDR)")
	path := flag.String("path", envOr("SIO_PATH", "/socket.io/"), "Engine.IO path (env SIO_PATH)")
	reusePort := flag.Bool("reuseport", false, "set SO_REUSEPORT (several processes on one port)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	srv := engine.NewServer(engine.Config{
		Path: *path,
		Fallback: func(c *loop.Conn, r *loop.Request) {
			if string(r.Path) == "/healthz" {
				c.Respond(&loop.Response{Status: 200, ContentType: "text/plain; charset=utf-8", Body: []byte("ok\n")})
				return
			}
			c.Respond(&loop.Response{Status: 404, ContentType: "text/plain; charset=utf-8", Body: []byte("Not Found")})
		},
	}, loop.Options{Addr: *addr, ReusePort: *reusePort, Logger: log})
	srv.OnConnection(func(s *engine.Session, _ *loop.Request) {
		s.OnMessage(func(s *engine.Session, data []byte, binary bool) { s.Send(data, binary) })
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	select {
	case <-srv.Ready():
		log.Info("listening", "addr", srv.Loop().Addr().String(), "path", *path)
	case err := <-done:
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(sctx); err != nil {
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
