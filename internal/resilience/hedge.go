package resilience

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// Hedge defaults.
const (
	// AutoQuantile is the latency quantile auto delay waits for.
	AutoQuantile = 0.95
	// AutoFloor is the shortest auto delay.
	AutoFloor = 2 * time.Millisecond
)

// Hedger sends one more identical attempt when the first has not answered
// after a delay; the first good answer wins and the other attempt is
// cancelled. It sits under the breaker, which sees only the winner's result,
// so a cancelled loser never counts as a failure. It is safe for concurrent
// use.
//
// A hedge is sent only if the gate allows it (the breaker is closed), the
// Budget has room, and the call's deadline leaves time for a typical
// attempt. The delay is fixed, or auto: the AutoQuantile of recent
// successful latencies, clamped to [AutoFloor, timeout/2]; until the
// Estimator has EstimatorMinSamples samples, auto uses timeout/2.
type Hedger struct {
	service string
	fixed   time.Duration // 0 = auto
	ceiling time.Duration
	next    bff.Fetcher
	est     *Estimator
	budget  *Budget
	gate    atomic.Pointer[func() bool]
	count   *bff.Counters
}

var _ bff.Fetcher = (*Hedger)(nil)

// NewHedger returns a Hedger in front of next. timeout is the service's
// timeout; now is the budget's clock (nil means time.Now); hedges sent and
// won are counted in count (nil means private counters).
func NewHedger(service string, cfg HedgeConfig, timeout time.Duration, next bff.Fetcher, now func() time.Time, count *bff.Counters) *Hedger {
	if count == nil {
		count = new(bff.Counters)
	}
	return &Hedger{
		count:   count,
		service: service,
		fixed:   cfg.Delay,
		ceiling: timeout / 2,
		next:    next,
		est:     NewEstimator(AutoQuantile),
		budget:  NewBudget(cfg.BudgetPercent, now),
	}
}

// Carry makes h continue from prev's latency history, and from its budget
// when the budget share is the same, so a reload that rebuilds the hedger
// does not fall back to the cold delay. Call it before h is used.
func (h *Hedger) Carry(prev *Hedger) {
	h.est = prev.est
	if prev.budget.percent == h.budget.percent {
		h.budget = prev.budget
	}
}

// SetGate sets the check made before each hedge; the app passes "the breaker
// is closed". A nil gate (the default) allows every hedge.
func (h *Hedger) SetGate(allow func() bool) { h.gate.Store(&allow) }

// Delay returns how long the first attempt may run before a hedge.
func (h *Hedger) Delay() time.Duration {
	if h.fixed > 0 {
		return h.fixed
	}
	d, ok := h.est.Estimate()
	if !ok {
		return h.ceiling
	}
	return min(max(d, AutoFloor), h.ceiling)
}

// Stats returns hedges sent and hedges that won.
func (h *Hedger) Stats() (sent, won int64) {
	return h.count.HedgesSent.Load(), h.count.HedgesWon.Load()
}

type attempt struct {
	resp  bff.Response
	err   error
	hedge bool
	took  time.Duration
}

// Fetch runs the call, hedging it when it is slow. It returns the first
// good answer (Source SourceHedge when the hedge gave it); when every attempt
// sent fails, the first attempt's error. If ctx ends first, it returns the
// bff.ContextError for ctx (timeout or canceled).
func (h *Hedger) Fetch(ctx context.Context, call bff.Call) (bff.Response, error) {
	h.budget.Request()
	ctx, cancel := context.WithCancelCause(ctx)
	// Releases the losing attempt, if any, saying why: its span is no error.
	defer cancel(bff.ErrHedgeLost)

	start := time.Now()
	results := make(chan attempt, 2) // buffered: a loser never blocks
	go h.attempt(ctx, call, false, results)
	timer := time.NewTimer(h.Delay())
	defer timer.Stop()

	pending := 1
	primaryPending := true
	var failed *attempt
	for {
		select {
		case <-timer.C:
			if h.mayHedge(ctx) {
				pending++
				h.count.HedgesSent.Add(1)
				go h.attempt(bff.WithHedge(ctx), call, true, results)
			}
		case r := <-results:
			pending--
			if !r.hedge {
				primaryPending = false
			}
			if r.err == nil {
				h.est.Observe(r.took)
				if r.hedge {
					h.count.HedgesWon.Add(1)
					r.resp.Source = bff.SourceHedge
					if primaryPending {
						// The primary has taken at least this long: keep the
						// tail in the estimate, or winning hedges would hide it.
						h.est.Observe(time.Since(start))
					}
				}
				return r.resp, nil
			}
			if failed == nil {
				failed = &r
			}
			if pending == 0 {
				// Hedging is for slowness, not a retry: a first attempt that
				// fails before the delay is the answer.
				return failed.resp, failed.err
			}
		case <-ctx.Done():
			return bff.Response{}, bff.ContextError(ctx, h.service, ctx.Err())
		}
	}
}

// mayHedge reports whether a hedge may be sent now, and charges the budget.
func (h *Hedger) mayHedge(ctx context.Context) bool {
	if g := h.gate.Load(); g != nil && !(*g)() {
		return false
	}
	if dl, ok := ctx.Deadline(); ok {
		// A hedge needs about as long as a slow attempt (the AutoQuantile);
		// with less time left it could not finish before the deadline.
		need := AutoFloor
		if p, ok := h.est.Estimate(); ok {
			need = max(need, p)
		}
		if time.Until(dl) < need {
			return false
		}
	}
	return h.budget.TryHedge()
}

func (h *Hedger) attempt(ctx context.Context, call bff.Call, hedge bool, out chan<- attempt) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			out <- attempt{err: bff.Errorf(h.service, bff.CodeUnavailable, fmt.Errorf("panic: %v", p), "internal error"), hedge: hedge}
		}
	}()
	resp, err := h.next.Fetch(ctx, call)
	out <- attempt{resp: resp, err: err, hedge: hedge, took: time.Since(start)}
}
