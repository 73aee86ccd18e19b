package socketio

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"

	sonicenc "github.com/bytedance/sonic/encoder"

	"sio/codec"
)

// encoder appends the JSON of emitted arguments. The JSON is byte for byte
// what encoding/json.Marshal writes for the same Go value (HTML-safe
// escaping, sorted map keys, its float format, embedded fields, tags,
// marshalers run where it runs them…), except:
//
//   - every []byte, and every other type encoding/json writes as base64 (a
//     named byte slice that is not a json.Marshaler or
//     encoding.TextMarshaler), becomes an attachment and is written as
//     {"_placeholder":true,"num":N}, numbered in the order the placeholders
//     appear in the output (depth first, as socket.io-parser's
//     deconstructPacket does). A nil one is null, as in encoding/json;
//   - a json.RawMessage passed as an argument or held in an interface value
//     (an element of []any, a value of map[string]any, an `any` field…) is
//     written byte for byte, where encoding/json would compact it, escape
//     <, > and & in it and reject it when invalid: received JSON (what
//     Args.Value returns) goes out unchanged. An empty one is null (an
//     error for encoding/json). A field declared as json.RawMessage is
//     encoded as encoding/json does;
//   - a RawBinary, wherever it is, is written as its JSON with its
//     placeholders renumbered for the packet, its attachments appended.
//
// Errors are encoding/json's, for the same cases: NaN and ±Inf (where
// JSON.stringify writes null: an emit fails rather than change a number),
// unsupported types and map keys, cycles, marshaler errors.
//
// How: the common argument types (string, bool, numbers, []any,
// map[string]any, []byte…) are written here without reflection or
// allocation. A value of another type goes whole to sonic when its type
// cannot hold []byte (needsWalk), checked against encoding/json (see
// sonicLeaf); otherwise it is walked as encoding/json walks it, the parts
// that cannot hold []byte going to sonic.
type encoder struct {
	buf         []byte
	attachments [][]byte

	// Cycle detection, as encoding/json does it: past a nesting of
	// startDetectingCyclesAfter maps, slices and pointers, every one on the
	// current path is remembered and meeting one again is an error.
	ptrLevel uint
	ptrSeen  map[any]struct{}
}

const startDetectingCyclesAfter = 1000

// arg appends the JSON of one argument. On error the buffer holds a partial
// value and must be dropped.
func (e *encoder) arg(v any) error {
	if err := e.any(v); err != nil {
		// Report what encoding/json reports for the same value (the same
		// message, the cycle named by the same type). Only when it fails
		// too: our own errors (a RawBinary with bad placeholders) stay.
		if stdErr := stdMarshalError(v); stdErr != nil {
			return stdErr
		}
		return err
	}
	return nil
}

// stdMarshalError is encoding/json.Marshal's error for v (nil where it
// panics: a marshaler reached through an unexported embedded field).
func stdMarshalError(v any) (err error) {
	defer func() {
		if recover() != nil {
			err = nil
		}
	}()
	_, err = json.Marshal(v)
	return err
}

// any encodes a value met through an interface: the common argument types
// without reflection or allocation, the rest by type.
func (e *encoder) any(v any) error {
	switch t := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.buf = appendJSONString(e.buf, t)
	case bool:
		e.buf = strconv.AppendBool(e.buf, t)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(t), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, t, 10)
	case int32:
		e.buf = strconv.AppendInt(e.buf, int64(t), 10)
	case int16:
		e.buf = strconv.AppendInt(e.buf, int64(t), 10)
	case int8:
		e.buf = strconv.AppendInt(e.buf, int64(t), 10)
	case uint:
		e.buf = strconv.AppendUint(e.buf, uint64(t), 10)
	case uint64:
		e.buf = strconv.AppendUint(e.buf, t, 10)
	case uint32:
		e.buf = strconv.AppendUint(e.buf, uint64(t), 10)
	case uint16:
		e.buf = strconv.AppendUint(e.buf, uint64(t), 10)
	case uint8:
		e.buf = strconv.AppendUint(e.buf, uint64(t), 10)
	case float64:
		return e.float(t, 64, false)
	case float32:
		return e.float(float64(t), 32, false)
	case json.RawMessage:
		if len(t) == 0 {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.buf = append(e.buf, t...)
	case []byte:
		e.binary(t)
	case RawBinary:
		return e.rawBinary(t)
	case []any:
		return e.anySlice(t)
	case map[string]any:
		return e.stringMap(t)
	default:
		rv := reflect.ValueOf(v)
		if ti := infoOf(rv.Type()); !ti.walk && !ti.scalar {
			return e.sonicLeaf(v) // v as given: no copy
		}
		return e.walk(rv, false)
	}
	return nil
}

func (e *encoder) anySlice(s []any) error {
	if s == nil {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	if e.ptrLevel++; e.ptrLevel > startDetectingCyclesAfter {
		key := sliceKey{unsafe.Pointer(unsafe.SliceData(s)), len(s)}
		if err := e.enter(key, reflect.ValueOf(s)); err != nil {
			return err
		}
		defer delete(e.ptrSeen, key)
	}
	e.buf = append(e.buf, '[')
	for i, x := range s {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.any(x); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, ']')
	e.ptrLevel--
	return nil
}

// stringMap writes a map[string]any with its keys sorted, as encoding/json
// does, without allocating for up to 16 keys.
func (e *encoder) stringMap(m map[string]any) error {
	if m == nil {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	if e.ptrLevel++; e.ptrLevel > startDetectingCyclesAfter {
		rv := reflect.ValueOf(m)
		key := rv.UnsafePointer()
		if err := e.enter(key, rv); err != nil {
			return err
		}
		defer delete(e.ptrSeen, key)
	}
	type kv struct {
		k string
		v any
	}
	var stack [16]kv
	kvs := stack[:0]
	for k, v := range m {
		kvs = append(kvs, kv{k, v})
	}
	slices.SortFunc(kvs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	e.buf = append(e.buf, '{')
	for i := range kvs {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendJSONString(e.buf, kvs[i].k)
		e.buf = append(e.buf, ':')
		if err := e.any(kvs[i].v); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	e.ptrLevel--
	return nil
}

type sliceKey struct {
	ptr unsafe.Pointer
	len int
}

type ptrKey struct {
	ptr unsafe.Pointer
	typ reflect.Type
}

// enter records a map, slice or pointer on the current path, deep enough
// that a cycle is suspected; meeting it twice is encoding/json's error.
func (e *encoder) enter(key any, v reflect.Value) error {
	if _, ok := e.ptrSeen[key]; ok {
		return &json.UnsupportedValueError{Value: v, Str: fmt.Sprintf("encountered a cycle via %s", v.Type())}
	}
	if e.ptrSeen == nil {
		e.ptrSeen = make(map[any]struct{})
	}
	e.ptrSeen[key] = struct{}{}
	return nil
}

// binary writes b as a placeholder and appends it to the attachments.
func (e *encoder) binary(b []byte) {
	if b == nil {
		e.buf = append(e.buf, "null"...) // as encoding/json writes a nil []byte
		return
	}
	e.buf = codec.AppendPlaceholder(e.buf, len(e.attachments))
	e.attachments = append(e.attachments, b)
}

// rawBinary copies received JSON, renumbering each placeholder for this
// packet.
func (e *encoder) rawBinary(r RawBinary) error {
	last := 0
	err := codec.Placeholders(r.JSON, len(r.Attachments), func(start, end, num int) {
		e.buf = append(e.buf, r.JSON[last:start]...)
		e.buf = codec.AppendPlaceholder(e.buf, len(e.attachments))
		e.attachments = append(e.attachments, r.Attachments[num])
		last = end
	})
	if err != nil {
		return err
	}
	e.buf = append(e.buf, r.JSON[last:]...)
	return nil
}

// float writes f as encoding/json does (shortest form that round-trips,
// exponent form below 1e-6 and from 1e21, -0 kept); NaN and ±Inf are its
// UnsupportedValueError.
func (e *encoder) float(f float64, bits int, quoted bool) error {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		var v reflect.Value
		if bits == 32 {
			v = reflect.ValueOf(float32(f))
		} else {
			v = reflect.ValueOf(f)
		}
		return &json.UnsupportedValueError{Value: v, Str: strconv.FormatFloat(f, 'g', -1, bits)}
	}
	if quoted {
		e.buf = append(e.buf, '"')
	}
	e.buf = appendFloat(e.buf, f, bits)
	if quoted {
		e.buf = append(e.buf, '"')
	}
	return nil
}

// appendFloat is encoding/json's float encoding (f is finite).
func appendFloat(b []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	// float32 comparisons for a float32, to get the cutoffs right.
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// htmlSafe marks the ASCII bytes encoding/json writes as they are.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString writes s as encoding/json does: `"` and `\` escaped, \b
// \f \n \r \t short, other control characters and <, >, & as \u00XX, U+2028
// and U+2029 escaped, invalid UTF-8 bytes each as \ufffd (the text goes out
// in a WebSocket text frame, which must be valid UTF-8).
func appendJSONString[S []byte | string](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		n := min(len(s)-i, utf8.UTFMax)
		r, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// --- values that are not walked: sonic, checked -----------------------------

// sonicOpts is sonic's ConfigStd without its two whole-output passes
// (EscapeHTML, ValidateString), which sonicLeaf does itself on the part it
// appended: ConfigStd would run them over the whole packet buffer.
const sonicOpts = sonicenc.SortMapKeys | sonicenc.CompactMarshaler

var sonicBufs = sync.Pool{New: func() any { return new([]byte) }}

// sonicLeaf appends the JSON of x, a value that holds no []byte, as
// encoding/json.Marshal(x) writes it. sonic writes it; where sonic's
// output can differ from encoding/json's, the value is encoded again by
// encoding/json (rare, and only the cost differs):
//   - sonic writes \b and \f as \u0008 and \u000c, encoding/json (since Go
//     1.22) short; a string holding one is rare, and the escape cannot be
//     rewritten blindly since a MarshalJSON may have written it;
//   - invalid UTF-8: encoding/json writes \ufffd for it in strings but
//     keeps it in MarshalJSON output, which sonic's pass cannot tell apart;
//   - any sonic error: encoding/json's error is reported, and sonic's
//     nesting limit is not encoding/json's (which only stops on cycles).
func (e *encoder) sonicLeaf(x any) error {
	start := len(e.buf)
	var ok bool
	if e.buf, ok = appendSonic(e.buf, x); ok {
		return nil
	}
	e.buf = e.buf[:start]
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	e.buf = append(e.buf, b...)
	return nil
}

// appendSonic appends sonic's encoding of x, HTML-escaped; false when it
// may differ from encoding/json's (dst then holds a partial value).
func appendSonic(dst []byte, x any) ([]byte, bool) {
	start := len(dst)
	// As far as escape analysis can tell, sonic keeps the *[]byte it is
	// given: &dst would move to the heap on every call. A pooled one
	// does not.
	hold := sonicBufs.Get().(*[]byte)
	*hold = dst
	err := sonicenc.EncodeInto(hold, x, sonicOpts)
	dst = *hold
	*hold = nil
	sonicBufs.Put(hold)
	if err != nil {
		return dst, false
	}
	if out := dst[start:]; !utf8.Valid(out) || hasShortEscapeDiff(out) {
		return dst, false
	}
	return escapeHTMLTail(dst, start), true
}

// hasShortEscapeDiff reports whether b holds \u0008 or \u000c.
func hasShortEscapeDiff(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\u000`))
		if i < 0 || i+5 >= len(b) {
			return false
		}
		if c := b[i+5]; c == '8' || c == 'c' {
			return true
		}
		b = b[i+5:]
	}
}

// escapeHTMLTail escapes <, >, &, U+2028 and U+2029 in b[start:] (valid
// UTF-8 JSON, so they are inside strings) in place, as encoding/json's
// HTML escaping writes them.
func escapeHTMLTail(b []byte, start int) []byte {
	extra := 0
	tail := b[start:]
	for i := 0; i < len(tail); i++ {
		switch tail[i] {
		case '<', '>', '&':
			extra += 5 // \u003c
		case 0xE2:
			if i+2 < len(tail) && tail[i+1] == 0x80 && tail[i+2]&^1 == 0xA8 {
				extra += 3 // \u2028
			}
		}
	}
	if extra == 0 {
		return b
	}
	n := len(b)
	b = slices.Grow(b, extra)[:n+extra]
	w := len(b)
	for r := n - 1; r >= start; r-- {
		c := b[r]
		switch {
		case c == '<' || c == '>' || c == '&':
			w -= 6
			copy(b[w:], []byte{'\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF]})
		case (c == 0xA8 || c == 0xA9) && r-2 >= start && b[r-1] == 0x80 && b[r-2] == 0xE2:
			w -= 6
			copy(b[w:], []byte{'\\', 'u', '2', '0', '2', hexDigits[c&0xF]})
			r -= 2
		default:
			w--
			b[w] = c
		}
	}
	return b
}

// --- values that may hold []byte: walked as encoding/json walks them --------

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	isZeroerType      = reflect.TypeFor[interface{ IsZero() bool }]()
	numberType        = reflect.TypeFor[json.Number]()
	rawBinaryType     = reflect.TypeFor[RawBinary]()
)

// walk encodes v, following encoding/json's encoders (newTypeEncoder) for
// the parts that may hold []byte and handing the others to sonicLeaf, with
// their address when they are addressable so that pointer-receiver
// marshalers run exactly where encoding/json runs them. quoted is the
// ",string" option of the field v was read from.
func (e *encoder) walk(v reflect.Value, quoted bool) error {
	t := v.Type()
	ti := infoOf(t)
	if ti.marshals || ti.ptrMarshals && v.CanAddr() {
		// newTypeEncoder's marshalers, a pointer receiver's only when the
		// value is addressable: sonic, given the address, calls the same.
		if !v.CanInterface() {
			// A struct embedded unexported and named by its tag is
			// readable by reflection only: encoding/json panics here.
			return fmt.Errorf("socketio: cannot call a marshaler of %s reached through an unexported field", t)
		}
		return e.leaf(v)
	}
	switch t.Kind() {
	case reflect.Bool:
		if quoted {
			e.buf = append(e.buf, '"')
		}
		e.buf = strconv.AppendBool(e.buf, v.Bool())
		if quoted {
			e.buf = append(e.buf, '"')
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if quoted {
			e.buf = append(e.buf, '"')
		}
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
		if quoted {
			e.buf = append(e.buf, '"')
		}
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if quoted {
			e.buf = append(e.buf, '"')
		}
		e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
		if quoted {
			e.buf = append(e.buf, '"')
		}
		return nil
	case reflect.Float32:
		return e.float(v.Float(), 32, quoted)
	case reflect.Float64:
		return e.float(v.Float(), 64, quoted)
	case reflect.String:
		return e.stringValue(v, quoted)
	}
	if t == rawBinaryType && v.CanInterface() {
		return e.rawBinary(v.Interface().(RawBinary))
	}
	if !ti.walk && !quoted && v.CanInterface() {
		return e.leaf(v)
	}
	switch t.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.any(v.Elem().Interface())
	case reflect.Struct:
		return e.structValue(v)
	case reflect.Map:
		return e.mapValue(v)
	case reflect.Slice:
		if isByteSlice(t) {
			if v.IsNil() {
				e.buf = append(e.buf, "null"...)
			} else {
				e.binary(v.Bytes())
			}
			return nil
		}
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		if e.ptrLevel++; e.ptrLevel > startDetectingCyclesAfter {
			key := sliceKey{v.UnsafePointer(), v.Len()}
			if err := e.enter(key, v); err != nil {
				return err
			}
			defer delete(e.ptrSeen, key)
		}
		if err := e.elements(v); err != nil {
			return err
		}
		e.ptrLevel--
		return nil
	case reflect.Array:
		return e.elements(v)
	case reflect.Pointer:
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		if e.ptrLevel++; e.ptrLevel > startDetectingCyclesAfter {
			key := ptrKey{v.UnsafePointer(), t}
			if err := e.enter(key, v); err != nil {
				return err
			}
			defer delete(e.ptrSeen, key)
		}
		if err := e.walk(v.Elem(), quoted); err != nil {
			return err
		}
		e.ptrLevel--
		return nil
	}
	return &json.UnsupportedTypeError{Type: t}
}

// leaf hands a value that holds no []byte to sonic, by address when it is
// addressable (encoding/json's view of it: pointer-receiver marshalers of it
// and of what it contains run).
func (e *encoder) leaf(v reflect.Value) error {
	if v.CanAddr() {
		return e.sonicLeaf(v.Addr().Interface())
	}
	return e.sonicLeaf(v.Interface())
}

func (e *encoder) stringValue(v reflect.Value, quoted bool) error {
	s := v.String()
	if v.Type() == numberType {
		if s == "" {
			s = "0" // json.Number's zero value, as encoding/json writes it
		}
		if !isValidNumber(s) {
			return fmt.Errorf("json: invalid number literal %q", s)
		}
		if quoted {
			e.buf = append(e.buf, '"')
		}
		e.buf = append(e.buf, s...)
		if quoted {
			e.buf = append(e.buf, '"')
		}
		return nil
	}
	if quoted {
		// The JSON string, itself as a JSON string.
		var tmp [64]byte
		e.buf = appendJSONString(e.buf, appendJSONString(tmp[:0], s))
		return nil
	}
	e.buf = appendJSONString(e.buf, s)
	return nil
}

func (e *encoder) elements(v reflect.Value) error {
	e.buf = append(e.buf, '[')
	for i, n := 0, v.Len(); i < n; i++ {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.walk(v.Index(i), false); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, ']')
	return nil
}

func (e *encoder) structValue(v reflect.Value) error {
	fields := cachedFields(v.Type())
	e.buf = append(e.buf, '{')
	first := true
next:
	for i := range fields {
		f := &fields[i]
		fv := v
		for _, j := range f.index {
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue next // a field of a nil embedded pointer
				}
				fv = fv.Elem()
			}
			fv = fv.Field(j)
		}
		if f.omitZero && f.zeroMethod && !fv.CanInterface() {
			return fmt.Errorf("socketio: cannot call IsZero of %s reached through an unexported field", fv.Type())
		}
		if f.omitEmpty && isEmptyValue(fv) || f.omitZero && f.isZero(fv) {
			continue
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.buf = append(e.buf, f.nameJSON...)
		if err := e.walk(fv, f.quoted); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

type mapEntry struct {
	key string
	v   reflect.Value
}

func (e *encoder) mapValue(v reflect.Value) error {
	t := v.Type()
	if !mapKeyOK(t.Key()) {
		return &json.UnsupportedTypeError{Type: t}
	}
	if v.IsNil() {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	if e.ptrLevel++; e.ptrLevel > startDetectingCyclesAfter {
		key := v.UnsafePointer()
		if err := e.enter(key, v); err != nil {
			return err
		}
		defer delete(e.ptrSeen, key)
	}
	entries := make([]mapEntry, 0, v.Len())
	for it := v.MapRange(); it.Next(); {
		k, err := mapKeyName(it.Key())
		if err != nil {
			return fmt.Errorf("json: encoding error for type %q: %q", t.String(), err.Error())
		}
		entries = append(entries, mapEntry{k, it.Value()})
	}
	slices.SortFunc(entries, func(a, b mapEntry) int { return strings.Compare(a.key, b.key) })
	e.buf = append(e.buf, '{')
	for i := range entries {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendJSONString(e.buf, entries[i].key)
		e.buf = append(e.buf, ':')
		if err := e.walk(entries[i].v, false); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	e.ptrLevel--
	return nil
}

// mapKeyName is encoding/json's resolveKeyName.
func mapKeyName(k reflect.Value) (string, error) {
	if k.Kind() == reflect.String {
		return k.String(), nil
	}
	if tm, ok := reflect.TypeAssert[encoding.TextMarshaler](k); ok {
		if k.Kind() == reflect.Pointer && k.IsNil() {
			return "", nil
		}
		b, err := tm.MarshalText()
		return string(b), err
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10), nil
	}
	return "", fmt.Errorf("unexpected map key type %s", k.Type())
}

// isByteSlice reports whether encoding/json writes values of t (a type that
// is not a marshaler) as base64.
func isByteSlice(t reflect.Type) bool {
	if t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Uint8 {
		return false
	}
	p := reflect.PointerTo(t.Elem())
	return !p.Implements(marshalerType) && !p.Implements(textMarshalerType)
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isValidNumber is encoding/json's check of a json.Number.
func isValidNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	default:
		return false
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}

// --- per-type facts, cached ------------------------------------------------

// typeInfo is what the encoder needs to know of a type.
type typeInfo struct {
	marshals    bool // a json.Marshaler or encoding.TextMarshaler
	ptrMarshals bool // not a pointer, and its pointer is one
	scalar      bool // bool, number or string kind, not a marshaler
	walk        bool // needsWalk
}

var infoCache sync.Map // reflect.Type → *typeInfo

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := infoCache.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{
		marshals: t.Implements(marshalerType) || t.Implements(textMarshalerType),
		walk:     computeNeedsWalk(t, map[reflect.Type]bool{}),
	}
	if t.Kind() != reflect.Pointer {
		p := reflect.PointerTo(t)
		ti.ptrMarshals = p.Implements(marshalerType) || p.Implements(textMarshalerType)
	}
	switch t.Kind() {
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		ti.scalar = !ti.marshals
	}
	actual, _ := infoCache.LoadOrStore(t, ti)
	return actual.(*typeInfo)
}

// needsWalk reports whether a value of type t must be walked rather than
// handed whole to sonic: it may hold a []byte (an interface may hold
// anything) or a RawBinary, or it has a part sonic encodes otherwise than
// encoding/json: a ",string" string field (the doubly quoted string is
// HTML-escaped once by sonic, twice by encoding/json), an "omitempty" float
// field (-0 is empty for encoding/json only), a map with keys encoding/json
// rejects (bool, float: sonic writes them).
// A json.Marshaler or encoding.TextMarshaler encodes itself and is never
// walked; a type whose pointer only is one is judged as if it were not
// (walk checks addressability before walking it).
func needsWalk(t reflect.Type) bool { return infoOf(t).walk }

func computeNeedsWalk(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t.Implements(marshalerType) || t.Implements(textMarshalerType) {
		return false
	}
	if t == rawBinaryType {
		return true
	}
	if seen[t] {
		return false // already answered false, or being answered higher up
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Slice:
		return isByteSlice(t) || computeNeedsWalk(t.Elem(), seen)
	case reflect.Pointer, reflect.Array:
		return computeNeedsWalk(t.Elem(), seen)
	case reflect.Map:
		// sonic writes bool and float keys, encoding/json rejects them.
		return !mapKeyOK(t.Key()) || computeNeedsWalk(t.Elem(), seen)
	case reflect.Struct:
		for _, f := range cachedFields(t) {
			switch {
			case f.quoted && f.typ.Kind() == reflect.String:
				return true
			case f.omitEmpty && (f.fieldType.Kind() == reflect.Float64 || f.fieldType.Kind() == reflect.Float32):
				// sonic's omitempty keeps -0, encoding/json's drops it.
				return true
			case computeNeedsWalk(f.fieldType, seen):
				return true
			}
		}
	}
	return false
}

// mapKeyOK reports whether encoding/json encodes maps with keys of type k.
func mapKeyOK(k reflect.Type) bool {
	switch k.Kind() {
	case reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return k.Implements(textMarshalerType)
}

// field is a JSON field of a struct, as encoding/json's typeFields finds
// them (embedded structs promoted, conflicts resolved).
type field struct {
	name       string
	nameJSON   string // `"name":`, HTML-escaped
	tag        bool
	index      []int
	typ        reflect.Type // the field's type, an unnamed pointer followed
	fieldType  reflect.Type // the field's type
	omitEmpty  bool
	omitZero   bool
	isZero     func(reflect.Value) bool
	zeroMethod bool // isZero calls an IsZero method
	quoted     bool
}

var fieldCache sync.Map // reflect.Type → []field

func cachedFields(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	f, _ := fieldCache.LoadOrStore(t, typeFields(t))
	return f.([]field)
}

// typeFields is encoding/json's: the fields of t, breadth first through
// embedded structs, with Go's rules for hidden fields modified by tags.
func typeFields(t reflect.Type) []field {
	current := []field{}
	next := []field{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	var fields []field

	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}

		for _, f := range current {
			if visited[f.typ] {
				continue
			}
			visited[f.typ] = true
			for i := 0; i < f.typ.NumField(); i++ {
				sf := f.typ.Field(i)
				if sf.Anonymous {
					t := sf.Type
					if t.Kind() == reflect.Pointer {
						t = t.Elem()
					}
					if !sf.IsExported() && t.Kind() != reflect.Struct {
						continue // embedded unexported non-struct
					}
					// An unexported embedded struct may have exported fields.
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !isValidTag(name) {
					name = ""
				}
				index := make([]int, len(f.index)+1)
				copy(index, f.index)
				index[len(f.index)] = i

				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				quoted := false
				if tagHas(opts, "string") {
					switch ft.Kind() {
					case reflect.Bool,
						reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
						reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
						reflect.Float32, reflect.Float64,
						reflect.String:
						quoted = true
					}
				}

				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					tagged := name != ""
					if name == "" {
						name = sf.Name
					}
					fd := field{
						name:      name,
						nameJSON:  `"` + string(appendHTMLEscape(nil, []byte(name))) + `":`,
						tag:       tagged,
						index:     index,
						typ:       ft,
						fieldType: sf.Type,
						omitEmpty: tagHas(opts, "omitempty"),
						omitZero:  tagHas(opts, "omitzero"),
						quoted:    quoted,
					}
					if fd.omitZero {
						fd.isZero, fd.zeroMethod = isZeroFunc(sf.Type)
					}
					fields = append(fields, fd)
					if count[f.typ] > 1 {
						// Several instances: a duplicate, so that the
						// annihilation below sees one.
						fields = append(fields, fields[len(fields)-1])
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, field{name: ft.Name(), index: index, typ: ft})
				}
			}
		}
	}

	slices.SortFunc(fields, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tag != b.tag {
			if a.tag {
				return -1
			}
			return +1
		}
		return slices.Compare(a.index, b.index)
	})

	// For each name, keep the dominant field: the shallowest, then the
	// tagged one; two at the same depth and taggedness hide each other.
	out := fields[:0]
	for advance, i := 0, 0; i < len(fields); i += advance {
		fi := fields[i]
		for advance = 1; i+advance < len(fields); advance++ {
			if fields[i+advance].name != fi.name {
				break
			}
		}
		if advance == 1 {
			out = append(out, fi)
			continue
		}
		if d := fields[i : i+advance]; !(len(d[0].index) == len(d[1].index) && d[0].tag == d[1].tag) {
			out = append(out, d[0])
		}
	}
	fields = out
	slices.SortFunc(fields, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return fields
}

// isZeroFunc is encoding/json's omitzero test for a field of type t, and
// whether it calls an IsZero method.
func isZeroFunc(t reflect.Type) (func(reflect.Value) bool, bool) {
	type isZeroer interface{ IsZero() bool }
	switch {
	case t.Kind() == reflect.Interface && t.Implements(isZeroerType):
		return func(v reflect.Value) bool {
			return v.IsNil() ||
				(v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil()) ||
				v.Interface().(isZeroer).IsZero()
		}, true
	case t.Kind() == reflect.Pointer && t.Implements(isZeroerType):
		return func(v reflect.Value) bool {
			return v.IsNil() || v.Interface().(isZeroer).IsZero()
		}, true
	case t.Implements(isZeroerType):
		return func(v reflect.Value) bool {
			return v.Interface().(isZeroer).IsZero()
		}, true
	case reflect.PointerTo(t).Implements(isZeroerType):
		return func(v reflect.Value) bool {
			if !v.CanAddr() {
				// Box v so that its address can be taken.
				v2 := reflect.New(v.Type()).Elem()
				v2.Set(v)
				v = v2
			}
			return v.Addr().Interface().(isZeroer).IsZero()
		}, true
	}
	return reflect.Value.IsZero, false
}

func tagHas(opts, name string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == name {
			return true
		}
	}
	return false
}

func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
			// Backslash and quote are reserved; other punctuation is
			// allowed in a name.
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// appendHTMLEscape is encoding/json's escaping of a field name.
func appendHTMLEscape(dst, src []byte) []byte {
	start := 0
	for i, c := range src {
		if c == '<' || c == '>' || c == '&' {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		}
		if c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8 {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF])
			start = i + len("\u2029")
		}
	}
	return append(dst, src[start:]...)
}
