package load

import (
	"fmt"
	"testing"

	"sio/bench/internal/hist"
	"sio/bench/internal/results"
)

func TestParseResponse(t *testing.T) {
	var scratch []byte
	cases := []struct {
		name    string
		in      string // one response
		extra   string // bytes after it
		upgrade bool
		status  int
		body    string
		partial bool
		close   bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc", "XYZ", false, 200, "abc", false, false},
		{"incomplete body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", "", false, 0, "", true, false},
		{"incomplete head", "HTTP/1.1 200 OK\r\nContent-Len", "", false, 0, "", true, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", "", false, 200, "abcde", false, false},
		{"chunked incomplete", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "", false, 0, "", true, false},
		{"connection close", "HTTP/1.1 400 Bad Request\r\nconnection: Close\r\ncontent-length: 2\r\n\r\nno", "", false, 400, "no", false, true},
		{"upgrade", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "\x81\x02ab", true, 101, "", false, false},
	}
	for _, c := range cases {
		r, n, err := parseResponse([]byte(c.in+c.extra), c.upgrade, &scratch)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.partial {
			if n != 0 {
				t.Fatalf("%s: consumed %d of an incomplete response", c.name, n)
			}
			continue
		}
		if n != len(c.in) {
			t.Fatalf("%s: consumed %d, want %d", c.name, n, len(c.in))
		}
		if r.status != c.status || string(r.body) != c.body || r.close != c.close {
			t.Fatalf("%s: got %d %q close=%v", c.name, r.status, r.body, r.close)
		}
	}
	if _, _, err := parseResponse([]byte("SMTP ready\r\n\r\n"), false, &scratch); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestPayloadTime(t *testing.T) {
	for in, want := range map[string]int64{
		`["bcast",{"t":1732600000123456789,"p":"abc"}]`: 1732600000123456789,
		`[{"t":5,"p":""}]`: 5,
	} {
		got, ok := payloadTime([]byte(in))
		if !ok || got != want {
			t.Errorf("%s: %d %v", in, got, ok)
		}
	}
	if _, ok := payloadTime([]byte(`[]`)); ok {
		t.Error("empty ack has a time")
	}
}

func TestJSONString(t *testing.T) {
	sid, ok := jsonString([]byte(`{"sid":"abc_-1","upgrades":["websocket"]}`), `"sid":"`)
	if !ok || string(sid) != "abc_-1" {
		t.Fatalf("%q %v", sid, ok)
	}
}

func TestTimerHeap(t *testing.T) {
	var h timerHeap
	for _, at := range []int64{5, 3, 9, 1, 7, 3} {
		h.push(timer{at: at})
	}
	var got []int64
	for len(h) > 0 {
		got = append(got, h.pop().at)
	}
	if fmt.Sprint(got) != "[1 3 3 5 7 9]" {
		t.Fatalf("order %v", got)
	}
}

func TestMaskedFrame(t *testing.T) {
	l := &loop{rng: 12345}
	f := l.wsFrame(1, []byte("42[\"echo\"]"))
	if f[0] != 0x81 || f[1] != 0x80|10 {
		t.Fatalf("header % x", f[:2])
	}
	mask := f[2:6]
	p := append([]byte(nil), f[6:]...)
	for i := range p {
		p[i] ^= mask[i%4]
	}
	if string(p) != `42["echo"]` {
		t.Fatalf("payload %q", p)
	}
	big := l.wsFrame(1, make([]byte, 300))
	if big[1] != 0x80|126 || int(big[2])<<8|int(big[3]) != 300 || len(big) != 4+4+300 {
		t.Fatalf("16-bit length header % x", big[:4])
	}
}

func TestRecordOpWindow(t *testing.T) {
	l := &loop{ph: &phase{start: 100, end: 200, lat: hist.New()}}
	l.now = 250
	l.recordOp(99)  // before the window
	l.recordOp(150) // inside, arrives after it: counted
	l.recordOp(200) // at the end: not counted
	if l.ph.ops != 1 || l.ph.lat.Max() != 100 {
		t.Fatalf("ops %d max %d", l.ph.ops, l.ph.lat.Max())
	}
}

func TestRecordDelivery(t *testing.T) {
	l := &loop{ph: &phase{start: 100, end: 200, lat: hist.New(), sends: map[int64]*results.Send{}}}
	a, b := &client{l: l, tracked: true}, &client{l: l, tracked: true}
	l.now = 130
	l.recordDelivery(a, 1, 110)
	l.now = 150
	l.recordDelivery(b, 1, 110)
	l.recordDelivery(b, 1, 110) // again: a duplicate, not a second receiver
	l.recordDelivery(b, 2, 140)
	l.recordDelivery(b, MaxTracked+1, 140) // out of range: ignored
	s1, s2 := l.ph.sends[1], l.ph.sends[2]
	if s1.N != 2 || s1.Dupes != 1 || s1.First != 130 || s1.Last != 150 || s1.Latency.Max() != 40 {
		t.Fatalf("send 1: %+v", *s1)
	}
	if s2.N != 1 || a.seen != 1 || b.seen != 3 || b.dupes != 1 || len(l.ph.sends) != 2 {
		t.Fatalf("send 2 %+v, a %b, b %b dupes %d", *s2, a.seen, b.seen, b.dupes)
	}
	tr := &tracking{sends: map[int64]*results.Send{}}
	l.clients = []*client{a, b, {l: l}}
	tr.collect(l)
	var out results.Phase
	tr.finish(&out)
	if out.Tracked != 2 || out.Got[1] != 1 || out.Got[2] != 1 || out.Dupes != 1 || len(out.Sends) != 2 || out.Sends[0].Seq != 1 {
		t.Fatalf("phase %+v", out)
	}
	// a lacks broadcast 2, b got broadcast 1 twice.
	if len(out.Missed) != 2 || out.Missed[0].Seen != 1 || out.Missed[1].Dupes != 1 {
		t.Fatalf("missed %+v", out.Missed)
	}
}

func TestPayloadSeq(t *testing.T) {
	d := []byte(`2["bcast",{"t":1795680281518123500,"n":3,"p":"abc"}]`)
	if n, ok := payloadInt(d, `"n":`); !ok || n != 3 {
		t.Fatalf("%d %v", n, ok)
	}
}
