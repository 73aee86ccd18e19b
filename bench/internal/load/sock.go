package load

import (
	"bytes"
	"errors"
	"strconv"
	"syscall"

	"github.com/gobwas/ws"

	"sio/codec"
)

type sockKind uint8

const (
	kindWS   sockKind = iota // a WebSocket (the transport, or an upgrade probe)
	kindGet                  // the long-polling GET connection
	kindPost                 // the polling POST connection
)

const (
	sockConnecting uint8 = iota
	sockOpen
	sockClosed
)

// maxPending bounds what one socket may have queued for writing.
const maxPending = 4 << 20

// sock is one TCP connection of a client.
type sock struct {
	fd      int
	gen     int32
	kind    sockKind
	state   uint8
	c       *client
	pollOut bool   // EPOLLOUT is registered
	wsOpen  bool   // kindWS: the 101 arrived, frames follow
	busy    bool   // HTTP: a request awaits its response
	in      []byte // unparsed input carried between reads (nil when none)
	out     []byte // output the kernel did not take yet
	frag    []byte // kindWS: a fragmented message being reassembled
	fragOp  ws.OpCode
}

const ipBindAddressNoPort = 24 // IP_BIND_ADDRESS_NO_PORT (Linux 4.2+)

// dial opens a non-blocking TCP connection from the next source address and
// queues first (a request) to be written once it is connected.
func (l *loop) dial(c *client, kind sockKind, first []byte) (*sock, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	// Let connect() pick the port per 4-tuple, so one source address is not
	// limited to one ephemeral range for all destinations.
	syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: l.source()}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	err = syscall.Connect(fd, &l.dst)
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return nil, err
	}
	l.sockGen++
	s := &sock{fd: fd, gen: l.sockGen, kind: kind, c: c, state: sockConnecting, pollOut: true}
	s.out = append(s.out, first...)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP, Fd: int32(fd), Pad: s.gen}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	for fd >= len(l.socks) {
		l.socks = append(l.socks, make([]*sock, max(1024, len(l.socks)))...)
	}
	l.socks[fd] = s
	return s, nil
}

func (l *loop) closeSock(s *sock) {
	if s == nil || s.state == sockClosed {
		return
	}
	s.state = sockClosed
	l.socks[s.fd] = nil
	syscall.Close(s.fd) // also removes it from the epoll set
	s.in, s.out, s.frag = nil, nil, nil
}

func (l *loop) setPollOut(s *sock, on bool) {
	if s.pollOut == on {
		return
	}
	s.pollOut = on
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(s.fd), Pad: s.gen}
	if on {
		ev.Events |= syscall.EPOLLOUT
	}
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, s.fd, &ev)
}

// write sends b now, keeping what the kernel does not take. A failed write
// fails the client.
func (l *loop) write(s *sock, b []byte) bool {
	if s.state == sockClosed {
		return false
	}
	if s.state == sockConnecting || len(s.out) > 0 {
		if len(s.out)+len(b) > maxPending {
			s.c.fail("slow", errors.New("send queue full"))
			return false
		}
		s.out = append(s.out, b...)
		return true
	}
	n, err := syscall.Write(s.fd, b)
	if err != nil && err != syscall.EAGAIN && err != syscall.EINTR {
		s.c.fail("write", err)
		return false
	}
	if n < 0 {
		n = 0
	}
	if n < len(b) {
		s.out = append(s.out, b[n:]...)
		l.setPollOut(s, true)
	}
	return true
}

func (l *loop) onWritable(s *sock) {
	if s.state == sockConnecting {
		errno, err := syscall.GetsockoptInt(s.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if err == nil && errno != 0 {
			err = syscall.Errno(errno)
		}
		if err != nil {
			s.c.fail("dial", err)
			return
		}
		s.state = sockOpen
	}
	if len(s.out) > 0 {
		n, err := syscall.Write(s.fd, s.out)
		if err != nil && err != syscall.EAGAIN && err != syscall.EINTR {
			s.c.fail("write", err)
			return
		}
		if n > 0 {
			rest := copy(s.out, s.out[n:])
			s.out = s.out[:rest]
		}
	}
	if len(s.out) == 0 {
		if cap(s.out) > 4096 {
			s.out = nil
		}
		l.setPollOut(s, false)
	}
}

func (l *loop) onReadable(s *sock) {
	n, err := syscall.Read(s.fd, l.buf)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return
	}
	if err != nil || n == 0 {
		if err == nil {
			err = errors.New("connection closed by the server")
		}
		s.c.fail("closed", err)
		return
	}
	data := l.buf[:n]
	carried := len(s.in) > 0
	if carried {
		s.in = append(s.in, data...)
		data = s.in
	}
	used := l.consume(s, data)
	if s.state == sockClosed {
		return
	}
	rest := data[used:]
	switch {
	case len(rest) == 0:
		if cap(s.in) > 64<<10 {
			s.in = nil
		} else {
			s.in = s.in[:0]
		}
	case carried:
		s.in = s.in[:copy(s.in, rest)]
	default:
		s.in = append(s.in[:0], rest...)
	}
	if len(s.in) > 32<<20 {
		s.c.fail("proto", errors.New("message too large"))
	}
}

// consume parses what it can of data and returns how much it used.
func (l *loop) consume(s *sock, data []byte) int {
	used := 0
	for s.state == sockOpen && used < len(data) {
		if s.kind == kindWS && s.wsOpen {
			return used + l.wsFrames(s, data[used:])
		}
		r, n, err := parseResponse(data[used:], s.kind == kindWS, &l.chunk)
		if err != nil {
			s.c.fail("http", err)
			return used
		}
		if n == 0 {
			return used
		}
		used += n
		s.busy = false
		if s.kind == kindWS {
			if r.status != 101 {
				s.c.fail("upgrade", errors.New("websocket upgrade answered "+strconv.Itoa(r.status)))
				return used
			}
			s.wsOpen = true
			s.c.onWSOpen(s)
			continue
		}
		if r.close {
			// The server will close this connection: the next request opens a new one.
			l.closeSock(s)
			s.c.dropSock(s)
		}
		s.c.onHTTP(s, r.status, r.body)
	}
	return used
}

// wsFrames handles every complete frame at the start of data.
func (l *loop) wsFrames(s *sock, data []byte) int {
	i := 0
	for s.state == sockOpen {
		h, n, err := codec.ParseFrameHeader(data[i:], 32<<20)
		if err != nil {
			s.c.fail("proto", err)
			return i
		}
		if n == 0 || int64(len(data)-i-n) < h.Length {
			return i
		}
		p := data[i+n : i+n+int(h.Length)]
		i += n + int(h.Length)
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpText, ws.OpBinary:
			if !h.Fin {
				s.fragOp = h.OpCode
				s.frag = append(s.frag[:0], p...)
				continue
			}
			if h.OpCode == ws.OpText {
				s.c.onPacket(s, p)
			}
		case ws.OpContinuation:
			s.frag = append(s.frag, p...)
			if h.Fin {
				msg := s.frag
				s.frag = nil
				if s.fragOp == ws.OpText {
					s.c.onPacket(s, msg)
				}
			}
		case ws.OpClose:
			s.c.fail("ws-close", errors.New("server closed the websocket"))
			return i
		case ws.OpPing:
			l.write(s, l.wsFrame(ws.OpPong, p))
		}
	}
	return i
}

// wsFrame builds a masked client frame in l.frame (valid until the next call).
func (l *loop) wsFrame(op ws.OpCode, payload []byte) []byte {
	b := l.frame[:0]
	n := len(payload)
	b = append(b, 0x80|byte(op))
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	r := uint32(l.rand())
	mask := [4]byte{byte(r), byte(r >> 8), byte(r >> 16), byte(r >> 24)}
	b = append(b, mask[:]...)
	start := len(b)
	b = append(b, payload...)
	ws.Cipher(b[start:], mask, 0)
	l.frame = b
	return b
}

// response is a parsed HTTP response; body is borrowed from the input (or
// from the loop's de-chunking scratch).
type response struct {
	status int
	body   []byte
	close  bool
}

var (
	errBadResponse = errors.New("malformed HTTP response")
	crlfcrlf       = []byte("\r\n\r\n")
)

// parseResponse parses one HTTP/1.1 response at the start of b. n is 0 when b
// does not hold all of it yet. An upgrade response ends at its head.
func parseResponse(b []byte, upgrade bool, chunkBuf *[]byte) (r response, n int, err error) {
	end := bytes.Index(b, crlfcrlf)
	if end < 0 {
		if len(b) > 16<<10 {
			return r, 0, errBadResponse
		}
		return r, 0, nil
	}
	head := b[:end]
	bodyStart := end + 4
	if len(head) < 12 || !bytes.HasPrefix(head, []byte("HTTP/1.")) {
		return r, 0, errBadResponse
	}
	st, err := strconv.Atoi(string(head[9:12]))
	if err != nil {
		return r, 0, errBadResponse
	}
	r.status = st
	if upgrade && st == 101 {
		return r, bodyStart, nil
	}
	clen, chunked := -1, false
	lines := head
	for len(lines) > 0 {
		i := bytes.Index(lines, []byte("\r\n"))
		var line []byte
		if i < 0 {
			line, lines = lines, nil
		} else {
			line, lines = lines[:i], lines[i+2:]
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		key, val := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case asciiEqualFold(key, "content-length"):
			clen, err = strconv.Atoi(string(val))
			if err != nil || clen < 0 {
				return r, 0, errBadResponse
			}
		case asciiEqualFold(key, "transfer-encoding"):
			chunked = bytes.Contains(bytes.ToLower(val), []byte("chunked"))
		case asciiEqualFold(key, "connection"):
			r.close = bytes.EqualFold(val, []byte("close"))
		}
	}
	switch {
	case chunked:
		body := (*chunkBuf)[:0]
		i := bodyStart
		for {
			j := bytes.Index(b[i:], []byte("\r\n"))
			if j < 0 {
				return r, 0, nil
			}
			szs := b[i : i+j]
			if k := bytes.IndexByte(szs, ';'); k >= 0 {
				szs = szs[:k]
			}
			sz, err := strconv.ParseInt(string(bytes.TrimSpace(szs)), 16, 32)
			if err != nil || sz < 0 {
				return r, 0, errBadResponse
			}
			i += j + 2
			if sz == 0 {
				// no trailers expected: just the final CRLF
				if len(b) < i+2 {
					return r, 0, nil
				}
				*chunkBuf = body
				r.body = body
				return r, i + 2, nil
			}
			if len(b) < i+int(sz)+2 {
				return r, 0, nil
			}
			body = append(body, b[i:i+int(sz)]...)
			i += int(sz) + 2
		}
	case clen >= 0:
		if len(b) < bodyStart+clen {
			return r, 0, nil
		}
		r.body = b[bodyStart : bodyStart+clen]
		return r, bodyStart + clen, nil
	case st == 204 || st == 304 || st < 200:
		return r, bodyStart, nil
	default:
		return r, 0, errors.New("HTTP response without a length")
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
