package redisadapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/loop"
	"sio/redisadapter"
	"sio/socketio"
)

// goNode is one of our servers joined to a Redis cluster.
type goNode struct {
	name    string
	srv     *socketio.Server
	cluster *redisadapter.Cluster
	url     string
}

type nodeConfig struct {
	cluster bool // a 3-master Redis Cluster instead of one redis-server
	sharded bool
	mode    string
	tune    func(*redisadapter.Options)
	parser  socketio.Parser // the clients' packet format (nil: JSON)
}

// startGoNode starts a server on a free port with the Redis adapter. Every
// socket joins the rooms named in its auth {"rooms":[…]} and its data is
// {"node": name}; the namespace answers the server-side emit "hello" with
// the node's name.
func startGoNode(t *testing.T, name, redisURL string, cfg nodeConfig) *goNode {
	t.Helper()
	lw := testutil.NewLogWriter(t)
	o := redisadapter.Options{URL: redisURL, ServerID: name, Sharded: cfg.sharded, SubscriptionMode: cfg.mode, Logger: lw.Logger()}
	if cfg.tune != nil {
		cfg.tune(&o)
	}
	c, err := redisadapter.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := socketio.NewServer(socketio.Options{Adapter: c.Adapter, Logger: lw.Logger(), Parser: cfg.parser,
		Listen: loop.Options{Addr: "127.0.0.1:0", NumLoops: 2}})
	srv.OnConnection(func(s *socketio.Socket) {
		s.SetData(map[string]any{"node": name})
		var auth struct {
			Rooms []socketio.Room `json:"rooms"`
		}
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		s.Join(auth.Rooms...)
	})
	srv.Sockets().OnServerSideEmit("hello", func(args *socketio.Args, ack func(...any)) {
		if ack != nil {
			ack(name)
		}
	})
	serving := testutil.Serve(t, srv)
	n := &goNode{name: name, srv: srv, cluster: c, url: "http://" + srv.Engine().Loop().Addr().String()}
	t.Cleanup(func() {
		_ = serving.Shutdown()
		_ = c.Close()
		lw.Stop()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("%s not ready: %v (%+v)", name, err, c.Stats())
	}
	return n
}

const wait = 5 * time.Second

func connect(t *testing.T, nc *testutil.NodeClients, id string, n *goNode, rooms ...string) string {
	t.Helper()
	if rooms == nil {
		rooms = []string{}
	}
	sid, err := nc.Connect(id, testutil.ClientOptions{URL: n.url, Auth: map[string]any{"rooms": rooms}})
	if err != nil {
		t.Fatalf("connect %s to %s: %v", id, n.name, err)
	}
	if len(rooms) > 0 {
		settled(t, n)
	}
	return sid
}

// settled waits until n has subscribed the channels of its rooms. In the
// sharded dynamic modes a node subscribes a room's channel on the room's
// first local join, asynchronously (as Node's adapter does), and a
// broadcast to that one room goes to that channel only: sent from another
// node before the subscription is live, it would not reach n.
func settled(t *testing.T, n *goNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.cluster.Ready(ctx); err != nil {
		t.Fatalf("%s: subscriptions not in place: %v (%+v)", n.name, err, n.cluster.Stats())
	}
}

func expect(t *testing.T, nc *testutil.NodeClients, id, event, args string) {
	t.Helper()
	got, err := nc.Next(id, event, wait)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != args {
		t.Fatalf("%s got %s %s, want %s", id, event, got, args)
	}
}

func none(t *testing.T, nc *testutil.NodeClients, d time.Duration, event string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := nc.None(id, event, d); err != nil {
			t.Fatal(err)
		}
		d = 0
	}
}

var modes = []struct {
	name string
	cfg  nodeConfig
}{
	{"classic", nodeConfig{}},
	{"sharded-dynamic", nodeConfig{sharded: true, mode: redisadapter.Dynamic}},
	{"sharded-static", nodeConfig{sharded: true, mode: redisadapter.Static}},
	{"redis-cluster-classic", nodeConfig{cluster: true}},
	{"redis-cluster-sharded", nodeConfig{cluster: true, sharded: true, mode: redisadapter.Dynamic}},
}

func TestTwoNodesEveryOperation(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var url string
			if m.cfg.cluster {
				url = testutil.StartRedisCluster(t, 3).URL()
			} else {
				url = testutil.StartRedis(t).URL()
			}
			na := startGoNode(t, "A", url, m.cfg)
			nb := startGoNode(t, "B", url, m.cfg)
			nc := testutil.StartNodeClients(t)
			connect(t, nc, "a1", na)
			bsid := connect(t, nc, "b1", nb, "red")
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()

			if n, err := na.srv.Sockets().Adapter().ServerCount(ctx); err != nil || n != 2 {
				t.Fatalf("server count %d %v", n, err)
			}
			// Broadcasts: all (with binary), one room, except.
			_ = na.srv.Emit("all", 1, []byte{7})
			expect(t, nc, "a1", "all", `[1,{"$bin":"07"}]`)
			expect(t, nc, "b1", "all", `[1,{"$bin":"07"}]`)
			_ = na.srv.To("red").Emit("red", map[string]any{"z": 1, "a": []any{"x"}})
			expect(t, nc, "b1", "red", `[{"a":["x"],"z":1}]`)
			_ = nb.srv.Except("red").Emit("not-red")
			expect(t, nc, "a1", "not-red", `[]`)
			_ = na.srv.Local().Emit("local")
			expect(t, nc, "a1", "local", `[]`)
			none(t, nc, 200*time.Millisecond, "local", "b1")
			none(t, nc, 0, "red", "a1")
			none(t, nc, 0, "not-red", "b1")

			// FetchSockets reaches the other node's socket, which can be
			// told to join, leave, receive and disconnect from here.
			all, err := na.srv.FetchSockets(ctx)
			if err != nil || len(all) != 2 {
				t.Fatalf("fetch: %d %v", len(all), err)
			}
			var remote socketio.RemoteSocket
			for _, s := range all {
				if string(s.ID) == bsid {
					remote = s
				}
			}
			if remote.ID == "" || remote.Local() != nil || fmt.Sprint(remote.Data) != "map[node:B]" ||
				!slices.Contains(remote.Rooms, "red") || remote.Handshake.Address != "127.0.0.1" {
				t.Fatalf("remote entry %+v", remote)
			}
			if err := remote.Join("blue"); err != nil {
				t.Fatal(err)
			}
			testutil.CheckFor(t, wait, 20*time.Millisecond, func() error {
				ids, err := na.srv.Sockets().In("blue").Sockets(ctx)
				if err != nil || len(ids) != 1 || string(ids[0]) != bsid {
					return fmt.Errorf("in blue: %v %v", ids, err)
				}
				return nil
			})
			settled(t, nb) // the join is done on B; its "blue" channel may not be
			_ = na.srv.To("blue").Emit("blue")
			expect(t, nc, "b1", "blue", `[]`)
			_ = remote.Emit("direct", "hi")
			expect(t, nc, "b1", "direct", `["hi"]`)

			// Server-side emit with acks: B answers with its name.
			replies, err := na.srv.Sockets().ServerSideEmitWithAck(ctx, "hello", "x")
			if err != nil || len(replies) != 1 {
				t.Fatalf("sse: %v %v", replies, err)
			}
			if s, _ := replies[0].String(0); s != "B" {
				t.Fatalf("sse reply %q", s)
			}
			// SocketsJoin / SocketsLeave / DisconnectSockets across nodes.
			na.srv.In("red").SocketsJoin("green")
			testutil.CheckFor(t, wait, 20*time.Millisecond, func() error {
				if rs := nb.srv.Sockets().Socket(socketio.SocketID(bsid)).Rooms(); !slices.Contains(rs, "green") {
					return fmt.Errorf("rooms %v", rs)
				}
				return nil
			})
			na.srv.In("green").SocketsLeave("red")
			testutil.CheckFor(t, wait, 20*time.Millisecond, func() error {
				if rs := nb.srv.Sockets().Socket(socketio.SocketID(bsid)).Rooms(); slices.Contains(rs, "red") {
					return fmt.Errorf("rooms %v", rs)
				}
				return nil
			})
			if err := remote.Disconnect(false); err != nil {
				t.Fatal(err)
			}
			if reason, err := nc.WaitDisconnect("b1", wait); err != nil || reason != "io server disconnect" {
				t.Fatalf("b1 disconnect: %q %v", reason, err)
			}
			if st := na.cluster.Stats(); st.Drops["invalid"] != 0 || st.State != "connected" {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func sortedStrings(args []*socketio.Args) []string {
	var out []string
	for _, a := range args {
		s, _ := a.String(0)
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
