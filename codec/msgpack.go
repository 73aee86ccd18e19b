package codec

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MessagePack as notepack.io (2.x and 3.x, the encoder of
// socket.io-msgpack-parser and @socket.io/redis-adapter) writes and reads
// it, transcoded to and from the JSON form the rest of the server works
// with: JSON text whose binary values are attachment placeholders
// {"_placeholder":true,"num":N} indexing a list of attachments.
//
// What notepack writes for each JavaScript value, and so what is written
// here for the JSON value standing for it:
//   - an integral number: the smallest of positive fixint, uint 8/16/32/64,
//     or negative fixint, int 8/16/32/64 (-0 is 0); any other number,
//     NaN and the infinities included, float 64;
//   - a string: fixstr, str 8, str 16 or str 32 by its UTF-8 length;
//   - a Buffer (an attachment here): bin 8, bin 16 or bin 32;
//   - an array: fixarray, array 16 or array 32; an object: fixmap, map 16
//     or map 32, string keys in their order;
//   - null (and undefined in notepack 3): nil; booleans: true and false.
//
// What is read is anything a msgpack encoder may write: every int and
// float size, str, bin, array and map form, and the extensions notepack
// writes: the timestamp (type -1, notepack 3's Date) and notepack 2.x's
// Date (fixext 8 type 0, milliseconds) both become the ISO string
// JSON.stringify gives a Date; notepack 2.x's ArrayBuffer (ext 8/16/32
// type 0) is binary; its undefined (fixext 1 type 0, d4 00 00) is null, as
// in a JSON array; other extensions are null. Map keys that are not
// strings become the JSON string of their value, as the key of a
// JavaScript object would. NaN and the infinities become null, as
// JSON.stringify writes them.
//
// Nothing is sized from a declared length before the bytes are there: a
// length longer than the input is an error, so is nesting deeper than
// MaxJSONDepth, a reserved code (c1) or trailing bytes where a whole
// message is read.

// Errors of the msgpack transcoder.
var (
	ErrMsgpack          = errors.New("msgpack: invalid input")
	ErrMsgpackTruncated = errors.New("msgpack: truncated input")
	ErrMsgpackTrailing  = errors.New("msgpack: trailing bytes")
)

// AppendMsgpackNil appends nil.
func AppendMsgpackNil(dst []byte) []byte { return append(dst, 0xc0) }

// AppendMsgpackBool appends true or false.
func AppendMsgpackBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 0xc3)
	}
	return append(dst, 0xc2)
}

// AppendMsgpackInt appends i in the smallest form notepack uses for it.
func AppendMsgpackInt(dst []byte, i int64) []byte {
	if i >= 0 {
		return AppendMsgpackUint(dst, uint64(i))
	}
	switch {
	case i >= -32:
		return append(dst, byte(i))
	case i >= math.MinInt8:
		return append(dst, 0xd0, byte(i))
	case i >= math.MinInt16:
		return append(dst, 0xd1, byte(i>>8), byte(i))
	case i >= math.MinInt32:
		return append(dst, 0xd2, byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
	}
	return appendBE64(append(dst, 0xd3), uint64(i))
}

// AppendMsgpackUint appends u in the smallest form notepack uses for it.
func AppendMsgpackUint(dst []byte, u uint64) []byte {
	switch {
	case u < 0x80:
		return append(dst, byte(u))
	case u <= math.MaxUint8:
		return append(dst, 0xcc, byte(u))
	case u <= math.MaxUint16:
		return append(dst, 0xcd, byte(u>>8), byte(u))
	case u <= math.MaxUint32:
		return append(dst, 0xce, byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
	return appendBE64(append(dst, 0xcf), u)
}

// AppendMsgpackFloat64 appends f as float 64.
func AppendMsgpackFloat64(dst []byte, f float64) []byte {
	return appendBE64(append(dst, 0xcb), math.Float64bits(f))
}

func appendBE64(dst []byte, v uint64) []byte {
	return append(dst, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// AppendMsgpackStringHeader appends the header of a string of n UTF-8
// bytes; the bytes follow.
func AppendMsgpackStringHeader(dst []byte, n int) []byte {
	switch {
	case n < 32:
		return append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xda, byte(n>>8), byte(n))
	}
	return append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// AppendMsgpackString appends s as a msgpack string.
func AppendMsgpackString(dst []byte, s string) []byte {
	return append(AppendMsgpackStringHeader(dst, len(s)), s...)
}

// AppendMsgpackBin appends b as bin 8, 16 or 32.
func AppendMsgpackBin(dst []byte, b []byte) []byte {
	switch n := len(b); {
	case n <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = append(dst, 0xc5, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, b...)
}

// AppendMsgpackArrayHeader appends the header of an array of n elements.
func AppendMsgpackArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xdc, byte(n>>8), byte(n))
	}
	return append(dst, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// AppendMsgpackMapHeader appends the header of a map of n entries.
func AppendMsgpackMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xde, byte(n>>8), byte(n))
	}
	return append(dst, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// --- JSON to msgpack --------------------------------------------------------

// AppendMsgpackFromJSON appends the msgpack form of the JSON value js (as
// notepack would write the value JSON.parse gives), each attachment
// placeholder {"_placeholder":true,"num":N} with N < len(att) written as
// bin att[N]. Invalid JSON is an error (with part of dst written).
func AppendMsgpackFromJSON(dst, js []byte, att [][]byte) ([]byte, error) {
	t := jsonToMP{b: js, att: att}
	dst, err := t.value(dst, 0)
	if err != nil {
		return dst, err
	}
	t.ws()
	if t.i != len(js) {
		return dst, ErrInvalidJSON
	}
	return dst, nil
}

type jsonToMP struct {
	b   []byte
	i   int
	att [][]byte
}

func (t *jsonToMP) ws() {
	for t.i < len(t.b) {
		switch t.b[t.i] {
		case ' ', '\t', '\n', '\r':
			t.i++
		default:
			return
		}
	}
}

func (t *jsonToMP) value(dst []byte, depth int) ([]byte, error) {
	if depth > MaxJSONDepth {
		return dst, ErrJSONTooDeep
	}
	t.ws()
	if t.i >= len(t.b) {
		return dst, ErrInvalidJSON
	}
	switch c := t.b[t.i]; {
	case c == '{':
		if len(t.att) > 0 {
			if n, end, ok := t.placeholder(); ok {
				t.i = end
				return AppendMsgpackBin(dst, t.att[n]), nil
			}
		}
		return t.object(dst, depth)
	case c == '[':
		return t.array(dst, depth)
	case c == '"':
		return t.str(dst)
	case c == '-' || (c >= '0' && c <= '9'):
		return t.number(dst)
	case c == 't':
		return t.lit(dst, "true", 0xc3)
	case c == 'f':
		return t.lit(dst, "false", 0xc2)
	case c == 'n':
		return t.lit(dst, "null", 0xc0)
	}
	return dst, ErrInvalidJSON
}

// placeholder reports whether the object at t.i is an attachment
// placeholder for one of t.att, and where it ends. Only objects whose first
// key is one of the two a placeholder has are looked at closely.
func (t *jsonToMP) placeholder() (num, end int, ok bool) {
	j := t.i + 1
	for j < len(t.b) && (t.b[j] == ' ' || t.b[j] == '\t' || t.b[j] == '\n' || t.b[j] == '\r') {
		j++
	}
	rest := t.b[j:]
	if !hasPrefix(rest, `"_placeholder"`) && !hasPrefix(rest, `"num"`) {
		return 0, 0, false
	}
	end, err := SkipValue(t.b, t.i)
	if err != nil {
		return 0, 0, false
	}
	n, ok := PlaceholderNum(t.b[t.i:end])
	if !ok || n >= len(t.att) {
		return 0, 0, false
	}
	return n, end, true
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

func (t *jsonToMP) lit(dst []byte, want string, code byte) ([]byte, error) {
	if !hasPrefix(t.b[t.i:], want) {
		return dst, ErrInvalidJSON
	}
	t.i += len(want)
	return append(dst, code), nil
}

// finishContainer writes the header of the array or map of n members whose
// contents follow dst[at]: one byte was reserved there (the common case,
// fewer than 16 members); a longer header shifts the contents.
func finishContainer(dst []byte, at, n int, fix byte, c16, c32 byte) []byte {
	if n < 16 {
		dst[at] = fix | byte(n)
		return dst
	}
	var hdr [5]byte
	h := hdr[:0]
	if n <= math.MaxUint16 {
		h = append(h, c16, byte(n>>8), byte(n))
	} else {
		h = append(h, c32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	extra := len(h) - 1
	dst = append(dst, h[:extra]...) // grow
	copy(dst[at+len(h):], dst[at+1:len(dst)-extra])
	copy(dst[at:], h)
	return dst
}

func (t *jsonToMP) array(dst []byte, depth int) ([]byte, error) {
	t.i++ // [
	at := len(dst)
	dst = append(dst, 0x90)
	n := 0
	t.ws()
	if t.i < len(t.b) && t.b[t.i] == ']' {
		t.i++
		return dst, nil
	}
	for {
		var err error
		if dst, err = t.value(dst, depth+1); err != nil {
			return dst, err
		}
		n++
		t.ws()
		if t.i >= len(t.b) {
			return dst, ErrInvalidJSON
		}
		c := t.b[t.i]
		t.i++
		if c == ']' {
			return finishContainer(dst, at, n, 0x90, 0xdc, 0xdd), nil
		}
		if c != ',' {
			return dst, ErrInvalidJSON
		}
	}
}

func (t *jsonToMP) object(dst []byte, depth int) ([]byte, error) {
	t.i++ // {
	at := len(dst)
	dst = append(dst, 0x80)
	n := 0
	t.ws()
	if t.i < len(t.b) && t.b[t.i] == '}' {
		t.i++
		return dst, nil
	}
	for {
		t.ws()
		if t.i >= len(t.b) || t.b[t.i] != '"' {
			return dst, ErrInvalidJSON
		}
		var err error
		if dst, err = t.str(dst); err != nil {
			return dst, err
		}
		t.ws()
		if t.i >= len(t.b) || t.b[t.i] != ':' {
			return dst, ErrInvalidJSON
		}
		t.i++
		if dst, err = t.value(dst, depth+1); err != nil {
			return dst, err
		}
		n++
		t.ws()
		if t.i >= len(t.b) {
			return dst, ErrInvalidJSON
		}
		c := t.b[t.i]
		t.i++
		if c == '}' {
			return finishContainer(dst, at, n, 0x80, 0xde, 0xdf), nil
		}
		if c != ',' {
			return dst, ErrInvalidJSON
		}
	}
}

// str writes the JSON string at t.i as a msgpack string, escapes decoded.
func (t *jsonToMP) str(dst []byte) ([]byte, error) {
	start := t.i + 1
	j := start
	escaped := false
	for {
		if j >= len(t.b) {
			return dst, ErrInvalidJSON
		}
		c := t.b[j]
		if c == '"' {
			break
		}
		if c < 0x20 {
			return dst, ErrInvalidJSON
		}
		if c == '\\' {
			escaped = true
			j++
		}
		j++
	}
	raw := t.b[start:j]
	t.i = j + 1
	if !escaped {
		return append(AppendMsgpackStringHeader(dst, len(raw)), raw...), nil
	}
	// Decoded, the string is no longer than raw: reserve the header raw's
	// length needs, and narrow it afterwards if the decoded length needs less.
	at := len(dst)
	dst = AppendMsgpackStringHeader(dst, len(raw))
	hl := len(dst) - at
	body := len(dst)
	dst, err := unescapeJSON(dst, raw)
	if err != nil {
		return dst, err
	}
	n := len(dst) - body
	var hdr [5]byte
	h := AppendMsgpackStringHeader(hdr[:0], n)
	if len(h) != hl {
		copy(dst[at+len(h):], dst[body:])
		dst = dst[:at+len(h)+n]
	}
	copy(dst[at:], h)
	return dst, nil
}

// unescapeJSON appends the decoded contents of a JSON string (between the
// quotes). A lone surrogate becomes U+FFFD, as encoding/json decodes it.
func unescapeJSON(dst, raw []byte) ([]byte, error) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return dst, ErrInvalidJSON
		}
		e := raw[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw, i)
			if !ok {
				return dst, ErrInvalidJSON
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2, ok = hex4(raw, i+2)
				}
				if d := utf16.DecodeRune(r, r2); ok && d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, ErrInvalidJSON
		}
	}
	return dst, nil
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		if !isHex(c) {
			return 0, false
		}
		r = r<<4 | rune(unhex(c))
	}
	return r, true
}

// number writes a JSON number as notepack writes the JavaScript number it
// stands for: an integral value as the smallest int form, any other as
// float 64. Integers beyond 64 bits are floats.
func (t *jsonToMP) number(dst []byte) ([]byte, error) {
	b := t.b
	start := t.i
	j := start
	if j < len(b) && b[j] == '-' {
		j++
	}
	digits := j
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j == digits || (b[digits] == '0' && j-digits > 1) {
		return dst, ErrInvalidJSON
	}
	intEnd := j
	if j < len(b) && b[j] == '.' {
		j++
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return dst, ErrInvalidJSON
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return dst, ErrInvalidJSON
		}
	}
	t.i = j
	if j == intEnd && j-digits <= 18 { // an integer that fits int64 without overflow checks
		var v int64
		for _, c := range b[digits:j] {
			v = v*10 + int64(c-'0')
		}
		if digits > start {
			v = -v
		}
		return AppendMsgpackInt(dst, v), nil
	}
	return appendNumber(dst, b[start:j])
}

func appendNumber(dst, lit []byte) ([]byte, error) {
	s := string(lit)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return AppendMsgpackInt(dst, i), nil
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return AppendMsgpackUint(dst, u), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return dst, ErrInvalidJSON
	}
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return AppendMsgpackInt(dst, int64(f)), nil
	}
	return AppendMsgpackFloat64(dst, f), nil
}

// --- msgpack to JSON --------------------------------------------------------

// AppendJSONFromMsgpack transcodes the one msgpack value msg holds to JSON
// appended to dst; bin values become placeholders numbered after the
// attachments already in att, to which they are appended (sub-slices of
// msg: borrowed). Trailing bytes are an error, as for notepack.
func AppendJSONFromMsgpack(dst []byte, att [][]byte, msg []byte) ([]byte, [][]byte, error) {
	r := mpReader{b: msg, att: att}
	dst, err := r.value(dst, 0)
	if err == nil && r.i != len(msg) {
		err = ErrMsgpackTrailing
	}
	return dst, r.att, err
}

// mpReader reads msgpack from b at i.
type mpReader struct {
	b   []byte
	i   int
	att [][]byte
}

func (r *mpReader) take(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.i {
		return nil, ErrMsgpackTruncated
	}
	v := r.b[r.i : r.i+n : r.i+n]
	r.i += n
	return v, nil
}

func (r *mpReader) uint(size int) (uint64, error) {
	b, err := r.take(size)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// length reads a big-endian length of size bytes.
func (r *mpReader) length(size int) (int, error) {
	v, err := r.uint(size)
	if err != nil {
		return 0, err
	}
	if v > uint64(len(r.b)) { // cannot be there: refuse before any arithmetic
		return 0, ErrMsgpackTruncated
	}
	return int(v), nil
}

// mpKind is what a msgpack value is, after its header.
type mpKind uint8

const (
	mpNil mpKind = iota
	mpBool
	mpInt
	mpUint
	mpFloat
	mpStr
	mpBin
	mpArray
	mpMap
	mpExt
)

// mpHead is a decoded header: the kind, and the value or length it carries.
type mpHead struct {
	kind mpKind
	b    bool
	i    int64
	u    uint64
	f    float64
	n    int    // str / bin / ext byte length, array / map count
	ext  int8   // extension type
	fix  bool   // a fixext (d4 to d8) rather than an ext 8/16/32
	data []byte // str / bin / ext bytes
}

// head reads a value's header (and the bytes of a str, bin or ext).
func (r *mpReader) head() (h mpHead, err error) {
	if r.i >= len(r.b) {
		return h, ErrMsgpackTruncated
	}
	c := r.b[r.i]
	r.i++
	switch {
	case c <= 0x7f:
		return mpHead{kind: mpInt, i: int64(c)}, nil
	case c >= 0xe0:
		return mpHead{kind: mpInt, i: int64(int8(c))}, nil
	case c >= 0x80 && c <= 0x8f:
		return mpHead{kind: mpMap, n: int(c & 0x0f)}, r.count(2 * int(c&0x0f))
	case c >= 0x90 && c <= 0x9f:
		return mpHead{kind: mpArray, n: int(c & 0x0f)}, r.count(int(c & 0x0f))
	case c >= 0xa0 && c <= 0xbf:
		return r.bytesOf(mpStr, int(c&0x1f))
	}
	switch c {
	case 0xc0:
		return mpHead{kind: mpNil}, nil
	case 0xc2, 0xc3:
		return mpHead{kind: mpBool, b: c == 0xc3}, nil
	case 0xc4, 0xc5, 0xc6:
		n, err := r.length(1 << (c - 0xc4))
		if err != nil {
			return h, err
		}
		return r.bytesOf(mpBin, n)
	case 0xc7, 0xc8, 0xc9:
		n, err := r.length(1 << (c - 0xc7))
		if err != nil {
			return h, err
		}
		return r.extOf(n)
	case 0xca:
		v, err := r.uint(4)
		return mpHead{kind: mpFloat, f: float64(math.Float32frombits(uint32(v)))}, err
	case 0xcb:
		v, err := r.uint(8)
		return mpHead{kind: mpFloat, f: math.Float64frombits(v)}, err
	case 0xcc, 0xcd, 0xce, 0xcf:
		v, err := r.uint(1 << (c - 0xcc))
		return mpHead{kind: mpUint, u: v}, err
	case 0xd0, 0xd1, 0xd2, 0xd3:
		size := 1 << (c - 0xd0)
		v, err := r.uint(size)
		shift := 64 - 8*size
		return mpHead{kind: mpInt, i: int64(v<<shift) >> shift}, err
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return r.fixextOf(1 << (c - 0xd4))
	case 0xd9, 0xda, 0xdb:
		n, err := r.length(1 << (c - 0xd9))
		if err != nil {
			return h, err
		}
		return r.bytesOf(mpStr, n)
	case 0xdc, 0xdd:
		n, err := r.length(2 << (c - 0xdc))
		if err == nil {
			err = r.count(n)
		}
		return mpHead{kind: mpArray, n: n}, err
	case 0xde, 0xdf:
		n, err := r.length(2 << (c - 0xde))
		if err == nil {
			err = r.count(2 * n)
		}
		return mpHead{kind: mpMap, n: n}, err
	}
	return h, ErrMsgpack // 0xc1, never used
}

// count refuses a container whose n values cannot fit in what is left
// (each takes a byte at least).
func (r *mpReader) count(n int) error {
	if n > len(r.b)-r.i {
		return ErrMsgpackTruncated
	}
	return nil
}

func (r *mpReader) bytesOf(k mpKind, n int) (mpHead, error) {
	b, err := r.take(n)
	return mpHead{kind: k, n: n, data: b}, err
}

func (r *mpReader) extOf(n int) (mpHead, error) {
	if r.i >= len(r.b) {
		return mpHead{}, ErrMsgpackTruncated
	}
	t := int8(r.b[r.i])
	r.i++
	b, err := r.take(n)
	return mpHead{kind: mpExt, n: n, ext: t, data: b}, err
}

func (r *mpReader) fixextOf(n int) (mpHead, error) {
	h, err := r.extOf(n)
	h.fix = true
	return h, err
}

// undefined reads notepack 2.x's undefined (d4 00 xx) if it is next.
func (r *mpReader) undefined() bool {
	if len(r.b)-r.i >= 3 && r.b[r.i] == 0xd4 && r.b[r.i+1] == 0 {
		r.i += 3
		return true
	}
	return false
}

func (r *mpReader) value(dst []byte, depth int) ([]byte, error) {
	if depth > MaxJSONDepth {
		return dst, ErrJSONTooDeep
	}
	h, err := r.head()
	if err != nil {
		return dst, err
	}
	switch h.kind {
	case mpArray:
		dst = append(dst, '[')
		for k := 0; k < h.n; k++ {
			if k > 0 {
				dst = append(dst, ',')
			}
			if dst, err = r.value(dst, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case mpMap:
		dst = append(dst, '{')
		for k := 0; k < h.n; k++ {
			if k > 0 {
				dst = append(dst, ',')
			}
			if dst, err = r.key(dst, depth); err != nil {
				return dst, err
			}
			dst = append(dst, ':')
			if dst, err = r.value(dst, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	return r.scalar(dst, &h), nil
}

// scalar writes a value that is not a container.
func (r *mpReader) scalar(dst []byte, h *mpHead) []byte {
	switch h.kind {
	case mpNil:
		return append(dst, "null"...)
	case mpBool:
		return strconv.AppendBool(dst, h.b)
	case mpInt:
		return strconv.AppendInt(dst, h.i, 10)
	case mpUint:
		return strconv.AppendUint(dst, h.u, 10)
	case mpFloat:
		return AppendJSONFloat(dst, h.f)
	case mpStr:
		return AppendJSONStringBytes(dst, h.data)
	case mpBin:
		return r.bin(dst, h.data)
	case mpExt:
		return r.ext(dst, h)
	}
	return append(dst, "null"...)
}

func (r *mpReader) bin(dst, b []byte) []byte {
	dst = AppendPlaceholder(dst, len(r.att))
	r.att = append(r.att, b)
	return dst
}

// key writes a map key: a string as is, anything else as the JSON string
// of its value (as a JavaScript object key would be).
func (r *mpReader) key(dst []byte, depth int) ([]byte, error) {
	if r.i < len(r.b) {
		if c := r.b[r.i]; (c >= 0xa0 && c <= 0xbf) || c == 0xd9 || c == 0xda || c == 0xdb {
			h, err := r.head()
			if err != nil {
				return dst, err
			}
			return AppendJSONStringBytes(dst, h.data), nil
		}
	}
	natt := len(r.att)
	tmp, err := r.value(nil, depth+1)
	if err != nil {
		return dst, err
	}
	r.att = r.att[:natt] // a binary inside a key is only text there
	if len(tmp) > 0 && tmp[0] == '"' {
		return append(dst, tmp...), nil
	}
	return AppendJSONStringBytes(dst, tmp), nil
}

func (r *mpReader) ext(dst []byte, h *mpHead) []byte {
	raw := h.data
	switch h.ext {
	case -1: // timestamp: 32-bit seconds; 30-bit ns and 34-bit seconds; 32-bit ns and 64-bit seconds
		var sec int64
		var ns int64
		switch h.n {
		case 4:
			sec = int64(be32(raw))
		case 8:
			v := uint64(be32(raw))<<32 | uint64(be32(raw[4:]))
			sec, ns = int64(v&(1<<34-1)), int64(v>>34)
		case 12:
			ns = int64(be32(raw))
			sec = int64(uint64(be32(raw[4:]))<<32 | uint64(be32(raw[8:])))
		default:
			return append(dst, "null"...)
		}
		return appendISODate(dst, sec, ns)
	case 0: // notepack 2.x (socket.io-msgpack-parser's)
		switch {
		case !h.fix: // ext 8/16/32: an ArrayBuffer
			return r.bin(dst, raw)
		case h.n == 8: // fixext 8: a Date, int64 milliseconds
			ms := int64(uint64(be32(raw))<<32 | uint64(be32(raw[4:])))
			sec, rem := ms/1000, ms%1000
			if rem < 0 {
				sec, rem = sec-1, rem+1000
			}
			return appendISODate(dst, sec, rem*1e6)
		}
		// fixext 1: undefined (d4 00 00); other sizes: nothing JSON has
	}
	return append(dst, "null"...)
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// appendISODate writes the instant as Date#toJSON does
// ("2006-01-02T15:04:05.000Z", millisecond precision), or null outside the
// range a Date holds (±8.64e15 ms).
func appendISODate(dst []byte, sec, ns int64) []byte {
	const maxSec = 8.64e12
	if sec > maxSec || sec < -maxSec || ns < 0 || ns >= 1e9 {
		return append(dst, "null"...)
	}
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	dst = append(dst, '"')
	switch {
	case y < 0:
		dst = append(dst, '-')
		dst = pad(dst, -y, 6)
	case y > 9999:
		dst = append(dst, '+')
		dst = pad(dst, y, 6)
	default:
		dst = pad(dst, y, 4)
	}
	dst = append(dst, '-')
	dst = pad(dst, m, 2)
	dst = append(dst, '-')
	dst = pad(dst, d, 2)
	dst = append(dst, 'T')
	dst = pad(dst, rem/3600, 2)
	dst = append(dst, ':')
	dst = pad(dst, rem/60%60, 2)
	dst = append(dst, ':')
	dst = pad(dst, rem%60, 2)
	dst = append(dst, '.')
	dst = pad(dst, ns/1e6, 3)
	return append(dst, 'Z', '"')
}

func pad(dst []byte, v int64, width int) []byte {
	var b [20]byte
	s := strconv.AppendInt(b[:0], v, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// AppendJSONFloat writes f as JavaScript's Number#toString writes it, near
// enough for JSON (shortest round-trip digits, exponent form below 1e-6 and
// from 1e21); NaN and the infinities, which JSON cannot carry, become null
// as JSON.stringify writes them.
func AppendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
		// Go writes at least two exponent digits (1e-07); JavaScript one.
		if n := len(dst); n-start >= 4 && dst[n-2] == '0' && (dst[n-3] == '-' || dst[n-3] == '+') {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
		return dst
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// AppendJSONStringBytes writes s as a JSON string (invalid UTF-8 replaced
// by U+FFFD, as a JavaScript string decoded from it holds; U+2028 and
// U+2029 escaped).
func AppendJSONStringBytes(dst []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(dst, s[start:]...), '"')
}
