package socketio

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

// encFuzz builds a JSON-shaped Go value from fuzz input: nested
// map[string]any and []any, strings of arbitrary bytes, numbers (edge
// floats included), bools, nil, []byte leaves, and structs of a fixed set of
// types filled field by field from the input.
type encFuzz struct {
	in     []byte
	binary bool // []byte leaves allowed
}

func (g *encFuzz) byte() byte {
	if len(g.in) == 0 {
		return 0
	}
	c := g.in[0]
	g.in = g.in[1:]
	return c
}

func (g *encFuzz) uint64() uint64 {
	var b [8]byte
	n := copy(b[:], g.in)
	g.in = g.in[n:]
	return binary.LittleEndian.Uint64(b[:])
}

func (g *encFuzz) bytes() []byte {
	n := int(g.byte() % 24)
	n = min(n, len(g.in))
	b := append([]byte(nil), g.in[:n]...)
	g.in = g.in[n:]
	return b
}

func (g *encFuzz) string() string {
	switch g.byte() % 8 {
	case 0:
		return ""
	case 1:
		return encFuzzStrings[int(g.byte())%len(encFuzzStrings)]
	}
	return string(g.bytes()) // arbitrary bytes: invalid UTF-8, controls, HTML
}

// key is a map key: never "_placeholder", so that a map cannot be taken
// for a placeholder when the output is checked.
func (g *encFuzz) key() string {
	if k := g.string(); k != "_placeholder" {
		return k
	}
	return "k"
}

var encFuzzStrings = []string{"a", "<script>", "&amp;", "\u2028\u2029", "\b\f\n\r\t", "\x00", "\x7f", "é", "💬", "\xff", "\xe2\x80", `"\`, "num", "_placeholder"}

var encFuzzFloats = []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e21, 1e20, 999999999999999900000, 1e-6, 1e-7, 9.999999e-7, 5e-324, math.MaxFloat64, -math.MaxFloat64, 1 << 53, 1<<53 + 1, 123456789.125, 1.5e300, math.SmallestNonzeroFloat64 * 3}

func (g *encFuzz) float() float64 {
	if g.byte()%2 == 0 {
		return encFuzzFloats[int(g.byte())%len(encFuzzFloats)]
	}
	f := math.Float64frombits(g.uint64())
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if g.byte()%8 != 0 {
			return 1.25 // mostly not an error, so that encodings are compared
		}
	}
	return f
}

// encFuzzTypes: structs with most of encoding/json's struct features, some
// walked (binary, any, ",string" strings), some handed whole to sonic.
var encFuzzTypes = []reflect.Type{
	reflect.TypeFor[encFuzzMsg](),
	reflect.TypeFor[encFuzzPlain](),
	reflect.TypeFor[encTEmbed](),
	reflect.TypeFor[encTEmbedPtr](),
	reflect.TypeFor[encTOmit](),
	reflect.TypeFor[encTOmitZero](),
	reflect.TypeFor[encTQuoted](),
	reflect.TypeFor[encTTags](),
	reflect.TypeFor[encTBinFields](),
	reflect.TypeFor[encTBinEmbedded](),
	reflect.TypeFor[encTBinQuoted](),
	reflect.TypeFor[encTBinPtrJSON](),
	reflect.TypeFor[encTTime](),
	reflect.TypeFor[encTEmbedTagged](),
	reflect.TypeFor[encTBinNode](),
	reflect.TypeFor[encTRecursiveA](),
	reflect.TypeFor[map[int][]byte](),
	reflect.TypeFor[map[encTKey]any](),
	reflect.TypeFor[[]encTPtrJSON](),
	reflect.TypeFor[[2]encTPtrText](),
	reflect.TypeFor[map[string]encTBinQuoted](),
	reflect.TypeFor[encTQuotedMarshal](),
	reflect.TypeFor[encTOmitFloat](),
	reflect.TypeFor[encTEmbedIface](),
	reflect.TypeFor[map[encTIntKeyText][]byte](),
	reflect.TypeFor[map[encTStrKeyText]any](),
	reflect.TypeFor[[2]encTValJSON](),
	reflect.TypeFor[*encTBoth](),
	reflect.TypeFor[map[uint16]*encTPtrJSON](),
}

type encFuzzMsg struct {
	ID       string            `json:"id"`
	User     *encFuzzPlain     `json:"user,omitempty"`
	Text     string            `json:"text"`
	Raw      []byte            `json:"raw,omitempty"`
	Meta     map[string]any    `json:"meta"`
	Items    []any             `json:"items,omitzero"`
	Count    uint16            `json:"count,string"`
	Score    float32           `json:"score"`
	At       time.Time         `json:"at"`
	Tags     map[int]string    `json:"tags,omitempty"`
	Files    map[string][]byte `json:"files"`
	Nested   []encFuzzMsg      `json:"nested,omitempty"`
	Ptr      encTPtrJSON       `json:"ptr"`
	Text2    encTPtrText       `json:"text2"`
	Skip     string            `json:"-"`
	internal int
}

type encFuzzPlain struct {
	encTE1
	Name   string             `json:"name"`
	Quoted int64              `json:"q,string"`
	F      float64            `json:"f,omitempty"`
	Opt    *string            `json:"opt,omitempty"`
	When   time.Time          `json:"when,omitzero"`
	Keys   map[encTKey]int    `json:"keys"`
	Ints   map[int8]string    `json:"ints"`
	Arr    [3]uint8           `json:"arr"`
	Val    encTValJSON        `json:"val"`
	Both   encTBoth           `json:"both"`
	Num    json.Number        `json:"num"`
	Named  encTStr            `json:"named"`
	Nested map[string][]int32 `json:"nested"`
}

// value is a JSON-shaped value.
func (g *encFuzz) value(depth int) any {
	op := g.byte()
	if depth > 4 {
		op %= 8 // leaves only
	}
	switch op % 16 {
	case 0:
		return nil
	case 1:
		return op&0x10 != 0
	case 2, 3:
		return g.string()
	case 4:
		return g.float()
	case 5:
		switch op >> 4 % 4 {
		case 0:
			return int64(g.uint64())
		case 1:
			return g.uint64()
		case 2:
			return float32(g.float())
		}
		return int(int8(g.byte()))
	case 6:
		if g.binary {
			if op&0x10 != 0 {
				return encTBlob(g.bytes())
			}
			return g.bytes()
		}
		return json.Number("-12.5e3")
	case 7:
		if op&0x10 != 0 {
			// compact, no HTML: written as encoding/json writes it
			return json.RawMessage([]string{`[1,"a"]`, `{"k":null}`, `"\u00e9"`, `-0.5e-3`}[g.byte()%4])
		}
		return encTStr(g.string())
	case 8, 9, 10:
		n := int(g.byte() % 6)
		if n == 5 {
			return []any(nil)
		}
		s := make([]any, n)
		for i := range s {
			s[i] = g.value(depth + 1)
		}
		return s
	case 11, 12, 13:
		n := int(g.byte() % 6)
		if n == 5 {
			return map[string]any(nil)
		}
		m := make(map[string]any, n)
		for range n {
			m[g.key()] = g.value(depth + 1)
		}
		return m
	default:
		t := encFuzzTypes[int(g.byte())%len(encFuzzTypes)]
		p := reflect.New(t)
		g.fill(p.Elem(), depth+1)
		if op&0x10 != 0 {
			return p.Interface() // addressable inside
		}
		return p.Elem().Interface()
	}
}

var encFuzzTimeType = reflect.TypeFor[time.Time]()

// fill sets v (settable) from the input.
func (g *encFuzz) fill(v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	if v.Type() == encFuzzTimeType {
		v.Set(reflect.ValueOf(time.Unix(int64(g.uint64()%(1<<35)), int64(g.uint64()%1e9)).UTC()))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(g.byte()&1 != 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(g.uint64()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(g.uint64())
	case reflect.Float32, reflect.Float64:
		v.SetFloat(g.float())
	case reflect.String:
		if v.Type() == numberType {
			v.SetString([]string{"0", "-1.5", "1e+300", "12345678901234567890"}[g.byte()%4])
			return
		}
		v.SetString(g.string())
	case reflect.Interface:
		if x := g.value(depth); x != nil && reflect.TypeOf(x).Implements(v.Type()) {
			v.Set(reflect.ValueOf(x))
		}
	case reflect.Pointer:
		if g.byte()%3 != 0 {
			p := reflect.New(v.Type().Elem())
			g.fill(p.Elem(), depth+1)
			v.Set(p)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if g.binary && g.byte()%4 != 0 {
				v.SetBytes(g.bytes())
			}
			return
		}
		n := int(g.byte() % 4)
		if n == 3 {
			return // nil
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			g.fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			g.fill(v.Index(i), depth+1)
		}
	case reflect.Map:
		n := int(g.byte() % 4)
		if n == 3 {
			return // nil
		}
		m := reflect.MakeMap(v.Type())
		for range n {
			k := reflect.New(v.Type().Key()).Elem()
			if k.Kind() == reflect.String {
				k.SetString(g.key())
			} else {
				g.fill(k, depth+1)
			}
			e := reflect.New(v.Type().Elem()).Elem()
			g.fill(e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			switch {
			case f.CanSet():
				g.fill(f, depth+1)
			case v.Type().Field(i).Anonymous && f.Kind() == reflect.Struct:
				g.fill(f, depth+1) // unexported embedded: its exported fields
			}
		}
	}
}

// FuzzEncodeMatchesEncodingJSON: for random JSON-shaped values, our JSON
// (placeholders resolved to base64, numbered in order of appearance) is
// encoding/json's, or both fail alike.
func FuzzEncodeMatchesEncodingJSON(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x0b\x03\x02\x04<&>\x01\x11"))
	f.Add([]byte("\x08\x04\x0e\x00\x02\x06\xff\xfe\x0d\x02\x06\x00\x01\x02"))
	f.Add([]byte("\x1e\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte("\x0f\x08\x03\x02\x03\x08\xe2\x80\xa8\x1b\x05\x06\x01\x02\x03"))
	for i := range len(encFuzzTypes) {
		f.Add([]byte{0x1e, byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		f.Add([]byte{0x0e, byte(i), 0xff, 0x80, 3, 0xe2, 0x80, 0xa9, '<', 9, 10, 11, 12, 13, 14, 15, 16})
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, binary := range []bool{false, true} {
			g := &encFuzz{in: in, binary: binary}
			v := []any{g.value(0), g.value(0)}
			att, err := encTCompare(v)
			if err != nil {
				t.Fatalf("binary %v: %#v: %v", binary, v, err)
			}
			if !binary && att != 0 {
				t.Fatalf("%d attachments without []byte: %#v", att, v)
			}
		}
	})
}
