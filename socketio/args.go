package socketio

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bytedance/sonic"

	"sio/codec"
)

// jsonAPI decodes received arguments (emitted ones are encoded by encoder,
// in encode.go).
var jsonAPI = sonic.Config{EscapeHTML: false, CompactMarshaler: true, CopyString: true}.Froze()

// Args are the arguments of a received event or acknowledgement. The JSON
// stays raw until asked for; binary attachments are resolved on access.
// An Args handed to a handler borrows the connection's read buffer: it is
// valid until the handler returns (Clone keeps a copy).
type Args struct {
	elems       [][]byte // raw JSON of each argument (backed by inline when few)
	attachments [][]byte
	inline      [4][]byte
}

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// ErrArgIndex is returned for an argument index out of range.
var ErrArgIndex = errors.New("socketio: no such argument")

// Len is the number of arguments.
func (a *Args) Len() int { return len(a.elems) }

// Raw returns the raw JSON of argument i (placeholders included), or nil.
func (a *Args) Raw(i int) []byte {
	if i < 0 || i >= len(a.elems) {
		return nil
	}
	return a.elems[i]
}

// Bytes returns argument i when it is a binary attachment.
func (a *Args) Bytes(i int) ([]byte, bool) {
	raw := a.Raw(i)
	if raw == nil || len(a.attachments) == 0 {
		return nil, false
	}
	n, ok := codec.PlaceholderNum(raw)
	if !ok || n >= len(a.attachments) {
		return nil, false
	}
	return a.attachments[n], true
}

// String returns argument i when it is a JSON string.
func (a *Args) String(i int) (string, error) {
	raw := a.Raw(i)
	if raw == nil {
		return "", ErrArgIndex
	}
	if codec.Kind(raw) != codec.JSONString {
		return "", fmt.Errorf("socketio: argument %d is not a string", i)
	}
	if body := raw[1 : len(raw)-1]; !hasEscape(body) {
		return string(body), nil // validated JSON without escapes: the bytes are the string
	}
	var s string
	err := jsonAPI.Unmarshal(raw, &s)
	return s, err
}

// Decode unmarshals argument i into v. Placeholders nested in it decode as
// base64 of their attachment when v has a []byte there.
func (a *Args) Decode(i int, v any) error {
	raw := a.Raw(i)
	if raw == nil {
		return ErrArgIndex
	}
	if len(a.attachments) > 0 {
		if b, ok := v.(*[]byte); ok {
			if data, ok := a.Bytes(i); ok {
				*b = append((*b)[:0], data...)
				return nil
			}
		}
		// Attachments become base64 in the tree, as encoding/json does for
		// []byte, so []byte fields receive them.
		return RawBinary{JSON: raw, Attachments: a.attachments}.Decode(v)
	}
	return jsonAPI.Unmarshal(raw, v)
}

// Value returns argument i for passing on: []byte when it is an
// attachment, json.RawMessage when it holds none (no re-encoding), or a
// RawBinary when attachments are nested in it. Use Decode to inspect.
func (a *Args) Value(i int) (any, error) {
	raw := a.Raw(i)
	if raw == nil {
		return nil, ErrArgIndex
	}
	return a.value(raw)
}

func (a *Args) value(raw []byte) (any, error) {
	if len(a.attachments) == 0 {
		return json.RawMessage(raw), nil
	}
	if n, ok := codec.PlaceholderNum(raw); ok && n < len(a.attachments) {
		return a.attachments[n], nil
	}
	if k := codec.Kind(raw); k != codec.JSONObject && k != codec.JSONArray {
		return json.RawMessage(raw), nil
	}
	has := false
	if err := codec.Placeholders(raw, len(a.attachments), func(int, int, int) { has = true }); err != nil {
		return nil, err
	}
	if !has {
		return json.RawMessage(raw), nil
	}
	return RawBinary{JSON: raw, Attachments: a.attachments}, nil
}

// RawBinary is a JSON value with attachment placeholders nested in it, as
// received: JSON is kept byte for byte and each placeholder's num indexes
// Attachments. Emitting it sends the same JSON (placeholders renumbered for
// the new packet) and the attachments as binary, so nested binary passes
// through with its key order intact. Use Args.Decode to inspect it.
type RawBinary struct {
	JSON        json.RawMessage
	Attachments [][]byte
}

// Decode unmarshals the value into v, attachments as base64 ([]byte fields).
func (r RawBinary) Decode(v any) error {
	var tree any
	if err := jsonAPI.Unmarshal(r.JSON, &tree); err != nil {
		return err
	}
	tmp, err := jsonAPI.Marshal(resolvePlaceholders(tree, r.Attachments))
	if err != nil {
		return err
	}
	return jsonAPI.Unmarshal(tmp, v)
}

// Values returns every argument as Value does, ready to be emitted again
// unchanged: raw JSON (json.RawMessage, or RawBinary around nested
// attachments) passes through byte for byte.
func (a *Args) Values() []any {
	out := make([]any, len(a.elems))
	for i := range a.elems {
		out[i], _ = a.Value(i)
	}
	return out
}

// Clone returns a copy that owns its memory.
func (a *Args) Clone() Args {
	c := Args{elems: make([][]byte, len(a.elems)), attachments: make([][]byte, len(a.attachments))}
	for i, e := range a.elems {
		c.elems[i] = append([]byte(nil), e...)
	}
	for i, b := range a.attachments {
		c.attachments[i] = append([]byte(nil), b...)
	}
	return c
}

func resolvePlaceholders(v any, att [][]byte) any {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 2 {
			if ph, ok := t["_placeholder"].(bool); ok && ph {
				if n, ok := t["num"].(float64); ok && int(n) >= 0 && int(n) < len(att) && float64(int(n)) == n {
					return att[int(n)]
				}
			}
		}
		for k, e := range t {
			t[k] = resolvePlaceholders(e, att)
		}
	case []any:
		for i, e := range t {
			t[i] = resolvePlaceholders(e, att)
		}
	}
	return v
}

// parseArgs splits a validated JSON array into its elements, skipping the
// first skip of them (the event name).
func parseArgs(arr []byte, skip int, attachments [][]byte, dst *Args) error {
	if dst.elems == nil {
		dst.elems = dst.inline[:0]
	}
	dst.elems = dst.elems[:0]
	dst.attachments = attachments
	return codec.ArrayElements(arr, func(i int, e []byte) bool {
		if i >= skip {
			dst.elems = append(dst.elems, e)
		}
		return true
	})
}
