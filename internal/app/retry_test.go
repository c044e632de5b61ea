package app_test

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/testutil"
)

// firstThen answers the first n requests with first, the rest with then.
func firstThen(n int64, first, then http.HandlerFunc) http.HandlerFunc {
	var seen atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			first(w, r)
			return
		}
		then(w, r)
	}
}

// reset closes the connection with an RST before any answer byte.
func reset(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

func status503(retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

// noHedge keeps the request counts of these tests exact.
func noHedge(more func(s *config.Service)) func(*config.Config) {
	return func(c *config.Config) {
		setService(c, "user", func(s *config.Service) {
			s.Hedge.Enabled = false
			if more != nil {
				more(s)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		status   string // of the user section
		code     string
		hits     int   // requests the user service saw
		attempts int64 // meta attempts; 0 = absent
	}{
		{name: "connection reset before any byte", handler: firstThen(1, reset, testutil.JSON(userBody)),
			status: "ok", hits: 2, attempts: 2},
		{name: "503 once with Retry-After: 0", handler: firstThen(1, status503("0"), testutil.JSON(userBody)),
			status: "ok", hits: 2, attempts: 2},
		{name: "502 once", handler: firstThen(1, testutil.Status(502, ``), testutil.JSON(userBody)),
			status: "ok", hits: 2, attempts: 2},
		{name: "503 with Retry-After: 5 does not fit", handler: firstThen(1, status503("5"), testutil.JSON(userBody)),
			status: "error", code: "upstream_status", hits: 1},
		{name: "500 is not retried", handler: testutil.Status(500, ``), status: "error", code: "upstream_status", hits: 1},
		{name: "404 is not retried", handler: testutil.Status(404, `{}`), status: "error", code: "not_found", hits: 1},
		{name: "a timeout is not retried", handler: testutil.Hang(), status: "error", code: "timeout", hits: 1},
		{name: "bad response is not retried", handler: testutil.JSON(`{"id":`), status: "error", code: "bad_response", hits: 1},
		{name: "503 twice: max_attempts 2", handler: status503(""), status: "error", code: "upstream_status", hits: 2, attempts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, handlers{user: tt.handler}, noHedge(func(s *config.Service) {
				s.Cache.Enabled = false
				s.Downstream.Timeout = 200 * time.Millisecond
			}))
			r := f.page(t)
			m := r.page.Meta.Sections["user"]
			if m.Status != tt.status || m.Code != tt.code {
				t.Fatalf("user section %+v, want %s %s", m, tt.status, tt.code)
			}
			if n := f.user.Hits(); n != tt.hits {
				t.Fatalf("user service saw %d requests, want %d", n, tt.hits)
			}
			var got int64
			if m.Attempts != nil {
				got = *m.Attempts
			}
			if got != tt.attempts {
				t.Fatalf("attempts %d, want %d (0: absent)", got, tt.attempts)
			}
			if tt.attempts > 1 && tt.status == "ok" {
				st, _ := f.app.Stats("user")
				if st.RetriesSent != 1 || st.RetriesWon != 1 {
					t.Fatalf("retries sent %d won %d, want 1 and 1", st.RetriesSent, st.RetriesWon)
				}
			}
		})
	}
}

// A retry is its own request: the same X-Request-Id, sent again.
func TestRetrySendsTheSameRequest(t *testing.T) {
	f := newFixture(t, handlers{user: firstThen(1, status503("0"), testutil.JSON(userBody))}, noHedge(nil))
	r := f.page(t)
	reqs := f.user.Requests()
	if len(reqs) != 2 || reqs[0].Path != reqs[1].Path ||
		reqs[0].Header.Get("X-Request-Id") != r.page.Meta.RequestID || reqs[1].Header.Get("X-Request-Id") != r.page.Meta.RequestID {
		t.Fatalf("requests %+v, want the page's request twice", reqs)
	}
	// The page log line and the admin view say so too. The line is written
	// after the page is sent: wait for the handler to finish.
	f.settle()
	lines := f.logs.lines(t, "page")
	if len(lines) != 1 {
		t.Fatalf("%d page log lines", len(lines))
	}
	if user, _ := lines[0]["sections"].(map[string]any)["user"].(map[string]any); user["attempts"] != 2.0 {
		t.Fatalf("page log line user section %v, want attempts 2", user)
	}
	if st, _ := f.app.Stats("user"); st.RetriesSent != 1 || st.RetriesWon != 1 {
		t.Fatalf("admin totals: retries sent %d won %d", st.RetriesSent, st.RetriesWon)
	}
}

// In a full outage, where every call fails fast, retries add at most the
// budget's share of requests.
func TestRetryBudgetInOutage(t *testing.T) {
	f := newFixture(t, handlers{user: status503("")}, noHedge(func(s *config.Service) {
		s.Cache.Enabled = false
		s.Retry.MaxAttempts = 5
		s.Breaker.ConsecutiveFailures = 1 << 30 // the breaker would stop the calls: this is the budget's test
		s.Breaker.FailureRatio = 0
	}))
	const pages = 200
	for range pages {
		f.page(t)
	}
	hits := f.user.Hits()
	// 10% of 200 calls in the window is 20 (above the minimum of 3).
	if hits <= pages || hits > pages+pages/10 {
		t.Fatalf("%d requests for %d calls, want some retries and at most %d (budget 10%%)", hits, pages, pages+pages/10)
	}
	st, _ := f.app.Stats("user")
	if st.RetriesSent != int64(hits-pages) || st.RetriesWon != 0 {
		t.Fatalf("retries sent %d won %d for %d requests", st.RetriesSent, st.RetriesWon, hits)
	}
}

// The breaker counts calls, not attempts: with three attempts per call it
// still opens after consecutive_failures calls.
func TestBreakerCountsCallsNotAttempts(t *testing.T) {
	f := newFixture(t, handlers{user: status503("0")}, noHedge(func(s *config.Service) {
		s.Cache.Enabled = false
		s.Retry.MaxAttempts = 3
		s.Budget.Percent, s.Budget.MinPerWindow = 100, 100
		s.Breaker.ConsecutiveFailures = 3
	}))
	f.page(t)
	f.page(t)
	if st := f.app.Breaker("user").State().String(); st != "closed" {
		t.Fatalf("breaker %s after 2 calls (6 attempts), want closed", st)
	}
	if n := f.user.Hits(); n != 6 {
		t.Fatalf("%d requests for 2 calls of 3 attempts", n)
	}
	f.page(t)
	if st := f.app.Breaker("user").State().String(); st != "open" {
		t.Fatalf("breaker %s after 3 failed calls, want open", st)
	}
	// Open: no call, no retry.
	assertSection(t, f.page(t).page, "user", "error", "circuit_open")
	if n := f.user.Hits(); n != 9 {
		t.Fatalf("%d requests, want 9: none while open", n)
	}
}
