package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/cache"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/downstream"
	"github.com/pagebff/pagebff/internal/httpapi"
	"github.com/pagebff/pagebff/internal/page"
	"github.com/pagebff/pagebff/internal/resilience"
)

// App is a configured pagebff. Create it with New, serve with Serve, and
// Close it when done.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	server   *httpapi.Server
	services []*service
	pages    atomic.Pointer[page.Assembler]
}

// service is one section's call pipeline and the parts it is built from.
// hedger and stale are nil when switched off in the config.
type service struct {
	name      string
	client    *downstream.Client
	hedger    *resilience.Hedger
	breaker   *resilience.Breaker
	coalescer *resilience.Coalescer
	stale     *cache.Stale
	fetcher   bff.Fetcher
}

// New builds an App from a validated cfg. It starts nothing.
func New(cfg config.Config, log *slog.Logger) (*App, error) {
	a := &App{cfg: cfg, log: log}
	sections := make([]page.Section, 0, len(cfg.Services))
	for _, sc := range cfg.Services {
		svc, err := newService(sc, log)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.services = append(a.services, svc)
		sections = append(sections, page.Section{
			Name:    sc.Name,
			Path:    downstream.PathTemplate(sc.Downstream.Path).Resolve,
			Fetcher: svc.fetcher,
		})
	}
	a.pages.Store(page.New(cfg.Page, sections))
	a.server = httpapi.New(cfg.Server, renderer{a}, log)
	return a, nil
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
func newService(sc config.Service, log *slog.Logger) (*service, error) {
	s := &service{name: sc.Name, client: downstream.New(sc.Downstream)}
	var f bff.Fetcher = s.client
	if sc.Hedge.Enabled {
		s.hedger = resilience.NewHedger(sc.Name, sc.Hedge, sc.Downstream.Timeout, f, nil)
		f = s.hedger
	}
	s.breaker = resilience.NewBreaker(sc.Name, sc.Breaker, f, func(t resilience.Transition) {
		log.Warn("breaker state change", slog.String("service", t.Service),
			slog.String("from", t.From.String()), slog.String("to", t.To.String()))
	})
	if s.hedger != nil {
		br := s.breaker
		s.hedger.SetGate(func() bool { return br.State() == resilience.StateClosed })
	}
	f = resilience.Timeout(sc.Name, sc.Downstream.Timeout, s.breaker)
	s.coalescer = resilience.NewCoalescer(sc.Name, f)
	f = s.coalescer
	if sc.Cache.Enabled {
		store, err := cache.NewMemory(sc.Cache.MaxEntries)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", sc.Name, err)
		}
		s.stale = cache.NewStale(sc.Cache.StaleTTL, store, f, nil)
		f = s.stale
	}
	s.fetcher = f
	return s, nil
}

// Stats are a service's resilience figures.
type Stats struct {
	HedgesSent  int64
	HedgesWon   int64
	StaleServed int64
	Coalesced   int64
}

// Stats returns the named service's figures; ok is false for an unknown name.
func (a *App) Stats(name string) (st Stats, ok bool) {
	for _, s := range a.services {
		if s.name != name {
			continue
		}
		if s.hedger != nil {
			st.HedgesSent, st.HedgesWon = s.hedger.Stats()
		}
		if s.stale != nil {
			st.StaleServed = s.stale.Served()
		}
		st.Coalesced = s.coalescer.Shared()
		return st, true
	}
	return Stats{}, false
}

// renderer renders with the App's current assembler.
type renderer struct{ a *App }

func (r renderer) Render(ctx context.Context, userID, requestID string) page.Page {
	return r.a.pages.Load().Render(ctx, userID, requestID)
}

// Handler returns the HTTP handler, for tests that serve it themselves.
func (a *App) Handler() http.Handler { return a.server }

// Server returns the HTTP server, e.g. to flip readiness in tests.
func (a *App) Server() *httpapi.Server { return a.server }

// Breaker returns the named service's breaker, or nil.
func (a *App) Breaker(name string) *resilience.Breaker {
	for _, s := range a.services {
		if s.name == name {
			return s.breaker
		}
	}
	return nil
}

// Close releases the downstream connection pools.
func (a *App) Close() {
	for _, s := range a.services {
		s.client.Close()
	}
}

// Serve serves on ln until ctx ends, then shuts down gracefully: /readyz
// turns 503 at once, requests are still served for server.drain_delay, then
// the listener closes and in-flight requests get server.shutdown_timeout to
// finish; those still running after it are cut off (and logged). It returns
// nil after shutdown, and an error only if serving failed.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.server,
		ReadHeaderTimeout: 5 * time.Second,
		// A client too slow to read its page must not hold an in-flight
		// slot for long; pages are small and written in one go.
		WriteTimeout: a.cfg.Page.Timeout + 10*time.Second,
		IdleTimeout:  120 * time.Second,
		ErrorLog:     slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.server.SetReady(true)
	a.log.Info("listening", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	a.server.SetReady(false)
	drain := a.cfg.Server.DrainDelay
	a.log.Info("shutting down", slog.String("drain_delay", drain.String()), slog.String("shutdown_timeout", a.cfg.Server.ShutdownTimeout.String()))
	if drain > 0 {
		t := time.NewTimer(drain)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return fmt.Errorf("serve: %w", err)
		}
	}

	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// The contract exits 0 after shutdown_timeout whatever is left:
		// the pages still running are cut off, and the log says so.
		_ = srv.Close()
		a.log.Error("shutdown timeout: closed connections with pages still in flight",
			slog.String("shutdown_timeout", a.cfg.Server.ShutdownTimeout.String()), slog.Int64("inflight", a.server.Inflight()))
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	a.log.Info("stopped")
	return nil
}
