package cache

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// Stale serves a call's last good answer when the live call fails for a
// reason that is the service's fault. It is safe for concurrent use.
type Stale struct {
	ttl    time.Duration
	store  Store
	next   bff.Fetcher
	now    func() time.Time
	served *atomic.Int64
}

var _ bff.Fetcher = (*Stale)(nil)

// NewStale returns a Stale in front of next, keeping values in store for
// ttl. now is the clock (nil means time.Now); stale answers are counted in
// served (nil means a private counter).
func NewStale(ttl time.Duration, store Store, next bff.Fetcher, now func() time.Time, served *atomic.Int64) *Stale {
	if now == nil {
		now = time.Now
	}
	if served == nil {
		served = new(atomic.Int64)
	}
	return &Stale{ttl: ttl, store: store, next: next, now: now, served: served}
}

// Fetch calls next. A success is remembered under call.Key(); a 404 or 410
// forgets it (the data is gone, and must not come back as stale). A failure that is
// the service's fault (see Hideable) is answered with the remembered value,
// if one is younger than the TTL, together with the error: the bff.Response
// convention for a stale answer. Once ctx has ended nobody waits for the
// answer, so none is looked up: the page asks Fallback itself for sections
// still running at its deadline.
func (s *Stale) Fetch(ctx context.Context, call bff.Call) (bff.Response, error) {
	resp, err := s.next.Fetch(ctx, call)
	if err == nil {
		s.store.Put(call.Key(), Entry{Body: resp.Body, StoredAt: s.now()})
		return resp, nil
	}
	if bff.Gone(err) {
		s.store.Delete(call.Key())
	}
	if !Hideable(err) || ctx.Err() != nil {
		return resp, err
	}
	if stale, ok := s.Fallback(call); ok {
		return stale, err
	}
	return resp, err
}

// Fallback returns the remembered value for call, if one is younger than the
// TTL, marked as coming from the cache, and counts it as served. The page
// uses it for a section that timed out with the page deadline.
func (s *Stale) Fallback(call bff.Call) (bff.Response, bool) {
	e, ok := s.store.Get(call.Key())
	if !ok {
		return bff.Response{}, false
	}
	age := s.now().Sub(e.StoredAt)
	if age > s.ttl {
		return bff.Response{}, false
	}
	s.served.Add(1)
	return bff.Response{Body: e.Body, Source: bff.SourceCache, Age: age}, true
}

// Served returns how many stale values have been served.
func (s *Stale) Served() int64 { return s.served.Load() }

// Hideable reports whether a failure may be hidden by a stale value: the
// service's own faults — 5xx, 429, timeouts (the page deadline included),
// connection failures, bad responses, an open breaker — and failures that
// are nobody's (an unfollowed redirect, pagebff out of local resources).
// Never a 404 or other 4xx (the data may truly be gone) or a client that
// went away. See bff.Classify.
func Hideable(err error) bool {
	if _, ok := errors.AsType[*bff.Error](err); !ok {
		return false
	}
	switch bff.Classify(err) {
	case bff.FaultService, bff.FaultNeither:
		return true
	}
	return false
}

// Len returns how many values the cache holds.
func (s *Stale) Len() int { return s.store.Len() }
