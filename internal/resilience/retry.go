package resilience

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// RetryConfig sets a service's retries (retry.*).
type RetryConfig struct {
	// MaxAttempts is the attempts per call, the first included; 1 means
	// no retries.
	MaxAttempts int
	// Backoff is the base of exponential backoff with full jitter: retry n
	// waits a random time in [0, Backoff·2^(n-1)).
	Backoff time.Duration
}

// MaxRetryAttempts is the most retry.max_attempts allowed.
const MaxRetryAttempts = 5

// Enabled reports whether c retries at all.
func (c RetryConfig) Enabled() bool { return c.MaxAttempts > 1 }

// Validate reports every invalid field at once, keyed relative to the
// retry block. callTimeout is the service's timeout: the backoff must sit
// below it.
func (c RetryConfig) Validate(callTimeout time.Duration) error {
	var errs []error
	if c.MaxAttempts < 1 || c.MaxAttempts > MaxRetryAttempts {
		errs = append(errs, bff.Invalid("max_attempts", c.MaxAttempts, fmt.Sprintf("a whole number from 1 (no retries) to %d", MaxRetryAttempts)))
	}
	if c.Backoff <= 0 || (callTimeout > 0 && c.Backoff >= callTimeout) {
		errs = append(errs, bff.Invalid("backoff", c.Backoff.String(), fmt.Sprintf("a positive duration below the service timeout (%s)", callTimeout)))
	}
	return errors.Join(errs...)
}

// RetryState is the long-lived state a Retrier uses, kept apart from it.
type RetryState struct {
	// Budget caps the retries, together with the hedges (one budget for
	// extra requests per service). The Retrier counts the calls.
	Budget *Budget
	// Estimator holds recent latencies: a retry needs time for a typical
	// (median) attempt after its backoff. nil: only the backoff counts.
	Estimator *Estimator
	// Gate is asked before each retry; the app passes "the breaker is
	// closed". nil allows every retry.
	Gate func() bool
	// Sent and Won count retries sent and retries that answered well.
	Sent, Won *atomic.Int64
	// Jitter returns a number in [0, 1) (nil: math/rand/v2).
	Jitter func() float64
	// Observe makes the Retrier record good attempts' latencies in the
	// Estimator (when no Hedger does).
	Observe bool
}

// Retrier tries a call again when it failed fast for a transient reason
// (bff.Retryable: refused or reset before any response byte, 502, 503,
// 504), within the call's deadline and the budget, never while the breaker
// is not closed. It sits inside the breaker, which sees one result per
// call, and outside the hedger. It is safe for concurrent use.
type Retrier struct {
	service   string
	cfg       RetryConfig
	next      bff.Fetcher
	st        RetryState
	jitter    func() float64
	sent, won *atomic.Int64
}

var _ bff.Fetcher = (*Retrier)(nil)

// NewRetrier returns a Retrier in front of next.
func NewRetrier(service string, cfg RetryConfig, next bff.Fetcher, st RetryState) *Retrier {
	if st.Budget == nil {
		st.Budget = NewBudget(10, BudgetMinimum, nil)
	}
	r := &Retrier{service: service, cfg: cfg, next: next, st: st, jitter: st.Jitter, sent: st.Sent, won: st.Won}
	if r.jitter == nil {
		r.jitter = rand.Float64
	}
	if r.sent == nil {
		r.sent = new(atomic.Int64)
	}
	if r.won == nil {
		r.won = new(atomic.Int64)
	}
	return r
}

// Fetch calls next, and again after a backoff while the failure is
// retryable and the rules allow. The answer's Attempts counts every request
// sent, hedges included.
func (r *Retrier) Fetch(ctx context.Context, call bff.Call) (bff.Response, error) {
	r.st.Budget.Request()
	sent := 0
	for n := 1; ; n++ {
		actx := ctx
		if n > 1 {
			actx = bff.WithRetry(ctx, n-1)
		}
		start := time.Now()
		resp, err := r.next.Fetch(actx, call)
		if err == nil && r.st.Observe && r.st.Estimator != nil {
			r.st.Estimator.Observe(time.Since(start))
		}
		sent += max(int(resp.Attempts), 1)
		resp.Attempts = uint8(min(sent, 255))
		if err == nil {
			if n > 1 {
				r.won.Add(1)
			}
			return resp, nil
		}
		wait, ok := r.retryAfter(ctx, err, n)
		if !ok {
			return resp, err
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return resp, err
			}
		}
	}
}

// retryAfter decides whether attempt n's failure err is tried again, and
// after how long; a yes has charged the budget.
func (r *Retrier) retryAfter(ctx context.Context, err error, n int) (time.Duration, bool) {
	if n >= r.cfg.MaxAttempts || ctx.Err() != nil || !bff.Retryable(err) {
		return 0, false
	}
	if r.st.Gate != nil && !r.st.Gate() {
		return 0, false
	}
	wait := time.Duration(r.jitter() * float64(r.cfg.Backoff<<(n-1)))
	if e, ok := errors.AsType[*bff.Error](err); ok && e.HasRetryAfter {
		wait = e.RetryAfter
	}
	if dl, ok := ctx.Deadline(); ok {
		typical := time.Duration(0)
		if r.st.Estimator != nil {
			typical, _ = r.st.Estimator.Median()
		}
		if wait+typical >= time.Until(dl) {
			return 0, false // no time left for an attempt after the wait
		}
	}
	if !r.st.Budget.TryExtra() {
		return 0, false
	}
	r.sent.Add(1)
	return wait, true
}

// Stats returns the retries sent and those that answered well.
func (r *Retrier) Stats() (sent, won int64) { return r.sent.Load(), r.won.Load() }
