package resilience

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Estimator tracks a high percentile of a service's recent successful
// latencies in fixed memory: a ring of the last estimatorWindow samples,
// re-sorted every estimatorEvery samples. Recording is lock-free; the
// recompute runs on the goroutine that crosses the boundary. It is safe for
// concurrent use.
type Estimator struct {
	quantile float64
	ring     [estimatorWindow]atomic.Int64 // nanoseconds; 0 = empty slot
	n        atomic.Int64                  // samples recorded
	value    atomic.Int64                  // the last computed quantile, ns
	median   atomic.Int64                  // the last computed median, ns
	mu       sync.Mutex                    // serializes recomputes; guards scratch
	scratch  []int64                       // guarded by mu
}

const (
	estimatorWindow = 512
	estimatorEvery  = 32
	// EstimatorMinSamples is how many samples auto delay waits for before
	// trusting the estimate.
	EstimatorMinSamples = 64
)

// NewEstimator returns an Estimator of quantile q (e.g. 0.95).
func NewEstimator(q float64) *Estimator {
	return &Estimator{quantile: q, scratch: make([]int64, 0, estimatorWindow)}
}

// Observe records one latency.
func (e *Estimator) Observe(d time.Duration) {
	if d <= 0 {
		d = 1
	}
	n := e.n.Add(1)
	e.ring[(n-1)%estimatorWindow].Store(int64(d))
	if n%estimatorEvery == 0 || n == EstimatorMinSamples {
		e.recompute()
	}
}

func (e *Estimator) recompute() {
	if !e.mu.TryLock() {
		return // someone is already at it; the next boundary catches up
	}
	defer e.mu.Unlock()
	e.scratch = e.scratch[:0]
	for i := range e.ring {
		if v := e.ring[i].Load(); v > 0 {
			e.scratch = append(e.scratch, v)
		}
	}
	if len(e.scratch) == 0 {
		return
	}
	slices.Sort(e.scratch)
	idx := int(e.quantile * float64(len(e.scratch)-1))
	e.value.Store(e.scratch[idx])
	e.median.Store(e.scratch[len(e.scratch)/2])
}

// Median returns the median of the recent latencies and whether enough
// samples back it: a typical attempt's duration.
func (e *Estimator) Median() (time.Duration, bool) {
	if e.n.Load() < EstimatorMinSamples {
		return 0, false
	}
	return time.Duration(e.median.Load()), true
}

// Estimate returns the quantile and whether enough samples back it.
func (e *Estimator) Estimate() (time.Duration, bool) {
	if e.n.Load() < EstimatorMinSamples {
		return 0, false
	}
	return time.Duration(e.value.Load()), true
}
