package codec

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// textOK reports whether every text packet is valid UTF-8, as a text
// payload must be.
func textOK(ps []wantPacket) bool {
	for _, p := range ps {
		if !p.binary && !utf8.ValidString(p.data) {
			return false
		}
	}
	return true
}

// FuzzPayloadReaderV3 feeds arbitrary bodies, text and binary, to the v3
// payload reader: it must finish without panicking, return data borrowed
// from the body, and what it accepts must survive a re-encoding.
func FuzzPayloadReaderV3(f *testing.F) {
	for _, s := range []string{"6:4hello", "3:4😀", "2:4é1:2", "10:b4AQIDBA==", "0:", "1:6", "", ":", "7:4hello",
		"2:4😀", "99999999999:4", "1:21:21:2", "5:b4A=A", "2:4\xff", "01:6"} {
		f.Add([]byte(s), false, 0)
	}
	f.Add([]byte{0, 3, 0xff, '4', 0xc3, 0xa9, 1, 3, 0xff, 4, 9, 8}, true, 0)
	f.Add([]byte{0, 5, 0xff, '4'}, true, 0)
	f.Add([]byte{0, 1, 0xfe}, true, 1)
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xff}, true, 0)
	f.Fuzz(func(t *testing.T, body []byte, binary bool, maxPackets int) {
		buf := bytes.Clone(body)
		r := NewPayloadReaderV3(buf, binary, maxPackets)
		var got []wantPacket
		for i := 0; ; i++ {
			if i > len(body)+2 {
				t.Fatalf("reader did not finish after %d calls", i)
			}
			p, ok, err := r.Next()
			if err != nil {
				if ok {
					t.Fatal("ok with an error")
				}
				return
			}
			if !ok {
				break
			}
			if !within(buf, p.Data) {
				t.Fatalf("packet data %q is not borrowed from the body", p.Data)
			}
			if p.Type > PacketNoop || (p.Binary && p.Type != PacketMessage) {
				t.Fatalf("packet %+v", p)
			}
			got = append(got, wantPacket{p.Type, p.Binary, string(p.Data)})
		}
		if maxPackets > 0 && len(got) > maxPackets {
			t.Fatalf("%d packets with a cap of %d", len(got), maxPackets)
		}
		if len(got) == 0 {
			return
		}
		var text, bin []byte
		for _, p := range got {
			text = AppendPayloadPacketV3(text, p.typ, p.binary, []byte(p.data))
			bin = AppendBinaryPayloadPacketV3(bin, p.typ, p.binary, []byte(p.data))
		}
		again, err := readAllV3(t, bin, true, 0)
		if err != nil || !equalPackets(again, got) {
			t.Fatalf("binary re-encoding % x: %+v, %v; want %+v", bin, again, err, got)
		}
		if !bytes.Equal(TextToBinaryPayloadV3(nil, AppendPayloadPacketV3(nil, PacketNoop, false, nil)), AppendBinaryPayloadPacketV3(nil, PacketNoop, false, nil)) {
			t.Fatal("TextToBinaryPayloadV3")
		}
		if textOK(got) {
			again, err = readAllV3(t, text, false, 0)
			if err != nil || !equalPackets(again, got) {
				t.Fatalf("text re-encoding %q: %+v, %v; want %+v", text, again, err, got)
			}
		}
	})
}
