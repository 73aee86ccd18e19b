package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"sio/redisadapter"
	"sio/socketio"
)

// A gateway with REDIS_URL is one node of a cluster: the Socket.IO adapter
// (package redisadapter) carries broadcasts and server-side events between
// the nodes, and the Redis stores hold bans, history, de-duplication keys
// and presence for all of them. What stays per node: the sockets and their
// workers, rate limits (per node: a user spread over n nodes gets n times
// the limit at most), typing timers (the typist's node owns them), and the
// gateway's own view of its sockets, which is the truth its presence
// counts are rewritten from after Redis lost them.

// clusterLink is what the gateway needs of a redisadapter.Cluster.
type clusterLink interface {
	Stats() redisadapter.Stats
	Ready(ctx context.Context) error
	Close() error
}

// newClusterLink builds the Redis adapter; it returns the link and the
// socketio.Options.Adapter constructor. Redis down is no error: the
// adapter connects in the background.
func newClusterLink(o redisadapter.Options) (clusterLink, func(*socketio.Namespace) socketio.Adapter, error) {
	c, err := redisadapter.New(o)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return c, c.Adapter, nil
}

// RedisTuning adjusts the Redis stores and adapter (tests: short
// heartbeats, quick reconnects).
type RedisTuning struct {
	Store   func(*RedisStoreOptions)
	Adapter func(*redisadapter.Options)
}

// cluster is a node's Redis side.
type cluster struct {
	link     clusterLink
	stores   *RedisStores
	presence NodePresence
	nodeID   string
}

// Server-side events between the gateway's nodes.
const (
	evKick = "gateway:kick" // channelId, userId, by → ack(sockets kicked)
	evBan  = "gateway:ban"  // userId, {reason, until} → ack(sockets banned)
)

// setupCluster connects the node to Redis: the adapter and the stores.
func (g *Gateway) setupCluster(opts *Options) error {
	id := g.cfg.ServerID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	so := RedisStoreOptions{URL: g.cfg.RedisURL, NodeID: id + "-" + randomNodeID()[:6],
		HistorySize: g.cfg.HistorySize, HistoryTTL: g.cfg.HistoryTTL,
		OnBreakerChange: g.breakerChanged, Logger: g.log}
	ao := redisadapter.Options{URL: g.cfg.RedisURL, ServerID: id, Logger: g.log}
	if t := opts.Redis.Store; t != nil {
		t(&so)
	}
	if t := opts.Redis.Adapter; t != nil {
		t(&ao)
	}
	stores, err := NewRedisStores(so)
	if err != nil {
		return err
	}
	link, adapter, err := newClusterLink(ao)
	if err != nil {
		stores.Close()
		return err
	}
	g.cluster = &cluster{link: link, stores: stores, presence: stores.Presence, nodeID: stores.NodeID()}
	if opts.Adapter == nil {
		opts.Adapter = adapter
	}
	st := &opts.Stores
	if st.Messages == nil {
		st.Messages = stores.Messages
	}
	if st.Bans == nil {
		st.Bans = stores.Bans
	}
	if st.Dedup == nil {
		st.Dedup = stores.Dedup
	}
	if st.Presence == nil {
		st.Presence = stores.Presence
	}
	// Message ids end with a tag of the node, so that two nodes never
	// make the same one.
	var b [2]byte
	_, _ = rand.Read(b[:])
	g.idTag = fmt.Sprintf("%04d", (int(b[0])<<8|int(b[1]))%10000)
	return nil
}

// closeCluster closes the adapter and the stores (after the server).
func (g *Gateway) closeCluster() {
	if g.cluster == nil {
		return
	}
	_ = g.cluster.link.Close()
	g.cluster.stores.Close()
}

// errGone marks a presence change that did not reach the store on purpose
// (the socket is gone, the node is shutting down): nothing to reconcile.
var errGone = errors.New("gateway: socket gone")

// presenceOp runs fn, which changes this node's presence: the sockets'
// own view (client.counted, client.channels) and the store's counts
// together. Reconciliation takes the lock exclusively, so it sees every
// socket's view with its store call done. A failed call marks the counts
// dirty: the next heartbeat rewrites them.
func (g *Gateway) presenceOp(fn func() error) error {
	g.pmu.RLock()
	defer g.pmu.RUnlock()
	err := fn()
	if err != nil && !errors.Is(err, errGone) {
		g.presenceDirty.Store(true)
	}
	return err
}

// registerClusterEvents answers the other nodes' kicks and bans.
func (g *Gateway) registerClusterEvents() {
	nsp := g.io.Sockets()
	nsp.OnServerSideEmit(evKick, func(args *socketio.Args, ack func(...any)) {
		ch, _ := args.String(0)
		uid, _ := args.String(1)
		by, _ := args.String(2)
		if !validChannelID(ch) || !validUserID(uid) {
			return
		}
		// Off the adapter's goroutine: leaving updates the store.
		g.inflight.Add(1)
		go func() {
			defer g.inflight.Add(-1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n := g.kickLocal(ctx, ch, uid, by)
			if ack != nil {
				ack(n)
			}
		}()
	})
	nsp.OnServerSideEmit(evBan, func(args *socketio.Args, ack func(...any)) {
		uid, _ := args.String(0)
		var notice map[string]any
		if !validUserID(uid) || args.Decode(1, &notice) != nil {
			return
		}
		n := g.banLocal(uid, notice)
		if ack != nil {
			ack(n)
		}
	})
}

// kickLocal takes this node's sockets of the user out of the channel,
// each told first; it returns how many.
func (g *Gateway) kickLocal(ctx context.Context, ch, uid, by string) int {
	n := 0
	for _, t := range g.clientsOf(uid) {
		if t.inChannel(ch) {
			_ = t.s.Emit("moderation:kicked", map[string]any{"channelId": ch, "by": by})
			t.leave(ctx, ch)
			n++
		}
	}
	return n
}

// banLocal tells this node's sockets of the user and disconnects them.
func (g *Gateway) banLocal(uid string, notice map[string]any) int {
	n := 0
	for _, t := range g.clientsOf(uid) {
		_ = t.s.Emit("moderation:banned", notice)
		t.closeWith("banned", false)
		n++
	}
	return n
}

// peerTimeout bounds a kick or ban's wait for the other nodes.
const peerTimeout = 3 * time.Second

// kick kicks the user's sockets out of the channel on every node and
// returns how many.
func (g *Gateway) kick(ctx context.Context, ch, uid, by string) int {
	n := g.kickLocal(ctx, ch, uid, by)
	if g.cluster != nil {
		n += g.askPeers(ctx, evKick, ch, uid, by)
	}
	return n
}

// ban disconnects the user's sockets on every node (the ban is stored).
func (g *Gateway) ban(ctx context.Context, b Ban) {
	notice := map[string]any{"reason": b.Reason, "until": untilJSON(b.Until)}
	g.banLocal(b.UserID, notice)
	if g.cluster != nil {
		g.askPeers(ctx, evBan, b.UserID, notice)
	}
}

// askPeers sends a server-side event to the other nodes and sums their
// answers. When they do not all answer in time (Redis down, a node dying),
// the event is sent again without an ack: the adapter queues it until
// Redis is back, and the handlers are idempotent.
func (g *Gateway) askPeers(ctx context.Context, event string, args ...any) int {
	nsp := g.io.Sockets()
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	replies, err := nsp.ServerSideEmitWithAck(ctx, event, args...)
	n := 0
	for _, r := range replies {
		var k int
		if r != nil && r.Decode(0, &k) == nil {
			n += k
		}
	}
	if err != nil {
		g.log.Warn("cluster: not every node answered; sent again without an ack", "event", event, "err", err)
		_ = nsp.ServerSideEmit(event, args...)
	}
	return n
}

// presenceLoop renews the node's heartbeat, rewrites its counts when they
// were lost or a store call failed, and reaps the nodes that died.
func (g *Gateway) presenceLoop() {
	defer g.bg.Done()
	np := g.cluster.presence
	t := time.NewTicker(np.HeartbeatInterval())
	defer t.Stop()
	for {
		if g.presenceClosed.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*np.HeartbeatInterval()+5*time.Second)
		lost, err := np.Heartbeat(ctx)
		if err == nil && (lost || g.presenceDirty.Load()) {
			g.reconcile(ctx, lost)
		}
		if err == nil {
			gone, err := np.Reap(ctx)
			if err != nil {
				g.log.Warn("presence: reaping dead nodes", "err", err)
			}
			g.announcePresence(gone)
		}
		cancel()
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
	}
}

// reconcile rewrites this node's presence counts from its sockets.
func (g *Gateway) reconcile(ctx context.Context, lost bool) {
	g.pmu.Lock()
	if g.presenceClosed.Load() {
		g.pmu.Unlock()
		return
	}
	byUser := map[string]*NodeUser{}
	g.mu.Lock()
	for uid, set := range g.users {
		for c := range set {
			c.mu.Lock()
			if c.counted {
				u := byUser[uid]
				if u == nil {
					u = &NodeUser{UserID: uid, Name: c.claims.Name, Channels: map[string]int{}}
					byUser[uid] = u
				}
				u.Sockets++
				for ch := range c.channels {
					u.Channels[ch]++
				}
			}
			c.mu.Unlock()
		}
	}
	g.mu.Unlock()
	users := make([]NodeUser, 0, len(byUser))
	for _, u := range byUser {
		users = append(users, *u)
	}
	g.presenceDirty.Store(false)
	gone, back, err := g.cluster.presence.Reconcile(ctx, users)
	if err != nil {
		g.presenceDirty.Store(true)
	}
	g.pmu.Unlock()
	if err != nil {
		g.log.Warn("presence: rewriting this node's counts", "err", err)
	} else {
		g.log.Info("presence: this node's counts rewritten", "users", len(users), "lost", lost)
	}
	g.announcePresence(gone)
	g.announcePresence(back)
}

// announcePresence tells each user's channels their presence.
func (g *Gateway) announcePresence(changes []PresenceChange) {
	for _, c := range changes {
		if len(c.Channels) > 0 {
			_ = g.io.To(rooms(c.Channels)...).Emit("presence:update", c.Presence)
		}
	}
}

// abandonPresence stops the node's presence at shutdown: no more store
// calls, and the heartbeat is deleted so that the other nodes reap this
// node's counts at once and announce those users offline through their
// adapters (this node's is closing).
func (g *Gateway) abandonPresence(ctx context.Context) {
	if g.cluster == nil {
		return
	}
	g.pmu.Lock()
	was := g.presenceClosed.Swap(true)
	g.pmu.Unlock()
	if was {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := g.cluster.presence.Abandon(ctx); err != nil {
		g.log.Warn("presence: could not drop this node's heartbeat; the others reap it once it expires", "err", err)
	}
}

// RedisHealth is the Redis part of /health/socket.
type RedisHealth struct {
	State      string            `json:"state"` // the adapter's: connected, connecting, down
	ServerID   string            `json:"serverId"`
	QueueDepth int               `json:"queueDepth"`
	Drops      map[string]uint64 `json:"drops"`
	Reconnects uint64            `json:"reconnects"`
	Breaker    string            `json:"breaker"`      // the adapter's publish breaker
	Store      string            `json:"storeBreaker"` // the stores' breaker
	LastError  string            `json:"lastError,omitempty"`
}

// redisHealth is the live Redis state, nil on a single node.
func (g *Gateway) redisHealth() *RedisHealth {
	if g.cluster == nil {
		return nil
	}
	st := g.cluster.link.Stats()
	bs := g.cluster.stores.Breaker().Stats()
	h := &RedisHealth{State: st.State, ServerID: st.ServerID, QueueDepth: st.QueueDepth, Drops: st.Drops,
		Reconnects: st.Reconnects, Breaker: st.Breaker, Store: bs.State.String(), LastError: st.LastError}
	if h.Drops == nil {
		h.Drops = map[string]uint64{}
	}
	if h.LastError == "" {
		h.LastError = bs.LastError
	}
	return h
}

// ok reports whether Redis is fully usable.
func (h *RedisHealth) ok() bool {
	return h.State == "connected" && h.Store == "closed" && (h.Breaker == "" || h.Breaker == "closed")
}
