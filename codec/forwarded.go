package codec

import (
	"bytes"
	"net/netip"
)

// ForwardedClient returns the address of the client behind trusted proxies
// and the scheme it used, from the request's Forwarded (RFC 7239) or, when
// absent, X-Forwarded-For / X-Forwarded-Proto fields (every field of a name,
// in order, as one list).
//
// The chain of addresses is walked from the right, starting at peer (the
// connection's own address, which the caller has found trusted): each
// address that trusted accepts was added by a proxy of ours, and the first
// one it does not is the client. An entry that is no address ("unknown", an
// obfuscated name, garbage) ends the walk at the hop that reported it: a
// client cannot make us believe more than our own proxies say.
//
// proto is "https" or "http" as the client-side proxy reported it, or ""
// when no field says.
func ForwardedClient(r *Request, peer netip.Addr, trusted func(netip.Addr) bool) (client netip.Addr, proto string) {
	client = peer
	var fwd [][]byte
	for i := range r.Headers {
		if equalFold(r.Headers[i].Name, "forwarded") {
			fwd = append(fwd, r.Headers[i].Value)
		}
	}
	if len(fwd) > 0 {
		elems := splitList(fwd)
		for i := len(elems) - 1; i >= 0; i-- {
			if !trusted(client) {
				break
			}
			forV, protoV := forwardedPairs(elems[i])
			a, ok := forwardedFor(forV)
			if !ok {
				break
			}
			client = a
			if protoV != nil {
				proto = lowerProto(protoV)
			}
		}
		return client, proto
	}
	var xff, xfp [][]byte
	for i := range r.Headers {
		switch {
		case equalFold(r.Headers[i].Name, "x-forwarded-for"):
			xff = append(xff, r.Headers[i].Value)
		case equalFold(r.Headers[i].Name, "x-forwarded-proto"):
			xfp = append(xfp, r.Headers[i].Value)
		}
	}
	elems := splitList(xff)
	for i := len(elems) - 1; i >= 0; i-- {
		if !trusted(client) {
			break
		}
		a, ok := parseAddr(elems[i])
		if !ok {
			break
		}
		client = a
	}
	if ps := splitList(xfp); len(ps) > 0 {
		proto = lowerProto(ps[0]) // the client-side proxy's
	}
	return client, proto
}

// splitList splits comma-separated field values into trimmed elements.
func splitList(values [][]byte) [][]byte {
	var out [][]byte
	for _, v := range values {
		for len(v) > 0 {
			var e []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				e, v = v[:i], v[i+1:]
			} else {
				e, v = v, nil
			}
			if e = bytes.TrimSpace(e); len(e) > 0 {
				out = append(out, e)
			}
		}
	}
	return out
}

// forwardedPairs returns the for= and proto= values of one Forwarded element.
func forwardedPairs(e []byte) (forV, protoV []byte) {
	for len(e) > 0 {
		var p []byte
		if i := bytes.IndexByte(e, ';'); i >= 0 {
			p, e = e[:i], e[i+1:]
		} else {
			p, e = e, nil
		}
		k, v, ok := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		if !ok {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		switch {
		case equalFold(k, "for"):
			forV = v
		case equalFold(k, "proto"):
			protoV = v
		}
	}
	return forV, protoV
}

// forwardedFor parses a Forwarded for= node: an IPv4 address or a bracketed
// IPv6 one, each with an optional port.
func forwardedFor(v []byte) (netip.Addr, bool) {
	if len(v) > 0 && v[0] == '[' {
		end := bytes.IndexByte(v, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		return parseAddr(v[1:end])
	}
	if i := bytes.IndexByte(v, ':'); i >= 0 {
		v = v[:i]
	}
	return parseAddr(v)
}

// parseAddr parses an address as X-Forwarded-For carries it: plain, or with
// a port (IPv4 "a.b.c.d:p", IPv6 "[::1]:p").
func parseAddr(v []byte) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(string(v)); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(string(v)); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func lowerProto(v []byte) string {
	switch {
	case equalFold(v, "https"):
		return "https"
	case equalFold(v, "http"):
		return "http"
	case equalFold(v, "wss"):
		return "https"
	case equalFold(v, "ws"):
		return "http"
	}
	return ""
}
