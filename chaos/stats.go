package chaos

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the q-quantile (0 ≤ q ≤ 1) of ds by the nearest-rank
// method: the smallest value with at least q of the values at or below it.
// Percentile(ds, 1) is the maximum. ds must be sorted; an empty ds gives 0.
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// Latencies returns the sorted latencies of results.
func Latencies(results []Result) []time.Duration {
	ds := make([]time.Duration, len(results))
	for i, r := range results {
		ds[i] = r.Latency
	}
	slices.Sort(ds)
	return ds
}
