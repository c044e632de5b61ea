package app_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/app"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/testutil"
)

// withCacheControl answers body with a Cache-Control header.
func withCacheControl(cc, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", cc)
		w.Write([]byte(body))
	}
}

// With fresh_ttl the catalog is asked once; the pages in between say
// source cache with the value's age, and make no downstream request.
func TestFreshHitsMakeNoCall(t *testing.T) {
	clk := newTestClock()
	f := newFixture(t, handlers{}, func(c *config.Config) {
		noHedging(c) // the calls are counted: a slow one must not be hedged
		setService(c, "catalog", func(s *config.Service) { s.Cache.FreshTTL = time.Second; s.Cache.Revalidate = 0 })
	}, app.WithClock(clk.Now))
	first := f.page(t)
	assertSection(t, first.page, "catalog", "ok", "")
	for range 5 {
		clk.Advance(100 * time.Millisecond)
		r := f.page(t)
		m := r.page.Meta.Sections["catalog"]
		if m.Status != "ok" || m.Source != "cache" || m.AgeMS == nil {
			t.Fatalf("catalog meta %+v, want ok from the cache with age_ms", m)
		}
		assertJSONEqual(t, "catalog section", r.page.Sections["catalog"], catalogBody)
		if r.page.Meta.Degraded {
			t.Fatal("a fresh hit made the page degraded")
		}
	}
	if m := f.page(t).page.Meta.Sections["catalog"]; *m.AgeMS != 500 {
		t.Fatalf("age_ms %d, want 500", *m.AgeMS)
	}
	if n := f.catalog.Hits(); n != 1 {
		t.Fatalf("catalog asked %d times, want once", n)
	}
	if n := f.user.Hits(); n != 7 {
		t.Fatalf("user asked %d times, want every page (7): fresh_ttl is per service", n)
	}
	clk.Advance(time.Second)
	if m := f.page(t).page.Meta.Sections["catalog"]; m.Source != "live" || f.catalog.Hits() != 2 {
		t.Fatalf("past fresh_ttl: %+v after %d calls, want live", m, f.catalog.Hits())
	}
	if st, _ := f.app.Stats("catalog"); st.FreshHits != 6 {
		t.Fatalf("fresh hits %d, want 6", st.FreshHits)
	}
}

// The service's max-age beats fresh_ttl 0; no-store is never stored, not
// even for stale-on-error.
func TestCacheControlHonoured(t *testing.T) {
	f := newFixture(t, handlers{
		catalog:  withCacheControl("max-age=60", catalogBody),
		activity: withCacheControl("no-store", activityBody),
	}, noHedging) // the calls are counted
	f.page(t)
	r := f.page(t)
	if m := r.page.Meta.Sections["catalog"]; m.Source != "cache" {
		t.Fatalf("catalog with max-age=60: %+v, want a fresh hit", m)
	}
	if m := r.page.Meta.Sections["activity"]; m.Source != "live" {
		t.Fatalf("activity with no-store: %+v, want live", m)
	}
	f.activity.Set(testutil.Status(500, ``)) // not retried: the calls below count one each
	assertSection(t, f.page(t).page, "activity", "error", "upstream_status")
	if f.catalog.Hits() != 1 || f.activity.Hits() != 3 {
		t.Fatalf("calls: catalog %d activity %d, want 1 and 3", f.catalog.Hits(), f.activity.Hits())
	}
}

// Past max-age, within stale-while-revalidate: the page gets the value at
// once and one background refresh, with its own request id, replaces it.
func TestRevalidationThroughHTTP(t *testing.T) {
	clk := newTestClock()
	var mu sync.Mutex
	version := `{"items":[{"id":"v1"}]}`
	f := newFixture(t, handlers{catalog: func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body := version
		mu.Unlock()
		withCacheControl("max-age=1, stale-while-revalidate=30", body)(w, r)
	}}, noHedging, app.WithClock(clk.Now)) // the calls are counted
	first := f.page(t)
	clk.Advance(2 * time.Second)
	mu.Lock()
	version = `{"items":[{"id":"v2"}]}`
	mu.Unlock()
	r := f.page(t)
	if m := r.page.Meta.Sections["catalog"]; m.Source != "cache" || *m.AgeMS != 2000 {
		t.Fatalf("in the revalidation window: %+v", m)
	}
	assertJSONEqual(t, "served at once", r.page.Sections["catalog"], `{"items":[{"id":"v1"}]}`)
	eventually(t, "the background refresh", func() bool { return f.catalog.Hits() == 2 })
	eventually(t, "the refreshed value", func() bool {
		var p struct{ Catalog json.RawMessage }
		json.Unmarshal(f.page(t).body, &p)
		return string(p.Catalog) == `{"items":[{"id":"v2"}]}`
	})
	reqs := f.catalog.Requests()
	refreshID := reqs[1].Header.Get("X-Request-Id")
	if refreshID == "" || refreshID == first.page.Meta.RequestID || refreshID == r.page.Meta.RequestID {
		t.Fatalf("refresh X-Request-Id %q, want its own (pages %q, %q)", refreshID, first.page.Meta.RequestID, r.page.Meta.RequestID)
	}
	if f.catalog.Hits() != 2 {
		t.Fatalf("%d catalog calls, want 2", f.catalog.Hits())
	}
}

// A background refresh outlives its page but not the app: Close cancels
// it and waits (the package's goleak check sees nothing left).
func TestCloseStopsRefresh(t *testing.T) {
	clk := newTestClock()
	hang := make(chan struct{})
	calls := 0
	var mu sync.Mutex
	f := newFixture(t, handlers{catalog: func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n > 1 {
			close(hang)
			<-r.Context().Done()
			return
		}
		withCacheControl("max-age=1, stale-while-revalidate=30", catalogBody)(w, r)
	}}, func(c *config.Config) {
		setService(c, "catalog", func(s *config.Service) { s.Downstream.Timeout = 300 * time.Millisecond })
	}, app.WithClock(clk.Now))
	f.page(t)
	clk.Advance(2 * time.Second)
	f.page(t)
	<-hang
	done := make(chan struct{})
	go func() { f.app.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a refresh hung")
	}
}

// The admin view shows what the cache holds.
func TestAdminShowsCacheUsage(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) { c.Server.AdminAddr = "127.0.0.1:9090" })
	f.page(t)
	var v struct {
		Services map[string]struct {
			Cache struct {
				Entries  int    `json:"entries"`
				Bytes    int64  `json:"bytes"`
				MaxBytes int64  `json:"max_bytes"`
				FreshTTL string `json:"fresh_ttl"`
			} `json:"cache"`
		} `json:"services"`
	}
	r := f.adminDo(t, http.MethodGet, "/admin/breakers")
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	c := v.Services["catalog"].Cache
	if c.Entries != 1 || c.Bytes < int64(len(catalogBody)) || c.MaxBytes != 64<<20 || c.FreshTTL != "0s" {
		t.Fatalf("catalog cache view %+v", c)
	}
}
