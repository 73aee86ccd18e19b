package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"sio/engine"
)

// MemoryAdapter is the single-node adapter: rooms in maps, broadcasts
// encoded once and handed to each event loop in one task, and (with
// recovery) a bounded log of recent packets for replay.
type MemoryAdapter struct {
	nsp *Namespace

	mu    sync.RWMutex
	rooms map[Room]map[SocketID]*Socket // explicit rooms; a socket's own room is implicit
	// A socket's own list of rooms lives on it (Socket.adapterRooms, guarded
	// by mu) rather than in a map keyed by id: one map entry less per socket.

	// Recovery.
	recMu    sync.Mutex
	sessions map[string]*persisted // by pid
	log      []loggedPacket        // oldest first
	offsetN  atomic.Uint64
	offsetP  string
}

type persisted struct {
	s  *Session
	at time.Time
}

type loggedPacket struct {
	offset string
	at     time.Time
	opts   BroadcastOptions
	p      *Prepared
}

// NewMemoryAdapter returns the in-memory adapter for nsp.
func NewMemoryAdapter(nsp *Namespace) Adapter {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &MemoryAdapter{
		nsp: nsp, rooms: make(map[Room]map[SocketID]*Socket),
		sessions: make(map[string]*persisted), offsetP: base64.RawURLEncoding.EncodeToString(b[:]),
	}
}

// Init implements Adapter.
func (a *MemoryAdapter) Init() error { return nil }

// Close implements Adapter.
func (a *MemoryAdapter) Close() error { return nil }

// AddAll implements Adapter.
func (a *MemoryAdapter) AddAll(id SocketID, rooms []Room) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Checked under the adapter lock: a socket that disconnects is removed
	// from the namespace before its rooms are dropped (Socket.onClose), so
	// a Join racing with the disconnect cannot leave it behind in a room.
	s := a.nsp.Socket(id)
	if s == nil {
		return
	}
	cur := s.adapterRooms
	for _, r := range rooms {
		if r == Room(id) || containsRoom(cur, r) {
			continue
		}
		cur = append(cur, r)
		m := a.rooms[r]
		if m == nil {
			m = make(map[SocketID]*Socket)
			a.rooms[r] = m
		}
		m[id] = s
	}
	s.adapterRooms = cur
}

func containsRoom(rs []Room, r Room) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// Del implements Adapter.
func (a *MemoryAdapter) Del(id SocketID, room Room) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.nsp.Socket(id); s != nil {
		rs := s.adapterRooms
		for i, r := range rs {
			if r == room {
				rs = append(rs[:i], rs[i+1:]...)
				break
			}
		}
		if len(rs) == 0 {
			rs = nil
		}
		s.adapterRooms = rs
	}
	a.leaveRoom(id, room)
}

func (a *MemoryAdapter) leaveRoom(id SocketID, room Room) {
	if m := a.rooms[room]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(a.rooms, room)
		}
	}
}

// DelAll implements Adapter (for a socket still in the namespace).
func (a *MemoryAdapter) DelAll(id SocketID) {
	if s := a.nsp.Socket(id); s != nil {
		a.delSocket(s)
	}
}

// delSocket drops every room of s; Socket.onClose calls it with the socket
// itself, after removing it from the namespace.
func (a *MemoryAdapter) delSocket(s *Socket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range s.adapterRooms {
		a.leaveRoom(s.id, r)
	}
	s.adapterRooms = nil
}

// SocketRooms implements Adapter.
func (a *MemoryAdapter) SocketRooms(id SocketID) []Room {
	a.mu.RLock()
	defer a.mu.RUnlock()
	s := a.nsp.Socket(id)
	if s == nil {
		return nil
	}
	out := make([]Room, 0, len(s.adapterRooms)+1)
	out = append(out, Room(id))
	return append(out, s.adapterRooms...)
}

// Rooms implements Adapter.
func (a *MemoryAdapter) Rooms() []Room {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]Room, 0, len(a.rooms))
	for r := range a.rooms {
		out = append(out, r)
	}
	a.nsp.mu.RLock()
	for id := range a.nsp.sockets {
		out = append(out, Room(id))
	}
	a.nsp.mu.RUnlock()
	return out
}

// apply calls fn for every local socket matching opts, once each. The
// adapter's read lock is held: fn must not call back into the adapter.
func (a *MemoryAdapter) apply(opts *BroadcastOptions, fn func(*Socket) bool) {
	var except map[SocketID]struct{}
	if len(opts.Except) > 0 {
		except = make(map[SocketID]struct{})
		for _, r := range opts.Except {
			if s := a.nsp.Socket(SocketID(r)); s != nil {
				except[s.id] = struct{}{}
			}
			for id := range a.rooms[r] {
				except[id] = struct{}{}
			}
		}
	}
	excluded := func(id SocketID) bool {
		if except == nil {
			return false
		}
		_, ok := except[id]
		return ok
	}
	if len(opts.Rooms) == 0 {
		a.nsp.mu.RLock()
		defer a.nsp.mu.RUnlock()
		for id, s := range a.nsp.sockets {
			if !excluded(id) && !fn(s) {
				return
			}
		}
		return
	}
	if len(opts.Rooms) == 1 {
		r := opts.Rooms[0]
		if s := a.nsp.Socket(SocketID(r)); s != nil && !excluded(s.id) {
			if !fn(s) {
				return
			}
		}
		for id, s := range a.rooms[r] {
			if id == SocketID(r) || excluded(id) {
				continue
			}
			if !fn(s) {
				return
			}
		}
		return
	}
	seen := make(map[SocketID]struct{})
	for _, r := range opts.Rooms {
		if s := a.nsp.Socket(SocketID(r)); s != nil {
			if _, dup := seen[s.id]; !dup && !excluded(s.id) {
				seen[s.id] = struct{}{}
				if !fn(s) {
					return
				}
			}
		}
		for id, s := range a.rooms[r] {
			if _, dup := seen[id]; dup || excluded(id) {
				continue
			}
			seen[id] = struct{}{}
			if !fn(s) {
				return
			}
		}
	}
}

// Broadcast implements Adapter: the packet is encoded once and shared by
// every recipient.
func (a *MemoryAdapter) Broadcast(p *Packet, opts *BroadcastOptions) {
	a.broadcast(p, opts, nil, nil)
}

func (a *MemoryAdapter) broadcast(p *Packet, opts *BroadcastOptions, clientCount func(int), ack func(*Args)) {
	recovery := a.nsp.srv.opts.Recovery != nil && ack == nil && !opts.Flags.Volatile
	var offset string
	data := p.Data
	if recovery {
		// Offset, log and hand-off to the loops happen under one lock, so
		// the log's order is the order every loop delivers in: a replay
		// from an offset then neither repeats nor skips a packet.
		a.recMu.Lock()
		defer a.recMu.Unlock()
		offset = a.nextOffset()
		data = append(data[:len(data):len(data)], offset)
	}
	id := p.ID
	if ack != nil {
		id = a.nsp.ackIDs.Add(1) - 1 // one id for every recipient: the counter is shared
	}
	text, att, err := encodeEvent(p.Nsp, id, data, false)
	if err != nil {
		a.nsp.srv.opts.Logger.Warn("broadcast: cannot encode arguments", "nsp", p.Nsp, "err", err)
		if clientCount != nil {
			clientCount(0)
		}
		return
	}
	prep := engine.NewPrepared(text, att)
	if recovery {
		a.recordLocked(offset, opts, prep)
	}
	a.mu.RLock()
	n := a.nsp.deliver(prep, data, func(yield func(*Socket) bool) { a.apply(opts, yield) },
		opts.Flags.Volatile, ack, id)
	a.mu.RUnlock()
	if clientCount != nil {
		clientCount(n)
	}
}

// BroadcastWithAck implements Adapter.
func (a *MemoryAdapter) BroadcastWithAck(p *Packet, opts *BroadcastOptions, clientCount func(int), ack func(*Args)) {
	a.broadcast(p, opts, clientCount, ack)
}

// Sockets implements Adapter.
func (a *MemoryAdapter) Sockets(_ context.Context, opts *BroadcastOptions) ([]SocketID, error) {
	var out []SocketID
	a.mu.RLock()
	a.apply(opts, func(s *Socket) bool { out = append(out, s.id); return true })
	a.mu.RUnlock()
	return out, nil
}

// FetchSockets implements Adapter.
func (a *MemoryAdapter) FetchSockets(_ context.Context, opts *BroadcastOptions) ([]RemoteSocket, error) {
	var ss []*Socket
	a.mu.RLock()
	a.apply(opts, func(s *Socket) bool { ss = append(ss, s); return true })
	a.mu.RUnlock()
	out := make([]RemoteSocket, len(ss))
	for i, s := range ss {
		out[i] = RemoteSocket{ID: s.id, Handshake: *s.Handshake(), Rooms: s.Rooms(), Data: s.Data(), local: s}
	}
	return out, nil
}

func (a *MemoryAdapter) matching(opts *BroadcastOptions) []*Socket {
	var ss []*Socket
	a.mu.RLock()
	a.apply(opts, func(s *Socket) bool { ss = append(ss, s); return true })
	a.mu.RUnlock()
	return ss
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

// --- connection state recovery ----------------------------------------------

func (a *MemoryAdapter) nextOffset() string {
	return a.offsetP + "-" + strconv.FormatUint(a.offsetN.Add(1), 36)
}

func (a *MemoryAdapter) maxAge() time.Duration {
	return a.nsp.srv.opts.Recovery.MaxDisconnectionDuration
}

// recordLocked logs a packet for replay; recMu is held.
func (a *MemoryAdapter) recordLocked(offset string, opts *BroadcastOptions, p *Prepared) {
	o := BroadcastOptions{Rooms: append([]Room(nil), opts.Rooms...), Except: append([]Room(nil), opts.Except...)}
	now := time.Now()
	a.log = append(a.log, loggedPacket{offset: offset, at: now, opts: o, p: p})
	a.pruneLocked(now)
}

// pruneLocked drops packets and sessions older than the recovery window.
func (a *MemoryAdapter) pruneLocked(now time.Time) {
	cut := now.Add(-a.maxAge())
	i := 0
	for i < len(a.log) && a.log[i].at.Before(cut) {
		a.log[i] = loggedPacket{}
		i++
	}
	if i > 0 {
		a.log = append(a.log[:0], a.log[i:]...)
	}
	for pid, ps := range a.sessions {
		if ps.at.Before(cut) {
			delete(a.sessions, pid)
		}
	}
}

// PersistSession implements Adapter.
func (a *MemoryAdapter) PersistSession(s *Session) {
	now := time.Now()
	a.recMu.Lock()
	a.sessions[s.PID] = &persisted{s: s, at: now}
	a.pruneLocked(now)
	a.recMu.Unlock()
}

// RestoreSession implements Adapter.
func (a *MemoryAdapter) RestoreSession(pid, offset string) (*Session, []*Prepared, error) {
	now := time.Now()
	a.recMu.Lock()
	defer a.recMu.Unlock()
	a.pruneLocked(now)
	ps := a.sessions[pid]
	if ps == nil {
		return nil, nil, nil
	}
	idx := -1
	for i := len(a.log) - 1; i >= 0; i-- {
		if a.log[i].offset == offset {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, nil, nil // offset unknown: a fresh session
	}
	delete(a.sessions, pid)
	s := ps.s
	rooms := make(map[Room]bool, len(s.Rooms))
	for _, r := range s.Rooms {
		rooms[r] = true
	}
	var missed []*Prepared
	for _, lp := range a.log[idx+1:] {
		if matchesRooms(lp.opts, rooms) {
			missed = append(missed, lp.p)
		}
	}
	return s, missed, nil
}

// matchesRooms tells whether a logged broadcast would have reached a socket
// in rooms.
func matchesRooms(o BroadcastOptions, rooms map[Room]bool) bool {
	for _, r := range o.Except {
		if rooms[r] {
			return false
		}
	}
	if len(o.Rooms) == 0 {
		return true
	}
	for _, r := range o.Rooms {
		if rooms[r] {
			return true
		}
	}
	return false
}
