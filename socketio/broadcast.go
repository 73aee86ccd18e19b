package socketio

import (
	"context"
	"sync"
	"time"
)

// BroadcastOperator selects recipients and flags for a broadcast. Each
// modifier returns a new operator, so one can be kept and reused.
type BroadcastOperator struct {
	nsp    *Namespace
	rooms  []Room
	except []Room
	flags  BroadcastFlags
}

func (b *BroadcastOperator) clone() *BroadcastOperator {
	c := *b
	c.rooms = append([]Room(nil), b.rooms...)
	c.except = append([]Room(nil), b.except...)
	return &c
}

// To adds rooms (a socket in any of them receives the packet once).
func (b *BroadcastOperator) To(rooms ...Room) *BroadcastOperator {
	c := b.clone()
	c.rooms = append(c.rooms, rooms...)
	return c
}

// In is To.
func (b *BroadcastOperator) In(rooms ...Room) *BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets of rooms.
func (b *BroadcastOperator) Except(rooms ...Room) *BroadcastOperator {
	c := b.clone()
	c.except = append(c.except, rooms...)
	return c
}

// Volatile drops the packet for clients that cannot take it at once.
func (b *BroadcastOperator) Volatile() *BroadcastOperator {
	c := b.clone()
	c.flags.Volatile = true
	return c
}

// Local keeps the broadcast on this node.
func (b *BroadcastOperator) Local() *BroadcastOperator {
	c := b.clone()
	c.flags.Local = true
	return c
}

// Compress sets the compress flag: false sends the packet uncompressed to
// the clients that negotiated permessage-deflate (see Socket.Compress). It
// is forwarded to other nodes.
func (b *BroadcastOperator) Compress(v bool) *BroadcastOperator {
	c := b.clone()
	c.flags.Compress = &v
	return c
}

// Timeout sets the acknowledgement timeout of EmitWithAck / an AckHandler.
func (b *BroadcastOperator) Timeout(d time.Duration) *BroadcastOperator {
	c := b.clone()
	c.flags.Timeout = d
	return c
}

func (b *BroadcastOperator) options() *BroadcastOptions {
	return &BroadcastOptions{Rooms: b.rooms, Except: b.except, Flags: b.flags}
}

// BroadcastAckHandler receives every recipient's acknowledgement, or
// ErrTimeout with those that arrived in time.
type BroadcastAckHandler func(replies []*Args, err error)

// Emit broadcasts an event. If the last argument is a BroadcastAckHandler,
// every recipient must acknowledge within the Timeout. Safe from any goroutine.
func (b *BroadcastOperator) Emit(event string, args ...any) error {
	if isReserved(event) {
		return ErrReservedEvent
	}
	if n := len(args); n > 0 {
		var h BroadcastAckHandler
		switch f := args[n-1].(type) {
		case BroadcastAckHandler:
			h = f
		case func([]*Args, error):
			h = f
		}
		if h != nil {
			return b.emitWithAck(event, args[:n-1], h)
		}
	}
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	data = append(data, args...)
	b.nsp.adapter.Broadcast(&Packet{Nsp: b.nsp.name, Data: data, ID: -1}, b.options())
	return nil
}

// EmitWithAck broadcasts and waits until every recipient acknowledged or the
// Timeout passed (then ErrTimeout, with the replies received). It must not be
// called on an event loop.
func (b *BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]*Args, error) {
	if b.nsp.srv.eng.Loop().OnLoopThread() {
		return nil, ErrOnLoop
	}
	type res struct {
		r   []*Args
		err error
	}
	ch := make(chan res, 1)
	if err := b.emitWithAck(event, args, func(r []*Args, err error) { ch <- res{r, err} }); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.r, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *BroadcastOperator) emitWithAck(event string, args []any, h BroadcastAckHandler) error {
	timeout := b.flags.Timeout
	if timeout <= 0 {
		timeout = b.nsp.srv.opts.AckTimeout
	}
	if timeout <= 0 {
		timeout = defaultBroadcastAckTimeout // Node's requestsTimeout; a broadcast ack must end
	}
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	data = append(data, args...)
	p := &Packet{Nsp: b.nsp.name, Data: data, ID: -1}
	col := &ackCollector{srv: b.nsp.srv, h: h, nodes: -1}
	p.ackEnd = &col.ended
	opts := b.options()
	opts.Flags.Timeout = timeout
	// Armed under the lock: finish, which stops it, cannot run before the
	// timer is assigned, however short the timeout.
	col.mu.Lock()
	col.timer = time.AfterFunc(timeout, func() { col.finish(ErrTimeout) })
	col.mu.Unlock()
	if opts.Flags.Local {
		col.expectNodes(1)
	} else {
		// As Node: the number of nodes that will report comes from the
		// adapter, which may ask the network; never on the caller's loop.
		// The goroutine ends with ServerCount, bounded by the timeout.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if n, err := b.nsp.adapter.ServerCount(ctx); err == nil {
				col.expectNodes(n)
			} else {
				b.nsp.srv.opts.Logger.Warn("broadcast with acks: server count unknown; waiting for the timeout", "nsp", b.nsp.name, "err", err)
			}
		}()
	}
	b.nsp.adapter.BroadcastWithAck(p, opts, col.addCount, col.add)
	return nil
}

// ackCollector gathers the acknowledgements of a broadcast: it completes
// when every node has reported how many clients it asked (as many nodes as
// the adapter's ServerCount) and that many acks came in, or when the
// timeout passes. (One time.AfterFunc per broadcast with acks, not per
// connection.)
type ackCollector struct {
	srv     *Server
	h       BroadcastAckHandler
	ended   ackEndHook // run at the end: the nodes' pending entries go
	mu      sync.Mutex
	replies []*Args
	nodes   int // nodes that will report; -1 until known
	counts  int // nodes that reported
	clients int // the sum of their counts
	done    bool
	timer   *time.Timer
}

func (c *ackCollector) expectNodes(n int) {
	c.mu.Lock()
	c.nodes = n
	complete := c.completeLocked()
	c.mu.Unlock()
	if complete {
		c.finish(nil)
	}
}

func (c *ackCollector) addCount(n int) {
	c.mu.Lock()
	c.counts++
	c.clients += n
	complete := c.completeLocked()
	c.mu.Unlock()
	if complete {
		c.finish(nil)
	}
}

func (c *ackCollector) add(a *Args) {
	cl := a.Clone()
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.replies = append(c.replies, &cl)
	complete := c.completeLocked()
	c.mu.Unlock()
	if complete {
		c.finish(nil)
	}
}

func (c *ackCollector) completeLocked() bool {
	return c.nodes >= 0 && c.counts >= c.nodes && len(c.replies) >= c.clients
}

func (c *ackCollector) finish(err error) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.done = true
	replies := c.replies
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.ended.end()
	// The handler is application code on whatever goroutine completed the
	// broadcast (a loop, the timer's, an adapter's): a panic stops here.
	c.srv.guard(func() { c.h(replies, err) })
}

// FetchSockets returns the matching sockets (cluster-wide). Each one's
// methods (Emit, Join, Leave, Disconnect) reach it wherever it is.
func (b *BroadcastOperator) FetchSockets(ctx context.Context) ([]RemoteSocket, error) {
	out, err := b.nsp.adapter.FetchSockets(ctx, b.options())
	for i := range out {
		out[i].nsp = b.nsp
		if out[i].local == nil {
			out[i].local = b.nsp.Socket(out[i].ID)
		}
	}
	return out, err
}

// Sockets returns the ids of the matching sockets (cluster-wide; Node's
// allSockets).
func (b *BroadcastOperator) Sockets(ctx context.Context) ([]SocketID, error) {
	return b.nsp.adapter.Sockets(ctx, b.options())
}

// SocketsJoin makes the matching sockets join rooms.
func (b *BroadcastOperator) SocketsJoin(rooms ...Room) { b.nsp.adapter.AddSockets(b.options(), rooms) }

// SocketsLeave makes the matching sockets leave rooms.
func (b *BroadcastOperator) SocketsLeave(rooms ...Room) { b.nsp.adapter.DelSockets(b.options(), rooms) }

// DisconnectSockets disconnects the matching sockets.
func (b *BroadcastOperator) DisconnectSockets(close bool) {
	b.nsp.adapter.DisconnectSockets(b.options(), close)
}
