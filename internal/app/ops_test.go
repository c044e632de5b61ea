package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/pagebff/pagebff/internal/app"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/resilience"
	"github.com/pagebff/pagebff/internal/testutil"
)

// scrape fetches /metrics and parses it.
func scrape(t testing.TB, f *fixture) map[string]*dto.MetricFamily {
	t.Helper()
	r := f.get(t, "/metrics")
	if r.resp.StatusCode != 200 {
		t.Fatalf("/metrics = %d", r.resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of name whose labels include want,
// and whether it exists. Histograms give their sample count.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func assertMetric(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := value(fams, name, labels)
	if !ok || got != want {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
	}
}

// TestMetricsExistBeforeFirstEvent: Prometheus's increase() showed 4
// breaker trips where the counters said 6, and the README's rejected-config
// alert fired only on the second bad edit, because a label set appeared
// with its first increment. Every known label set exists from the start.
func TestMetricsExistBeforeFirstEvent(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	fams := scrape(t, f)
	for _, svc := range []string{"user", "catalog", "activity"} {
		assertMetric(t, fams, "bff_breaker_transitions_total", map[string]string{"service": svc, "from": "closed", "to": "open"}, 0)
		assertMetric(t, fams, "bff_breaker_transitions_total", map[string]string{"service": svc, "from": "half-open", "to": "closed"}, 0)
		assertMetric(t, fams, "bff_section_outcomes_total", map[string]string{"service": svc, "status": "ok", "code": "none"}, 0)
		for _, code := range []string{"timeout", "upstream_status", "unavailable", "bad_response", "circuit_open", "not_found", "canceled"} {
			assertMetric(t, fams, "bff_section_outcomes_total", map[string]string{"service": svc, "status": "error", "code": code}, 0)
		}
		assertMetric(t, fams, "bff_section_outcomes_total", map[string]string{"service": svc, "status": "stale", "code": "timeout"}, 0)
		assertMetric(t, fams, "bff_section_duration_seconds", map[string]string{"service": svc}, 0)
	}
	for _, result := range []string{"applied", "unchanged", "rejected"} {
		assertMetric(t, fams, "bff_config_reloads_total", map[string]string{"result": result}, 0)
	}
	if _, ok := value(fams, "bff_section_outcomes_total", map[string]string{"service": "user", "status": "stale", "code": "not_found"}); ok {
		t.Error("a stale not_found series exists; a 404 is never served stale")
	}
	assertMetric(t, fams, "bff_build_info", map[string]string{"goversion": runtime.Version()}, 1)
	// A service added by a reload gets its series at once.
	next := f.app.Config()
	extra := next.Services[0]
	extra.Name, extra.Downstream.Name, extra.Downstream.Path = "reviews", "reviews", "/reviews"
	next.Services = append(next.Services, extra)
	if _, err := f.app.Reload(next); err != nil {
		t.Fatal(err)
	}
	assertMetric(t, scrape(t, f), "bff_breaker_transitions_total", map[string]string{"service": "reviews", "from": "closed", "to": "open"}, 0)
}

func TestMetricsMove(t *testing.T) {
	f := newFixture(t, handlers{activity: testutil.Status(500, ``)}, func(c *config.Config) {
		setService(c, "activity", func(s *config.Service) { s.Breaker.ConsecutiveFailures = 2 })
	})
	fams := scrape(t, f)
	assertMetric(t, fams, "bff_breaker_state", map[string]string{"service": "activity"}, 0)
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "bff_inflight_pages", "bff_pages_shed_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}

	f.page(t)
	f.page(t)
	f.get(t, "/nope")
	fams = scrape(t, f)
	assertMetric(t, fams, "bff_page_duration_seconds", map[string]string{"page": "home"}, 2)
	assertMetric(t, fams, "bff_section_duration_seconds", map[string]string{"service": "user"}, 2)
	assertMetric(t, fams, "bff_section_outcomes_total", map[string]string{"service": "user", "status": "ok", "code": "none"}, 2)
	assertMetric(t, fams, "bff_section_outcomes_total", map[string]string{"service": "activity", "status": "error", "code": "upstream_status"}, 2)
	assertMetric(t, fams, "bff_breaker_state", map[string]string{"service": "activity"}, 2)
	assertMetric(t, fams, "bff_breaker_transitions_total", map[string]string{"service": "activity", "from": "closed", "to": "open"}, 1)
	assertMetric(t, fams, "bff_http_requests_total", map[string]string{"route": "/v1/pages/home", "method": "GET", "status": "200"}, 2)
	assertMetric(t, fams, "bff_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 1)

	// A stale answer and a shed page move their counters too.
	f.activity.Set(testutil.JSON(`[]`))
	f.app.Breaker("activity").Reset()
	f.page(t)
	f.activity.Set(testutil.Status(503, ``))
	f.page(t)
	fams = scrape(t, f)
	assertMetric(t, fams, "bff_stale_served_total", map[string]string{"service": "activity"}, 1)
	assertMetric(t, fams, "bff_cache_lookups_total", map[string]string{"service": "activity", "tier": "memory", "result": "stale_served"}, 1)
	assertMetric(t, fams, "bff_cache_lookups_total", map[string]string{"service": "user", "tier": "redis", "result": "error"}, 0)
	assertMetric(t, fams, "bff_cache_entries", map[string]string{"service": "activity"}, 1)
	assertMetric(t, fams, "bff_section_outcomes_total", map[string]string{"service": "activity", "status": "stale", "code": "upstream_status"}, 1)
}

func TestMetricsHedgesAndShedding(t *testing.T) {
	fs := &firstSlow{body: userBody}
	f := newFixture(t, handlers{user: fs.handle}, hedgeOn(20*time.Millisecond))
	f.page(t)
	fams := scrape(t, f)
	assertMetric(t, fams, "bff_hedges_sent_total", map[string]string{"service": "user"}, 1)
	assertMetric(t, fams, "bff_hedges_won_total", map[string]string{"service": "user"}, 1)

	f.app.Server().Configure(func() config.Config { c := f.app.Config(); c.Server.MaxInflight = 0; return c }().Server)
	if r := f.get(t, "/v1/pages/home?user_id=abc"); r.resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503 with max_inflight 0", r.resp.StatusCode)
	}
	assertMetric(t, scrape(t, f), "bff_pages_shed_total", nil, 1)
}

// An incoming traceparent is continued: one span per page, one per
// downstream attempt (a hedge marked), and traceparent sent downstream.
func TestTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	fs := &firstSlow{body: userBody}
	f := newFixture(t, handlers{user: fs.handle}, hedgeOn(20*time.Millisecond), app.WithTracer(tp))

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := f.get(t, "/v1/pages/home?user_id=abc", "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	assertSection(t, r.page, "user", "ok", "")
	eventually(t, "the losing attempt's span", func() bool { return len(rec.Ended()) == 5 })

	var pageSpan sdktrace.ReadOnlySpan
	attempts := map[string]int{}
	hedges := 0
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() != traceID {
			t.Errorf("span %q in trace %s, want the incoming %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
		switch s.SpanKind() {
		case trace.SpanKindServer:
			pageSpan = s
		case trace.SpanKindClient:
			attempts[s.Name()]++
			for _, kv := range s.Attributes() {
				if kv.Key == "bff.hedge" && kv.Value.AsBool() {
					hedges++
				}
			}
		}
	}
	if pageSpan == nil || pageSpan.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("page span %v, want one continuing the incoming parent", pageSpan)
	}
	if attempts["GET user"] != 2 || attempts["GET catalog"] != 1 || attempts["GET activity"] != 1 || hedges != 1 {
		t.Fatalf("attempt spans %v with %d hedges; want user twice (one hedge), catalog and activity once", attempts, hedges)
	}
	for _, req := range f.catalog.Requests() {
		if tp := req.Header.Get("traceparent"); !strings.Contains(tp, traceID) {
			t.Errorf("catalog got traceparent %q, want trace %s", tp, traceID)
		}
	}
	// The page log line carries the trace id.
	eventually(t, "the page log line", func() bool { return len(f.logs.lines(t, "page")) == 1 })
	lines := f.logs.lines(t, "page")
	if len(lines) != 1 || lines[0]["trace_id"] != traceID {
		t.Fatalf("page log %v, want trace_id %s", lines, traceID)
	}
}

// TestAdminOpenWithoutToken: GET /admin/breakers used to answer anyone on
// the public listener while no token was set (the default). Without a
// token it now answers only on a loopback admin.addr.
func TestAdminOpenWithoutToken(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	if r := f.get(t, "/admin/breakers"); r.resp.StatusCode != 403 {
		t.Fatalf("/admin/breakers on the public listener without a token = %d, want 403", r.resp.StatusCode)
	}
	// admin.addr on every interface is no better.
	f = newFixture(t, handlers{}, func(c *config.Config) { c.Server.AdminAddr = ":9090" })
	if r := f.adminDo(t, http.MethodGet, "/admin/breakers"); r.resp.StatusCode != 403 {
		t.Fatalf("/admin/breakers on a non-loopback admin.addr without a token = %d, want 403", r.resp.StatusCode)
	}
}

// TestAdminListener: with admin.addr, /admin/* and /metrics move to their
// own listener, and the public one no longer serves them.
func TestAdminListener(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) {
		c.Server.AdminAddr = "127.0.0.1:9090"
		c.Server.AdminToken = "s3cret"
	})
	for _, path := range []string{"/admin/breakers", "/metrics"} {
		if r := f.get(t, path, "Authorization", "Bearer s3cret"); r.resp.StatusCode != 404 {
			t.Errorf("public %s = %d, want 404", path, r.resp.StatusCode)
		}
		if r := f.adminDo(t, http.MethodGet, path, "Authorization", "Bearer s3cret"); r.resp.StatusCode != 200 {
			t.Errorf("admin %s = %d, want 200", path, r.resp.StatusCode)
		}
	}
	if r := f.adminDo(t, http.MethodGet, "/admin/breakers"); r.resp.StatusCode != 401 {
		t.Errorf("admin listener without the token = %d, want 401", r.resp.StatusCode)
	}
	if r := f.adminDo(t, http.MethodGet, "/v1/pages/home?user_id=abc"); r.resp.StatusCode != 404 {
		t.Errorf("page on the admin listener = %d, want 404", r.resp.StatusCode)
	}
	if r := f.page(t); r.resp.StatusCode != 200 {
		t.Errorf("page = %d, want 200", r.resp.StatusCode)
	}
}

func TestAdminBreakers(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) { c.Server.AdminAddr = "127.0.0.1:9090" })
	r := f.adminDo(t, http.MethodGet, "/admin/breakers")
	if r.resp.StatusCode != 200 {
		t.Fatalf("/admin/breakers = %d on a loopback admin.addr without a token, want 200", r.resp.StatusCode)
	}
	var view struct {
		Services map[string]struct {
			State    string
			Counts   map[string]int
			Settings map[string]any
			Hedge    map[string]any
			Cache    map[string]any
			Totals   map[string]int64
		}
	}
	if err := json.Unmarshal(r.body, &view); err != nil {
		t.Fatal(err)
	}
	u := view.Services["user"]
	if u.State != "closed" || u.Settings["consecutive_failures"] != 5.0 || u.Hedge["delay"] != "auto" || u.Cache["stale_ttl"] != "10m0s" {
		t.Fatalf("admin view of user: %+v", u)
	}
	// Without a token, the actions are refused.
	if r := f.adminDo(t, http.MethodPost, "/admin/breakers/user/open"); r.resp.StatusCode != 403 {
		t.Fatalf("action without a configured token = %d, want 403", r.resp.StatusCode)
	}
}

func TestAdminToken(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) { c.Server.AdminToken = "s3cret" })
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		status int
	}{
		{name: "no header", method: "GET", path: "/admin/breakers", status: 401},
		{name: "wrong token", method: "GET", path: "/admin/breakers", auth: "Bearer nope", status: 401},
		{name: "not bearer", method: "GET", path: "/admin/breakers", auth: "Basic s3cret", status: 401},
		{name: "right token", method: "GET", path: "/admin/breakers", auth: "Bearer s3cret", status: 200},
		{name: "action without token", method: "POST", path: "/admin/breakers/user/open", status: 401},
		{name: "unknown service", method: "POST", path: "/admin/breakers/nope/open", auth: "Bearer s3cret", status: 404},
		{name: "unknown action", method: "POST", path: "/admin/breakers/user/explode", auth: "Bearer s3cret", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			if r := f.do(t, context.Background(), tt.method, tt.path, hdr...); r.resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", r.resp.StatusCode, tt.status, r.body)
			}
		})
	}

	// Drill: force open, the section answers circuit_open without a call;
	// force closed; reset.
	auth := []string{"Authorization", "Bearer s3cret"}
	f.do(t, context.Background(), http.MethodPost, "/admin/breakers/user/open", auth...)
	hits := f.user.Hits()
	assertSection(t, f.page(t).page, "user", "error", "circuit_open")
	if f.user.Hits() != hits {
		t.Fatal("a forced-open breaker let a call through")
	}
	f.do(t, context.Background(), http.MethodPost, "/admin/breakers/user/reset", auth...)
	if br := f.app.Breaker("user"); br.State() != resilience.StateClosed || br.Forced() != resilience.ForceNone {
		t.Fatalf("after reset: %s forced %s", br.State(), br.Forced())
	}
	assertSection(t, f.page(t).page, "user", "ok", "")
}

// Any method a client invents lands in one "other" label: scanners cannot
// mint series.
func TestMetricsMethodLabelBounded(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	for _, m := range []string{"FOO", "BAR", "get"} {
		f.do(t, context.Background(), m, "/x")
	}
	fams := scrape(t, f)
	assertMetric(t, fams, "bff_http_requests_total", map[string]string{"route": "unmatched", "method": "other", "status": "404"}, 3)
	for _, m := range fams["bff_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "method" && (l.GetValue() == "FOO" || l.GetValue() == "BAR") {
				t.Fatalf("raw method %q became a label", l.GetValue())
			}
		}
	}
}

func TestMetricsCoalesced(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, handlers{catalog: held(release, catalogBody)}, patient)
	pagesAtOnce(t, f, []string{"a", "b", "c"}, release, coalesced(f, 2, "catalog"))
	assertMetric(t, scrape(t, f), "bff_coalesced_calls_total", map[string]string{"service": "catalog"}, 2)
}

// The page log line carries what on-call needs.
func TestPageLogLine(t *testing.T) {
	f := newFixture(t, handlers{activity: testutil.Status(502, ``)}, nil)
	r := f.get(t, "/v1/pages/home?user_id=abc", "X-Request-Id", "req-7")
	if r.resp.StatusCode != 200 {
		t.Fatal(r.resp.StatusCode)
	}
	// The page is flushed to the client before its log line is written.
	eventually(t, "the page log line", func() bool { return len(f.logs.lines(t, "page")) == 1 })
	l := f.logs.lines(t, "page")[0]
	if l["request_id"] != "req-7" || l["user_id"] != "abc" || l["status"] != 200.0 || l["level"] != "WARN" || l["degraded"] != true {
		t.Fatalf("page line %v", l)
	}
	if d, ok := l["duration_ms"].(float64); !ok || d <= 0 {
		t.Fatalf("duration_ms %v", l["duration_ms"])
	}
	act := l["sections"].(map[string]any)["activity"].(map[string]any)
	if act["status"] != "error" || act["code"] != "upstream_status" || !strings.Contains(act["error"].(string), "502") {
		t.Fatalf("activity in log %v", act)
	}
}

func TestAdminTokenSchemeCaseInsensitive(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) { c.Server.AdminToken = "s3cret" })
	if r := f.get(t, "/admin/breakers", "Authorization", "bearer s3cret"); r.resp.StatusCode != 200 {
		t.Fatalf("lower-case scheme: %d, want 200", r.resp.StatusCode)
	}
	if r := f.get(t, "/admin/breakers", "Authorization", "Bearer s3cre"); r.resp.StatusCode != 401 {
		t.Fatalf("prefix of the token: %d, want 401", r.resp.StatusCode)
	}
}

// Profiles are served behind the admin token, and refused without one
// configured, even on a loopback admin.addr.
func TestPprofBehindToken(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) { c.Server.AdminToken = "s3cret" })
	tests := []struct {
		path, auth string
		status     int
		contains   string
	}{
		{path: "/admin/debug/pprof/", auth: "Bearer s3cret", status: 200, contains: "goroutine"},
		{path: "/admin/debug/pprof/goroutine?debug=1", auth: "Bearer s3cret", status: 200, contains: "goroutine profile"},
		{path: "/admin/debug/pprof/cmdline", auth: "Bearer s3cret", status: 200},
		{path: "/admin/debug/pprof/profile?seconds=1", auth: "Bearer s3cret", status: 200},
		{path: "/admin/debug/pprof/heap", status: 401},
	}
	for _, tt := range tests {
		r := f.get(t, tt.path, "Authorization", tt.auth)
		if r.resp.StatusCode != tt.status || !strings.Contains(string(r.body), tt.contains) {
			t.Errorf("%s: %d %.80q, want %d containing %q", tt.path, r.resp.StatusCode, r.body, tt.status, tt.contains)
		}
	}
	open := newFixture(t, handlers{}, func(c *config.Config) { c.Server.AdminAddr = "127.0.0.1:9090" })
	if r := open.adminDo(t, http.MethodGet, "/admin/debug/pprof/heap"); r.resp.StatusCode != 403 {
		t.Errorf("pprof without a configured token = %d, want 403", r.resp.StatusCode)
	}
}
