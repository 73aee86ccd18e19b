// Command server runs the chat gateway (package gateway): JWT auth, channels,
// messages with history, typing, presence, moderation, health and metrics,
// graceful shutdown. Configuration comes from environment variables, each
// also a flag (docs/OPERATIONS.md); without a JWT key it refuses to start
// unless run with -dev, which generates a secret and prints ready-to-use
// tokens:
//
//	go run ./cmd/server -dev
//
// SIGINT/SIGTERM stop accepting, let in-flight acks finish, close every
// socket with "server shutting down" and exit within DRAIN_TIMEOUT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"sio/gateway"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	cfg, err := gateway.LoadConfig(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "server: configuration:", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	var tokens gateway.DevTokens
	if cfg.Dev {
		if tokens, err = gateway.SetupDev(&cfg); err != nil {
			log.Error("dev mode", "err", err)
			return 1
		}
	}
	if !cfg.KeyConfigured() {
		fmt.Fprintln(os.Stderr, "server:", gateway.ErrNoKey)
		return 2
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: log})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := g.Start(); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if cfg.Dev {
		log.Warn("DEVELOPMENT MODE: generated secret, any browser origin; never use -dev in production")
		if tokens.Member != "" {
			log.Info("dev token (member alice: channels general, random)", "token", tokens.Member)
			log.Info("dev token (moderator mod: every channel)", "token", tokens.Moderator)
			fmt.Fprintln(os.Stderr, "try: "+gateway.ClientExample(fmt.Sprintf("localhost:%d", cfg.Port), tokens.Member))
		}
		log.Info("dev admin token (POST /admin/socket/recovery)", "token", tokens.AdminToken)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-g.Done():
		log.Error("server stopped", "err", err)
		return 1
	}
	log.Info("shutting down", "drainTimeout", cfg.DrainTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	if err := g.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
