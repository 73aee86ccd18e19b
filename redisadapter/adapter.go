package redisadapter

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"sio/codec"
	"sio/socketio"
)

// nspAdapter is one namespace's adapter on this node: a MemoryAdapter for
// the local part, and the namespace's channels on Redis for the rest. The
// wire format (classic or sharded) is the Cluster's.
type nspAdapter struct {
	*socketio.MemoryAdapter
	c    *Cluster
	nsp  *socketio.Namespace
	name string

	// Classic channels.
	bcast, req, res, ownRes string
	// Sharded channels: main is bcast; own is <p>#<nsp>#<uid>#.
	own string

	mu      sync.Mutex
	pending map[string]*pending
	closed  bool
}

// pending is a request of this node waiting for the other nodes' answers.
type pending struct {
	kind    int // reqFetch, reqSSE, reqAck
	want    int // answers expected (other nodes); -1 until known
	got     int
	sockets []socketio.RemoteSocket
	replies []*socketio.Args
	done    chan struct{} // closed when got == want
	count   func(int)
	ack     func(*socketio.Args)
}

const (
	reqFetch = iota
	reqSSE
	reqAck
)

func newNspAdapter(c *Cluster, nsp *socketio.Namespace) *nspAdapter {
	p, n := c.opts.Key, nsp.Name()
	a := &nspAdapter{
		MemoryAdapter: socketio.NewMemoryAdapter(nsp), c: c, nsp: nsp, name: n,
		bcast: p + "#" + n + "#", req: p + "-request#" + n + "#", res: p + "-response#" + n + "#",
		pending: map[string]*pending{},
	}
	a.ownRes = a.res + c.uid + "#"
	a.own = a.bcast + c.uid + "#"
	return a
}

// Init subscribes the namespace's channels.
func (a *nspAdapter) Init() error {
	c := a.c
	if c.opts.Sharded {
		c.subscribe(&subSpec{kind: "ssubscribe", channel: a.bcast, handle: a.onSharded})
		c.subscribe(&subSpec{kind: "ssubscribe", channel: a.own, handle: a.onSharded})
		if c.opts.SubscriptionMode != Static {
			a.SetRoomHook(a.roomChanged)
		}
	} else {
		c.subscribe(&subSpec{kind: "psubscribe", channel: a.bcast + "*", handle: a.onBroadcast})
		c.subscribe(&subSpec{kind: "subscribe", channel: a.req, handle: a.onRequest})
		c.subscribe(&subSpec{kind: "subscribe", channel: a.res, handle: a.onResponse})
		c.subscribe(&subSpec{kind: "subscribe", channel: a.ownRes, handle: a.onResponse})
	}
	c.mu.Lock()
	c.adapters[a.name] = a
	c.mu.Unlock()
	return nil
}

// Close drops the namespace's subscriptions (a dynamic namespace removed,
// or the server closing).
func (a *nspAdapter) Close() error {
	c := a.c
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	c.mu.Lock()
	if c.adapters[a.name] == a {
		delete(c.adapters, a.name)
	}
	var drop []string
	for k, s := range c.want {
		if s.channel == a.bcast+"*" || s.channel == a.req || s.channel == a.res || s.channel == a.ownRes ||
			(c.opts.Sharded && len(s.channel) >= len(a.bcast) && s.channel[:len(a.bcast)] == a.bcast) {
			drop = append(drop, k)
		}
	}
	for _, k := range drop {
		delete(c.want, k)
	}
	if len(drop) > 0 {
		c.dirtyLocked()
	}
	c.mu.Unlock()
	return nil
}

// --- requests of this node -----------------------------------------------------

func (a *nspAdapter) newPending(p *pending) string {
	id := randomUID(16)
	a.mu.Lock()
	a.pending[id] = p
	a.mu.Unlock()
	return id
}

func (a *nspAdapter) endPending(id string) {
	a.mu.Lock()
	delete(a.pending, id)
	a.mu.Unlock()
}

func (a *nspAdapter) lookup(id string) *pending {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending[id]
}

// answered counts one answer to a pending request; the caller holds no lock.
func (a *nspAdapter) answered(p *pending, fill func()) {
	a.mu.Lock()
	if p.want >= 0 && p.got >= p.want {
		a.mu.Unlock()
		return
	}
	fill()
	p.got++
	if p.want >= 0 && p.got >= p.want {
		close(p.done)
	}
	a.mu.Unlock()
}

func (a *nspAdapter) expect(p *pending, n int) {
	a.mu.Lock()
	p.want = n
	if p.got >= n {
		close(p.done)
	}
	a.mu.Unlock()
}

// ServerCount is the number of nodes subscribed to the namespace (Node's
// way: PUBSUB NUMSUB of the request channel, summed over the nodes of a
// Redis Cluster; SHARDNUMSUB of the namespace channel when sharded). While
// Redis is unreachable this node is alone: 1.
func (a *nspAdapter) ServerCount(ctx context.Context) (int, error) {
	pub := a.c.pubClient()
	if pub == nil {
		return 1, nil
	}
	if a.c.opts.Sharded {
		m, err := pub.Do(ctx, pub.B().PubsubShardnumsub().Channel(a.bcast).Build()).AsIntMap()
		if err != nil {
			return 1, err
		}
		return max(int(m[a.bcast]), 1), nil
	}
	total := 0
	for _, node := range pub.Nodes() {
		m, err := node.Do(ctx, node.B().PubsubNumsub().Channel(a.req).Build()).AsIntMap()
		if err != nil {
			return 1, err
		}
		total += int(m[a.req])
	}
	return max(total, 1), nil
}

// request publishes a request and waits for every other node's answer, the
// context's end or the requests timeout.
func (a *nspAdapter) request(ctx context.Context, p *pending, send func(id string)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.c.opts.RequestsTimeout)
		defer cancel()
	}
	if a.c.pubClient() == nil {
		return ErrDown
	}
	p.want, p.done = -1, make(chan struct{})
	id := a.newPending(p)
	defer a.endPending(id)
	send(id)
	n, err := a.ServerCount(ctx)
	if err != nil {
		return err
	}
	a.expect(p, n-1)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return socketio.ErrTimeout
	}
}

// --- the Adapter interface -----------------------------------------------------

// Broadcast delivers here and publishes to the other nodes.
func (a *nspAdapter) Broadcast(p *socketio.Packet, opts *socketio.BroadcastOptions) {
	a.Deliver(p, opts)
	if opts.Flags.Local {
		return
	}
	if a.c.opts.Sharded {
		a.shardedBroadcast(p, opts, "")
		return
	}
	a.classicBroadcast(p, opts)
}

// BroadcastWithAck delivers here and asks the other nodes to do the same;
// each answers with its client count, then every ack.
func (a *nspAdapter) BroadcastWithAck(p *socketio.Packet, opts *socketio.BroadcastOptions, clientCount func(int), ack func(*socketio.Args)) {
	if !opts.Flags.Local {
		id := a.newPending(&pending{kind: reqAck, want: -1, count: clientCount, ack: ack, done: make(chan struct{})})
		time.AfterFunc(opts.Flags.Timeout+time.Second, func() { a.endPending(id) })
		if a.c.opts.Sharded {
			a.shardedBroadcast(p, opts, id)
		} else {
			a.classicBroadcastWithAck(p, opts, id)
		}
	}
	a.DeliverWithAck(p, opts, clientCount, ack)
}

// Sockets returns the ids of the matching sockets on every node.
func (a *nspAdapter) Sockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]socketio.SocketID, error) {
	all, err := a.FetchSockets(ctx, opts)
	ids := make([]socketio.SocketID, len(all))
	for i, s := range all {
		ids[i] = s.ID
	}
	return ids, err
}

// FetchSockets returns the matching sockets on every node (those that
// answered in time, with ErrTimeout when some did not).
func (a *nspAdapter) FetchSockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]socketio.RemoteSocket, error) {
	local, _ := a.MemoryAdapter.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return local, nil
	}
	p := &pending{kind: reqFetch}
	err := a.request(ctx, p, func(id string) {
		if a.c.opts.Sharded {
			a.publishSharded(a.bcast, 7, map[string]any{"opts": wireOptsOf(opts, false), "requestId": id})
		} else {
			a.publishJSON(a.req, map[string]any{"uid": a.c.uid, "requestId": id, "type": 5, "opts": wireOptsOf(opts, false)})
		}
	})
	a.mu.Lock()
	out := append(local, p.sockets...)
	a.mu.Unlock()
	return out, err
}

// AddSockets makes the matching sockets join rooms, here and elsewhere.
func (a *nspAdapter) AddSockets(opts *socketio.BroadcastOptions, rooms []socketio.Room) {
	a.MemoryAdapter.AddSockets(opts, rooms)
	a.roomsRequest(opts, 2, 4, "rooms", rooms)
}

// DelSockets makes the matching sockets leave rooms, here and elsewhere.
func (a *nspAdapter) DelSockets(opts *socketio.BroadcastOptions, rooms []socketio.Room) {
	a.MemoryAdapter.DelSockets(opts, rooms)
	a.roomsRequest(opts, 3, 5, "rooms", rooms)
}

// DisconnectSockets disconnects the matching sockets, here and elsewhere.
func (a *nspAdapter) DisconnectSockets(opts *socketio.BroadcastOptions, close bool) {
	a.MemoryAdapter.DisconnectSockets(opts, close)
	a.roomsRequest(opts, 4, 6, "close", close)
}

func (a *nspAdapter) roomsRequest(opts *socketio.BroadcastOptions, classicType, shardedType int, key string, v any) {
	if opts.Flags.Local {
		return
	}
	if a.c.opts.Sharded {
		a.publishSharded(a.bcast, shardedType, map[string]any{"opts": wireOptsOf(opts, false), key: v})
		return
	}
	a.publishJSON(a.req, map[string]any{"uid": a.c.uid, "type": classicType, "opts": wireOptsOf(opts, false), key: v})
}

// ServerSideEmit sends data ([event, args...]) to the other nodes; with
// ack, each answers once (ack gets the first argument of each answer).
func (a *nspAdapter) ServerSideEmit(ctx context.Context, data []any, ack func([]*socketio.Args, error)) {
	args, err := socketio.ArgsFromValues(data...)
	if err != nil {
		if ack != nil {
			ack(nil, err)
		}
		return
	}
	raw, att := argsArray(args), args.Attachments()
	publish := func(id string) {
		if a.c.opts.Sharded {
			m := map[string]any{"packet": raw}
			if id != "" {
				m["requestId"] = id
			}
			a.publishSharded(a.bcast, 9, m, att...)
			return
		}
		m := map[string]any{"uid": a.c.uid, "type": 6, "data": raw}
		if id != "" {
			m["requestId"] = id
		}
		a.publishJSON(a.req, m, att...)
	}
	if ack == nil {
		publish("")
		return
	}
	go func() { // never on the caller's loop
		p := &pending{kind: reqSSE}
		err := a.request(ctx, p, publish)
		a.mu.Lock()
		replies := p.replies
		a.mu.Unlock()
		ack(replies, err)
	}()
}

// PersistSession and RestoreSession: Node's Redis adapters (classic and
// sharded) keep no sessions, so connection state recovery is off across a
// Redis cluster, as with Node.
func (a *nspAdapter) PersistSession(*socketio.Session) {}

// RestoreSession implements socketio.Adapter: nothing to restore.
func (a *nspAdapter) RestoreSession(string, string) (*socketio.Session, []*socketio.Packet, error) {
	return nil, nil, nil
}

// --- encoding helpers ---------------------------------------------------------

// wireOpts is BroadcastOptions on the wire: rooms and except always
// present (arrays), flags present only in broadcasts, each flag only when
// set (Node omits undefined keys; a flag present as null would be set).
type wireOpts struct {
	Rooms  []socketio.Room `json:"rooms"`
	Except []socketio.Room `json:"except"`
	Flags  *wireFlags      `json:"flags,omitempty"`
}

type wireFlags struct {
	Volatile             bool  `json:"volatile,omitempty"`
	Compress             *bool `json:"compress,omitempty"`
	Timeout              int64 `json:"timeout,omitempty"`
	ExpectSingleResponse bool  `json:"expectSingleResponse,omitempty"`
}

func wireOptsOf(o *socketio.BroadcastOptions, flags bool) *wireOpts {
	w := &wireOpts{Rooms: o.Rooms, Except: o.Except}
	if w.Rooms == nil {
		w.Rooms = []socketio.Room{}
	}
	if w.Except == nil {
		w.Except = []socketio.Room{}
	}
	if flags {
		w.Flags = &wireFlags{Volatile: o.Flags.Volatile, Compress: o.Flags.Compress,
			Timeout: o.Flags.Timeout.Milliseconds(), ExpectSingleResponse: o.Flags.ExpectSingleResponse}
	}
	return w
}

// argsArray is the JSON array of args (placeholders indexing its
// attachments).
func argsArray(args *socketio.Args) json.RawMessage {
	b := []byte{'['}
	for i := 0; i < args.Len(); i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, args.Raw(i)...)
	}
	return append(b, ']')
}

// packetArgs encodes a packet's values as a JSON array and attachments.
func packetArgs(p *socketio.Packet) (json.RawMessage, [][]byte, error) {
	args, err := socketio.ArgsFromValues(p.Data...)
	if err != nil {
		return nil, nil, err
	}
	return argsArray(args), args.Attachments(), nil
}

// encode returns v as the wire has it: JSON, or msgpack when it carries
// attachments or when forced (att are the attachments v's placeholders
// index).
func encode(v any, msgpackAlways bool, att ...[][]byte) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var all [][]byte
	if len(att) > 0 {
		all = att[0]
	}
	if !msgpackAlways && len(all) == 0 {
		return js, nil
	}
	return encodeMsgpack(js, all)
}

func (a *nspAdapter) put(channel string, v any, msgpackAlways bool, att ...[][]byte) {
	b, err := encode(v, msgpackAlways, att...)
	if err != nil {
		a.c.log.Warn("cannot encode a cluster message", "nsp", a.name, "err", err)
		return
	}
	a.c.out.put(channel, b)
}

func (a *nspAdapter) publishJSON(channel string, v any, att ...[]byte) {
	a.put(channel, v, false, att)
}

// decodeAny reads a message that is JSON when it starts with '{' and
// msgpack otherwise (Node's sniffing), into JSON and attachments.
func decodeAny(msg string) ([]byte, [][]byte, error) {
	if len(msg) > 0 && msg[0] == '{' {
		b := []byte(msg)
		if !codec.ValidJSON(b) {
			return nil, nil, codec.ErrInvalidJSON
		}
		return b, nil, nil
	}
	return decodeMsgpack([]byte(msg))
}

// roomsOf reads rooms that may be strings or numbers (io.to(123) in Node).
func roomsOf(raw []json.RawMessage) []socketio.Room {
	if len(raw) == 0 {
		return nil
	}
	out := make([]socketio.Room, 0, len(raw))
	for _, r := range raw {
		switch codec.Kind(r) {
		case codec.JSONString:
			var s string
			if json.Unmarshal(r, &s) == nil {
				out = append(out, socketio.Room(s))
			}
		case codec.JSONNumber:
			out = append(out, socketio.Room(jsNumber(r)))
		}
	}
	return out
}

// jsNumber is String(n) in JavaScript for the integral numbers rooms are.
func jsNumber(r json.RawMessage) string {
	if f, err := strconv.ParseFloat(string(r), 64); err == nil && f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10)
	}
	return string(r)
}

// inOpts is a request's or broadcast's options as they arrive.
type inOpts struct {
	Rooms  []json.RawMessage `json:"rooms"`
	Except []json.RawMessage `json:"except"`
	Flags  *struct {
		Volatile *bool    `json:"volatile"`
		Compress *bool    `json:"compress"`
		Timeout  *float64 `json:"timeout"`
	} `json:"flags"`
}

// local turns them into options for this node's part.
func (o *inOpts) local() *socketio.BroadcastOptions {
	out := &socketio.BroadcastOptions{Flags: socketio.BroadcastFlags{Local: true}}
	if o == nil {
		return out
	}
	out.Rooms, out.Except = roomsOf(o.Rooms), roomsOf(o.Except)
	if f := o.Flags; f != nil {
		out.Flags.Volatile = f.Volatile != nil && *f.Volatile
		out.Flags.Compress = f.Compress
		if f.Timeout != nil && *f.Timeout > 0 {
			out.Flags.Timeout = time.Duration(*f.Timeout * float64(time.Millisecond))
		}
	}
	return out
}

// inPacket is a broadcast's packet as it arrives.
type inPacket struct {
	Type int             `json:"type"`
	Data json.RawMessage `json:"data"`
	Nsp  *string         `json:"nsp"`
}

// packetOf makes the packet to deliver here from the wire's data array.
func (a *nspAdapter) packetOf(data json.RawMessage, att [][]byte) (*socketio.Packet, error) {
	if codec.Kind(data) != codec.JSONArray {
		return nil, errors.New("packet data is not an array")
	}
	args, err := socketio.ParseArgs(data, att)
	if err != nil {
		return nil, err
	}
	if args.Len() == 0 {
		return nil, errors.New("packet without an event")
	}
	return &socketio.Packet{Nsp: a.name, Data: args.Values(), ID: -1}, nil
}

// firstArg is the JSON of an ack's first argument ("" when there is none:
// the field is then left out, as Node leaves undefined out).
func firstArg(vals []any) (json.RawMessage, [][]byte, error) {
	if len(vals) == 0 {
		return nil, nil, nil
	}
	args, err := socketio.ArgsFromValues(vals[0])
	if err != nil {
		return nil, nil, err
	}
	return json.RawMessage(args.Raw(0)), args.Attachments(), nil
}

// --- fetchSockets entries -----------------------------------------------------

// wireSocket is a fetchSockets entry as Node writes it.
type wireSocket struct {
	ID        socketio.SocketID `json:"id"`
	Handshake wireHandshake     `json:"handshake"`
	Rooms     []socketio.Room   `json:"rooms"`
	Data      any               `json:"data"`
}

type wireHandshake struct {
	Headers map[string]string `json:"headers"`
	Time    string            `json:"time"`
	Address string            `json:"address"`
	XDomain bool              `json:"xdomain"`
	Secure  bool              `json:"secure"`
	Issued  int64             `json:"issued"`
	URL     string            `json:"url"`
	Query   map[string]any    `json:"query"`
	Auth    json.RawMessage   `json:"auth"`
}

// inSocket is one as it arrives (from Node or from us).
type inSocket struct {
	ID        string `json:"id"`
	Handshake struct {
		Address string          `json:"address"`
		XDomain bool            `json:"xdomain"`
		Secure  bool            `json:"secure"`
		Issued  float64         `json:"issued"`
		URL     string          `json:"url"`
		Auth    json.RawMessage `json:"auth"`
	} `json:"handshake"`
	Rooms []json.RawMessage `json:"rooms"`
	Data  json.RawMessage   `json:"data"`
}

func (a *nspAdapter) localSockets(o *inOpts) []wireSocket {
	local, _ := a.MemoryAdapter.FetchSockets(context.Background(), o.local())
	out := make([]wireSocket, 0, len(local))
	for _, s := range local {
		h := s.Handshake
		ws := wireSocket{ID: s.ID, Rooms: s.Rooms, Data: s.Data, Handshake: wireHandshake{
			Headers: h.Headers(), Time: jsDate(h.Time), Address: h.Address, XDomain: h.XDomain, Secure: h.Secure,
			Issued: h.Time.UnixMilli(), URL: h.URL, Query: queryOf(h.URL), Auth: h.Auth,
		}}
		if len(ws.Handshake.Auth) == 0 {
			ws.Handshake.Auth = json.RawMessage("{}")
		}
		if ws.Rooms == nil {
			ws.Rooms = []socketio.Room{}
		}
		out = append(out, ws)
	}
	return out
}

func (s *inSocket) remote() socketio.RemoteSocket {
	var data any
	if len(s.Data) > 0 {
		_ = json.Unmarshal(s.Data, &data)
	}
	h := s.Handshake
	rs := socketio.RemoteSocket{ID: socketio.SocketID(s.ID), Rooms: roomsOf(s.Rooms), Data: data,
		Handshake: socketio.Handshake{Address: h.Address, XDomain: h.XDomain, Secure: h.Secure, URL: h.URL,
			Time: time.UnixMilli(int64(h.Issued)), Auth: h.Auth}}
	return rs
}

// jsDate is Date.prototype.toString's format, as Node writes handshake.time.
func jsDate(t time.Time) string {
	t = t.UTC()
	return t.Format("Mon Jan 02 2006 15:04:05") + " GMT+0000 (Coordinated Universal Time)"
}

// queryOf is the handshake URL's query as Node's object (a repeated
// parameter an array).
func queryOf(u string) map[string]any {
	out := map[string]any{}
	pu, err := url.Parse(u)
	if err != nil {
		return out
	}
	for k, vs := range pu.Query() {
		if len(vs) == 1 {
			out[k] = vs[0]
		} else {
			out[k] = slices.Clone(vs)
		}
	}
	return out
}
