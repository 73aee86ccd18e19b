package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bytedance/sonic"

	"sio/socketio"
)

// client is the gateway's state of one connected socket.
type client struct {
	g      *Gateway
	s      *socketio.Socket
	claims *Claims
	uid    []byte // claims.UserID, the rate limiters' key (no copy per event)

	mu       sync.Mutex
	queue    []func() // work waiting for the worker, in arrival order
	running  bool     // a worker goroutine is draining queue
	gone     bool     // disconnected: no new work
	channels map[string]bool
	counted  bool   // the presence store counts this socket (see Gateway.presenceOp)
	reason   string // a close reason the gateway chose (token expired, banned, ...)

	violations atomic.Int32 // rate-limited events in a row
	expiry     *time.Timer
}

// maxQueue bounds the events a socket may have waiting for its worker:
// beyond it the client is pipelining faster than it is answered, and the
// event is refused as rate_limited.
const maxQueue = 256

// apiError is the error of an ack: {ok: false, error: {code, message, retryAfterMs?}}.
type apiError struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
}

func errInvalid(msg string) *apiError   { return &apiError{Code: "invalid", Message: msg} }
func errForbidden(msg string) *apiError { return &apiError{Code: "forbidden", Message: msg} }
func errNotFound(msg string) *apiError  { return &apiError{Code: "not_found", Message: msg} }
func errUnavailable(msg string) *apiError {
	return &apiError{Code: "unavailable", Message: msg}
}

// result is an ok ack's fields besides ok.
type result map[string]any

// handler does an event's work on the socket's worker.
type handler func(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError)

// connected sets a socket up once the middleware admitted it.
func (g *Gateway) connected(s *socketio.Socket) {
	claims, _ := s.Data().(*Claims)
	if claims == nil { // cannot happen: authenticate sets it
		s.Disconnect(true)
		return
	}
	c := &client{g: g, s: s, claims: claims, uid: []byte(claims.UserID), channels: make(map[string]bool)}
	g.metrics.TotalConnections.Add(1)
	g.metrics.ActiveConnections.Add(1)
	g.mu.Lock()
	set := g.users[claims.UserID]
	if set == nil {
		set = make(map[*client]struct{})
		g.users[claims.UserID] = set
	}
	set[c] = struct{}{}
	g.mu.Unlock()
	s.Join(userRoom(claims.UserID))
	c.enqueue(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.presenceOp(func() error {
			c.mu.Lock()
			c.counted = true
			c.mu.Unlock()
			_, _, err := g.presence.Connect(ctx, claims.UserID, claims.Name, time.Now())
			return err
		})
		// A ban issued while this socket was being admitted did not find
		// it among the user's sockets: look again now that it is listed.
		if b, banned, _ := g.bans.Get(ctx, claims.UserID); banned {
			_ = s.Emit("moderation:banned", map[string]any{"reason": b.Reason, "until": untilJSON(b.Until)})
			c.closeWith("banned", false)
		}
	}, true)
	if d := time.Until(claims.Expires); d > 0 {
		c.expiry = time.AfterFunc(d, func() { c.closeWith("token expired", false) })
	} else {
		c.closeWith("token expired", false)
	}
	// One catch-all listener per socket, not one closure per event: a
	// socket's cost stays small at 100k connections.
	s.OnAny(c.dispatch)
	s.OnDisconnect(func(reason string) {
		c.mu.Lock()
		c.gone = true
		if c.reason != "" {
			reason = c.reason
		}
		c.mu.Unlock()
		if c.expiry != nil {
			c.expiry.Stop()
		}
		g.metrics.ActiveConnections.Add(-1)
		g.metrics.closed(reason)
		c.enqueue(c.cleanup, true)
	})
}

// closeWith disconnects the socket, counting reason as its close reason.
func (c *client) closeWith(reason string, closeTransport bool) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
	c.s.Disconnect(closeTransport)
}

// cleanup runs on the worker after the disconnect: typing ends, channels
// and presence forget the socket, and when it was the user's last one the
// user's channels see them go offline. After the first store error the
// rest is left to the reconciliation (Gateway.reconcile): a store that is
// down must not hold every disconnect for a timeout per channel.
func (c *client) cleanup() {
	g, uid := c.g, c.claims.UserID
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var chans []string
	var p Presence
	var last bool
	_ = g.presenceOp(func() error {
		g.mu.Lock()
		if set := g.users[uid]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(g.users, uid)
			}
		}
		g.mu.Unlock()
		c.mu.Lock()
		chans = make([]string, 0, len(c.channels))
		for ch := range c.channels {
			chans = append(chans, ch)
		}
		c.channels = nil
		counted := c.counted
		c.counted = false
		c.mu.Unlock()
		for _, ch := range chans {
			g.typing.stop(ch, uid)
		}
		if g.presenceClosed.Load() {
			return errGone // shutting down a cluster node: the others reap
		}
		for _, ch := range chans {
			if _, err := g.presence.Leave(ctx, uid, ch); err != nil {
				return err
			}
		}
		if !counted {
			return nil
		}
		var err error
		p, last, _, err = g.presence.Disconnect(ctx, uid, time.Now())
		return err
	})
	if last && len(chans) > 0 {
		_ = g.io.To(rooms(chans)...).Emit("presence:update", p)
	}
}

// enqueue hands fn to the socket's worker. It refuses when the queue is
// full or the socket is gone, unless force (the gateway's own bookkeeping).
func (c *client) enqueue(fn func(), force bool) bool {
	c.mu.Lock()
	if !force && (c.gone || len(c.queue) >= maxQueue) {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, fn)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		c.g.inflight.Add(1)
		go c.work()
	}
	return true
}

// work drains the queue and exits when it is empty: no goroutine per idle
// socket.
func (c *client) work() {
	defer c.g.inflight.Add(-1)
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.running = false
			c.queue = nil
			c.mu.Unlock()
			return
		}
		fn := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.mu.Unlock()
		c.g.safely(fn)
	}
}

// safely runs fn, turning a panic into a log line and a count: one bad
// event must not take the process down.
func (g *Gateway) safely(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			g.log.Error("panic in gateway handler", "panic", p)
			g.metrics.rejected("internal")
		}
	}()
	fn()
}

// countViolation counts a rate-limited event against the client, which is
// disconnected after MaxViolations in a row; an allowed one resets the count.
func (c *client) countViolation(allowed bool, event string) {
	if allowed {
		c.violations.Store(0)
		return
	}
	if n := c.violations.Add(1); c.g.cfg.MaxViolations > 0 && int(n) >= c.g.cfg.MaxViolations {
		c.g.log.Info("disconnecting a client that ignores rate limits", "user", c.claims.UserID, "event", event)
		c.closeWith("rate limited", true)
	}
}

// dispatch handles an event on the loop: the rate limit and the copy of
// the payload happen here, the work on the worker, and the ack carries the
// result. Unknown events are answered invalid, within the default limit.
func (c *client) dispatch(e *socketio.Event) {
	g := c.g
	name := e.Name()
	h, known := handlers[name]
	if !known {
		// Within the default limit, shared by every unknown name (they
		// get no metric label of their own: names are the client's).
		g.metrics.EventsRejected.Add(1)
		aerr := errInvalid("unknown event " + name)
		ok, wait := g.unknownLimit.Allow(c.uid, g.now())
		if !ok {
			aerr = &apiError{Code: "rate_limited", Message: "too many unknown events", RetryAfterMs: max(wait.Milliseconds(), 1)}
		}
		g.metrics.rejected(aerr.Code)
		if e.HasAck() {
			_ = e.Ack(map[string]any{"ok": false, "error": aerr})
		}
		c.countViolation(ok, name)
		return
	}
	limiter := g.eventLimits[name]
	start := time.Now()
	reply := func(res result, aerr *apiError) {
		g.metrics.observeAck(name, aerr == nil, time.Since(start))
		if aerr != nil {
			g.metrics.EventsRejected.Add(1)
			g.metrics.rejected(aerr.Code)
			if name == "message:send" {
				g.metrics.MessagesRejected.Add(1)
			}
			if e.HasAck() {
				_ = e.Ack(map[string]any{"ok": false, "error": aerr})
			}
			return
		}
		g.metrics.EventsProcessed.Add(1)
		if e.HasAck() {
			out := make(map[string]any, len(res)+1)
			for k, v := range res {
				out[k] = v
			}
			out["ok"] = true
			_ = e.Ack(out)
		}
	}
	ok, wait := limiter.Allow(c.uid, g.now())
	c.countViolation(ok, name)
	if !ok {
		reply(nil, &apiError{Code: "rate_limited", Message: "too many " + name + " events", RetryAfterMs: max(wait.Milliseconds(), 1)})
		return
	}
	var raw json.RawMessage
	if e.Len() > 0 {
		raw = append(json.RawMessage(nil), e.Raw(0)...)
	}
	work := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		var res result
		var aerr *apiError
		func() {
			defer func() {
				if p := recover(); p != nil {
					g.log.Error("panic in gateway handler", "event", name, "panic", p)
					aerr = errUnavailable("internal error")
				}
			}()
			res, aerr = h(ctx, c, raw)
		}()
		reply(res, aerr)
	}
	if !c.enqueue(work, false) {
		reply(nil, &apiError{Code: "rate_limited", Message: "too many events waiting", RetryAfterMs: 1000})
	}
}

// inChannel reports whether this socket has joined ch.
func (c *client) inChannel(ch string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.channels[ch]
}

// decode unmarshals the payload object into v; anything else is invalid.
func decode(raw json.RawMessage, v any) *apiError {
	if len(raw) == 0 || raw[0] != '{' {
		return errInvalid("the payload must be an object")
	}
	// sonic (its encoding/json-compatible config) halves the decoding
	// time; its errors do not name the field, so the rare error path asks
	// encoding/json for the message.
	if err := sonic.ConfigStd.Unmarshal(raw, v); err != nil {
		if jerr := json.Unmarshal(raw, v); jerr != nil {
			err = jerr
		}
		return errInvalid("malformed payload: " + jsonErr(err))
	}
	return nil
}

// jsonErr shortens encoding/json's messages to the field and type.
func jsonErr(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return strings.TrimPrefix(te.Field, "channelReq.") + " must be " + kindName(te.Type.Kind().String())
	}
	return "not valid JSON"
}

func kindName(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "ptr":
		return "a value"
	}
	return "a number"
}
