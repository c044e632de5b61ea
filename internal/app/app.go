package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pagebff/pagebff/internal/auth"
	"github.com/pagebff/pagebff/internal/cache"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/dashboard"
	"github.com/pagebff/pagebff/internal/httpapi"
	"github.com/pagebff/pagebff/internal/observability"
	"github.com/pagebff/pagebff/internal/page"
	"github.com/pagebff/pagebff/internal/resilience"
)

// App is a configured pagebff. Create it with New, serve with Serve, change
// its configuration with Reload, and Close it when done. It is safe for
// concurrent use.
type App struct {
	log     *slog.Logger
	level   *slog.LevelVar // nil when the logger's level is not ours to set
	tracer  trace.Tracer
	now     func() time.Time // nil: time.Now
	metrics *observability.Metrics
	server  *httpapi.Server
	state   atomic.Pointer[state]

	// refresher runs the caches' background revalidations; Close stops
	// them.
	refresher *cache.Refresher

	dashboard *dashboard.Handler // GET /admin/dashboard; samples only while watched; Close stops it

	mu       sync.Mutex     // serializes Reload and Close
	registry *registry      // guarded by mu
	verifier *auth.Verifier // auth.mode jwt's; guarded by mu
	authCfg  auth.Config    // what verifier was made for; guarded by mu
}

// maxRefreshes bounds the background revalidations running at once, over
// all services: past it, a value in its revalidation window is still
// served and the next page starts the refresh.
const maxRefreshes = 64

// state is one configuration's running parts, swapped whole by Reload.
type state struct {
	cfg      config.Config
	services []*service // page order
	pages    *page.Assembler
}

func (st *state) service(name string) *service {
	if st == nil {
		return nil
	}
	for _, s := range st.services {
		if s.cfg.Name == name {
			return s
		}
	}
	return nil
}

// Option changes how New builds an App.
type Option func(*App)

// WithLevel lets Reload apply log.level to the logger through lv.
func WithLevel(lv *slog.LevelVar) Option { return func(a *App) { a.level = lv } }

// WithTracer makes page and attempt spans with tp's tracer (by default,
// none are recorded and only trace context is carried:
// observability.Propagating).
func WithTracer(tp trace.TracerProvider) Option {
	return func(a *App) { a.tracer = tp.Tracer("github.com/pagebff/pagebff") }
}

// WithClock makes cached values age by now instead of the wall clock, for
// tests.
func WithClock(now func() time.Time) Option { return func(a *App) { a.now = now } }

// New builds an App from a validated cfg, logging to log. It starts nothing.
func New(cfg config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	a := &App{log: log, tracer: observability.Propagating().Tracer(""), registry: newRegistry(),
		refresher: cache.NewRefresher(maxRefreshes)}
	for _, o := range opts {
		o(a)
	}
	a.metrics = observability.NewMetrics(func() float64 { return float64(a.server.Inflight()) })
	a.metrics.RegisterServices(a.samples)
	st, err := a.build(cfg)
	if err != nil {
		return nil, err
	}
	a.state.Store(st)
	a.setLevel(cfg.LogLevel)
	a.server = httpapi.New(cfg.Server, httpapi.Deps{
		Pages: renderer{a}, Admin: admin{a}, Log: log, Metrics: a.metrics, Tracer: a.tracer,
	})
	a.dashboard = a.serveDashboard()
	if err := a.applyAuth(cfg.Auth); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// build makes the running parts for cfg: a new pipeline for every
// service, from cfg's values and the registry's state. It changes nothing
// that the running state uses; on error, the caller prunes what it made.
// Caller holds a.mu (or is New).
func (a *App) build(cfg config.Config) (*state, error) {
	st := &state{cfg: cfg}
	rs, err := a.redis(cfg)
	if err != nil {
		return nil, err
	}
	sections := make([]page.Section, 0, len(cfg.Services))
	for _, sc := range cfg.Services {
		svc, err := a.newService(sc, rs)
		if err != nil {
			return nil, err
		}
		st.services = append(st.services, svc)
		sections = append(sections, svc.section())
	}
	st.pages = page.New(cfg.Page, sections)
	return st, nil
}

func (a *App) setLevel(level string) {
	if a.level == nil {
		return
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err == nil {
		a.level.Set(l)
	}
}

// renderer renders with the App's current assembler.
type renderer struct{ a *App }

func (r renderer) Render(ctx context.Context, userID, requestID string) page.Page {
	return r.a.state.Load().pages.Render(ctx, userID, requestID)
}

// Handler returns the HTTP handler, for tests that serve it themselves.
func (a *App) Handler() http.Handler { return a.server }

// Server returns the HTTP server, e.g. to flip readiness in tests.
func (a *App) Server() *httpapi.Server { return a.server }

// Config returns the configuration in force.
func (a *App) Config() config.Config { return a.state.Load().cfg }

// Breaker returns the named service's breaker, or nil.
func (a *App) Breaker(name string) *resilience.Breaker {
	if s := a.state.Load().service(name); s != nil {
		return s.breaker
	}
	return nil
}

// Stats returns the named service's resilience figures since the app
// started; ok is false for a name never configured.
func (a *App) Stats(name string) (CounterValues, bool) {
	a.mu.Lock()
	c, ok := a.registry.counters[name]
	a.mu.Unlock()
	if !ok {
		return CounterValues{}, false
	}
	return c.load(), true
}

// samples feeds the per-service metrics at scrape time.
func (a *App) samples() []observability.ServiceSample {
	st := a.state.Load()
	// The Redis tier's breaker as of now (0 without one): a store replaced
	// by a reload must not leave its last state behind.
	state := ""
	if rs := a.sharedTier(st); rs != nil {
		state = rs.State()
	}
	a.metrics.RedisBreakerState.Set(breakerGauge(state))
	out := make([]observability.ServiceSample, 0, len(st.services))
	for _, s := range st.services {
		c := s.count.load()
		sample := observability.ServiceSample{
			Service: s.cfg.Name, BreakerState: float64(s.breaker.State()),
			HedgesSent: c.HedgesSent, HedgesWon: c.HedgesWon, StaleServed: c.StaleServed, Coalesced: c.Coalesced,
			RetriesSent: c.RetriesSent, RetriesWon: c.RetriesWon,
			Revalidations: c.Revalidations, CacheLookups: make([]observability.CacheLookup, 0, len(cache.Tiers)*len(cache.Results)),
		}
		for _, tier := range cache.Tiers {
			for _, r := range cache.Results {
				sample.CacheLookups = append(sample.CacheLookups, observability.CacheLookup{
					Tier: tier.String(), Result: r.String(), N: s.count.cache.Lookups(tier, r)})
			}
		}
		if s.store != nil {
			u := s.store.Usage()
			sample.CacheEntries, sample.CacheBytes = int64(u.Entries), u.Bytes
		}
		out = append(out, sample)
	}
	return out
}

// Close stops the background revalidations (cancelling those running and
// waiting for them) and releases the downstream connection pools.
func (a *App) Close() {
	a.dashboard.Close()
	a.refresher.Close()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.verifier != nil {
		a.verifier.Close()
		a.verifier = nil
	}
	a.registry.prune(nil)
}
