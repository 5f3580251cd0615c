package bench

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of
// two, so a recorded value is known to within 1/128 (under 0.8%).
const subBits = 7

// histSize covers every non-negative int64 nanosecond value.
const histSize = (64 - subBits) << subBits

// Histogram counts latencies in log-linear buckets, like an HDR histogram:
// fixed memory whatever the run length, percentiles within 0.8%. The zero
// value is empty and ready; it is not safe for concurrent use (give each
// worker its own and Merge them).
type Histogram struct {
	counts [histSize]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

// bucket returns v's bucket: the value itself below 2^(subBits+1), then
// 2^subBits buckets per power of two.
func bucket(v uint64) int {
	msb := bits.Len64(v)
	if msb <= subBits+1 {
		return int(v)
	}
	shift := msb - (subBits + 1)
	return shift<<subBits + int(v>>shift)
}

// upper returns the highest value that falls in bucket i.
func upper(i int) uint64 {
	if i < 2<<subBits {
		return uint64(i)
	}
	shift := i>>subBits - 1
	top := uint64(i - shift<<subBits)
	return (top+1)<<shift - 1
}

// Record counts one latency; negative values count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(uint64(d))]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Count returns how many latencies were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest latency recorded, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the average latency, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the latency at or below which a fraction q (0..1) of the
// recorded latencies fall, rounded up to its bucket's top (never above Max);
// 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(upper(i)), h.max)
		}
	}
	return h.max
}
