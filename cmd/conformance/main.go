// Command conformance serves the servers that the official Socket.IO
// conformance suites expect, so they can be run against this implementation.
//
//	-mode eio   the bare Engine.IO echo server of socketio/engine.io-protocol's test-suite:
//	            path /engine.io/, ping 300/200 ms, maxPayload 1e6, CORS *, every message echoed
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

	"sio/engine"
	"sio/loop"
)

func main() {
	mode := flag.String("mode", "eio", "which server: eio")
	addr := flag.String("addr", ":3000", "listen address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var srv *engine.Server
	switch *mode {
	case "eio":
		srv = engine.NewServer(engine.Config{
			Path:              "/engine.io/",
			PingInterval:      300 * time.Millisecond,
			PingTimeout:       200 * time.Millisecond,
			MaxHTTPBufferSize: 1e6,
			CORS:              &engine.CORS{Origins: []string{"*"}},
		}, loop.Options{Addr: *addr, Logger: log})
		srv.OnConnection(func(s *engine.Session, _ *loop.Request) {
			s.OnMessage(func(s *engine.Session, data []byte, binary bool) { s.Send(data, binary) })
		})
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", *mode)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(sctx)
	}()
	go func() {
		<-srv.Ready()
		log.Warn("conformance server listening", "mode", *mode, "addr", srv.Loop().Addr())
	}()
	if err := srv.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
