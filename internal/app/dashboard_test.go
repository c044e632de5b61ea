package app

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/dashboard"
	"github.com/pagebff/pagebff/internal/testutil"
)

// dashboardApp is an App in front of three healthy fake services, served
// over real HTTP.
func dashboardApp(t testing.TB, tweak func(*config.Config)) (*App, *testutil.SettledServer) {
	t.Helper()
	cfg := config.Default()
	for i := range cfg.Services {
		cfg.Services[i].Downstream.URL = testutil.NewService(t, testutil.JSON(`{"id":"abc","items":[]}`)).URL
	}
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(false); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := testutil.NewSettledServer(a.Handler())
	t.Cleanup(a.Close)
	t.Cleanup(srv.Close)
	return a, srv
}

// pages asks for n pages one after the other and returns once the last has
// been counted.
func pages(t testing.TB, srv *testutil.SettledServer, n int) {
	t.Helper()
	for range n {
		res, err := http.Get(srv.URL + "/v1/pages/home?user_id=abc")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	srv.Settle()
}

// TestDashboardSource: the figures the dashboard reads are the ones pages
// count, by the metric names of the README.
func TestDashboardSource(t *testing.T) {
	a, srv := dashboardApp(t, nil)
	src := newDashboardSource(a)
	before := src.Sample()
	pages(t, srv, 7)
	if err := (admin{a}).BreakerAction("user", "open"); err != nil {
		t.Fatal(err)
	}
	pages(t, srv, 3)
	raw := src.Sample()

	if raw.Pages.Latency.Count-before.Pages.Latency.Count != 10 || len(raw.Pages.Latency.Bounds) == 0 {
		t.Errorf("page histogram count %d → %d, %d bounds; want 10 more", before.Pages.Latency.Count, raw.Pages.Latency.Count, len(raw.Pages.Latency.Bounds))
	}
	if raw.Redis != "" {
		t.Errorf("redis = %q with the memory backend, want none", raw.Redis)
	}
	var names []string
	for _, s := range raw.Services {
		names = append(names, s.Name)
	}
	if len(names) != 3 || names[0] != "user" || names[1] != "catalog" || names[2] != "activity" {
		t.Fatalf("services = %v, want user, catalog, activity in page order", names)
	}
	outcomes := func(s dashboard.RawService) map[string]uint64 {
		m := map[string]uint64{}
		for _, o := range s.Outcomes {
			m[o.Status+"/"+o.Code] = o.N
		}
		return m
	}
	user, catalog := raw.Services[0], raw.Services[1]
	if user.Breaker != "open" || user.Forced != "open" {
		t.Errorf("user breaker %q forced %q, want open by a drill", user.Breaker, user.Forced)
	}
	if catalog.Breaker != "closed" || catalog.Forced != "none" {
		t.Errorf("catalog breaker %q forced %q", catalog.Breaker, catalog.Forced)
	}
	if o := outcomes(catalog); o["ok/none"] != 10 || user.Latency.Count != 10 {
		t.Errorf("catalog outcomes %v, user sections %d; want 10 ok and 10", o, user.Latency.Count)
	}
	if o := outcomes(user); o["ok/none"] != 7 || o["error/circuit_open"]+o["stale/circuit_open"] != 3 {
		t.Errorf("user outcomes %v, want 7 ok then 3 refused by the open breaker", o)
	}
	if _, ok := outcomes(user)["error/timeout"]; !ok {
		t.Error("the outcomes lack the zero series the metrics create at the start")
	}
	if raw.Pages.Inflight != 0 || raw.Pages.Shed != 0 {
		t.Errorf("pages inflight %v shed %d, want 0", raw.Pages.Inflight, raw.Pages.Shed)
	}
}

// TestDashboardSourceRedis: with the Redis backend, the tier's breaker is
// shown.
func TestDashboardSourceRedis(t *testing.T) {
	rs := testutil.StartRedis(t)
	a, srv := dashboardApp(t, func(c *config.Config) {
		c.CacheBackend, c.Redis.URL, c.Redis.Timeout = "redis", rs.URL(), 100*time.Millisecond
	})
	pages(t, srv, 2)
	if raw := newDashboardSource(a).Sample(); raw.Redis != "closed" {
		t.Errorf("redis = %q, want closed", raw.Redis)
	}
}

// TestDashboardServed: through the App's own handler, with a token, the
// page loads without it, and the JSON shows the three services with it.
func TestDashboardServed(t *testing.T) {
	_, srv := dashboardApp(t, func(c *config.Config) { c.Server.AdminToken = "t0ken" })
	pages(t, srv, 3)

	res, err := http.Get(srv.URL + "/admin/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("page without a token: %s", res.Status)
	}
	for _, tt := range []struct {
		name, token string
		want        int
	}{{"no token", "", 401}, {"token", "t0ken", 200}} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin/dashboard.json", nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var f dashboard.Frame
		_ = json.NewDecoder(res.Body).Decode(&f)
		res.Body.Close()
		if res.StatusCode != tt.want {
			t.Fatalf("%s: %s, want %d", tt.name, res.Status, tt.want)
		}
		if tt.want == 200 && (f.Latest == nil || len(f.Latest.Services) != 3 || f.Latest.Pages.Total != 3) {
			t.Errorf("%s: %+v, want three services and three pages", tt.name, f.Latest)
		}
	}
}

// BenchmarkDashboardSample is what one open dashboard costs: a Sample of
// the App (a Gather of its registry) and the Sampler's arithmetic, done once
// a second. %core is the share of one core that takes: ns/op ÷ 1e9 × 100.
func BenchmarkDashboardSample(b *testing.B) {
	a, srv := dashboardApp(b, nil)
	pages(b, srv, 50)
	src := newDashboardSource(a)
	s := dashboard.NewSampler(src, time.Second)
	b.ReportAllocs()
	for b.Loop() {
		s.Record(src.Sample())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e7, "%core")
}
