package codec

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

func TestNegotiateDeflate(t *testing.T) {
	full := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	cases := []struct {
		offer string
		want  string // "" when declined
	}{
		{"", ""},
		{"permessage-deflate", full},
		// ws's default offer, and engine.io-client's in Node.
		{"permessage-deflate; client_max_window_bits", full},
		{"permessage-deflate; client_max_window_bits=10", full},
		{`permessage-deflate; client_max_window_bits="10"`, full},
		{"permessage-deflate; client_no_context_takeover", full},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", full},
		// A browser's offer.
		{"permessage-deflate; client_max_window_bits", full},
		{"permessage-deflate;server_max_window_bits=15", full + "; server_max_window_bits=15"},
		// The window cannot be made smaller: the next offer is taken.
		{"permessage-deflate; server_max_window_bits=10", ""},
		{"permessage-deflate; server_max_window_bits=10, permessage-deflate", full},
		// Invalid offers are declined, the next one still considered.
		{"permessage-deflate; client_max_window_bits=16", ""},
		{"permessage-deflate; client_max_window_bits=7", ""},
		{"permessage-deflate; client_max_window_bits=010", ""},
		{"permessage-deflate; server_max_window_bits", ""},
		{"permessage-deflate; server_no_context_takeover=1", ""},
		{"permessage-deflate; client_no_context_takeover; client_no_context_takeover", ""},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits=9", ""},
		{"permessage-deflate; foo", ""},
		{"permessage-deflate; foo, permessage-deflate; client_max_window_bits", full},
		{"x-webkit-deflate-frame, permessage-deflate", full},
		{"x-other; a=1; b=\"q,;\", permessage-deflate", full},
		{"x-other", ""},
		{" , permessage-deflate ,", full},
		// Malformed syntax declines the extension altogether.
		{"permessage-deflate; ", ""},
		{"permessage-deflate;;", ""},
		{"permessage-deflate; client_max_window_bits=", ""},
		{"permessage-deflate; client_max_window_bits=\"10", ""},
		{"permessage-deflate, x y", ""},
		{"permessage-deflate x", ""},
		{"permessage-deflate; a=b c", ""},
		{"\"permessage-deflate\"", ""},
	}
	for _, c := range cases {
		resp, ok := NegotiateDeflate([]byte(c.offer))
		got := ""
		if ok {
			got = string(AppendDeflateResponse(nil, resp))
		}
		if got != c.want {
			t.Errorf("NegotiateDeflate(%q) = %q, want %q", c.offer, got, c.want)
		}
	}
}

func stdInflate(t *testing.T, payload []byte) []byte {
	t.Helper()
	r := stdflate.NewReader(io.MultiReader(bytes.NewReader(payload), strings.NewReader(inflateTail)))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("compress/flate cannot read our output: %v", err)
	}
	return out
}

func stdDeflate(t *testing.T, msg []byte) []byte {
	var b bytes.Buffer
	w, _ := stdflate.NewWriter(&b, 6)
	w.Write(msg)
	w.Flush()
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte(deflateTail)) {
		t.Fatalf("no sync flush tail")
	}
	return out[:len(out)-4]
}

func TestDeflateFrameRoundTrip(t *testing.T) {
	d := NewDeflater(0, 0)
	big := bytes.Repeat([]byte(`{"event":"tick","n":12345} `), 4000)
	for _, msg := range [][]byte{nil, []byte("4"), []byte("42[\"hello\"]"), big} {
		for split := range []int{0, 1} {
			p1, p2 := msg, []byte(nil)
			if split == 1 && len(msg) > 1 {
				p1, p2 = msg[:1], msg[1:]
			}
			frame := d.AppendFrame([]byte("prefix"), ws.OpText, p1, p2)
			if string(frame[:6]) != "prefix" {
				t.Fatal("AppendFrame overwrote dst")
			}
			h, hn, err := ParseFrameHeader(frame[6:], 0)
			if err != nil || hn == 0 || !h.Fin || h.Rsv != 4 || h.OpCode != ws.OpText || int(h.Length) != len(frame)-6-hn {
				t.Fatalf("header %+v n=%d err=%v for %d bytes", h, hn, err, len(frame)-6)
			}
			payload := frame[6+hn:]
			if got := stdInflate(t, payload); !bytes.Equal(got, msg) {
				t.Fatalf("compress/flate read %d bytes, want %d", len(got), len(msg))
			}
			got, err := Inflate([]byte("x"), payload, int64(len(msg)))
			if err != nil || !bytes.Equal(got[1:], msg) || got[0] != 'x' {
				t.Fatalf("Inflate: %v, %d bytes", err, len(got))
			}
		}
	}
	if n := len(d.AppendFrame(nil, ws.OpText, big, nil)); n > len(big)/10 {
		t.Errorf("a repetitive %d-byte message compressed to %d bytes", len(big), n)
	}
}

func TestInflateOtherImplementation(t *testing.T) {
	msg := bytes.Repeat([]byte("héllo wörld "), 500)
	got, err := Inflate(nil, stdDeflate(t, msg), 1e6)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Inflate(compress/flate output): %v", err)
	}
	// A message whose last block is final (BFINAL) is allowed too.
	var b bytes.Buffer
	w, _ := stdflate.NewWriter(&b, 9)
	w.Write(msg)
	w.Close()
	got, err = Inflate(nil, b.Bytes(), 1e6)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Inflate(final block): %v", err)
	}
}

func TestInflateBombIsCapped(t *testing.T) {
	bomb := stdDeflate(t, make([]byte, 50<<20)) // 50 MiB of zeros in ~50 KiB
	if len(bomb) > 100<<10 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	out, err := Inflate(nil, bomb, 1e6)
	if !errors.Is(err, ErrInflateTooLarge) {
		t.Fatalf("err = %v, want ErrInflateTooLarge", err)
	}
	if cap(out) > 1e6+1 {
		t.Fatalf("the bomb got %d bytes allocated, limit 1e6", cap(out))
	}
	// Exactly at the limit is fine.
	msg := bytes.Repeat([]byte{'a'}, 1000)
	if _, err := Inflate(nil, stdDeflate(t, msg), 1000); err != nil {
		t.Fatalf("a message of exactly the limit: %v", err)
	}
	if _, err := Inflate(nil, stdDeflate(t, msg), 999); !errors.Is(err, ErrInflateTooLarge) {
		t.Fatalf("one byte over: %v", err)
	}
}

func TestInflateCorrupt(t *testing.T) {
	good := stdDeflate(t, bytes.Repeat([]byte("abcdef"), 100))
	for _, bad := range [][]byte{
		{0xff, 0xff, 0xff, 0xff},
		{0x07},                        // reserved block type
		good[:len(good)/2],            // truncated
		append([]byte{0x04}, good...), // a dynamic block header that is garbage
	} {
		if _, err := Inflate(nil, bad, 1e6); !errors.Is(err, ErrInflateCorrupt) {
			t.Errorf("Inflate(%x): err = %v, want ErrInflateCorrupt", bad[:min(len(bad), 8)], err)
		}
	}
	// The pooled decompressor is reusable after an error.
	if got, err := Inflate(nil, good, 1e6); err != nil || len(got) != 600 {
		t.Fatalf("after errors: %v, %d bytes", err, len(got))
	}
}

func TestAppendDeflated(t *testing.T) {
	d := NewDeflater(100, 1)
	small := []byte("4short")
	large := append([]byte("4"), bytes.Repeat([]byte("x"), 500)...)
	att := bytes.Repeat([]byte{1, 2, 3}, 100)
	var frames []byte
	frames = AppendFrame(frames, ws.OpText, large)
	frames = AppendFrame(frames, ws.OpBinary, att)
	frames = AppendFrame(frames, ws.OpBinary, small)
	out := d.AppendDeflated(nil, frames)
	want := []struct {
		op   ws.OpCode
		rsv1 bool
		data []byte
	}{{ws.OpText, true, large}, {ws.OpBinary, true, att}, {ws.OpBinary, false, small}}
	for i, w := range want {
		h, hn, err := ParseFrameHeader(out, 0)
		if err != nil || hn == 0 {
			t.Fatalf("frame %d: %v", i, err)
		}
		p := out[hn : hn+int(h.Length)]
		if (h.Rsv == 4) != w.rsv1 || h.OpCode != w.op {
			t.Fatalf("frame %d: rsv %d op %v", i, h.Rsv, h.OpCode)
		}
		if w.rsv1 {
			p, _ = Inflate(nil, p, 1e6)
		}
		if !bytes.Equal(p, w.data) {
			t.Fatalf("frame %d: payload differs", i)
		}
		out = out[hn+int(h.Length):]
	}
	if len(out) != 0 {
		t.Fatalf("%d bytes left", len(out))
	}
}

func TestCheckClientHeaderDeflate(t *testing.T) {
	cases := []struct {
		h          ws.Header
		fragmented bool
		compressed bool
		err        bool
	}{
		{ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText, Masked: true}, false, true, false},
		{ws.Header{Fin: false, Rsv: 4, OpCode: ws.OpBinary, Masked: true}, false, true, false},
		{ws.Header{Fin: true, Rsv: 0, OpCode: ws.OpText, Masked: true}, false, false, false},
		{ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpContinuation, Masked: true}, true, false, true},
		{ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpPing, Masked: true}, false, false, true},
		{ws.Header{Fin: true, Rsv: 2, OpCode: ws.OpText, Masked: true}, false, false, true},
		{ws.Header{Fin: true, Rsv: 6, OpCode: ws.OpText, Masked: true}, false, false, true},
		{ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText, Masked: false}, false, false, true},
	}
	for i, c := range cases {
		compressed, err := CheckClientHeaderDeflate(c.h, c.fragmented)
		if (err != nil) != c.err || (err == nil && compressed != c.compressed) {
			t.Errorf("case %d: compressed %v err %v", i, compressed, err)
		}
	}
	// Without negotiation RSV1 stays a protocol error.
	if err := CheckClientHeader(ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText, Masked: true}, false); err == nil {
		t.Error("RSV1 accepted without permessage-deflate")
	}
}

func FuzzInflate(f *testing.F) {
	d := NewDeflater(0, 0)
	for _, s := range []string{"", "4", `42["chat","héllo"]`, strings.Repeat("abc", 1000)} {
		fr := d.AppendFrame(nil, ws.OpText, []byte(s), nil)
		_, hn, _ := ParseFrameHeader(fr, 0)
		f.Add(fr[hn:])
	}
	f.Add([]byte{0x00})
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{0x01, 0x00, 0x00, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Inflate(nil, data, 4096)
		if err == nil && len(out) > 4096 {
			t.Fatalf("%d bytes past the limit", len(out))
		}
		if cap(out) > 4097 {
			t.Fatalf("allocated %d bytes for a 4096 limit", cap(out))
		}
		if err == nil {
			// What inflates must survive a round trip.
			fr := d.AppendFrame(nil, ws.OpBinary, out, nil)
			_, hn, _ := ParseFrameHeader(fr, 0)
			back, err := Inflate(nil, fr[hn:], 4096)
			if err != nil || !bytes.Equal(back, out) {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}

func FuzzNegotiateDeflate(f *testing.F) {
	for _, s := range []string{"permessage-deflate; client_max_window_bits", "permessage-deflate; server_max_window_bits=15, x",
		`a; b="c\"d", permessage-deflate; client_no_context_takeover`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		resp, ok := NegotiateDeflate([]byte(s))
		if ok && (!resp.ServerNoContextTakeover || !resp.ClientNoContextTakeover) {
			t.Fatalf("accepted %q with context takeover", s)
		}
	})
}

func BenchmarkDeflateFrame4K(b *testing.B) {
	d := NewDeflater(1024, 0)
	msg := bytes.Repeat([]byte(`{"user":"alice","text":"hello world","n":42},`), 4096/44)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	var dst []byte
	for b.Loop() {
		dst = d.AppendFrame(dst[:0], ws.OpText, []byte("42"), msg)
	}
}

func BenchmarkInflate4K(b *testing.B) {
	d := NewDeflater(0, 0)
	msg := bytes.Repeat([]byte(`{"user":"alice","text":"hello world","n":42},`), 4096/44)
	fr := d.AppendFrame(nil, ws.OpText, msg, nil)
	_, hn, _ := ParseFrameHeader(fr, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	var dst []byte
	for b.Loop() {
		dst, _ = Inflate(dst[:0], fr[hn:], 1e6)
	}
}
