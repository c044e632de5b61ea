package app_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/resilience"
	"github.com/pagebff/pagebff/internal/testutil"
)

// firstSlow hangs on its first request (until cancelled, which it records)
// and answers every later one at once.
type firstSlow struct {
	n         atomic.Int64
	cancelled atomic.Int64
	body      string
}

func (f *firstSlow) handle(w http.ResponseWriter, r *http.Request) {
	if f.n.Add(1) == 1 {
		<-r.Context().Done()
		f.cancelled.Add(1)
		return
	}
	testutil.JSON(f.body)(w, r)
}

// hedgeOn hedges the user service after delay, and no other: a slow call
// to another service on a loaded machine would add a hedge of its own to
// the requests and spans these tests count.
func hedgeOn(delay time.Duration) func(*config.Config) {
	return func(c *config.Config) {
		noHedging(c)
		setService(c, "user", func(s *config.Service) {
			s.Hedge = resilience.HedgeConfig{Enabled: true, Delay: delay}
		})
	}
}

// A slow first attempt is hedged: the identical second request wins, the
// first is cancelled, the breaker sees one success, and meta says "hedge".
func TestHedgeWins(t *testing.T) {
	fs := &firstSlow{body: userBody}
	f := newFixture(t, handlers{user: fs.handle}, hedgeOn(30*time.Millisecond))
	r := f.page(t)

	assertSection(t, r.page, "user", "ok", "")
	if src := r.page.Meta.Sections["user"].Source; src != "hedge" {
		t.Fatalf("user source = %q, want hedge", src)
	}
	assertJSONEqual(t, "user", r.page.Sections["user"], userBody)
	if r.elapsed >= 250*time.Millisecond {
		t.Errorf("hedged page took %v; the hedge should answer soon after 30ms", r.elapsed)
	}
	reqs := f.user.Requests()
	if len(reqs) != 2 || reqs[0].Path != reqs[1].Path || reqs[0].Header.Get("X-Request-Id") != reqs[1].Header.Get("X-Request-Id") {
		t.Fatalf("user service saw %+v; want two identical requests with one X-Request-Id", reqs)
	}
	eventually(t, "the losing attempt cancelled", func() bool { return fs.cancelled.Load() == 1 })
	if c := f.app.Breaker("user").Counts(); c.Successes != 1 || c.Failures != 0 {
		t.Fatalf("breaker counts %+v; the cancelled loser must not count", c)
	}
	if st, _ := f.app.Stats("user"); st.HedgesSent != 1 || st.HedgesWon != 1 {
		t.Fatalf("stats %+v, want one hedge sent and won", st)
	}
}

func TestHedgeDisabled(t *testing.T) {
	f := newFixture(t, handlers{user: testutil.Slow(100*time.Millisecond, testutil.JSON(userBody))}, func(c *config.Config) {
		setService(c, "user", func(s *config.Service) { s.Hedge.Enabled = false })
	})
	r := f.page(t)
	if src := r.page.Meta.Sections["user"].Source; src != "live" || f.user.Hits() != 1 {
		t.Fatalf("source %q with %d requests; want live and one request", src, f.user.Hits())
	}
}

// When every call is slow, the budget caps hedges at budget.percent of the
// requests (plus a small allowance): hedging does not double the load.
func TestHedgeBudgetCapsExtraLoad(t *testing.T) {
	f := newFixture(t, handlers{user: testutil.Slow(30*time.Millisecond, testutil.JSON(userBody))}, hedgeOn(5*time.Millisecond))
	const pages = 60
	for range pages {
		f.page(t)
	}
	st, _ := f.app.Stats("user")
	maxHedges := int64(max(resilience.BudgetMinimum, pages/10))
	if st.HedgesSent == 0 || st.HedgesSent > maxHedges {
		t.Fatalf("%d hedges for %d slow pages, want 1..%d", st.HedgesSent, pages, maxHedges)
	}
	// A hedge cancelled before it reached the service is never seen there.
	if hits := int64(f.user.Hits()); hits < pages || hits > pages+st.HedgesSent {
		t.Fatalf("user service saw %d requests, want %d pages plus at most %d hedges", hits, pages, st.HedgesSent)
	}
}

// No hedge while the breaker is half-open: the probe goes alone.
func TestNoHedgeWhileHalfOpen(t *testing.T) {
	f := newFixture(t, handlers{user: testutil.Status(500, ``)}, func(c *config.Config) {
		hedgeOn(5 * time.Millisecond)(c)
		setService(c, "user", func(s *config.Service) {
			s.Breaker.ConsecutiveFailures = 1
			s.Breaker.OpenTimeout = 500 * time.Millisecond
			s.Cache.Enabled = false
		})
	})
	br := f.app.Breaker("user")
	f.page(t)
	if br.State() != resilience.StateOpen {
		t.Fatalf("breaker %s, want open", br.State())
	}
	f.user.Set(testutil.Slow(60*time.Millisecond, testutil.JSON(userBody)))
	eventually(t, "half-open", func() bool { return br.State() == resilience.StateHalfOpen })
	before := f.user.Hits()
	// The first page may have hedged its 500 legitimately before the breaker
	// opened: count from here.
	sentBefore, _ := f.app.Stats("user")
	r := f.page(t)
	assertSection(t, r.page, "user", "ok", "")
	if got := f.user.Hits() - before; got != 1 {
		t.Fatalf("half-open probe sent %d requests, want 1 (no hedge)", got)
	}
	if st, _ := f.app.Stats("user"); st.HedgesSent != sentBefore.HedgesSent {
		t.Fatalf("hedges sent while half-open: %d, want 0", st.HedgesSent-sentBefore.HedgesSent)
	}
}
