//go:build chaos

package chaos_test

import (
	"context"
	"testing"
	"time"

	"github.com/pagebff/pagebff/chaos"
)

// TestChaosRetries: the user service resets a share of its requests'
// connections (RST before any answer byte), the same load runs with retries
// off and on, and retries must cost fewer failed sections, within the
// budget.
//
// The reset is the fake's per-request fault rather than Toxiproxy's
// reset_peer, which picks connections: pagebff's pool already sends a GET
// once more on a fresh connection when a reused one is reset before any
// byte (as net/http's Transport does), so a per-connection reset on a
// pooled connection seldom reaches a section. Per request, a call fails
// only when the pool's resend is reset too (4% at a 20% rate), and a retry
// then gets another 80% chance.
func TestChaosRetries(t *testing.T) {
	ctx := context.Background()
	c, err := chaos.StartCluster(ctx, chaos.Config{
		Bin:      chaos.Binaries{BFF: *bffBin, Fakesvc: *fakesvcBin},
		FakeArgs: []string{"--min-latency", "5ms", "--max-latency", "10ms"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type outcome struct {
		failed, calls int
		retries       float64
	}
	drill := func(attempts string) outcome {
		t.Helper()
		// No cache, no hedges, no breaker: only retries can help.
		err := c.StartBFF(*bffBin, "BFF_DEFAULTS_RETRY_MAX_ATTEMPTS="+attempts,
			"BFF_SERVICES_USER_CACHE_ENABLED=false", "BFF_SERVICES_USER_HEDGE_ENABLED=false",
			"BFF_SERVICES_USER_BREAKER_CONSECUTIVE_FAILURES=1000", "BFF_SERVICES_USER_BREAKER_FAILURE_RATIO=0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.StopBFF()
		if err := c.Fakes["user"].SetFaults(ctx, `{"reset": {"rate": 0.2}}`); err != nil {
			t.Fatal(err)
		}
		defer c.Fakes["user"].ClearFaults(ctx)
		run := chaos.Load{Rate: 100, URL: c.PageURL(users), Decode: true}.Start()
		time.Sleep(5 * time.Second)
		res := run.Stop()
		var o outcome
		for _, r := range res {
			if r.Status != 200 {
				t.Errorf("retries %s: a page answered %d (%v)", attempts, r.Status, r.Err)
			}
			o.calls++
			if s := r.Sections["user"]; s.Status != "ok" {
				o.failed++
			}
		}
		m, err := c.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		o.retries = m.Sum("bff_retries_total", "service", "user")
		t.Logf("max_attempts %s: %d pages, %d user sections failed, %.0f retries sent", attempts, o.calls, o.failed, o.retries)
		return o
	}
	off := drill("1")
	on := drill("2")
	if off.failed == 0 {
		t.Fatal("the resets failed no section with retries off: the drill tests nothing")
	}
	if on.failed >= off.failed {
		t.Errorf("retries on: %d failed user sections, off: %d; want fewer with retries", on.failed, off.failed)
	}
	// The budget: 10% of the calls (plus 3 per window of about 10s).
	if limit := float64(on.calls)/10 + 3; on.retries > limit {
		t.Errorf("%.0f retries for %d calls, over the budget (%.0f)", on.retries, on.calls, limit)
	}
}
