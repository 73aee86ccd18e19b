package socketio

import (
	"context"
	"slices"
	"sync"
)

// MemoryAdapter is the single-node adapter: rooms as copy-on-write member
// sets (a broadcast walks its recipients without holding the lock),
// broadcasts encoded once and handed to each event loop in one task, and,
// with recovery, a log of recent packets bounded by age, count and bytes.
//
// A cluster adapter can wrap one for the local part: Deliver and
// DeliverWithAck fan a packet out to local sockets without recovery
// bookkeeping (for packets that already carry their offset, or none).
type MemoryAdapter struct {
	nsp *Namespace

	mu    sync.RWMutex
	sids  map[SocketID]*member // every local socket in the namespace
	all   memberSet            // the same sockets, for namespace-wide broadcasts
	rooms map[Room]*memberSet  // explicit rooms; a socket's own room is sids

	rec *recoveryLog // nil without connection state recovery

	roomHook func(Room) // see SetRoomHook
}

// SetRoomHook makes the adapter call fn with every room that comes to exist
// or stops existing here (an explicit room gaining its first or losing its
// last socket, a socket's own room when it enters or leaves the namespace),
// after the change and outside the adapter's lock, on the goroutine that
// made it (often an event loop: fn must not block). HasRoom tells which it
// was. A cluster adapter uses it to follow its rooms (the sharded Redis
// adapter subscribes a channel per room). Set it before the namespace has
// sockets.
func (a *MemoryAdapter) SetRoomHook(fn func(Room)) { a.roomHook = fn }

// HasRoom reports whether the room has a local socket (a socket id is its
// own room).
func (a *MemoryAdapter) HasRoom(r Room) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if _, ok := a.rooms[r]; ok {
		return true
	}
	_, ok := a.sids[SocketID(r)]
	return ok
}

func (a *MemoryAdapter) notify(rooms []Room) {
	if a.roomHook != nil {
		for _, r := range rooms {
			a.roomHook(r)
		}
	}
}

// member is a socket's record in the adapter. Guarded by the adapter's lock.
type member struct {
	s      *Socket
	allIdx int32
	rooms  []membership
	self   [1][]*Socket // the chunk list of its own room's view: self[0] is selfArr[:]
	selfA  [1]*Socket
}

type membership struct {
	room Room
	set  *memberSet
	idx  int32
}

// NewMemoryAdapter returns the in-memory adapter for nsp (a cluster adapter
// keeps one for the local part: Deliver, DeliverWithAck and the rest).
func NewMemoryAdapter(nsp *Namespace) *MemoryAdapter { return newMemoryAdapter(nsp) }

func newMemoryAdapter(nsp *Namespace) *MemoryAdapter {
	a := &MemoryAdapter{nsp: nsp, sids: make(map[SocketID]*member), rooms: make(map[Room]*memberSet)}
	if r := nsp.srv.opts.Recovery; r != nil {
		a.rec = newRecoveryLog(r)
	}
	return a
}

// Init implements Adapter.
func (a *MemoryAdapter) Init() error { return nil }

// Close implements Adapter.
func (a *MemoryAdapter) Close() error { return nil }

// AddAll implements Adapter.
func (a *MemoryAdapter) AddAll(id SocketID, rooms []Room) {
	obs := a.nsp.srv.observed()
	changed, joined := a.addAll(id, rooms, obs != nil)
	if changed != nil {
		a.notify(changed)
	}
	if joined != nil {
		a.nsp.srv.notifyRooms(obs, a.nsp, id, joined, true)
	}
}

// addAll is AddAll under the lock; it returns the rooms it made (only
// with a room hook) and, when observed, those the socket joined.
func (a *MemoryAdapter) addAll(id SocketID, rooms []Room, observed bool) (changed, joined []Room) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.sids[id]
	if m == nil {
		// Checked under the adapter lock: a socket that disconnects leaves
		// the namespace before its rooms are dropped (Socket.onClose), so
		// a Join racing with the disconnect cannot leave it behind.
		s := a.nsp.Socket(id)
		if s == nil {
			return
		}
		if a.roomHook != nil {
			changed = append(changed, Room(id))
		}
		if observed {
			joined = append(joined, Room(id))
		}
		m = &member{s: s}
		m.selfA[0] = s
		m.self[0] = m.selfA[:]
		m.allIdx = a.all.add(s)
		a.sids[id] = m
	}
	for _, r := range rooms {
		if r == Room(id) || m.in(r) {
			continue
		}
		set := a.rooms[r]
		if set == nil {
			set = &memberSet{}
			a.rooms[r] = set
			if a.roomHook != nil {
				changed = append(changed, r)
			}
		}
		m.rooms = append(m.rooms, membership{room: r, set: set, idx: set.add(m.s)})
		if observed {
			joined = append(joined, r)
		}
	}
	return changed, joined
}

// selfView is the view of the socket's own room (no allocation: the
// storage is in the record, written once when it is made).
func (m *member) selfView() memberView { return memberView{chunks: m.self[:], n: 1} }

func (m *member) in(r Room) bool {
	for _, x := range m.rooms {
		if x.room == r {
			return true
		}
	}
	return false
}

// Del implements Adapter.
func (a *MemoryAdapter) Del(id SocketID, room Room) {
	gone, left := a.del(id, room)
	if gone && a.roomHook != nil {
		a.notify([]Room{room})
	}
	if left {
		if obs := a.nsp.srv.observed(); obs != nil {
			a.nsp.srv.notifyRooms(obs, a.nsp, id, []Room{room}, false)
		}
	}
}

// del is Del under the lock; it reports whether the room is gone and
// whether the socket was in it.
func (a *MemoryAdapter) del(id SocketID, room Room) (gone, left bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.sids[id]
	if m == nil {
		return false, false
	}
	for i, x := range m.rooms {
		if x.room == room {
			gone := a.leave(x)
			m.rooms = slices.Delete(m.rooms, i, i+1)
			if len(m.rooms) == 0 {
				m.rooms = nil
			}
			return gone, true
		}
	}
	return false, false
}

// leave takes a socket out of one room's set, reporting whether the room
// is gone. The lock is held.
func (a *MemoryAdapter) leave(x membership) bool {
	if moved := x.set.remove(x.idx); moved != nil {
		// The set's last socket took the hole: its record moves with it.
		mm := a.sids[moved.id]
		for j := range mm.rooms {
			if mm.rooms[j].set == x.set {
				mm.rooms[j].idx = x.idx
				break
			}
		}
	}
	if x.set.n == 0 {
		delete(a.rooms, x.room)
		return true
	}
	return false
}

// DelAll implements Adapter.
func (a *MemoryAdapter) DelAll(id SocketID) {
	obs := a.nsp.srv.observed()
	changed, left := a.delAll(id, obs != nil)
	if changed != nil {
		a.notify(changed)
	}
	if left != nil {
		a.nsp.srv.notifyRooms(obs, a.nsp, id, left, false)
	}
}

// delAll is DelAll under the lock; it returns the rooms that are gone
// (only with a room hook) and, when observed, those the socket left (its
// own first, as Node's adapter leaves them).
func (a *MemoryAdapter) delAll(id SocketID, observed bool) (changed, left []Room) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.sids[id]
	if m == nil {
		return nil, nil
	}
	if observed {
		left = make([]Room, 0, len(m.rooms)+1)
		left = append(left, Room(id))
		for _, x := range m.rooms {
			left = append(left, x.room)
		}
	}
	for _, x := range m.rooms {
		if a.leave(x) && a.roomHook != nil {
			changed = append(changed, x.room)
		}
	}
	if a.roomHook != nil {
		changed = append(changed, Room(id))
	}
	if moved := a.all.remove(m.allIdx); moved != nil {
		a.sids[moved.id].allIdx = m.allIdx
	}
	delete(a.sids, id)
	return changed, left
}

// SocketRooms implements Adapter.
func (a *MemoryAdapter) SocketRooms(id SocketID) []Room {
	a.mu.RLock()
	defer a.mu.RUnlock()
	m := a.sids[id]
	if m == nil {
		return nil
	}
	out := make([]Room, 0, len(m.rooms)+1)
	out = append(out, Room(id))
	for _, x := range m.rooms {
		out = append(out, x.room)
	}
	return out
}

// Rooms implements Adapter.
func (a *MemoryAdapter) Rooms() []Room {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]Room, 0, len(a.rooms)+len(a.sids))
	for r := range a.rooms {
		out = append(out, r)
	}
	for id := range a.sids {
		if _, dup := a.rooms[Room(id)]; !dup {
			out = append(out, Room(id))
		}
	}
	return out
}

// selection is what a broadcast reaches, taken under the read lock in
// O(rooms) and walked after it is released.
type selection struct {
	views   []memberView
	single  [2]memberView // storage for the common one-view case
	exViews []memberView  // the except rooms' members
	except  map[*Socket]struct{}
	dedupe  bool // several views may hold the same socket
}

// selectLocked snapshots the sockets matching opts. The read lock is held.
func (a *MemoryAdapter) selectLocked(opts *BroadcastOptions, sel *selection) {
	sel.views = sel.single[:0]
	add := func(v memberView) {
		if v.n > 0 {
			sel.views = append(sel.views, v)
		}
	}
	if len(opts.Rooms) == 0 {
		add(a.all.view())
	} else {
		for _, r := range opts.Rooms {
			if m := a.sids[SocketID(r)]; m != nil {
				add(m.selfView())
			}
			if set := a.rooms[r]; set != nil {
				add(set.view())
			}
		}
		sel.dedupe = len(sel.views) > 1
	}
	for _, r := range opts.Except {
		if m := a.sids[SocketID(r)]; m != nil {
			if sel.except == nil {
				sel.except = make(map[*Socket]struct{})
			}
			sel.except[m.s] = struct{}{}
		}
		if set := a.rooms[r]; set != nil {
			sel.exViews = append(sel.exViews, set.view())
		}
	}
}

// each calls fn once for every selected socket, with no lock held.
func (sel *selection) each(fn func(*Socket) bool) {
	for _, v := range sel.exViews {
		if sel.except == nil {
			sel.except = make(map[*Socket]struct{}, v.n)
		}
		v.each(func(s *Socket) bool { sel.except[s] = struct{}{}; return true })
	}
	sel.exViews = nil
	var seen map[*Socket]struct{}
	if sel.dedupe {
		seen = make(map[*Socket]struct{})
	}
	for _, v := range sel.views {
		if !v.each(func(s *Socket) bool {
			if sel.except != nil {
				if _, no := sel.except[s]; no {
					return true
				}
			}
			if seen != nil {
				if _, dup := seen[s]; dup {
					return true
				}
				seen[s] = struct{}{}
			}
			return fn(s)
		}) {
			return
		}
	}
}

// apply calls fn for every local socket matching opts, once each, with no
// lock held (fn may call back into the adapter).
func (a *MemoryAdapter) apply(opts *BroadcastOptions, fn func(*Socket) bool) {
	var sel selection
	a.mu.RLock()
	a.selectLocked(opts, &sel)
	a.mu.RUnlock()
	sel.each(fn)
}

// Broadcast implements Adapter: the packet is encoded once and shared by
// every recipient. With recovery, non-volatile packets get an offset and
// are logged for replay.
func (a *MemoryAdapter) Broadcast(p *Packet, opts *BroadcastOptions) {
	if a.rec != nil && !opts.Flags.Volatile && p.ID < 0 {
		a.rec.broadcast(a, p, opts)
		return
	}
	a.Deliver(p, opts)
}

// Deliver sends p to the local sockets matching opts, without recovery
// bookkeeping, and returns how many it reached. It is the local half of a
// broadcast, for cluster adapters.
func (a *MemoryAdapter) Deliver(p *Packet, opts *BroadcastOptions) int {
	prep, err := a.nsp.srv.prepared(p)
	if err != nil {
		a.nsp.srv.opts.Logger.Warn("broadcast: cannot encode arguments", "nsp", p.Nsp, "err", err)
		return 0
	}
	prep = opts.Flags.prepared(prep)
	var sel selection
	a.mu.RLock()
	a.selectLocked(opts, &sel)
	a.mu.RUnlock()
	return a.nsp.deliver(prep, p.Data, sel.each, opts.Flags.Volatile, nil)
}

// BroadcastWithAck implements Adapter (a single node: clientCount once).
func (a *MemoryAdapter) BroadcastWithAck(p *Packet, opts *BroadcastOptions, clientCount func(int), ack func(*Args)) {
	a.DeliverWithAck(p, opts, clientCount, ack)
}

// DeliverWithAck sends p to the local sockets matching opts, each asked to
// acknowledge: clientCount is called once, when every event loop has
// handed the packet to its recipients, with the number asked; ack once per
// acknowledgement. p.ID is set to the namespace's next ack id.
func (a *MemoryAdapter) DeliverWithAck(p *Packet, opts *BroadcastOptions, clientCount func(int), ack func(*Args)) {
	p.ID = a.nsp.ackIDs.Add(1) - 1 // one id for every recipient: the counter is shared
	prep, err := a.nsp.srv.prepared(p)
	if err != nil {
		a.nsp.srv.opts.Logger.Warn("broadcast: cannot encode arguments", "nsp", p.Nsp, "err", err)
		clientCount(0)
		return
	}
	prep = opts.Flags.prepared(prep)
	var sel selection
	a.mu.RLock()
	a.selectLocked(opts, &sel)
	a.mu.RUnlock()
	a.nsp.deliver(prep, p.Data, sel.each, opts.Flags.Volatile, a.nsp.newAckBroadcast(p, opts, clientCount, ack))
}

func (a *MemoryAdapter) matching(opts *BroadcastOptions) []*Socket {
	var ss []*Socket
	a.apply(opts, func(s *Socket) bool { ss = append(ss, s); return true })
	return ss
}

// Sockets implements Adapter.
func (a *MemoryAdapter) Sockets(_ context.Context, opts *BroadcastOptions) ([]SocketID, error) {
	var out []SocketID
	a.apply(opts, func(s *Socket) bool { out = append(out, s.id); return true })
	return out, nil
}

// FetchSockets implements Adapter.
func (a *MemoryAdapter) FetchSockets(_ context.Context, opts *BroadcastOptions) ([]RemoteSocket, error) {
	ss := a.matching(opts)
	out := make([]RemoteSocket, 0, len(ss))
	for _, s := range ss {
		rooms := s.Rooms()
		if rooms == nil {
			continue // disconnected meanwhile
		}
		out = append(out, RemoteSocket{ID: s.id, Handshake: *s.Handshake(), Rooms: rooms, Data: s.Data(), nsp: a.nsp, local: s})
	}
	return out, nil
}

// AddSockets implements Adapter.
func (a *MemoryAdapter) AddSockets(opts *BroadcastOptions, rooms []Room) {
	for _, s := range a.matching(opts) {
		a.AddAll(s.id, rooms)
	}
}

// DelSockets implements Adapter.
func (a *MemoryAdapter) DelSockets(opts *BroadcastOptions, rooms []Room) {
	for _, s := range a.matching(opts) {
		for _, r := range rooms {
			a.Del(s.id, r)
		}
	}
}

// DisconnectSockets implements Adapter.
func (a *MemoryAdapter) DisconnectSockets(opts *BroadcastOptions, close bool) {
	for _, s := range a.matching(opts) {
		s.Disconnect(close)
	}
}

// ServerSideEmit implements Adapter: a single node has no one to tell.
func (a *MemoryAdapter) ServerSideEmit(_ context.Context, _ []any, ack func([]*Args, error)) {
	if ack != nil {
		ack(nil, nil)
	}
}

// ServerCount implements Adapter.
func (a *MemoryAdapter) ServerCount(context.Context) (int, error) { return 1, nil }

// PersistSession implements Adapter.
func (a *MemoryAdapter) PersistSession(s *Session) {
	if a.rec != nil {
		a.rec.persist(s)
	}
}

// RestoreSession implements Adapter.
func (a *MemoryAdapter) RestoreSession(pid, offset string) (*Session, []*Packet, error) {
	if a.rec == nil {
		return nil, nil, nil
	}
	s, missed := a.rec.restore(pid, offset)
	return s, missed, nil
}
