package redisadapter_test

// The mixed-cluster test: Node socket.io nodes (@socket.io/redis-adapter)
// and our nodes (conformance -mode cluster) on one real Redis, running the
// same app (test/interop/cluster-node.mjs documents it), with real
// socket.io-client clients on every node. Every operation is started from
// a node of each kind and checked from the clients of every node: who gets
// an event and who does not (each event exactly once), fetchSockets'
// answers, remote join/leave/disconnect, server-side emits answered by
// every other node, broadcasts acknowledged by clients on every node, and
// @socket.io/redis-emitter reaching both kinds (classic only).
//
// The node kinds are a parameter: the all-Node cluster proves the harness
// and the expectations against the reference implementation; the mixed one
// (Node, Go, Node, Go) is the real test.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/redisadapter"
)

const (
	// mixedWait bounds every wait for something that must happen: an ack,
	// an event, a disconnect, a state visible through fetch.
	mixedWait = 5 * time.Second
	// absenceWindow is how long the clients must stay silent when an
	// event must not reach them (one window per audit, for all of them).
	absenceWindow = 300 * time.Millisecond
)

var (
	classicMode        = adapterMode{name: "classic"}
	shardedDynamicMode = adapterMode{name: "sharded-dynamic", sharded: true, subMode: redisadapter.Dynamic}
	shardedStaticMode  = adapterMode{name: "sharded-static", sharded: true, subMode: redisadapter.Static}
	allNode            = []nodeKind{kindNode, kindNode, kindNode, kindNode}
	mixed              = []nodeKind{kindNode, kindGo, kindNode, kindGo}
)

func TestMixedCluster(t *testing.T) {
	requireRedisServer(t)
	interop(t)
	bin := buildConformance(t)
	for _, c := range []struct {
		mode  adapterMode
		kinds []nodeKind
	}{
		{classicMode, allNode},
		{classicMode, mixed},
		{shardedDynamicMode, mixed},
		{shardedStaticMode, mixed},
	} {
		name := c.mode.name + "/" + kindsName(c.kinds)
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			runMixed(t, bin, c.mode, c.kinds)
			t.Logf("%s took %v", name, time.Since(start).Round(time.Millisecond))
		})
	}
}

func kindsName(kinds []nodeKind) string {
	n := map[nodeKind]int{}
	for _, k := range kinds {
		n[k]++
	}
	var parts []string
	for _, k := range []nodeKind{kindNode, kindGo} {
		if n[k] > 0 {
			parts = append(parts, strconv.Itoa(n[k])+string(k))
		}
	}
	return strings.Join(parts, "+")
}

// mclient is a client of the model: where it is and what it is in.
type mclient struct {
	id        string
	node      int
	sid       string
	rooms     map[string]bool // its sid included, as socket.rooms
	connected bool
}

// world is a running cluster and the model of its clients.
type world struct {
	t       *testing.T
	mode    adapterMode
	redis   *testutil.Redis
	nodes   []*clusterProc
	nc      *testutil.NodeClients
	clients []*mclient
	byID    map[string]*mclient
	seq     int
	// pending names the events delivered since the last audit, which
	// checks that nobody got them beyond the expected recipients (each once).
	pending []string
	// roomsUsed is every public room the test has used (for the sharded
	// dynamic mode's subscription checks).
	roomsUsed map[string]bool
}

func runMixed(t *testing.T, bin string, mode adapterMode, kinds []nodeKind) {
	w := &world{t: t, mode: mode, byID: map[string]*mclient{}, roomsUsed: map[string]bool{}}
	w.redis = testutil.StartRedis(t)
	for i, k := range kinds {
		w.nodes = append(w.nodes, startClusterNode(t, k, fmt.Sprintf("%s-%d", k, i), bin, w.redis.URL(), mode))
	}
	// Cleanups run last first: the clients go, then every node at once.
	t.Cleanup(func() { stopAll(w.nodes) })
	w.nc = testutil.StartNodeClients(t)
	for i := range w.nodes {
		w.connect(fmt.Sprintf("c%da", i), i)
		w.connect(fmt.Sprintf("c%db", i), i)
	}
	// Operations start from o1, on node 0, and o2, on the first node of
	// the other kind (on node 1 when there is one kind).
	o1, o2 := w.origins()

	// Rooms: every "a" client joins red (and c3a leaves it again); the "b"
	// clients of the first two nodes join blue.
	for i := range w.nodes {
		w.join(fmt.Sprintf("c%da", i), "red")
	}
	w.join("c0b", "blue")
	w.join("c1b", "blue")
	w.leave("c3a", "red")
	w.settle()

	// to / except, from a node of each kind.
	for _, o := range []string{o1, o2} {
		w.to(o, "red", map[string]any{"from": o, "n": 1})
		w.to(o, "blue", "text from "+o)
		w.to(o, "", []any{o, 2.5, nil, true})
		w.to(o, "nobody-is-here", "lost")
		w.to(o, w.byID["c2b"].sid, "direct to c2b") // a socket-id room on a Node node
		w.to(o, w.byID["c1b"].sid, "direct to c1b") // on the second node
		w.to(o, "red", map[string]any{"bin": testutil.NodeBin{1, 2, 255}})
		w.except(o, "red", map[string]any{"except": o})
		w.except(o, "blue", "not blue")
	}
	w.audit()

	// fetch: every node's answer is the model's, and all are equal.
	for _, room := range []string{"red", "blue", "", "nobody-is-here"} {
		w.fetchAll(room)
	}

	// Remote join and leave, each started from one kind and observed
	// through fetch from the other, then used by a broadcast; by room (the
	// sockets of several nodes of both kinds) and by socket id.
	sid := func(id string) string { return w.byID[id].sid }
	w.remoteJoin(o1, "blue", "green", o2)       // green: c0b c1b
	w.remoteJoin(o2, "red", "yellow", o1)       // yellow: c0a c1a c2a
	w.remoteLeave(o1, "yellow", "red", o2)      // red: none
	w.remoteLeave(o2, "green", "blue", o1)      // blue: none
	w.remoteLeave(o2, sid("c2a"), "yellow", o1) // yellow: c0a c1a
	w.remoteJoin(o1, sid("c3b"), "red", o2)     // red: c3b
	w.remoteJoin(o1, "yellow", "red", o2)       // red: c0a c1a c3b
	w.audit()

	// Server-side emit: every node asks, every other node answers.
	for i := range w.nodes {
		w.sse(fmt.Sprintf("c%db", i))
	}
	// Broadcast with ack: the clients of every node answer.
	for _, o := range []string{o1, o2} {
		w.bcastAck(o, "red")
		w.bcastAck(o, "")
	}
	w.audit()

	if !mode.sharded {
		w.emitter()
	}

	// Remote disconnect from each kind: the two "b" clients of the last
	// nodes (one of each kind in the mixed cluster), then the first two.
	w.join("c2b", "bye")
	w.join("c3b", "bye")
	w.remoteDisconnect(o1, "bye")
	w.join("c0b", "bye2")
	w.join("c1b", "bye2")
	w.remoteDisconnect(o2, "bye2")
	// Everyone left still gets a broadcast, from each kind.
	w.to(o1, "", "still here")
	w.to(o2, "", "still here too")
	w.audit()
	w.checkSubscriptions()
}

// origins picks the clients that start operations: c0a (node 0) and the "a"
// client of the first node of another kind, or of node 1.
func (w *world) origins() (string, string) {
	for i, n := range w.nodes {
		if n.kind != w.nodes[0].kind {
			return "c0a", fmt.Sprintf("c%da", i)
		}
	}
	return "c0a", "c1a"
}

func (w *world) connect(id string, node int) {
	w.t.Helper()
	sid, err := w.nc.Connect(id, testutil.ClientOptions{URL: w.nodes[node].url,
		AutoAck: map[string]any{"q": testutil.AckSocketID}})
	if err != nil {
		w.t.Fatalf("connect %s to %s: %v", id, w.nodes[node].name, err)
	}
	c := &mclient{id: id, node: node, sid: sid, rooms: map[string]bool{sid: true}, connected: true}
	w.clients = append(w.clients, c)
	w.byID[id] = c
}

// ask emits event from client id and returns its ack's arguments.
func (w *world) ask(id, event string, args ...any) json.RawMessage {
	w.t.Helper()
	ack, err := w.nc.Emit(id, event, args...)
	if err != nil {
		w.t.Fatalf("%s %s %v (on %s): %v", id, event, args, w.nodes[w.byID[id].node].name, err)
	}
	return ack
}

func (w *world) join(id, room string) {
	w.t.Helper()
	ack := w.ask(id, "join", room)
	c := w.byID[id]
	jsonEqual(w.t, fmt.Sprintf("%s join %s ack", id, room), ack, []any{c.sid})
	c.rooms[room] = true
	w.roomsUsed[room] = true
}

func (w *world) leave(id, room string) {
	w.t.Helper()
	jsonEqual(w.t, fmt.Sprintf("%s leave %s ack", id, room), w.ask(id, "leave", room), []any{})
	delete(w.byID[id].rooms, room)
}

// members are the connected clients in any of rooms (every one when rooms
// is empty) and in none of except, in the order of w.clients.
func (w *world) members(rooms, except []string) []*mclient {
	var out []*mclient
	for _, c := range w.clients {
		if !c.connected {
			continue
		}
		in := len(rooms) == 0
		for _, r := range rooms {
			in = in || c.rooms[r]
		}
		for _, r := range except {
			in = in && !c.rooms[r]
		}
		if in {
			out = append(out, c)
		}
	}
	return out
}

func roomList(room string) []string {
	if room == "" {
		return nil
	}
	return []string{room}
}

// roomArg is the app's room argument: "" is null (every socket).
func roomArg(room string) any {
	if room == "" {
		return nil
	}
	return room
}

// event names a new event, unique in the test.
func (w *world) event(what string) string {
	w.seq++
	return fmt.Sprintf("%s-%d", what, w.seq)
}

// to has origin ask its node for io.to(room).emit(ev, payload) (io.emit
// when room is ""), and checks that exactly the room's clients get it.
func (w *world) to(origin, room string, payload any) {
	w.t.Helper()
	ev := w.event("to")
	w.nc.EmitNoAck(origin, "to", roomArg(room), ev, payload)
	w.delivered(fmt.Sprintf("%s: to(%q) from %s", ev, room, origin), ev, []any{payload}, w.members(roomList(room), nil))
}

// except is to with io.except(room).
func (w *world) except(origin, room string, payload any) {
	w.t.Helper()
	ev := w.event("except")
	w.nc.EmitNoAck(origin, "except", room, ev, payload)
	w.delivered(fmt.Sprintf("%s: except(%q) from %s", ev, room, origin), ev, []any{payload}, w.members(nil, []string{room}))
}

// delivered waits until every one of recipients got event ev with args,
// and marks ev for the next audit (which checks that nobody else got it,
// and nobody twice).
func (w *world) delivered(what, ev string, args any, recipients []*mclient) {
	w.t.Helper()
	want := normalize(w.t, args)
	for _, c := range recipients {
		got, err := w.nc.Next(c.id, ev, mixedWait)
		if err != nil {
			w.t.Fatalf("%s: %s (on %s): %v", what, c.id, w.nodes[c.node].name, err)
		}
		if g := normalize(w.t, got); !reflect.DeepEqual(g, want) {
			w.t.Fatalf("%s: %s (on %s) got %s, want %s", what, c.id, w.nodes[c.node].name, got, mustJSON(args))
		}
	}
	w.pending = append(w.pending, ev)
}

// audit checks that no client got any event of the pending ones beyond
// those delivered consumed: after one absence window, nothing is left.
func (w *world) audit() {
	w.t.Helper()
	d := absenceWindow
	for _, ev := range w.pending {
		for _, c := range w.clients {
			if err := w.nc.None(c.id, ev, d); err != nil {
				w.t.Fatalf("%s (on %s): %v", c.id, w.nodes[c.node].name, err)
			}
			d = 0
		}
	}
	w.pending = w.pending[:0]
}

// wantFetch is the fetch answer the model expects for room.
func (w *world) wantFetch(room string) []any {
	ms := w.members(roomList(room), nil)
	slices.SortFunc(ms, func(a, b *mclient) int { return strings.Compare(a.sid, b.sid) })
	out := []any{}
	for _, c := range ms {
		rooms := []any{}
		for _, r := range slices.Sorted(mapKeys(c.rooms)) {
			rooms = append(rooms, r)
		}
		out = append(out, map[string]any{"id": c.sid, "rooms": rooms, "data": map[string]any{"node": w.nodes[c.node].name}})
	}
	return out
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// fetch asks origin's node for the sockets in room (every socket when "").
func (w *world) fetch(origin, room string) json.RawMessage {
	w.t.Helper()
	return w.ask(origin, "fetch", roomArg(room))
}

// fetchAll checks that every node answers fetch(room) as the model says.
func (w *world) fetchAll(room string) {
	w.t.Helper()
	want := []any{w.wantFetch(room)}
	for i := range w.nodes {
		origin := fmt.Sprintf("c%db", i)
		if !w.byID[origin].connected {
			continue
		}
		got := w.fetch(origin, room)
		if !reflect.DeepEqual(normalize(w.t, got), normalize(w.t, want)) {
			w.t.Fatalf("fetch(%q) on %s:\n got %s\nwant %s", room, w.nodes[i].name, got, mustJSON(want))
		}
	}
}

// checkFetch waits until origin's node answers fetch(room) as the model
// says: remote joins, leaves and disconnects reach the other nodes
// asynchronously.
func (w *world) checkFetch(origin, room string) {
	w.t.Helper()
	want := normalize(w.t, []any{w.wantFetch(room)})
	var got json.RawMessage
	deadline := time.Now().Add(mixedWait)
	for {
		got = w.fetch(origin, room)
		if reflect.DeepEqual(normalize(w.t, got), want) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("fetch(%q) on %s within %v:\n got %s\nwant %s", room, w.nodes[w.byID[origin].node].name, mixedWait, got, mustJSON(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// remoteJoin has origin's node make the sockets of room join newRoom, on
// every node; then observer's node must see it through fetch, and a
// broadcast from there to newRoom must reach exactly its members.
func (w *world) remoteJoin(origin, room, newRoom, observer string) {
	w.t.Helper()
	jsonEqual(w.t, "remoteJoin ack", w.ask(origin, "remoteJoin", room, newRoom), []any{})
	for _, c := range w.members(roomList(room), nil) {
		c.rooms[newRoom] = true
	}
	w.roomsUsed[newRoom] = true
	w.observe(observer, newRoom)
}

// remoteLeave is remoteJoin for leaving oldRoom.
func (w *world) remoteLeave(origin, room, oldRoom, observer string) {
	w.t.Helper()
	jsonEqual(w.t, "remoteLeave ack", w.ask(origin, "remoteLeave", room, oldRoom), []any{})
	for _, c := range w.members(roomList(room), nil) {
		delete(c.rooms, oldRoom)
	}
	w.observe(observer, oldRoom)
}

// observe waits until observer's node sees room as the model has it, then
// broadcasts to it from there.
func (w *world) observe(observer, room string) {
	w.t.Helper()
	w.checkFetch(observer, room)
	w.settle()
	w.to(observer, room, "to "+room+" after a remote change")
}

// remoteDisconnect has origin's node disconnect the sockets of room, on
// every node, and checks that they, and only they, are disconnected.
func (w *world) remoteDisconnect(origin, room string) {
	w.t.Helper()
	w.settle()
	gone := w.members(roomList(room), nil)
	if slices.Contains(gone, w.byID[origin]) {
		w.t.Fatalf("remoteDisconnect(%q) from %s: the origin must not be in the room", room, origin)
	}
	jsonEqual(w.t, "remoteDisconnect ack", w.ask(origin, "remoteDisconnect", room), []any{})
	for _, c := range gone {
		reason, err := w.nc.WaitDisconnect(c.id, mixedWait)
		if err != nil || reason != "io server disconnect" {
			w.t.Fatalf("remoteDisconnect(%q) from %s: %s (on %s): %q %v", room, origin, c.id, w.nodes[c.node].name, reason, err)
		}
		c.connected = false
	}
}

// sse has origin's node emit "hello" to the other nodes; each answers with
// its name.
func (w *world) sse(origin string) {
	w.t.Helper()
	self := w.nodes[w.byID[origin].node].name
	var want []any
	for _, n := range w.nodes {
		if n.name != self {
			want = append(want, n.name)
		}
	}
	slices.SortFunc(want, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
	jsonEqual(w.t, "sse from "+self, w.ask(origin, "sse", map[string]any{"from": self}), []any{want})
}

// bcastAck has origin's node emit "q" to room with a broadcast ack: every
// member answers with its socket id (AutoAck).
func (w *world) bcastAck(origin, room string) {
	w.t.Helper()
	ms := w.members(roomList(room), nil)
	want := []any{}
	for _, c := range ms {
		want = append(want, c.sid)
	}
	slices.SortFunc(want, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
	what := fmt.Sprintf("bcastAck(%q) from %s (on %s)", room, origin, w.nodes[w.byID[origin].node].name)
	jsonEqual(w.t, what, w.ask(origin, "bcastAck", roomArg(room)), []any{want})
	w.delivered(what, "q", []any{roomArg(room), map[string]any{"$fn": true}}, ms)
	// "q" is not unique: check now that nobody else got this one.
	w.audit()
}

// emitter checks @socket.io/redis-emitter against the cluster: emits to a
// room and to all, socketsJoin and socketsLeave, and disconnectSockets,
// reaching the clients of every node.
func (w *world) emitter() {
	w.t.Helper()
	e := startEmitter(w.t, w.redis.URL())
	// Emit to a room, to all, to all but a room.
	ev := w.event("emitter")
	e.do(map[string]any{"op": "emit", "rooms": []string{"red"}, "event": ev, "args": []any{"from the emitter", 1}})
	w.delivered(ev+": emitter to red", ev, []any{"from the emitter", 1}, w.members([]string{"red"}, nil))
	ev = w.event("emitter")
	e.do(map[string]any{"op": "emit", "event": ev, "args": []any{map[string]any{"all": true}}})
	w.delivered(ev+": emitter to all", ev, []any{map[string]any{"all": true}}, w.members(nil, nil))
	ev = w.event("emitter")
	e.do(map[string]any{"op": "emit", "except": []string{"yellow"}, "event": ev, "args": []any{}})
	w.delivered(ev+": emitter except yellow", ev, []any{}, w.members(nil, []string{"yellow"}))
	w.audit()

	// socketsJoin / socketsLeave: seen through fetch from both kinds, then
	// used by a broadcast.
	o1, o2 := w.origins()
	e.do(map[string]any{"op": "socketsJoin", "rooms": []string{"red"}, "join": []string{"purple"}})
	for _, c := range w.members([]string{"red"}, nil) {
		c.rooms["purple"] = true
	}
	w.roomsUsed["purple"] = true
	w.checkFetch(o2, "purple")
	w.observe(o1, "purple")
	e.do(map[string]any{"op": "socketsLeave", "rooms": []string{"yellow"}, "leave": []string{"purple"}})
	for _, c := range w.members([]string{"yellow"}, nil) {
		delete(c.rooms, "purple")
	}
	w.checkFetch(o1, "purple")
	w.observe(o2, "purple")
	w.audit()

	// disconnectSockets: two more clients, on a node of each kind.
	for i, id := range []string{"e0", "e1"} {
		node := w.byID[[]string{o1, o2}[i]].node
		w.connect(id, node)
		w.join(id, "edc")
	}
	gone := w.members([]string{"edc"}, nil)
	e.do(map[string]any{"op": "disconnectSockets", "rooms": []string{"edc"}, "close": false})
	for _, c := range gone {
		reason, err := w.nc.WaitDisconnect(c.id, mixedWait)
		if err != nil || reason != "io server disconnect" {
			w.t.Fatalf("emitter disconnectSockets: %s (on %s): %q %v", c.id, w.nodes[c.node].name, reason, err)
		}
		c.connected = false
	}
}

// channelSubscribers is PUBSUB SHARDNUMSUB of a sharded channel.
func (w *world) channelSubscribers(ch string) (int, error) {
	out, err := w.redis.Do("PUBSUB", "SHARDNUMSUB", ch)
	if err != nil {
		return 0, err
	}
	parts := strings.Split(out, "\n")
	if len(parts) != 2 {
		return 0, fmt.Errorf("PUBSUB SHARDNUMSUB %s: %q", ch, out)
	}
	return strconv.Atoi(parts[1])
}

// roomNodes is how many nodes have a connected client in room.
func (w *world) roomNodes(room string) int {
	nodes := map[int]bool{}
	for _, c := range w.members([]string{room}, nil) {
		nodes[c.node] = true
	}
	return len(nodes)
}

// settle waits, in the sharded dynamic mode, until every node with a
// member of a room has subscribed the room's channel: a node subscribes on
// its first local join, asynchronously, and a broadcast to one room goes
// to that channel only. The other modes need no wait.
func (w *world) settle() {
	w.t.Helper()
	if !w.mode.sharded || w.mode.subMode == redisadapter.Static {
		return
	}
	for _, room := range slices.Sorted(mapKeys(w.roomsUsed)) {
		want := w.roomNodes(room)
		ch := "socket.io#/#" + room + "#"
		testutil.CheckFor(w.t, mixedWait, 10*time.Millisecond, func() error {
			n, err := w.channelSubscribers(ch)
			if err != nil || n < want {
				return fmt.Errorf("%s: %d subscribers (%v), want %d (one per node with a member)", ch, n, err, want)
			}
			return nil
		})
	}
}

// checkSubscriptions checks, in the sharded dynamic mode, that each room
// channel ends with exactly one subscriber per node with a member (Node
// unsubscribes when a room empties), and in every mode that the namespace
// channel counts one subscriber per node (the server count).
func (w *world) checkSubscriptions() {
	w.t.Helper()
	if w.mode.sharded {
		testutil.CheckFor(w.t, mixedWait, 10*time.Millisecond, func() error {
			if n, err := w.channelSubscribers("socket.io#/#"); err != nil || n != len(w.nodes) {
				return fmt.Errorf("socket.io#/#: %d subscribers (%v), want %d", n, err, len(w.nodes))
			}
			return nil
		})
	} else {
		out, err := w.redis.Do("PUBSUB", "NUMSUB", "socket.io-request#/#")
		if err != nil || out != "socket.io-request#/#\n"+strconv.Itoa(len(w.nodes)) {
			w.t.Errorf("PUBSUB NUMSUB socket.io-request#/#: %q %v, want %d", out, err, len(w.nodes))
		}
	}
	if !w.mode.sharded || w.mode.subMode == redisadapter.Static {
		return
	}
	for _, room := range slices.Sorted(mapKeys(w.roomsUsed)) {
		want := w.roomNodes(room)
		ch := "socket.io#/#" + room + "#"
		testutil.CheckFor(w.t, mixedWait, 10*time.Millisecond, func() error {
			if n, err := w.channelSubscribers(ch); err != nil || n != want {
				return fmt.Errorf("%s: %d subscribers (%v), want %d (one per node with a member)", ch, n, err, want)
			}
			return nil
		})
	}
}

// normalize decodes JSON (or encodes a Go value first) into the generic
// form, so that values compare regardless of key order and number types.
func normalize(t testing.TB, v any) any {
	t.Helper()
	var b []byte
	switch x := v.(type) {
	case json.RawMessage:
		b = x
	case []byte:
		b = x
	default:
		b = mustJSON(v)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("normalize %s: %v", b, err)
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func jsonEqual(t testing.TB, what string, got json.RawMessage, want any) {
	t.Helper()
	if !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
		t.Fatalf("%s: got %s, want %s", what, got, mustJSON(want))
	}
}
