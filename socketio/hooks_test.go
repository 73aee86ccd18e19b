package socketio_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/socketio"
)

// recorder collects an observer's calls as strings.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *recorder) has(want ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range want {
		if !slices.Contains(r.log, w) {
			return fmt.Errorf("calls %v: no %q", r.log, w)
		}
	}
	return nil
}

func (r *recorder) observer(name string) socketio.Observer {
	return socketio.Observer{
		Connected: func(s *socketio.Socket) { r.add(name + " connected " + s.Namespace().Name() + " " + string(s.ID())) },
		RoomJoined: func(n *socketio.Namespace, room socketio.Room, id socketio.SocketID) {
			r.add(fmt.Sprintf("%s joined %s %s %s", name, n.Name(), room, id))
		},
		RoomLeft: func(n *socketio.Namespace, room socketio.Room, id socketio.SocketID) {
			r.add(fmt.Sprintf("%s left %s %s %s", name, n.Name(), room, id))
		},
	}
}

// TestObserve: observers see connections to every namespace (a dynamic
// one created afterwards too) before the namespace's handlers, and every
// room a socket joins or leaves, its own included; two observers both see
// them, and a removed one no longer does.
func TestObserve(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	var rec recorder
	removeA := ts.srv.Observe(rec.observer("A"))
	ts.srv.Observe(rec.observer("B"))
	var order []string
	var mu sync.Mutex
	ts.srv.OnConnection(func(s *socketio.Socket) {
		mu.Lock()
		rec.mu.Lock()
		order = append(order, strings.Join(rec.log, ";"))
		rec.mu.Unlock()
		mu.Unlock()
		s.On("join", func(e *socketio.Event) {
			r, _ := e.String(0)
			s.Join(socketio.Room(r))
		})
		s.On("leave", func(e *socketio.Event) {
			r, _ := e.String(0)
			s.Leave(socketio.Room(r))
		})
	})
	ts.srv.OfFunc(func(name string, _ []byte) bool { return strings.HasPrefix(name, "/dyn") })

	c, sid := ts.wsConnected(t, "/")
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		return rec.has("A connected / "+sid, "B connected / "+sid, "A joined / "+sid+" "+sid, "B joined / "+sid+" "+sid)
	})
	mu.Lock()
	if len(order) != 1 || !strings.Contains(order[0], "A connected / "+sid) || !strings.Contains(order[0], "B connected / "+sid) {
		t.Errorf("the connection handler ran before the observers: it saw %q", order)
	}
	mu.Unlock()
	c.emit(t, `42["join","red"]`)
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		return rec.has("A joined / red "+sid, "B joined / red "+sid)
	})
	c.emit(t, `42["leave","red"]`)
	c.emit(t, `42["leave","never-joined"]`)
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		return rec.has("A left / red "+sid, "B left / red "+sid)
	})
	if rec.has("A left / never-joined "+sid) == nil {
		t.Error("leaving a room the socket was not in was reported")
	}

	removeA()
	removeA() // twice is harmless
	_, dsid := ts.wsConnected(t, "/dyn-1")
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		return rec.has("B connected /dyn-1 "+dsid, "B joined /dyn-1 "+dsid+" "+dsid)
	})
	c.close()
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		return rec.has("B left / " + sid + " " + sid)
	})
	for _, s := range []string{"A connected /dyn-1 " + dsid, "A left / " + sid + " " + sid} {
		if rec.has(s) == nil {
			t.Errorf("a removed observer was called: %s", s)
		}
	}
}

// TestLookupNamespace finds existing namespaces only, and creates none.
func TestLookupNamespace(t *testing.T) {
	ts := startServer(t, socketio.Options{})
	ts.srv.Of("/chat")
	if n := ts.srv.LookupNamespace("/chat"); n == nil || n.Name() != "/chat" {
		t.Errorf("LookupNamespace(/chat) = %v", n)
	}
	if n := ts.srv.LookupNamespace("/nope"); n != nil {
		t.Errorf("LookupNamespace(/nope) = %v, want nil", n)
	}
	if slices.Contains(ts.srv.Namespaces(), "/nope") {
		t.Error("LookupNamespace created /nope")
	}
	_, sid := ts.wsConnected(t, "/chat")
	if s := ts.srv.LookupNamespace("/chat").Socket(socketio.SocketID(sid)); s == nil || s.ClientID() == "" || s.ClientID() == sid {
		t.Errorf("ClientID: want the Engine.IO sid, got %v", s)
	}
}
