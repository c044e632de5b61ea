package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/app"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/resilience"
	"github.com/pagebff/pagebff/internal/testutil"
)

// Reloading while pages are served: the changed services pick up their new
// timeout, path and breaker threshold; the unchanged one keeps its breaker
// state and stale cache; every page stays 200 (run with -race).
func TestReloadWhileServing(t *testing.T) {
	f := newFixture(t, handlers{activity: testutil.JSON(activityBody)}, func(c *config.Config) {
		setService(c, "activity", func(s *config.Service) { s.Breaker.ConsecutiveFailures = 1 })
	})
	f.page(t) // activity's good answer is cached
	f.activity.Set(testutil.Status(500, ``))
	f.page(t) // activity's breaker opens
	activityBreaker := f.app.Breaker("activity")
	if activityBreaker.State() != resilience.StateOpen {
		t.Fatal("activity breaker not open")
	}

	var stop atomic.Bool
	var served, bad atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r, err := f.try(t.Context(), "GET", "/v1/pages/home?user_id=abc")
				if err != nil || r.resp.StatusCode != 200 {
					bad.Add(1)
				}
				served.Add(1)
			}
		}()
	}
	eventually(t, "pages flowing", func() bool { return served.Load() > 20 })

	next := f.app.Config()
	next.Services = slices.Clone(next.Services)
	setService(&next, "user", func(s *config.Service) {
		s.Downstream.Timeout = 250 * time.Millisecond
		s.Downstream.Path = "/v2/users/{user_id}"
	})
	setService(&next, "catalog", func(s *config.Service) { s.Breaker.ConsecutiveFailures = 1 })
	if err := next.Validate(false); err != nil {
		t.Fatal(err)
	}
	changed, err := f.app.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"services.catalog.breaker.consecutive_failures", "services.user.path", "services.user.timeout"}
	if !slices.Equal(changed, want) {
		t.Fatalf("changed keys %v, want %v", changed, want)
	}
	before := served.Load()
	eventually(t, "pages after the reload", func() bool { return served.Load() > before+20 })
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d pages failed during the reload", bad.Load())
	}

	// The new path is used.
	reqs := f.user.Requests()
	if last := reqs[len(reqs)-1].Path; last != "/v2/users/abc" {
		t.Fatalf("user service last saw %s, want the reloaded path", last)
	}
	// The unchanged service kept its breaker (still open) and its cache.
	if f.app.Breaker("activity") != activityBreaker || activityBreaker.State() != resilience.StateOpen {
		t.Fatal("activity's breaker was replaced or reset by a reload that did not touch it")
	}
	assertStale(t, f.page(t), "activity", "circuit_open")
	// The new catalog threshold applies: one failure opens it.
	f.catalog.Set(testutil.Status(500, ``))
	f.page(t)
	if st := f.app.Breaker("catalog").State(); st != resilience.StateOpen {
		t.Fatalf("catalog breaker %s after one failure, want open with the reloaded threshold", st)
	}
}

func TestReloadUnchanged(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	if _, err := f.app.Reload(f.app.Config()); !errors.Is(err, app.ErrUnchanged) {
		t.Fatalf("Reload of the same config: %v, want ErrUnchanged", err)
	}
}

// Counters survive a reload that rebuilds a service.
func TestReloadKeepsCounters(t *testing.T) {
	fs := &firstSlow{body: userBody}
	f := newFixture(t, handlers{user: fs.handle}, hedgeOn(20*time.Millisecond))
	f.page(t)
	next := f.app.Config()
	next.Services = slices.Clone(next.Services)
	setService(&next, "user", func(s *config.Service) { s.Downstream.Timeout = 200 * time.Millisecond })
	if _, err := f.app.Reload(next); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.app.Stats("user"); st.HedgesSent != 1 {
		t.Fatalf("hedges sent %d after reload, want 1 kept", st.HedgesSent)
	}
	assertMetric(t, scrape(t, f), "bff_hedges_sent_total", map[string]string{"service": "user"}, 1)
}

// log.level applies at once on reload.
func TestReloadLogLevel(t *testing.T) {
	lv := new(slog.LevelVar)
	buf := &syncBuffer{}
	cfg := config.Default()
	svc := testutil.NewService(t, testutil.JSON(`{}`))
	for i := range cfg.Services {
		cfg.Services[i].Downstream.URL = svc.URL
	}
	a, err := app.New(cfg, slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: lv})), app.WithLevel(lv))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := testutil.NewSettledServer(a.Handler())
	defer srv.Close()
	get := func() {
		resp, err := srv.Client().Get(srv.URL + "/v1/pages/home?user_id=abc")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get()
	srv.Settle()
	if n := len(buf.lines(t, "page")); n != 1 {
		t.Fatalf("%d page lines at log.level info, want 1", n)
	}
	cfg.LogLevel = "error"
	if _, err := a.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	get()
	srv.Settle() // the line, if any, is written after the page is sent
	if n := len(buf.lines(t, "page")); n != 1 {
		t.Fatalf("%d page lines after log.level error, want still 1", n)
	}
}

// Changing one of a service's settings keeps what the change does not
// touch: during an outage, raising stale_ttl must not close the open
// breaker or drop the cached value.
func TestReloadKeepsUntouchedParts(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) {
		setService(c, "user", func(s *config.Service) { s.Breaker.ConsecutiveFailures = 1 })
	})
	f.page(t)
	f.user.Set(testutil.Status(500, ``))
	f.page(t)
	br := f.app.Breaker("user")
	if br.State() != resilience.StateOpen {
		t.Fatal("breaker not open")
	}
	next := f.app.Config()
	next.Services = slices.Clone(next.Services)
	setService(&next, "user", func(s *config.Service) {
		s.Cache.StaleTTL = time.Hour
		s.Hedge.Delay = 40 * time.Millisecond
	})
	if _, err := f.app.Reload(next); err != nil {
		t.Fatal(err)
	}
	if f.app.Breaker("user") != br || br.State() != resilience.StateOpen {
		t.Fatal("the reload replaced or closed the open breaker")
	}
	hits := f.user.Hits()
	assertStale(t, f.page(t), "user", "circuit_open")
	if f.user.Hits() != hits {
		t.Fatal("a call went through the open breaker after the reload")
	}
	// A breaker threshold change does get a fresh breaker.
	next.Services = slices.Clone(next.Services)
	setService(&next, "user", func(s *config.Service) { s.Breaker.ConsecutiveFailures = 3 })
	if _, err := f.app.Reload(next); err != nil {
		t.Fatal(err)
	}
	if f.app.Breaker("user") == br {
		t.Fatal("breaker kept although its thresholds changed")
	}
}

// TestInFlightPageKeepsOldSettings: a page in flight during a reload renders
// wholly with the settings it started with; the next page uses the new
// ones. (A reload used to change parts of the live pipeline in place:
// Breaker.SetNext, the cache's Resize.)
func TestInFlightPageKeepsOldSettings(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	big := `{"id":"abc","bio":"` + strings.Repeat("x", 200) + `"}`
	var calls atomic.Int64
	f := newFixture(t, handlers{user: func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 { // hold the first page's call across the reload
			testutil.Signal(arrived)
			<-release
		}
		testutil.JSON(big)(w, r)
	}}, patient) // the held call must outlast the reload on a loaded machine
	inflight := make(chan reply, 1)
	go func() {
		r, _ := f.try(context.Background(), http.MethodGet, "/v1/pages/home?user_id=abc")
		inflight <- r
	}()
	<-arrived
	next := f.app.Config()
	next.Services = slices.Clone(next.Services)
	setService(&next, "user", func(s *config.Service) {
		s.Downstream.MaxBody = 100 // the held answer would now be too large
		s.Cache.MaxEntries = 5
	})
	if _, err := f.app.Reload(next); err != nil {
		t.Fatal(err)
	}
	close(release)
	r := <-inflight
	assertSection(t, r.page, "user", "ok", "")
	// The next page uses the new max_body (its failure may be hidden by a
	// stale value, but it is not ok).
	if r2 := f.page(t); r2.page.Meta.Sections["user"].Status == "ok" {
		t.Fatalf("page after the reload: user %+v, want max_body 100 to apply", r2.page.Meta.Sections["user"])
	}
}

// TestFailedReloadChangesNothing: a reload whose build fails leaves the
// running configuration, breaker state and cached values as they were.
func TestFailedReloadChangesNothing(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) {
		setService(c, "activity", func(s *config.Service) { s.Breaker.ConsecutiveFailures = 1 })
	})
	f.page(t) // values cached
	f.app.Breaker("user").SetForce(resilience.ForceOpen)
	before, catalogBreaker := f.app.Config(), f.app.Breaker("catalog")
	bad := f.app.Config()
	bad.Services = slices.Clone(bad.Services)
	setService(&bad, "catalog", func(s *config.Service) { s.Breaker.ConsecutiveFailures = 9 })
	setService(&bad, "activity", func(s *config.Service) { s.Cache.MaxEntries = 0 }) // the store cannot be built
	if _, err := f.app.Reload(bad); err == nil {
		t.Fatal("reload with max_entries 0 succeeded")
	}
	if got := f.app.Config(); !reflect.DeepEqual(got, before) {
		t.Fatal("the running config changed")
	}
	if f.app.Breaker("user").Forced() != resilience.ForceOpen {
		t.Fatal("the user breaker lost its forced state")
	}
	f.activity.Set(testutil.Status(500, ``))
	r := f.page(t)
	if r.page.Meta.Sections["activity"].Status != "stale" || r.page.Meta.Sections["user"].Status != "stale" {
		t.Fatalf("after the failed reload: %+v; want activity and user served stale", r.page.Meta.Sections)
	}
	if f.app.Breaker("catalog") != catalogBreaker {
		t.Fatal("the catalog breaker was replaced by the failed build's")
	}
}

// A reload refused after its services were built (here: the new key set
// cannot be fetched) leaves the registry as it was: the next good reload
// still finds the running cache, even though the refused one resized it.
func TestRejectedReloadKeepsCachedValues(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	f.page(t)
	bad := f.app.Config()
	for i := range bad.Services {
		bad.Services[i].Cache.MaxBytes = 1 << 20
	}
	bad.Auth.Mode, bad.Auth.JWKSURL = "jwt", "http://127.0.0.1:1/jwks"
	if _, err := f.app.Reload(bad); err == nil {
		t.Fatal("reload with an unreachable key set accepted")
	}
	good := f.app.Config()
	good.LogLevel = "debug"
	if _, err := f.app.Reload(good); err != nil {
		t.Fatal(err)
	}
	f.user.Set(testutil.Status(500, ``))
	assertStale(t, f.page(t), "user", "upstream_status")
}
