// Package hist is a small log-linear latency histogram in the spirit of
// HdrHistogram: values below 256 are counted exactly, larger values in 256
// linear sub-buckets per power of two, so any reported quantile is within
// 0.4% of the true value. It is not safe for concurrent use: each event loop
// owns one and the owners merge them (also across processes, through JSON).
package hist

import (
	"encoding/json"
	"math"
	"math/bits"
)

const (
	subBits  = 8
	subCount = 1 << subBits // sub-buckets per octave
	maxShift = 34           // values up to 2^42 ns (~73 min) are distinct
	nBuckets = subCount + (maxShift+1)*subCount
	maxValue = int64(1)<<(subBits+maxShift+1) - 1
)

// H is a histogram of non-negative int64 values (nanoseconds by convention).
type H struct {
	counts []uint64
	n      uint64
	min    int64
	max    int64
	sum    float64
}

// New returns an empty histogram.
func New() *H { return &H{} }

func index(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - (subBits + 1)
	return subCount + e*subCount + int(v>>uint(e)) - subCount
}

// bounds returns the lowest and highest value counted in bucket i.
func bounds(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	e := (i - subCount) / subCount
	m := int64((i-subCount)%subCount + subCount)
	return m << uint(e), (m+1)<<uint(e) - 1
}

// Record adds one value. Negative values count as 0, values beyond the
// range as the largest value.
func (h *H) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if v > maxValue {
		v = maxValue
	}
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
	}
	h.counts[index(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Count is the number of recorded values.
func (h *H) Count() uint64 { return h.n }

// Min and Max are the extreme recorded values (0 when empty).
func (h *H) Min() int64 { return h.min }

// Max is the largest recorded value.
func (h *H) Max() int64 { return h.max }

// Mean is the arithmetic mean (0 when empty).
func (h *H) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q (0..1): the highest value of the
// bucket holding the ceil(q*n)-th smallest value, clamped to [min, max].
func (h *H) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			_, hi := bounds(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds every value of o to h.
func (h *H) Merge(o *H) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Reset empties the histogram, keeping its storage.
func (h *H) Reset() {
	clear(h.counts)
	h.n, h.min, h.max, h.sum = 0, 0, 0, 0
}

// Clone returns an independent copy.
func (h *H) Clone() *H {
	c := *h
	if h.counts != nil {
		c.counts = append([]uint64(nil), h.counts...)
	}
	return &c
}

// wire is the JSON form: summary figures for people and the sparse buckets
// ([index, count] pairs) for merging.
type wire struct {
	Count   uint64     `json:"count"`
	Min     int64      `json:"min"`
	Max     int64      `json:"max"`
	Mean    float64    `json:"mean"`
	P50     int64      `json:"p50"`
	P90     int64      `json:"p90"`
	P99     int64      `json:"p99"`
	P999    int64      `json:"p999"`
	Sum     float64    `json:"sum"`
	Buckets [][2]int64 `json:"buckets,omitempty"`
}

// MarshalJSON writes the summary and the non-empty buckets.
func (h *H) MarshalJSON() ([]byte, error) {
	w := wire{Count: h.n, Min: h.min, Max: h.max, Mean: h.Mean(), Sum: h.sum,
		P50: h.Quantile(0.5), P90: h.Quantile(0.9), P99: h.Quantile(0.99), P999: h.Quantile(0.999)}
	for i, c := range h.counts {
		if c != 0 {
			w.Buckets = append(w.Buckets, [2]int64{int64(i), int64(c)})
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON restores a histogram written by MarshalJSON.
func (h *H) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*h = H{n: w.Count, min: w.Min, max: w.Max, sum: w.Sum}
	if len(w.Buckets) > 0 {
		h.counts = make([]uint64, nBuckets)
		for _, b := range w.Buckets {
			if b[0] >= 0 && b[0] < nBuckets && b[1] > 0 {
				h.counts[b[0]] += uint64(b[1])
			}
		}
	}
	return nil
}
