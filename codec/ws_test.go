package codec

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

func wsHeaderBytes(t testing.TB, h ws.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := ws.WriteHeader(&b, h); err != nil {
		t.Fatalf("ws.WriteHeader(%+v): %v", h, err)
	}
	return b.Bytes()
}

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frameHeaders are written with ws.WriteHeader and must be read back the
// same by ParseFrameHeader and by ws.ReadHeader.
var frameHeaders = []ws.Header{
	{Fin: true, OpCode: ws.OpText, Length: 0},
	{Fin: true, OpCode: ws.OpText, Length: 6, Masked: true, Mask: testMask},
	{Fin: true, OpCode: ws.OpText, Length: 125},
	{Fin: true, OpCode: ws.OpText, Length: 125, Masked: true, Mask: testMask},
	{Fin: true, OpCode: ws.OpBinary, Length: 126},
	{Fin: true, OpCode: ws.OpBinary, Length: 126, Masked: true, Mask: testMask},
	{Fin: true, OpCode: ws.OpBinary, Length: 0xffff},
	{Fin: true, OpCode: ws.OpBinary, Length: 0xffff, Masked: true, Mask: testMask},
	{Fin: true, OpCode: ws.OpBinary, Length: 0x10000},
	{Fin: true, OpCode: ws.OpBinary, Length: 0x10000, Masked: true, Mask: testMask},
	{Fin: true, OpCode: ws.OpBinary, Length: 1e6, Masked: true, Mask: testMask},
	{Fin: true, OpCode: ws.OpBinary, Length: 1<<63 - 1, Masked: true, Mask: testMask},
	{Fin: false, OpCode: ws.OpText, Length: 3, Masked: true, Mask: testMask},
	{Fin: false, OpCode: ws.OpContinuation, Length: 0, Masked: true, Mask: testMask},
	{Fin: true, OpCode: ws.OpContinuation, Length: 300, Masked: true, Mask: testMask},
	{Fin: true, OpCode: ws.OpClose, Length: 2, Masked: true, Mask: testMask},
	{Fin: true, OpCode: ws.OpPing, Length: 0, Masked: true, Mask: [4]byte{}},
	{Fin: true, OpCode: ws.OpPong, Length: 125, Masked: true, Mask: [4]byte{0xff, 0xff, 0xff, 0xff}},
	{Fin: true, Rsv: 7, OpCode: 0xf, Length: 1},
	{Fin: false, Rsv: 4, OpCode: 0x3, Length: 70000, Masked: true, Mask: testMask},
}

func TestParseFrameHeader(t *testing.T) {
	for _, h := range frameHeaders {
		b := wsHeaderBytes(t, h)
		got, n, err := ParseFrameHeader(b, 0)
		if err != nil || n != len(b) || got != h {
			t.Errorf("ParseFrameHeader(% x) = %+v, %d, %v; want %+v, %d", b, got, n, err, h, len(b))
		}
		ref, err := ws.ReadHeader(bytes.NewReader(b))
		if err != nil || ref != got {
			t.Errorf("ws.ReadHeader(% x) = %+v, %v; ParseFrameHeader = %+v", b, ref, err, got)
		}
		// Trailing payload bytes are not part of the header.
		if _, n, err := ParseFrameHeader(append(b[:len(b):len(b)], "payload"...), 0); n != len(b) || err != nil {
			t.Errorf("with payload: n=%d err=%v", n, err)
		}
		// Split at every offset: no header and no error until the last byte.
		for k := 0; k < len(b); k++ {
			if _, n, err := ParseFrameHeader(b[:k], 0); n != 0 || err != nil {
				t.Errorf("prefix %d of % x: n=%d err=%v, want 0, nil", k, b, n, err)
			}
		}
		if FrameHeaderLen(int(min(h.Length, 1<<40))) != len(b)-map[bool]int{true: 4}[h.Masked] {
			t.Errorf("FrameHeaderLen(%d) = %d, header is %d bytes", h.Length, FrameHeaderLen(int(h.Length)), len(b))
		}
	}
}

func TestParseFrameHeaderLimits(t *testing.T) {
	// CVE-2020-27813: a 64-bit length with the MSB set.
	msb := []byte{0x01, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}
	for _, max := range []int64{0, 1e6} {
		if _, n, err := ParseFrameHeader(msb, max); err != ErrLengthMSB || n != 0 {
			t.Errorf("MSB set, max %d: n=%d err=%v", max, n, err)
		}
	}
	// gobwas reads the mask before it checks the MSB; we stop without it.
	if _, err := ws.ReadHeader(bytes.NewReader(append(msb, 1, 2, 3, 4))); !errors.Is(err, ErrLengthMSB) {
		t.Errorf("ws.ReadHeader agrees on the MSB: %v", err)
	}
	for _, b0 := range []byte{0xff, 0xc0, 0x80} {
		b := []byte{0x82, 0x7F, b0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		if _, _, err := ParseFrameHeader(b, 0); err != ErrLengthMSB {
			t.Errorf("% x: %v", b, err)
		}
	}

	// CVE-2016-10542: 2^40 declared, 1e6 allowed → refused as soon as the
	// length is known, before the mask arrives.
	huge := []byte{0x81, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0}
	if h, n, err := ParseFrameHeader(huge, 1e6); err != ErrFrameTooLarge || n != 0 || h.Length != 1<<40 {
		t.Errorf("2^40 with max 1e6: %+v, n=%d, %v", h, n, err)
	}
	if _, n, err := ParseFrameHeader(huge[:9], 1e6); err != nil || n != 0 {
		t.Errorf("incomplete 2^40 header: n=%d, %v", n, err)
	}
	// Two continuations of 2^62 each are each refused on their own.
	cont := []byte{0x00, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	if _, _, err := ParseFrameHeader(cont, 1e6); err != ErrFrameTooLarge {
		t.Errorf("2^62 continuation: %v", err)
	}
	// The limit is inclusive, in every length encoding.
	for _, tc := range []struct {
		length int64
		max    int64
		err    error
	}{
		{1e6, 1e6, nil}, {1e6 + 1, 1e6, ErrFrameTooLarge},
		{125, 125, nil}, {126, 125, ErrFrameTooLarge},
		{0xffff, 0xffff, nil}, {0x10000, 0xffff, ErrFrameTooLarge},
		{10, 9, ErrFrameTooLarge}, {1<<63 - 1, 0, nil}, {1<<63 - 1, -1, nil},
	} {
		b := wsHeaderBytes(t, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: tc.length, Masked: true, Mask: testMask})
		if _, _, err := ParseFrameHeader(b, tc.max); err != tc.err {
			t.Errorf("length %d, max %d: %v, want %v", tc.length, tc.max, err, tc.err)
		}
	}
}

func TestCheckClientHeader(t *testing.T) {
	mask := []byte{1, 2, 3, 4}
	frame := func(b0, b1 byte) []byte { return append([]byte{b0, b1}, mask...) }
	tests := []struct {
		name       string
		b          []byte
		fragmented bool
		err        error
	}{
		{"masked text", frame(0x81, 0x80), false, nil},
		{"masked binary", frame(0x82, 0x85), false, nil},
		{"masked ping", frame(0x89, 0x80|125), false, nil},
		{"masked close", frame(0x88, 0x82), false, nil},
		{"start of fragmented text", frame(0x01, 0x83), false, nil},
		{"continuation", frame(0x00, 0x83), true, nil},
		{"final continuation", frame(0x80, 0x83), true, nil},
		{"ping inside a fragmented message", frame(0x89, 0x80), true, nil},

		{"RSV2+RSV3 (CVE-2022-21676)", frame(0xB1, 0x80), false, ws.ErrProtocolNonZeroRsv},
		{"RSV2", frame(0xA1, 0x80), false, ws.ErrProtocolNonZeroRsv},
		{"RSV3", frame(0x91, 0x80), false, ws.ErrProtocolNonZeroRsv},
		{"RSV1 without deflate", frame(0xD1, 0x80), false, ws.ErrProtocolNonZeroRsv},
		{"RSV1 only", frame(0xC1, 0x80), false, ws.ErrProtocolNonZeroRsv},
		{"control frame of 126 bytes", append([]byte{0x89, 0xFE, 0, 126}, mask...), false, ws.ErrProtocolControlPayloadOverflow},
		{"close of 126 bytes", append([]byte{0x88, 0xFE, 0, 126}, mask...), false, ws.ErrProtocolControlPayloadOverflow},
		{"ping without FIN", frame(0x09, 0x80), false, ws.ErrProtocolControlNotFinal},
		{"close without FIN", frame(0x08, 0x80), false, ws.ErrProtocolControlNotFinal},
		{"continuation without a start", frame(0x80, 0x81), false, ws.ErrProtocolContinuationUnexpected},
		{"text inside a fragmented message", frame(0x81, 0x81), true, ws.ErrProtocolContinuationExpected},
		{"binary inside a fragmented message", frame(0x02, 0x81), true, ws.ErrProtocolContinuationExpected},
		{"unmasked text", []byte{0x81, 0x05}, false, ws.ErrProtocolMaskRequired},
		{"unmasked close", []byte{0x88, 0x00}, false, ws.ErrProtocolMaskRequired},
	}
	for op := byte(0x3); op <= 0xF; op++ {
		if op >= 0x8 && op <= 0xA {
			continue
		}
		tests = append(tests, struct {
			name       string
			b          []byte
			fragmented bool
			err        error
		}{"reserved opcode " + string("0123456789ABCDEF"[op]), frame(0x80|op, 0x80), false, ws.ErrProtocolOpCodeReserved})
	}
	for _, tt := range tests {
		h, n, err := ParseFrameHeader(tt.b, 1e6)
		if err != nil || n != len(tt.b) {
			t.Fatalf("%s: ParseFrameHeader(% x) = n=%d, %v", tt.name, tt.b, n, err)
		}
		err = CheckClientHeader(h, tt.fragmented)
		if err != tt.err {
			t.Errorf("%s: CheckClientHeader(%+v) = %v, want %v", tt.name, h, err, tt.err)
		}
		var pe ws.ProtocolError
		if err != nil && !errors.As(err, &pe) {
			t.Errorf("%s: %T is not a ws.ProtocolError (close 1002)", tt.name, err)
		}
	}
}

func TestAppendFrameHeader(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1e6, 1 << 32} {
		for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary, ws.OpClose, ws.OpPing, ws.OpPong} {
			want := wsHeaderBytes(t, ws.Header{Fin: true, OpCode: op, Length: int64(n)})
			got := AppendFrameHeader(nil, op, n)
			if !bytes.Equal(got, want) {
				t.Errorf("AppendFrameHeader(%v, %d) = % x, want % x", op, n, got, want)
			}
			if FrameHeaderLen(n) != len(want) {
				t.Errorf("FrameHeaderLen(%d) = %d, want %d", n, FrameHeaderLen(n), len(want))
			}
			got = AppendFrameHeader([]byte("pre"), op, n)
			if string(got[:3]) != "pre" || !bytes.Equal(got[3:], want) {
				t.Errorf("with prefix: % x", got)
			}
		}
	}
}

func TestAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1e6} {
		payload := bytes.Repeat([]byte{'x'}, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		var want bytes.Buffer
		if err := ws.WriteFrame(&want, ws.NewFrame(ws.OpBinary, true, payload)); err != nil {
			t.Fatal(err)
		}
		got := AppendFrame(nil, ws.OpBinary, payload)
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("AppendFrame(%d bytes) differs from ws.WriteFrame", n)
		}
		// A pooled, dirty buffer: the result is exactly header + payload.
		dirty := bytes.Repeat([]byte{0xAA}, 2*n+20)
		got = AppendFrame(dirty[:0], ws.OpBinary, payload)
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("AppendFrame(%d bytes) into a dirty buffer differs", n)
		}
		f, err := ws.ReadFrame(bytes.NewReader(got))
		if err != nil || !bytes.Equal(f.Payload, payload) || !f.Header.Fin || f.Header.OpCode != ws.OpBinary {
			t.Errorf("ws.ReadFrame of AppendFrame(%d bytes): %+v, %v", n, f.Header, err)
		}
	}
}

func TestAppendCloseFrame(t *testing.T) {
	if got := AppendCloseFrame(nil, 0, ""); !bytes.Equal(got, []byte{0x88, 0x00}) {
		t.Errorf("code 0 = % x, want 88 00", got)
	}
	if got := AppendCloseFrame(nil, 0, "ignored"); !bytes.Equal(got, []byte{0x88, 0x00}) {
		t.Errorf("code 0 with reason = % x, want 88 00", got)
	}
	if got := AppendCloseFrame(nil, ws.StatusNormalClosure, "bye"); !bytes.Equal(got, []byte{0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'}) {
		t.Errorf("1000 bye = % x", got)
	}
	if got := AppendCloseFrame(nil, ws.StatusProtocolError, ""); !bytes.Equal(got, []byte{0x88, 0x02, 0x03, 0xEA}) {
		t.Errorf("1002 = % x", got)
	}

	// CVE-2026-45736 analogue: a 200-byte multi-byte reason, built in a dirty
	// pooled buffer, is cut to ≤ 123 bytes on a rune boundary and the frame
	// has exactly the bytes it declares.
	for _, reason := range []string{
		"ab" + strings.Repeat("€", 66), // 3-byte runes: byte 123 is a continuation byte
		strings.Repeat("é", 100),       // 2-byte runes
		"a" + strings.Repeat("😀", 50),  // 4-byte runes
		strings.Repeat("x", 200),       // ASCII: cut at exactly 123
		strings.Repeat("x", 123),       // fits exactly
		strings.Repeat("x", 122) + "é", // 124 bytes, the rune straddles the cut
	} {
		dirty := bytes.Repeat([]byte{0xEE}, 300)
		got := AppendCloseFrame(dirty[:0], ws.StatusMessageTooBig, reason)
		h, n, err := ParseFrameHeader(got, 0)
		if err != nil || n != 2 {
			t.Fatalf("header of % x: n=%d %v", got[:4], n, err)
		}
		if !h.Fin || h.OpCode != ws.OpClose || h.Masked || int(h.Length) != len(got)-n {
			t.Errorf("close frame header %+v, total %d bytes", h, len(got))
		}
		if h.Length > 125 {
			t.Errorf("control payload %d > 125", h.Length)
		}
		body := got[n:]
		cut := string(body[2:])
		if len(cut) > 123 || !utf8.ValidString(cut) || !strings.HasPrefix(reason, cut) {
			t.Errorf("reason cut to %d bytes %q", len(cut), cut)
		}
		if len(reason) <= 123 && cut != reason {
			t.Errorf("reason of %d bytes was cut to %d", len(reason), len(cut))
		}
		if len(reason) > 123 && len(cut) < 123-3 {
			t.Errorf("reason cut further than one rune: %d bytes", len(cut))
		}
		if len(got) != 2+2+len(cut) {
			t.Errorf("frame is %d bytes, want %d", len(got), 4+len(cut))
		}
		if code, err := ParseClosePayload(body); err != nil || code != ws.StatusMessageTooBig {
			t.Errorf("ParseClosePayload of our own close frame: %v, %v", code, err)
		}
		// gobwas agrees on the frame.
		f, err := ws.ReadFrame(bytes.NewReader(got))
		if err != nil || f.Header != h {
			t.Errorf("ws.ReadFrame: %+v, %v", f.Header, err)
		}
		if code, r := ws.ParseCloseFrameData(f.Payload); code != ws.StatusMessageTooBig || r != cut {
			t.Errorf("ws.ParseCloseFrameData: %v %q", code, r)
		}
	}
	if n := len(AppendCloseFrame(nil, 1009, "ab"+strings.Repeat("€", 66))); n != 2+2+122 {
		t.Errorf("1009 + 200-byte reason: %d bytes, want 126", n)
	}
}

func TestParseClosePayload(t *testing.T) {
	code := func(c uint16, reason string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, c), reason...)
	}
	tests := []struct {
		name string
		p    []byte
		want ws.StatusCode
		ok   bool
	}{
		{"empty", nil, ws.StatusNoStatusRcvd, true},
		{"empty non-nil", []byte{}, ws.StatusNoStatusRcvd, true},
		{"one byte", []byte{0x03}, 0, false},
		{"1000", code(1000, ""), 1000, true},
		{"1000 with reason", code(1000, "bye"), 1000, true},
		{"1001", code(1001, ""), 1001, true},
		{"1002", code(1002, ""), 1002, true},
		{"1003", code(1003, ""), 1003, true},
		{"1007", code(1007, ""), 1007, true},
		{"1008", code(1008, ""), 1008, true},
		{"1009", code(1009, "too big"), 1009, true},
		{"1010", code(1010, ""), 1010, true},
		{"1011", code(1011, ""), 1011, true},
		{"3000", code(3000, ""), 3000, true},
		{"3999", code(3999, ""), 3999, true},
		{"4000", code(4000, ""), 4000, true},
		{"4999", code(4999, "ünïcödé"), 4999, true},
		{"0", code(0, ""), 0, false},
		{"999", code(999, ""), 0, false},
		{"1004", code(1004, ""), 0, false},
		{"1005", code(1005, ""), 0, false},
		{"1006", code(1006, ""), 0, false},
		{"1012", code(1012, ""), 0, false},
		{"1015", code(1015, ""), 0, false},
		{"1016", code(1016, ""), 0, false},
		{"1100", code(1100, ""), 0, false},
		{"2000", code(2000, ""), 0, false},
		{"2999", code(2999, ""), 0, false},
		{"invalid UTF-8", code(1000, "\xff\xfe"), 0, false},
		{"truncated rune", code(1000, "ab\xe2\x82"), 0, false},
		{"surrogate", code(1000, "\xed\xa0\x80"), 0, false},
		{"overlong", code(1000, "\xc0\xaf"), 0, false},
	}
	for _, tt := range tests {
		got, err := ParseClosePayload(tt.p)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("%s: ParseClosePayload(% x) = %v, %v; want %v", tt.name, tt.p, got, err, tt.want)
		}
		if !tt.ok && err != ErrBadCloseFrame {
			t.Errorf("%s: ParseClosePayload(% x) = %v, %v; want ErrBadCloseFrame", tt.name, tt.p, got, err)
		}
		// Non-empty payloads agree with gobwas' checker.
		if len(tt.p) >= 2 {
			c, r := ws.ParseCloseFrameData(tt.p)
			if ref := ws.CheckCloseFrameData(c, r); (ref == nil) != (err == nil) {
				t.Errorf("%s: ws.CheckCloseFrameData = %v, ours = %v", tt.name, ref, err)
			}
		}
	}
}

func TestWebSocketKey(t *testing.T) {
	// RFC 6455 §1.3.
	const key, accept = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
	if !ValidWebSocketKey([]byte(key)) {
		t.Error("RFC 6455 example key is not valid")
	}
	if got := AppendAcceptKey(nil, []byte(key)); string(got) != accept {
		t.Errorf("AppendAcceptKey = %s, want %s", got, accept)
	}
	if got := AppendAcceptKey([]byte("Sec-WebSocket-Accept: "), []byte(key)); string(got) != "Sec-WebSocket-Accept: "+accept {
		t.Errorf("with prefix: %s", got)
	}

	valid := []string{key, "AAAAAAAAAAAAAAAAAAAAAA==", "/////////////////////w==", "x3JJHMbDL1EzLkh9GBhXDw=="}
	invalid := []string{
		"", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ===",
		"dGhlIHNhbXBsZSBub25jZQ==x", "dGhlIHNhbXBsZSBub25j====", "dGhlIHNhbXBsZSBub25jZQ!=",
		"dGhlIHNhbXBsZSBub25jZ-_=", "dGhlIHNhbXBsZSBub25jZQ=A", " dGhlIHNhbXBsZSBub25jZQ=",
		"dGhlIHNhbXBsZSBub25jZQ\x00=", strings.Repeat("A", 24), strings.Repeat("A", 64) + "==",
	}
	for _, k := range valid {
		if !ValidWebSocketKey([]byte(k)) {
			t.Errorf("ValidWebSocketKey(%q) = false", k)
		}
	}
	for _, k := range invalid {
		if ValidWebSocketKey([]byte(k)) {
			t.Errorf("ValidWebSocketKey(%q) = true", k)
		}
	}
}

// TestAppendAcceptKeyOversizedKeyDoesNotPanic: the key was copied into a
// fixed 60-byte array and sliced to len(key)+36, which panicked for keys
// longer than 24 bytes. Every length must give SHA-1(key+GUID).
func TestAppendAcceptKeyOversizedKeyDoesNotPanic(t *testing.T) {
	for n := 0; n <= 200; n++ {
		key := bytes.Repeat([]byte{'k'}, n)
		sum := sha1.Sum(append(bytes.Clone(key), "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"...))
		want := base64.StdEncoding.EncodeToString(sum[:])
		if got := AppendAcceptKey(nil, key); string(got) != want {
			t.Errorf("AppendAcceptKey(%d-byte key) = %s, want %s", n, got, want)
		}
	}
}

func TestUnmask(t *testing.T) {
	payload := []byte("Hello, WebSocket! This spans more than one mask period.")
	masked := bytes.Clone(payload)
	ws.Cipher(masked, testMask, 0)
	// Whole.
	got := bytes.Clone(masked)
	Unmask(got, testMask, 0)
	if !bytes.Equal(got, payload) {
		t.Errorf("Unmask = %q", got)
	}
	// In pieces at every split, carrying the offset.
	for k := 0; k <= len(masked); k++ {
		got := bytes.Clone(masked)
		Unmask(got[:k], testMask, 0)
		Unmask(got[k:], testMask, k)
		if !bytes.Equal(got, payload) {
			t.Errorf("split at %d: %q", k, got)
		}
	}
}

func TestParseClosePayloadRejectsCodesAbove4999(t *testing.T) {
	for _, code := range []int{5000, 6000, 65535} {
		if _, err := ParseClosePayload([]byte{byte(code >> 8), byte(code)}); err == nil {
			t.Errorf("close code %d accepted; RFC 6455 §7.4.2 leaves it undefined", code)
		}
	}
}
