package socketio

import (
	"context"
	"io"
	"log/slog"
	"net"
	"reflect"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"sio/codec"
	"sio/engine"
	"sio/loop"
)

func BenchmarkEncodeEvent(b *testing.B) {
	data := []any{"chat message", "hello world", 42, true}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		text, att, err := encodeEvent("/", -1, data, false)
		if err != nil || att != nil {
			b.Fatal(err)
		}
		n = len(text)
	}
	b.SetBytes(int64(n))
}

// benchNopHandler serves nothing: the fan-out benchmark only needs loops.
type benchNopHandler struct{}

func (benchNopHandler) ServeHTTP(*loop.Conn, *loop.Request)  {}
func (benchNopHandler) OnMessage(*loop.Conn, bool, []byte)   {}
func (benchNopHandler) OnClose(*loop.Conn, loop.CloseReason) {}

// benchLoops starts a loop.Server with n event loops on 127.0.0.1:0 and
// returns its loops (a loop exists once it has accepted a connection, so it
// dials until every loop has one). Stopped when b ends.
func benchLoops(b *testing.B, n int) []*loop.Loop {
	b.Helper()
	srv := loop.NewServer(benchNopHandler{}, loop.Options{
		Addr: "127.0.0.1:0", NumLoops: n,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-served:
		b.Fatalf("Serve: %v", err)
	case <-time.After(5 * time.Second):
		b.Fatal("server not ready")
	}
	var conns []net.Conn
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
		<-served
	})
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Loops()) < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d loops started", len(srv.Loops()), n)
		}
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		time.Sleep(time.Millisecond)
	}
	return srv.Loops()
}

// benchSetOwner makes sess owned by l. engine.Session keeps its owner loop
// in an unexported field that only a real Engine.IO handshake sets; this is
// the one thing the fan-out benchmark cannot build through the API.
func benchSetOwner(b *testing.B, sess *engine.Session, l *loop.Loop) {
	f := reflect.ValueOf(sess).Elem().FieldByName("owner")
	if !f.IsValid() || f.Type() != reflect.TypeFor[atomic.Pointer[loop.Loop]]() {
		b.Skip("engine.Session has no owner atomic.Pointer[loop.Loop] field any more: update benchSetOwner")
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Interface().(*atomic.Pointer[loop.Loop]).Store(l)
}

// benchFence is posted after a broadcast's batches: a loop runs tasks in
// order, so when it runs, that loop's batch has run and gone back to the pool.
type benchFence struct{ done chan struct{} }

func (f *benchFence) Run(*loop.Loop) { f.done <- struct{}{} }

// BenchmarkBroadcastFanout measures Namespace.deliver, the local fan-out of
// a prepared broadcast, for N recipients spread over the event loops: the
// per-recipient grouping by loop and append to the loop's batch, one task
// posted per loop, and the loop-side walk of the batch (loopBatch.Run). The
// recipients are not connected, so Run skips the per-session write
// (engine.Session.WritePrepared, which queues bytes on a real transport):
// what is left is exactly the fan-out's own cost. Each iteration waits for
// its batches to run, so batches always come back to the pool as they would
// between two broadcasts of a live server.
//
// allocs/recipient is allocs/op divided by N; the constant part of allocs/op
// (the recipients closure and its captured state, gnet's Execute closure per
// loop woken) is per broadcast, so it falls as 1/N and the per-recipient part
// is the limit: 0.
func BenchmarkBroadcastFanout(b *testing.B) {
	// One loop per CPU, as the server defaults to, but at least two so that
	// recipients are grouped.
	loops := benchLoops(b, max(2, runtime.GOMAXPROCS(0)))
	p := engine.NewPrepared([]byte(`2["news",{"title":"hello world"}]`), nil)
	n := &Namespace{name: "/"}
	fences := make([]*benchFence, len(loops))
	for i := range fences {
		fences[i] = &benchFence{done: make(chan struct{}, 1)}
	}
	for _, size := range []int{10, 100, 1000, 10000} {
		sockets := make([]*Socket, size)
		for i := range sockets {
			sess := &engine.Session{}
			benchSetOwner(b, sess, loops[i%len(loops)])
			sockets[i] = &Socket{id: SocketID("s" + strconv.Itoa(i)), nsp: n, client: &client{sess: sess}}
		}
		recipients := func(yield func(*Socket) bool) {
			for _, s := range sockets {
				if !yield(s) {
					return
				}
			}
		}
		broadcast := func(b *testing.B) {
			if got := n.deliver(p, nil, recipients, false, nil); got != size {
				b.Fatalf("delivered to %d of %d", got, size)
			}
			for i, l := range loops {
				l.Post(fences[i])
			}
			for _, f := range fences {
				<-f.done
			}
		}
		b.Run("N="+strconv.Itoa(size), func(b *testing.B) {
			broadcast(b) // fill the batch pool
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				broadcast(b)
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/float64(size), "allocs/recipient")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/recipient")
		})
	}
}

// BenchmarkAdapterBroadcast measures a broadcast to a room of N sockets
// through the in-memory adapter: the packet encoded once, the recipients
// taken from the room (a copy-on-write view walked without the adapter's
// lock), grouped by loop and handed over, one task per loop. As in
// BenchmarkBroadcastFanout the recipients are not connected, so the
// per-session write is left out.
func BenchmarkAdapterBroadcast(b *testing.B) {
	loops := benchLoops(b, max(2, runtime.GOMAXPROCS(0)))
	fences := make([]*benchFence, len(loops))
	for i := range fences {
		fences[i] = &benchFence{done: make(chan struct{}, 1)}
	}
	for _, size := range []int{100, 10000} {
		n := &Namespace{srv: &Server{}, name: "/", sockets: make(map[SocketID]*Socket)}
		var a Adapter = NewMemoryAdapter(n)
		n.adapter = a
		for i := range size {
			sess := &engine.Session{}
			benchSetOwner(b, sess, loops[i%len(loops)])
			s := &Socket{id: SocketID("s" + strconv.Itoa(i)), nsp: n, client: &client{sess: sess}}
			n.add(s)
			a.AddAll(s.id, []Room{Room(s.id), "room"})
		}
		opts := &BroadcastOptions{Rooms: []Room{"room"}}
		broadcast := func() {
			a.Broadcast(&Packet{Nsp: "/", Data: []any{"news", "hello world"}, ID: -1}, opts)
			for i, l := range loops {
				l.Post(fences[i])
			}
			for _, f := range fences {
				<-f.done
			}
		}
		b.Run("N="+strconv.Itoa(size), func(b *testing.B) {
			broadcast()
			b.ReportAllocs()
			for b.Loop() {
				broadcast()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/recipient")
		})
	}
}

// BenchmarkAdapterJoinLeave measures a socket joining a room and leaving it
// again in the in-memory adapter (the room made and dropped each time, the
// case the room hook of cluster adapters reports), with 1,000 other sockets
// in other rooms.
func BenchmarkAdapterJoinLeave(b *testing.B) {
	n := &Namespace{srv: &Server{}, name: "/", sockets: make(map[SocketID]*Socket)}
	a := NewMemoryAdapter(n)
	n.adapter = a
	for i := range 1001 {
		s := &Socket{id: SocketID("s" + strconv.Itoa(i)), nsp: n, client: &client{sess: &engine.Session{}}}
		n.add(s)
		a.AddAll(s.id, []Room{Room(s.id), Room("r" + strconv.Itoa(i%10))})
	}
	rooms := []Room{"fresh"}
	b.ReportAllocs()
	for b.Loop() {
		a.AddAll("s0", rooms)
		a.Del("s0", "fresh")
	}
}

// BenchmarkDispatchEvent measures an incoming EVENT from its decoded packet
// to its handler: the arguments split, the name taken, the handlers of a
// socket with a few events looked up and called (Socket.onEvent, on the
// loop). The handler reads its string argument.
func BenchmarkDispatchEvent(b *testing.B) {
	srv := NewServer(Options{})
	s := &Socket{id: "s1", nsp: newNamespace(srv, "/"), client: &client{srv: srv}}
	s.connected.Store(true)
	var got int
	for _, ev := range []string{"typing", "presence", "read", "message"} {
		s.On(ev, func(e *Event) {
			v, _ := e.String(0)
			got += len(v)
		})
	}
	p, err := codec.DecodeSIO([]byte(`2["message","hello world"]`), 10)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.onEvent(&p, nil)
	}
	if got == 0 {
		b.Fatal("the handler never ran")
	}
}
