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
	gate    func() bool
	sent    *atomic.Int64
	won     *atomic.Int64
}

var _ bff.Fetcher = (*Hedger)(nil)

// HedgeState is what a Hedger learns and spends, kept by the caller across
// the pipelines it builds for a service. A nil field gets a fresh value.
type HedgeState struct {
	// Estimator holds the service's recent latencies, for the auto delay.
	Estimator *Estimator
	// Budget caps the hedges; it must have the configured BudgetPercent.
	Budget *Budget
	// Gate is asked before each hedge; the app passes "the breaker is
	// closed". nil allows every hedge.
	Gate func() bool
	// Sent and Won count hedges sent and hedges that answered first.
	Sent, Won *atomic.Int64
}

// NewHedger returns a Hedger in front of next. timeout is the service's
// timeout.
func NewHedger(service string, cfg HedgeConfig, timeout time.Duration, next bff.Fetcher, st HedgeState) *Hedger {
	if st.Estimator == nil {
		st.Estimator = NewEstimator(AutoQuantile)
	}
	if st.Budget == nil {
		st.Budget = NewBudget(cfg.BudgetPercent, nil)
	}
	if st.Sent == nil {
		st.Sent = new(atomic.Int64)
	}
	if st.Won == nil {
		st.Won = new(atomic.Int64)
	}
	return &Hedger{
		service: service,
		fixed:   cfg.Delay,
		ceiling: timeout / 2,
		next:    next,
		est:     st.Estimator,
		budget:  st.Budget,
		gate:    st.Gate,
		sent:    st.Sent,
		won:     st.Won,
	}
}

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
func (h *Hedger) Stats() (sent, won int64) { return h.sent.Load(), h.won.Load() }

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
				h.sent.Add(1)
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
					h.won.Add(1)
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
	if h.gate != nil && !h.gate() {
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
