package app_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/app"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/resilience"
	"github.com/pagebff/pagebff/internal/testutil"
)

// staleSection decodes a stale section.
func staleSection(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["stale"] != true || m["error"] == nil || m["error"] == "" {
		t.Fatalf("section %s: want the cached value with stale: true and an error", raw)
	}
	return m
}

func assertStale(t *testing.T, r reply, name, code string) map[string]any {
	t.Helper()
	m := r.page.Meta.Sections[name]
	if m.Status != "stale" || m.Source != "cache" || m.Code != code || m.AgeMS == nil || m.LatencyMS == nil {
		t.Fatalf("meta.sections.%s = %+v; want stale from cache with code %s and age_ms", name, m, code)
	}
	if !r.page.Meta.Degraded {
		t.Fatal("a stale section must make the page degraded")
	}
	return staleSection(t, r.page.Sections[name])
}

// A service fault after a good answer serves that answer, marked stale.
func TestStaleOnError(t *testing.T) {
	tests := []struct {
		name    string
		failure func(*testutil.Service)
		code    string
	}{
		{name: "500", failure: func(s *testutil.Service) { s.Set(testutil.Status(500, ``)) }, code: "upstream_status"},
		{name: "timeout", failure: func(s *testutil.Service) { s.Set(testutil.Hang()) }, code: "timeout"},
		{name: "malformed", failure: func(s *testutil.Service) { s.Set(testutil.JSON(`{`)) }, code: "bad_response"},
		{name: "connection dropped", failure: func(s *testutil.Service) { s.Set(testutil.Drop()) }, code: "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, handlers{}, nil)
			f.page(t)
			tt.failure(f.user)
			r := f.page(t)
			m := assertStale(t, r, "user", tt.code)
			if m["name"] != "Ada" {
				t.Fatalf("stale user section %v lost the cached fields", m)
			}
			if st, _ := f.app.Stats("user"); st.StaleServed != 1 {
				t.Fatalf("stale served = %d, want 1", st.StaleServed)
			}
		})
	}
}

// 4xx answers are never hidden: the data may truly be gone.
func TestNoStaleForClientErrors(t *testing.T) {
	for _, status := range []int{404, 400, 403} {
		f := newFixture(t, handlers{}, nil)
		f.page(t)
		f.user.Set(testutil.Status(status, `{}`))
		r := f.page(t)
		if m := r.page.Meta.Sections["user"]; m.Status != "error" {
			t.Fatalf("%d: user section %+v, want an error, not stale", status, m)
		}
	}
}

// The catalog is one entry for everyone: one user's good answer covers the
// next user's outage.
func TestStaleCatalogSharedAcrossUsers(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	f.get(t, "/v1/pages/home?user_id=abc")
	f.catalog.Set(testutil.Status(503, ``))
	r := f.get(t, "/v1/pages/home?user_id=xyz")
	assertStale(t, r, "catalog", "upstream_status")
	// The user section is per user: a user never seen has nothing cached,
	// and must not get another user's profile.
	f.user.Set(testutil.Status(503, ``))
	r = f.get(t, "/v1/pages/home?user_id=newcomer")
	if m := r.page.Meta.Sections["user"]; m.Status != "error" {
		t.Fatalf("newcomer's user section %+v, want an error: another profile must not leak", m)
	}
}

// An open breaker with a cached value answers at once, far inside 500ms.
func TestStaleWithOpenBreakerIsInstant(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) {
		setService(c, "user", func(s *config.Service) { s.Breaker.ConsecutiveFailures = 1 })
	})
	f.page(t)
	f.user.Set(testutil.Hang())
	assertStale(t, f.page(t), "user", "timeout")
	if f.app.Breaker("user").State() != resilience.StateOpen {
		t.Fatal("breaker not open after the timeout")
	}
	r := f.page(t)
	assertStale(t, r, "user", "circuit_open")
	if r.elapsed >= 100*time.Millisecond {
		t.Fatalf("stale page behind an open breaker took %v", r.elapsed)
	}
}

// At the page deadline a section still running is answered from its cache.
// With the service timeout equal to the page's, either deadline may be the
// one reported (the shared call runs on the service timeout alone); the page
// package's tests pin the page-deadline path itself.
func TestStaleAtPageDeadline(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) {
		c.Page.Timeout = 100 * time.Millisecond
		for i := range c.Services {
			c.Services[i].Downstream.Timeout = 100 * time.Millisecond
			c.Services[i].Hedge.Enabled = false
		}
	})
	f.page(t)
	ended := make(chan struct{})
	f.activity.Set(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hangs until pagebff gives up on the call
		close(ended)
	})
	r := f.page(t)
	m := assertStale(t, r, "activity", "timeout")
	if m["error"] != "activity: page deadline reached before the service answered" && m["error"] != "activity: timed out after 100ms" {
		t.Fatalf("stale activity error = %v", m["error"])
	}
	// Served once, counted once, even though the straggling call ends later.
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the hung call was never abandoned")
	}
	testutil.Eventually(t, "the straggler's outcome recorded", func() bool {
		st, _ := f.app.Stats("activity")
		return st.StaleServed >= 1
	})
	if st, _ := f.app.Stats("activity"); st.StaleServed != 1 {
		t.Fatalf("stale served %d, want 1", st.StaleServed)
	}
}

// Past stale_ttl a value is no longer served.
func TestStaleTTL(t *testing.T) {
	clk := newTestClock()
	advance := clk.Advance
	f := newFixture(t, handlers{}, func(c *config.Config) {
		setService(c, "user", func(s *config.Service) { s.Cache.StaleTTL = time.Minute })
	}, app.WithClock(clk.Now))
	f.page(t)
	f.user.Set(testutil.Status(500, ``))
	advance(time.Minute - time.Second)
	assertStale(t, f.page(t), "user", "upstream_status")
	advance(2 * time.Second)
	if m := f.page(t).page.Meta.Sections["user"]; m.Status != "error" {
		t.Fatalf("user section %+v, want an error past stale_ttl", m)
	}
}

func TestStaleDisabled(t *testing.T) {
	f := newFixture(t, handlers{}, func(c *config.Config) {
		setService(c, "user", func(s *config.Service) { s.Cache.Enabled = false })
	})
	f.page(t)
	f.user.Set(testutil.Status(500, ``))
	if m := f.page(t).page.Meta.Sections["user"]; m.Status != "error" {
		t.Fatalf("user section %+v with the cache off, want an error", m)
	}
}

// A 404 forgets the cached value: a deleted user must not come back as
// stale on the next outage.
func TestNotFoundForgetsCachedValue(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	f.page(t)
	f.user.Set(testutil.Status(404, `{}`))
	assertSection(t, f.page(t).page, "user", "error", "not_found")
	f.user.Set(testutil.Status(503, ``))
	if m := f.page(t).page.Meta.Sections["user"]; m.Status != "error" {
		t.Fatalf("user section %+v after 404 then 503, want an error, not the old profile", m)
	}
}
