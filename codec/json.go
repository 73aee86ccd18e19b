package codec

import "errors"

// Errors of the JSON scanner.
var (
	ErrInvalidJSON  = errors.New("json: invalid syntax")
	ErrJSONTooDeep  = errors.New("json: nesting too deep")
	errPlaceholder  = errors.New("sio: illegal attachments")
	errPlaceholders = errors.New("sio: too many placeholders")
)

// MaxJSONDepth bounds nesting in payloads: deeper input is refused rather
// than risking the stack or quadratic work.
const MaxJSONDepth = 128

// JSONKind is the type of a JSON value, from its first byte.
type JSONKind uint8

// JSON value kinds.
const (
	JSONInvalid JSONKind = iota
	JSONObject
	JSONArray
	JSONString
	JSONNumber
	JSONTrue
	JSONFalse
	JSONNull
)

// Kind returns the kind of the JSON value starting at v[0].
func Kind(v []byte) JSONKind {
	if len(v) == 0 {
		return JSONInvalid
	}
	switch c := v[0]; {
	case c == '{':
		return JSONObject
	case c == '[':
		return JSONArray
	case c == '"':
		return JSONString
	case c == '-' || (c >= '0' && c <= '9'):
		return JSONNumber
	case c == 't':
		return JSONTrue
	case c == 'f':
		return JSONFalse
	case c == 'n':
		return JSONNull
	}
	return JSONInvalid
}

// placeholderSet records the attachment placeholders found in a payload.
type placeholderSet struct {
	count int
	seen  [4]uint64 // bitset of nums, for duplicates (nums < 256)
}

// frame is one open container; 4 bytes so the stack stays small.
type frame struct {
	flags uint8  // frameArray, framePh, frameNum, frameBadNum
	keys  uint8  // members seen, saturating at 255
	num   uint16 // the `num` member, when frameNum
	start int32  // offset of the opening bracket
}

const (
	frameArray  uint8 = 1 << iota
	framePh           // `"_placeholder":true` seen
	frameNum          // `"num":<integer below 65536>` seen
	frameBadNum       // `"num"` present with another value
)

// scanner validates JSON in one pass without allocating. With track set it
// also finds Socket.IO attachment placeholders: objects with exactly the keys
// `_placeholder` (true) and `num` (an integer below attachments).
type scanner struct {
	b           []byte
	i           int
	track       bool
	attachments int
	ph          placeholderSet
	stack       [MaxJSONDepth]frame
	depth       int

	onPlaceholder func(start, end, num int) // with track: called for each placeholder
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// validate checks that b is exactly one JSON value (surrounding whitespace
// allowed).
func (s *scanner) validate() error {
	s.ws()
	if err := s.value(); err != nil {
		return err
	}
	s.ws()
	if s.i != len(s.b) {
		return ErrInvalidJSON
	}
	return nil
}

// value scans one value iteratively (containers use s.stack).
func (s *scanner) value() error {
	base := s.depth
	for {
		s.ws()
		if s.i >= len(s.b) {
			return ErrInvalidJSON
		}
		c := s.b[s.i]
		switch {
		case c == '{' || c == '[':
			if s.depth >= MaxJSONDepth {
				return ErrJSONTooDeep
			}
			var fl uint8
			if c == '[' {
				fl = frameArray
			}
			s.stack[s.depth] = frame{flags: fl, start: int32(s.i)}
			s.depth++
			s.i++
			s.ws()
			if s.i < len(s.b) && (s.b[s.i] == '}' && c == '{' || s.b[s.i] == ']' && c == '[') {
				if err := s.closeContainer(); err != nil {
					return err
				}
				break
			}
			if c == '{' {
				if err := s.key(); err != nil {
					return err
				}
			}
			continue // scan the first element / member value
		case c == '"':
			if _, err := s.str(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if err := s.number(); err != nil {
				return err
			}
		case c == 't':
			if err := s.lit("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := s.lit("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := s.lit("null"); err != nil {
				return err
			}
		default:
			return ErrInvalidJSON
		}
		// A value ended: continue the enclosing containers.
		for {
			if s.depth == base {
				return nil
			}
			s.ws()
			if s.i >= len(s.b) {
				return ErrInvalidJSON
			}
			f := &s.stack[s.depth-1]
			c := s.b[s.i]
			if c == ',' {
				s.i++
				if f.flags&frameArray == 0 {
					if err := s.key(); err != nil {
						return err
					}
				}
				break // next element
			}
			if arr := f.flags&frameArray != 0; (arr && c == ']') || (!arr && c == '}') {
				if err := s.closeContainer(); err != nil {
					return err
				}
				continue
			}
			return ErrInvalidJSON
		}
	}
}

// key scans `"name":` inside an object and records placeholder members.
func (s *scanner) key() error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return ErrInvalidJSON
	}
	start := s.i
	escaped, err := s.str()
	if err != nil {
		return err
	}
	name := s.b[start+1 : s.i-1]
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return ErrInvalidJSON
	}
	s.i++
	f := &s.stack[s.depth-1]
	if f.keys < 255 {
		f.keys++
	}
	if !s.track || escaped {
		return nil
	}
	s.ws()
	switch string(name) {
	case "_placeholder":
		if s.i+4 <= len(s.b) && string(s.b[s.i:s.i+4]) == "true" {
			f.flags |= framePh
		}
	case "num":
		if n, ok := s.peekInt(); ok && n < 1<<16 {
			f.flags |= frameNum
			f.num = uint16(n)
		} else {
			f.flags |= frameBadNum
		}
	}
	return nil
}

// peekInt reads a non-negative integer literal at s.i without consuming it.
func (s *scanner) peekInt() (int64, bool) {
	j := s.i
	var n int64
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		if j-s.i >= 9 {
			return 0, false
		}
		n = n*10 + int64(s.b[j]-'0')
		j++
	}
	if j == s.i || (j < len(s.b) && (s.b[j] == '.' || s.b[j] == 'e' || s.b[j] == 'E')) {
		return 0, false
	}
	if j-s.i > 1 && s.b[s.i] == '0' {
		return 0, false
	}
	return n, true
}

func (s *scanner) closeContainer() error {
	s.depth--
	f := &s.stack[s.depth]
	s.i++
	if s.track && f.flags&(frameArray|framePh) == framePh {
		// Socket.IO reconstructs any object whose _placeholder is true; its
		// num must then be a valid, unused attachment index.
		if f.keys != 2 {
			return nil // extra keys: plain data
		}
		if f.flags&frameBadNum != 0 || f.flags&frameNum == 0 || int(f.num) >= s.attachments || f.num >= 256 {
			return errPlaceholder
		}
		w, bit := f.num/64, uint64(1)<<(f.num%64)
		if s.ph.seen[w]&bit != 0 {
			return errPlaceholder
		}
		s.ph.seen[w] |= bit
		s.ph.count++
		if s.onPlaceholder != nil {
			s.onPlaceholder(int(f.start), s.i, int(f.num))
		}
	}
	return nil
}

// Placeholders validates the JSON value v and calls fn with the byte span
// [start,end) and num of every attachment placeholder in it, in order, as
// DecodeSIO accepts them (num below attachments, no duplicates).
func Placeholders(v []byte, attachments int, fn func(start, end, num int)) error {
	s := scanner{b: v, track: true, attachments: attachments, onPlaceholder: fn}
	return s.validate()
}

// str scans a string starting at the opening quote; it reports whether it
// contains escapes.
func (s *scanner) str() (escaped bool, err error) {
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return false, ErrInvalidJSON
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return false, ErrInvalidJSON
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return false, ErrInvalidJSON
					}
				}
				s.i += 6
			default:
				return false, ErrInvalidJSON
			}
		case c < 0x20:
			return false, ErrInvalidJSON
		default:
			s.i++
		}
	}
	return false, ErrInvalidJSON
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *scanner) number() error {
	b, i := s.b, s.i
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return ErrInvalidJSON
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return ErrInvalidJSON
	}
	if i < len(b) && b[i] == '.' {
		i++
		st := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == st {
			return ErrInvalidJSON
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		st := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == st {
			return ErrInvalidJSON
		}
	}
	s.i = i
	return nil
}

func (s *scanner) lit(want string) error {
	if s.i+len(want) > len(s.b) || string(s.b[s.i:s.i+len(want)]) != want {
		return ErrInvalidJSON
	}
	s.i += len(want)
	return nil
}

// ValidJSON reports whether b is exactly one valid JSON value.
func ValidJSON(b []byte) bool {
	var s scanner
	s.b = b
	return s.validate() == nil
}

// SkipValue returns the end offset of the JSON value starting at b[i]
// (after leading whitespace), for input already validated.
func SkipValue(b []byte, i int) (int, error) {
	s := scanner{b: b, i: i}
	if err := s.value(); err != nil {
		return 0, err
	}
	return s.i, nil
}

// ArrayElements calls fn with the raw bytes of each element of the JSON
// array arr (validated input), stopping early when fn returns false.
func ArrayElements(arr []byte, fn func(i int, elem []byte) bool) error {
	s := scanner{b: arr}
	s.ws()
	if s.i >= len(arr) || arr[s.i] != '[' {
		return ErrInvalidJSON
	}
	s.i++
	s.ws()
	if s.i < len(arr) && arr[s.i] == ']' {
		return nil
	}
	for n := 0; ; n++ {
		s.ws()
		start := s.i
		if err := s.value(); err != nil {
			return err
		}
		if !fn(n, arr[start:s.i]) {
			return nil
		}
		s.ws()
		if s.i >= len(arr) {
			return ErrInvalidJSON
		}
		if arr[s.i] == ']' {
			return nil
		}
		if arr[s.i] != ',' {
			return ErrInvalidJSON
		}
		s.i++
	}
}

// ObjectMembers calls fn with the raw key (between the quotes, escapes not
// decoded) and raw value of each member of the JSON object obj (validated
// input), stopping early when fn returns false.
func ObjectMembers(obj []byte, fn func(key, val []byte) bool) error {
	s := scanner{b: obj}
	s.ws()
	if s.i >= len(obj) || obj[s.i] != '{' {
		return ErrInvalidJSON
	}
	s.i++
	s.ws()
	if s.i < len(obj) && obj[s.i] == '}' {
		return nil
	}
	for {
		s.ws()
		if s.i >= len(obj) || obj[s.i] != '"' {
			return ErrInvalidJSON
		}
		ks := s.i
		if _, err := s.str(); err != nil {
			return err
		}
		key := obj[ks+1 : s.i-1]
		s.ws()
		if s.i >= len(obj) || obj[s.i] != ':' {
			return ErrInvalidJSON
		}
		s.i++
		s.ws()
		vs := s.i
		if err := s.value(); err != nil {
			return err
		}
		if !fn(key, obj[vs:s.i]) {
			return nil
		}
		s.ws()
		if s.i >= len(obj) {
			return ErrInvalidJSON
		}
		if obj[s.i] == '}' {
			return nil
		}
		if obj[s.i] != ',' {
			return ErrInvalidJSON
		}
		s.i++
	}
}
