package redisadapter

import (
	"encoding/json"
	"strings"
	"sync"

	"sio/socketio"
)

// The classic format of @socket.io/redis-adapter 8.x (lib/index.ts):
// broadcasts are msgpack [uid, packet, opts] on <p>#<nsp># or, for exactly
// one room, <p>#<nsp>#<room>#; requests are JSON on <p>-request#<nsp>#
// (msgpack for a broadcast with acks, or when binary rides along);
// responses go to <p>-response#<nsp>#.

// classicBroadcast publishes a broadcast.
func (a *nspAdapter) classicBroadcast(p *socketio.Packet, opts *socketio.BroadcastOptions) {
	data, att, err := packetArgs(p)
	if err != nil {
		a.c.log.Warn("cannot encode a broadcast for the cluster", "nsp", a.name, "err", err)
		return
	}
	channel := a.bcast
	if len(opts.Rooms) == 1 {
		channel += string(opts.Rooms[0]) + "#"
	}
	msg := []any{a.c.uid, map[string]any{"type": 2, "data": data, "nsp": a.name}, wireOptsOf(opts, true)}
	a.put(channel, msg, true, att)
}

func (a *nspAdapter) classicBroadcastWithAck(p *socketio.Packet, opts *socketio.BroadcastOptions, id string) {
	data, att, err := packetArgs(p)
	if err != nil {
		a.c.log.Warn("cannot encode a broadcast for the cluster", "nsp", a.name, "err", err)
		return
	}
	w := wireOptsOf(opts, false)
	w.Flags = &wireFlags{Timeout: opts.Flags.Timeout.Milliseconds()}
	msg := map[string]any{"uid": a.c.uid, "requestId": id, "type": 7,
		"packet": map[string]any{"type": 2, "data": data, "nsp": a.name}, "opts": w}
	a.put(a.req, msg, true, att)
}

// onBroadcast handles a message on <p>#<nsp>#*.
func (a *nspAdapter) onBroadcast(channel, msg string) {
	js, att, err := decodeAny(msg)
	if err != nil {
		a.c.invalid(channel, err)
		return
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(js, &parts); err != nil || len(parts) < 3 {
		a.c.invalid(channel, errShape)
		return
	}
	var uid string
	_ = json.Unmarshal(parts[0], &uid)
	if uid == a.c.uid {
		return
	}
	var pk inPacket
	var opts inOpts
	if json.Unmarshal(parts[1], &pk) != nil || json.Unmarshal(parts[2], &opts) != nil {
		a.c.invalid(channel, errShape)
		return
	}
	if pk.Nsp != nil && *pk.Nsp != a.name {
		return
	}
	// A room in the channel name that no local socket is in: nothing to do
	// here (Node's shortcut; the options still decide below).
	if room := strings.TrimSuffix(strings.TrimPrefix(channel, a.bcast), "#"); room != "" && !a.HasRoom(socketio.Room(room)) {
		return
	}
	p, err := a.packetOf(pk.Data, att)
	if err != nil {
		a.c.invalid(channel, err)
		return
	}
	a.Deliver(p, opts.local())
}

// inRequest is a classic request as it arrives.
type inRequest struct {
	UID       *string           `json:"uid"`
	RequestID *string           `json:"requestId"`
	Type      int               `json:"type"`
	Rooms     []json.RawMessage `json:"rooms"`
	Opts      *inOpts           `json:"opts"`
	Close     bool              `json:"close"`
	Data      json.RawMessage   `json:"data"`
	Packet    *inPacket         `json:"packet"`
	SID       *string           `json:"sid"`
	Room      json.RawMessage   `json:"room"`
}

// onRequest answers a request on <p>-request#<nsp>#, every type, so that
// no requester waits for us in vain.
func (a *nspAdapter) onRequest(channel, msg string) {
	js, att, err := decodeAny(msg)
	if err != nil {
		a.c.invalid(channel, err)
		return
	}
	var r inRequest
	if err := json.Unmarshal(js, &r); err != nil {
		a.c.invalid(channel, err)
		return
	}
	ours := r.UID != nil && *r.UID == a.c.uid
	reply := func(v map[string]any, msgpackAlways bool, att ...[][]byte) {
		if r.RequestID == nil {
			return
		}
		v["requestId"] = *r.RequestID
		a.put(a.res, v, msgpackAlways, att...)
	}
	switch r.Type {
	case 0: // SOCKETS (legacy allSockets)
		if ours {
			return
		}
		ids := []socketio.SocketID{}
		for _, s := range a.localSockets(&inOpts{Rooms: r.Rooms}) {
			ids = append(ids, s.ID)
		}
		reply(map[string]any{"sockets": ids}, false)
	case 1: // ALL_ROOMS
		if ours {
			return
		}
		rooms := a.Rooms()
		if rooms == nil {
			rooms = []socketio.Room{}
		}
		reply(map[string]any{"rooms": rooms}, false)
	case 2, 3, 4: // REMOTE_JOIN / LEAVE / DISCONNECT
		if ours {
			return // applied here when it was sent
		}
		if r.Opts != nil {
			lo := r.Opts.local()
			switch r.Type {
			case 2:
				a.MemoryAdapter.AddSockets(lo, roomsOf(r.Rooms))
			case 3:
				a.MemoryAdapter.DelSockets(lo, roomsOf(r.Rooms))
			case 4:
				a.MemoryAdapter.DisconnectSockets(lo, r.Close)
			}
			return
		}
		if r.SID == nil { // legacy single-socket form
			return
		}
		s := a.nsp.Socket(socketio.SocketID(*r.SID))
		if s == nil {
			return
		}
		room := roomsOf([]json.RawMessage{r.Room})
		switch {
		case r.Type == 2 && len(room) == 1:
			s.Join(room[0])
		case r.Type == 3 && len(room) == 1:
			s.Leave(room[0])
		case r.Type == 4:
			s.Disconnect(r.Close)
		}
		reply(map[string]any{}, false)
	case 5: // REMOTE_FETCH
		if ours {
			return
		}
		reply(map[string]any{"sockets": a.localSockets(r.Opts)}, false)
	case 6: // SERVER_SIDE_EMIT
		if ours {
			return
		}
		a.serverSideEmitted(channel, r.Data, att, r.RequestID, func(data json.RawMessage, att [][]byte) {
			v := map[string]any{"type": 6}
			if data != nil {
				v["data"] = data
			}
			reply(v, false, att)
		})
	case 7: // BROADCAST with acks
		if ours || r.Packet == nil || r.RequestID == nil {
			return
		}
		p, err := a.packetOf(r.Packet.Data, att)
		if err != nil {
			a.c.invalid(channel, err)
			return
		}
		a.DeliverWithAck(p, r.Opts.local(),
			func(n int) { reply(map[string]any{"type": 8, "clientCount": n}, false) },
			func(args *socketio.Args) {
				v := map[string]any{"type": 9}
				if args.Len() > 0 {
					v["packet"] = json.RawMessage(args.Raw(0))
				}
				reply(v, true, args.Attachments())
			})
	}
}

// serverSideEmitted dispatches a server-side emit ([event, args...]) from
// another node; answer (when the sender wants an ack) sends the first
// argument of the ack back.
func (a *nspAdapter) serverSideEmitted(channel string, data json.RawMessage, att [][]byte, requestID *string, answer func(json.RawMessage, [][]byte)) {
	args, err := socketio.ParseArgs(data, att)
	if err != nil || args.Len() == 0 {
		a.c.invalid(channel, errShape)
		return
	}
	event, err := args.String(0)
	if err != nil {
		a.c.invalid(channel, err)
		return
	}
	rest, err := socketio.ArgsFromValues(args.Values()[1:]...)
	if err != nil {
		a.c.invalid(channel, err)
		return
	}
	var ack func(...any)
	if requestID != nil {
		var once sync.Once
		ack = func(vals ...any) {
			once.Do(func() {
				raw, att, err := firstArg(vals)
				if err != nil {
					a.c.log.Warn("cannot encode a server-side emit ack", "err", err)
					return
				}
				answer(raw, att)
			})
		}
	}
	a.nsp.DispatchServerSideEmit(event, rest, ack)
}

// inResponse is a response as it arrives (classic; the sharded data of
// types 8, 10, 11 and 12 have the same fields).
type inResponse struct {
	Type        *int            `json:"type"`
	RequestID   string          `json:"requestId"`
	Sockets     json.RawMessage `json:"sockets"`
	Data        json.RawMessage `json:"data"`
	ClientCount *int            `json:"clientCount"`
	Packet      json.RawMessage `json:"packet"`
}

// onResponse handles an answer to one of our requests.
func (a *nspAdapter) onResponse(channel, msg string) {
	js, att, err := decodeAny(msg)
	if err != nil {
		a.c.invalid(channel, err)
		return
	}
	var r inResponse
	if err := json.Unmarshal(js, &r); err != nil {
		a.c.invalid(channel, err)
		return
	}
	p := a.lookup(r.RequestID)
	if p == nil {
		return // another node's, or one that ended
	}
	a.response(p, &r, r.Data, att)
}

// response applies an answer to a pending request. sseData is the ack's
// first argument of a server-side emit answer.
func (a *nspAdapter) response(p *pending, r *inResponse, sseData json.RawMessage, att [][]byte) {
	switch p.kind {
	case reqFetch:
		var socks []inSocket
		if len(r.Sockets) > 0 && json.Unmarshal(r.Sockets, &socks) != nil {
			a.c.invalid("response", errShape)
			return
		}
		a.answered(p, func() {
			for i := range socks {
				p.sockets = append(p.sockets, socks[i].remote())
			}
		})
	case reqSSE:
		var args *socketio.Args
		if len(sseData) > 0 {
			var err error
			if args, err = socketio.ParseArgs(append(append([]byte{'['}, sseData...), ']'), att); err != nil {
				a.c.invalid("response", err)
				return
			}
		} else {
			args, _ = socketio.ParseArgs([]byte("[]"), nil)
		}
		a.answered(p, func() { p.replies = append(p.replies, args) })
	case reqAck:
		switch {
		case r.ClientCount != nil:
			p.count(*r.ClientCount)
		case r.Type != nil && (*r.Type == 9 || *r.Type == 12):
			raw := []byte("[]")
			if len(r.Packet) > 0 {
				raw = append(append([]byte{'['}, r.Packet...), ']')
			}
			args, err := socketio.ParseArgs(raw, att)
			if err != nil {
				a.c.invalid("response", err)
				return
			}
			p.ack(args)
		}
	}
}
