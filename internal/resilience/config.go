package resilience

import (
	"errors"
	"math"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// BreakerConfig sets when a service's circuit breaker trips and recovers.
type BreakerConfig struct {
	// ConsecutiveFailures trips the breaker after this many failures in a
	// row; 0 turns this rule off.
	ConsecutiveFailures uint32
	// FailureRatio trips the breaker when failures/(failures+successes)
	// reaches it, once the window holds MinRequests counted requests; 0
	// turns this rule off.
	FailureRatio float64
	MinRequests  uint32
	// Interval is the closed-state counting window (rolling, in ten buckets).
	Interval time.Duration
	// OpenTimeout is how long the breaker stays open before letting probes
	// through (half-open).
	OpenTimeout time.Duration
	// HalfOpenRequests is how many probes run at once while half-open; that
	// many successes in a row close the breaker.
	HalfOpenRequests uint32
}

// Validate reports every invalid field at once, keyed relative to the
// breaker block ("failure_ratio", ...).
func (c BreakerConfig) Validate() error {
	var errs []error
	if math.IsNaN(c.FailureRatio) || c.FailureRatio < 0 || c.FailureRatio > 1 {
		errs = append(errs, bff.Invalid("failure_ratio", c.FailureRatio, "a number from 0 (rule off) to 1"))
	}
	if c.MinRequests < 1 {
		errs = append(errs, bff.Invalid("min_requests", c.MinRequests, "a whole number of at least 1"))
	}
	if c.Interval < 10*time.Millisecond {
		errs = append(errs, bff.Invalid("interval", c.Interval.String(), "a duration of at least 10ms, such as 10s"))
	}
	if c.OpenTimeout <= 0 {
		errs = append(errs, bff.Invalid("open_timeout", c.OpenTimeout.String(), "a positive duration such as 5s"))
	}
	if c.HalfOpenRequests < 1 {
		errs = append(errs, bff.Invalid("half_open_requests", c.HalfOpenRequests, "a whole number of at least 1"))
	}
	return errors.Join(errs...)
}

// HedgeConfig sets when a second, identical attempt is sent.
type HedgeConfig struct {
	Enabled bool
	// Delay is how long the first attempt may run before a hedge is sent;
	// 0 means auto (a high percentile of recent successful latencies).
	Delay time.Duration
}

// BudgetConfig caps a service's extra requests, hedges and retries
// together (budget.*).
type BudgetConfig struct {
	// Percent is the most extra requests, as a share of the service's
	// calls over a sliding window of about ten seconds.
	Percent float64
	// MinPerWindow is the extra requests a window always allows, so a
	// quiet service can still hedge or retry.
	MinPerWindow int
}

// Validate reports every invalid field at once, keyed relative to the
// budget block.
func (c BudgetConfig) Validate() error {
	var errs []error
	if math.IsNaN(c.Percent) || c.Percent < 0 || c.Percent > 100 {
		errs = append(errs, bff.Invalid("percent", c.Percent, "a number from 0 to 100"))
	}
	if c.MinPerWindow < 0 || c.MinPerWindow > 1000 {
		errs = append(errs, bff.Invalid("min_per_window", c.MinPerWindow, "a whole number from 0 to 1000"))
	}
	return errors.Join(errs...)
}

// Validate reports every invalid field at once, keyed relative to the hedge
// block. callTimeout is the service's timeout: a fixed delay must sit below it.
func (c HedgeConfig) Validate(callTimeout time.Duration) error {
	var errs []error
	if c.Delay < 0 {
		errs = append(errs, bff.Invalid("delay", c.Delay.String(), `"auto" or a positive duration such as 80ms`))
	} else if c.Delay > 0 && callTimeout > 0 && c.Delay >= callTimeout {
		errs = append(errs, bff.Invalid("delay", c.Delay.String(), "a duration below the service timeout ("+callTimeout.String()+`), or "auto"`))
	}
	return errors.Join(errs...)
}
