package app

import (
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/cache"
	"github.com/pagebff/pagebff/internal/cache/redisstore"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/downstream"
	"github.com/pagebff/pagebff/internal/downstream/h1"
	"github.com/pagebff/pagebff/internal/page"
	"github.com/pagebff/pagebff/internal/resilience"
)

// pipeline is the order of the policies every call to a service goes
// through, outermost first, and the one place that states it (the README
// and the doc comments point here). It is folded innermost-first, from the
// HTTP client out, the way failsafe-go's executor composes its policies.
// Adding a policy is one entry here plus its package.
//
//   - the cache answers fresh entries without a call, and sees every
//     outcome, so it can hide any failure that is the service's fault
//     (bff.Classify); its background refreshes go through the rest;
//   - coalescing makes identical calls share one trip through the rest;
//   - the timeout bounds that shared call, hedges included (the
//     coalescer detaches the shared call on a context bounded by the
//     service's timeout already, which the timeout then keeps);
//   - the breaker sees one result per call, whatever the retries and the
//     hedging did, and neither starts while it is not closed;
//   - retries try a call that failed fast for a transient reason again,
//     drawing on the same budget as the hedges;
//   - hedging sends a second attempt when the first is slow.
var pipeline = []policy{
	{"cache", (*service).cachePolicy},
	{"coalescing", (*service).coalescing},
	{"timeout", (*service).timeout},
	{"breaker", (*service).breakerPolicy},
	{"retry", (*service).retry},
	{"hedge", (*service).hedge},
}

// policy is one entry of pipeline: wrap puts the policy in front of next,
// or returns next when the service's settings switch the policy off.
type policy struct {
	name string
	wrap func(s *service, next bff.Fetcher) bff.Fetcher
}

// service is one section's pipeline, built for one configuration from
// values and the state the registry keeps. Nothing in it changes after
// newService; a reload builds a new one.
type service struct {
	cfg    config.Service
	tracer trace.Tracer
	now    func() time.Time // nil: time.Now

	// Long-lived state, from the registry; nil when switched off.
	count     *counters
	breaker   *resilience.Breaker
	estimator *resilience.Estimator
	budget    *resilience.Budget
	store     *cache.Memory
	far       cache.Store       // the shared tier; nil for the memory backend
	redis     *redisstore.Store // the same, for the registry and the admin view
	refresher *cache.Refresher  // the app's background refreshes
	pool      *h1.Client        // nil when the config brings its own Transport

	// What the pipeline is made of, for the admin view; nil when off.
	client  *downstream.Client
	hedger  *resilience.Hedger
	cache   *cache.Cache
	fetcher bff.Fetcher // the whole pipeline
}

// newService builds sc's pipeline from the registry's state for it, with
// rs as the shared cache tier (nil: memory only).
func (a *App) newService(sc config.Service, rs *redisstore.Store) (*service, error) {
	s, err := a.registry.stateFor(sc, a.onTransition)
	if err != nil {
		return nil, err
	}
	if rs != nil && sc.Cache.Enabled {
		s.redis, s.far = rs, rs // s.far stays a nil interface without one
	}
	a.metrics.AddService(sc.Name)
	s.tracer, s.now, s.refresher = a.tracer, a.now, a.refresher
	dc := sc.Downstream
	dc.Pool = s.pool
	s.client = downstream.New(dc, a.tracer)
	var f bff.Fetcher = s.client
	for i := len(pipeline) - 1; i >= 0; i-- {
		f = pipeline[i].wrap(s, f)
	}
	s.fetcher = f
	return s, nil
}

func (s *service) cachePolicy(next bff.Fetcher) bff.Fetcher {
	if !s.cfg.Cache.Enabled {
		return next
	}
	s.cache = cache.New(s.cfg.Cache, cache.Options{
		Near: s.store, Far: s.far, Now: s.now, Counters: &s.count.cache,
		Refresher: s.refresher, NewRequestID: uuid.NewString,
	}, next)
	return s.cache
}

func (s *service) coalescing(next bff.Fetcher) bff.Fetcher {
	return resilience.NewCoalescer(s.cfg.Name, s.cfg.Downstream.Timeout, next, &s.count.coalesced, s.tracer)
}

func (s *service) timeout(next bff.Fetcher) bff.Fetcher {
	return resilience.Timeout(s.cfg.Name, s.cfg.Downstream.Timeout, next)
}

func (s *service) breakerPolicy(next bff.Fetcher) bff.Fetcher { return s.breaker.Wrap(next) }

func (s *service) hedge(next bff.Fetcher) bff.Fetcher {
	if !s.cfg.Hedge.Enabled {
		return next
	}
	br := s.breaker
	s.hedger = resilience.NewHedger(s.cfg.Name, s.cfg.Hedge, s.cfg.Downstream.Timeout, next, resilience.HedgeState{
		Estimator: s.estimator, Budget: s.budget,
		Gate: func() bool { return br.State() == resilience.StateClosed },
		Sent: &s.count.hedgesSent, Won: &s.count.hedgesWon,
		Counted: s.cfg.Retry.Enabled(), // the Retrier counts the calls
	})
	return s.hedger
}

func (s *service) retry(next bff.Fetcher) bff.Fetcher {
	if !s.cfg.Retry.Enabled() {
		return next
	}
	br := s.breaker
	return resilience.NewRetrier(s.cfg.Name, s.cfg.Retry, next, resilience.RetryState{
		Budget: s.budget, Estimator: s.estimator,
		Gate: func() bool { return br.State() == resilience.StateClosed },
		Sent: &s.count.retriesSent, Won: &s.count.retriesWon,
		Observe: !s.cfg.Hedge.Enabled, // else the Hedger records them
	})
}

func (a *App) onTransition(t resilience.Transition) {
	a.log.Warn("breaker state change", slog.String("service", t.Service),
		slog.String("from", t.From.String()), slog.String("to", t.To.String()))
	a.metrics.Transitions.WithLabelValues(t.Service, t.From.String(), t.To.String()).Inc()
}

// section is the service as the page sees it: its deadline fallback is the
// stale cache, declared here rather than discovered.
func (s *service) section() page.Section {
	sec := page.Section{
		Name:    s.cfg.Name,
		Path:    downstream.PathTemplate(s.cfg.Downstream.Path).Resolve,
		Fetcher: s.fetcher,
	}
	if s.cache != nil {
		sec.Fallback = s.cache.Fallback
	}
	return sec
}
