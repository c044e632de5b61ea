package app

import (
	"fmt"
	"log/slog"

	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/cache"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/downstream"
	"github.com/pagebff/pagebff/internal/page"
	"github.com/pagebff/pagebff/internal/resilience"
)

// service is one section's call pipeline and the parts it is built from.
// hedger and stale are nil when switched off in the config.
type service struct {
	cfg       config.Service
	count     *bff.Counters
	client    *downstream.Client
	hedger    *resilience.Hedger
	breaker   *resilience.Breaker
	coalescer *resilience.Coalescer
	store     *cache.Memory
	stale     *cache.Stale
	fetcher   bff.Fetcher
}

// newService builds one service's pipeline; a call goes through, outermost
// first:
//
//	stale cache → coalescing → Timeout → Breaker → hedge → HTTP client
//
// The cache sees every outcome; identical calls share one trip through the
// rest; the timeout bounds the shared call, hedges included; the breaker
// sees one result per call whatever the hedging did, and hedging never
// starts while the breaker is not closed.
//
// old, if not nil, is the service's previous pipeline (a reload changed
// some of its settings): what the change does not touch carries on — the
// breaker (state, forced state) unless breaker.* changed, the cached values
// (resized to max_entries), the hedger's latency history and budget, and the
// connection pool unless url, timeout or max_body changed. Caller holds a.mu
// (or is New).
func (a *App) newService(sc config.Service, old *service) (*service, error) {
	s := &service{cfg: sc, count: a.counter(sc.Name)}
	a.metrics.AddService(sc.Name)
	if old != nil && sameClient(old.cfg.Downstream, sc.Downstream) {
		s.client = old.client
	} else {
		s.client = downstream.New(sc.Downstream, a.tracer)
	}
	var f bff.Fetcher = s.client
	if sc.Hedge.Enabled {
		s.hedger = resilience.NewHedger(sc.Name, sc.Hedge, sc.Downstream.Timeout, f, nil, s.count)
		if old != nil && old.hedger != nil {
			s.hedger.Carry(old.hedger)
		}
		f = s.hedger
	}
	if old != nil && old.cfg.Breaker == sc.Breaker {
		s.breaker = old.breaker
		s.breaker.SetNext(f)
	} else {
		s.breaker = resilience.NewBreaker(sc.Name, sc.Breaker, f, a.onTransition)
	}
	if s.hedger != nil {
		br := s.breaker
		s.hedger.SetGate(func() bool { return br.State() == resilience.StateClosed })
	}
	f = resilience.Timeout(sc.Name, sc.Downstream.Timeout, s.breaker)
	s.coalescer = resilience.NewCoalescer(sc.Name, f, s.count, a.tracer)
	f = s.coalescer
	if sc.Cache.Enabled {
		if old != nil && old.store != nil {
			s.store = old.store
			s.store.Resize(sc.Cache.MaxEntries)
		} else {
			store, err := cache.NewMemory(sc.Cache.MaxEntries)
			if err != nil {
				if old != nil {
					retire(s, old)
				} else {
					s.close()
				}
				return nil, fmt.Errorf("service %s: %w", sc.Name, err)
			}
			s.store = store
		}
		s.stale = cache.NewStale(sc.Cache.StaleTTL, s.store, f, nil, s.count)
		f = s.stale
	}
	s.fetcher = f
	return s, nil
}

// sameClient reports whether a client built for a serves b as well.
func sameClient(a, b downstream.Config) bool {
	return a.URL == b.URL && a.Timeout == b.Timeout && a.MaxBody == b.MaxBody && a.Transport == b.Transport
}

func (a *App) onTransition(t resilience.Transition) {
	a.log.Warn("breaker state change", slog.String("service", t.Service),
		slog.String("from", t.From.String()), slog.String("to", t.To.String()))
	a.metrics.Transitions.WithLabelValues(t.Service, t.From.String(), t.To.String()).Inc()
}

func (s *service) section() page.Section {
	return page.Section{
		Name:    s.cfg.Name,
		Path:    downstream.PathTemplate(s.cfg.Downstream.Path).Resolve,
		Fetcher: s.fetcher,
	}
}

// close releases the service's idle connections; calls in flight finish.
func (s *service) close() { s.client.Close() }

// retire closes what of old the new pipeline does not reuse.
func retire(old, new *service) {
	if new == nil || new.client != old.client {
		old.close()
	}
}
