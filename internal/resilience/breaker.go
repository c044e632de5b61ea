package resilience

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/pagebff/pagebff/internal/bff"
)

// ErrOpen is the detail of a call refused by an open (or saturated
// half-open) breaker. gobreaker's ErrOpenState and ErrTooManyRequests are
// translated to it here and never leak further.
var ErrOpen = errors.New("circuit breaker open")

// State is a breaker's state.
type State uint8

// Breaker states; the numbers are those of the bff_breaker_state metric.
const (
	StateClosed   State = 0
	StateHalfOpen State = 1
	StateOpen     State = 2
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	default:
		return "unknown"
	}
}

func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	case gobreaker.StateOpen:
		return StateOpen
	default:
		return StateClosed
	}
}

// Transition is a breaker state change.
type Transition struct {
	Service  string
	From, To State
	At       time.Time
}

// Counts are the breaker's counters for the current window (closed) or
// probe round (half-open); they reset on every state change.
type Counts struct {
	Requests             uint32 `json:"requests"`
	Successes            uint32 `json:"successes"`
	Failures             uint32 `json:"failures"`
	Excluded             uint32 `json:"excluded"`
	ConsecutiveSuccesses uint32 `json:"consecutive_successes"`
	ConsecutiveFailures  uint32 `json:"consecutive_failures"`
}

// Breaker is a circuit breaker's state: gobreaker's counts, an operator's
// forced state, the transitions to report. It is long-lived (the app keeps
// one per service and breaker settings across reloads) and calls nothing
// itself: Wrap puts it in front of a Fetcher. It is safe for concurrent use.
//
// Failures are service faults (bff.FaultService): timeouts, connection
// errors, 5xx, 429, bad responses. Every other failure — a 4xx answer (404
// included), a redirect, a call cancelled because the page's client went
// away, pagebff out of local resources — is excluded: it counts neither
// way, so neither bad user ids nor impatient clients can open the breaker.
type Breaker struct {
	service  string
	settings gobreaker.Settings
	cb       atomic.Pointer[gobreaker.CircuitBreaker[bff.Response]] // swapped by Reset
	forced   atomic.Uint32                                          // a Force mode
	notify   func(Transition)

	mu         sync.Mutex   // guards pending; never held while calling gobreaker
	pending    []Transition // recorded under gobreaker's lock, reported after it
	hasPending atomic.Bool  // lets the hot path skip mu when nothing is pending
}

// NewBreaker returns a breaker named for service. notify, if not nil, is
// told of every state change; it runs on a calling goroutine after the
// breaker's lock is released, so it may log or block briefly.
func NewBreaker(service string, cfg BreakerConfig, notify func(Transition)) *Breaker {
	b := &Breaker{service: service, notify: notify}
	b.settings = gobreaker.Settings{
		Name:         service,
		MaxRequests:  cfg.HalfOpenRequests,
		Interval:     cfg.Interval,
		BucketPeriod: cfg.Interval / 10,
		Timeout:      cfg.OpenTimeout,
		ReadyToTrip:  readyToTrip(cfg),
		IsExcluded:   excluded,
		// gobreaker calls this with its mutex held: only record here.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			b.mu.Lock()
			b.pending = append(b.pending, Transition{Service: service, From: fromGobreaker(from), To: fromGobreaker(to), At: time.Now()})
			b.hasPending.Store(true)
			b.mu.Unlock()
		},
	}
	b.cb.Store(gobreaker.NewCircuitBreaker[bff.Response](b.settings))
	return b
}

// Force is an operator's override of a breaker, for drills.
type Force uint32

// Force modes.
const (
	ForceNone   Force = iota // the breaker decides
	ForceOpen                // refuse every call, as if open
	ForceClosed              // let every call through, counting nothing
)

// String returns "none", "open" or "closed".
func (f Force) String() string {
	switch f {
	case ForceOpen:
		return "open"
	case ForceClosed:
		return "closed"
	default:
		return "none"
	}
}

// SetForce overrides the breaker until set back to ForceNone.
func (b *Breaker) SetForce(f Force) { b.forced.Store(uint32(f)) }

// Forced returns the current override.
func (b *Breaker) Forced() Force { return Force(b.forced.Load()) }

// Reset returns the breaker to closed with zero counts and clears any
// override.
func (b *Breaker) Reset() {
	from := b.State()
	b.cb.Store(gobreaker.NewCircuitBreaker[bff.Response](b.settings))
	b.forced.Store(uint32(ForceNone))
	if from != StateClosed && b.notify != nil {
		b.notify(Transition{Service: b.service, From: from, To: StateClosed, At: time.Now()})
	}
}

func readyToTrip(cfg BreakerConfig) func(gobreaker.Counts) bool {
	return func(c gobreaker.Counts) bool {
		if cfg.ConsecutiveFailures > 0 && c.ConsecutiveFailures >= cfg.ConsecutiveFailures {
			return true
		}
		counted := c.TotalSuccesses + c.TotalFailures
		return cfg.FailureRatio > 0 && counted >= cfg.MinRequests &&
			float64(c.TotalFailures) >= cfg.FailureRatio*float64(counted)
	}
}

// excluded keeps out of the counts every failure that is not the service's
// fault (bff.Classify): 4xx other than 429, unfollowed redirects, calls
// whose client left, and pagebff's own resource exhaustion — a BFF out of
// file descriptors must not open the breakers of healthy services.
func excluded(err error) bool { return bff.Classify(err) != bff.FaultService }

// Wrap returns a Fetcher that calls next through b: unless b is open, in
// which case it answers at once with a CodeCircuitOpen *bff.Error wrapping
// ErrOpen. Each pipeline built for a service wraps its own next with the
// service's one Breaker, so a reload that changes what is behind the
// breaker keeps it open, closed or half-open as it was.
func (b *Breaker) Wrap(next bff.Fetcher) bff.Fetcher { return breakerFetcher{b: b, next: next} }

type breakerFetcher struct {
	b    *Breaker
	next bff.Fetcher
}

func (f breakerFetcher) Fetch(ctx context.Context, call bff.Call) (bff.Response, error) {
	return f.b.execute(ctx, call, f.next)
}

func (b *Breaker) execute(ctx context.Context, call bff.Call, next bff.Fetcher) (bff.Response, error) {
	switch Force(b.forced.Load()) {
	case ForceOpen:
		return bff.Response{}, bff.Errorf(b.service, bff.CodeCircuitOpen, ErrOpen, "circuit breaker open")
	case ForceClosed:
		return next.Fetch(ctx, call)
	}
	resp, err := b.cb.Load().Execute(func() (bff.Response, error) { return next.Fetch(ctx, call) })
	b.flush()
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return resp, bff.Errorf(b.service, bff.CodeCircuitOpen, ErrOpen, "circuit breaker open")
	}
	return resp, err
}

// flush reports recorded transitions outside gobreaker's lock.
func (b *Breaker) flush() {
	if !b.hasPending.Load() {
		return
	}
	b.mu.Lock()
	ts := b.pending
	b.pending = nil
	b.hasPending.Store(false)
	b.mu.Unlock()
	if b.notify != nil {
		for _, t := range ts {
			b.notify(t)
		}
	}
}

// State returns the breaker's current state; a forced breaker reports the
// state it is forced to. Reading it may move an open breaker whose
// open_timeout has passed to half-open.
func (b *Breaker) State() State {
	switch Force(b.forced.Load()) {
	case ForceOpen:
		return StateOpen
	case ForceClosed:
		return StateClosed
	}
	s := fromGobreaker(b.cb.Load().State())
	b.flush()
	return s
}

// Counts returns the breaker's current counters.
func (b *Breaker) Counts() Counts {
	c := b.cb.Load().Counts()
	return Counts{
		Requests: c.Requests, Successes: c.TotalSuccesses, Failures: c.TotalFailures, Excluded: c.TotalExclusions,
		ConsecutiveSuccesses: c.ConsecutiveSuccesses, ConsecutiveFailures: c.ConsecutiveFailures,
	}
}
