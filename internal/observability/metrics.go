package observability

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pagebff/pagebff/internal/bff"
)

// Metrics are pagebff's Prometheus metrics. Create them with NewMetrics;
// every method is safe for concurrent use.
type Metrics struct {
	Registry *prometheus.Registry

	PageDuration    *prometheus.HistogramVec // page
	SectionDuration *prometheus.HistogramVec // service
	SectionOutcomes *prometheus.CounterVec   // service, status, code
	Transitions     *prometheus.CounterVec   // service, from, to
	PagesShed       prometheus.Counter
	HTTPRequests    *prometheus.CounterVec // route, method, status
	ConfigReloads   *prometheus.CounterVec // result

	// The Redis cache tier's, present (at zero) with the memory backend too.
	RedisCommands      *prometheus.HistogramVec // command (get, pipeline), result (ok, error)
	RedisWritesDropped prometheus.Counter
	RedisBreakerState  prometheus.Gauge

	// auth.mode jwt's, present (at zero) in mode none too.
	AuthResults   *prometheus.CounterVec // result (ok, missing, invalid, mismatch)
	JWKSRefreshes *prometheus.CounterVec // result (ok, failed)
}

// redisBuckets are for commands bounded by cache.redis_timeout (20ms by
// default, 1s at most).
var redisBuckets = []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1}

// Buckets for page and section latency, in seconds: fine below 100ms where
// healthy pages live, then up to the 500ms page deadline and past it.
var latencyBuckets = []float64{.001, .0025, .005, .01, .015, .02, .03, .05, .075, .1, .15, .2, .3, .4, .5, .75, 1}

// NewMetrics registers pagebff's metrics, the Go runtime and the process
// collectors on a new registry. inflight reports the pages in flight.
func NewMetrics(inflight func() float64) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		PageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bff_page_duration_seconds", Help: "Time to render a page, from request to response.", Buckets: latencyBuckets,
		}, []string{"page"}),
		SectionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bff_section_duration_seconds", Help: "Time from a page's fan-out to its section's answer.", Buckets: latencyBuckets,
		}, []string{"service"}),
		SectionOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_section_outcomes_total", Help: "Sections rendered, by service, status (ok, stale, error) and code (none when ok).",
		}, []string{"service", "status", "code"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_breaker_transitions_total", Help: "Circuit breaker state changes.",
		}, []string{"service", "from", "to"}),
		PagesShed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bff_pages_shed_total", Help: "Page requests answered 503 because server.max_inflight pages were in flight.",
		}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_http_requests_total", Help: "HTTP requests served, by route, method and status.",
		}, []string{"route", "method", "status"}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_config_reloads_total", Help: "Config reloads, by result (applied, unchanged, rejected).",
		}, []string{"result"}),
		RedisCommands: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bff_redis_command_duration_seconds", Help: "Redis cache tier commands (get; pipeline: a batch of writes), by result.",
			Buckets: redisBuckets,
		}, []string{"command", "result"}),
		RedisWritesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bff_redis_writes_dropped_total", Help: "Writes to the Redis cache tier given up: queue full, breaker open, or the pipeline failed.",
		}),
		RedisBreakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bff_redis_breaker_state", Help: "The Redis cache tier's breaker: 0 closed, 1 half-open, 2 open (0 with the memory backend).",
		}),
	}
	m.AuthResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bff_auth_requests_total", Help: "Page requests checked by auth.mode jwt, by result (ok, missing, invalid, mismatch).",
	}, []string{"result"})
	m.JWKSRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bff_auth_jwks_fetches_total", Help: "Fetches of auth.jwks_url, by result (ok; failed: the last good keys stay).",
	}, []string{"result"})
	for _, r := range []string{"ok", "missing", "invalid", "mismatch"} {
		m.AuthResults.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "failed"} {
		m.JWKSRefreshes.WithLabelValues(r)
	}
	for _, cmd := range []string{"get", "pipeline"} {
		for _, result := range []string{"ok", "error"} {
			m.RedisCommands.WithLabelValues(cmd, result)
		}
	}
	for _, result := range []string{"applied", "unchanged", "rejected"} {
		m.ConfigReloads.WithLabelValues(result)
	}
	reg.MustRegister(m.PageDuration, m.SectionDuration, m.SectionOutcomes, m.Transitions, m.PagesShed,
		m.HTTPRequests, m.ConfigReloads, m.RedisCommands, m.RedisWritesDropped, m.RedisBreakerState, m.AuthResults, m.JWKSRefreshes, buildInfo(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bff_inflight_pages", Help: "Page requests in flight."}, inflight),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// breakerStates are the breaker state names, as in bff_breaker_state and
// the transitions' from and to labels.
var breakerStates = []string{"closed", "half-open", "open"}

// AddService creates every label set that service's metrics can have — each
// outcome (status and code), each breaker transition, the section latency
// histogram — at zero, so that increase() and rate() see the first event
// (a series that appears with its first increment is invisible to them). It
// is idempotent; the app calls it for every service it builds.
func (m *Metrics) AddService(service string) {
	m.SectionDuration.WithLabelValues(service)
	m.SectionOutcomes.WithLabelValues(service, "ok", "none")
	for c := bff.CodeTimeout; c <= bff.CodeCanceled; c++ {
		m.SectionOutcomes.WithLabelValues(service, "error", c.String())
		if hideable(c) {
			m.SectionOutcomes.WithLabelValues(service, "stale", c.String())
		}
	}
	for _, from := range breakerStates {
		for _, to := range breakerStates {
			if from != to {
				m.Transitions.WithLabelValues(service, from, to)
			}
		}
	}
}

// hideable reports whether a section failing with c may be served stale.
func hideable(c bff.Code) bool {
	return c != bff.CodeNotFound && c != bff.CodeCanceled
}

// Version is pagebff's version, set at build time with
// -ldflags "-X github.com/pagebff/pagebff/internal/observability.Version=v1.2.3";
// when empty, the module version from the build info is used.
var Version string

// buildInfo is bff_build_info: always 1, with the version, the VCS revision
// and the Go version as labels, so a dashboard can tell which build runs.
func buildInfo() prometheus.Collector {
	version, revision, goVersion := Version, "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	if version == "" {
		version = "unknown"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "bff_build_info", Help: "Always 1; the labels say which build of pagebff runs.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}

// ServiceSample is one service's state at scrape time.
type ServiceSample struct {
	Service      string
	BreakerState float64 // 0 closed, 1 half-open, 2 open
	HedgesSent   int64
	HedgesWon    int64
	RetriesSent  int64
	RetriesWon   int64
	StaleServed  int64
	Coalesced    int64
	// CacheLookups are the cache's lookups by tier and result, every
	// combination present.
	CacheLookups  []CacheLookup
	Revalidations int64
	CacheEntries  int64
	CacheBytes    int64
}

// CacheLookup is a count of cache lookups in one tier with one result.
type CacheLookup struct {
	Tier, Result string
	N            int64
}

// serviceCollector reads per-service figures when scraped, so no counter is
// kept twice and a service added by a reload appears at once.
type serviceCollector struct {
	samples                            func() []ServiceSample
	state, sent, won, stale, coalesced *prometheus.Desc
	lookups, revalidations             *prometheus.Desc
	retries, retriesWon                *prometheus.Desc
	entries, bytes                     *prometheus.Desc
}

// RegisterServices adds the per-service gauges and counters, read from
// samples at every scrape.
func (m *Metrics) RegisterServices(samples func() []ServiceSample) {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"service"}, nil)
	}
	m.Registry.MustRegister(&serviceCollector{
		samples:    samples,
		state:      d("bff_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open."),
		sent:       d("bff_hedges_sent_total", "Hedged requests sent."),
		won:        d("bff_hedges_won_total", "Hedged requests that answered first."),
		retries:    d("bff_retries_total", "Retries sent (a call that failed fast for a transient reason, sent again)."),
		retriesWon: d("bff_retries_won_total", "Retries that answered well."),
		stale:      d("bff_stale_served_total", "Sections answered from the stale cache."),
		coalesced:  d("bff_coalesced_calls_total", "Calls answered by joining an identical call in flight."),
		lookups: prometheus.NewDesc("bff_cache_lookups_total",
			"Cache lookups, by service, tier (memory, redis) and result (fresh_hit, stale_served, miss, error).",
			[]string{"service", "tier", "result"}, nil),
		revalidations: d("bff_cache_revalidations_total", "Background refreshes of a cached value in its stale-while-revalidate window."),
		entries:       d("bff_cache_entries", "Values held in the memory tier."),
		bytes:         d("bff_cache_bytes", "Bytes held in the memory tier (keys, bodies and a per-entry overhead)."),
	})
}

func (c *serviceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.sent, c.won, c.stale, c.coalesced, c.lookups, c.revalidations, c.entries, c.bytes, c.retries, c.retriesWon} {
		ch <- d
	}
}

func (c *serviceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.samples() {
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, s.BreakerState, s.Service)
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(s.HedgesSent), s.Service)
		ch <- prometheus.MustNewConstMetric(c.won, prometheus.CounterValue, float64(s.HedgesWon), s.Service)
		ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(s.RetriesSent), s.Service)
		ch <- prometheus.MustNewConstMetric(c.retriesWon, prometheus.CounterValue, float64(s.RetriesWon), s.Service)
		ch <- prometheus.MustNewConstMetric(c.stale, prometheus.CounterValue, float64(s.StaleServed), s.Service)
		ch <- prometheus.MustNewConstMetric(c.coalesced, prometheus.CounterValue, float64(s.Coalesced), s.Service)
		for _, l := range s.CacheLookups {
			ch <- prometheus.MustNewConstMetric(c.lookups, prometheus.CounterValue, float64(l.N), s.Service, l.Tier, l.Result)
		}
		ch <- prometheus.MustNewConstMetric(c.revalidations, prometheus.CounterValue, float64(s.Revalidations), s.Service)
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(s.CacheEntries), s.Service)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.CacheBytes), s.Service)
	}
}
