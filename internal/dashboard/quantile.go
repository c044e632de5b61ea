package dashboard

import (
	"math"
	"slices"
	"sort"
)

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the observations a
// cumulative histogram counted, interpolating linearly within the bucket
// it falls in, the way Prometheus's histogram_quantile does: the first
// bucket starts at 0, and a quantile above the last bound is that bound
// (the histogram cannot say more). It returns NaN when there are no
// observations or the histogram is malformed.
func Quantile(q float64, h Histogram) float64 {
	if h.Count == 0 || len(h.Bounds) == 0 || len(h.Bounds) != len(h.Counts) || q < 0 || q > 1 {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	i := sort.Search(len(h.Counts), func(i int) bool { return float64(h.Counts[i]) >= rank })
	if i == len(h.Counts) {
		return h.Bounds[len(h.Bounds)-1]
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = h.Bounds[i-1], float64(h.Counts[i-1])
	}
	upper := h.Bounds[i]
	if upper <= 0 && i == 0 {
		return upper
	}
	in := float64(h.Counts[i]) - below
	if in <= 0 {
		return lower
	}
	return lower + (upper-lower)*(rank-below)/in
}

// Sub returns the observations h counted that then had not: the
// histogram of a window, from two cumulative readings. A then with other
// bounds, or with more observations than h (the series was recreated),
// counts as empty, so the window is everything h counted.
func (h Histogram) Sub(then Histogram) Histogram {
	if !slices.Equal(h.Bounds, then.Bounds) || then.Count > h.Count {
		return h
	}
	d := Histogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts)), Count: h.Count - then.Count}
	for i, c := range h.Counts {
		if then.Counts[i] > c {
			return h
		}
		d.Counts[i] = c - then.Counts[i]
	}
	return d
}

// rate is the per-second increase of a counter from then to now over dt
// seconds: 0 when dt is not positive, and when the counter went down (it
// was recreated), the increase is taken to be now.
func rate(now, then uint64, dt float64) float64 {
	if dt <= 0 {
		return 0
	}
	if now < then {
		return float64(now) / dt
	}
	return float64(now-then) / dt
}

// round3 rounds to three decimals, to keep the JSON short.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
