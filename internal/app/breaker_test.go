package app_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/resilience"
	"github.com/pagebff/pagebff/internal/testutil"
)

func breakerFixture(t *testing.T, h http.HandlerFunc, change func(*resilience.BreakerConfig)) *fixture {
	t.Helper()
	return newFixture(t, handlers{user: h}, func(c *config.Config) {
		setService(c, "user", func(s *config.Service) { change(&s.Breaker) })
	})
}

// The breaker opens after the configured consecutive failures, then answers
// circuit_open at once even while the service hangs, and closes again after
// open_timeout once the service is healthy.
func TestBreakerOpensAndRecovers(t *testing.T) {
	f := breakerFixture(t, testutil.Status(500, ``), func(b *resilience.BreakerConfig) {
		b.ConsecutiveFailures = 3
		b.OpenTimeout = time.Second
	})
	br := f.app.Breaker("user")
	for i := range 3 {
		r := f.page(t)
		assertSection(t, r.page, "user", "error", "upstream_status")
		if i < 2 && br.State() != resilience.StateClosed {
			t.Fatalf("breaker %s after %d failures, want closed until 3", br.State(), i+1)
		}
	}
	if br.State() != resilience.StateOpen {
		t.Fatalf("breaker %s after 3 failures, want open", br.State())
	}

	f.user.Set(testutil.Hang())
	hits := f.user.Hits()
	r := f.page(t)
	assertSection(t, r.page, "user", "error", "circuit_open")
	if msg := r.page.sectionError("user"); msg != "user: circuit breaker open" {
		t.Errorf("user error = %q", msg)
	}
	// A call to the hanging service would take its 300ms timeout; the
	// bound is wide for a busy machine and still tells the two apart.
	if r.elapsed >= 250*time.Millisecond {
		t.Errorf("page with an open breaker took %v, want under the 300ms a call would wait", r.elapsed)
	}
	if f.user.Hits() != hits {
		t.Errorf("an open breaker let a call through to the service")
	}
	assertSection(t, r.page, "catalog", "ok", "")

	f.user.Set(testutil.JSON(userBody))
	eventually(t, "half-open after open_timeout", func() bool { return br.State() == resilience.StateHalfOpen })
	r = f.page(t)
	assertSection(t, r.page, "user", "ok", "")
	if br.State() != resilience.StateClosed {
		t.Fatalf("breaker %s after a good probe, want closed", br.State())
	}
	if lines := f.logs.lines(t, "breaker state change"); len(lines) != 3 {
		t.Errorf("logged %d breaker transitions, want 3 (closed→open→half-open→closed)", len(lines))
	}
}

// A failed probe sends a half-open breaker straight back to open.
func TestBreakerFailedProbeReopens(t *testing.T) {
	f := breakerFixture(t, testutil.Status(502, ``), func(b *resilience.BreakerConfig) {
		b.ConsecutiveFailures = 1
		b.OpenTimeout = 500 * time.Millisecond
	})
	br := f.app.Breaker("user")
	f.page(t)
	if br.State() != resilience.StateOpen {
		t.Fatalf("breaker %s, want open", br.State())
	}
	eventually(t, "half-open", func() bool { return br.State() == resilience.StateHalfOpen })
	r := f.page(t)
	assertSection(t, r.page, "user", "error", "upstream_status")
	if br.State() != resilience.StateOpen {
		t.Fatalf("breaker %s after a failed probe, want open", br.State())
	}
}

// The failure-ratio rule trips once the window has min_requests.
func TestBreakerFailureRatio(t *testing.T) {
	var n atomic.Int64
	alternate := func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			testutil.Status(500, ``)(w, r)
			return
		}
		testutil.JSON(userBody)(w, r)
	}
	f := breakerFixture(t, alternate, func(b *resilience.BreakerConfig) {
		b.ConsecutiveFailures = 0 // rule off: only the ratio may trip it
		b.FailureRatio = 0.5
		b.MinRequests = 6
	})
	br := f.app.Breaker("user")
	for i := range 5 {
		f.page(t)
		if br.State() != resilience.StateClosed {
			t.Fatalf("breaker opened after %d requests, want closed below min_requests 6", i+1)
		}
	}
	f.page(t) // 6th: 3 failures of 6
	if br.State() != resilience.StateOpen {
		t.Fatalf("breaker %s at 3/6 failures, want open", br.State())
	}
}

// 4xx answers are the request's fault, not the service's, and an
// unfollowed redirect is nobody's: they never open the breaker.
func TestBreakerIgnoresNotFound(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   string
	}{
		{name: "404", status: 404, code: "not_found"},
		{name: "400", status: 400, code: "upstream_status"},
		{name: "410", status: 410, code: "upstream_status"},
		{name: "302", status: 302, code: "upstream_status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := breakerFixture(t, testutil.Status(tt.status, `{}`), func(b *resilience.BreakerConfig) {
				b.ConsecutiveFailures = 2
				b.MinRequests = 2
			})
			for range 10 {
				r := f.page(t)
				assertSection(t, r.page, "user", "error", tt.code)
			}
			br := f.app.Breaker("user")
			if br.State() != resilience.StateClosed || br.Counts().Failures != 0 {
				t.Fatalf("after ten %ds: breaker %s, counts %+v; want closed with no failures", tt.status, br.State(), br.Counts())
			}
		})
	}
}

// TestBreakerTripsOn429: 429 is overload, the service's fault, so it counts
// against the breaker like a 5xx (it used to be excluded with the other 4xx).
func TestBreakerTripsOn429(t *testing.T) {
	f := breakerFixture(t, testutil.Status(429, `{}`), func(b *resilience.BreakerConfig) {
		b.ConsecutiveFailures = 2
	})
	for range 2 {
		assertSection(t, f.page(t).page, "user", "error", "upstream_status")
	}
	if br := f.app.Breaker("user"); br.State() != resilience.StateOpen {
		t.Fatalf("breaker %s after two 429s, want open", br.State())
	}
	assertSection(t, f.page(t).page, "user", "error", "circuit_open")
}

// Timeouts are failures: a hanging service opens the breaker, after which
// pages stop waiting for it.
func TestBreakerTripsOnTimeouts(t *testing.T) {
	f := breakerFixture(t, testutil.Hang(), func(b *resilience.BreakerConfig) { b.ConsecutiveFailures = 2 })
	for range 2 {
		assertSection(t, f.page(t).page, "user", "error", "timeout")
	}
	r := f.page(t)
	assertSection(t, r.page, "user", "error", "circuit_open")
	if r.elapsed >= 250*time.Millisecond { // a call would wait out the 300ms timeout
		t.Errorf("page took %v with the breaker open, want under the 300ms a call would wait", r.elapsed)
	}
}

// While the half-open probe is in flight, other calls are refused at once.
func TestBreakerHalfOpenAdmitsOnlyTheProbe(t *testing.T) {
	f := newFixture(t, handlers{user: testutil.Status(500, ``)}, func(c *config.Config) {
		setService(c, "user", func(s *config.Service) {
			s.Breaker.ConsecutiveFailures = 1
			s.Breaker.OpenTimeout = 500 * time.Millisecond
			s.Hedge.Enabled = false
			s.Cache.Enabled = false
		})
		// The probe is held until the other page has been refused: it must
		// not time out first on a loaded machine.
		c.Page.Timeout = 5 * time.Second
		setService(c, "user", func(s *config.Service) { s.Downstream.Timeout = 4 * time.Second })
	})
	br := f.app.Breaker("user")
	f.page(t)
	if br.State() != resilience.StateOpen {
		t.Fatalf("breaker %s, want open", br.State())
	}
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	f.user.Set(func(w http.ResponseWriter, r *http.Request) {
		testutil.Signal(arrived)
		held(release, `{"id":"prober","name":"Pat"}`)(w, r)
	})
	eventually(t, "half-open", func() bool { return br.State() == resilience.StateHalfOpen })

	probe := make(chan error, 1)
	go func() {
		r, err := f.try(context.Background(), http.MethodGet, "/v1/pages/home?user_id=prober")
		if err == nil && r.page.Meta.Sections["user"].Status != "ok" {
			err = fmt.Errorf("probe page: user %+v", r.page.Meta.Sections["user"])
		}
		probe <- err
	}()
	<-arrived
	// Another user, so the call is not coalesced with the probe.
	r := f.get(t, "/v1/pages/home?user_id=other")
	assertSection(t, r.page, "user", "error", "circuit_open")
	close(release)
	if err := <-probe; err != nil {
		t.Fatal(err)
	}
	if br.State() != resilience.StateClosed {
		t.Fatalf("breaker %s after the probe succeeded, want closed", br.State())
	}
}
