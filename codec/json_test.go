package codec

import (
	"encoding/json"
	"strings"
	"testing"
)

// jsonValid and jsonInvalid are shared by the scanner tests and the
// FuzzJSONScanner seed corpus. encoding/json.Valid agrees with every row.
var jsonValid = []string{
	// Literals and numbers.
	`true`, `false`, `null`, `0`, `-0`, `1`, `-1`, `10`, `1234567890`, `0.5`, `-0.5`, `1.25`, `1e5`, `1E5`, `1e+5`,
	`1e-5`, `-1.5E-300`, `0e0`, `0.0e-0`, `123456789012345678901234567890`, `1.7976931348623157e309`,
	// Strings.
	`""`, `"a"`, `"\u00e9"`, `"\u00E9"`, `"\uD83D\uDCAC"`, `"\ud800"`, `"\"\\\/\b\f\n\r\t"`, `"é日本語💬"`,
	`"<>&"`, "\"\u2028\u2029\"", "\"\x7f\"", `"a\u0000b"`,
	// Containers.
	`[]`, `{}`, `[1]`, `[1,2,3]`, `{"a":1}`, `{"a":1,"b":[true,false,null]}`, `[[],{},[[]],{"":{}}]`,
	`{"a":{"b":{"c":[1,{"d":"e"}]}}}`, `{"a":1,"a":2}`, `[" ]",",","{"]`, `{"]":"}"}`,
	// Whitespace: space, tab, LF and CR around and between every token.
	" \t\r\n1 \t\r\n", "[ 1 , 2 ]", "{ \"a\" : 1 , \"b\" : [ ] }", "\n[\n]\n", "\t{\t}\t",
}

var jsonInvalid = []string{
	// Empty and stray bytes.
	``, ` `, `,`, `]`, `}`, `:`, `x`, "\x00", `'a'`, `undefined`, `NaN`, `Infinity`, `-Infinity`,
	// Literals.
	`tru`, `True`, `nul`, `nulll`, `falsey`, `t`,
	// Numbers.
	`-`, `+1`, `.5`, `1.`, `1.e5`, `01`, `-01`, `00`, `0x10`, `1e`, `1e+`, `1E-`, `1ee5`, `1.5.5`, `--1`, `- 1`, `1 2`,
	`0.`, `-.5`, `1e5.5`, `１`,
	// Strings.
	`"`, `"abc`, `"\"`, `"\x"`, `"\a"`, `"\'"`, `"\u"`, `"\u12"`, `"\u123"`, `"\u12G4"`, `"\U0041"`, "\"a\x01b\"",
	"\"\x1f\"", "\"\n\"", "\"\t\"", "\"\r\"", `'single'`, `"a"b"`,
	// Containers.
	`[`, `{`, `[1`, `[1,`, `[1,]`, `[,1]`, `[,]`, `[1 2]`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{a:1}`, `{"a":1,}`, `{,}`,
	`{"a":1 "b":2}`, `{1:2}`, `{"a":1]`, `[1}`, `[}`, `{]`, `[[]`, `[]]`, `{"a":{"b":1}`,
	// Trailing garbage.
	`1x`, `[]x`, `{} {}`, `"a""b"`, `truefalse`, `[],`, "1\x00", `nullnull`, "[]\v",
	// Whitespace JSON does not allow.
	"\v1", "\f1", "\u00a01", "\ufeff1", "[1,\u00a02]",
}

func scanErr(b []byte) error {
	var s scanner
	s.b = b
	return s.validate()
}

func TestValidJSON(t *testing.T) {
	for _, in := range jsonValid {
		if !ValidJSON([]byte(in)) {
			t.Errorf("ValidJSON(%q) = false", in)
		}
		if !json.Valid([]byte(in)) {
			t.Errorf("table: encoding/json refuses %q", in)
		}
	}
	for _, in := range jsonInvalid {
		if ValidJSON([]byte(in)) {
			t.Errorf("ValidJSON(%q) = true", in)
		}
		if err := scanErr([]byte(in)); err != ErrInvalidJSON {
			t.Errorf("scan(%q) = %v, want ErrInvalidJSON", in, err)
		}
		if json.Valid([]byte(in)) {
			t.Errorf("table: encoding/json accepts %q", in)
		}
	}
}

// TestValidJSONIgnoresUTF8: the scanner checks syntax only, as
// encoding/json.Valid does; UTF-8 is the transport's business.
func TestValidJSONIgnoresUTF8(t *testing.T) {
	for _, in := range []string{"\"\xff\"", "[\"\xed\xa0\x80\"]", "{\"\xc3\":1}"} {
		if !ValidJSON([]byte(in)) || !json.Valid([]byte(in)) {
			t.Errorf("%q: ValidJSON %v, json.Valid %v", in, ValidJSON([]byte(in)), json.Valid([]byte(in)))
		}
	}
	for _, in := range []string{"\xff", "[\xff]", "{\xff:1}"} {
		if ValidJSON([]byte(in)) {
			t.Errorf("%q accepted", in)
		}
	}
}

func nestedArrays(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func nestedObjects(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + `{}` + strings.Repeat("}", depth-1)
}

func TestValidJSONDepth(t *testing.T) {
	mixed := func(depth int) string {
		var open, close strings.Builder
		for i := range depth {
			if i%2 == 0 {
				open.WriteString(`[1,`)
				close.WriteString(`]`)
			} else {
				open.WriteString(`{"k":`)
				close.WriteString(`}`)
			}
		}
		c := close.String()
		// Inner-most container first when closing.
		r := []byte(c)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return open.String() + "null" + string(r)
	}
	for name, build := range map[string]func(int) string{"arrays": nestedArrays, "objects": nestedObjects, "mixed": mixed} {
		ok := build(MaxJSONDepth)
		if err := scanErr([]byte(ok)); err != nil {
			t.Errorf("%s: depth %d: %v", name, MaxJSONDepth, err)
		}
		if !json.Valid([]byte(ok)) {
			t.Fatalf("%s: test input is not JSON: %q", name, ok)
		}
		deep := build(MaxJSONDepth + 1)
		if err := scanErr([]byte(deep)); err != ErrJSONTooDeep {
			t.Errorf("%s: depth %d: %v, want ErrJSONTooDeep", name, MaxJSONDepth+1, err)
		}
		// Unclosed deep input is refused at the limit, not at the end.
		if err := scanErr([]byte(strings.Repeat("[", 1<<20))); err != ErrJSONTooDeep {
			t.Errorf("1M open brackets: %v", err)
		}
	}
	// Depth is the current nesting, not the number of containers seen.
	wide := "[" + strings.Repeat(nestedArrays(MaxJSONDepth-1)+",", 100) + "1]"
	if err := scanErr([]byte(wide)); err != nil {
		t.Errorf("100 siblings of depth %d: %v", MaxJSONDepth-1, err)
	}
	if err := scanErr([]byte("[" + nestedArrays(MaxJSONDepth) + "]")); err != ErrJSONTooDeep {
		t.Errorf("depth %d inside an array: %v", MaxJSONDepth+1, err)
	}
	deep := []byte(strings.Repeat("[", 1<<20))
	if allocs := testing.AllocsPerRun(10, func() { ValidJSON(deep) }); allocs != 0 {
		t.Errorf("deep input: %v allocations", allocs)
	}
}

func TestValidJSONDoesNotAllocate(t *testing.T) {
	for _, in := range append(append([]string{}, jsonValid...), jsonInvalid...) {
		b := []byte(in)
		if allocs := testing.AllocsPerRun(20, func() { ValidJSON(b) }); allocs != 0 {
			t.Fatalf("ValidJSON(%q): %v allocations", in, allocs)
		}
	}
}

func TestKind(t *testing.T) {
	for in, want := range map[string]JSONKind{
		`{}`: JSONObject, `[]`: JSONArray, `"x"`: JSONString, `0`: JSONNumber, `-1`: JSONNumber, `9`: JSONNumber,
		`true`: JSONTrue, `false`: JSONFalse, `null`: JSONNull, ``: JSONInvalid, ` 1`: JSONInvalid, `x`: JSONInvalid,
		`+1`: JSONInvalid, `.5`: JSONInvalid, `'a'`: JSONInvalid, `]`: JSONInvalid,
	} {
		if got := Kind([]byte(in)); got != want {
			t.Errorf("Kind(%q) = %d, want %d", in, got, want)
		}
	}
}

// nestedDoc is one document that every walker test takes apart.
const nestedDoc = ` { "a" : [ 1 , { "b" : [ true , null ] } , "x,]}" ] , "c\"d" : { } , "e" : -1.5e3 , "f" : [ [ ] , [ [ "g" ] ] ] } `

func TestSkipValue(t *testing.T) {
	doc := []byte(nestedDoc)
	end, err := SkipValue(doc, 0)
	if err != nil || end != len(doc)-1 {
		t.Fatalf("SkipValue(doc, 0) = %d, %v; want %d", end, err, len(doc)-1)
	}
	// From inside: every value, given the offset of the whitespace before it.
	for _, tt := range []struct {
		from int
		want string
	}{
		{strings.Index(nestedDoc, `[ 1`) - 1, `[ 1 , { "b" : [ true , null ] } , "x,]}" ]`},
		{strings.Index(nestedDoc, `{ "b"`), `{ "b" : [ true , null ] }`},
		{strings.Index(nestedDoc, `"x,]}"`), `"x,]}"`},
		{strings.Index(nestedDoc, `-1.5e3`) - 1, `-1.5e3`},
		{strings.Index(nestedDoc, `true`), `true`},
		{strings.Index(nestedDoc, `null`), `null`},
		{strings.Index(nestedDoc, `[ [ ]`), `[ [ ] , [ [ "g" ] ] ]`},
	} {
		end, err := SkipValue(doc, tt.from)
		if err != nil {
			t.Errorf("SkipValue(%d): %v", tt.from, err)
			continue
		}
		if got := strings.TrimLeft(string(doc[tt.from:end]), " "); got != tt.want {
			t.Errorf("SkipValue(%d) ends at %d: %q, want %q", tt.from, end, got, tt.want)
		}
	}
	// A value followed by anything: SkipValue stops after it.
	for in, want := range map[string]int{`1,2`: 1, `[1],`: 3, `"a"]`: 3, `{"a":[]}}`: 8, `  true  x`: 6} {
		if end, err := SkipValue([]byte(in), 0); err != nil || end != want {
			t.Errorf("SkipValue(%q) = %d, %v; want %d", in, end, err, want)
		}
	}
	for _, in := range []string{``, ` `, `[`, `{"a":`, `]`, `,1`, `[1,]`, `"abc`, nestedArrays(MaxJSONDepth + 1)} {
		if _, err := SkipValue([]byte(in), 0); err == nil {
			t.Errorf("SkipValue(%q) accepted", in)
		}
	}
	if _, err := SkipValue(doc, len(doc)); err == nil {
		t.Error("SkipValue at the end accepted")
	}
	if allocs := testing.AllocsPerRun(20, func() { SkipValue(doc, 0) }); allocs != 0 {
		t.Errorf("SkipValue: %v allocations", allocs)
	}
}

func TestArrayElements(t *testing.T) {
	var got []string
	collect := func(i int, e []byte) bool {
		if i != len(got) {
			t.Fatalf("index %d after %d elements", i, len(got))
		}
		got = append(got, string(e))
		return true
	}
	for in, want := range map[string][]string{
		`[]`:                             nil,
		` [ ] `:                          nil,
		`[1]`:                            {`1`},
		`[ 1 , "a" , null ]`:             {`1`, `"a"`, `null`},
		`[[1,[2]],{"a":[3]},"],[",-0.5]`: {`[1,[2]]`, `{"a":[3]}`, `"],["`, `-0.5`},
		"[\n{ \"k\" : [ ] }\t,\r[ ]\n]":  {`{ "k" : [ ] }`, `[ ]`},
		`["a",` + ph(0) + `,{"f":` + ph(1) + `}]`: {`"a"`, ph(0), `{"f":` + ph(1) + `}`},
	} {
		got = nil
		if err := ArrayElements([]byte(in), collect); err != nil {
			t.Errorf("ArrayElements(%q): %v", in, err)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("ArrayElements(%q) = %q, want %q", in, got, want)
		}
	}
	// The outer value of nestedDoc's "f" member.
	got = nil
	f := nestedDoc[strings.Index(nestedDoc, `[ [ ]`):]
	f = f[:len(f)-3]
	if err := ArrayElements([]byte(f), collect); err != nil || len(got) != 2 || got[0] != `[ ]` || got[1] != `[ [ "g" ] ]` {
		t.Errorf("ArrayElements(%q) = %q, %v", f, got, err)
	}
	// Early stop.
	n := 0
	if err := ArrayElements([]byte(`[1,2,3,4]`), func(i int, _ []byte) bool { n++; return i < 1 }); err != nil || n != 2 {
		t.Errorf("early stop: %d calls, %v", n, err)
	}
	// Not an array, or broken.
	for _, in := range []string{``, `{}`, `"[]"`, `1`, `[`, `[1`, `[1,`, `[1 2]`, `[1,]`, `[,]`, `[}`, `[1}`, nestedArrays(MaxJSONDepth + 2)} {
		err := ArrayElements([]byte(in), func(int, []byte) bool { return true })
		if err == nil {
			t.Errorf("ArrayElements(%q) accepted", in)
		}
	}
	arr := []byte(`["chat",{"user":"ann","text":"hello world"},[1,2,3],null]`)
	if allocs := testing.AllocsPerRun(20, func() {
		ArrayElements(arr, func(int, []byte) bool { return true })
	}); allocs != 0 {
		t.Errorf("ArrayElements: %v allocations", allocs)
	}
}

func TestObjectMembers(t *testing.T) {
	type kv struct{ k, v string }
	var got []kv
	collect := func(k, v []byte) bool { got = append(got, kv{string(k), string(v)}); return true }
	for in, want := range map[string][]kv{
		`{}`:    nil,
		` { } `: nil,
		nestedDoc: {
			{`a`, `[ 1 , { "b" : [ true , null ] } , "x,]}" ]`},
			{`c\"d`, `{ }`}, // raw key: escapes are not decoded
			{`e`, `-1.5e3`},
			{`f`, `[ [ ] , [ [ "g" ] ] ]`},
		},
		`{"a":1,"a":2}`:                    {{`a`, `1`}, {`a`, `2`}},
		`{"":""}`:                          {{``, `""`}},
		`{"_placeholder":true,"num":0}`:    {{`_placeholder`, `true`}, {`num`, `0`}},
		`{"\u005fplaceholder":true}`:       {{`\u005fplaceholder`, `true`}},
		"{\n\"k\"\t:\r{\"n\":[{}]}\n}":     {{`k`, `{"n":[{}]}`}},
		`{"}":"{","]":[],",":{"x":"}"}}`:   {{`}`, `"{"`}, {`]`, `[]`}, {`,`, `{"x":"}"}`}},
		`{"toString":"foo","__proto__":1}`: {{`toString`, `"foo"`}, {`__proto__`, `1`}},
	} {
		got = nil
		if err := ObjectMembers([]byte(in), collect); err != nil {
			t.Errorf("ObjectMembers(%q): %v", in, err)
		}
		if len(got) != len(want) {
			t.Errorf("ObjectMembers(%q) = %q, want %q", in, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("ObjectMembers(%q)[%d] = %q, want %q", in, i, got[i], want[i])
			}
		}
	}
	n := 0
	if err := ObjectMembers([]byte(`{"a":1,"b":2,"c":3}`), func(k, _ []byte) bool { n++; return string(k) != "b" }); err != nil || n != 2 {
		t.Errorf("early stop: %d calls, %v", n, err)
	}
	for _, in := range []string{``, `[]`, `"{}"`, `{`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `{"a":1,}`, `{a:1}`,
		`{"a" 1}`, `{"a":1 "b":2}`, `{"a":1]`, `{1:1}`, `{"a:1}`, `{"a":[}`} {
		if err := ObjectMembers([]byte(in), func(_, _ []byte) bool { return true }); err == nil {
			t.Errorf("ObjectMembers(%q) accepted", in)
		}
	}
	obj := []byte(`{"user":"ann","text":"hello world","n":[1,{"x":null}]}`)
	if allocs := testing.AllocsPerRun(20, func() {
		ObjectMembers(obj, func(_, _ []byte) bool { return true })
	}); allocs != 0 {
		t.Errorf("ObjectMembers: %v allocations", allocs)
	}
}

// TestWalkersAgreeWithEncodingJSON: the elements ArrayElements hands out are
// the ones encoding/json decodes into []json.RawMessage, byte for byte.
func TestWalkersAgreeWithEncodingJSON(t *testing.T) {
	for _, in := range jsonValid {
		b := []byte(in)
		switch Kind(b[firstNonSpace(b):]) {
		case JSONArray:
			var ref []json.RawMessage
			if err := json.Unmarshal(b, &ref); err != nil {
				t.Fatal(err)
			}
			var got []string
			ArrayElements(b, func(_ int, e []byte) bool { got = append(got, string(e)); return true })
			if len(got) != len(ref) {
				t.Fatalf("%q: %q vs %q", in, got, ref)
			}
			for i := range got {
				if got[i] != string(ref[i]) {
					t.Fatalf("%q: element %d %q vs %q", in, i, got[i], ref[i])
				}
			}
		case JSONObject:
			var ref map[string]json.RawMessage
			if err := json.Unmarshal(b, &ref); err != nil {
				t.Fatal(err)
			}
			last := map[string]string{}
			ObjectMembers(b, func(k, v []byte) bool {
				var key string
				if err := json.Unmarshal([]byte(`"`+string(k)+`"`), &key); err != nil {
					t.Fatalf("%q: key %q: %v", in, k, err)
				}
				last[key] = string(v)
				return true
			})
			if len(last) != len(ref) {
				t.Fatalf("%q: %q vs %q", in, last, ref)
			}
			for k, v := range ref {
				if last[k] != string(v) {
					t.Fatalf("%q: member %q = %q vs %q", in, k, last[k], v)
				}
			}
		}
	}
}
