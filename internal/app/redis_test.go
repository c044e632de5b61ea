package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/testutil"
)

// withRedis makes the fixture's pagebff use the shared tier at url.
func withRedis(url string, more func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.CacheBackend = "redis"
		c.Redis.URL = url
		c.Redis.Timeout = 150 * time.Millisecond // a busy test machine; the promise is that it bounds
		if more != nil {
			more(c)
		}
	}
}

func failing() handlers {
	return handlers{user: testutil.Status(503, ``), catalog: testutil.Status(503, ``), activity: testutil.Status(503, ``)}
}

// A value stored by one pagebff is served stale by a second one that
// never reached the service, with the age counted from the first store.
func TestRedisSharedStale(t *testing.T) {
	rs := testutil.StartRedis(t)
	a := newFixture(t, handlers{}, withRedis(rs.URL(), nil))
	a.page(t)
	cold := newFixture(t, failing(), withRedis(rs.URL(), nil))
	var r reply
	eventually(t, "the second instance serving the first one's values", func() bool {
		r = cold.page(t)
		return r.page.Meta.Sections["user"].Status == "stale" && r.page.Meta.Sections["catalog"].Status == "stale"
	})
	assertStale(t, r, "user", "upstream_status")
	var user map[string]any
	json.Unmarshal(r.page.Sections["user"], &user)
	if user["name"] != "Ada" {
		t.Fatalf("stale user %v, want the first instance's", user)
	}
	if cold.user.Hits() == 0 {
		t.Fatal("the second instance did not even try the service")
	}
	// At least once: a try that timed out on Redis and served the user
	// section stale at the next one is counted too.
	labels := map[string]string{"service": "user", "tier": "redis", "result": "stale_served"}
	if n, _ := value(scrape(t, cold), "bff_cache_lookups_total", labels); n < 1 {
		t.Errorf("bff_cache_lookups_total%v = %v, want the stale value served from Redis counted", labels, n)
	}
}

// Fresh values are shared: the second instance answers the catalog from
// Redis without calling it.
func TestRedisFreshHitMakesNoCall(t *testing.T) {
	rs := testutil.StartRedis(t)
	fresh := func(c *config.Config) {
		noHedging(c) // the calls are counted: a slow one must not be hedged
		setService(c, "catalog", func(s *config.Service) { s.Cache.FreshTTL = time.Minute })
	}
	a := newFixture(t, handlers{}, withRedis(rs.URL(), fresh))
	a.page(t)
	b := newFixture(t, handlers{}, withRedis(rs.URL(), fresh))
	eventually(t, "a fresh hit from Redis", func() bool {
		return b.page(t).page.Meta.Sections["catalog"].Source == "cache"
	})
	hits := b.catalog.Hits()
	for range 3 {
		if m := b.page(t).page.Meta.Sections["catalog"]; m.Source != "cache" || m.AgeMS == nil {
			t.Fatalf("catalog %+v, want a fresh hit with age_ms", m)
		}
	}
	if b.catalog.Hits() != hits || a.catalog.Hits() != 1 {
		t.Fatalf("catalog calls: first instance %d, second %d -> %d; want 1, and none for fresh hits",
			a.catalog.Hits(), hits, b.catalog.Hits())
	}
}

// no-store is never stored, in Redis either.
func TestRedisNoStore(t *testing.T) {
	rs := testutil.StartRedis(t)
	a := newFixture(t, handlers{activity: withCacheControl("no-store", activityBody)}, withRedis(rs.URL(), nil))
	a.page(t)
	b := newFixture(t, failing(), withRedis(rs.URL(), nil))
	eventually(t, "the shared user value", func() bool { return b.page(t).page.Meta.Sections["user"].Status == "stale" })
	assertSection(t, b.page(t).page, "activity", "error", "upstream_status")
}

// Redis down from the start fails nothing: pages are served with the
// memory tier, the errors are counted, and the admin view says so
// without the password.
func TestRedisDownAtStart(t *testing.T) {
	rs := testutil.StartRedis(t)
	rs.Kill()
	f := newFixture(t, handlers{}, withRedis("redis://:hunter2pw@"+rs.Addr(), func(c *config.Config) {
		c.Server.AdminAddr = "127.0.0.1:9090"
	}))
	for range 5 {
		if r := f.page(t); r.resp.StatusCode != 200 || r.page.Meta.Degraded {
			t.Fatalf("page with Redis down: %d degraded=%v", r.resp.StatusCode, r.page.Meta.Degraded)
		}
	}
	f.user.Set(testutil.Status(503, ``))
	assertStale(t, f.page(t), "user", "upstream_status") // from memory
	view := f.adminDo(t, http.MethodGet, "/admin/breakers")
	var v struct {
		Redis struct {
			State, Addr string
			Dropped     int64
		}
	}
	if err := json.Unmarshal(view.body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Redis.Addr != rs.Addr() || v.Redis.State == "" {
		t.Fatalf("admin redis view %+v", v.Redis)
	}
	if strings.Contains(string(view.body), "hunter2pw") || strings.Contains(f.logs.String(), "hunter2pw") {
		t.Fatal("the Redis password appears in the admin view or the log")
	}
}
