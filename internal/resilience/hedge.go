package resilience

import (
	"context"
	"fmt"
	"sync"
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
	counted bool // the calls are counted against the budget outside
}

var _ bff.Fetcher = (*Hedger)(nil)

// HedgeState is what a Hedger learns and spends, kept by the caller across
// the pipelines it builds for a service. A nil field gets a fresh value.
type HedgeState struct {
	// Estimator holds the service's recent latencies, for the auto delay.
	Estimator *Estimator
	// Budget caps the hedges, together with the retries (budget.*).
	Budget *Budget
	// Gate is asked before each hedge; the app passes "the breaker is
	// closed". nil allows every hedge.
	Gate func() bool
	// Sent and Won count hedges sent and hedges that answered first.
	Sent, Won *atomic.Int64
	// Counted says an outer policy (the Retrier) counts the calls against
	// the budget; else the Hedger does.
	Counted bool
}

// NewHedger returns a Hedger in front of next. timeout is the service's
// timeout.
func NewHedger(service string, cfg HedgeConfig, timeout time.Duration, next bff.Fetcher, st HedgeState) *Hedger {
	if st.Estimator == nil {
		st.Estimator = NewEstimator(AutoQuantile)
	}
	if st.Budget == nil {
		st.Budget = NewBudget(10, BudgetMinimum, nil)
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
		counted: st.Counted,
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

// race is one call's state shared by its first attempt, which runs on the
// caller's goroutine, and the timer that may send a hedge.
type race struct {
	mu          sync.Mutex
	primaryDone bool         // guarded by mu
	hedge       chan attempt // guarded by mu; non-nil once a hedge was sent
}

type attempt struct {
	resp  bff.Response
	err   error
	took  time.Duration
	first bool // it finished before the first attempt
}

// Fetch runs the call, hedging it when it is slow. It returns the first
// good answer (Source SourceHedge when the hedge gave it); when every attempt
// sent fails, the error of the one that failed first. If ctx ends first, it
// returns the bff.ContextError for ctx (timeout or canceled).
//
// The first attempt runs on the caller's goroutine and the hedge is armed
// with time.AfterFunc, so a call that needs no hedge costs no goroutine; a
// hedge that answers first cancels the first attempt, which then returns at
// once.
func (h *Hedger) Fetch(ctx context.Context, call bff.Call) (bff.Response, error) {
	if !h.counted {
		h.budget.Request()
	}
	actx, cancel := context.WithCancelCause(ctx)
	// Releases the losing attempt, if any, saying why: its span is no error.
	defer cancel(bff.ErrHedgeLost)

	r := &race{}
	start := time.Now()
	timer := time.AfterFunc(h.Delay(), func() { h.sendHedge(actx, cancel, call, r) })
	resp, err := h.primary(actx, call, r, timer)
	took := time.Since(start)

	r.mu.Lock()
	hedge := r.hedge
	r.mu.Unlock()
	if hedge == nil || err == nil {
		if err == nil {
			h.est.Observe(took)
		}
		if hedge != nil {
			resp.Attempts = 2
		}
		return resp, err
	}
	// The first attempt failed (or lost) while a hedge was out.
	resp, err = h.await(ctx, hedge, resp, err, took)
	resp.Attempts = 2
	return resp, err
}

// await waits for the hedge once the first attempt failed (or lost) with
// resp and err after took.
func (h *Hedger) await(ctx context.Context, hedge chan attempt, resp bff.Response, err error, took time.Duration) (bff.Response, error) {
	select {
	case a := <-hedge:
		if a.err == nil {
			h.won.Add(1)
			h.est.Observe(a.took)
			// The first attempt took at least this long: keep the tail in
			// the estimate, or winning hedges would hide it.
			h.est.Observe(took)
			a.resp.Source = bff.SourceHedge
			return a.resp, nil
		}
		if ctx.Err() != nil {
			return bff.Response{}, bff.ContextError(ctx, h.service, ctx.Err())
		}
		if a.first {
			return a.resp, a.err
		}
		return resp, err
	case <-ctx.Done():
		return bff.Response{}, bff.ContextError(ctx, h.service, ctx.Err())
	}
}

// primary runs the first attempt and then disarms the hedge timer, even if
// next panics.
func (h *Hedger) primary(ctx context.Context, call bff.Call, r *race, timer *time.Timer) (bff.Response, error) {
	defer func() {
		timer.Stop()
		r.mu.Lock()
		r.primaryDone = true
		r.mu.Unlock()
	}()
	return h.next.Fetch(ctx, call)
}

// sendHedge is the timer's: it sends the hedge if the first attempt is
// still out and the hedge is allowed. A hedge that answers first cancels
// the first attempt.
func (h *Hedger) sendHedge(ctx context.Context, cancel context.CancelCauseFunc, call bff.Call, r *race) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.primaryDone || !h.mayHedge(ctx) {
		return
	}
	out := make(chan attempt, 1) // buffered: a loser never blocks
	r.hedge = out
	h.sent.Add(1)
	go func() {
		a := h.attempt(bff.WithHedge(ctx), call)
		r.mu.Lock()
		a.first = !r.primaryDone
		r.mu.Unlock()
		if a.err == nil {
			cancel(bff.ErrHedgeLost)
		}
		out <- a
	}()
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
	return h.budget.TryExtra()
}

func (h *Hedger) attempt(ctx context.Context, call bff.Call) (a attempt) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			a = attempt{err: bff.Errorf(h.service, bff.CodeUnavailable, fmt.Errorf("panic: %v", p), "internal error")}
		}
	}()
	resp, err := h.next.Fetch(ctx, call)
	return attempt{resp: resp, err: err, took: time.Since(start)}
}
