package redisadapter

import (
	"encoding/json"
	"errors"

	"sio/socketio"
)

// The sharded format (lib/sharded-adapter.ts over socket.io-adapter's
// ClusterAdapter): every message is an envelope {uid, nsp, type, data},
// JSON unless its type may carry binary (3, 8, 9, 10, 12) and it does,
// then msgpack. Requests and broadcasts go to <p>#<nsp>#, answers to the
// requester's <p>#<nsp>#<uid>#; a broadcast without acks to exactly one
// room goes to <p>#<nsp>#<room># in the dynamic modes (not for a socket id
// in "dynamic"), which the nodes with that room subscribe.

var errShape = errors.New("redisadapter: message of an unexpected shape")

// Sharded message types (ClusterAdapter's MessageType).
const (
	shBroadcast        = 3
	shSocketsJoin      = 4
	shSocketsLeave     = 5
	shDisconnect       = 6
	shFetch            = 7
	shFetchResponse    = 8
	shServerSideEmit   = 9
	shSSEResponse      = 10
	shClientCount      = 11
	shBroadcastAck     = 12
	shMaybeBinaryTypes = 1<<shBroadcast | 1<<shFetchResponse | 1<<shServerSideEmit | 1<<shSSEResponse | 1<<shBroadcastAck
)

// publishSharded sends an envelope on channel (msgpack when data carries
// attachments: only the types above can).
func (a *nspAdapter) publishSharded(channel string, typ int, data map[string]any, att ...[]byte) {
	if typ >= 0 && 1<<typ&shMaybeBinaryTypes == 0 {
		att = nil
	}
	a.put(channel, map[string]any{"uid": a.c.uid, "nsp": a.name, "type": typ, "data": data}, false, att)
}

// usesRoomChannel: Node's ShardedRedisAdapter.shouldUseASeparateNamespace.
func (a *nspAdapter) usesRoomChannel(room socketio.Room) bool {
	switch a.c.opts.SubscriptionMode {
	case Dynamic:
		return len(room) != 20 // Node's guess at "not a socket id"
	case DynamicPrivate:
		return true
	}
	return false
}

// shardedBroadcast publishes a broadcast; id is the request id of a
// broadcast with acks ("" without).
func (a *nspAdapter) shardedBroadcast(p *socketio.Packet, opts *socketio.BroadcastOptions, id string) {
	data, att, err := packetArgs(p)
	if err != nil {
		a.c.log.Warn("cannot encode a broadcast for the cluster", "nsp", a.name, "err", err)
		return
	}
	m := map[string]any{"packet": map[string]any{"type": 2, "data": data, "nsp": a.name}, "opts": wireOptsOf(opts, true)}
	channel := a.bcast
	if id != "" {
		m["requestId"] = id
	} else if len(opts.Rooms) == 1 && a.usesRoomChannel(opts.Rooms[0]) {
		channel += string(opts.Rooms[0]) + "#"
	}
	a.publishSharded(channel, shBroadcast, m, att...)
}

// roomChanged follows the local rooms with the room channels (dynamic
// modes): subscribed while a local socket is in the room.
func (a *nspAdapter) roomChanged(room socketio.Room) {
	if !a.usesRoomChannel(room) {
		return
	}
	ch := a.bcast + string(room) + "#"
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	key := "ssubscribe " + ch
	_, wanted := c.want[key]
	has := !closed && a.HasRoom(room) // read under c.mu: the last change is the last one judged
	switch {
	case has && !wanted:
		c.wantLocked(&subSpec{kind: "ssubscribe", channel: ch, handle: a.onSharded})
	case !has && wanted:
		delete(c.want, key)
		c.dirtyLocked()
	}
}

// inEnvelope is a sharded message as it arrives.
type inEnvelope struct {
	UID  string          `json:"uid"`
	Nsp  *string         `json:"nsp"`
	Type int             `json:"type"`
	Data json.RawMessage `json:"data"`
}

type inShardedData struct {
	Opts      *inOpts           `json:"opts"`
	Packet    json.RawMessage   `json:"packet"`
	RequestID *string           `json:"requestId"`
	Rooms     []json.RawMessage `json:"rooms"`
	Close     bool              `json:"close"`
}

// onSharded handles every sharded message: requests, broadcasts and the
// answers to this node's requests.
func (a *nspAdapter) onSharded(channel, msg string) {
	js, att, err := decodeAny(msg)
	if err != nil {
		a.c.invalid(channel, err)
		return
	}
	var e inEnvelope
	if err := json.Unmarshal(js, &e); err != nil {
		a.c.invalid(channel, err)
		return
	}
	if e.UID == a.c.uid || e.Nsp != nil && *e.Nsp != a.name {
		return
	}
	var d inShardedData
	if len(e.Data) > 0 && json.Unmarshal(e.Data, &d) != nil {
		a.c.invalid(channel, errShape)
		return
	}
	answer := func(typ int, data map[string]any, att ...[]byte) {
		if d.RequestID == nil {
			return
		}
		data["requestId"] = *d.RequestID
		a.publishSharded(a.bcast+e.UID+"#", typ, data, att...)
	}
	switch e.Type {
	case shBroadcast:
		var pk inPacket
		if json.Unmarshal(d.Packet, &pk) != nil {
			a.c.invalid(channel, errShape)
			return
		}
		p, err := a.packetOf(pk.Data, att)
		if err != nil {
			a.c.invalid(channel, err)
			return
		}
		if d.RequestID == nil {
			a.Deliver(p, d.Opts.local())
			return
		}
		a.DeliverWithAck(p, d.Opts.local(),
			func(n int) { answer(shClientCount, map[string]any{"clientCount": n}) },
			func(args *socketio.Args) {
				m := map[string]any{}
				if args.Len() > 0 {
					m["packet"] = json.RawMessage(args.Raw(0))
				}
				answer(shBroadcastAck, m, args.Attachments()...)
			})
	case shSocketsJoin:
		a.MemoryAdapter.AddSockets(d.Opts.local(), roomsOf(d.Rooms))
	case shSocketsLeave:
		a.MemoryAdapter.DelSockets(d.Opts.local(), roomsOf(d.Rooms))
	case shDisconnect:
		a.MemoryAdapter.DisconnectSockets(d.Opts.local(), d.Close)
	case shFetch:
		answer(shFetchResponse, map[string]any{"sockets": a.localSockets(d.Opts)})
	case shServerSideEmit:
		a.serverSideEmitted(channel, d.Packet, att, d.RequestID, func(data json.RawMessage, att [][]byte) {
			m := map[string]any{}
			if data != nil {
				m["packet"] = data
			}
			answer(shSSEResponse, m, att...)
		})
	case shFetchResponse, shSSEResponse, shClientCount, shBroadcastAck:
		var r inResponse
		if json.Unmarshal(e.Data, &r) != nil {
			a.c.invalid(channel, errShape)
			return
		}
		p := a.lookup(r.RequestID)
		if p == nil {
			return
		}
		t := e.Type
		if t == shBroadcastAck {
			t = 12
		}
		r.Type = &t
		a.response(p, &r, r.Packet, att)
	}
}
