package hist

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestIndexBoundsContiguous(t *testing.T) {
	prevHi := int64(-1)
	for i := 0; i < nBuckets; i++ {
		lo, hi := bounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if index(lo) != i || index(hi) != i {
			t.Fatalf("bucket %d [%d,%d] maps to %d/%d", i, lo, hi, index(lo), index(hi))
		}
		prevHi = hi
	}
	if prevHi != maxValue {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, maxValue)
	}
}

func TestQuantileAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := New()
	var vals []int64
	for i := 0; i < 100000; i++ {
		v := int64(r.ExpFloat64() * 2e6) // ~2 ms mean
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if d := float64(got-exact) / float64(exact); d < -0.005 || d > 0.005 {
			t.Errorf("q%.3f = %d, exact %d (%.3f%%)", q, got, exact, d*100)
		}
	}
	if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
		t.Errorf("min/max %d/%d, want %d/%d", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
	}
}

func TestMergeAndJSON(t *testing.T) {
	a, b := New(), New()
	for i := int64(1); i <= 1000; i++ {
		a.Record(i * 1000)
		b.Record(i * 3000)
	}
	js, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var b2 H
	if err := json.Unmarshal(js, &b2); err != nil {
		t.Fatal(err)
	}
	if b2.Quantile(0.5) != b.Quantile(0.5) || b2.Count() != b.Count() || b2.Max() != b.Max() {
		t.Fatalf("round trip differs: %d/%d", b2.Quantile(0.5), b.Quantile(0.5))
	}
	a.Merge(&b2)
	if a.Count() != 2000 || a.Min() != 1000 || a.Max() != 3000000 {
		t.Fatalf("merged count/min/max %d/%d/%d", a.Count(), a.Min(), a.Max())
	}
	var empty H
	if empty.Quantile(0.99) != 0 {
		t.Fatal("empty quantile not 0")
	}
}
