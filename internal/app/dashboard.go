package app

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pagebff/pagebff/internal/dashboard"
	"github.com/pagebff/pagebff/internal/observability"
	"github.com/pagebff/pagebff/internal/resilience"
)

// dashboardSource is what GET /admin/dashboard shows, read once a second
// from the App's metrics: the same cumulative counters and histograms
// /metrics serves, which pages update anyway, so an open dashboard adds
// nothing to a page. It gathers a registry of its own holding pagebff's
// collectors and not the Go runtime and process ones, which show nothing
// the dashboard needs and cost most of a gather of the whole registry (the
// process collector reads /proc): BenchmarkDashboardSample measured
// 130-200µs a sample this way and about 600µs gathering the App's
// registry, 0.015% and 0.06% of a core at one sample a second. The services are the running configuration's, in page order; a
// service a reload removed is gone from the dashboard though its series
// stay in /metrics.
type dashboardSource struct {
	a   *App
	reg prometheus.Gatherer
}

var _ dashboard.Source = dashboardSource{}

// newDashboardSource returns the App's Source. The collectors are the ones
// the App's registry holds (a collector may be in several registries);
// bff_inflight_pages is read from the server directly.
func newDashboardSource(a *App) dashboardSource {
	reg := prometheus.NewRegistry()
	m := a.metrics
	reg.MustRegister(m.PageDuration, m.SectionDuration, m.SectionOutcomes, m.PagesShed)
	(&observability.Metrics{Registry: reg}).RegisterServices(a.samples)
	return dashboardSource{a: a, reg: reg}
}

// Metric families the dashboard reads (README, "Metrics"). The pages in
// flight (bff_inflight_pages) come from the server, and the Redis tier's
// breaker (bff_redis_breaker_state) from the store, which is what the gauge
// is set from at scrape.
const (
	famPageDuration    = "bff_page_duration_seconds"
	famShed            = "bff_pages_shed_total"
	famSectionDuration = "bff_section_duration_seconds"
	famOutcomes        = "bff_section_outcomes_total"
	famHedgesSent      = "bff_hedges_sent_total"
	famHedgesWon       = "bff_hedges_won_total"
	famRetries         = "bff_retries_total"
	famRetriesWon      = "bff_retries_won_total"
	famCacheLookups    = "bff_cache_lookups_total"
	famStaleServed     = "bff_stale_served_total"
	famBreakerState    = "bff_breaker_state"
)

// Sample gathers the registry and picks the dashboard's figures. A
// collector that fails leaves its figures at zero: Gather returns what it
// could.
func (d dashboardSource) Sample() dashboard.Raw {
	st := d.a.state.Load()
	fams, _ := d.reg.Gather()
	byName := make(map[string]*dto.MetricFamily, 16)
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	raw := dashboard.Raw{
		Time: time.Now(),
		Pages: dashboard.RawPages{
			Latency:  histogram(byName[famPageDuration], "", ""),
			Inflight: float64(d.a.server.Inflight()),
			Shed:     counter(byName[famShed], "", ""),
		},
		Services: make([]dashboard.RawService, 0, len(st.services)),
	}
	for _, s := range st.services {
		name := s.cfg.Name
		rs := dashboard.RawService{
			Name:        name,
			Breaker:     resilience.State(gauge(byName[famBreakerState], "service", name)).String(),
			Forced:      s.breaker.Forced().String(),
			Latency:     histogram(byName[famSectionDuration], "service", name),
			HedgesSent:  counter(byName[famHedgesSent], "service", name),
			HedgesWon:   counter(byName[famHedgesWon], "service", name),
			RetriesSent: counter(byName[famRetries], "service", name),
			RetriesWon:  counter(byName[famRetriesWon], "service", name),
			StaleServed: counter(byName[famStaleServed], "service", name),
		}
		if f := byName[famCacheLookups]; f != nil {
			for _, m := range f.GetMetric() {
				if label(m, "service") == name && label(m, "result") == "fresh_hit" {
					rs.FreshHits += uint64(m.GetCounter().GetValue())
				}
			}
		}
		if f := byName[famOutcomes]; f != nil {
			for _, m := range f.GetMetric() {
				if label(m, "service") == name {
					rs.Outcomes = append(rs.Outcomes, dashboard.Outcome{
						Status: label(m, "status"), Code: label(m, "code"), N: uint64(m.GetCounter().GetValue()),
					})
				}
			}
		}
		raw.Services = append(raw.Services, rs)
	}
	if rs := d.a.sharedTier(st); rs != nil {
		raw.Redis = rs.State()
	}
	return raw
}

// label returns m's value for the label name, or "".
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// matches reports whether m has the label name=value; an empty name
// matches every series.
func matches(m *dto.Metric, name, value string) bool {
	return name == "" || label(m, name) == value
}

// counter sums f's counters (or untyped values) whose label name is value.
func counter(f *dto.MetricFamily, name, value string) uint64 {
	var n float64
	for _, m := range f.GetMetric() {
		if matches(m, name, value) {
			n += m.GetCounter().GetValue() + m.GetUntyped().GetValue()
		}
	}
	return uint64(n)
}

// gauge sums f's gauges whose label name is value.
func gauge(f *dto.MetricFamily, name, value string) float64 {
	var v float64
	for _, m := range f.GetMetric() {
		if matches(m, name, value) {
			v += m.GetGauge().GetValue()
		}
	}
	return v
}

// histogram adds up f's histograms whose label name is value (they share
// pagebff's buckets; one with other bounds is left out).
func histogram(f *dto.MetricFamily, name, value string) dashboard.Histogram {
	var h dashboard.Histogram
	for _, m := range f.GetMetric() {
		if !matches(m, name, value) || m.GetHistogram() == nil {
			continue
		}
		ph := m.GetHistogram()
		buckets := ph.GetBucket()
		if n := len(buckets); n > 0 && math.IsInf(buckets[n-1].GetUpperBound(), 1) {
			buckets = buckets[:n-1] // +Inf is SampleCount
		}
		if h.Bounds == nil {
			h.Bounds = make([]float64, 0, len(buckets))
			h.Counts = make([]uint64, len(buckets))
			for _, b := range buckets {
				h.Bounds = append(h.Bounds, b.GetUpperBound())
			}
		}
		if len(buckets) != len(h.Bounds) {
			continue
		}
		for i, b := range buckets {
			h.Counts[i] += b.GetCumulativeCount()
		}
		h.Count += ph.GetSampleCount()
	}
	return h
}

// serveDashboard makes the dashboard of the App and mounts it on its
// server (GET /admin/dashboard, its stream and its JSON, beside /admin/*).
// The sampler runs only while someone watches; Close must stop it.
func (a *App) serveDashboard() *dashboard.Handler {
	h := dashboard.New(newDashboardSource(a), dashboard.Options{})
	a.server.SetDashboard(h)
	return h
}
