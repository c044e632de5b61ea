package app

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pagebff/pagebff/internal/cache"
	"github.com/pagebff/pagebff/internal/cache/redisstore"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/downstream"
	"github.com/pagebff/pagebff/internal/downstream/h1"
	"github.com/pagebff/pagebff/internal/resilience"
)

// registry keeps every service's long-lived state apart from the pipelines
// that use it: breaker state, latency history, hedge budget, cached values,
// connection pools and counters, each keyed by the service and the settings
// that define it (the way caddy's reverse proxy keeps upstream hosts in a
// usage pool while the handler tree is rebuilt). Building a pipeline looks
// state up, creating what is missing; nothing here is ever changed in place
// for a new configuration, so a page in flight keeps what it started with.
// After a swap, prune drops what the running state no longer uses.
//
// It is not safe for concurrent use: the App calls it under its mu.
type registry struct {
	counters   map[string]*counters // by service, for the app's life
	breakers   map[breakerKey]*resilience.Breaker
	estimators map[string]*resilience.Estimator
	budgets    map[budgetKey]*resilience.Budget
	stores     map[string]*cache.Memory // by service; replaced when max_entries changes
	pools      map[poolKey]*h1.Client
	redis      map[config.Redis]*redisstore.Store // the shared cache tier, by its settings
}

type (
	breakerKey struct {
		service string
		cfg     resilience.BreakerConfig
	}
	budgetKey struct {
		service string
		cfg     resilience.BudgetConfig
	}
	poolKey struct {
		service, url string
		timeout      time.Duration
	}
)

func newRegistry() *registry {
	return &registry{
		counters:   map[string]*counters{},
		breakers:   map[breakerKey]*resilience.Breaker{},
		estimators: map[string]*resilience.Estimator{},
		budgets:    map[budgetKey]*resilience.Budget{},
		stores:     map[string]*cache.Memory{},
		pools:      map[poolKey]*h1.Client{},
		redis:      map[config.Redis]*redisstore.Store{},
	}
}

// counters are one service's resilience event counts, for metrics and the
// admin view: handed to the policies of every pipeline built for the
// service, so they survive reloads. Safe for concurrent use.
type counters struct {
	hedgesSent, hedgesWon, coalesced atomic.Int64
	retriesSent, retriesWon          atomic.Int64
	cache                            cache.Counters
}

// CounterValues are a service's counters read at one moment.
type CounterValues struct {
	HedgesSent    int64 `json:"hedges_sent"`
	HedgesWon     int64 `json:"hedges_won"`
	RetriesSent   int64 `json:"retries_sent"`
	RetriesWon    int64 `json:"retries_won"`
	StaleServed   int64 `json:"stale_served"`
	FreshHits     int64 `json:"fresh_hits"`
	Revalidations int64 `json:"revalidations"`
	Coalesced     int64 `json:"coalesced"`
}

func (c *counters) load() CounterValues {
	return CounterValues{
		HedgesSent: c.hedgesSent.Load(), HedgesWon: c.hedgesWon.Load(),
		RetriesSent: c.retriesSent.Load(), RetriesWon: c.retriesWon.Load(),
		StaleServed: c.cache.StaleServed(), FreshHits: c.cache.FreshHits(),
		Revalidations: c.cache.Revalidations.Load(), Coalesced: c.coalesced.Load(),
	}
}

func (r *registry) counter(service string) *counters {
	c, ok := r.counters[service]
	if !ok {
		c = new(counters)
		r.counters[service] = c
	}
	return c
}

// breaker returns the service's breaker for cfg: the same one as long as
// the breaker settings do not change, so open stays open (and forced stays
// forced) across reloads that change anything else.
func (r *registry) breaker(service string, cfg resilience.BreakerConfig, notify func(resilience.Transition)) *resilience.Breaker {
	k := breakerKey{service, cfg}
	b, ok := r.breakers[k]
	if !ok {
		b = resilience.NewBreaker(service, cfg, notify)
		r.breakers[k] = b
	}
	return b
}

// estimator returns the service's latency history, whatever its settings.
func (r *registry) estimator(service string) *resilience.Estimator {
	e, ok := r.estimators[service]
	if !ok {
		e = resilience.NewEstimator(resilience.AutoQuantile)
		r.estimators[service] = e
	}
	return e
}

// budget returns the service's budget for extra requests (hedges and
// retries) for cfg.
func (r *registry) budget(service string, cfg resilience.BudgetConfig) *resilience.Budget {
	k := budgetKey{service, cfg}
	b, ok := r.budgets[k]
	if !ok {
		b = resilience.NewBudget(cfg.Percent, cfg.MinPerWindow, nil)
		r.budgets[k] = b
	}
	return b
}

// store returns the service's cached values bounded by maxEntries and
// maxBytes. When a bound changed, a new store gets a copy of the old one's
// entries; the old one stays as it was for the pages still using it.
func (r *registry) store(service string, maxEntries int, maxBytes int64) (*cache.Memory, error) {
	old, ok := r.stores[service]
	if ok {
		if e, b := old.Cap(); e == maxEntries && b == maxBytes {
			return old, nil
		}
	}
	var s *cache.Memory
	var err error
	if ok {
		s, err = old.Copy(maxEntries, maxBytes)
	} else {
		s, err = cache.NewMemory(maxEntries, maxBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", service, err)
	}
	r.stores[service] = s
	return s, nil
}

// pool returns the connection pool for a service's base URL and timeout
// (which bounds its dials and TLS handshakes).
func (r *registry) pool(service string, cfg downstream.Config) *h1.Client {
	k := poolKey{service, cfg.URL, cfg.Timeout}
	p, ok := r.pools[k]
	if !ok {
		p = downstream.NewPool(cfg)
		r.pools[k] = p
	}
	return p
}

// poolGrace is how long a retired pool stays open for the pages still
// using it: longer than any page deadline pagebff accepts.
const poolGrace = 10 * time.Second

// retirePool closes p's idle connections now and p itself after
// poolGrace, so connections that calls in flight return to it close too.
func retirePool(p *h1.Client) {
	p.CloseIdle()
	time.AfterFunc(poolGrace, p.Close)
}

// prune drops every piece of state that no service of keep uses, retiring
// dropped pools (retirePool: calls in flight finish). Counters stay: they
// are per service name for the app's life. A nil keep drops everything and
// closes the pools at once.
func (r *registry) prune(keep *state) {
	var use []*service
	if keep != nil {
		use = keep.services
	}
	pruneMap(r.breakers, use, func(s *service) *resilience.Breaker { return s.breaker }, nil)
	pruneMap(r.estimators, use, func(s *service) *resilience.Estimator { return s.estimator }, nil)
	pruneMap(r.budgets, use, func(s *service) *resilience.Budget { return s.budget }, nil)
	pruneMap(r.stores, use, func(s *service) *cache.Memory { return s.store }, nil)
	retire := retirePool
	if keep == nil { // the app is closing: nothing is in flight any more
		retire = (*h1.Client).Close
	}
	pruneMap(r.pools, use, func(s *service) *h1.Client { return s.pool }, retire)
	closeRedis := func(s *redisstore.Store) { time.AfterFunc(poolGrace, func() { _ = s.Close() }) }
	if keep == nil {
		closeRedis = func(s *redisstore.Store) { _ = s.Close() } // flushes what is queued
	}
	pruneMap(r.redis, use, func(s *service) *redisstore.Store { return s.redis }, closeRedis)
}

// pruneMap deletes from m every value that no service in use holds (as of
// field), calling drop, if not nil, on each one deleted.
func pruneMap[K comparable, V comparable](m map[K]V, use []*service, field func(*service) V, drop func(V)) {
	for k, v := range m {
		held := false
		for _, s := range use {
			if field(s) == v {
				held = true
				break
			}
		}
		if !held {
			if drop != nil {
				drop(v)
			}
			delete(m, k)
		}
	}
}

// stateFor looks up (or creates) every piece of state the service sc
// needs; the pipeline is built from it by newService.
func (r *registry) stateFor(sc config.Service, notify func(resilience.Transition)) (*service, error) {
	s := &service{cfg: sc, count: r.counter(sc.Name), breaker: r.breaker(sc.Name, sc.Breaker, notify)}
	if sc.Downstream.Transport == nil {
		s.pool = r.pool(sc.Name, sc.Downstream)
	}
	if sc.Hedge.Enabled || sc.Retry.Enabled() {
		s.estimator = r.estimator(sc.Name)
		s.budget = r.budget(sc.Name, sc.Budget)
	}
	if sc.Cache.Enabled {
		var err error
		if s.store, err = r.store(sc.Name, sc.Cache.MaxEntries, sc.Cache.MaxBytes); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// restore puts back the stores st's services use: a build for another
// configuration may have replaced them with resized copies.
func (r *registry) restore(st *state) {
	for _, s := range st.services {
		if s.store != nil {
			r.stores[s.cfg.Name] = s.store
		}
	}
}
