package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/bytebufferpool"

	"sio/codec"
)

// The emit encoder writes what encoding/json.Marshal writes, []byte values
// aside (they become attachments). These tests compare the two byte for
// byte: our JSON, with each placeholder replaced by the base64 string of its
// attachment, must be encoding/json's JSON exactly, and the placeholders
// must be numbered 0, 1, 2… in the order they appear.

// encTEncode encodes v as one emitted argument.
func encTEncode(v any) ([]byte, [][]byte, error) {
	var e encoder
	err := e.arg(v)
	return e.buf, e.attachments, err
}

const encTPlaceholderPrefix = `{"_placeholder":true,"num":`

// encTResolve replaces each placeholder of js by "base64 of its
// attachment", checking that they are numbered in order of appearance and
// that each attachment is used once.
func encTResolve(js []byte, att [][]byte) ([]byte, error) {
	var out []byte
	next := 0
	for {
		i := bytes.Index(js, []byte(encTPlaceholderPrefix))
		if i < 0 {
			break
		}
		rest := js[i+len(encTPlaceholderPrefix):]
		j := bytes.IndexByte(rest, '}')
		if j < 0 {
			return nil, fmt.Errorf("unterminated placeholder in %s", js)
		}
		n, err := strconv.Atoi(string(rest[:j]))
		if err != nil {
			return nil, fmt.Errorf("placeholder num %q: %v", rest[:j], err)
		}
		if n != next {
			return nil, fmt.Errorf("placeholder %d has num %d: not in order of appearance", next, n)
		}
		if n >= len(att) {
			return nil, fmt.Errorf("placeholder %d of %d attachments", n, len(att))
		}
		out = append(out, js[:i]...)
		out = append(out, '"')
		out = base64.StdEncoding.AppendEncode(out, att[n])
		out = append(out, '"')
		js = rest[j+1:]
		next++
	}
	if next != len(att) {
		return nil, fmt.Errorf("%d placeholders, %d attachments", next, len(att))
	}
	return append(out, js...), nil
}

// encTCompare encodes v and checks it against encoding/json: the same
// bytes (placeholders resolved), or the same error. It returns the number
// of attachments.
func encTCompare(v any) (int, error) {
	want, wantErr := json.Marshal(v)
	got, att, err := encTEncode(v)
	if wantErr != nil || err != nil {
		switch {
		case wantErr == nil:
			return 0, fmt.Errorf("error %v; encoding/json writes %s", err, want)
		case err == nil:
			return 0, fmt.Errorf("wrote %s; encoding/json fails: %v", got, wantErr)
		case err.Error() != wantErr.Error() || reflect.TypeOf(err) != reflect.TypeOf(wantErr):
			return 0, fmt.Errorf("error %T %v; encoding/json's %T %v", err, err, wantErr, wantErr)
		}
		return 0, nil
	}
	if !json.Valid(got) {
		return 0, fmt.Errorf("invalid JSON %q", got)
	}
	resolved, err := encTResolve(got, att)
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, got)
	}
	if !bytes.Equal(resolved, want) {
		return 0, fmt.Errorf("\n got  %s\n (resolved %s)\n want %s", got, resolved, want)
	}
	return len(att), nil
}

// --- types ------------------------------------------------------------------

type (
	encTStr    string
	encTInt    int32
	encTUint   uint16
	encTFloat  float64
	encTFloat2 float32
	encTBool   bool
	encTBlob   []byte      // named []byte: base64 for encoding/json, so binary
	encTByte   byte        // named byte: []encTByte is base64 too
	encTBytes  []encTByte  // …so binary
	encTNumber json.Number // a named json.Number is just a string
	EncTNamed  int         // exported non-struct type, embedded below
)

// encTTextByte is a byte that marshals as text: a slice of it is an array.
type encTTextByte byte

func (b *encTTextByte) MarshalText() ([]byte, error) { return []byte{'b', byte(*b)%26 + 'a'}, nil }

// encTValJSON marshals itself (value receiver), with spaces and HTML that
// encoding/json compacts and escapes.
type encTValJSON struct {
	N    int
	Data []byte // never walked: the type encodes itself
}

func (v encTValJSON) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(` { "n" : %d , "html" : "<&>" } `, v.N)), nil
}

// encTPtrJSON marshals itself with a pointer receiver: only where it is
// addressable, as encoding/json decides; elsewhere its fields are written.
type encTPtrJSON struct {
	N    int
	Data []byte `json:",omitempty"`
}

func (p *encTPtrJSON) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte(`"nil-ptr"`), nil
	}
	return []byte(`{"ptr":` + strconv.Itoa(p.N) + `}`), nil
}

type encTValText struct{ S string }

func (v encTValText) MarshalText() ([]byte, error) { return []byte("text:" + v.S), nil }

type encTPtrText struct {
	S    string
	Data []byte
}

func (p *encTPtrText) MarshalText() ([]byte, error) { return []byte("ptext:" + p.S), nil }

// encTBoth has MarshalJSON on the pointer and MarshalText on the value.
type encTBoth struct{ S string }

func (p *encTBoth) MarshalJSON() ([]byte, error) { return []byte(`"json"`), nil }
func (v encTBoth) MarshalText() ([]byte, error)  { return []byte("text"), nil }

type encTKey struct{ A, B int }

func (k encTKey) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("%d-%d", k.A, k.B)), nil }

type encTStrKeyText string // a string-kind key: its string is used, not MarshalText

func (k encTStrKeyText) MarshalText() ([]byte, error) { return []byte("T" + string(k)), nil }

type encTIntKeyText int // an int-kind key: MarshalText wins

func (k encTIntKeyText) MarshalText() ([]byte, error) { return []byte("i" + strconv.Itoa(int(k))), nil }

type encTPtrKey struct{ S string }

func (k *encTPtrKey) MarshalText() ([]byte, error) { return []byte("pk" + k.S), nil }

type encTErrJSON struct{ Data []byte }

func (encTErrJSON) MarshalJSON() ([]byte, error) { return nil, errors.New("boom") }

type encTBadJSON struct{}

func (encTBadJSON) MarshalJSON() ([]byte, error) { return []byte(`{bad`), nil }

type encTErrText struct{}

func (encTErrText) MarshalText() ([]byte, error) { return nil, errors.New("tboom") }

// encTEscJSON writes escapes that sonic would write differently for a Go
// string (\u0008): MarshalJSON output is kept as it is.
type encTEscJSON struct{}

func (encTEscJSON) MarshalJSON() ([]byte, error) { return []byte(`["\u0008\b\u000c\f\u0041"]`), nil }

// encTBadUTF8JSON writes invalid UTF-8, which encoding/json keeps.
type encTBadUTF8JSON struct{}

func (encTBadUTF8JSON) MarshalJSON() ([]byte, error) { return []byte("\"a\xffb\""), nil }

type encTZeroVal struct{ V int }

func (z encTZeroVal) IsZero() bool { return z.V == 42 }

type encTZeroPtr struct{ V int }

func (z *encTZeroPtr) IsZero() bool { return z == nil || z.V == 7 }

type encTOmit struct {
	B   bool           `json:",omitempty"`
	I   int            `json:",omitempty"`
	U   uint           `json:",omitempty"`
	F   float64        `json:",omitempty"`
	S   string         `json:",omitempty"`
	P   *int           `json:",omitempty"`
	A   any            `json:",omitempty"`
	Sl  []int          `json:",omitempty"`
	M   map[string]int `json:",omitempty"`
	Ar0 [0]int         `json:",omitempty"`
	Ar1 [1]int         `json:",omitempty"` // never empty
	St  struct{}       `json:",omitempty"` // never empty
	T   time.Time      `json:",omitempty"` // never empty
}

type encTOmitZero struct {
	T   time.Time       `json:",omitzero"`
	St  struct{ A int } `json:",omitzero"`
	Ar  [2]float64      `json:",omitzero"`
	Sl  []int           `json:",omitzero"` // nil is zero, empty is not
	ZV  encTZeroVal     `json:",omitzero"`
	ZVP *encTZeroVal    `json:",omitzero"`
	ZP  encTZeroPtr     `json:",omitzero"`
	ZPP *encTZeroPtr    `json:",omitzero"`
	ZI  interface {
		IsZero() bool
	} `json:",omitzero"`
	Both int `json:",omitempty,omitzero"`
}

type encTQuoted struct {
	I  int64       `json:",string"`
	U  uint8       `json:",string"`
	F  float64     `json:",string"`
	F3 float32     `json:",string"`
	B  bool        `json:",string"`
	S  string      `json:",string"`
	PI *int        `json:",string"`
	PS *string     `json:",string"`
	N  json.Number `json:",string"`
	Sl []int       `json:",string"` // not a scalar: option ignored
	M  encTValJSON `json:",string"` // marshaler: option ignored
	St encTStr     `json:"st,string,omitempty"`
}

type encTTags struct {
	Renamed  int    `json:"renamed"`
	Skipped  int    `json:"-"`
	Dash     int    `json:"-,"`
	Empty    int    `json:",omitempty"`
	Punct    int    `json:"!#$%&()*+-./:;<=>?@[]^_{|}~ "`
	Unicode  int    `json:"héllo_世界"`
	BadQuote int    `json:"a\"b"` // invalid name: the Go name is used
	BadSlash int    `json:"a\\b"`
	Comma    int    `json:"x,unknownopt"`
	Other    string `other:"tag"`
	private  int
}

type encTE1 struct {
	X  int
	Y  int
	Z1 int
}

type encTE2 struct {
	X  int `json:"X"` // tagged: wins over encTE1.X at the same depth
	Y  int // conflicts with encTE1.Y: both dropped
	Z2 int
}

type encTDeep struct{ encTE1 }

type encTEmbed struct {
	encTE1
	encTE2
	encTDeep // its X, Y, Z1 are deeper: hidden
	W        int
}

type encTEmbedPtr struct {
	*encTE1
	*encTPtrJSON // a pointer embedding a marshaler with its fields
	V            int
}

type encTEmbedTagged struct {
	encTE1    `json:"inner"` // unexported, named by its tag: a field
	EncTNamed                // exported non-struct: field "EncTNamed"
	encTInt                  // unexported non-struct: ignored
	Shadow    int            `json:"X"`
}

type encTEmbedIface struct {
	fmt.Stringer
	error `json:"err"`
}

type encTBinFields struct {
	Name  string    `json:"name"`
	Data  []byte    `json:"data"`
	Empty []byte    `json:"empty,omitempty"`
	Opt   *[]byte   `json:"opt,omitempty"`
	Blob  encTBlob  `json:"blob"`
	Many  [][]byte  `json:"many"`
	Pair  [2][]byte `json:"pair"`
	Skip  []byte    `json:"-"`
	hide  []byte
	Meta  any               `json:"meta"`
	ByKey map[string][]byte `json:"byKey"`
	ByInt map[int][]byte    `json:"byInt"`
	Raw   json.RawMessage   `json:"raw"`
	IP    net.IP            `json:"ip"`
}

type encTBinEmbedded struct {
	encTBinFields
	*encTE1
	Extra []byte
}

type encTBinQuoted struct {
	S   string `json:"s,string"`
	Bin []byte `json:"bin"`
}

type encTBinPtrJSON struct {
	Val  encTPtrJSON   // marshals only when addressable; else walked with its []byte
	Ptr  *encTPtrJSON  // marshals
	Sl   []encTPtrJSON // elements addressable: marshal
	Arr  [1]encTPtrJSON
	Text encTPtrText
	M    map[string]encTPtrJSON // map values: not addressable
	Bin  []byte
}

type encTNode struct {
	Name string
	Next *encTNode
}

type encTBinNode struct {
	Data []byte
	Next *encTBinNode
	Kids []*encTBinNode `json:",omitempty"`
}

type encTTime struct {
	T  time.Time
	PT *time.Time
	D  time.Duration
}

// --- the table ----------------------------------------------------------------

func encTPtr[T any](v T) *T { return &v }

type encTCase struct {
	name string
	v    any
	att  int // attachments expected (-1: an error is expected)
}

func encTCases() []encTCase {
	n := 5
	s := "s"
	bin := []byte{1, 2, 3}
	cyc := &encTNode{Name: "a"}
	cyc.Next = &encTNode{Name: "b", Next: cyc}
	cycMap := map[string]any{"k": 1}
	cycMap["self"] = cycMap
	cycSlice := []any{1, nil}
	cycSlice[1] = cycSlice
	binCyc := &encTBinNode{Data: []byte{1}}
	binCyc.Next = binCyc
	deep := any("leaf")
	for range 1200 { // deep but not cyclic: fine for encoding/json
		deep = []any{deep}
	}
	deepPtr := &encTBinNode{Data: []byte{9}}
	for range 1100 {
		deepPtr = &encTBinNode{Next: deepPtr}
	}
	when := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("X", 5*3600+30*60))

	return []encTCase{
		// scalars
		{"nil", nil, 0},
		{"true", true, 0},
		{"false", false, 0},
		{"int", 42, 0},
		{"int neg", -7, 0},
		{"int8", int8(math.MinInt8), 0},
		{"int16", int16(math.MaxInt16), 0},
		{"int32", int32(math.MinInt32), 0},
		{"int64 min", int64(math.MinInt64), 0},
		{"uint8", uint8(255), 0},
		{"uint16", uint16(65535), 0},
		{"uint32", uint32(math.MaxUint32), 0},
		{"uint64 max", uint64(math.MaxUint64), 0},
		{"uint", uint(9), 0},
		{"uintptr", uintptr(0xdead), 0},
		{"float zero", 0.0, 0},
		{"float -0", math.Copysign(0, -1), 0},
		{"float 0.1", 0.1, 0},
		{"float 1e21", 1e21, 0},
		{"float 1e20", 1e20, 0},
		{"float 1e-7", 1e-7, 0},
		{"float 1e-6", 1e-6, 0},
		{"float 9.99e-7", 9.99e-7, 0},
		{"float 5e-324", 5e-324, 0},
		{"float max", math.MaxFloat64, 0},
		{"float -1.5e-10", -1.5e-10, 0},
		{"float 123456789.125", 123456789.125, 0},
		{"float 2^53+", float64(1<<53) + 2, 0},
		{"float32 0.1", float32(0.1), 0},
		{"float32 1e21", float32(1e21), 0},
		{"float32 1e-7", float32(1e-7), 0},
		{"float32 -0", float32(math.Copysign(0, -1)), 0},
		{"float32 max", float32(math.MaxFloat32), 0},
		{"float32 1e-6 cutoff", float32(1e-6), 0},
		{"float32 smallest", float32(math.SmallestNonzeroFloat32), 0},
		// strings
		{"string empty", "", 0},
		{"string html", `<a href="x">&amp;</a>`, 0},
		{"string u2028", "a\u2028b\u2029c", 0},
		{"string controls", "\x00\x01\b\t\n\v\f\r\x1f\x7f", 0},
		{"string invalid utf8", "a\xffb\xc3(\xe2\x82\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf", 0},
		{"string unicode", "é日本語💬\ufffd\U0010FFFF", 0},
		{"string quotes", `"\'/`, 0},
		// named types
		{"named string", encTStr("<n>"), 0},
		{"named int", encTInt(-3), 0},
		{"named uint", encTUint(3), 0},
		{"named float", encTFloat(1e-9), 0},
		{"named float32", encTFloat2(0.3), 0},
		{"named bool", encTBool(true), 0},
		{"named number", encTNumber("1.5"), 0},
		// pointers and nils
		{"*int", &n, 0},
		{"**int", encTPtr(&n), 0},
		{"*string", &s, 0},
		{"nil *int", (*int)(nil), 0},
		{"nil *struct", (*encTE1)(nil), 0},
		{"*struct", &encTE1{1, 2, 3}, 0},
		{"nil []any", []any(nil), 0},
		{"nil map[string]any", map[string]any(nil), 0},
		{"nil []int", []int(nil), 0},
		{"nil map[int]int", map[int]int(nil), 0},
		{"nil []byte", []byte(nil), 0},
		{"nil in []any", []any{nil, (*int)(nil), []byte(nil), map[string]any(nil)}, 0},
		// arrays and slices
		{"[3]int", [3]int{1, 2, 3}, 0},
		{"[0]int", [0]int{}, 0},
		{"[2][2]string", [2][2]string{{"a", "<"}, {"c", "d"}}, 0},
		{"[3]byte is numbers", [3]byte{1, 2, 3}, 0},
		{"[]string", []string{"x", "y"}, 0},
		{"[][]int", [][]int{{1}, nil, {}}, 0},
		{"[]float64", []float64{1.5, -0.0, 1e300}, 0},
		{"[]encTTextByte", []encTTextByte{1, 2}, 0},
		// maps
		{"map[string]int", map[string]int{"b": 2, "a": 1, "<": 0, "": 3}, 0},
		{"map[int]string", map[int]string{10: "ten", -1: "neg", 9: "nine", 100: "h"}, 0},
		{"map[uint8]bool", map[uint8]bool{200: true, 3: false}, 0},
		{"map[int64]any", map[int64]any{math.MinInt64: nil, 0: "z"}, 0},
		{"map[uintptr]int", map[uintptr]int{7: 7}, 0},
		{"map text key", map[encTKey]int{{2, 1}: 1, {1, 10}: 2, {1, 2}: 3}, 0},
		{"map string-kind text key", map[encTStrKeyText]int{"b": 1, "a": 2}, 0},
		{"map int-kind text key", map[encTIntKeyText]int{3: 1, 20: 2}, 0},
		{"map ptr text key", map[*encTPtrKey]int{{"x"}: 1, nil: 2}, 0},
		{"map named string key", map[encTStr]float64{"z": 1, "y": 2}, 0},
		{"map[string]any nested", map[string]any{"z": []any{1, "a", map[string]any{"y": nil, "x": true}}, "a": 1.5}, 0},
		{"map[string]*int", map[string]*int{"nil": nil, "n": &n}, 0},
		{"map[string]any many keys", encTManyKeys(40), 0},
		// structs
		{"tags", encTTags{1, 2, 3, 0, 4, 5, 6, 7, 8, "o", 9}, 0},
		{"omitempty zero", encTOmit{}, 0},
		{"omitempty set", encTOmit{true, 1, 2, 3, "s", &n, 0, []int{}, map[string]int{}, [0]int{}, [1]int{}, struct{}{}, when}, 0},
		{"omitzero zero", encTOmitZero{ZV: encTZeroVal{42}, ZP: encTZeroPtr{7}, ZVP: &encTZeroVal{42}}, 0},
		{"omitzero set", encTOmitZero{T: when, Sl: []int{}, ZV: encTZeroVal{0}, ZP: encTZeroPtr{0}, ZI: encTZeroVal{1}, Both: 1}, 0},
		{"omitzero ptr receiver via ptr", &encTOmitZero{ZP: encTZeroPtr{7}}, 0},
		{"omitzero nil ptr in iface", encTOmitZero{ZI: (*encTZeroPtr)(nil)}, 0},
		{"quoted", encTQuoted{I: -1, U: 2, F: 1e21, F3: 0.1, B: true, S: "<a\"b\\\b\xff\u2028>", PI: &n, PS: &s, N: "12.5", Sl: []int{1}, M: encTValJSON{N: 1}, St: "q"}, 0},
		{"quoted zero", encTQuoted{}, 0},
		{"embedded conflicts", encTEmbed{encTE1{1, 2, 3}, encTE2{4, 5, 6}, encTDeep{encTE1{7, 8, 9}}, 10}, 0},
		{"embedded nil ptrs", encTEmbedPtr{V: 1}, 0},
		{"embedded ptrs", encTEmbedPtr{&encTE1{1, 2, 3}, &encTPtrJSON{N: 4}, 5}, 0},
		{"embedded ptrs via ptr", &encTEmbedPtr{&encTE1{1, 2, 3}, &encTPtrJSON{N: 4}, 5}, 0},
		{"embedded tagged unexported", encTEmbedTagged{encTE1{1, 2, 3}, 4, 5, 6}, 0},
		{"embedded interfaces", encTEmbedIface{error: errors.New("e")}, 0},
		{"anonymous struct", struct {
			A int `json:"a"`
			B struct{ C []string }
		}{1, struct{ C []string }{[]string{"c"}}}, 0},
		// marshalers
		{"MarshalJSON value recv", encTValJSON{N: 1, Data: bin}, 0},
		{"MarshalJSON value recv ptr", &encTValJSON{N: 2}, 0},
		{"MarshalJSON nil ptr", (*encTValJSON)(nil), 0},
		{"MarshalJSON ptr recv, not addressable", encTPtrJSON{N: 3}, 0},
		{"MarshalJSON ptr recv, ptr", &encTPtrJSON{N: 4}, 0},
		{"MarshalJSON ptr recv, nil ptr", (*encTPtrJSON)(nil), 0},
		{"MarshalJSON ptr recv, slice elems", []encTPtrJSON{{N: 5}}, 0},
		{"MarshalJSON ptr recv, array via ptr", &[1]encTPtrJSON{{N: 6}}, 0},
		{"MarshalJSON ptr recv, array value", [1]encTPtrJSON{{N: 7}}, 0},
		{"MarshalJSON ptr recv, map values", map[string]encTPtrJSON{"k": {N: 8}}, 0},
		{"MarshalJSON ptr recv, in any", []any{encTPtrJSON{N: 9}, &encTPtrJSON{N: 10}}, 0},
		{"MarshalText value recv", encTValText{"<v>"}, 0},
		{"MarshalText ptr recv, not addressable", encTPtrText{S: "a"}, 0},
		{"MarshalText ptr recv, ptr", &encTPtrText{S: "b"}, 0},
		{"MarshalJSON ptr + MarshalText value", encTBoth{"x"}, 0},
		{"MarshalJSON ptr + MarshalText value, ptr", &encTBoth{"x"}, 0},
		{"MarshalJSON escapes kept", encTEscJSON{}, 0},
		{"MarshalJSON in binary value", []any{encTEscJSON{}, []byte{1}}, 1},
		{"MarshalJSON invalid UTF-8 kept", encTBadUTF8JSON{}, 0},
		{"string \\b \\f", "a\bb\fc", 0},
		{"struct with \\b", encTE2{}, 0},
		{"map with \\b key", map[string]int{"\b": 1, "\f<": 2}, 0},
		{"named string with \\b", encTStr("x\by"), 0},
		{"time.Time", when, 0},
		{"*time.Time", &when, 0},
		{"time fields", encTTime{when, nil, 90 * time.Second}, 0},
		{"json.Number", json.Number("-1.5e+300"), 0},
		{"json.Number empty", json.Number(""), 0},
		{"big.Int", big.NewInt(0).Lsh(big.NewInt(1), 100), 0},
		{"big.Float", big.NewFloat(1.25), 0},
		{"big.Int value", *big.NewInt(12), 0},
		{"net.IP", net.IPv4(10, 0, 0, 1), 0},
		{"json.RawMessage field compacted", struct{ R json.RawMessage }{json.RawMessage(` [ 1 , "<" ] `)}, 0},
		{"nil json.RawMessage field", struct{ R json.RawMessage }{}, 0},
		{"interfaces nested", []any{map[string]any{"a": []any{encTE1{1, 2, 3}, &encTE2{}, any(encTStr("s"))}}}, 0},
		{"any field holding struct", struct{ A any }{encTOmit{I: 1}}, 0},
		// binary
		{"[]byte", bin, 1},
		{"[]byte empty", []byte{}, 1},
		{"named []byte", encTBlob{4, 5}, 1},
		{"[]namedbyte", encTBytes{6}, 1},
		{"*[]byte", &bin, 1},
		{"[][]byte", [][]byte{{1}, nil, {2}}, 2},
		{"[2][]byte", [2][]byte{{1}, {2}}, 2},
		{"map[string][]byte sorted", map[string][]byte{"b": {2}, "a": {1}, "c": {3}}, 3},
		{"map[int][]byte sorted as strings", map[int][]byte{9: {9}, 10: {10}, -1: {0}}, 3},
		{"[]any of binaries", []any{[]byte{1}, "x", map[string]any{"z": []byte{3}, "a": []byte{2}}, []any{[]byte{4}}}, 4},
		{"binary fields", encTBinFields{Name: "f", Data: []byte{1}, Opt: &bin, Blob: encTBlob{2}, Many: [][]byte{{3}}, Pair: [2][]byte{{4}, nil}, Skip: []byte{99}, hide: []byte{98}, Meta: []any{[]byte{5}}, ByKey: map[string][]byte{"y": {7}, "x": {6}}, ByInt: map[int][]byte{2: {8}}, Raw: json.RawMessage(`{"a" : 1}`), IP: net.IPv4(1, 2, 3, 4)}, 9},
		{"binary fields zero", encTBinFields{}, 0},
		{"binary fields via ptr", &encTBinFields{Data: []byte{}, Empty: []byte{}}, 1},
		{"binary embedded", encTBinEmbedded{encTBinFields{Data: []byte{1}}, &encTE1{X: 1}, []byte{2}}, 2},
		{"binary embedded nil ptr", encTBinEmbedded{Extra: []byte{2}}, 1},
		{"binary quoted sibling", encTBinQuoted{"<\b\xff>", []byte{1}}, 1},
		{"binary ptr-receiver marshalers, not addressable", encTBinPtrJSON{Val: encTPtrJSON{N: 1, Data: []byte{1}}, Ptr: &encTPtrJSON{N: 2}, Sl: []encTPtrJSON{{N: 3}}, Arr: [1]encTPtrJSON{{N: 4, Data: []byte{4}}}, Text: encTPtrText{S: "t", Data: []byte{5}}, M: map[string]encTPtrJSON{"k": {N: 6, Data: []byte{6}}}, Bin: []byte{7}}, 5},
		{"binary ptr-receiver marshalers, addressable", &encTBinPtrJSON{Val: encTPtrJSON{N: 1, Data: []byte{1}}, Arr: [1]encTPtrJSON{{N: 4, Data: []byte{4}}}, Text: encTPtrText{S: "t", Data: []byte{5}}, M: map[string]encTPtrJSON{"k": {N: 6, Data: []byte{6}}}, Bin: []byte{7}}, 2},
		{"binary inside MarshalJSON is not walked", encTValJSON{Data: []byte{1}}, 0},
		{"binary in struct in any", map[string]any{"s": encTBinFields{Data: []byte{1}}}, 1},
		{"binary deep ptr chain", deepPtr, 1},
		{"binary under deep []any", encTWrap(1100, []byte{1}), 1},
		{"deep []any", deep, 0},
		// errors
		{"NaN", math.NaN(), -1},
		{"+Inf", math.Inf(1), -1},
		{"float32 -Inf", float32(math.Inf(-1)), -1},
		{"NaN nested", map[string]any{"a": []any{1, math.NaN()}}, -1},
		{"NaN next to binary", struct {
			B []byte
			F float64
		}{[]byte{1}, math.Inf(-1)}, -1},
		{"NaN quoted", struct {
			F float64 `json:",string"`
			B []byte
		}{math.NaN(), nil}, -1},
		{"complex", complex(1, 2), -1},
		{"chan", make(chan int), -1},
		{"func", func() {}, -1},
		{"complex in any field with binary", struct {
			A any
			B []byte
		}{complex64(1), nil}, -1},
		{"unsupported map key", map[[2]int]int{{1, 2}: 3}, -1},
		{"unsupported map key, binary values", map[[2]int][]byte{{1, 2}: {3}}, -1},
		{"unsupported map key nil", map[[2]int][]byte(nil), -1},
		{"ptr-receiver text key", map[encTPtrKey]int{{"x"}: 1}, -1},
		{"cycle via ptr", cyc, -1},
		{"cycle via map[string]any", cycMap, -1},
		{"cycle via []any", cycSlice, -1},
		{"cycle via binary struct", binCyc, -1},
		{"MarshalJSON error", encTErrJSON{}, -1},
		{"MarshalJSON error next to binary", []any{[]byte{1}, encTErrJSON{}}, -1},
		{"MarshalJSON invalid", encTBadJSON{}, -1},
		{"MarshalText error", struct{ T encTErrText }{}, -1},
		{"MarshalText key error", map[encTErrTextKey][]byte{{}: nil}, -1},
		{"invalid json.Number", json.Number("1.2.3"), -1},
		{"invalid json.Number quoted next to binary", struct {
			N json.Number `json:",string"`
			B []byte
		}{"x", nil}, -1},
		{"time out of range", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), -1},
		// found by FuzzEncodeMatchesEncodingJSON: sonic differs from
		// encoding/json there, so these are walked
		{"omitempty float -0", encTOmitFloat{math.Copysign(0, -1), float32(math.Copysign(0, -1)), 0}, 0},
		{"omitempty float -0 via ptr", &encTOmitFloat{math.Copysign(0, -1), 1, math.Copysign(0, -1)}, 0},
		{"omitempty float -0 in plain struct", []encTOmitFloat{{F: math.Copysign(0, -1)}}, 0},
		{"map[bool]int", map[bool]int{true: 1}, -1},
		{"map[float64]int", map[float64]int{1.5: 1}, -1},
		{"map[float32][]byte nil", map[float32][]byte(nil), -1},
		{"quoted int with ptr-receiver MarshalJSON", encTQuotedMarshal{A: 1, B: encTPtr(encTIntJSON(2))}, 0},
		{"embedded nil ptr, not a marshaler", struct {
			*encTE1
			V any
		}{V: 1}, 0},
		{"quoted int with ptr-receiver MarshalJSON, addressable", &encTQuotedMarshal{A: 1, B: encTPtr(encTIntJSON(2))}, 0},
	}
}

type encTOmitFloat struct {
	F  float64 `json:",omitempty"`
	F3 float32 `json:",omitempty"`
	Z  float64 `json:",omitzero"`
}

// encTIntJSON is an int marshaling itself with a pointer receiver.
type encTIntJSON int

func (p *encTIntJSON) MarshalJSON() ([]byte, error) { return []byte(`"int-json"`), nil }

type encTQuotedMarshal struct {
	A encTIntJSON  `json:",string"` // quoted where not addressable, MarshalJSON where it is
	B *encTIntJSON `json:",string"`
	C encTValText  `json:",string"`
}

type encTErrTextKey struct{}

func (encTErrTextKey) MarshalText() ([]byte, error) { return nil, errors.New("kboom") }

func encTManyKeys(n int) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m[fmt.Sprintf("key%03d", (i*7)%n)] = []any{i, fmt.Sprint(i)}
	}
	return m
}

// encTWrap nests v in n levels of []any and map[string]any.
func encTWrap(n int, v any) any {
	for i := range n {
		if i%2 == 0 {
			v = []any{v}
		} else {
			v = map[string]any{"k": v}
		}
	}
	return v
}

func TestEncodeMatchesEncodingJSON(t *testing.T) {
	cases := encTCases()
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		// As the sole argument, and inside []any as an emit's arguments are.
		for _, v := range []any{tc.v, []any{tc.v}, []any{"event", tc.v, 1}} {
			att, err := encTCompare(v)
			if err != nil {
				t.Errorf("%s (%T): %v", tc.name, v, err)
				continue
			}
			_, wantErr := json.Marshal(v)
			if tc.att < 0 && wantErr == nil {
				t.Errorf("%s: encoding/json does not fail (test is wrong)", tc.name)
			}
			if tc.att >= 0 && att != tc.att {
				t.Errorf("%s: %d attachments, want %d", tc.name, att, tc.att)
			}
		}
	}
}

// TestEncodeEventMatchesEncodingJSON: the packet's JSON is the data array
// as encoding/json writes it, through both entry points.
func TestEncodeEventMatchesEncodingJSON(t *testing.T) {
	var data []any
	for _, tc := range encTCases() {
		if tc.att >= 0 {
			data = append(data, tc.v)
		}
	}
	want, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	text, att, err := encodeEvent("/nsp", 12, data, false)
	if err != nil {
		t.Fatal(err)
	}
	buf, text2, att2, err := encodeEventPooled("/nsp", 12, data, false)
	if err != nil {
		t.Fatal(err)
	}
	defer bytebufferpool.Put(buf)
	if !bytes.Equal(text, text2) || len(att) != len(att2) {
		t.Fatalf("encodeEvent and encodeEventPooled differ:\n%s\n%s", text, text2)
	}
	hdr := codec.AppendSIOHeader(nil, codec.SIOBinaryEvent, len(att), "/nsp", 12)
	if !bytes.HasPrefix(text, hdr) {
		t.Fatalf("header: %.40s, want %s", text, hdr)
	}
	resolved, err := encTResolve(text[len(hdr):], att)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resolved, want) {
		t.Errorf("packet data differs from encoding/json:\n got  %s\n want %s", resolved, want)
	}
	// The decoder takes it (without the cases it rejects on purpose: the
	// invalid UTF-8 a MarshalJSON wrote, nesting past its limit).
	text, att, err = encodeEvent("/nsp", 12, []any{"ev", encTBinFields{Data: []byte{1}, Meta: when()}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := codec.DecodeSIO(text, 1<<10); err != nil || p.Type != codec.SIOBinaryEvent || p.Attachments != len(att) || p.ID != 12 {
		t.Errorf("%s: %+v, %v", text, p, err)
	}
}

func when() time.Time { return time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC) }

// TestEncodeIntentionalDifferences: where the emit encoder does not write
// what encoding/json writes, on purpose.
func TestEncodeIntentionalDifferences(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want string
		std  string // encoding/json's output or error
	}{
		// Received JSON goes out byte for byte (json.RawMessage held in an
		// interface): encoding/json compacts and HTML-escapes it.
		{"raw message", json.RawMessage(` {"b": "<", "a" : 1} `), ` {"b": "<", "a" : 1} `, `{"b":"\u003c","a":1}`},
		{"raw message in []any", []any{json.RawMessage(`[1, 2]`)}, `[[1, 2]]`, `[[1,2]]`},
		{"raw message in map", map[string]any{"k": json.RawMessage("\"\\u0008\"")}, `{"k":"\u0008"}`, `{"k":"\u0008"}`},
		{"raw message in any field", struct{ A any }{json.RawMessage(`{ }`)}, `{"A":{ }}`, `{"A":{}}`},
		{"empty raw message", json.RawMessage{}, `null`, `json: error calling MarshalJSON for type json.RawMessage: unexpected end of JSON input`},
		{"invalid raw message", json.RawMessage(`{`), `{`, `json: error calling MarshalJSON for type json.RawMessage: unexpected end of JSON input`},
		// []byte: attachments.
		{"bytes", []byte("hi"), `{"_placeholder":true,"num":0}`, `"aGk="`},
	} {
		got, _, err := encTEncode(tc.v)
		std, stdErr := json.Marshal(tc.v)
		if stdErr != nil {
			std = []byte(stdErr.Error())
		}
		if err != nil || string(got) != tc.want || string(std) != tc.std {
			t.Errorf("%s: %s, %v; want %s (encoding/json: %s, test expects %s)", tc.name, got, err, tc.want, std, tc.std)
		}
	}
	// RawBinary passes through too, placeholders renumbered for the packet,
	// wherever it is (encoding/json would write its two fields).
	rb := RawBinary{JSON: json.RawMessage(`{"f" : {"_placeholder":true,"num":1},"g":{"_placeholder":true,"num":0}}`), Attachments: [][]byte{{'a'}, {'b'}}}
	type holder struct {
		Pre []byte
		RB  RawBinary
		P   *RawBinary
	}
	got, att, err := encTEncode(holder{[]byte{'p'}, rb, &rb})
	ph := func(n int) string { return fmt.Sprintf(`{"_placeholder":true,"num":%d}`, n) }
	want := `{"Pre":` + ph(0) + `,"RB":{"f" : ` + ph(1) + `,"g":` + ph(2) + `},"P":{"f" : ` + ph(3) + `,"g":` + ph(4) + `}}`
	if err != nil || string(got) != want || len(att) != 5 || string(bytes.Join(att, nil)) != "pbaba" {
		t.Errorf("RawBinary in a struct: %s %q %v\nwant %s", got, att, err, want)
	}
}

// TestEncodeStringAllBytes: every byte value, alone and around multi-byte
// runes, is escaped as encoding/json escapes it, on the fast path (a string
// argument) and through sonic (a named string type, a struct field).
func TestEncodeStringAllBytes(t *testing.T) {
	type wrap struct{ S string }
	for c := range 256 {
		for _, s := range []string{string([]byte{byte(c)}), "a" + string([]byte{byte(c)}) + "é\u2028", string([]byte{0xe2, byte(c)}), string([]byte{0xe2, 0x80, byte(c)})} {
			for _, v := range []any{s, encTStr(s), wrap{s}, map[string]int{s: 1}} {
				if _, err := encTCompare(v); err != nil {
					t.Fatalf("%q as %T: %v", s, v, err)
				}
			}
		}
	}
}

// TestEncodeFastPathAllocations: the common argument types cost nothing
// beyond the buffer.
func TestEncodeFastPathAllocations(t *testing.T) {
	e := encoder{buf: make([]byte, 0, 4096)}
	args := []any{"hello <world> & \u2028", 42, -1.5e-9, float32(3), true, nil, int64(7), uint8(1),
		json.RawMessage(`{"a":1}`), []any{"x", 1.5}, map[string]any{"b": 1, "a": "x", "c": []any{true}}}
	allocs := testing.AllocsPerRun(100, func() {
		e.buf = e.buf[:0]
		for _, a := range args {
			if err := e.arg(a); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

// TestEncodeSonicLeafEscapes: the in-place HTML escaping of sonic's output
// leaves what precedes it in the buffer alone.
func TestEncodeSonicLeafEscapes(t *testing.T) {
	type msg struct{ A, B string }
	e := encoder{buf: []byte(`prefix<&>`)}
	if err := e.arg(msg{"<&>\u2028", "\u2029x>"}); err != nil {
		t.Fatal(err)
	}
	if want := `prefix<&>{"A":"\u003c\u0026\u003e\u2028","B":"\u2029x\u003e"}`; string(e.buf) != want {
		t.Errorf("%s, want %s", e.buf, want)
	}
}

func TestEncodeNeedsWalk(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want bool
	}{
		{encTE1{}, false},
		{encTOmit{}, true}, // has an any field
		{encTQuoted{}, true},
		{encTTime{}, false},
		{encTBinFields{}, true},
		{encTValJSON{}, false},
		{encTPtrJSON{}, true}, // walked where not addressable
		{&encTPtrJSON{}, false},
		{json.RawMessage{}, false},
		{net.IP{}, false},
		{encTBytes{}, true},
		{[]encTTextByte{}, false},
		{RawBinary{}, true},
		{&encTNode{}, false},
		{&encTBinNode{}, true},
		{map[string]encTBinNode{}, true},
		{struct{ E encTEmbedTagged }{}, false},
	} {
		if got := needsWalk(reflect.TypeOf(tc.v)); got != tc.want {
			t.Errorf("needsWalk(%T) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// encTRecursiveA and B: B reaches []byte only through A, which is being
// examined when B is: needsWalk must still say yes for B.
type encTRecursiveA struct {
	B    *encTRecursiveB
	Data []byte
}

type encTRecursiveB struct{ A *encTRecursiveA }

func TestEncodeNeedsWalkRecursiveTypes(t *testing.T) {
	if !needsWalk(reflect.TypeFor[encTRecursiveA]()) || !needsWalk(reflect.TypeFor[encTRecursiveB]()) {
		t.Error("recursive types holding []byte not walked")
	}
	v := &encTRecursiveB{&encTRecursiveA{B: &encTRecursiveB{&encTRecursiveA{Data: []byte{1}}}, Data: []byte{2}}}
	if att, err := encTCompare(v); err != nil || att != 2 {
		t.Errorf("%d attachments, %v", att, err)
	}
}

// TestEncodeUnexportedEmbeddedMarshaler: a marshaler reachable only through
// an unexported embedded field named by a tag cannot be called (encoding/json
// panics): an error, not a panic. (Two of them, so that neither MarshalJSON
// is promoted to outer.)
func TestEncodeUnexportedEmbeddedMarshaler(t *testing.T) {
	type outer struct {
		encTPtrJSON `json:"x"`
		encTValJSON `json:"y"`
		B           []byte
	}
	v := &outer{B: []byte{1}}
	_, _, err := encTEncode(v)
	if err == nil || !strings.Contains(err.Error(), "unexported") {
		t.Errorf("err = %v", err)
	}
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		json.Marshal(v)
		return false
	}()
	if !panicked {
		t.Error("encoding/json does not panic (test is wrong)")
	}
	// The same for an IsZero method (omitzero).
	type outerZ struct {
		encTZeroVal `json:"z,omitzero"`
		B           []byte
	}
	_, _, err = encTEncode(outerZ{B: []byte{1}})
	if err == nil || !strings.Contains(err.Error(), "unexported") {
		t.Errorf("omitzero: err = %v", err)
	}
}

// TestEncodeSonicUsed: sonic's output is kept for ordinary values, and
// redone by encoding/json only in the cases it may differ.
func TestEncodeSonicUsed(t *testing.T) {
	for _, tc := range []struct {
		v  any
		ok bool
	}{
		{encBenchMessage{ID: "<&>", Tags: []string{"\u2028"}}, true},
		{encTOmitZero{T: when()}, true},
		{map[int]string{1: "x"}, true},
		{&encTPtrJSON{}, true},
		{"\b", false},          // \u0008 for encoding/json's \b
		{"\xff", false},        // invalid UTF-8
		{encTEscJSON{}, false}, // \u0008 written by a MarshalJSON
		{encTBadUTF8JSON{}, false},
		{math.NaN(), false},
	} {
		if _, ok := appendSonic(nil, tc.v); ok != tc.ok {
			t.Errorf("appendSonic(%#v) ok = %v", tc.v, ok)
		}
	}
}
