package redisadapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/redisadapter"
)

// fast makes outages short to observe: reconnection from 100 ms to 400 ms,
// a canary every 300 ms.
func fast(extra func(*redisadapter.Options)) nodeConfig {
	return nodeConfig{tune: func(o *redisadapter.Options) {
		o.ReconnectMin, o.ReconnectMax, o.CanaryInterval = 100*time.Millisecond, 400*time.Millisecond, 300*time.Millisecond
		if extra != nil {
			extra(o)
		}
	}}
}

func waitState(t *testing.T, state string, nodes ...*goNode) {
	t.Helper()
	testutil.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		for _, n := range nodes {
			if st := n.cluster.Stats(); st.State != state {
				return fmt.Errorf("%s is %s, want %s (%+v)", n.name, st.State, state, st)
			}
		}
		return nil
	})
}

func ready(t *testing.T, nodes ...*goNode) {
	t.Helper()
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := n.cluster.Ready(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v (%+v)", n.name, err, n.cluster.Stats())
		}
	}
}

// ticks emits "tick" from..to (inclusive) from node n.
func ticks(n *goNode, from, to int) {
	for i := from; i <= to; i++ {
		_ = n.srv.Emit("tick", i)
	}
}

// received returns the ticks client id received, in order.
func received(nc *testutil.NodeClients, id string) []int {
	var out []int
	for _, raw := range nc.Received(id, "tick") {
		var args []int
		_ = json.Unmarshal(raw, &args)
		if len(args) == 1 {
			out = append(out, args[0])
		}
	}
	return out
}

func waitTicks(t *testing.T, nc *testutil.NodeClients, id string, want []int) {
	t.Helper()
	testutil.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if got := received(nc, id); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s got ticks %v, want %v", id, got, want)
		}
		return nil
	})
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// outage runs two nodes (A, B, one client each) through an outage of their
// Redis: 20 ticks from A before kill, 40 while down, which A's client gets
// at once, 10 once restart is done. B's client must end with the 70 in
// order and once, and A's outbox empty with nothing dropped. whileDown runs
// after the 40 (the checks that tell the outage was real).
func outage(t *testing.T, url string, sharded bool, kill, restart, whileDown func(na, nb *goNode, nc *testutil.NodeClients)) (na, nb *goNode) {
	t.Helper()
	cfg := fast(nil)
	cfg.sharded = sharded
	na = startGoNode(t, "A", url, cfg)
	nb = startGoNode(t, "B", url, cfg)
	nc := testutil.StartNodeClients(t)
	connect(t, nc, "a1", na)
	connect(t, nc, "b1", nb)
	time.Sleep(700 * time.Millisecond) // a canary round: each node has seen the other

	ticks(na, 1, 20)
	waitTicks(t, nc, "b1", seq(1, 20))

	kill(na, nb, nc)
	ticks(na, 21, 60)
	waitTicks(t, nc, "a1", seq(1, 60)) // local delivery goes on
	whileDown(na, nb, nc)

	restart(na, nb, nc)
	ready(t, na, nb)
	waitTicks(t, nc, "b1", seq(1, 60))
	ticks(na, 61, 70)
	waitTicks(t, nc, "b1", seq(1, 70))
	waitTicks(t, nc, "a1", seq(1, 70))
	time.Sleep(300 * time.Millisecond)
	waitTicks(t, nc, "b1", seq(1, 70)) // nothing twice
	if st := na.cluster.Stats(); st.QueueDepth != 0 || st.Drops["queue-full"]+st.Drops["expired"]+st.Drops["invalid"] != 0 {
		t.Fatalf("stats after recovery %+v", st)
	}
	return na, nb
}

// Redis killed and restarted during traffic: local delivery never stops;
// what was emitted meanwhile waits in the outbox and reaches the other
// node, in order and once, when both are back.
func TestRedisKilledAndRestarted(t *testing.T) {
	for _, m := range []struct {
		name    string
		sharded bool
	}{{"classic", false}, {"sharded", true}} {
		t.Run(m.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			// Registered first, so run last: every goroutine of the nodes,
			// the clients and the sessions is gone once they are stopped.
			t.Cleanup(func() { testutil.WaitGoroutines(t, base) })
			func() {
				r := testutil.StartRedis(t)
				na, _ := outage(t, r.URL(), m.sharded,
					func(na, nb *goNode, _ *testutil.NodeClients) {
						r.Kill()
						waitState(t, "down", na, nb)
					},
					func(*goNode, *goNode, *testutil.NodeClients) { r.Start(t) },
					func(na, _ *goNode, nc *testutil.NodeClients) {
						if d := na.cluster.Stats().QueueDepth; d < 40 {
							t.Fatalf("queue depth %d while Redis is down, want ≥ 40", d)
						}
						time.Sleep(300 * time.Millisecond)
						if got := received(nc, "b1"); fmt.Sprint(got) != fmt.Sprint(seq(1, 20)) {
							t.Fatalf("b1 got %v while Redis was down", got)
						}
					})
				if st := na.cluster.Stats(); st.Reconnects < 1 {
					t.Fatalf("stats after recovery %+v", st)
				}
			}()
		})
	}
}

// The outbox is bounded per channel (the oldest go) and by age.
func TestOutboxBoundsWhileRedisIsDown(t *testing.T) {
	r := testutil.StartRedis(t)
	cfg := fast(func(o *redisadapter.Options) { o.QueueLimit = 10; o.QueueTTL = 1500 * time.Millisecond })
	na := startGoNode(t, "A", r.URL(), cfg)
	nb := startGoNode(t, "B", r.URL(), cfg)
	nc := testutil.StartNodeClients(t)
	connect(t, nc, "b1", nb)
	time.Sleep(700 * time.Millisecond)

	r.Kill()
	waitState(t, "down", na, nb)
	ticks(na, 1, 25) // 15 dropped: the channel keeps its newest 10
	if st := na.cluster.Stats(); st.Drops["queue-full"] != 15 || st.QueueDepth != 10 {
		t.Fatalf("after 25 queued: %+v", st)
	}
	r.Start(t)
	ready(t, na, nb)
	waitTicks(t, nc, "b1", seq(16, 25))

	r.Kill()
	waitState(t, "down", na, nb)
	ticks(na, 26, 30)
	time.Sleep(2 * time.Second) // older than QueueTTL by the time Redis is back
	r.Start(t)
	ready(t, na, nb)
	ticks(na, 31, 31)
	waitTicks(t, nc, "b1", append(seq(16, 25), 31))
	if st := na.cluster.Stats(); st.Drops["expired"] != 5 {
		t.Fatalf("expired drops: %+v", st)
	}
}

// CLIENT KILL TYPE pubsub cuts the subscriptions only: the nodes notice,
// resubscribe, and traffic flows again.
func TestPubsubConnectionsKilled(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		t.Run("sharded="+strconv.FormatBool(sharded), func(t *testing.T) {
			r := testutil.StartRedis(t)
			cfg := fast(nil)
			cfg.sharded = sharded
			na := startGoNode(t, "A", r.URL(), cfg)
			nb := startGoNode(t, "B", r.URL(), cfg)
			nc := testutil.StartNodeClients(t)
			connect(t, nc, "b1", nb)
			time.Sleep(700 * time.Millisecond)
			ticks(na, 1, 5)
			waitTicks(t, nc, "b1", seq(1, 5))
			if n, err := r.Do("CLIENT", "KILL", "TYPE", "pubsub"); err != nil || n == "0" {
				t.Fatalf("CLIENT KILL: %q %v", n, err)
			}
			testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
				if na.cluster.Stats().Reconnects == 0 || nb.cluster.Stats().Reconnects == 0 {
					return fmt.Errorf("no reconnection yet: %+v %+v", na.cluster.Stats(), nb.cluster.Stats())
				}
				return nil
			})
			ready(t, na, nb)
			ticks(na, 6, 10)
			waitTicks(t, nc, "b1", seq(1, 10))
		})
	}
}

// DEBUG SLEEP freezes Redis: nothing panics, local delivery goes on, and
// what was emitted during the freeze arrives afterwards, once.
func TestRedisFrozenByDebugSleep(t *testing.T) {
	r := testutil.StartRedis(t)
	na := startGoNode(t, "A", r.URL(), fast(nil))
	nb := startGoNode(t, "B", r.URL(), fast(nil))
	nc := testutil.StartNodeClients(t)
	connect(t, nc, "a1", na)
	connect(t, nc, "b1", nb)
	time.Sleep(700 * time.Millisecond)
	slept := make(chan error, 1)
	go func() { _, err := r.Do("DEBUG", "SLEEP", "2"); slept <- err }()
	time.Sleep(100 * time.Millisecond)
	ticks(na, 1, 30)
	waitTicks(t, nc, "a1", seq(1, 30))
	if err := testutil.Recv(t, slept); err != nil {
		t.Fatal(err)
	}
	ready(t, na, nb)
	waitTicks(t, nc, "b1", seq(1, 30))
	ticks(na, 31, 31)
	waitTicks(t, nc, "b1", seq(1, 31))
}

// Publishes refused by Redis open the breaker after 5 failures; messages
// wait; after the cooldown a probe publish closes it and they go out.
func TestPublishBreaker(t *testing.T) {
	r := testutil.StartRedis(t)
	cfg := fast(func(o *redisadapter.Options) { o.BreakerCooldown = time.Second })
	na := startGoNode(t, "A", r.URL(), cfg)
	nb := startGoNode(t, "B", r.URL(), cfg)
	nc := testutil.StartNodeClients(t)
	connect(t, nc, "b1", nb)
	time.Sleep(700 * time.Millisecond)
	if _, err := r.Do("ACL", "SETUSER", "default", "-publish"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 8; i++ {
		ticks(na, i, i)
		time.Sleep(30 * time.Millisecond)
	}
	testutil.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if st := na.cluster.Stats(); st.Breaker != "open" || st.QueueDepth != 8 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	if _, err := r.Do("ACL", "SETUSER", "default", "+publish"); err != nil {
		t.Fatal(err)
	}
	waitTicks(t, nc, "b1", seq(1, 8))
	if st := na.cluster.Stats(); st.Breaker != "closed" || st.QueueDepth != 0 {
		t.Fatalf("stats after the probe %+v", st)
	}
}

// A Redis Cluster master killed and restarted during traffic (the slots
// it serves are down, and after cluster-node-timeout the whole cluster
// refuses commands): the same as with one Redis. In the sharded format the
// master killed is the one whose slot holds the namespace's channel.
func TestRedisClusterMasterKilledAndRestarted(t *testing.T) {
	for _, m := range []struct {
		name    string
		sharded bool
	}{{"classic", false}, {"sharded", true}} {
		t.Run(m.name, func(t *testing.T) {
			rc := testutil.StartRedisCluster(t, 3)
			victim := rc.Nodes[0]
			if m.sharded {
				slot, err := rc.Nodes[0].Do("CLUSTER", "KEYSLOT", "socket.io#/#")
				if err != nil {
					t.Fatal(err)
				}
				n, _ := strconv.Atoi(slot)
				victim = rc.Nodes[min(n/(16384/3), 2)] // StartRedisCluster's even split
			}
			na, nb := outage(t, rc.URL(), m.sharded,
				func(*goNode, *goNode, *testutil.NodeClients) {
					victim.Kill()
					time.Sleep(500 * time.Millisecond)
				},
				func(*goNode, *goNode, *testutil.NodeClients) { victim.Start(t) },
				// Depending on where each node's connections are, some
				// ticks may still cross while the master is down.
				func(*goNode, *goNode, *testutil.NodeClients) {})
			if na.cluster.Stats().Reconnects+nb.cluster.Stats().Reconnects == 0 {
				t.Fatalf("no node reconnected: the master's death went unnoticed (A %+v, B %+v)", na.cluster.Stats(), nb.cluster.Stats())
			}
		})
	}
}
