package socketio

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Observer watches every namespace of a server, those created later
// included, for instrumentation (package admin mirrors Node's
// @socket.io/admin-ui with it). Any field may be nil. Observers compose:
// each Observe adds one, and a server without any pays one atomic load per
// connection and per room change.
//
// Callbacks run on the goroutine that made the change, often an event
// loop: they must not block, and they must not call back into the
// namespace's adapter synchronously for the same socket (emitting, even
// to other namespaces, is fine).
type Observer struct {
	// Connected is called for each socket that connects to any namespace,
	// on the socket's loop, after it joined its own room and before the
	// namespace's OnConnection handlers (as Node's
	// nsp.prependListener("connection")), so that handlers it registers
	// (OnAny, OnAnyOutgoing, OnDisconnect) come first.
	Connected func(s *Socket)
	// RoomJoined and RoomLeft report a local socket joining or leaving a
	// room, its own room included (joined when it enters the namespace,
	// left when it goes), after the change and outside the adapter's lock:
	// Node adapter's "join-room" and "leave-room" events. Only adapters
	// built on MemoryAdapter (the default, and redisadapter) report them.
	RoomJoined func(nsp *Namespace, room Room, id SocketID)
	RoomLeft   func(nsp *Namespace, room Room, id SocketID)
}

// observers is the server's copy-on-write list of observers.
type observers struct {
	mu   sync.Mutex // serialises Observe and its removals
	list atomic.Pointer[[]*Observer]
}

// Observe adds an observer to the server; the returned function removes
// it (once; later calls do nothing).
func (s *Server) Observe(o Observer) (remove func()) {
	p := &o
	s.obs.mu.Lock()
	var cur []*Observer
	if l := s.obs.list.Load(); l != nil {
		cur = *l
	}
	next := append(slices.Clip(cur), p)
	s.obs.list.Store(&next)
	s.obs.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.obs.mu.Lock()
			defer s.obs.mu.Unlock()
			l := s.obs.list.Load()
			if l == nil {
				return
			}
			next := slices.DeleteFunc(slices.Clone(*l), func(x *Observer) bool { return x == p })
			if len(next) == 0 {
				s.obs.list.Store(nil)
				return
			}
			s.obs.list.Store(&next)
		})
	}
}

// observed returns the observers, or nil when there are none.
func (s *Server) observed() []*Observer {
	if l := s.obs.list.Load(); l != nil {
		return *l
	}
	return nil
}

// notifyConnected runs the observers' Connected callbacks (the socket's loop).
func (s *Server) notifyConnected(so *Socket) {
	for _, o := range s.observed() {
		if o.Connected != nil {
			o.Connected(so)
		}
	}
}

// notifyRooms runs the observers' RoomJoined (joined) or RoomLeft callbacks.
func (s *Server) notifyRooms(obs []*Observer, nsp *Namespace, id SocketID, rooms []Room, joined bool) {
	for _, o := range obs {
		fn := o.RoomLeft
		if joined {
			fn = o.RoomJoined
		}
		if fn == nil {
			continue
		}
		for _, r := range rooms {
			s.guard(func() { fn(nsp, r, id) })
		}
	}
}

// LookupNamespace returns the namespace called name if it exists (a static
// one, or a dynamic one that has sockets), else nil. Unlike Of it never
// creates one, and it leaves a dynamic namespace dynamic.
func (s *Server) LookupNamespace(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// ClientID is the id of the socket's Engine.IO connection (Node's
// socket.client.id, socket.conn.id), shared by the sockets of one client
// in several namespaces.
func (s *Socket) ClientID() string { return s.client.sess.ID() }
