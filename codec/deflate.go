package codec

import (
	"errors"
	"io"
	"slices"
	"sync"

	"github.com/gobwas/ws"
	"github.com/klauspost/compress/flate"
)

// permessage-deflate (RFC 7692), always without context takeover in both
// directions: every message is compressed and decompressed on its own, so
// a connection keeps no compressor or decompressor between messages and
// both come from pools shared by every connection. That keeps memory per
// idle connection at zero (Node's ws keeps a zlib stream per connection,
// socket.io#3477) and lets one compressed broadcast frame serve every
// recipient.

// Errors of the permessage-deflate decoder.
var (
	// ErrInflateTooLarge: a compressed message inflates beyond the message
	// size limit (close code 1009, as ws).
	ErrInflateTooLarge = errors.New("ws: inflated message exceeds the message size limit")
	// ErrInflateCorrupt: the compressed data is not valid DEFLATE (close
	// code 1007, as ws).
	ErrInflateCorrupt = errors.New("ws: invalid compressed data")
	// ErrUnexpectedRsv1 is RSV1 on a control or continuation frame.
	ErrUnexpectedRsv1 = ws.ProtocolError("RSV1 set on a control or continuation frame")
)

// DeflateParams are the parameters of one permessage-deflate offer or
// response. A window of 0 means the parameter is absent; ClientMaxWindowBits
// is -1 when present without a value (a client saying it supports it).
type DeflateParams struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	ServerMaxWindowBits     int
	ClientMaxWindowBits     int
}

// NegotiateDeflate chooses the first acceptable permessage-deflate offer in
// a Sec-WebSocket-Extensions value and returns the parameters to answer
// with (see AppendDeflateResponse); ok is false when there is none.
//
// As RFC 7692 §5 requires, an offer is declined (and the next one
// considered) when it has an unknown or repeated parameter or an invalid
// value; a value that is not valid header syntax declines the extension
// altogether (Node's ws answers 400 to both). An offer that limits the
// server's window below 15 bits is declined too: the compressor always
// uses a 32 KiB window.
//
// The answer always asks for no context takeover both ways, which every
// client must accept (RFC 7692 §7.1.1.1, §7.1.1.2; ws refuses only when its
// application set clientNoContextTakeover: false).
func NegotiateDeflate(v []byte) (resp DeflateParams, ok bool) {
	p := extParser{b: v}
	for !p.done() {
		name, err := p.token()
		if err != nil {
			return resp, false
		}
		var offer DeflateParams
		valid := true
		var seen uint8
		for p.param() {
			key, err := p.token()
			if err != nil {
				return resp, false
			}
			val, hasVal, err := p.value()
			if err != nil {
				return resp, false
			}
			if !valid || string(name) != "permessage-deflate" {
				continue
			}
			var bit uint8
			switch string(key) {
			case "server_no_context_takeover":
				bit = 1
				offer.ServerNoContextTakeover = true
				valid = !hasVal
			case "client_no_context_takeover":
				bit = 2
				offer.ClientNoContextTakeover = true
				valid = !hasVal
			case "server_max_window_bits":
				bit = 4
				offer.ServerMaxWindowBits = windowBits(val)
				valid = hasVal && offer.ServerMaxWindowBits != 0
			case "client_max_window_bits":
				bit = 8
				offer.ClientMaxWindowBits = -1
				if hasVal {
					offer.ClientMaxWindowBits = windowBits(val)
					valid = offer.ClientMaxWindowBits != 0
				}
			default:
				valid = false
			}
			if seen&bit != 0 {
				valid = false
			}
			seen |= bit
		}
		if !p.next() {
			return resp, false
		}
		if ok || string(name) != "permessage-deflate" || !valid {
			continue // the rest is still parsed: a malformed header declines everything
		}
		if offer.ServerMaxWindowBits != 0 && offer.ServerMaxWindowBits < 15 {
			continue
		}
		resp = DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
		if offer.ServerMaxWindowBits != 0 {
			resp.ServerMaxWindowBits = 15 // a server accepting the parameter must echo it (§7.1.2.1)
		}
		ok = true
	}
	return resp, ok
}

// windowBits parses a window size parameter value: 8 to 15 without a
// leading zero (RFC 7692 §7.1.2), or 0 when invalid.
func windowBits(v []byte) int {
	switch {
	case len(v) == 1 && (v[0] == '8' || v[0] == '9'):
		return int(v[0] - '0')
	case len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5':
		return 10 + int(v[1]-'0')
	}
	return 0
}

// AppendDeflateResponse appends the Sec-WebSocket-Extensions value that
// accepts permessage-deflate with p.
func AppendDeflateResponse(dst []byte, p DeflateParams) []byte {
	dst = append(dst, "permessage-deflate"...)
	if p.ServerNoContextTakeover {
		dst = append(dst, "; server_no_context_takeover"...)
	}
	if p.ClientNoContextTakeover {
		dst = append(dst, "; client_no_context_takeover"...)
	}
	if p.ServerMaxWindowBits > 0 {
		dst = append(dst, "; server_max_window_bits="...)
		dst = appendSmallInt(dst, p.ServerMaxWindowBits)
	}
	if p.ClientMaxWindowBits > 0 {
		dst = append(dst, "; client_max_window_bits="...)
		dst = appendSmallInt(dst, p.ClientMaxWindowBits)
	}
	return dst
}

func appendSmallInt(dst []byte, n int) []byte {
	if n >= 10 {
		dst = append(dst, byte('0'+n/10))
	}
	return append(dst, byte('0'+n%10))
}

// extParser reads the extension-list grammar of RFC 6455 §9.1.
type extParser struct {
	b []byte
	i int
}

var errExtSyntax = errors.New("ws: malformed Sec-WebSocket-Extensions")

func (p *extParser) ows() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t') {
		p.i++
	}
}

func (p *extParser) done() bool {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == ',') {
		p.i++ // empty list elements are allowed (RFC 9110 §5.6.1)
	}
	return p.i == len(p.b)
}

func (p *extParser) token() ([]byte, error) {
	p.ows()
	start := p.i
	for p.i < len(p.b) && isTokenChar(p.b[p.i]) {
		p.i++
	}
	if p.i == start {
		return nil, errExtSyntax
	}
	return p.b[start:p.i], nil
}

// param reports whether a ";" starts another parameter.
func (p *extParser) param() bool {
	p.ows()
	if p.i < len(p.b) && p.b[p.i] == ';' {
		p.i++
		return true
	}
	return false
}

// value reads an optional "=" token or quoted-string. A quoted value is
// returned without its quotes; one with escapes is returned as written,
// which no valid window size is.
func (p *extParser) value() (v []byte, ok bool, err error) {
	p.ows()
	if p.i == len(p.b) || p.b[p.i] != '=' {
		return nil, false, nil
	}
	p.i++
	p.ows()
	if p.i < len(p.b) && p.b[p.i] == '"' {
		p.i++
		start := p.i
		for p.i < len(p.b) && p.b[p.i] != '"' {
			if p.b[p.i] == '\\' {
				p.i++
			}
			p.i++
		}
		if p.i >= len(p.b) {
			return nil, false, errExtSyntax
		}
		v = p.b[start:p.i]
		p.i++
		return v, true, nil
	}
	v, err = p.token()
	return v, err == nil, err
}

// next ends an extension: a "," or the end of the value.
func (p *extParser) next() bool {
	p.ows()
	if p.i == len(p.b) {
		return true
	}
	if p.b[p.i] == ',' {
		p.i++
		return true
	}
	return false
}

// CheckClientHeaderDeflate is CheckClientHeader for a connection that
// negotiated permessage-deflate: RSV1 marks the first frame of a
// compressed message and is refused on control and continuation frames.
func CheckClientHeaderDeflate(h ws.Header, fragmented bool) (compressed bool, err error) {
	if h.Rsv&4 != 0 {
		if h.OpCode.IsControl() || h.OpCode == ws.OpContinuation {
			return false, ErrUnexpectedRsv1
		}
		h.Rsv &^= 4
		compressed = true
	}
	return compressed, CheckClientHeader(h, fragmented)
}

// Deflater compresses server messages for permessage-deflate without
// context takeover. Its compressors are pooled: one is held only while a
// message is being compressed. Safe for concurrent use.
type Deflater struct {
	threshold int
	level     int
	pool      sync.Pool // *deflateWriter
}

type deflateWriter struct {
	fw  *flate.Writer
	out appendWriter
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// NewDeflater returns a Deflater that compresses messages of at least
// threshold bytes (all of them when threshold <= 0) at a flate level from 1
// (fastest) to 9 (smallest); another level takes flate.DefaultCompression.
func NewDeflater(threshold, level int) *Deflater {
	if level < flate.BestSpeed || level > flate.BestCompression {
		level = flate.DefaultCompression
	}
	return &Deflater{threshold: max(threshold, 0), level: level}
}

// Compresses reports whether a message of n bytes is compressed.
func (d *Deflater) Compresses(n int) bool { return n >= d.threshold }

func (d *Deflater) get() *deflateWriter {
	if w, _ := d.pool.Get().(*deflateWriter); w != nil {
		return w
	}
	w := &deflateWriter{}
	w.fw, _ = flate.NewWriter(&w.out, d.level) // the level was checked
	return w
}

// deflateTail is what a sync flush ends with; RFC 7692 §7.2.1 strips it.
const deflateTail = "\x00\x00\xff\xff"

// AppendFrame appends a final server frame of op whose payload is p1
// followed by p2, compressed (RSV1 set), whatever its size.
func (d *Deflater) AppendFrame(dst []byte, op ws.OpCode, p1, p2 []byte) []byte {
	start := len(dst)
	dst = slices.Grow(dst, MaxFrameHeaderSize+(len(p1)+len(p2))/2+64)
	dst = dst[:start+MaxFrameHeaderSize] // the header goes here once the length is known
	w := d.get()
	w.out.b = dst
	w.fw.Reset(&w.out)
	_, _ = w.fw.Write(p1) // appendWriter never fails
	_, _ = w.fw.Write(p2)
	_ = w.fw.Flush()
	dst = w.out.b
	w.out.b = nil
	d.pool.Put(w)
	body := dst[start+MaxFrameHeaderSize:]
	if len(body) >= 4 && string(body[len(body)-4:]) == deflateTail {
		body = body[:len(body)-4]
	}
	n := len(body)
	if n == 0 {
		body, n = append(body, 0), 1 // an empty message is one 0x00 byte (§7.2.3.6)
	}
	hdr := AppendFrameHeader(dst[start:start], op, n)
	hdr[0] |= 0x40 // RSV1
	copy(dst[start+len(hdr):], body[:n])
	return dst[:start+len(hdr)+n]
}

// AppendDeflated appends frames, a sequence of final unmasked server frames
// as AppendFrame and AppendFrameHeader write them, with every text or
// binary frame of at least the threshold compressed and the others copied.
// Malformed input is copied as it is.
func (d *Deflater) AppendDeflated(dst, frames []byte) []byte {
	for len(frames) > 0 {
		h, hn, err := ParseFrameHeader(frames, 0)
		if err != nil || hn == 0 || h.Masked || int64(len(frames)-hn) < h.Length {
			return append(dst, frames...)
		}
		end := hn + int(h.Length)
		if h.Rsv == 0 && h.Fin && (h.OpCode == ws.OpText || h.OpCode == ws.OpBinary) && d.Compresses(int(h.Length)) {
			dst = d.AppendFrame(dst, h.OpCode, frames[hn:end], nil)
		} else {
			dst = append(dst, frames[:end]...)
		}
		frames = frames[end:]
	}
	return dst
}

// inflateTail ends every message given to the decompressor: the sync
// flush marker the sender stripped, then an empty final stored block, so
// that a complete message ends in io.EOF and a truncated one does not.
const inflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

type inflater struct {
	fr  io.ReadCloser
	src inflateSource
}

// inflateSource reads a message then inflateTail. It is an io.ByteReader so
// that flate reads it without a bufio.Reader of its own.
type inflateSource struct {
	p []byte
	i int
}

func (s *inflateSource) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c, err := s.ReadByte()
		if err != nil {
			if n == 0 {
				return 0, err
			}
			break
		}
		b[n] = c
		n++
	}
	return n, nil
}

func (s *inflateSource) ReadByte() (byte, error) {
	switch {
	case s.i < len(s.p):
		c := s.p[s.i]
		s.i++
		return c, nil
	case s.i < len(s.p)+len(inflateTail):
		c := inflateTail[s.i-len(s.p)]
		s.i++
		return c, nil
	}
	return 0, io.EOF
}

var inflaterPool sync.Pool // *inflater

// Inflate appends the decompressed form of a permessage-deflate message
// (without its stripped tail) to dst. More than maxLen bytes of output is
// ErrInflateTooLarge, whatever the input's size, and nothing beyond
// maxLen+1 bytes is ever allocated; invalid data is ErrInflateCorrupt. The
// decompressor is pooled and keeps no state between calls.
func Inflate(dst, src []byte, maxLen int64) ([]byte, error) {
	f, _ := inflaterPool.Get().(*inflater)
	if f == nil {
		f = &inflater{}
	}
	f.src = inflateSource{p: src}
	if f.fr == nil {
		f.fr = flate.NewReader(&f.src)
	} else if err := f.fr.(flate.Resetter).Reset(&f.src, nil); err != nil {
		f.fr = flate.NewReader(&f.src)
	}
	start := len(dst)
	capped := int(min(maxLen, 1<<30))
	limit := start + capped + 1 // one byte more tells "over max"
	var err error
	for {
		if len(dst) == cap(dst) {
			if len(dst) >= limit {
				err = ErrInflateTooLarge
				break
			}
			grow := min(max(len(src)*4, 512, cap(dst)-start), limit-len(dst))
			nd := make([]byte, len(dst), len(dst)+grow) // exact: slices.Grow could round past the limit
			copy(nd, dst)
			dst = nd
		}
		var n int
		n, err = f.fr.Read(dst[len(dst):min(cap(dst), limit)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > capped {
			err = ErrInflateTooLarge
			break
		}
		if err == io.EOF {
			err = nil
			break
		}
		if err != nil {
			err = ErrInflateCorrupt
			break
		}
	}
	f.src = inflateSource{}
	inflaterPool.Put(f)
	return dst, err
}
