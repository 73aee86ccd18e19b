// Command target-sio is the benchmark target for this project's Socket.IO
// server (package socketio). It serves the app of bench/PROTOCOL.md:
//
//	join  (room, ack)     -> socket.Join(room); ack()
//	echo  (payload, ack)  -> ack(payload), the raw JSON passed through byte for byte
//	bcast (room, payload) -> io.to(room).emit("bcast", payload), raw JSON passed through
//	bcastall (payload)    -> io.emit("bcast", payload), to every socket of the cluster
//
// at path /socket.io/, namespace "/", pingInterval 25s, pingTimeout 20s,
// maxHttpBufferSize 1e6, no CORS, no connection state recovery.
//
// Flags (each defaults from an environment variable):
//
//	-addr       listen address (env ADDR, default 127.0.0.1:3100)
//	-loops      event loops, 0 = one per CPU (env LOOPS)
//	-reuseport  set SO_REUSEPORT so several processes can share the port (env REUSEPORT=1)
//	-redis      redis://host:port: join a cluster through package redisadapter (env REDIS_URL;
//	            default none, the in-memory adapter). READY then waits for the adapter's Ready.
//	-server-id  the adapter's ServerID (env SERVER_ID; default hostname-pid)
//
// Protocol with the harness:
//
//   - Once listening it prints exactly one line "READY <addr>" on stdout
//     (addr is the bound host:port) and flushes it.
//   - SIGTERM or SIGINT: graceful close, exit status 0.
//   - SIGUSR1: runs debug.FreeOSMemory() (a GC that also returns freed pages) and prints one JSON line on stdout,
//     {"heap_inuse":N,"heap_alloc":N,"sys":N,"num_goroutine":N,"num_gc":N,"mallocs":N,"total_alloc":N}
//     from runtime.MemStats after the GC: sizes in bytes, mallocs and
//     total_alloc cumulative (the difference between two lines gives heap
//     objects and bytes allocated per message). The harness uses heap_inuse
//     for heap per connection alongside RSS from /proc/<pid>.
//     With -redis, a second line follows: "ADAPTER <json>", the adapter's
//     redisadapter.Stats.
//
// Logs go to stderr only.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"sio/engine"
	"sio/loop"
	"sio/redisadapter"
	"sio/socketio"
)

func main() {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:3100"), "listen address (env ADDR)")
	loops := flag.Int("loops", envInt("LOOPS", 0), "event loops, 0 = one per CPU (env LOOPS)")
	reusePort := flag.Bool("reuseport", os.Getenv("REUSEPORT") == "1", "SO_REUSEPORT (env REUSEPORT=1)")
	redisURL := flag.String("redis", os.Getenv("REDIS_URL"), "join a cluster over this Redis (env REDIS_URL)")
	serverID := flag.String("server-id", os.Getenv("SERVER_ID"), "the Redis adapter's server id (env SERVER_ID)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var cluster *redisadapter.Cluster
	var adapter func(*socketio.Namespace) socketio.Adapter
	if *redisURL != "" {
		var err error
		cluster, err = redisadapter.New(redisadapter.Options{URL: *redisURL, ServerID: *serverID, Logger: log})
		if err != nil {
			fmt.Fprintln(os.Stderr, "target-sio:", err)
			os.Exit(1)
		}
		adapter = cluster.Adapter
	}

	io := socketio.NewServer(socketio.Options{
		Adapter: adapter,
		Listen:  loop.Options{Addr: *addr, NumLoops: *loops, ReusePort: *reusePort, Logger: log},
		Engine: engine.Config{
			Path:              "/socket.io/",
			PingInterval:      25 * time.Second,
			PingTimeout:       20 * time.Second,
			MaxHTTPBufferSize: 1e6,
		},
		Logger: log,
	})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("join", func(e *socketio.Event) {
			if room, err := e.String(0); err == nil {
				s.Join(socketio.Room(room))
			}
			e.Ack()
		})
		s.On("echo", func(e *socketio.Event) {
			// The raw JSON of the payload, re-emitted byte for byte (what
			// e.Value(0) returns too, with one allocation less). A missing
			// payload acks [null], as Node does.
			if _, bin := e.Bytes(0); bin {
				v, _ := e.Value(0)
				e.Ack(v)
				return
			}
			e.Ack(json.RawMessage(e.Raw(0)))
		})
		s.On("bcast", func(e *socketio.Event) {
			room, err := e.String(0)
			if err != nil || e.Len() < 2 {
				return
			}
			// The broadcast is encoded before Emit returns, so the borrowed
			// read buffer behind the raw payload is still valid.
			if _, bin := e.Bytes(1); bin {
				v, _ := e.Value(1)
				io.To(socketio.Room(room)).Emit("bcast", v)
				return
			}
			io.To(socketio.Room(room)).Emit("bcast", json.RawMessage(e.Raw(1)))
		})
		// bcastall: io.emit to every socket (of every node, with -redis).
		s.On("bcastall", func(e *socketio.Event) {
			if e.Len() < 1 {
				return
			}
			if _, bin := e.Bytes(0); bin {
				v, _ := e.Value(0)
				io.Emit("bcast", v)
				return
			}
			io.Emit("bcast", json.RawMessage(e.Raw(0)))
		})
	})

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)

	done := make(chan error, 1)
	go func() { done <- io.Serve() }()
	if cluster != nil {
		// Subscribed before READY: a broadcast published by another node
		// after every READY reaches this one.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cluster.Ready(ctx)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "target-sio: redis adapter not ready:", err, cluster.Stats().LastError)
			os.Exit(1)
		}
	}
	select {
	case <-io.Ready():
		fmt.Fprintf(os.Stdout, "READY %s\n", io.Engine().Loop().Addr().String())
	case err := <-done:
		fmt.Fprintln(os.Stderr, "target-sio: cannot start:", err)
		os.Exit(1)
	}

	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				printMemStats()
				if cluster != nil {
					b, _ := json.Marshal(cluster.Stats())
					fmt.Fprintf(os.Stdout, "ADAPTER %s\n", b)
				}
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := io.Close(ctx)
			cancel()
			if err != nil {
				fmt.Fprintln(os.Stderr, "target-sio: close:", err)
			}
			if cluster != nil {
				cluster.Close()
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
			os.Exit(0)
		case err := <-done:
			if err != nil {
				fmt.Fprintln(os.Stderr, "target-sio: stopped:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
}

// printMemStats writes the SIGUSR1 line (see the package comment).
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
