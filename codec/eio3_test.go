package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf16"
)

// jsLen is String.length of the text a WHATWG decoder makes of b.
func jsLen(b []byte) int { return len(utf16.Encode([]rune(strings.ToValidUTF8(string(b), "\uFFFD")))) }

func TestUTF16Len(t *testing.T) {
	cases := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"hello", 5},
		{"é", 1},         // 2 bytes, 1 unit
		{"€", 1},         // 3 bytes, 1 unit
		{"😀", 2},         // 4 bytes, a surrogate pair
		{"a😀b€", 5},      // mixed
		{"\xff", 1},      // invalid byte: one U+FFFD
		{"\xe2\x82", 1},  // truncated 3-byte sequence: one maximal subpart
		{"\xe2\x82a", 2}, // the same, then a
		{"\xf0\x9f\x98", 1},
		{"\xed\xa0\x80", 3}, // an encoded surrogate: three U+FFFD (0xa0 is not allowed after 0xed)
		{"\xc0\xaf", 2},     // overlong: two
	}
	for _, c := range cases {
		if got := UTF16Len([]byte(c.in)); got != c.want {
			t.Errorf("UTF16Len(%q) = %d, want %d", c.in, got, c.want)
		}
	}
	// Valid text agrees with Go's own UTF-16 encoder.
	for _, s := range []string{"plain", "ü😀🎉x", strings.Repeat("𝄞", 100)} {
		if got, want := UTF16Len([]byte(s)), jsLen([]byte(s)); got != want {
			t.Errorf("UTF16Len(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestAppendPayloadPacketV3(t *testing.T) {
	var b []byte
	b = AppendPayloadPacketV3(b, PacketMessage, false, []byte(`2["e","😀"]`))
	b = AppendPayloadPacketV3(b, PacketPong, false, nil)
	b = AppendPayloadPacketV3(b, PacketMessage, true, []byte{1, 2, 3, 4})
	// `4` + 2["e","😀"] is 1+11 = 12 UTF-16 units (the emoji counts 2), 15 bytes.
	want := "12:42[\"e\",\"😀\"]1:310:b4AQIDBA=="
	if string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
	var bin []byte
	bin = AppendBinaryPayloadPacketV3(bin, PacketMessage, false, []byte("é"))
	bin = AppendBinaryPayloadPacketV3(bin, PacketMessage, true, []byte{9, 8})
	// string: 0, "3" as digits (1 type + 2 bytes), 0xff, "4é"; binary: 1, 3, 0xff, 0x04, data
	wantBin := []byte{0, 3, 0xff, '4', 0xc3, 0xa9, 1, 3, 0xff, 4, 9, 8}
	if !bytes.Equal(bin, wantBin) {
		t.Fatalf("binary payload % x, want % x", bin, wantBin)
	}
	// A record of more than 9 bytes has a two-digit length.
	long := AppendBinaryPayloadPacketV3(nil, PacketMessage, false, []byte("0123456789"))
	if !bytes.Equal(long[:4], []byte{0, 1, 1, 0xff}) {
		t.Fatalf("header % x", long[:4])
	}
}

func TestTextToBinaryPayloadV3(t *testing.T) {
	text := AppendPayloadPacketV3(nil, PacketMessage, false, []byte("a😀"))
	text = AppendPayloadPacketV3(text, PacketPong, false, nil)
	got := TextToBinaryPayloadV3(nil, text)
	want := AppendBinaryPayloadPacketV3(nil, PacketMessage, false, []byte("a😀"))
	want = AppendBinaryPayloadPacketV3(want, PacketPong, false, nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

func readAllV3(t *testing.T, body []byte, binary bool, max int) ([]wantPacket, error) {
	t.Helper()
	r := NewPayloadReaderV3(body, binary, max)
	var out []wantPacket
	for i := 0; i <= len(body)+1; i++ {
		p, ok, err := r.Next()
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, wantPacket{p.Type, p.Binary, string(p.Data)})
	}
	t.Fatal("reader did not finish")
	return nil, nil
}

func TestPayloadReaderV3(t *testing.T) {
	ok := []struct {
		in   string
		want []wantPacket
	}{
		{"6:4hello", []wantPacket{{PacketMessage, false, "hello"}}},
		{"1:2", []wantPacket{{PacketPing, false, ""}}},
		{"3:4😀", []wantPacket{{PacketMessage, false, "😀"}}}, // 1 + 2 units, 5 bytes
		{"2:4é1:2", []wantPacket{{PacketMessage, false, "é"}, {PacketPing, false, ""}}},
		{"10:b4AQIDBA==", []wantPacket{{PacketMessage, true, "\x01\x02\x03\x04"}}},
		{"8:b4AQIDBA", []wantPacket{{PacketMessage, true, "\x01\x02\x03\x04"}}}, // unpadded, as Buffer.from accepts
		{"0:", nil},
		{"0:1:6", []wantPacket{{PacketNoop, false, ""}}},
		{"01:6", []wantPacket{{PacketNoop, false, ""}}}, // Number("01") == 1
	}
	for _, c := range ok {
		got, err := readAllV3(t, []byte(c.in), false, 0)
		if err != nil || !equalPackets(got, c.want) {
			t.Errorf("%q: %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []struct {
		in   string
		want error
	}{
		{"", ErrV3Payload},
		{"4hello", ErrV3Length},       // no length
		{":4", ErrV3Length},           // empty length
		{"x:4", ErrV3Length},          // not a number
		{"-1:4", ErrV3Length},         // sign
		{"7:4hello", ErrV3Length},     // longer than the rest
		{"2:4😀", ErrV3Length},         // ends inside a surrogate pair
		{"5:4hello", ErrV3Length},     // leftover "o" has no length
		{"6:4hello3", ErrV3Length},    // trailing length without colon
		{"1:9", ErrInvalidPacket},     // unknown type
		{"2:b2", ErrInvalidPacket},    // base64 packet of another type
		{"5:b4A=A", ErrInvalidBase64}, // bad base64
		{"2:4\xff", ErrV3UTF8},
		{"99999999999:4", ErrV3Length}, // too many digits
	}
	for _, c := range bad {
		_, err := readAllV3(t, []byte(c.in), false, 0)
		if !errors.Is(err, c.want) {
			t.Errorf("%q: error %v, want %v", c.in, err, c.want)
		}
	}
	if _, err := readAllV3(t, []byte("1:21:21:2"), false, 2); err != ErrTooManyPackets {
		t.Errorf("3 packets with a cap of 2: %v", err)
	}
}

func TestPayloadReaderV3Binary(t *testing.T) {
	body := AppendBinaryPayloadPacketV3(nil, PacketMessage, false, []byte(`2["x"]`))
	body = AppendBinaryPayloadPacketV3(body, PacketMessage, true, []byte{0, 1, 2})
	body = AppendBinaryPayloadPacketV3(body, PacketPing, false, nil)
	got, err := readAllV3(t, body, true, 0)
	want := []wantPacket{{PacketMessage, false, `2["x"]`}, {PacketMessage, true, "\x00\x01\x02"}, {PacketPing, false, ""}}
	if err != nil || !equalPackets(got, want) {
		t.Fatalf("%+v, %v; want %+v", got, err, want)
	}
	for _, in := range [][]byte{
		{},                 // empty
		{2, 1, 0xff, '2'},  // kind 2
		{0, 0xff, '2'},     // no digits
		{0, 1, 0xfe},       // no 0xff
		{0, 12, 0xff, '2'}, // a digit above 9
		{0, 5, 0xff, '4'},  // longer than the rest
		{0, 0, 0xff},       // zero length
		{1, 2, 0xff, 2, 1}, // binary of another type than message
		{0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xff}, // too many digits
	} {
		if _, err := readAllV3(t, in, true, 0); err == nil {
			t.Errorf("% x: no error", in)
		}
	}
}

func TestDecodeV3WebSocket(t *testing.T) {
	p, err := DecodeBinaryV3([]byte{4, 1, 2})
	if err != nil || !p.Binary || p.Type != PacketMessage || string(p.Data) != "\x01\x02" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, b := range [][]byte{{}, {2, 1}, {'4', 1}} {
		if _, err := DecodeBinaryV3(b); err == nil {
			t.Errorf("% x: no error", b)
		}
	}
	p, err = DecodeTextV3([]byte("b4AQI="))
	if err != nil || !p.Binary || string(p.Data) != "\x01\x02" {
		t.Fatalf("%+v %v", p, err)
	}
	if p, err = DecodeTextV3([]byte("42[1]")); err != nil || p.Binary || string(p.Data) != "2[1]" {
		t.Fatalf("%+v %v", p, err)
	}
}
