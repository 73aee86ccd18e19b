package redisadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"sio/codec"
)

// The Node adapter encodes with notepack.io. Our messages are built as JSON
// (the values an application emits are encoded once, by the socketio
// encoder, with encoding/json's semantics and []byte as attachment
// placeholders) and transcoded here to msgpack, placeholders becoming bin;
// what arrives as msgpack is transcoded back to JSON plus attachments, so
// that the socketio layer sees what a client would have sent: key order
// kept, binary as attachments. The msgpack bytes themselves are written and
// read by vmihailenco/msgpack, set as notepack writes numbers (compact ints,
// integral floats as ints, other floats as float64).

var errMsgpack = errors.New("redisadapter: invalid msgpack")

// maxDepth bounds nesting when transcoding input from Redis.
const maxDepth = codec.MaxJSONDepth

// maxExt bounds an extension value's declared length (a lying length must
// not allocate).
const maxExt = 1 << 20

// newEncoder returns an encoder writing to buf, configured as notepack.
func newEncoder(buf *bytes.Buffer) *msgpack.Encoder {
	e := msgpack.NewEncoder(buf)
	e.UseCompactInts(true)
	e.UseCompactFloats(true)
	return e
}

// jsonToMsgpack writes the JSON value v (valid JSON, as the socketio encoder
// or encoding/json produce) to e, each attachment placeholder
// {"_placeholder":true,"num":N} as bin att[N].
func jsonToMsgpack(e *msgpack.Encoder, v []byte, att [][]byte) error {
	return jsonValue(e, v, att, 0)
}

func jsonValue(e *msgpack.Encoder, v []byte, att [][]byte, depth int) error {
	if depth > maxDepth {
		return codec.ErrJSONTooDeep
	}
	v = trimSpace(v)
	switch codec.Kind(v) {
	case codec.JSONObject:
		if n, ok := codec.PlaceholderNum(v); ok && n < len(att) {
			return e.EncodeBytes(att[n])
		}
		n := 0
		if err := codec.ObjectMembers(v, func(_, _ []byte) bool { n++; return true }); err != nil {
			return err
		}
		if err := e.EncodeMapLen(n); err != nil {
			return err
		}
		var err error
		if err2 := codec.ObjectMembers(v, func(k, val []byte) bool {
			var key string
			if key, err = unquote(k); err != nil {
				return false
			}
			if err = e.EncodeString(key); err != nil {
				return false
			}
			err = jsonValue(e, val, att, depth+1)
			return err == nil
		}); err2 != nil {
			return err2
		}
		return err
	case codec.JSONArray:
		n := 0
		if err := codec.ArrayElements(v, func(int, []byte) bool { n++; return true }); err != nil {
			return err
		}
		if err := e.EncodeArrayLen(n); err != nil {
			return err
		}
		var err error
		if err2 := codec.ArrayElements(v, func(_ int, el []byte) bool {
			err = jsonValue(e, el, att, depth+1)
			return err == nil
		}); err2 != nil {
			return err2
		}
		return err
	case codec.JSONString:
		s, err := unquote(v[1 : len(v)-1])
		if err != nil {
			return err
		}
		return e.EncodeString(s)
	case codec.JSONNumber:
		return encodeNumber(e, string(v))
	case codec.JSONTrue:
		return e.EncodeBool(true)
	case codec.JSONFalse:
		return e.EncodeBool(false)
	case codec.JSONNull:
		return e.EncodeNil()
	}
	return codec.ErrInvalidJSON
}

// encodeNumber writes a JSON number as notepack writes the JS number it
// stands for: an integral value as the smallest int form, any other as
// float64. Integers past ±2^64 are floats, as in JS.
func encodeNumber(e *msgpack.Encoder, s string) error {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return e.EncodeInt(i)
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return e.EncodeUint(u)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return err
	}
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return e.EncodeInt(int64(f))
	}
	return e.EncodeFloat64(f)
}

func trimSpace(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\n' || v[0] == '\t' || v[0] == '\r') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\n' || v[len(v)-1] == '\t' || v[len(v)-1] == '\r') {
		v = v[:len(v)-1]
	}
	return v
}

// unquote decodes the inside of a JSON string (escapes and all).
func unquote(raw []byte) (string, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw), nil
	}
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	err := json.Unmarshal(q, &s)
	return s, err
}

// msgpackToJSON transcodes one msgpack value to JSON, appending to dst;
// bin values become placeholders numbered after the attachments already in
// *att, to which they are appended. Extension types: notepack's Date (-1)
// becomes its ISO string as JSON.stringify writes it, the legacy
// ArrayBuffer (0) binary, the legacy undefined (d4 00 00) null; others null.
// Map keys that are not strings are written as JSON strings of their value.
func msgpackToJSON(dst []byte, d *msgpack.Decoder, att *[][]byte) ([]byte, error) {
	return mpValue(dst, d, att, 0)
}

// decodeMsgpack transcodes the one msgpack value msg holds (trailing bytes
// are an error, as for notepack) to JSON and its attachments.
func decodeMsgpack(msg []byte) (js []byte, att [][]byte, err error) {
	r := bytes.NewReader(msg)
	d := msgpack.NewDecoder(r)
	js, err = msgpackToJSON(make([]byte, 0, len(msg)+len(msg)/2), d, &att)
	if err == nil && r.Len() > 0 {
		err = errMsgpack
	}
	return js, att, err
}

func mpValue(dst []byte, d *msgpack.Decoder, att *[][]byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, codec.ErrJSONTooDeep
	}
	c, err := d.PeekCode()
	if err != nil {
		return dst, err
	}
	switch {
	case c == msgpcode.Nil:
		_ = d.DecodeNil()
		return append(dst, "null"...), nil
	case c == msgpcode.True || c == msgpcode.False:
		b, err := d.DecodeBool()
		return strconv.AppendBool(dst, b), err
	case msgpcode.IsFixedNum(c) || c == msgpcode.Int8 || c == msgpcode.Int16 || c == msgpcode.Int32 || c == msgpcode.Int64:
		i, err := d.DecodeInt64()
		return strconv.AppendInt(dst, i, 10), err
	case c == msgpcode.Uint8 || c == msgpcode.Uint16 || c == msgpcode.Uint32 || c == msgpcode.Uint64:
		u, err := d.DecodeUint64()
		return strconv.AppendUint(dst, u, 10), err
	case c == msgpcode.Float || c == msgpcode.Double:
		f, err := d.DecodeFloat64()
		if err != nil {
			return dst, err
		}
		return appendFloat(dst, f), nil
	case msgpcode.IsString(c):
		s, err := d.DecodeString()
		if err != nil {
			return dst, err
		}
		return appendString(dst, s), nil
	case msgpcode.IsBin(c):
		b, err := d.DecodeBytes()
		if err != nil {
			return dst, err
		}
		return appendBin(dst, b, att), nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return dst, err
		}
		dst = append(dst, '[')
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = mpValue(dst, d, att, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return dst, err
		}
		dst = append(dst, '{')
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = mpKey(dst, d, att, depth); err != nil {
				return dst, err
			}
			dst = append(dst, ':')
			if dst, err = mpValue(dst, d, att, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case msgpcode.IsExt(c):
		return mpExt(dst, d, att)
	}
	return dst, errMsgpack
}

// mpKey writes a map key: a string as is, anything else as the JSON string
// of its value (as a JS object key would be).
func mpKey(dst []byte, d *msgpack.Decoder, att *[][]byte, depth int) ([]byte, error) {
	c, err := d.PeekCode()
	if err != nil {
		return dst, err
	}
	if msgpcode.IsString(c) {
		s, err := d.DecodeString()
		return appendString(dst, s), err
	}
	var tmp []byte
	if tmp, err = mpValue(nil, d, att, depth+1); err != nil {
		return dst, err
	}
	if len(tmp) > 0 && tmp[0] == '"' {
		return append(dst, tmp...), nil
	}
	return appendString(dst, string(tmp)), nil
}

func mpExt(dst []byte, d *msgpack.Decoder, att *[][]byte) ([]byte, error) {
	id, n, err := d.DecodeExtHeader()
	if err != nil {
		return dst, err
	}
	if n < 0 || n > maxExt {
		return dst, errMsgpack
	}
	raw := make([]byte, n)
	if n > 0 {
		if err := d.ReadFull(raw); err != nil {
			return dst, err
		}
	}
	switch id {
	case -1: // timestamp: 4 bytes seconds, 8 bytes ns<<34|s, or 12 bytes ns + s64
		var t time.Time
		switch n {
		case 4:
			t = time.Unix(int64(be32(raw)), 0)
		case 8:
			v := be64(raw)
			t = time.Unix(int64(v&(1<<34-1)), int64(v>>34))
		case 12:
			t = time.Unix(int64(be64(raw[4:])), int64(be32(raw)))
		default:
			return dst, errMsgpack
		}
		return appendString(dst, t.UTC().Format("2006-01-02T15:04:05.000Z")), nil
	case 0:
		if n == 0 { // notepack 2.x undefined: d4 00 00 is fixext1 with one byte; an empty ext 0 is nothing
			return append(dst, "null"...), nil
		}
		if n == 1 && raw[0] == 0 {
			return append(dst, "null"...), nil
		}
		return appendBin(dst, raw, att), nil
	}
	return append(dst, "null"...), nil
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }

func appendBin(dst []byte, b []byte, att *[][]byte) []byte {
	dst = codec.AppendPlaceholder(dst, len(*att))
	*att = append(*att, b)
	return dst
}

// appendFloat writes f as JavaScript's Number#toString would, near enough
// for JSON (encoding/json's format); NaN and infinities, which JSON cannot
// carry, become null as JSON.stringify writes them.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	fmt := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmt = 'e'
	}
	return strconv.AppendFloat(dst, f, fmt, -1, 64)
}

// appendString writes s as a JSON string (invalid UTF-8 replaced by U+FFFD,
// as a JS string decoded from it would hold).
func appendString(dst []byte, s string) []byte {
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
		r, size := utf8.DecodeRuneInString(s[i:])
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
