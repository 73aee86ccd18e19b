package engine

import (
	"encoding/base64"

	"github.com/gobwas/ws"

	"sio/codec"
	"sio/loop"
)

// Engine.IO v3 sessions (Config.AllowEIO3), following engine.io 6's
// protocol-3 paths (socket.js, transports/polling.js, parser-v3):
//   - the client pings ("2") every pingInterval and the server answers
//     "3"; a client silent for pingInterval+pingTimeout is closed with
//     "ping timeout". A pong from the client is an error, as a ping is in v4.
//   - polling payloads are length-prefixed (codec.AppendPayloadPacketV3),
//     and binary ones (application/octet-stream) when the client did not
//     ask for base64 (b64) and a packet is binary;
//   - binary WebSocket messages carry the type byte 4 before the data.
// Everything else (handshake fields, upgrade probe, close) is as in v4.

// Protocol is the session's Engine.IO protocol revision: 4, or 3 for a
// client let in by Config.AllowEIO3.
func (s *Session) Protocol() int {
	if s.v3 {
		return 3
	}
	return 4
}

// wantsBase64 reports whether a v3 client asked for binary as base64: Node
// takes any non-empty b64 parameter.
func wantsBase64(r *loop.Request) bool {
	v, ok := codec.QueryValue(r.RawQuery, "b64")
	return ok && len(v) > 0
}

// protocolMismatch reports a request for a session of another protocol
// revision (Node's PROTOCOL_MISMATCH, 400 Bad request): Node takes
// anything but EIO=4 for 3.
func protocolMismatch(r *loop.Request, ss *Session) bool {
	eio, _, _ := codec.QueryParam(r.RawQuery, "EIO")
	return (string(eio) == "4") == ss.v3
}

// Fixed polling bodies, in each protocol's payload format.
type ctlKind uint8

const (
	bodyNoop      ctlKind = iota // "6"
	bodyClose                    // "1"
	bodyNoopClose                // "6", then "1"
)

var ctlBodies = [2][3][]byte{
	{[]byte("6"), []byte("1"), []byte("6\x1e1")},
	{[]byte("1:6"), []byte("1:1"), []byte("1:61:1")},
}

func (s *Session) ctlBody(k ctlKind) []byte {
	if s.v3 {
		return ctlBodies[1][k]
	}
	return ctlBodies[0][k]
}

// onPingV3 answers a v3 client's ping and restarts its deadline.
func (s *Session) onPingV3() {
	s.hb.Reset(s.srv.cfg.PingInterval + s.srv.cfg.PingTimeout)
	s.queue(outPacket{typ: codec.PacketPong})
	s.flushPolling()
}

// onPollPOSTV3 decodes a v3 polling POST (owner loop): a text payload, or a
// binary one when it came as application/octet-stream. A malformed payload
// is answered 400 and closes the session ("parse error").
func (ss *Session) onPollPOSTV3(c *loop.Conn, body []byte, extra []byte, binary bool) {
	cur := ss.owner.Load()
	pr := codec.NewPayloadReaderV3(body, binary, ss.srv.cfg.MaxPayloadPackets)
	for ss.state != stateClosed {
		p, ok, err := pr.Next()
		if err != nil {
			ss.badRequest(c, extra)
			ss.close(ReasonParseError, true)
			return
		}
		if !ok {
			break
		}
		ss.onPacket(p)
	}
	respondOn(cur, c, &loop.Response{Status: 200, ContentType: "text/html",
		Extra: append(extra, "Cache-Control: no-store\r\n"...), Body: okBody})
}

// onWSMessageV3 handles a WebSocket message of a v3 client: binary ones
// start with their type byte, text ones may be `b4<base64>`.
func (ss *Session) onWSMessageV3(data []byte, binary bool) {
	var p codec.Packet
	var err error
	if binary {
		p, err = codec.DecodeBinaryV3(data)
	} else {
		p, err = codec.DecodeTextV3(data) // base64 is decoded in place: data is ours until we return
	}
	if err != nil {
		ss.close(ReasonParseError, true)
		return
	}
	ss.onPacket(p)
}

var v3BinaryType = []byte{byte(codec.PacketMessage)}

// writeBinaryV3 writes a binary message to a v3 WebSocket: the type byte
// and the data, or `b4<base64>` text to a client that asked for base64.
func (s *Session) writeBinaryV3(data []byte) {
	if s.wsB64 {
		s.ws.WriteFrame(ws.OpText, []byte("b4"), base64.StdEncoding.AppendEncode(nil, data))
		return
	}
	s.ws.WriteFrame(ws.OpBinary, v3BinaryType, data)
}

// queuePollingV3 adds one packet to a v3 session's next GET response. The
// payload stays in the text format until a binary packet comes for a
// client that takes binary; from then on it is in the binary format.
func (s *Session) queuePollingV3(p outPacket) {
	if !s.pendingBin && p.binary && !s.b64 {
		s.pending = codec.TextToBinaryPayloadV3(nil, s.pending)
		s.pendingBin = true
	}
	if s.pendingBin {
		s.pending = codec.AppendBinaryPayloadPacketV3(s.pending, p.typ, p.binary, p.data)
	} else {
		s.pending = codec.AppendPayloadPacketV3(s.pending, p.typ, p.binary, p.data)
	}
	if len(s.pending) > s.srv.cfg.MaxBufferedBytes {
		s.close(ReasonSlowConsumer, true)
	}
}

// queuePreparedV3 is queuePrepared for a v3 session: the v3 variants of p
// are built on first use, once per Prepared.
func (s *Session) queuePreparedV3(p *Prepared) {
	v := p.v3Variants()
	if s.transport == transportWebSocket {
		if s.wsB64 && v.binary {
			v.each(func(binary bool, data []byte) {
				if binary {
					s.writeBinaryV3(data)
				} else {
					s.ws.WriteFrame(ws.OpText, packetDigit[codec.PacketMessage], data)
				}
			})
			return
		}
		s.ws.WriteRaw(v.ws)
		return
	}
	if !s.pendingBin && v.binary && !s.b64 {
		s.pending = codec.TextToBinaryPayloadV3(nil, s.pending)
		s.pendingBin = true
	}
	if s.pendingBin {
		s.pending = append(s.pending, v.bin...)
	} else {
		s.pending = append(s.pending, v.text...)
	}
	if len(s.pending) > s.srv.cfg.MaxBufferedBytes {
		s.close(ReasonSlowConsumer, true)
	}
}

// requeuePollingV3 moves a v3 polling payload that was waiting for a GET
// onto the WebSocket, after an upgrade.
func (ss *Session) requeuePollingV3(payload []byte) {
	pr := codec.NewPayloadReaderV3(payload, ss.pendingBin, 0)
	ss.pendingBin = false
	for {
		p, ok, err := pr.Next()
		if err != nil || !ok {
			return
		}
		ss.queue(outPacket{typ: p.Type, binary: p.Binary, data: p.Data})
	}
}
