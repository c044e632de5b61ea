package resilience

import (
	"sync"
	"time"
)

// Budget caps hedges at a share of a service's requests over a sliding
// window (ten one-second buckets), the way Envoy's retry budget caps retries
// at a share of active requests; a small minimum allowance lets a quiet
// service still hedge. During a full outage, when every call is slow, hedges
// therefore add at most that share to the load. It is safe for concurrent
// use.
type Budget struct {
	percent float64
	minimum int64
	now     func() time.Time
	mu      sync.Mutex
	buckets [budgetBuckets]budgetBucket // guarded by mu
}

type budgetBucket struct {
	second   int64
	requests int64
	hedges   int64
}

const (
	budgetBuckets = 10
	// BudgetMinimum is the default of budget.min_per_window: the extra
	// requests a window always allows.
	BudgetMinimum = 3
)

// NewBudget returns a budget of percent (0–100) of requests, allowing at
// least minimum extra requests per window. now is the clock; nil means
// time.Now.
func NewBudget(percent float64, minimum int, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{percent: percent, minimum: int64(minimum), now: now}
}

// bucket returns the current bucket, expiring old ones. Caller holds mu.
func (b *Budget) bucket() *budgetBucket {
	sec := b.now().Unix()
	cur := &b.buckets[sec%budgetBuckets]
	if cur.second != sec {
		*cur = budgetBucket{second: sec}
	}
	return cur
}

// Request records a call to the service.
func (b *Budget) Request() {
	b.mu.Lock()
	b.bucket().requests++
	b.mu.Unlock()
}

// TryExtra reports whether one extra request (a hedge or a retry) fits
// the budget, and if so records it.
func (b *Budget) TryExtra() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.bucket()
	requests, hedges := b.windowSums()
	allowed := int64(b.percent / 100 * float64(requests))
	if allowed < b.minimum {
		allowed = b.minimum
	}
	if b.percent == 0 || hedges >= allowed {
		return false
	}
	cur.hedges++
	return true
}

// windowSums returns the counts of the buckets inside the window; a bucket
// whose slot has not come round again since it went stale is skipped.
// Caller holds mu.
func (b *Budget) windowSums() (requests, hedges int64) {
	oldest := b.now().Unix() - budgetBuckets + 1
	for i := range b.buckets {
		if bk := &b.buckets[i]; bk.second >= oldest {
			requests += bk.requests
			hedges += bk.hedges
		}
	}
	return requests, hedges
}
