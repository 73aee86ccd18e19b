// Command zishang is the benchmark target for the Go peer
// github.com/zishang520/socket.io (v3, server package servers/socket/v3),
// serving the app of bench/PROTOCOL.md:
//
//	join  (room, ack)     -> socket.Join(room); ack()
//	echo  (payload, ack)  -> ack(payload)
//	bcast (room, payload) -> io.To(room).Emit("bcast", payload)
//
// at /socket.io/, namespace "/", pingInterval 25s, pingTimeout 20s,
// maxHttpBufferSize 1e6, no CORS, no connection state recovery. The library
// decodes every payload into Go values (map[string]any, []any, float64, …)
// and encodes them again: that is how it works, not a choice of this target.
//
// It is mounted with the library's documented net/http integration
// (Server.ServeHandler) on a net/http server whose listener this program
// opens itself, so that the READY line is printed only once the port is
// bound and -reuseport can set SO_REUSEPORT.
//
// Flags (each defaults from an environment variable):
//
//	-addr       listen address (env ADDR, default 127.0.0.1:3100)
//	-loops      GOMAXPROCS, 0 = leave the Go default (env LOOPS)
//	-reuseport  SO_REUSEPORT so several processes can share the port (env REUSEPORT=1)
//
// Prints "READY <addr>" on stdout once listening; SIGTERM/SIGINT close the
// server and exit 0; SIGUSR1 runs debug.FreeOSMemory() and prints one JSON line on
// stdout, {"heap_inuse":N,"heap_alloc":N,"sys":N,"num_goroutine":N,"num_gc":N,"mallocs":N,"total_alloc":N}.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"
	"golang.org/x/sys/unix"
)

func main() {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:3100"), "listen address (env ADDR)")
	loops := flag.Int("loops", envInt("LOOPS", 0), "GOMAXPROCS, 0 = Go default (env LOOPS)")
	reusePort := flag.Bool("reuseport", os.Getenv("REUSEPORT") == "1", "SO_REUSEPORT (env REUSEPORT=1)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}

	opts := socket.DefaultServerOptions()
	opts.SetPath("/socket.io")
	opts.SetPingInterval(25 * time.Second)
	opts.SetPingTimeout(20 * time.Second)
	opts.SetMaxHttpBufferSize(1e6)
	// No CORS, no connection state recovery: the defaults.

	io := socket.NewServer(nil, opts)
	io.On("connection", func(clients ...any) {
		s := clients[0].(*socket.Socket)
		s.On("join", func(args ...any) {
			if len(args) == 0 {
				return
			}
			if room, ok := args[0].(string); ok {
				s.Join(socket.Room(room))
			}
			if ack, ok := args[len(args)-1].(socket.Ack); ok {
				ack([]any{}, nil) // 43N[]; a nil slice would send 43N, which clients reject
			}
		})
		s.On("echo", func(args ...any) {
			if len(args) < 2 {
				return
			}
			if ack, ok := args[len(args)-1].(socket.Ack); ok {
				ack([]any{args[0]}, nil)
			}
		})
		s.On("bcast", func(args ...any) {
			if len(args) < 2 {
				return
			}
			if room, ok := args[0].(string); ok {
				_ = io.To(socket.Room(room)).Emit("bcast", args[1])
			}
		})
	})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io.ServeHandler(nil))
	hs := &http.Server{Handler: mux}

	lc := net.ListenConfig{}
	if *reusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zishang: cannot listen:", err)
		os.Exit(1)
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	fmt.Fprintf(os.Stdout, "READY %s\n", ln.Addr().String())

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				printMemStats()
				continue
			}
			io.Close(nil) // disconnects every socket, closes the engine
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = hs.Shutdown(ctx) // hijacked WebSocket connections are not waited for
			cancel()
			os.Exit(0)
		case err := <-done:
			if err != nil && err != http.ErrServerClosed {
				fmt.Fprintln(os.Stderr, "zishang: stopped:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
}

func printMemStats() {
	// "After GC" for a Go process: collect and return freed pages to the OS,
	// as every Go target does, so RSS is not inflated by ramp-up garbage.
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(os.Stdout, `{"heap_inuse":%d,"heap_alloc":%d,"sys":%d,"num_goroutine":%d,"num_gc":%d,"mallocs":%d,"total_alloc":%d}`+"\n",
		m.HeapInuse, m.HeapAlloc, m.Sys, runtime.NumGoroutine(), m.NumGC, m.Mallocs, m.TotalAlloc)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}
