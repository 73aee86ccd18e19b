package results

import (
	"testing"

	"sio/bench/internal/hist"
)

func TestMergeTrackedPhases(t *testing.T) {
	lat := func(v int64) *hist.H { h := hist.New(); h.Record(v); return h }
	a := Phase{Tracked: 2, Got: map[int]int64{2: 2}, Sends: []Send{
		{Seq: 2, T: 20, N: 2, First: 25, Last: 30, Latency: lat(10)},
		{Seq: 1, T: 10, N: 2, First: 12, Last: 19, Latency: lat(9)},
	}}
	b := Phase{Tracked: 1, Got: map[int]int64{1: 1}, Dupes: 1, Missed: []Missed{{ID: 7, Seen: 1, Dupes: 1}}, Sends: []Send{
		{Seq: 1, T: 10, N: 1, Dupes: 1, First: 11, Last: 40, Latency: lat(30)},
	}}
	m := MergePhases([]Phase{a, b})
	if m.Tracked != 3 || m.Got[2] != 2 || m.Got[1] != 1 || m.Dupes != 1 || len(m.Missed) != 1 {
		t.Fatalf("%+v", m)
	}
	if len(m.Sends) != 2 || m.Sends[0].Seq != 1 || m.Sends[1].Seq != 2 {
		t.Fatalf("sends %+v", m.Sends)
	}
	s := m.Sends[0]
	if s.N != 3 || s.Dupes != 1 || s.First != 11 || s.Last != 40 || s.T != 10 || s.Latency.Count() != 2 || s.Latency.Max() != 30 {
		t.Fatalf("send 1 %+v", s)
	}
}
