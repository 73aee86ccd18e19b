package socketio

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"

	"sio/codec"
)

// encoder appends JSON for emitted arguments, moving []byte values (at any
// depth) into attachments, in depth-first order as socket.io-parser does.
type encoder struct {
	buf         []byte
	attachments [][]byte
}

func (e *encoder) arg(v any) error {
	switch t := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.buf = appendJSONString(e.buf, t)
	case json.RawMessage:
		if len(t) == 0 {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.buf = append(e.buf, t...)
	case []byte:
		e.buf = codec.AppendPlaceholder(e.buf, len(e.attachments))
		e.attachments = append(e.attachments, t)
	case RawBinary:
		// Copy the JSON, renumbering each placeholder for this packet.
		last := 0
		err := codec.Placeholders(t.JSON, len(t.Attachments), func(start, end, num int) {
			e.buf = append(e.buf, t.JSON[last:start]...)
			e.buf = codec.AppendPlaceholder(e.buf, len(e.attachments))
			e.attachments = append(e.attachments, t.Attachments[num])
			last = end
		})
		if err != nil {
			return err
		}
		e.buf = append(e.buf, t.JSON[last:]...)
	case bool:
		if t {
			e.buf = append(e.buf, "true"...)
		} else {
			e.buf = append(e.buf, "false"...)
		}
	case int:
		e.buf = appendInt(e.buf, int64(t))
	case int64:
		e.buf = appendInt(e.buf, t)
	case int32:
		e.buf = appendInt(e.buf, int64(t))
	case uint:
		e.buf = appendUint(e.buf, uint64(t))
	case uint64:
		e.buf = appendUint(e.buf, t)
	case uint32:
		e.buf = appendUint(e.buf, uint64(t))
	case float64:
		e.buf = appendFloat(e.buf, t, 64)
	case float32:
		e.buf = appendFloat(e.buf, float64(t), 32)
	case []any:
		if t == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.buf = append(e.buf, '[')
		for i, x := range t {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.arg(x); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	case map[string]any:
		if t == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.buf = append(e.buf, '{')
		i := 0
		for k, x := range t {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			i++
			e.buf = appendJSONString(e.buf, k)
			e.buf = append(e.buf, ':')
			if err := e.arg(x); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, '}')
	default:
		if mayHoldBinary(reflect.TypeOf(v)) {
			return e.reflectValue(reflect.ValueOf(v))
		}
		b, err := jsonAPI.Marshal(v)
		if err != nil {
			return err
		}
		e.buf = append(e.buf, b...)
	}
	return nil
}

// reflectValue walks composite values that may hold []byte so that every
// binary ends up as an attachment, as Node's hasBinary/deconstructPacket do.
func (e *encoder) reflectValue(v reflect.Value) error {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		v = v.Elem()
	}
	t := v.Type()
	switch {
	case !mayHoldBinary(t): // json.Marshaler types (json.RawMessage…) included
		return e.arg(v.Interface())
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return e.arg(v.Bytes())
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.buf = append(e.buf, '[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.reflectValue(v.Index(i)); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("socketio: cannot encode map with %s keys", t.Key())
		}
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.buf = append(e.buf, '{')
		for i, it := 0, v.MapRange(); it.Next(); i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendJSONString(e.buf, it.Key().String())
			e.buf = append(e.buf, ':')
			if err := e.reflectValue(it.Value()); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, '}')
	case reflect.Struct:
		e.buf = append(e.buf, '{')
		n := 0
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, omitEmpty, skip := jsonFieldName(f)
			if skip || (omitEmpty && v.Field(i).IsZero()) {
				continue
			}
			if n > 0 {
				e.buf = append(e.buf, ',')
			}
			n++
			e.buf = appendJSONString(e.buf, name)
			e.buf = append(e.buf, ':')
			if err := e.reflectValue(v.Field(i)); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, '}')
	default:
		return e.arg(v.Interface())
	}
	return nil
}

var binaryTypes = map[reflect.Type]bool{}

var bytesType = reflect.TypeOf([]byte(nil))

// mayHoldBinary reports whether values of t can contain a []byte (interface
// types can, dynamically).
func mayHoldBinary(t reflect.Type) bool {
	return mayHoldBinaryDepth(t, 0)
}

func mayHoldBinaryDepth(t reflect.Type, depth int) bool {
	if depth > 16 {
		return false
	}
	if t.Kind() != reflect.Interface && t.Implements(jsonMarshalerType) {
		return false // it encodes itself: json.RawMessage is JSON, not binary
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer:
		return mayHoldBinaryDepth(t.Elem(), depth+1)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return true
		}
		return mayHoldBinaryDepth(t.Elem(), depth+1)
	case reflect.Array, reflect.Map:
		return mayHoldBinaryDepth(t.Elem(), depth+1)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).IsExported() && mayHoldBinaryDepth(t.Field(i).Type, depth+1) {
				return true
			}
		}
	}
	return false
}

var jsonMarshalerType = reflect.TypeOf((*json.Marshaler)(nil)).Elem()

func jsonFieldName(f reflect.StructField) (name string, omitEmpty, skip bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false, true
	}
	name = f.Name
	for i, part := range splitComma(tag) {
		if i == 0 && part != "" {
			name = part
		} else if part == "omitempty" {
			omitEmpty = true
		}
	}
	return name, omitEmpty, false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// appendFloat writes a number as JSON.stringify does: -0 as 0, NaN and
// ±Infinity as null, otherwise the shortest representation that round-trips.
func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return append(dst, "null"...)
	case f == 0:
		return append(dst, '0')
	}
	abs := math.Abs(f)
	if abs >= 1e21 || abs < 1e-6 {
		b := strconv.AppendFloat(dst, f, 'e', -1, bits)
		// Go writes e-07 / e+21; JavaScript writes e-7 / e+21.
		n := len(b)
		if n >= 4 && b[n-2] == '0' && (b[n-3] == '-' || b[n-3] == '+') {
			b = append(b[:n-2], b[n-1])
		}
		return b
	}
	return strconv.AppendFloat(dst, f, 'f', -1, bits)
}

func appendInt(dst []byte, n int64) []byte {
	if n < 0 {
		dst = append(dst, '-')
		return appendUint(dst, uint64(-n))
	}
	return appendUint(dst, uint64(n))
}

func appendUint(dst []byte, n uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}

// appendJSONString writes s as JSON.stringify does: only quotes, backslashes
// and control characters are escaped (no HTML escaping; U+2028/2029 kept).
// Invalid UTF-8 becomes \ufffd, as with encoding/json: the text goes out in a
// WebSocket text frame, which must be valid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			if r, size := utf8.DecodeRuneInString(s[i:]); r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				start = i + 1
			} else {
				i += size - 1
			}
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
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
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, `\u00`...)
			dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
