//go:build chaos

package chaos_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pagebff/pagebff/chaos"
	"github.com/pagebff/pagebff/internal/testutil"
)

// The Redis drill's settings: every value is fresh for a second and then
// looked up in Redis before the live call (no revalidation), so Redis is
// on the page's path for most pages and its faults would show in them.
const (
	redisTimeout = 20 * time.Millisecond // cache.redis_timeout, the default
	redisRate    = 100                   // pages per second
	redisUsers   = 200
	// A page may take at most this much longer than the healthy p99 while
	// Redis misbehaves: the promise (redis_timeout) plus room for a busy
	// 2-core machine.
	redisSlack = redisTimeout + 40*time.Millisecond
)

// phaseStats is what one phase's pages saw.
type phaseStats struct {
	name          string
	pages, failed int
	p50, p99, max time.Duration
	sectionsNotOK int
	sectionsStale int
	statusCounts  map[int]int
}

func summarize(name string, results []chaos.Result) phaseStats {
	st := phaseStats{name: name, pages: len(results), statusCounts: map[int]int{}}
	for _, r := range results {
		st.statusCounts[r.Status]++
		if r.Status != 200 || r.Err != nil {
			st.failed++
		}
		for _, s := range r.Sections {
			switch s.Status {
			case "ok":
			case "stale":
				st.sectionsStale++
			default:
				st.sectionsNotOK++
			}
		}
	}
	lat := chaos.Latencies(results)
	st.p50, st.p99, st.max = chaos.Percentile(lat, 0.5), chaos.Percentile(lat, 0.99), chaos.Percentile(lat, 1)
	return st
}

func (st phaseStats) String() string {
	return fmt.Sprintf("%-26s pages %4d  statuses %v  failed %d  p50 %s  p99 %s  max %s  sections stale %d, error %d",
		st.name, st.pages, st.statusCounts, st.failed, ms(st.p50), ms(st.p99), ms(st.max), st.sectionsStale, st.sectionsNotOK)
}

// TestChaosRedis drills the shared cache tier under load: Redis paused
// (SIGSTOP) then killed, restarted, and slow behind a Toxiproxy latency
// toxic; and a cold instance serving values it never fetched, from Redis.
func TestChaosRedis(t *testing.T) {
	if *toxiproxyBin == "" {
		t.Fatal("no -toxiproxy binary: run with make chaos")
	}
	rs := testutil.StartRedis(t)
	ctx := context.Background()
	c, err := chaos.StartCluster(ctx, chaos.Config{
		Bin:       chaos.Binaries{BFF: *bffBin, Fakesvc: *fakesvcBin, Toxiproxy: *toxiproxyBin},
		Toxiproxy: true,
		FakeArgs:  []string{"--min-latency", "5ms", "--max-latency", "10ms"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	proxy, err := c.Toxi.CreateProxy(ctx, "redis", "127.0.0.1:0", rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"BFF_CACHE_BACKEND=redis",
		"BFF_CACHE_REDIS_URL=redis://" + proxy.Listen + "/0",
		"BFF_CACHE_REDIS_TIMEOUT=" + redisTimeout.String(),
		"BFF_DEFAULTS_CACHE_FRESH_TTL=1s",
		"BFF_DEFAULTS_CACHE_REVALIDATE=0s",
	}
	if err := c.StartBFF(*bffBin, env...); err != nil {
		t.Fatal(err)
	}
	redisState := func() float64 {
		m, err := c.Metrics(ctx)
		if err != nil {
			return -1
		}
		v, _ := m.Find("bff_redis_breaker_state")
		return v
	}
	load := func(name string, d time.Duration, during func()) phaseStats {
		run := chaos.Load{Rate: redisRate, URL: c.PageURL(redisUsers), Decode: true}.Start()
		if during != nil {
			during()
		} else {
			time.Sleep(d)
		}
		st := summarize(name, run.Stop())
		t.Log(st)
		return st
	}
	noFailure := func(st phaseStats) {
		t.Helper()
		if st.failed > 0 || st.sectionsNotOK > 0 {
			t.Errorf("%s: %d failed pages, %d sections in error; want none", st.name, st.failed, st.sectionsNotOK)
		}
	}

	load("warm-up", 2*time.Second, nil)
	base := load("baseline", 4*time.Second, nil)
	noFailure(base)
	bound := base.p99 + redisSlack

	// Paused: every command times out; the breaker opens and pages go on
	// with the memory tier. Then killed: connections refused.
	opened := false
	paused := load("redis paused, killed", 0, func() {
		rs.Pause()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if redisState() == 2 {
				opened = true
			}
			time.Sleep(100 * time.Millisecond)
		}
		rs.Kill()
		time.Sleep(2 * time.Second)
		opened = opened || redisState() == 2
	})
	noFailure(paused)
	if paused.max > bound {
		t.Errorf("redis paused: slowest page %v, want at most the healthy p99 (%v) + %v", paused.max, base.p99, redisSlack)
	}
	if !opened {
		t.Error("redis paused: the Redis breaker never opened")
	}

	// Back: the breaker closes and values are shared again.
	back := load("redis restarted", 0, func() {
		rs.Restart()
		deadline := time.Now().Add(8 * time.Second)
		for redisState() != 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Second)
	})
	noFailure(back)
	if s := redisState(); s != 0 {
		t.Errorf("redis restarted: breaker state %v, want 0 (closed)", s)
	}
	keys := dbsize(t, rs)
	t.Logf("keys in Redis after the restart: %d", keys)
	if keys == 0 {
		t.Error("redis restarted: nothing written again")
	}

	// Slow: every Redis answer 100ms late, five times redis_timeout.
	slow := load("redis slow (+100ms)", 0, func() {
		if err := c.Toxi.AddToxic(ctx, "redis", chaos.Toxic{Name: "slow", Type: "latency", Attributes: map[string]int{"latency": 100}}); err != nil {
			t.Error(err)
		}
		time.Sleep(4 * time.Second)
		if err := c.Toxi.RemoveToxic(ctx, "redis", "slow"); err != nil {
			t.Error(err)
		}
	})
	noFailure(slow)
	if slow.max > bound {
		t.Errorf("redis slow: slowest page %v, want at most the healthy p99 (%v) + %v", slow.max, base.p99, redisSlack)
	}

	// Shared: the user service goes down, and a fourth... a second,
	// cold instance starts: it serves user sections it never fetched.
	time.Sleep(3 * time.Second) // the breaker's probe after the slow phase
	load("re-warm", 2*time.Second, nil)
	if err := c.Toxi.SetEnabled(ctx, "user", false); err != nil {
		t.Fatal(err)
	}
	cold, err := c.LaunchBFF("bff-cold", []string{*bffBin}, env...)
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Proc.Stop(15 * time.Second)
	url := cold.URL + "/v1/pages/home?user_id=u"
	run := chaos.Load{Rate: redisRate, URL: func(i int) string { return url + fmt.Sprint(i%redisUsers) }, Decode: true}.Start()
	time.Sleep(3 * time.Second)
	results := run.Stop()
	st := summarize("cold instance, user down", results)
	t.Log(st)
	staleUser := 0
	for _, r := range results {
		if r.Sections["user"].Status == "stale" {
			staleUser++
		}
	}
	t.Logf("cold instance: %d of %d pages had a stale user section it never fetched", staleUser, len(results))
	if st.failed > 0 {
		t.Errorf("cold instance: %d failed pages", st.failed)
	}
	if staleUser < len(results)*9/10 {
		t.Errorf("cold instance: only %d of %d pages served the user section from Redis", staleUser, len(results))
	}
	if err := c.Toxi.SetEnabled(ctx, "user", true); err != nil {
		t.Fatal(err)
	}
}

// dbsize counts the keys in rs with redis-cli (from the same package as
// the server).
func dbsize(t *testing.T, rs *testutil.RedisServer) int {
	host, port, _ := strings.Cut(rs.Addr(), ":")
	out, err := exec.Command("redis-cli", "-h", host, "-p", port, "dbsize").Output()
	if err != nil {
		t.Fatalf("redis-cli dbsize: %v", err)
	}
	var n int
	fmt.Sscan(strings.TrimSpace(string(out)), &n)
	return n
}
