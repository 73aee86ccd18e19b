package socketio_test

// The adapter interface carries a cluster (issue 8): a test adapter joins
// two servers in one process the way a Redis adapter does, using only the
// exported API. Its local part is a MemoryAdapter; every cluster operation
// travels to the other node as bytes (JSON), handled there on a goroutine,
// and the answers travel back the same way.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/socketio"
)

// bus is the network between the nodes of a test cluster.
type bus struct {
	mu    sync.Mutex
	nodes []*clusterAdapter
	wg    sync.WaitGroup // messages in flight
}

// publish delivers b to every node but from, each on its own goroutine, as
// a pub/sub subscription would.
func (b *bus) publish(from *clusterAdapter, msg []byte) {
	b.mu.Lock()
	nodes := slices.Clone(b.nodes)
	b.mu.Unlock()
	for _, n := range nodes {
		if n != from {
			b.wg.Add(1)
			go func() { defer b.wg.Done(); n.onMessage(msg) }()
		}
	}
}

type wireOpts struct {
	Rooms   []socketio.Room `json:"rooms"`
	Except  []socketio.Room `json:"except"`
	Timeout int64           `json:"timeout,omitempty"` // ms
	Single  bool            `json:"single,omitempty"`
}

type wireSocket struct {
	ID      socketio.SocketID `json:"id"`
	Rooms   []socketio.Room   `json:"rooms"`
	Data    json.RawMessage   `json:"data"`
	Address string            `json:"address"`
	Auth    json.RawMessage   `json:"auth"`
	URL     string            `json:"url"`
	Time    time.Time         `json:"time"`
	Secure  bool              `json:"secure"`
	XDomain bool              `json:"xdomain"`
}

type wireMsg struct {
	Type      string            `json:"type"`
	From      string            `json:"from"`
	To        string            `json:"to,omitempty"`
	Nsp       string            `json:"nsp"`
	RequestID string            `json:"requestId,omitempty"`
	Args      []json.RawMessage `json:"args,omitempty"`
	Att       [][]byte          `json:"att,omitempty"`
	Opts      *wireOpts         `json:"opts,omitempty"`
	Rooms     []socketio.Room   `json:"rooms,omitempty"`
	Close     bool              `json:"close,omitempty"`
	Count     int               `json:"count"`
	Sockets   []wireSocket      `json:"sockets,omitempty"`
}

// clusterAdapter is one node's adapter for one namespace.
type clusterAdapter struct {
	*socketio.MemoryAdapter // the local part: rooms, local delivery
	nsp                     *socketio.Namespace
	bus                     *bus
	uid                     string

	mu       sync.Mutex
	next     int
	requests map[string]*request
}

type request struct {
	count   func(int)
	ack     func(*socketio.Args)
	replies chan wireMsg // fetch, sockets and server-side emit answers
}

func newCluster() (*bus, func(nsp *socketio.Namespace) socketio.Adapter) {
	b := &bus{}
	var ids atomic.Int64
	return b, func(nsp *socketio.Namespace) socketio.Adapter {
		a := &clusterAdapter{
			MemoryAdapter: socketio.NewMemoryAdapter(nsp), nsp: nsp, bus: b,
			uid: "node" + strconv.FormatInt(ids.Add(1), 10), requests: map[string]*request{},
		}
		b.mu.Lock()
		b.nodes = append(b.nodes, a)
		b.mu.Unlock()
		return a
	}
}

func (a *clusterAdapter) peers() int {
	a.bus.mu.Lock()
	defer a.bus.mu.Unlock()
	n := 0
	for _, x := range a.bus.nodes {
		if x != a && x.nsp.Name() == a.nsp.Name() {
			n++
		}
	}
	return n
}

func (a *clusterAdapter) send(m wireMsg) {
	m.From, m.Nsp = a.uid, a.nsp.Name()
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	a.bus.publish(a, b)
}

func (a *clusterAdapter) newRequest(r *request) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	id := a.uid + "-" + strconv.Itoa(a.next)
	a.requests[id] = r
	return id
}

func (a *clusterAdapter) request(id string) *request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests[id]
}

func (a *clusterAdapter) endRequest(id string) {
	a.mu.Lock()
	delete(a.requests, id)
	a.mu.Unlock()
}

// encodeArgs turns values into raw JSON arguments and attachments.
func encodeArgs(values []any) ([]json.RawMessage, [][]byte) {
	args, err := socketio.ArgsFromValues(values...)
	if err != nil {
		panic(err)
	}
	raw := make([]json.RawMessage, args.Len())
	for i := range raw {
		raw[i] = json.RawMessage(args.Raw(i))
	}
	return raw, args.Attachments()
}

// decodeArgs is the other end of encodeArgs.
func decodeArgs(raw []json.RawMessage, att [][]byte) *socketio.Args {
	arr := "[" + string(joinRaw(raw)) + "]"
	args, err := socketio.ParseArgs([]byte(arr), att)
	if err != nil {
		panic(err)
	}
	return args
}

func joinRaw(raw []json.RawMessage) []byte {
	var b []byte
	for i, r := range raw {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	return b
}

func toWireOpts(o *socketio.BroadcastOptions) *wireOpts {
	return &wireOpts{Rooms: o.Rooms, Except: o.Except, Timeout: o.Flags.Timeout.Milliseconds(), Single: o.Flags.ExpectSingleResponse}
}

func (w *wireOpts) local() *socketio.BroadcastOptions {
	return &socketio.BroadcastOptions{Rooms: w.Rooms, Except: w.Except,
		Flags: socketio.BroadcastFlags{Local: true, Timeout: time.Duration(w.Timeout) * time.Millisecond}}
}

func (a *clusterAdapter) Broadcast(p *socketio.Packet, opts *socketio.BroadcastOptions) {
	a.MemoryAdapter.Broadcast(p, opts)
	if !opts.Flags.Local {
		raw, att := encodeArgs(p.Data)
		a.send(wireMsg{Type: "broadcast", Args: raw, Att: att, Opts: toWireOpts(opts)})
	}
}

func (a *clusterAdapter) BroadcastWithAck(p *socketio.Packet, opts *socketio.BroadcastOptions, clientCount func(int), ack func(*socketio.Args)) {
	var id string
	if !opts.Flags.Local {
		id = a.newRequest(&request{count: clientCount, ack: ack})
		time.AfterFunc(opts.Flags.Timeout+time.Second, func() { a.endRequest(id) })
	}
	raw, att := encodeArgs(p.Data) // before the local part sets the packet's ack id
	a.DeliverWithAck(p, opts, clientCount, ack)
	if id != "" {
		a.send(wireMsg{Type: "broadcastWithAck", RequestID: id, Args: raw, Att: att, Opts: toWireOpts(opts)})
	}
}

func (a *clusterAdapter) ServerCount(context.Context) (int, error) { return a.peers() + 1, nil }

// collect sends a request and gathers one answer from every other node.
func (a *clusterAdapter) collect(ctx context.Context, m wireMsg) ([]wireMsg, error) {
	r := &request{replies: make(chan wireMsg, 16)}
	id := a.newRequest(r)
	defer a.endRequest(id)
	m.RequestID = id
	want := a.peers()
	a.send(m)
	var out []wireMsg
	for len(out) < want {
		select {
		case rep := <-r.replies:
			out = append(out, rep)
		case <-ctx.Done():
			return out, socketio.ErrTimeout
		}
	}
	return out, nil
}

func (a *clusterAdapter) Sockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]socketio.SocketID, error) {
	local, _ := a.MemoryAdapter.Sockets(ctx, opts)
	reps, err := a.collect(ctx, wireMsg{Type: "fetch", Opts: toWireOpts(opts)})
	for _, r := range reps {
		for _, s := range r.Sockets {
			local = append(local, s.ID)
		}
	}
	return local, err
}

func (a *clusterAdapter) FetchSockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]socketio.RemoteSocket, error) {
	out, _ := a.MemoryAdapter.FetchSockets(ctx, opts)
	reps, err := a.collect(ctx, wireMsg{Type: "fetch", Opts: toWireOpts(opts)})
	for _, r := range reps {
		for _, s := range r.Sockets {
			var data any
			_ = json.Unmarshal(s.Data, &data)
			out = append(out, socketio.RemoteSocket{ID: s.ID, Rooms: s.Rooms, Data: data,
				Handshake: socketio.Handshake{Address: s.Address, Auth: s.Auth, URL: s.URL, Time: s.Time, Secure: s.Secure, XDomain: s.XDomain}})
		}
	}
	return out, err
}

func (a *clusterAdapter) AddSockets(opts *socketio.BroadcastOptions, rooms []socketio.Room) {
	a.MemoryAdapter.AddSockets(opts, rooms)
	if !opts.Flags.Local {
		a.send(wireMsg{Type: "join", Opts: toWireOpts(opts), Rooms: rooms})
	}
}

func (a *clusterAdapter) DelSockets(opts *socketio.BroadcastOptions, rooms []socketio.Room) {
	a.MemoryAdapter.DelSockets(opts, rooms)
	if !opts.Flags.Local {
		a.send(wireMsg{Type: "leave", Opts: toWireOpts(opts), Rooms: rooms})
	}
}

func (a *clusterAdapter) DisconnectSockets(opts *socketio.BroadcastOptions, close bool) {
	a.MemoryAdapter.DisconnectSockets(opts, close)
	if !opts.Flags.Local {
		a.send(wireMsg{Type: "disconnect", Opts: toWireOpts(opts), Close: close})
	}
}

func (a *clusterAdapter) ServerSideEmit(ctx context.Context, data []any, ack func([]*socketio.Args, error)) {
	raw, att := encodeArgs(data)
	m := wireMsg{Type: "sse", Args: raw, Att: att}
	if ack == nil {
		a.send(m)
		return
	}
	go func() { // never on the caller's loop
		reps, err := a.collect(ctx, m)
		var out []*socketio.Args
		for _, r := range reps {
			out = append(out, decodeArgs(r.Args, r.Att))
		}
		ack(out, err)
	}()
}

// onMessage handles a message from another node.
func (a *clusterAdapter) onMessage(b []byte) {
	var m wireMsg
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	if m.Nsp != a.nsp.Name() || m.To != "" && m.To != a.uid {
		return
	}
	reply := func(r wireMsg) {
		r.To, r.RequestID = m.From, m.RequestID
		a.send(r)
	}
	switch m.Type {
	case "broadcast":
		args := decodeArgs(m.Args, m.Att)
		a.MemoryAdapter.Broadcast(&socketio.Packet{Nsp: m.Nsp, Data: args.Values(), ID: -1}, m.Opts.local())
	case "broadcastWithAck":
		args := decodeArgs(m.Args, m.Att)
		a.DeliverWithAck(&socketio.Packet{Nsp: m.Nsp, Data: args.Values(), ID: -1}, m.Opts.local(),
			func(n int) { reply(wireMsg{Type: "count", Count: n}) },
			func(ack *socketio.Args) {
				raw, att := encodeArgs(ack.Values())
				reply(wireMsg{Type: "ack", Args: raw, Att: att})
			})
	case "count":
		if r := a.request(m.RequestID); r != nil && r.count != nil {
			r.count(m.Count)
		}
	case "ack":
		if r := a.request(m.RequestID); r != nil && r.ack != nil {
			r.ack(decodeArgs(m.Args, m.Att))
		}
	case "fetch":
		local, _ := a.MemoryAdapter.FetchSockets(context.Background(), m.Opts.local())
		var ws []wireSocket
		for _, s := range local {
			data, _ := json.Marshal(s.Data)
			ws = append(ws, wireSocket{ID: s.ID, Rooms: s.Rooms, Data: data, Address: s.Handshake.Address,
				Auth: s.Handshake.Auth, URL: s.Handshake.URL, Time: s.Handshake.Time, Secure: s.Handshake.Secure, XDomain: s.Handshake.XDomain})
		}
		reply(wireMsg{Type: "fetched", Sockets: ws})
	case "fetched", "sseAck":
		if r := a.request(m.RequestID); r != nil && r.replies != nil {
			r.replies <- m
		}
	case "join":
		a.MemoryAdapter.AddSockets(m.Opts.local(), m.Rooms)
	case "leave":
		a.MemoryAdapter.DelSockets(m.Opts.local(), m.Rooms)
	case "disconnect":
		a.MemoryAdapter.DisconnectSockets(m.Opts.local(), m.Close)
	case "sse":
		args := decodeArgs(m.Args, m.Att)
		event, err := args.String(0)
		if err != nil {
			return
		}
		rest := args.Values()[1:]
		restArgs, _ := socketio.ArgsFromValues(rest...)
		var ack func(...any)
		if m.RequestID != "" {
			var once sync.Once
			ack = func(vals ...any) {
				once.Do(func() {
					raw, att := encodeArgs(vals)
					reply(wireMsg{Type: "sseAck", Args: raw, Att: att})
				})
			}
		}
		a.nsp.DispatchServerSideEmit(event, restArgs, ack)
	}
}

// twoNodes starts two servers joined by one bus; each returns its own
// node's name from server-side emits.
func twoNodes(t *testing.T) (*bus, *testServer, *testServer) {
	t.Helper()
	b, adapter := newCluster()
	a := startServer(t, socketio.Options{Adapter: adapter})
	c := startServer(t, socketio.Options{Adapter: adapter})
	t.Cleanup(b.wg.Wait)
	return b, a, c
}

func TestClusterBroadcastsReachEveryNode(t *testing.T) {
	_, na, nb := twoNodes(t)
	connsB := connections(nb.srv.Sockets())
	a1, _ := na.wsConnected(t, "/")
	b1, _ := nb.wsConnected(t, "/")
	sb1 := testutil.Recv(t, connsB)
	sb1.Join("red")

	_ = na.srv.Emit("all", 1, []byte{7})
	for _, c := range []*wsClient{a1, b1} {
		if p := c.next(t); p.data != `["all",1,{"_placeholder":true,"num":0}]` || len(p.att) != 1 || p.att[0][0] != 7 {
			t.Fatalf("got %s", p)
		}
	}
	_ = na.srv.To("red").Emit("red")
	b1.expect(t, `42["red"]`)
	_ = nb.srv.Except("red").Emit("not-red")
	a1.expect(t, `42["not-red"]`)
	_ = na.srv.Local().Emit("local")
	a1.expect(t, `42["local"]`)
	b1.expectNone(t, 50*time.Millisecond)
	a1.expectNone(t, 10*time.Millisecond)
}

func TestClusterBroadcastWithAcksWaitsForEveryNodesClients(t *testing.T) {
	_, na, nb := twoNodes(t)
	var clients []*wsClient
	for _, n := range []*testServer{na, na, nb} {
		c, _ := n.wsConnected(t, "/")
		clients = append(clients, c)
	}
	answer := func(c *wsClient, with string) {
		p := c.next(t)
		c.send(t, "43"+strconv.FormatInt(p.id, 10)+`["`+with+`"]`)
	}
	type result struct {
		replies []string
		err     error
		took    time.Duration
	}
	run := func(timeout time.Duration, answering int) result {
		done := make(chan result, 1)
		start := time.Now()
		_ = na.srv.Timeout(timeout).Emit("q", socketio.BroadcastAckHandler(func(r []*socketio.Args, err error) {
			var got []string
			for _, a := range r {
				s, _ := a.String(0)
				got = append(got, s)
			}
			slices.Sort(got)
			done <- result{got, err, time.Since(start)}
		}))
		for i, c := range clients {
			if i < answering {
				answer(c, "c"+strconv.Itoa(i))
			} else {
				c.next(t)
			}
		}
		return testutil.Recv(t, done)
	}
	// Every client answers: complete as soon as the last ack is in.
	if r := run(5*time.Second, 3); r.err != nil || !slices.Equal(r.replies, []string{"c0", "c1", "c2"}) || r.took > 2*time.Second {
		t.Fatalf("all answered: %+v", r)
	}
	// The one on the other node does not: the timeout, with the others'.
	if r := run(300*time.Millisecond, 2); !errors.Is(r.err, socketio.ErrTimeout) || !slices.Equal(r.replies, []string{"c0", "c1"}) {
		t.Fatalf("one silent: %+v", r)
	}
}

func TestClusterServerSideEmitWithAcks(t *testing.T) {
	_, na, nb := twoNodes(t)
	got := make(chan string, 1)
	nb.srv.Sockets().OnServerSideEmit("hello", func(args *socketio.Args, ack func(...any)) {
		s, _ := args.String(0)
		got <- s
		if ack != nil {
			ack("from B", []byte{1, 2})
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	replies, err := na.srv.Sockets().ServerSideEmitWithAck(ctx, "hello", "from A")
	if err != nil || len(replies) != 1 {
		t.Fatalf("replies %v, %v", replies, err)
	}
	if s, _ := replies[0].String(0); s != "from B" {
		t.Fatalf("reply %q", s)
	}
	if b, ok := replies[0].Bytes(1); !ok || string(b) != "\x01\x02" {
		t.Fatalf("binary reply %q %v", b, ok)
	}
	if s := testutil.Recv(t, got); s != "from A" {
		t.Fatalf("B got %q", s)
	}
	// Without an ack.
	if err := na.srv.ServerSideEmit("hello", "again"); err != nil {
		t.Fatal(err)
	}
	if s := testutil.Recv(t, got); s != "again" {
		t.Fatalf("B got %q", s)
	}
}

func TestClusterFetchSocketsReachesRemoteSockets(t *testing.T) {
	_, na, nb := twoNodes(t)
	connsB := connections(nb.srv.Sockets())
	nb.srv.OnConnection(func(s *socketio.Socket) { s.SetData(map[string]any{"node": "B"}) })
	a1, aid := na.wsConnected(t, "/")
	b1, bid := nb.wsConnected(t, "/")
	sb := testutil.Recv(t, connsB)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	all, err := na.srv.FetchSockets(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("FetchSockets: %d, %v", len(all), err)
	}
	var remote socketio.RemoteSocket
	for _, s := range all {
		switch string(s.ID) {
		case aid:
			if s.Local() == nil {
				t.Fatal("the local socket has no Local()")
			}
		case bid:
			remote = s
		default:
			t.Fatalf("unknown socket %s", s.ID)
		}
	}
	if remote.Local() != nil || fmt.Sprint(remote.Data) != "map[node:B]" || !slices.Contains(remote.Rooms, socketio.Room(bid)) ||
		remote.Handshake.Address != "127.0.0.1" {
		t.Fatalf("remote entry %+v", remote)
	}
	if err := remote.Emit("hi", 1); err != nil {
		t.Fatal(err)
	}
	b1.expect(t, `42["hi",1]`)
	if err := remote.Join("x", "y"); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if rs := sb.Rooms(); !slices.Contains(rs, "x") || !slices.Contains(rs, "y") {
			return fmt.Errorf("rooms %v", rs)
		}
		return nil
	})
	_ = remote.Leave("x")
	testutil.CheckFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if rs := sb.Rooms(); slices.Contains(rs, "x") || !slices.Contains(rs, "y") {
			return fmt.Errorf("rooms %v", rs)
		}
		return nil
	})
	// An emit with an ack to the remote socket gets its single answer.
	answered := make(chan string, 1)
	_ = remote.Timeout(3*time.Second).Emit("q", socketio.AckHandler(func(a *socketio.Args, err error) {
		if err != nil {
			answered <- err.Error()
			return
		}
		s, _ := a.String(0)
		answered <- s
	}))
	p := b1.next(t)
	b1.send(t, "43"+strconv.FormatInt(p.id, 10)+`["B says yes"]`)
	if s := testutil.Recv(t, answered); s != "B says yes" {
		t.Fatalf("ack %q", s)
	}
	ids, err := na.srv.Sockets().In("y").Sockets(ctx)
	if err != nil || !slices.Equal(ids, []socketio.SocketID{socketio.SocketID(bid)}) {
		t.Fatalf("sockets in y: %v %v", ids, err)
	}
	// SocketsJoin and DisconnectSockets across nodes.
	na.srv.SocketsJoin("z")
	testutil.CheckFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if !slices.Contains(sb.Rooms(), "z") {
			return errors.New("B's socket did not join z")
		}
		return nil
	})
	if err := remote.Disconnect(false); err != nil {
		t.Fatal(err)
	}
	b1.expect(t, `41`)
	a1.expectNone(t, 30*time.Millisecond)
}

// offsetAdapter assigns recovery offsets itself, as a streams-based adapter
// does (the stream entry id), and replays packets it never encoded.
type offsetAdapter struct {
	*socketio.MemoryAdapter
	mu       sync.Mutex
	seq      int
	log      []*socketio.Packet
	offsets  []string
	sessions map[string]*socketio.Session
}

func (a *offsetAdapter) Broadcast(p *socketio.Packet, opts *socketio.BroadcastOptions) {
	if opts.Flags.Volatile || p.ID >= 0 {
		a.Deliver(p, opts)
		return
	}
	a.mu.Lock()
	a.seq++
	off := "1700000000000-" + strconv.Itoa(a.seq)
	lp := &socketio.Packet{Nsp: p.Nsp, Data: append(slices.Clone(p.Data), off), ID: -1}
	a.log = append(a.log, lp)
	a.offsets = append(a.offsets, off)
	a.Deliver(lp, opts)
	a.mu.Unlock()
}

func (a *offsetAdapter) PersistSession(s *socketio.Session) {
	a.mu.Lock()
	a.sessions[s.PID] = s
	a.mu.Unlock()
}

func (a *offsetAdapter) RestoreSession(pid, offset string) (*socketio.Session, []*socketio.Packet, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[pid]
	i := slices.Index(a.offsets, offset)
	if s == nil || i < 0 {
		return nil, nil, nil
	}
	delete(a.sessions, pid)
	// Replayed as stored: Data values, never encoded here (a fresh Packet,
	// as a stream read would give).
	var out []*socketio.Packet
	for _, p := range a.log[i+1:] {
		out = append(out, &socketio.Packet{Nsp: p.Nsp, Data: p.Data, ID: -1})
	}
	return s, out, nil
}

func TestRecoveryWithOffsetsTheAdapterAssigns(t *testing.T) {
	opts := recoveryOptions(true)
	opts.Adapter = func(nsp *socketio.Namespace) socketio.Adapter {
		return &offsetAdapter{MemoryAdapter: socketio.NewMemoryAdapter(nsp), sessions: map[string]*socketio.Session{}}
	}
	ts := startServer(t, opts)
	conns := connections(ts.srv.Sockets())
	reasons := disconnectReasons(ts.srv.Sockets())
	c, sid, pid := recoveringClient(t, ts, "/")
	testutil.Recv(t, conns)
	_ = ts.srv.Emit("e", 1)
	last := expectEventWithOffset(t, c, "/", `["e",1]`)
	if !strings.HasPrefix(last, "1700000000000-") {
		t.Fatalf("offset %q is not the adapter's", last)
	}
	c.close()
	testutil.Recv(t, reasons)
	_ = ts.srv.Emit("e", 2, []byte{9})
	_ = ts.srv.Emit("e", 3)
	c2 := reconnect(t, ts, "/", pid, last)
	p := c2.next(t)
	if off, rest := offsetOf(t, p); off != "1700000000000-2" || string(rest[1]) != "2" || len(p.att) != 1 || p.att[0][0] != 9 {
		t.Fatalf("first missed packet %s", p)
	}
	expectEventWithOffset(t, c2, "/", `["e",3]`)
	if got, _ := connectAck(t, c2.next(t), "/"); got != sid {
		t.Fatalf("sid %q, want the recovered %q", got, sid)
	}
	if s := testutil.Recv(t, conns); !s.Recovered() {
		t.Fatal("not recovered")
	}
}
