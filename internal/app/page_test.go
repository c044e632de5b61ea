package app_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/testutil"
)

// Case 1: all services healthy → all three sections with data.
func TestPageAllHealthy(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	r := f.page(t)

	if ct := r.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	assertJSONEqual(t, "user", r.page.Sections["user"], userBody)
	assertJSONEqual(t, "catalog", r.page.Sections["catalog"], catalogBody)
	assertJSONEqual(t, "activity", r.page.Sections["activity"], `{"items":`+activityBody+`}`)
	if len(r.page.Sections) != 3 {
		t.Errorf("page has sections %v, want user, catalog, activity and meta", keys(r.page.Sections))
	}
	for _, name := range []string{"user", "catalog", "activity"} {
		assertSection(t, r.page, name, "ok", "")
		if src := r.page.Meta.Sections[name].Source; src != "live" {
			t.Errorf("meta.sections.%s.source = %q, want live", name, src)
		}
	}
	if r.page.Meta.Degraded {
		t.Error("meta.degraded = true on a healthy page")
	}
	if id := r.resp.Header.Get("X-Request-Id"); id == "" || id != r.page.Meta.RequestID {
		t.Errorf("X-Request-Id %q, meta.request_id %q: want the same non-empty id", id, r.page.Meta.RequestID)
	}
	// The document keeps the contract's order: sections, then meta.
	if !strings.HasPrefix(string(r.body), `{"user":`) || !strings.Contains(string(r.body), `},"meta":{"request_id":`) {
		t.Errorf("page layout: %s", r.body)
	}
}

// Case 2: one service returns 500 → that section has an error, the others are fine.
func TestPageOneServiceFails(t *testing.T) {
	f := newFixture(t, handlers{activity: testutil.Status(500, `{"oops":true}`)}, nil)
	r := f.page(t)

	assertSection(t, r.page, "activity", "error", "upstream_status")
	if got := r.page.sectionError("activity"); got != "activity: upstream answered 500 Internal Server Error" {
		t.Errorf("activity error = %q", got)
	}
	assertSection(t, r.page, "user", "ok", "")
	assertSection(t, r.page, "catalog", "ok", "")
	assertJSONEqual(t, "user", r.page.Sections["user"], userBody)
	if !r.page.Meta.Degraded {
		t.Error("meta.degraded = false with a failed section")
	}
}

// Case 3: one service takes 2 seconds → its section times out, the others
// return, and the page answers in under 500ms.
func TestPageSlowServiceTimesOut(t *testing.T) {
	f := newFixture(t, handlers{catalog: testutil.Slow(2*time.Second, testutil.JSON(catalogBody))}, nil)
	r := f.page(t)

	if r.elapsed >= 500*time.Millisecond {
		t.Errorf("page took %v, want < 500ms", r.elapsed)
	}
	assertSection(t, r.page, "catalog", "error", "timeout")
	if got := r.page.sectionError("catalog"); got != "catalog: timed out after 300ms" {
		t.Errorf("catalog error = %q", got)
	}
	if l := *r.page.Meta.Sections["catalog"].LatencyMS; l < 300 || l >= 500 {
		t.Errorf("catalog latency_ms = %d, want about 300", l)
	}
	assertSection(t, r.page, "user", "ok", "")
	assertSection(t, r.page, "activity", "ok", "")
}

// Case 4: the calls run in parallel. Each fake holds its answer until all
// three requests have arrived; called in sequence, the first would wait out
// its 300ms timeout alone.
func TestPageCallsRunInParallel(t *testing.T) {
	var arrived sync.WaitGroup
	arrived.Add(3)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	barrier := func(body string) http.HandlerFunc {
		var once sync.Once
		return func(w http.ResponseWriter, r *http.Request) {
			once.Do(arrived.Done)
			select {
			case <-all:
				testutil.JSON(body)(w, r)
			case <-r.Context().Done():
			}
		}
	}
	f := newFixture(t, handlers{user: barrier(userBody), catalog: barrier(catalogBody), activity: barrier(activityBody)}, nil)
	r := f.page(t)
	for _, name := range []string{"user", "catalog", "activity"} {
		assertSection(t, r.page, name, "ok", "")
	}
	// And the time: three 100ms services in parallel take ~100ms, not 300ms.
	slow := func(body string) http.HandlerFunc { return testutil.Slow(100*time.Millisecond, testutil.JSON(body)) }
	f = newFixture(t, handlers{user: slow(userBody), catalog: slow(catalogBody), activity: slow(activityBody)}, nil)
	r = f.page(t)
	if r.elapsed >= 280*time.Millisecond {
		t.Errorf("three 100ms services took %v together; sequential would be 300ms", r.elapsed)
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Case 5: no X-Request-Id → one is generated, and every downstream call
// carries it; a valid incoming id is reused; an unusable one is replaced.
func TestRequestIDPropagation(t *testing.T) {
	tests := []struct {
		name      string
		incoming  string // "" = no header, unless sendEmpty
		sendEmpty bool   // send "X-Request-Id:" with an empty value
		reuse     bool
	}{
		{name: "missing header generates a UUID"},
		{name: "valid id is reused", incoming: "req-42.a_b:c", reuse: true},
		{name: "id of 128 bytes is reused", incoming: strings.Repeat("a", 128), reuse: true},
		{name: "id over 128 bytes is replaced", incoming: strings.Repeat("a", 129)},
		{name: "id with a space is replaced", incoming: "bad id"},
		{name: "id with a slash is replaced", incoming: "a/b"},
		{name: "id with non-ASCII is replaced", incoming: "idé"},
		{name: "empty header is replaced", incoming: "", sendEmpty: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, handlers{}, noHedging) // one request per service, even when slow
			var hdr []string
			if tt.incoming != "" || tt.sendEmpty {
				hdr = []string{"X-Request-Id", tt.incoming}
			}
			r := f.get(t, "/v1/pages/home?user_id=abc", hdr...)
			id := r.resp.Header.Get("X-Request-Id")
			if tt.reuse && id != tt.incoming {
				t.Fatalf("X-Request-Id = %q, want the incoming %q", id, tt.incoming)
			}
			if !tt.reuse && !uuidPattern.MatchString(id) {
				t.Fatalf("X-Request-Id = %q, want a fresh UUID", id)
			}
			if r.page.Meta.RequestID != id {
				t.Fatalf("meta.request_id = %q, header %q", r.page.Meta.RequestID, id)
			}
			for _, svc := range []*testutil.Service{f.user, f.catalog, f.activity} {
				reqs := svc.Requests()
				if len(reqs) != 1 {
					t.Fatalf("service got %d requests, want 1", len(reqs))
				}
				if got := reqs[0].Header.Get("X-Request-Id"); got != id {
					t.Errorf("%s got X-Request-Id %q, want %q", reqs[0].Path, got, id)
				}
				if got := reqs[0].Header.Get("Accept"); got != "application/json" {
					t.Errorf("%s got Accept %q, want application/json", reqs[0].Path, got)
				}
			}
		})
	}
}

// Case 6: a service returning empty data gets items: [], never an error.
func TestPageEmptyData(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{name: "empty items object", handler: testutil.JSON(`{"items":[]}`)},
		{name: "empty array", handler: testutil.JSON(`[]`)},
		{name: "null", handler: testutil.JSON(`null`)},
		{name: "empty body", handler: testutil.JSON(``)},
		{name: "204 No Content", handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, handlers{catalog: tt.handler}, nil)
			r := f.page(t)
			assertSection(t, r.page, "catalog", "ok", "")
			assertJSONEqual(t, "catalog", r.page.Sections["catalog"], `{"items":[]}`)
			if r.page.Meta.Degraded {
				t.Error("empty data made the page degraded")
			}
		})
	}
}

// Every failure code of the contract that a single call can produce.
func TestPageFailureCodes(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		url     func(testing.TB) string // instead of a handler
		code    string
		message string // exact, when set
	}{
		{name: "500", handler: testutil.Status(500, ``), code: "upstream_status", message: "catalog: upstream answered 500 Internal Server Error"},
		{name: "503", handler: testutil.Status(503, `{}`), code: "upstream_status"},
		{name: "400", handler: testutil.Status(400, `{}`), code: "upstream_status", message: "catalog: upstream answered 400 Bad Request"},
		{name: "404", handler: testutil.Status(404, `{"error":"no such user"}`), code: "not_found", message: "catalog: not found"},
		{name: "malformed JSON", handler: testutil.JSON(`{"items":[`), code: "bad_response", message: "catalog: malformed response"},
		{name: "HTML instead of JSON", handler: testutil.JSON(`<html>Bad gateway</html>`), code: "bad_response"},
		{name: "bare string", handler: testutil.JSON(`"hello"`), code: "bad_response"},
		{name: "5 MiB body with Content-Length", handler: testutil.Big(5 << 20), code: "bad_response", message: "catalog: response body larger than 1048576 bytes"},
		{name: "5 MiB body without Content-Length", handler: testutil.Trickle(strings.Repeat(" ", 1<<20), 5, 0), code: "bad_response", message: "catalog: response body larger than 1048576 bytes"},
		{name: "invalid UTF-8", handler: testutil.JSON("{\"title\":\"\xff\xfe\"}"), code: "bad_response", message: "catalog: malformed response"},
		{name: "reason phrase stays in the log", handler: rawStatus("500 db down at 10.0.0.7:5432"), code: "upstream_status", message: "catalog: upstream answered 500 Internal Server Error"},
		{name: "connection dropped", handler: testutil.Drop(), code: "unavailable", message: "catalog: connection failed"},
		{name: "body trickling past the timeout", handler: testutil.Trickle(`[1,`, 100, 10*time.Millisecond), code: "timeout", message: "catalog: timed out after 300ms"},
		{name: "hang", handler: testutil.Hang(), code: "timeout", message: "catalog: timed out after 300ms"},
		{name: "closed port", url: testutil.ClosedURL, code: "unavailable", message: "catalog: connection failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			if h == nil {
				h = testutil.JSON(catalogBody)
			}
			var url string
			if tt.url != nil {
				url = tt.url(t)
			}
			// Every row but the timeouts gives the calls seconds instead of
			// 300ms: the row tests how a failure is classified, and under
			// -race on a busy machine reading megabytes, or even a small
			// answer, can take longer than 300ms (it timed out instead).
			roomy := tt.code != "timeout"
			f := newFixture(t, handlers{catalog: h}, func(c *config.Config) {
				if url != "" {
					setService(c, "catalog", func(s *config.Service) { s.Downstream.URL = url })
				}
				if roomy {
					c.Page.Timeout = 5 * time.Second
					for i := range c.Services {
						c.Services[i].Downstream.Timeout = 4 * time.Second
					}
				}
			})
			r := f.page(t)
			assertSection(t, r.page, "catalog", "error", tt.code)
			if tt.message != "" && r.page.sectionError("catalog") != tt.message {
				t.Errorf("catalog error = %q, want %q", r.page.sectionError("catalog"), tt.message)
			}
			if !roomy && r.elapsed >= 500*time.Millisecond {
				t.Errorf("page took %v, want < 500ms", r.elapsed)
			}
			assertSection(t, r.page, "user", "ok", "")
			assertSection(t, r.page, "activity", "ok", "")
		})
	}
}

// All three services hang: every section times out and the page still
// answers within the page deadline.
func TestPageAllServicesHang(t *testing.T) {
	f := newFixture(t, handlers{user: testutil.Hang(), catalog: testutil.Hang(), activity: testutil.Hang()}, nil)
	r := f.page(t)
	if r.elapsed >= 500*time.Millisecond {
		t.Errorf("page took %v, want < 500ms", r.elapsed)
	}
	for _, name := range []string{"user", "catalog", "activity"} {
		assertSection(t, r.page, name, "error", "timeout")
	}
	if !r.page.Meta.Degraded {
		t.Error("meta.degraded = false")
	}
}

// The page deadline cuts calls that are still running. With the service
// timeout equal to the page's, either may be reported (a shared call runs on
// the service timeout alone); the page package pins the message.
func TestPageDeadline(t *testing.T) {
	f := newFixture(t, handlers{user: testutil.Hang()}, func(c *config.Config) {
		c.Page.Timeout = 100 * time.Millisecond
		for i := range c.Services {
			c.Services[i].Downstream.Timeout = 100 * time.Millisecond
			c.Services[i].Hedge.Enabled = false
		}
	})
	r := f.page(t)
	assertSection(t, r.page, "user", "error", "timeout")
	if msg := r.page.sectionError("user"); msg != "user: page deadline reached before the service answered" && msg != "user: timed out after 100ms" {
		t.Errorf("user error = %q", msg)
	}
	if r.elapsed >= 500*time.Millisecond {
		t.Errorf("page took %v with a 100ms page deadline", r.elapsed)
	}
	assertSection(t, r.page, "catalog", "ok", "")
}

func TestServerTiming(t *testing.T) {
	f := newFixture(t, handlers{activity: testutil.Slow(20*time.Millisecond, testutil.JSON(`[]`))}, nil)
	r := f.page(t)
	st := r.resp.Header.Get("Server-Timing")
	re := regexp.MustCompile(`^user;dur=\d+\.\d, catalog;dur=\d+\.\d, activity;dur=(\d+\.\d)$`)
	m := re.FindStringSubmatch(st)
	if m == nil {
		t.Fatalf("Server-Timing = %q, want one user;dur=N entry per section in page order", st)
	}
	var dur float64
	fmt.Sscan(m[1], &dur)
	if dur < 20 {
		t.Errorf("activity dur = %v, want at least the service's 20ms", dur)
	}
}

// A base URL with a path prefix keeps it; user_id is escaped into the path.
func TestDownstreamPaths(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	prefixed := newFixture(t, handlers{}, func(c *config.Config) {
		noHedging(c) // one request per service, even when slow
		setService(c, "user", func(s *config.Service) { s.Downstream.URL = f.user.URL + "/api/v2/" })
	})
	prefixed.get(t, "/v1/pages/home?user_id=a.b@c:d-e_f")
	reqs := f.user.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/api/v2/users/a.b@c:d-e_f" {
		t.Fatalf("user service saw %+v, want one GET /api/v2/users/a.b@c:d-e_f", reqs)
	}
	if got := prefixed.activity.Requests(); len(got) != 1 || got[0].Path != "/users/a.b@c:d-e_f/activity" || got[0].Method != http.MethodGet {
		t.Fatalf("activity service saw %+v", got)
	}
	if got := prefixed.catalog.Requests(); len(got) != 1 || got[0].Path != "/items" {
		t.Fatalf("catalog service saw %+v", got)
	}
}

// A fourth service is added by configuration alone.
func TestFourthServiceFromConfig(t *testing.T) {
	recs := testutil.NewService(t, testutil.JSON(`[{"id":"i9"}]`))
	f := newFixture(t, handlers{}, func(c *config.Config) {
		noHedging(c) // one request, even when slow
		s := c.Services[0]
		s.Name = "recommendations"
		s.Downstream.Name = "recommendations"
		s.Downstream.URL = recs.URL
		s.Downstream.Path = "/recs/{user_id}"
		c.Services = append(c.Services, s)
	})
	r := f.page(t)
	assertSection(t, r.page, "recommendations", "ok", "")
	assertJSONEqual(t, "recommendations", r.page.Sections["recommendations"], `{"items":[{"id":"i9"}]}`)
	if got := recs.Requests(); len(got) != 1 || got[0].Path != "/recs/abc" {
		t.Fatalf("recs service saw %+v", got)
	}
}

// The client going away mid-page: sections are canceled (seen in the log
// line), and the breaker does not count it.
func TestClientCancelIsLoggedNotCounted(t *testing.T) {
	f := newFixture(t, handlers{user: testutil.Hang()}, func(c *config.Config) {
		// Deadlines far beyond the client's stay, so on a loaded machine the
		// server still notices the client leaving before any timeout fires.
		c.Page.Timeout = 5 * time.Second
		noHedging(c) // the catalog's requests are counted
		setService(c, "user", func(s *config.Service) {
			s.Breaker.ConsecutiveFailures = 1
			s.Downstream.Timeout = 4 * time.Second
		})
	})
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		answered := f.leavingPage(ctx)
		// The client leaves once its page is being rendered (its catalog
		// call arrived), not after a fixed 50ms: on a loaded machine that
		// could pass before the request even reached the server, which then
		// never logged it. (The user call is no sign: a page may join the
		// call of the one that left just before.)
		eventually(t, "the page rendering", func() bool { return f.catalog.Hits() == i+1 })
		cancel()
		if err := <-answered; err == nil {
			t.Fatal("a page answered although its client left; the user service should hang")
		}
	}
	eventually(t, "three page log lines", func() bool { return len(f.logs.lines(t, "page")) == 3 })
	for _, line := range f.logs.lines(t, "page") {
		sections, _ := line["sections"].(map[string]any)
		user, _ := sections["user"].(map[string]any)
		if user["code"] != "canceled" || line["client_gone"] != true {
			t.Fatalf("page log line: user = %v, client_gone = %v; want code canceled", user, line["client_gone"])
		}
	}
	if st := f.app.Breaker("user").State().String(); st != "closed" {
		t.Fatalf("breaker %s after client cancellations, want closed", st)
	}
	// Cancelled calls end asynchronously, and a page may join the call of
	// one that left just before (coalescing): every call must end up
	// excluded, none a failure.
	br := f.app.Breaker("user")
	eventually(t, "every cancelled call excluded", func() bool {
		c := br.Counts()
		return c.Requests >= 1 && c.Excluded == c.Requests
	})
	if c := br.Counts(); c.Failures != 0 {
		t.Fatalf("breaker counts %+v, want no failures", c)
	}
}

// rawStatus answers with a hand-written status line, reason phrase and all.
func rawStatus(statusLine string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 " + statusLine + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		_ = buf.Flush()
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
