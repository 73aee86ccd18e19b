package codec

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sioWant is what DecodeSIO must report for one packet.
type sioWant struct {
	typ  SIOType
	att  int
	nsp  string
	id   int64
	data string
}

// ph is a placeholder exactly as socket.io-parser writes it.
func ph(n int) string { return string(AppendPlaceholder(nil, n)) }

// sioVectors are shared by the encoder and the decoder (PROTOCOL.md §2.2 and
// the traced sessions of §2.5): enc is exactly AppendSIOHeader(typ, att, nsp,
// id) followed by data, and DecodeSIO(enc) gives those fields back. On the
// wire each is one Engine.IO message, "4"+enc.
var sioVectors = []struct {
	name string
	enc  string
	want sioWant
}{
	// §2.2 table.
	{"connect", `0`, sioWant{SIOConnect, 0, "/", -1, ``}},
	{"connect-auth", `0{"token":"abc"}`, sioWant{SIOConnect, 0, "/", -1, `{"token":"abc"}`}},
	{"connect-admin", `0/admin,`, sioWant{SIOConnect, 0, "/admin", -1, ``}},
	{"connect-ack", `0{"sid":"RolNs8fHi3q4eZXbAAAB"}`, sioWant{SIOConnect, 0, "/", -1, `{"sid":"RolNs8fHi3q4eZXbAAAB"}`}},
	{"connect-ack-admin", `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`, sioWant{SIOConnect, 0, "/admin", -1, `{"sid":"oSO0OpakMV_3jnilAAAA"}`}},
	{"connect-error", `4{"message":"Not authorized"}`, sioWant{SIOConnectError, 0, "/", -1, `{"message":"Not authorized"}`}},
	{"connect-error-data", `4/admin,{"message":"not authorized","data":{"code":42}}`, sioWant{SIOConnectError, 0, "/admin", -1, `{"message":"not authorized","data":{"code":42}}`}},
	{"invalid-namespace", `4/random,{"message":"Invalid namespace"}`, sioWant{SIOConnectError, 0, "/random", -1, `{"message":"Invalid namespace"}`}},
	{"disconnect", `1`, sioWant{SIODisconnect, 0, "/", -1, ``}},
	{"disconnect-admin", `1/admin,`, sioWant{SIODisconnect, 0, "/admin", -1, ``}},
	{"event", `2["foo"]`, sioWant{SIOEvent, 0, "/", -1, `["foo"]`}},
	{"event-admin", `2/admin,["bar"]`, sioWant{SIOEvent, 0, "/admin", -1, `["bar"]`}},
	{"event-ack-12", `212["foo"]`, sioWant{SIOEvent, 0, "/", 12, `["foo"]`}},
	{"ack-12", `312[]`, sioWant{SIOAck, 0, "/", 12, `[]`}},
	{"ack-admin-13", `3/admin,13["bar"]`, sioWant{SIOAck, 0, "/admin", 13, `["bar"]`}},
	{"binary-event-1", `51-["baz",` + ph(0) + `]`, sioWant{SIOBinaryEvent, 1, "/", -1, `["baz",` + ph(0) + `]`}},
	{"binary-event-2-admin", `52-/admin,["baz",` + ph(0) + `,` + ph(1) + `]`, sioWant{SIOBinaryEvent, 2, "/admin", -1, `["baz",` + ph(0) + `,` + ph(1) + `]`}},
	{"binary-ack-15", `61-15["bar",` + ph(0) + `]`, sioWant{SIOBinaryAck, 1, "/", 15, `["bar",` + ph(0) + `]`}},
	{"bin-back", `52-["bin-back",` + ph(0) + `,` + ph(1) + `]`, sioWant{SIOBinaryEvent, 2, "/", -1, `["bin-back",` + ph(0) + `,` + ph(1) + `]`}},
	// §2.5 traced session.
	{"welcome", `20["welcome","hi"]`, sioWant{SIOEvent, 0, "/", 0, `["welcome","hi"]`}},
	{"thanks", `30["thanks"]`, sioWant{SIOAck, 0, "/", 0, `["thanks"]`}},
	{"hello", `20["hello","world"]`, sioWant{SIOEvent, 0, "/", 0, `["hello","world"]`}},
	{"got", `30[{"got":"world"}]`, sioWant{SIOAck, 0, "/", 0, `[{"got":"world"}]`}},
	{"bin", `51-["bin",` + ph(0) + `]`, sioWant{SIOBinaryEvent, 1, "/", -1, `["bin",` + ph(0) + `]`}},
	{"please-disconnect-me", `2["please-disconnect-me"]`, sioWant{SIOEvent, 0, "/", -1, `["please-disconnect-me"]`}},
	// More shapes the encoder produces.
	{"connect-error-string", `4"not authorized"`, sioWant{SIOConnectError, 0, "/", -1, `"not authorized"`}},
	{"event-number-name", `2[42,"x"]`, sioWant{SIOEvent, 0, "/", -1, `[42,"x"]`}},
	{"event-max-ack-id", `29007199254740991["a"]`, sioWant{SIOEvent, 0, "/", MaxAckID, `["a"]`}},
	{"binary-event-10", `510-["e",` + strings.TrimSuffix(strings.Repeat("X,", 10), ",") + `]`, sioWant{}}, // filled in init
	{"binary-nested", `52-/chat,7["up",{"files":[` + ph(0) + `,{"deep":` + ph(1) + `}]}]`, sioWant{SIOBinaryEvent, 2, "/chat", 7, `["up",{"files":[` + ph(0) + `,{"deep":` + ph(1) + `}]}]`}},
	{"binary-ack-empty-ns", `63-/admin,0[` + ph(2) + `,` + ph(0) + `,` + ph(1) + `]`, sioWant{SIOBinaryAck, 3, "/admin", 0, `[` + ph(2) + `,` + ph(0) + `,` + ph(1) + `]`}},
}

func init() {
	// binary-event-10: ten placeholders, exactly DefaultMaxAttachments.
	var phs []string
	for i := range 10 {
		phs = append(phs, ph(i))
	}
	data := `["e",` + strings.Join(phs, ",") + `]`
	for i := range sioVectors {
		if sioVectors[i].name == "binary-event-10" {
			sioVectors[i].enc = "510-" + data
			sioVectors[i].want = sioWant{SIOBinaryEvent, 10, "/", -1, data}
		}
	}
}

func checkSIO(t *testing.T, in []byte, p SIOPacket, err error, want sioWant) {
	t.Helper()
	if err != nil {
		t.Fatalf("DecodeSIO(%q): %v", in, err)
	}
	if p.Type != want.typ || p.Attachments != want.att || string(p.Nsp) != want.nsp || p.ID != want.id || string(p.Data) != want.data {
		t.Fatalf("DecodeSIO(%q) = {type %d, att %d, nsp %q, id %d, data %q}\nwant {type %d, att %d, nsp %q, id %d, data %q}",
			in, p.Type, p.Attachments, p.Nsp, p.ID, p.Data, want.typ, want.att, want.nsp, want.id, want.data)
	}
	if !within(in, p.Data) || (len(p.Data) > 0 && !bytes.HasSuffix(in, p.Data)) {
		t.Fatalf("Data %q is not the borrowed tail of %q", p.Data, in)
	}
	if !within(in, p.Nsp) && !bytes.Equal(p.Nsp, rootNsp) {
		t.Fatalf("Nsp %q is neither borrowed nor the root", p.Nsp)
	}
}

func TestDecodeSIOVectors(t *testing.T) {
	for _, v := range sioVectors {
		t.Run(v.name, func(t *testing.T) {
			in := []byte(v.enc)
			p, err := DecodeSIO(in, 0)
			checkSIO(t, in, p, err, v.want)
			if allocs := testing.AllocsPerRun(100, func() { DecodeSIO(in, 0) }); allocs != 0 {
				t.Fatalf("%v allocations", allocs)
			}
		})
	}
}

// TestDecodeSIOWire decodes the wire column of PROTOCOL §2.2: an Engine.IO
// message whose data is the Socket.IO packet.
func TestDecodeSIOWire(t *testing.T) {
	for _, v := range sioVectors {
		wire := []byte("4" + v.enc)
		ep, err := DecodeText(wire)
		if err != nil || ep.Type != PacketMessage {
			t.Fatalf("DecodeText(%q) = %+v, %v", wire, ep, err)
		}
		p, err := DecodeSIO(ep.Data, 0)
		checkSIO(t, wire, p, err, v.want)
	}
}

// TestAppendSIOHeaderVectors is the encoder side of sioVectors.
func TestAppendSIOHeaderVectors(t *testing.T) {
	for _, v := range sioVectors {
		w := v.want
		got := append(AppendSIOHeader(nil, w.typ, w.att, w.nsp, w.id), w.data...)
		if string(got) != v.enc {
			t.Errorf("%s: AppendSIOHeader(%d, %d, %q, %d)+data = %q, want %q", v.name, w.typ, w.att, w.nsp, w.id, got, v.enc)
		}
	}
}

func TestAppendSIOHeader(t *testing.T) {
	for _, tt := range []struct {
		typ  SIOType
		att  int
		nsp  string
		id   int64
		want string
	}{
		{SIOConnect, 0, "", -1, "0"},
		{SIOConnect, 0, "/", -1, "0"},
		{SIOConnect, 0, "/admin", -1, "0/admin,"},
		{SIODisconnect, 0, "/admin", -1, "1/admin,"},
		{SIOEvent, 0, "/", 0, "20"},
		{SIOEvent, 0, "/a", MaxAckID, "2/a,9007199254740991"},
		{SIOAck, 0, "/", 12, "312"},
		{SIOConnectError, 0, "/x", -1, "4/x,"},
		{SIOBinaryEvent, 0, "/", -1, "50-"},
		{SIOBinaryEvent, 10, "/", -1, "510-"},
		{SIOBinaryAck, 1, "/admin", 15, "61-/admin,15"},
		{SIOEvent, 7, "/", -1, "2"}, // attachments only count for binary types
	} {
		if got := string(AppendSIOHeader(nil, tt.typ, tt.att, tt.nsp, tt.id)); got != tt.want {
			t.Errorf("AppendSIOHeader(%d, %d, %q, %d) = %q, want %q", tt.typ, tt.att, tt.nsp, tt.id, got, tt.want)
		}
	}
	// It appends: dst's content is kept.
	if got := string(AppendSIOHeader([]byte("4"), SIOEvent, 0, "/", 3)); got != "423" {
		t.Errorf("append to %q: %q", "4", got)
	}
	dst := make([]byte, 0, 64)
	if allocs := testing.AllocsPerRun(100, func() { dst = AppendSIOHeader(dst[:0], SIOBinaryAck, 3, "/admin", 1234) }); allocs != 0 {
		t.Errorf("AppendSIOHeader: %v allocations", allocs)
	}
}

func TestAppendPlaceholder(t *testing.T) {
	for n, want := range map[int]string{0: `{"_placeholder":true,"num":0}`, 9: `{"_placeholder":true,"num":9}`, 123: `{"_placeholder":true,"num":123}`} {
		got := AppendPlaceholder([]byte("["), n)
		if string(got) != "["+want {
			t.Errorf("AppendPlaceholder(%d) = %q", n, got)
		}
		if m, ok := PlaceholderNum(got[1:]); !ok || m != n {
			t.Errorf("PlaceholderNum(AppendPlaceholder(%d)) = %d, %v", n, m, ok)
		}
	}
}

// sioAccepted are inputs that decode although the encoder would not write
// them so (PROTOCOL §2.3 rules 1-5).
var sioAccepted = []struct {
	name string
	in   string
	max  int
	want sioWant
}{
	// Rule 3: the namespace runs up to `,` or the end of the string.
	{"nsp-no-comma", `0/random`, 0, sioWant{SIOConnect, 0, "/random", -1, ``}},
	{"nsp-no-comma-disconnect", `1/admin`, 0, sioWant{SIODisconnect, 0, "/admin", -1, ``}},
	{"nsp-slash-only", `0/`, 0, sioWant{SIOConnect, 0, "/", -1, ``}},
	{"nsp-slash-comma", `2/,["a"]`, 0, sioWant{SIOEvent, 0, "/", -1, `["a"]`}},
	{"nsp-nested-path", `0/a/b,`, 0, sioWant{SIOConnect, 0, "/a/b", -1, ``}},
	{"nsp-swallows-json", `0/a{"x":1}`, 0, sioWant{SIOConnect, 0, `/a{"x":1}`, -1, ``}},
	{"nsp-1024", `0/` + strings.Repeat("a", 1023) + `,`, 0, sioWant{SIOConnect, 0, "/" + strings.Repeat("a", 1023), -1, ``}},
	// Rule 4: ack id digits, on any type.
	{"ack-id-0", `20["a"]`, 0, sioWant{SIOEvent, 0, "/", 0, `["a"]`}},
	{"ack-id-leading-zeros", `2007["a"]`, 0, sioWant{SIOEvent, 0, "/", 7, `["a"]`}},
	{"connect-with-id", `01`, 0, sioWant{SIOConnect, 0, "/", 1, ``}},
	{"disconnect-with-id", `1/admin,5`, 0, sioWant{SIODisconnect, 0, "/admin", 5, ``}},
	{"ack-id-max", `39007199254740991[]`, 0, sioWant{SIOAck, 0, "/", MaxAckID, `[]`}},
	// Rule 2: attachments.
	{"attachments-leading-zero", `501-["a",` + ph(0) + `]`, 0, sioWant{SIOBinaryEvent, 1, "/", -1, `["a",` + ph(0) + `]`}},
	{"attachments-fewer-placeholders", `53-["a",` + ph(1) + `]`, 0, sioWant{SIOBinaryEvent, 3, "/", -1, `["a",` + ph(1) + `]`}},
	{"attachments-custom-max", `511-["a",` + ph(10) + `]`, 11, sioWant{SIOBinaryEvent, 11, "/", -1, `["a",` + ph(10) + `]`}},
	{"attachments-negative-max-is-default", `510-["a"]`, -5, sioWant{SIOBinaryEvent, 10, "/", -1, `["a"]`}},
	// Rule 5: payload kinds.
	{"connect-empty-object", `0{}`, 0, sioWant{SIOConnect, 0, "/", -1, `{}`}},
	{"connect-error-empty-object", `4{}`, 0, sioWant{SIOConnectError, 0, "/", -1, `{}`}},
	{"connect-error-empty-string", `4""`, 0, sioWant{SIOConnectError, 0, "/", -1, `""`}},
	{"ack-empty", `3[]`, 0, sioWant{SIOAck, 0, "/", -1, `[]`}},
	{"ack-any-values", `35[null,{},[],1.5,"x"]`, 0, sioWant{SIOAck, 0, "/", 5, `[null,{},[],1.5,"x"]`}},
	{"event-negative-number", `2[-1.5e3]`, 0, sioWant{SIOEvent, 0, "/", -1, `[-1.5e3]`}},
	{"event-zero-number", `2[0,1]`, 0, sioWant{SIOEvent, 0, "/", -1, `[0,1]`}},
	{"event-error-name", `2["error"]`, 0, sioWant{SIOEvent, 0, "/", -1, `["error"]`}}, // not in the parser's list; the socket layer drops it
	{"event-case", `2["Connect"]`, 0, sioWant{SIOEvent, 0, "/", -1, `["Connect"]`}},
	{"event-reserved-prefix", `2["connect "]`, 0, sioWant{SIOEvent, 0, "/", -1, `["connect "]`}},
	{"event-empty-name", `2[""]`, 0, sioWant{SIOEvent, 0, "/", -1, `[""]`}},
	{"event-escaped-solidus", `2["\/connect"]`, 0, sioWant{SIOEvent, 0, "/", -1, `["\/connect"]`}}, // JSON.parse gives "/connect"
	{"event-escaped-name", `2["\u00e9v\"nt"]`, 0, sioWant{SIOEvent, 0, "/", -1, `["\u00e9v\"nt"]`}},
	{"event-inner-space", `2[ "a" , 1 ]`, 0, sioWant{SIOEvent, 0, "/", -1, `[ "a" , 1 ]`}},
	{"event-trailing-space", `2["a"] `, 0, sioWant{SIOEvent, 0, "/", -1, `["a"] `}},
	{"event-unicode", `2["💬","日本語"]`, 0, sioWant{SIOEvent, 0, "/", -1, `["💬","日本語"]`}},
	{"event-placeholder-not-binary", `2["a",{"_placeholder":true,"num":"splice"}]`, 0, sioWant{SIOEvent, 0, "/", -1, `["a",{"_placeholder":true,"num":"splice"}]`}},
	// Placeholder-looking objects that are data (BAD-INPUTS §1d: extra keys are left as data).
	{"placeholder-extra-key", `51-["a",{"_placeholder":true,"num":0,"x":1}]`, 0, sioWant{SIOBinaryEvent, 1, "/", -1, `["a",{"_placeholder":true,"num":0,"x":1}]`}},
	{"placeholder-extra-key-bad-num", `51-["a",{"_placeholder":true,"num":"splice","toString":1}]`, 0, sioWant{SIOBinaryEvent, 1, "/", -1, `["a",{"_placeholder":true,"num":"splice","toString":1}]`}},
	{"placeholder-false", `51-["a",{"_placeholder":false,"num":9}]`, 0, sioWant{SIOBinaryEvent, 1, "/", -1, `["a",{"_placeholder":false,"num":9}]`}},
	{"placeholder-string-true", `51-["a",{"_placeholder":"true","num":9}]`, 0, sioWant{SIOBinaryEvent, 1, "/", -1, `["a",{"_placeholder":"true","num":9}]`}},
	{"placeholder-one-key", `51-["a",{"num":9}]`, 0, sioWant{SIOBinaryEvent, 1, "/", -1, `["a",{"num":9}]`}},
	{"placeholder-keys-swapped", `51-["a",{"num":0,"_placeholder":true}]`, 0, sioWant{SIOBinaryEvent, 1, "/", -1, `["a",{"num":0,"_placeholder":true}]`}},
	{"placeholder-spaces", `51-["a",{ "_placeholder" : true , "num" : 0 }]`, 0, sioWant{SIOBinaryEvent, 1, "/", -1, `["a",{ "_placeholder" : true , "num" : 0 }]`}},
	{"placeholder-in-array-of-array", `52-["a",[[` + ph(1) + `]],{"k":[` + ph(0) + `]}]`, 0, sioWant{SIOBinaryEvent, 2, "/", -1, `["a",[[` + ph(1) + `]],{"k":[` + ph(0) + `]}]`}},
}

func TestDecodeSIOAccepted(t *testing.T) {
	for _, v := range sioAccepted {
		t.Run(v.name, func(t *testing.T) {
			in := []byte(v.in)
			p, err := DecodeSIO(in, v.max)
			checkSIO(t, in, p, err, v.want)
			// Re-encoded with AppendSIOHeader, it decodes to the same fields.
			enc := append(AppendSIOHeader(nil, p.Type, p.Attachments, string(p.Nsp), p.ID), p.Data...)
			p2, err := DecodeSIO(enc, v.max)
			checkSIO(t, enc, p2, err, v.want)
		})
	}
}

// sioMustFail are inputs DecodeSIO refuses: PROTOCOL §2.3 and BAD-INPUTS
// §1d/§1e rows that reach the codec. Each one closes the connection.
//
// Checked against the real socket.io-parser 4.2.7 (test/interop/node_modules):
// every row of sioVectors, sioAccepted and sioMustFail decodes the same way,
// except where we are stricter on purpose (BAD-INPUTS): a header with no
// payload (`2`, `212`, `4`, `51-`; the parser accepts them with undefined
// data), ack ids above 2^53, attachment counts of 7+ digits, namespaces over
// 1024 bytes, nesting over MaxJSONDepth, placeholders with a non-integer or
// duplicated num, and an extra-key object with `_placeholder:true` (data here,
// an error there). The parser also reads an empty string, or a leading space,
// as type 0 and a space as an ack-id digit (Number(" ") == 0); we do not.
// And 4.2.7 refuses an attachment count of 0, which PROTOCOL §2.3 accepts.
var sioMustFail = []struct {
	name string
	in   string
	max  int
	err  error
}{
	// Rule 1: the type.
	{"empty", ``, 0, ErrSIOType},
	{"abc", `abc`, 0, ErrSIOType}, // the Engine.IO message 4abc
	// socket.io-parser 4.2.7 refuses binary packets that announce no
	// attachment (PROTOCOL.md §2.3 reads "N=0 is emitted at once", the
	// reference says "Illegal attachments"; BAD-INPUTS flags 50- + binaries).
	{"attachments-0", `50-["a"]`, 0, ErrSIOAttachments},
	{"binary-ack-empty", `60-[]`, 0, ErrSIOAttachments},
	{"type-7", `7`, 0, ErrSIOType},
	{"type-9", `9["a"]`, 0, ErrSIOType},
	{"type-minus", `-1`, 0, ErrSIOType},
	{"type-space", ` 2["a"]`, 0, ErrSIOType},
	{"type-nul", "\x00", 0, ErrSIOType},
	{"type-high-byte", "\xff2", 0, ErrSIOType},
	// Rule 2: attachments.
	{"attachments-empty-count", `5-[`, 0, ErrSIOAttachments},
	{"attachments-empty-count-valid-json", `5-["a"]`, 0, ErrSIOAttachments},
	{"attachments-no-dash", `51["a"]`, 0, ErrSIOAttachments},
	{"attachments-letters", `5a-["a"]`, 0, ErrSIOAttachments},
	{"attachments-negative", `5-1-["a"]`, 0, ErrSIOAttachments},
	{"attachments-float", `51.5-["a"]`, 0, ErrSIOAttachments},
	{"attachments-type-only", `5`, 0, ErrSIOAttachments},
	{"attachments-binary-ack-type-only", `6`, 0, ErrSIOAttachments},
	{"attachments-digits-only", `51`, 0, ErrSIOAttachments},
	{"attachments-11", `511-["a"]`, 0, ErrSIOTooManyAttach},
	{"attachments-11-binary-ack", `611-[]`, 0, ErrSIOTooManyAttach},
	{"attachments-100000", `5100000-["e"]`, 0, ErrSIOTooManyAttach},
	{"attachments-over-custom-max", `53-["a"]`, 2, ErrSIOTooManyAttach},
	{"attachments-huge", `5` + strings.Repeat("9", 30) + `-["a"]`, 0, ErrSIOTooManyAttach},
	{"attachments-huge-over-any-max", `59999999-["a"]`, 1 << 30, ErrSIOTooManyAttach},
	{"binary-no-payload", `51-`, 0, ErrSIOPayload},
	{"binary-ack-no-payload", `61-15`, 0, ErrSIOPayload},
	// Rule 3: namespace too long.
	{"nsp-too-long", `0/` + strings.Repeat("a", 1024) + `,`, 0, ErrSIONamespaceTooBig},
	{"nsp-too-long-no-comma", `2/` + strings.Repeat("a", 4096), 0, ErrSIONamespaceTooBig},
	// Rule 4: ack ids.
	{"bad-ack", `2abc["message-with-ack",1,"2",{"3":[false]}]`, 0, ErrSIOPayload}, // socket.io-protocol 42abc[…]
	{"ack-id-2^53", `29007199254740992["a"]`, 0, ErrSIOAckID},
	{"ack-id-16-digits", `29999999999999999["a"]`, 0, ErrSIOAckID},
	{"ack-id-20-digits", `299999999999999999999["a"]`, 0, ErrSIOAckID},
	{"ack-id-int64-overflow", `3` + strings.Repeat("9", 40) + `[]`, 0, ErrSIOAckID},
	{"ack-id-no-payload", `212`, 0, ErrSIOPayload},
	{"ack-no-payload", `312`, 0, ErrSIOPayload},
	// Rule 5: payload validation.
	{"disconnect-payload", `1{}`, 0, ErrSIOPayload},
	{"disconnect-array", `1[]`, 0, ErrSIOPayload},
	{"disconnect-admin-payload", `1/admin,"x"`, 0, ErrSIOPayload},
	{"disconnect-garbage", `1x`, 0, ErrSIOPayload},
	{"connect-array", `0[]`, 0, ErrSIOPayload},
	{"connect-string", `0"x"`, 0, ErrSIOPayload},
	{"connect-null", `0null`, 0, ErrSIOPayload},
	{"connect-number", `0/a,1.5`, 0, ErrSIOPayload},
	{"connect-invalid-json", `0{"a":}`, 0, ErrSIOPayload},
	{"connect-unknown-nsp", `0/unknown,{`, 0, ErrSIOPayload},
	{"connect-error-empty", `4`, 0, ErrSIOPayload},
	{"connect-error-array", `4["x"]`, 0, ErrSIOPayload},
	{"connect-error-number", `4/a,42`, 0, ErrSIOPayload},
	{"connect-error-null", `4null`, 0, ErrSIOPayload},
	{"ack-object", `3{}`, 0, ErrSIOPayload},
	{"ack-string", `3"x"`, 0, ErrSIOPayload},
	{"ack-trailing-garbage", `3[]x`, 0, ErrSIOPayload},
	{"binary-ack-object", `61-{"a":` + ph(0) + `}`, 0, ErrSIOPayload},
	// EVENT (CVE-2023-32695 and zishang520/socket.io#17).
	{"event-tostring", `2[{"toString":"foo"}]`, 0, ErrSIOPayload},
	{"event-object-name", `2[{}]`, 0, ErrSIOPayload},
	{"event-array-name", `2[[]]`, 0, ErrSIOPayload},
	{"event-null-name", `2[null]`, 0, ErrSIOPayload},
	{"event-true-name", `2[true]`, 0, ErrSIOPayload},
	{"event-false-name", `2[false]`, 0, ErrSIOPayload},
	{"event-empty-array", `2[]`, 0, ErrSIOPayload},
	{"event-empty-array-spaces", `2[ ]`, 0, ErrSIOPayload},
	{"event-object", `2{}`, 0, ErrSIOPayload},
	{"event-string", `2"x"`, 0, ErrSIOPayload},
	{"event-number", `21`, 0, ErrSIOPayload}, // id 1 and no payload
	{"event-no-payload", `2`, 0, ErrSIOPayload},
	{"event-open-bracket", `2[`, 0, ErrSIOPayload},
	{"event-unterminated", `2["a"`, 0, ErrSIOPayload},
	{"event-unterminated-string", `2["a]`, 0, ErrSIOPayload},
	{"event-trailing-comma", `2["a",]`, 0, ErrSIOPayload},
	{"event-two-values", `2["a"]["b"]`, 0, ErrSIOPayload},
	{"event-single-quotes", `2['a']`, 0, ErrSIOPayload},
	{"event-control-char", "2[\"a\x01\"]", 0, ErrSIOPayload},
	{"event-too-deep", `2["a",` + strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth) + `]`, 0, ErrSIOPayload},
	{"binary-event-object-name", `51-[` + ph(0) + `]`, 0, ErrSIOPayload},
	{"binary-event-empty", `51-[]`, 0, ErrSIOPayload},
	// Reserved event names (socket.io-parser RESERVED_EVENTS), also escaped.
	{"reserved-connect", `2["connect"]`, 0, ErrSIOReservedEvent},
	{"reserved-connect_error", `2["connect_error",{}]`, 0, ErrSIOReservedEvent},
	{"reserved-disconnect", `2/admin,["disconnect"]`, 0, ErrSIOReservedEvent},
	{"reserved-disconnecting", `21["disconnecting"]`, 0, ErrSIOReservedEvent},
	{"reserved-newListener", `2["newListener","x"]`, 0, ErrSIOReservedEvent},
	{"reserved-removeListener", `2["removeListener"]`, 0, ErrSIOReservedEvent},
	{"reserved-binary", `51-["disconnect",` + ph(0) + `]`, 0, ErrSIOReservedEvent},
	{"reserved-escaped-u", `2["\u0064isconnect"]`, 0, ErrSIOReservedEvent},
	{"reserved-escaped-upper-hex", `2["connect\u005Ferror"]`, 0, ErrSIOReservedEvent},
	{"reserved-escaped-all", `2["\u006e\u0065\u0077\u004c\u0069\u0073\u0074\u0065\u006e\u0065\u0072"]`, 0, ErrSIOReservedEvent},
	{"reserved-escaped-lower-hex", `2["connect\u005ferror"]`, 0, ErrSIOReservedEvent},
	// Placeholders (CVE-2022-2421): num must be an integer below the count, unused.
	{"placeholder-splice", `51-["hello",{"_placeholder":true,"num":"splice"}]`, 0, ErrSIOAttachments},
	{"placeholder-negative", `51-["a",{"_placeholder":true,"num":-1}]`, 0, ErrSIOAttachments},
	{"placeholder-float", `51-["a",{"_placeholder":true,"num":0.5}]`, 0, ErrSIOAttachments},
	{"placeholder-float-integral", `51-["a",{"_placeholder":true,"num":0.0}]`, 0, ErrSIOAttachments},
	{"placeholder-exponent", `52-["a",{"_placeholder":true,"num":1e0}]`, 0, ErrSIOAttachments},
	{"placeholder-string-num", `51-["a",{"_placeholder":true,"num":"0"}]`, 0, ErrSIOAttachments},
	{"placeholder-null-num", `51-["a",{"_placeholder":true,"num":null}]`, 0, ErrSIOAttachments},
	{"placeholder-object-num", `51-["a",{"_placeholder":true,"num":{}}]`, 0, ErrSIOAttachments},
	{"placeholder-array-num", `51-["a",{"_placeholder":true,"num":[0]}]`, 0, ErrSIOAttachments},
	{"placeholder-no-num", `51-["a",{"_placeholder":true,"nun":0}]`, 0, ErrSIOAttachments},
	{"placeholder-twice-no-num", `51-["a",{"_placeholder":true,"_placeholder":true}]`, 0, ErrSIOAttachments},
	{"placeholder-out-of-range", `51-["a",{"_placeholder":true,"num":1}]`, 0, ErrSIOAttachments},
	{"placeholder-zero-attachments", `50-["a",` + ph(0) + `]`, 0, ErrSIOAttachments},
	{"placeholder-big", `51-["a",{"_placeholder":true,"num":4294967296}]`, 0, ErrSIOAttachments},
	{"placeholder-huge", `51-["a",{"_placeholder":true,"num":` + strings.Repeat("9", 400) + `}]`, 0, ErrSIOAttachments},
	{"placeholder-duplicated", `52-["a",` + ph(0) + `,` + ph(0) + `]`, 0, ErrSIOAttachments},
	{"placeholder-duplicated-nested", `52-["a",{"x":` + ph(1) + `},[` + ph(1) + `]]`, 0, ErrSIOAttachments},
	{"placeholder-in-binary-ack", `61-[{"_placeholder":true,"num":"splice"}]`, 0, ErrSIOAttachments},
	{"placeholder-as-event-name", `51-[{"_placeholder":true,"num":-1}]`, 0, ErrSIOAttachments},
}

func TestDecodeSIOMustFail(t *testing.T) {
	for _, v := range sioMustFail {
		t.Run(v.name, func(t *testing.T) {
			in := []byte(v.in)
			p, err := DecodeSIO(in, v.max)
			if err != v.err {
				t.Fatalf("DecodeSIO(%.80q) = %+v, %v; want %v", v.in, p, err, v.err)
			}
			if allocs := testing.AllocsPerRun(20, func() { DecodeSIO(in, v.max) }); allocs != 0 {
				t.Fatalf("%v allocations to refuse", allocs)
			}
		})
	}
}

// TestDecodeSIOReservedEventEscaped: JSON.parse decodes escapes before
// socket.io-parser compares the name with RESERVED_EVENTS, so an escaped
// reserved name is refused too (it used to be accepted, and the socket layer
// then unquoted it to "disconnect").
func TestDecodeSIOReservedEventEscaped(t *testing.T) {
	for _, name := range []string{
		`\u0063onnect`, `connect\u005ferror`, `\u0064isconnect`, `disconnectin\u0067`,
		`\u006EewListener`, `removeListene\u0072`, `\u0064\u0069\u0073\u0063\u006f\u006e\u006e\u0065\u0063\u0074`,
	} {
		in := []byte(`2["` + name + `",1]`)
		if _, err := DecodeSIO(in, 0); err != ErrSIOReservedEvent {
			t.Errorf("DecodeSIO(%s) = %v, want ErrSIOReservedEvent", in, err)
		}
		if allocs := testing.AllocsPerRun(20, func() { DecodeSIO(in, 0) }); allocs != 0 {
			t.Errorf("%s: %v allocations", in, allocs)
		}
	}
	// Escapes that decode to something else stay valid event names.
	for _, name := range []string{
		`\/connect`, `connect\n`, `\u0063onnect\u0020`, `conn\u00e9ct`, `\ud83d\udcac`, `\u0000connect`,
		`connect_erro\u0072x`, `\\disconnect`, `disconnect\"`, `\newListener`, `\removeListener`, `\tdisconnect`, `\u0063onnect_error_` + strings.Repeat(`\u0061`, 20),
	} {
		in := []byte(`2["` + name + `"]`)
		if _, err := DecodeSIO(in, 0); err != nil {
			t.Errorf("DecodeSIO(%s) = %v, want accepted", in, err)
		}
	}
}

func TestIsReservedEvent(t *testing.T) {
	for _, n := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		if !IsReservedEvent([]byte(n)) {
			t.Errorf("%q not reserved", n)
		}
	}
	for _, n := range []string{"", "error", "message", "Connect", "connect ", "disconnec", "newlistener", "connect_error_"} {
		if IsReservedEvent([]byte(n)) {
			t.Errorf("%q reserved", n)
		}
	}
}

// TestDecodeSIODigitFloods: CVE-2020-36049. A megabyte of digits as the ack
// id or attachment count is refused after a few bytes, without allocating.
func TestDecodeSIODigitFloods(t *testing.T) {
	digits := strings.Repeat("1", 1<<20)
	for _, tt := range []struct {
		name string
		in   []byte
		err  error
	}{
		{"ack-id", []byte("2" + digits), ErrSIOAckID},
		{"ack-id-payload", []byte("2" + digits + `["a"]`), ErrSIOAckID},
		{"ack-id-after-nsp", []byte("3/admin," + digits + `[]`), ErrSIOAckID},
		{"attachment-count", []byte("5" + digits + "-"), ErrSIOTooManyAttach},
		{"attachment-count-no-dash", []byte("6" + digits), ErrSIOTooManyAttach},
		{"attachment-count-huge-max", []byte("5" + digits + `-["a"]`), ErrSIOTooManyAttach},
		{"zeros", []byte("2" + strings.Repeat("0", 1<<20) + `["a"]`), ErrSIOAckID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			max := 0
			if strings.HasSuffix(tt.name, "huge-max") {
				max = 1 << 40
			}
			if _, err := DecodeSIO(tt.in, max); err != tt.err {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if allocs := testing.AllocsPerRun(100, func() { DecodeSIO(tt.in, max) }); allocs != 0 {
				t.Fatalf("%v allocations", allocs)
			}
			// Quickly: 1000 refusals of the 1 MB input take far less than
			// scanning it once per call would (~1000 × 300 µs).
			start := time.Now()
			for range 1000 {
				DecodeSIO(tt.in, max)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Fatalf("1000 refusals took %v: the input is being scanned", d)
			}
		})
	}
}

// TestDecodeSIOPrefixes is the split test of STYLE.md practice 12 for a
// decoder that takes whole messages: every prefix and every suffix of every
// vector decodes without panicking, refuses or accepts the same way twice,
// and borrows from its own bytes only.
func TestDecodeSIOPrefixes(t *testing.T) {
	var inputs []string
	for _, v := range sioVectors {
		inputs = append(inputs, v.enc)
	}
	for _, v := range sioAccepted {
		inputs = append(inputs, v.in)
	}
	for _, v := range sioMustFail {
		if len(v.in) < 2000 {
			inputs = append(inputs, v.in)
		}
	}
	for _, in := range inputs {
		for k := 0; k <= len(in); k++ {
			for _, part := range []string{in[:k], in[k:]} {
				b := []byte(part)
				p, err := DecodeSIO(b, 0)
				p2, err2 := DecodeSIO(bytes.Clone(b), 0)
				if err != err2 || !sameSIO(p, p2) {
					t.Fatalf("%q: %+v, %v then %+v, %v", part, p, err, p2, err2)
				}
				if err == nil && (!within(b, p.Data) || (!within(b, p.Nsp) && !bytes.Equal(p.Nsp, rootNsp))) {
					t.Fatalf("%q: fields not borrowed", part)
				}
			}
		}
	}
}

func sameSIO(a, b SIOPacket) bool {
	return a.Type == b.Type && a.Attachments == b.Attachments && bytes.Equal(a.Nsp, b.Nsp) && a.ID == b.ID && bytes.Equal(a.Data, b.Data)
}

// TestDecodeSIOErrorsAreSentinels: callers compare errors with ==.
func TestDecodeSIOErrorsAreSentinels(t *testing.T) {
	all := []error{ErrSIOType, ErrSIOAttachments, ErrSIOTooManyAttach, ErrSIOAckID, ErrSIOPayload, ErrSIOReservedEvent, ErrSIONamespaceTooBig}
	for i, a := range all {
		if !strings.HasPrefix(a.Error(), "sio: ") {
			t.Errorf("%q lacks the package prefix", a)
		}
		for j, b := range all {
			if i != j && (a == b || errors.Is(a, b)) {
				t.Errorf("%v is %v", a, b)
			}
		}
	}
	for _, v := range sioMustFail {
		_, err := DecodeSIO([]byte(v.in), v.max)
		found := false
		for _, a := range all {
			found = found || err == a
		}
		if !found {
			t.Errorf("%s: %v is not a sentinel", v.name, err)
		}
	}
}

// TestDecodeSIODoesNotModifyInput: the decoder only reads.
func TestDecodeSIODoesNotModifyInput(t *testing.T) {
	for _, v := range sioVectors {
		in := []byte(v.enc)
		DecodeSIO(in, 0)
		if string(in) != v.enc {
			t.Fatalf("%s modified to %q", v.enc, in)
		}
	}
}

func TestEventName(t *testing.T) {
	for _, tt := range []struct {
		data     string
		name     string
		isString bool
		ok       bool
	}{
		{`["foo"]`, "foo", true, true},
		{`["chat",{"a":1}]`, "chat", true, true},
		{` [ "sp" , 1 ]`, "sp", true, true},
		{`["a\"b\u00e9"]`, `a\"b\u00e9`, true, true}, // escapes are not decoded
		{`[""]`, "", true, true},
		{`[42,"x"]`, "42", false, true},
		{`[-1.5e3]`, "-1.5e3", false, true},
		{`[]`, "", false, false},
		{`[ ]`, "", false, false},
	} {
		name, isString, ok := EventName([]byte(tt.data))
		if string(name) != tt.name || isString != tt.isString || ok != tt.ok {
			t.Errorf("EventName(%s) = %q, %v, %v; want %q, %v, %v", tt.data, name, isString, ok, tt.name, tt.isString, tt.ok)
		}
	}
	for _, v := range sioVectors {
		if v.want.typ != SIOEvent && v.want.typ != SIOBinaryEvent {
			continue
		}
		p, _ := DecodeSIO([]byte(v.enc), 0)
		if _, _, ok := EventName(p.Data); !ok {
			t.Errorf("%s: no event name", v.name)
		}
		if allocs := testing.AllocsPerRun(100, func() { EventName(p.Data) }); allocs != 0 {
			t.Errorf("EventName: %v allocations", allocs)
		}
	}
}

func TestPlaceholderNum(t *testing.T) {
	for _, tt := range []struct {
		v   string
		num int
		ok  bool
	}{
		{`{"_placeholder":true,"num":0}`, 0, true},
		{`{"_placeholder":true,"num":9}`, 9, true},
		{`{"num":3,"_placeholder":true}`, 3, true},
		{`{ "_placeholder" : true , "num" : 12 }`, 12, true},
		{`{"_placeholder":true,"num":65535}`, 65535, true},
		{`{"_placeholder":true,"num":99999}`, 99999, true},
		{`{"_placeholder":true,"num":100000}`, 0, false},
		{`{"_placeholder":true,"num":-1}`, 0, false},
		{`{"_placeholder":true,"num":0.5}`, 0, false},
		{`{"_placeholder":true,"num":1e0}`, 0, false},
		{`{"_placeholder":true,"num":"0"}`, 0, false},
		{`{"_placeholder":true,"num":"splice"}`, 0, false},
		{`{"_placeholder":true,"num":null}`, 0, false},
		{`{"_placeholder":false,"num":0}`, 0, false},
		{`{"_placeholder":"true","num":0}`, 0, false},
		{`{"_placeholder":true}`, 0, false},
		{`{"num":0}`, 0, false},
		{`{"_placeholder":true,"num":0,"x":1}`, 0, false},
		{`{"x":1,"_placeholder":true,"num":0}`, 0, false},
		{`{"_placeholder":true,"_placeholder":true}`, 0, false},
		{`{"\u005fplaceholder":true,"num":0}`, 0, false}, // raw keys: escapes are not decoded
		{`{}`, 0, false},
		{`[0]`, 0, false},
		{`"x"`, 0, false},
		{`0`, 0, false},
		{``, 0, false},
		{`{"_placeholder":true,"num":0`, 0, false},
	} {
		num, ok := PlaceholderNum([]byte(tt.v))
		if num != tt.num && tt.ok || ok != tt.ok {
			t.Errorf("PlaceholderNum(%s) = %d, %v; want %d, %v", tt.v, num, ok, tt.num, tt.ok)
		}
	}
	v := []byte(`{"_placeholder":true,"num":7}`)
	if allocs := testing.AllocsPerRun(100, func() { PlaceholderNum(v) }); allocs != 0 {
		t.Errorf("PlaceholderNum: %v allocations", allocs)
	}
}

// TestDecodeSIOPlaceholdersMatchPlaceholderNum: every object that the decoder
// validated as a placeholder is one for PlaceholderNum (which the socket
// layer uses to resolve it), with a num below the attachment count.
func TestDecodeSIOPlaceholdersMatchPlaceholderNum(t *testing.T) {
	for _, v := range append(sioVectors[:0:0], sioVectors...) {
		if v.want.typ != SIOBinaryEvent && v.want.typ != SIOBinaryAck {
			continue
		}
		p, err := DecodeSIO([]byte(v.enc), 0)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		var walk func(val []byte)
		walk = func(val []byte) {
			if n, ok := PlaceholderNum(val); ok {
				if n >= p.Attachments || seen[n] {
					t.Errorf("%s: placeholder %d of %d (seen %v)", v.name, n, p.Attachments, seen)
				}
				seen[n] = true
				return
			}
			switch Kind(val) {
			case JSONArray:
				ArrayElements(val, func(_ int, e []byte) bool { walk(e); return true })
			case JSONObject:
				ObjectMembers(val, func(_, e []byte) bool { walk(e); return true })
			}
		}
		walk(p.Data)
		if len(seen) != p.Attachments {
			t.Errorf("%s: %d placeholders for %d attachments", v.name, len(seen), p.Attachments)
		}
	}
}

// TestDecodeSIOMaxAttachmentsBoundary: exactly max is accepted, max+1 is not,
// for the default and for configured values.
func TestDecodeSIOMaxAttachmentsBoundary(t *testing.T) {
	for _, max := range []int{0, 1, 2, 10, 50, 255} {
		eff := max
		if eff <= 0 {
			eff = DefaultMaxAttachments
		}
		var phs []string
		for i := range eff {
			phs = append(phs, ph(i))
		}
		ok := "5" + strconv.Itoa(eff) + `-["a",` + strings.Join(phs, ",") + `]`
		if p, err := DecodeSIO([]byte(ok), max); err != nil || p.Attachments != eff {
			t.Errorf("max %d: %d attachments: %+v, %v", max, eff, p, err)
		}
		over := "6" + strconv.Itoa(eff+1) + `-[]`
		if _, err := DecodeSIO([]byte(over), max); err != ErrSIOTooManyAttach {
			t.Errorf("max %d: %d attachments: %v", max, eff+1, err)
		}
	}
}
