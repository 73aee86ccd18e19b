package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"sio/loop"
	"sio/redisadapter"
	"sio/socketio"
)

// clusterTimeout bounds the app's requests to the other nodes (fetch, sse,
// bcastAck), as test/interop/cluster-node.mjs does: it is the adapter's
// RequestsTimeout and the broadcast's ack timeout. The contexts of fetch and
// sse allow a second more, so that the adapter's own timeout ends them first
// and reports what did arrive.
const (
	clusterTimeout = 3 * time.Second
	clusterCtxWait = clusterTimeout + time.Second
)

// clusterServer is -mode cluster: a node of a Redis cluster running the
// cluster conformance app, the same app as test/interop/cluster-node.mjs runs
// on Node (see its header for the events). redisadapter/mixed_test.go runs
// both kinds side by side on one Redis.
type clusterServer struct {
	*socketio.Server
	cluster *redisadapter.Cluster
	ready   chan struct{}
}

func newClusterServer(addr, redisURL string, sharded bool, subMode, id string, log *slog.Logger) (*clusterServer, error) {
	c, err := redisadapter.New(redisadapter.Options{
		URL: redisURL, Sharded: sharded, SubscriptionMode: subMode, ServerID: id,
		RequestsTimeout: clusterTimeout, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	id = c.ServerID() // the adapter's default when -id is empty
	io := socketio.NewServer(socketio.Options{
		Listen:  loop.Options{Addr: addr, Logger: log},
		Adapter: c.Adapter,
		Logger:  log,
	})
	s := &clusterServer{Server: io, cluster: c, ready: make(chan struct{})}
	nsp := io.Sockets()
	nsp.OnServerSideEmit("hello", func(_ *socketio.Args, ack func(...any)) {
		if ack != nil {
			ack(id)
		}
	})
	nsp.OnConnection(func(sock *socketio.Socket) {
		sock.SetData(map[string]any{"node": id})
		clusterApp(io, sock)
	})
	go func() {
		<-io.Ready()
		// The namespace exists (it was created above): wait until its
		// subscriptions are live, so that the listening line means ready.
		// Ready fails only once the cluster is closed.
		if c.Ready(context.Background()) == nil {
			close(s.ready)
		}
	}()
	return s, nil
}

// Ready is closed once the server listens and its Redis subscriptions are
// live.
func (s *clusterServer) Ready() <-chan struct{} { return s.ready }

// Close closes the server, then its Redis connections.
func (s *clusterServer) Close(ctx context.Context) error {
	err := s.Server.Close(ctx)
	_ = s.cluster.Close()
	return err
}

// roomArg reads argument i as a room; null (or a missing argument) is ok
// with null set: the whole namespace.
func roomArg(a *socketio.Args, i int) (room socketio.Room, null bool, err error) {
	raw := strings.TrimSpace(string(a.Raw(i)))
	if raw == "" || raw == "null" {
		return "", true, nil
	}
	r, err := a.String(i)
	return socketio.Room(r), false, err
}

// failed is what a request that failed acks: the error and what arrived.
func failed(err error, replies []string) map[string]any {
	if replies == nil {
		replies = []string{}
	}
	return map[string]any{"error": err.Error(), "replies": replies}
}

// sortedFirst is the first argument of each reply, as strings, sorted.
func sortedFirst(replies []*socketio.Args) []string {
	out := make([]string, 0, len(replies))
	for _, r := range replies {
		s, err := r.String(0)
		if err != nil {
			s = string(r.Raw(0))
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// fetchEntry is one socket of a fetch answer.
type fetchEntry struct {
	ID    string   `json:"id"`
	Rooms []string `json:"rooms"`
	Data  any      `json:"data"`
}

func clusterApp(io *socketio.Server, sock *socketio.Socket) {
	// on registers a handler; it gets a copy of the event's arguments that
	// it may keep beyond its return (the requests run on goroutines: they
	// must not block the event loop).
	on := func(event string, h func(e *socketio.Event, a *socketio.Args) error) {
		sock.On(event, func(e *socketio.Event) {
			a := e.Args.Clone()
			if err := h(e, &a); err != nil {
				_ = e.Ack(failed(fmt.Errorf("%s: %w", event, err), nil))
			}
		})
	}
	sel := func(room socketio.Room, null bool) *socketio.BroadcastOperator {
		if null {
			return io.Sockets().In() // no room: every socket
		}
		return io.In(room)
	}
	on("join", func(e *socketio.Event, a *socketio.Args) error {
		room, err := a.String(0)
		if err != nil {
			return err
		}
		sock.Join(socketio.Room(room))
		return e.Ack(string(sock.ID()))
	})
	on("leave", func(e *socketio.Event, a *socketio.Args) error {
		room, err := a.String(0)
		if err != nil {
			return err
		}
		sock.Leave(socketio.Room(room))
		return e.Ack()
	})
	on("to", func(_ *socketio.Event, a *socketio.Args) error {
		room, null, err := roomArg(a, 0)
		if err != nil {
			return err
		}
		event, err := a.String(1)
		if err != nil {
			return err
		}
		payload, err := a.Value(2)
		if err != nil {
			return err
		}
		return sel(room, null).Emit(event, payload)
	})
	on("except", func(_ *socketio.Event, a *socketio.Args) error {
		room, err := a.String(0)
		if err != nil {
			return err
		}
		event, err := a.String(1)
		if err != nil {
			return err
		}
		payload, err := a.Value(2)
		if err != nil {
			return err
		}
		return io.Except(socketio.Room(room)).Emit(event, payload)
	})
	on("fetch", func(e *socketio.Event, a *socketio.Args) error {
		room, null, err := roomArg(a, 0)
		if err != nil {
			return err
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), clusterCtxWait)
			defer cancel()
			sockets, err := sel(room, null).FetchSockets(ctx)
			if err != nil {
				_ = e.Ack(failed(err, nil))
				return
			}
			out := make([]fetchEntry, 0, len(sockets))
			for _, s := range sockets {
				rooms := make([]string, 0, len(s.Rooms))
				for _, r := range s.Rooms {
					rooms = append(rooms, string(r))
				}
				slices.Sort(rooms)
				out = append(out, fetchEntry{ID: string(s.ID), Rooms: rooms, Data: s.Data})
			}
			slices.SortFunc(out, func(x, y fetchEntry) int { return strings.Compare(x.ID, y.ID) })
			_ = e.Ack(out)
		}()
		return nil
	})
	// remoteJoin (room, newRoom, ack) and remoteLeave (room, oldRoom, ack).
	for name, op := range map[string]func(*socketio.BroadcastOperator, socketio.Room){
		"remoteJoin":  func(b *socketio.BroadcastOperator, r socketio.Room) { b.SocketsJoin(r) },
		"remoteLeave": func(b *socketio.BroadcastOperator, r socketio.Room) { b.SocketsLeave(r) },
	} {
		on(name, func(e *socketio.Event, a *socketio.Args) error {
			room, err := a.String(0)
			if err != nil {
				return err
			}
			other, err := a.String(1)
			if err != nil {
				return err
			}
			op(io.In(socketio.Room(room)), socketio.Room(other))
			return e.Ack()
		})
	}
	on("remoteDisconnect", func(e *socketio.Event, a *socketio.Args) error {
		room, err := a.String(0)
		if err != nil {
			return err
		}
		io.In(socketio.Room(room)).DisconnectSockets(false)
		return e.Ack()
	})
	on("sse", func(e *socketio.Event, a *socketio.Args) error {
		payload, err := a.Value(0)
		if err != nil {
			return err
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), clusterCtxWait)
			defer cancel()
			replies, err := io.Sockets().ServerSideEmitWithAck(ctx, "hello", payload)
			if err != nil {
				_ = e.Ack(failed(err, sortedFirst(replies)))
				return
			}
			_ = e.Ack(sortedFirst(replies))
		}()
		return nil
	})
	on("bcastAck", func(e *socketio.Event, a *socketio.Args) error {
		room, null, err := roomArg(a, 0)
		if err != nil {
			return err
		}
		var arg any = string(room)
		if null {
			arg = nil
		}
		return sel(room, null).Timeout(clusterTimeout).Emit("q", arg, socketio.BroadcastAckHandler(func(replies []*socketio.Args, err error) {
			if err != nil {
				_ = e.Ack(failed(err, sortedFirst(replies)))
				return
			}
			_ = e.Ack(sortedFirst(replies))
		}))
	})
}
