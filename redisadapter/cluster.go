package redisadapter

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"sio/limits"
	"sio/socketio"
)

// ErrDown is returned by cluster operations that need Redis while it is
// unreachable (the local part of the operation has been done).
var ErrDown = errors.New("redisadapter: redis unreachable")

// Cluster is one node's membership in a Redis-joined cluster: the Redis
// connections, the subscriptions of every namespace, the outgoing queues
// and the inbound hand-off. Create one per process with New; its Adapter
// method is socketio.Options.Adapter.
type Cluster struct {
	opts    Options
	uid     string
	canary  string // this node's canary channel
	log     *slog.Logger
	breaker *limits.Breaker
	out     *outbox
	in      chan inbound

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sess     *session // nil while disconnected
	state    string
	lastErr  string
	want     map[string]*subSpec // subscriptions every session must hold
	changed  chan struct{}       // want changed (cap 1)
	synced   chan struct{}       // closed when a session holds exactly want; replaced on change
	adapters map[string]*nspAdapter

	// Nodes last seen per namespace (refreshed each canary round), and
	// whether the outbox waits after a reconnection for them to be back.
	lastSeen map[string]int
	holding  atomic.Bool

	reconnects   atomic.Uint64
	published    atomic.Uint64
	received     atomic.Uint64
	canaryMisses atomic.Uint64
	drops        [dropReasons]atomic.Uint64
}

// Drop reasons, as Stats.Drops names them.
const (
	dropQueueFull = iota
	dropExpired
	dropInbound
	dropInvalid
	dropReasons
)

var dropNames = [dropReasons]string{"queue-full", "expired", "inbound", "invalid"}

func (c *Cluster) drop(reason int, n uint64) { c.drops[reason].Add(n) }

// subSpec is one subscription: kind is "subscribe", "psubscribe" or
// "ssubscribe"; handle gets its messages on the inbound goroutine.
type subSpec struct {
	kind    string
	channel string
	handle  func(channel, msg string)
}

func (s *subSpec) key() string { return s.kind + " " + s.channel }

type inbound struct {
	spec    *subSpec
	channel string
	msg     string
}

// New checks the options and starts connecting in the background: an
// unreachable Redis is not an error (the node serves alone, queueing its
// cluster messages, until Redis answers). Close stops everything.
func New(opts Options) (*Cluster, error) {
	if opts.URL == "" {
		return nil, errors.New("redisadapter: Options.URL is required")
	}
	if _, err := rueidis.ParseURL(opts.URL); err != nil {
		return nil, fmt.Errorf("redisadapter: %w", err)
	}
	opts.defaults()
	switch opts.SubscriptionMode {
	case Static, Dynamic, DynamicPrivate:
	default:
		return nil, fmt.Errorf("redisadapter: unknown subscription mode %q", opts.SubscriptionMode)
	}
	if opts.ServerID == "" {
		host, _ := os.Hostname()
		opts.ServerID = host + "-" + strconv.Itoa(os.Getpid())
	}
	c := &Cluster{
		opts: opts, log: opts.Logger.With("redis", opts.ServerID),
		in:   make(chan inbound, opts.InboundQueue),
		want: map[string]*subSpec{}, changed: make(chan struct{}, 1), synced: make(chan struct{}),
		adapters: map[string]*nspAdapter{}, state: "connecting", lastSeen: map[string]int{},
	}
	if opts.Sharded {
		c.uid = randomHex(8) // ClusterAdapter's uid: 16 hex characters
	} else {
		c.uid = randomUID(6) // the classic adapter's uid2(6)
	}
	c.canary = opts.Key + "-canary#" + c.uid + "#"
	c.breaker = &limits.Breaker{Name: "redis-publish", Threshold: opts.BreakerThreshold, Cooldown: opts.BreakerCooldown,
		OnStateChange: func(name string, from, to limits.BreakerState) {
			c.log.Warn("redis publish breaker", "from", from.String(), "to", to.String())
		}}
	c.out = newOutbox(c)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wantLocked(&subSpec{kind: c.subKind(), channel: c.canary}) // handled in the receive callback
	c.wg.Add(3)
	go c.run()
	go c.consume()
	go c.out.run()
	return c, nil
}

// UID is this node's id on the wire (Node's adapter uid).
func (c *Cluster) UID() string { return c.uid }

// ServerID is this node's name (Options.ServerID).
func (c *Cluster) ServerID() string { return c.opts.ServerID }

// Adapter builds the adapter of one namespace (socketio.Options.Adapter).
func (c *Cluster) Adapter(nsp *socketio.Namespace) socketio.Adapter {
	return newNspAdapter(c, nsp)
}

// Ready waits until the node is connected and every subscription its
// namespaces need is in place (or ctx ends).
func (c *Cluster) Ready(ctx context.Context) error {
	for {
		c.mu.Lock()
		ch := c.synced
		c.mu.Unlock()
		select {
		case <-ch:
			c.mu.Lock()
			same := ch == c.synced
			c.mu.Unlock()
			if same {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return errors.New("redisadapter: closed")
		}
	}
}

// Close stops the node's goroutines and closes its Redis connections.
// Queued messages that were not published are dropped.
func (c *Cluster) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

// Stats returns the node's Redis state and counters.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	st := Stats{ServerID: c.opts.ServerID, UID: c.uid, State: c.state, LastError: c.lastErr}
	c.mu.Unlock()
	st.Mode = "classic"
	if c.opts.Sharded {
		st.Mode = "sharded/" + c.opts.SubscriptionMode
	}
	st.Reconnects = c.reconnects.Load()
	st.Breaker = c.breaker.Stats().State.String()
	st.QueueDepth = c.out.depth()
	st.Published = c.published.Load()
	st.Received = c.received.Load()
	st.CanaryMisses = c.canaryMisses.Load()
	st.Drops = make(map[string]uint64, dropReasons)
	for i := range c.drops {
		st.Drops[dropNames[i]] = c.drops[i].Load()
	}
	return st
}

func (c *Cluster) subKind() string {
	if c.opts.Sharded {
		return "ssubscribe"
	}
	return "subscribe"
}

// subscribe adds a subscription that every session holds from now on.
func (c *Cluster) subscribe(s *subSpec) {
	c.mu.Lock()
	c.wantLocked(s)
	c.mu.Unlock()
}

func (c *Cluster) wantLocked(s *subSpec) {
	if _, ok := c.want[s.key()]; ok {
		return
	}
	c.want[s.key()] = s
	c.dirtyLocked()
}

// unsubscribe removes a subscription.
func (c *Cluster) unsubscribe(kind, channel string) {
	c.mu.Lock()
	if _, ok := c.want[kind+" "+channel]; ok {
		delete(c.want, kind+" "+channel)
		c.dirtyLocked()
	}
	c.mu.Unlock()
}

func (c *Cluster) dirtyLocked() {
	select {
	case <-c.synced:
		c.synced = make(chan struct{})
	default:
	}
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// pubClient returns the publishing client of the live session, or nil.
func (c *Cluster) pubClient() rueidis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return nil
	}
	return c.sess.pub
}

// --- the connection loop --------------------------------------------------------

// session is one connected period: a client for publishing and commands,
// and one for subscriptions (rueidis puts every subscription of a client
// on one connection per Redis node, so NUMSUB counts this node once per
// channel). Any failure of a subscription ends the session; run tears the
// clients down and connects again with backoff.
type session struct {
	pub, sub rueidis.Client
	ctx      context.Context
	fail     func(error)
	failed   <-chan struct{}
	err      error
	errMu    sync.Mutex
	active   map[string]*activeSub
	wg       sync.WaitGroup
	canaryIn chan struct{}
}

type activeSub struct {
	spec     *subSpec
	cancel   context.CancelFunc
	done     chan struct{}
	stopping atomic.Bool // we asked Redis to unsubscribe it
}

func (c *Cluster) clientOptions() (rueidis.ClientOption, error) {
	o, err := rueidis.ParseURL(c.opts.URL)
	if err != nil {
		return o, err
	}
	o.DisableCache = true
	o.DisableRetry = true // a lost connection ends the session; run reconnects with its own backoff
	o.ConnWriteTimeout = 5 * time.Second
	o.Dialer.Timeout = 5 * time.Second
	o.Dialer.KeepAlive = time.Second
	return o, nil
}

func (c *Cluster) dial() (*session, error) {
	o, err := c.clientOptions()
	if err != nil {
		return nil, err
	}
	pub, err := rueidis.NewClient(o)
	if err != nil {
		return nil, err
	}
	sub, err := rueidis.NewClient(o)
	if err != nil {
		pub.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(c.ctx)
	s := &session{pub: pub, sub: sub, ctx: ctx, failed: ctx.Done(), active: map[string]*activeSub{}, canaryIn: make(chan struct{}, 1)}
	s.fail = func(err error) {
		s.errMu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.errMu.Unlock()
		cancel(err)
	}
	return s, nil
}

func (c *Cluster) setState(state string, err error) {
	c.mu.Lock()
	c.state = state
	if err != nil {
		c.lastErr = err.Error()
	}
	c.mu.Unlock()
}

// backoff is the wait before reconnection attempt n (0-based): exponential
// from ReconnectMin to ReconnectMax, with ±20 % jitter.
func (c *Cluster) backoff(n int) time.Duration {
	d := c.opts.ReconnectMin
	for i := 0; i < n && d < c.opts.ReconnectMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.ReconnectMax)
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(max(j, c.opts.ReconnectMin), c.opts.ReconnectMax)
}

func (c *Cluster) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *Cluster) run() {
	defer c.wg.Done()
	attempt := 0
	everConnected := false
	for c.ctx.Err() == nil {
		s, err := c.dial()
		if err != nil {
			if everConnected {
				c.setState("down", err)
			} else {
				c.setState("connecting", err)
			}
			c.log.Warn("redis unreachable", "err", err, "retryIn", c.backoff(attempt).Round(time.Millisecond).String())
			if !c.sleep(c.backoff(attempt)) {
				return
			}
			attempt++
			continue
		}
		if everConnected {
			c.reconnects.Add(1)
		}
		c.breaker.Reset() // Redis answers again: what waited goes out now
		c.mu.Lock()
		c.sess = s
		c.mu.Unlock()
		ok := c.serve(s, &attempt, &everConnected)
		c.mu.Lock()
		c.sess = nil
		select {
		case <-c.synced:
			c.synced = make(chan struct{})
		default:
		}
		c.mu.Unlock()
		s.fail(context.Canceled)
		for _, a := range s.active {
			a.cancel()
		}
		s.sub.Close()
		s.pub.Close()
		s.wg.Wait()
		if !ok || c.ctx.Err() != nil {
			return
		}
		c.setState("down", s.err)
		c.log.Warn("redis connection lost; reconnecting", "err", s.err)
		if !c.sleep(c.backoff(attempt)) {
			return
		}
		attempt++
	}
}

// serve holds the session's subscriptions equal to want and runs the
// canary until the session fails (true) or the cluster closes (false).
func (c *Cluster) serve(s *session, attempt *int, everConnected *bool) bool {
	canary := time.NewTicker(c.opts.CanaryInterval)
	defer canary.Stop()
	var canarySent time.Time
	// After a reconnection, what waited in the outbox goes out once the
	// nodes seen before are subscribed again (they reconnect on their own
	// backoff; pub/sub would lose what is published before), or after
	// maxResumeHold.
	var holdTick <-chan time.Time
	holdUntil := time.Now().Add(maxResumeHold)
	if *everConnected && c.expectsPeers() {
		c.holding.Store(true)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		holdTick = t.C
	}
	defer c.holding.Store(false)
	for {
		if err := c.sync(s); err != nil {
			s.fail(err)
		} else {
			// Connected and in sync: the backoff starts over at its minimum.
			*attempt = 0
			*everConnected = true
		}
		select {
		case <-c.ctx.Done():
			return false
		case <-s.failed:
			return true
		case <-c.changed:
			continue
		case <-s.canaryIn:
			canarySent = time.Time{}
			continue
		case <-holdTick:
			if time.Now().After(holdUntil) || c.peersBack(s.ctx) {
				c.holding.Store(false)
				holdTick = nil
				c.out.wake()
			}
			continue
		case <-canary.C:
			if holdTick == nil {
				c.observePeers(s.ctx)
			}
			if !canarySent.IsZero() {
				// One round late can be a backlog (a Redis waking from a
				// freeze, a busy machine); two rounds is a dead
				// subscription. A false alarm would cost what is in flight.
				if time.Since(canarySent) < 2*c.opts.CanaryInterval-c.opts.CanaryInterval/4 {
					continue
				}
				c.canaryMisses.Add(1)
				s.fail(fmt.Errorf("canary not received within %v: subscription presumed dead", time.Since(canarySent).Round(time.Millisecond)))
				continue
			}
			canarySent = time.Now()
			cmd := s.pub.B().Publish().Channel(c.canary).Message("canary").Build()
			if c.opts.Sharded {
				cmd = s.pub.B().Spublish().Channel(c.canary).Message("canary").Build()
			}
			ctx, cancel := context.WithTimeout(s.ctx, c.opts.CanaryInterval)
			err := s.pub.Do(ctx, cmd).Error()
			cancel()
			if err != nil {
				// Not published, so nothing to miss: a refusal (an ACL,
				// OOM…) is the publish breaker's business, and a Redis that
				// does not answer (frozen, or gone) is rueidis's, whose
				// keep-alive PINGs close a connection silent for
				// ConnWriteTimeout. Cutting the subscriptions of a frozen
				// Redis would lose what it delivers when it wakes.
				canarySent = time.Time{}
				if _, refused := rueidis.IsRedisErr(err); !refused && s.ctx.Err() == nil {
					c.setLastErr(fmt.Errorf("canary publish: %w", err))
				}
			}
		}
	}
}

// maxResumeHold bounds how long a reconnected node waits for the nodes it
// saw before to be back before it publishes what it queued.
const maxResumeHold = 10 * time.Second

func (c *Cluster) namespaces() []*nspAdapter {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*nspAdapter, 0, len(c.adapters))
	for _, a := range c.adapters {
		out = append(out, a)
	}
	return out
}

// observePeers records how many nodes each namespace has.
func (c *Cluster) observePeers(ctx context.Context) {
	for _, a := range c.namespaces() {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		n, err := a.ServerCount(cctx)
		cancel()
		if err == nil {
			c.mu.Lock()
			c.lastSeen[a.name] = n
			c.mu.Unlock()
		}
	}
}

func (c *Cluster) expectsPeers() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.lastSeen {
		if n > 1 {
			return true
		}
	}
	return false
}

// peersBack reports whether every namespace has as many nodes as before.
func (c *Cluster) peersBack(ctx context.Context) bool {
	for _, a := range c.namespaces() {
		c.mu.Lock()
		want := c.lastSeen[a.name]
		c.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		n, err := a.ServerCount(cctx)
		cancel()
		if err != nil || n < want {
			return false
		}
	}
	return true
}

// sync subscribes what want has and the session lacks, and unsubscribes
// the rest, one at a time (rueidis can hang when a channel is subscribed
// and unsubscribed at once). It marks the node connected and synced.
func (c *Cluster) sync(s *session) error {
	for {
		c.mu.Lock()
		var add *subSpec
		var drop *activeSub
		for k, spec := range c.want {
			if _, ok := s.active[k]; !ok {
				add = spec
				break
			}
		}
		if add == nil {
			for k, a := range s.active {
				if _, ok := c.want[k]; !ok {
					drop = a
					break
				}
			}
		}
		if add == nil && drop == nil {
			c.state = "connected"
			select {
			case <-c.synced:
			default:
				close(c.synced)
			}
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		var err error
		if add != nil {
			err = c.startSub(s, add)
		} else {
			err = c.stopSub(s, drop)
		}
		if err != nil {
			return err
		}
	}
}

func (c *Cluster) startSub(s *session, spec *subSpec) error {
	confirmed := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithCancel(s.ctx)
	a := &activeSub{spec: spec, cancel: cancel, done: make(chan struct{})}
	s.active[spec.key()] = a
	hctx := rueidis.WithOnSubscriptionHook(ctx, func(p rueidis.PubSubSubscription) {
		if p.Channel == spec.channel && (p.Kind == spec.kind) {
			once.Do(func() { close(confirmed) })
		}
	})
	var cmd rueidis.Completed
	switch spec.kind {
	case "psubscribe":
		cmd = s.sub.B().Psubscribe().Pattern(spec.channel).Build()
	case "ssubscribe":
		cmd = s.sub.B().Ssubscribe().Channel(spec.channel).Build()
	default:
		cmd = s.sub.B().Subscribe().Channel(spec.channel).Build()
	}
	isCanary := spec.channel == c.canary
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(a.done)
		err := s.sub.Receive(hctx, cmd, func(m rueidis.PubSubMessage) {
			if isCanary {
				select {
				case s.canaryIn <- struct{}{}:
				default:
				}
				return
			}
			c.received.Add(1)
			select {
			case c.in <- inbound{spec: spec, channel: m.Channel, msg: m.Message}:
			default:
				c.drop(dropInbound, 1)
			}
		})
		if ctx.Err() != nil || a.stopping.Load() {
			return // unsubscribed by us, or the session is over
		}
		if err == nil {
			// Redis unsubscribed us (a slot moved, a node left): the
			// session starts over and subscribes everything again.
			err = errors.New("unsubscribed by redis from " + spec.channel)
		}
		s.fail(fmt.Errorf("%s %s: %w", spec.kind, spec.channel, err))
	}()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-confirmed:
		return nil
	case <-a.done:
		return fmt.Errorf("%s %s ended before it was confirmed", spec.kind, spec.channel)
	case <-t.C:
		return fmt.Errorf("%s %s not confirmed within 5 s", spec.kind, spec.channel)
	case <-s.failed:
		return s.ctx.Err()
	}
}

func (c *Cluster) stopSub(s *session, a *activeSub) error {
	delete(s.active, a.spec.key())
	a.stopping.Store(true)
	var cmd rueidis.Completed
	switch a.spec.kind {
	case "psubscribe":
		cmd = s.sub.B().Punsubscribe().Pattern(a.spec.channel).Build()
	case "ssubscribe":
		cmd = s.sub.B().Sunsubscribe().Channel(a.spec.channel).Build()
	default:
		cmd = s.sub.B().Unsubscribe().Channel(a.spec.channel).Build()
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	err := s.sub.Do(ctx, cmd).Error()
	if err == nil {
		select {
		case <-a.done:
		case <-ctx.Done():
			err = fmt.Errorf("unsubscribe %s not confirmed", a.spec.channel)
		}
	}
	a.cancel()
	return err
}

// consume handles what Redis delivered, in order, on one goroutine. A
// handler that panics on a message (a bug met by peer input) loses that
// message only; it is counted as invalid.
func (c *Cluster) consume() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case m := <-c.in:
			c.handle(m)
		}
	}
}

func (c *Cluster) handle(m inbound) {
	defer func() {
		if r := recover(); r != nil {
			c.drop(dropInvalid, 1)
			c.log.Error("redis message handler panicked", "channel", m.channel, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	m.spec.handle(m.channel, m.msg)
}

// invalid counts a message that does not decode.
func (c *Cluster) invalid(channel string, err error) {
	c.drop(dropInvalid, 1)
	c.log.Debug("undecodable redis message", "channel", channel, "err", err)
}

const uidAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// randomUID is uid2's format: n URL-safe characters.
func randomUID(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	for i := range b {
		b[i] = uidAlphabet[b[i]&63]
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Cluster) setLastErr(err error) {
	c.mu.Lock()
	c.lastErr = err.Error()
	c.mu.Unlock()
}
