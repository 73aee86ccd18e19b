package socketio

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"sio/loop"
)

// defaultBroadcastAckTimeout bounds a broadcast with acks that set no
// timeout (Node's requestsTimeout).
const defaultBroadcastAckTimeout = 5 * time.Second

// Middleware vets a connecting socket. It calls next exactly once, with nil
// to let the socket in or an error to refuse it; the client then receives
// CONNECT_ERROR {"message":err.Error()} plus "data" when err is a *ConnectError.
// next is safe from any goroutine, so a middleware may check credentials
// against a database without blocking the loop.
type Middleware func(s *Socket, next func(err error))

// ConnectError is a middleware refusal that carries data to the client
// (err.data in socket.io-client).
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

// Namespace is a Socket.IO namespace.
type Namespace struct {
	srv     *Server
	name    string
	adapter Adapter

	dynamic atomic.Bool // a child of OfFunc, removed with its last socket; changed under srv.mu
	refs    int         // sockets connecting or connected, while dynamic; guarded by srv.mu

	mu                sync.RWMutex
	sockets           map[SocketID]*Socket
	middlewares       []Middleware
	onConnection      []func(*Socket)
	serverSideEmitted map[string][]func(args *Args, ack func(...any))

	ackIDs atomic.Int64 // server→client ack ids, one counter per namespace as in Node
}

func newNamespace(s *Server, name string) *Namespace {
	n := &Namespace{srv: s, name: name, sockets: make(map[SocketID]*Socket)}
	if name != "" {
		if s.opts.Adapter != nil {
			n.adapter = s.opts.Adapter(n)
		} else {
			n.adapter = NewMemoryAdapter(n)
		}
		if err := n.adapter.Init(); err != nil {
			s.opts.Logger.Error("adapter init failed", "nsp", name, "err", err)
		}
	}
	return n
}

// Name is the namespace's name, such as "/" or "/admin".
func (n *Namespace) Name() string { return n.name }

// Server returns the server.
func (n *Namespace) Server() *Server { return n.srv }

// Adapter returns the namespace's adapter.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// Use adds a connection middleware; middlewares run in order.
func (n *Namespace) Use(mw Middleware) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, mw)
	n.mu.Unlock()
}

// UseFunc adds a synchronous middleware: a nil error lets the socket in.
func (n *Namespace) UseFunc(fn func(s *Socket) error) {
	n.Use(func(s *Socket, next func(error)) { next(fn(s)) })
}

// OnConnection adds a handler called for each socket that joins.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.mu.Lock()
	n.onConnection = append(n.onConnection, fn)
	n.mu.Unlock()
}

// OnServerSideEmit handles events sent by ServerSideEmit on other nodes.
// ack is nil when the sender expects no answer.
func (n *Namespace) OnServerSideEmit(event string, fn func(args *Args, ack func(...any))) {
	n.mu.Lock()
	if n.serverSideEmitted == nil {
		n.serverSideEmitted = make(map[string][]func(*Args, func(...any)))
	}
	n.serverSideEmitted[event] = append(n.serverSideEmitted[event], fn)
	n.mu.Unlock()
}

// DispatchServerSideEmit runs the OnServerSideEmit handlers for a message
// from another node (called by cluster adapters, from any goroutine). A
// handler that panics is counted and logged; the others still run.
func (n *Namespace) DispatchServerSideEmit(event string, args *Args, ack func(...any)) {
	n.mu.RLock()
	hs := n.serverSideEmitted[event]
	n.mu.RUnlock()
	for _, h := range hs {
		n.srv.guard(func() { h(args, ack) })
	}
}

// Socket returns a connected local socket by id.
func (n *Namespace) Socket(id SocketID) *Socket {
	n.mu.RLock()
	s := n.sockets[id]
	n.mu.RUnlock()
	return s
}

// Len is the number of local sockets connected to the namespace.
func (n *Namespace) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

func (n *Namespace) add(s *Socket) {
	n.mu.Lock()
	n.sockets[s.id] = s
	n.mu.Unlock()
}

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
	n.mu.Unlock()
}

func (n *Namespace) op() *BroadcastOperator { return &BroadcastOperator{nsp: n} }

// Emit broadcasts an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.op().Emit(event, args...) }

// To selects rooms for a broadcast.
func (n *Namespace) To(rooms ...Room) *BroadcastOperator { return n.op().To(rooms...) }

// In is To.
func (n *Namespace) In(rooms ...Room) *BroadcastOperator { return n.op().To(rooms...) }

// Except excludes rooms from a broadcast.
func (n *Namespace) Except(rooms ...Room) *BroadcastOperator { return n.op().Except(rooms...) }

// Volatile marks a broadcast as droppable for clients that cannot take it at once.
func (n *Namespace) Volatile() *BroadcastOperator { return n.op().Volatile() }

// Local keeps a broadcast on this node.
func (n *Namespace) Local() *BroadcastOperator { return n.op().Local() }

// Compress sets the compress flag of a broadcast (see BroadcastOperator.Compress).
func (n *Namespace) Compress(c bool) *BroadcastOperator { return n.op().Compress(c) }

// Timeout sets the ack timeout of a broadcast.
func (n *Namespace) Timeout(d time.Duration) *BroadcastOperator { return n.op().Timeout(d) }

// FetchSockets returns every socket of the namespace (cluster-wide).
func (n *Namespace) FetchSockets(ctx context.Context) ([]RemoteSocket, error) {
	return n.op().FetchSockets(ctx)
}

// SocketsJoin makes every socket join rooms.
func (n *Namespace) SocketsJoin(rooms ...Room) { n.op().SocketsJoin(rooms...) }

// SocketsLeave makes every socket leave rooms.
func (n *Namespace) SocketsLeave(rooms ...Room) { n.op().SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket.
func (n *Namespace) DisconnectSockets(close bool) { n.op().DisconnectSockets(close) }

// ServerSideEmit sends an event to this namespace on every other node.
func (n *Namespace) ServerSideEmit(event string, args ...any) error {
	if isReserved(event) {
		return ErrReservedEvent
	}
	n.adapter.ServerSideEmit(context.Background(), append([]any{event}, args...), nil)
	return nil
}

// ServerSideEmitWithAck is ServerSideEmit where each node answers; it
// returns the answers or ErrTimeout.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]*Args, error) {
	if isReserved(event) {
		return nil, ErrReservedEvent
	}
	type res struct {
		r   []*Args
		err error
	}
	ch := make(chan res, 1)
	n.adapter.ServerSideEmit(ctx, append([]any{event}, args...), func(r []*Args, err error) { ch <- res{r, err} })
	select {
	case r := <-ch:
		return r.r, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// --- local delivery, used by adapters ---------------------------------------

// loopBatch is the recipients of one broadcast that live on one loop.
type loopBatch struct {
	l        *loop.Loop
	sockets  []*Socket
	p        *Prepared
	volatile bool
	data     []any         // [event, args...] for OnAnyOutgoing listeners
	ab       *ackBroadcast // broadcast with acks: each recipient registers it
}

var batchPool = sync.Pool{New: func() any { return &loopBatch{} }}

// Run delivers the batch on its loop.
func (b *loopBatch) Run(l *loop.Loop) {
	asked := 0
	var registered []*Socket
	for i, s := range b.sockets {
		b.sockets[i] = nil
		if !s.connected.Load() {
			continue
		}
		if b.ab != nil {
			if !s.registerBroadcastAck(b.ab) {
				continue // it owes MaxPendingAcks already: not asked, not counted
			}
			asked++
			registered = append(registered, s)
		}
		if s.hasOutgoing.Load() { // as Node's adapter does per recipient
			s.client.protect(func() { s.notifyOutgoingData(b.data) })
		}
		sess := s.client.sess
		if !sess.WritePrepared(l, b.p, b.volatile) && sess.Loop() != l {
			sess.SendPrepared(b.p, b.volatile) // it moved loops meanwhile
		}
	}
	if b.ab != nil {
		b.ab.batchDone(asked, registered)
	}
	*b = loopBatch{sockets: b.sockets[:0]}
	batchPool.Put(b)
}

// group sorts the recipients of a prepared packet by event loop, one batch
// per loop. It allocates nothing per recipient.
func (n *Namespace) group(p *Prepared, data []any, recipients func(yield func(*Socket) bool), volatile bool, ab *ackBroadcast) []*loopBatch {
	var used []*loopBatch
	recipients(func(s *Socket) bool {
		l := s.client.sess.Loop()
		var b *loopBatch
		for _, x := range used {
			if x.l == l {
				b = x
				break
			}
		}
		if b == nil {
			b = batchPool.Get().(*loopBatch)
			b.l, b.p, b.data, b.volatile, b.ab = l, p, data, volatile, ab
			used = append(used, b)
		}
		b.sockets = append(b.sockets, s)
		return true
	})
	return used
}

// post hands each batch to its loop and returns the recipients' count.
func (n *Namespace) post(batches []*loopBatch) int {
	count := 0
	for _, b := range batches {
		count += len(b.sockets)
	}
	for _, b := range batches {
		b.l.Post(b)
	}
	return count
}

// deliver sends a prepared packet to local sockets: one task per event loop
// however many recipients it holds. With ab, every recipient is asked to
// acknowledge and ab reports the count once every loop has run its batch.
func (n *Namespace) deliver(p *Prepared, data []any, recipients func(yield func(*Socket) bool), volatile bool, ab *ackBroadcast) int {
	batches := n.group(p, data, recipients, volatile, ab)
	if ab != nil {
		ab.start(len(batches))
	}
	return n.post(batches)
}

// ackBroadcast is one node's part of a broadcast with acks: the sockets it
// asked, their acknowledgements, and the end, when every entry it left in
// a socket's pending acks is taken out again (the collector finished, or
// the broadcast's timeout passed for a request from another node).
type ackBroadcast struct {
	id          int64
	nsp         *Namespace
	ack         func(*Args)
	clientCount func(int)

	mu      sync.Mutex
	batches int // loop batches still to run
	asked   int
	sockets []*Socket // those holding an entry
	ended   bool
	timer   *time.Timer
}

func (n *Namespace) newAckBroadcast(p *Packet, opts *BroadcastOptions, clientCount func(int), ack func(*Args)) *ackBroadcast {
	ab := &ackBroadcast{id: p.ID, nsp: n, ack: ack, clientCount: clientCount}
	if p.ackEnd != nil {
		p.ackEnd.onEnd(ab.end) // the collector's end
	} else {
		// Asked by another node: its requester times out; so do we.
		d := opts.Flags.Timeout
		if d <= 0 {
			d = defaultBroadcastAckTimeout
		}
		ab.mu.Lock()
		ab.timer = time.AfterFunc(d, ab.end)
		ab.mu.Unlock()
	}
	return ab
}

// start records how many loop batches will report.
func (ab *ackBroadcast) start(batches int) {
	ab.mu.Lock()
	ab.batches += batches
	done := ab.batches == 0
	ab.mu.Unlock()
	if done {
		ab.clientCount(0)
	}
}

// batchDone is called by each loop batch with the recipients it asked.
func (ab *ackBroadcast) batchDone(asked int, registered []*Socket) {
	ab.mu.Lock()
	ab.asked += asked
	ab.batches--
	last := ab.batches == 0
	total := ab.asked
	ended := ab.ended
	if !ended {
		ab.sockets = append(ab.sockets, registered...)
	}
	ab.mu.Unlock()
	if ended {
		for _, s := range registered {
			s.dropBroadcastAck(ab)
		}
	}
	if last {
		ab.clientCount(total)
	}
}

// onAck passes one acknowledgement on, until the end.
func (ab *ackBroadcast) onAck(a *Args) {
	ab.mu.Lock()
	ended := ab.ended
	ab.mu.Unlock()
	if !ended {
		ab.ack(a)
	}
}

// end takes this broadcast's entries out of every socket that still holds
// one (it did not answer): they no longer count toward MaxPendingAcks.
func (ab *ackBroadcast) end() {
	ab.mu.Lock()
	if ab.ended {
		ab.mu.Unlock()
		return
	}
	ab.ended = true
	ss := ab.sockets
	ab.sockets = nil
	if ab.timer != nil {
		ab.timer.Stop()
	}
	ab.mu.Unlock()
	for _, s := range ss {
		s.dropBroadcastAck(ab)
	}
}
