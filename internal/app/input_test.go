package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/testutil"
)

// Every row of the contract's "Bad input" table, over HTTP. None of them may
// reach a downstream service.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		method string
		target string
		status int
		error  string // exact error message, when set
	}{
		{name: "user_id missing", target: "/v1/pages/home", status: 400, error: "user_id is required"},
		{name: "user_id empty", target: "/v1/pages/home?user_id=", status: 400, error: "user_id is required"},
		{name: "user_id with a space", target: "/v1/pages/home?user_id=a%20b", status: 400},
		{name: "user_id with a slash", target: "/v1/pages/home?user_id=a%2Fb", status: 400},
		{name: "user_id path traversal", target: "/v1/pages/home?user_id=..%2F..%2Fadmin", status: 400},
		{name: "user_id starting with a dot", target: "/v1/pages/home?user_id=.abc", status: 400},
		{name: "user_id of 129 characters", target: "/v1/pages/home?user_id=" + strings.Repeat("a", 129), status: 400},
		{name: "user_id non-ASCII", target: "/v1/pages/home?user_id=%C3%A9", status: 400},
		{name: "unknown path", target: "/v1/pages/nope", status: 404, error: "not found"},
		{name: "root", target: "/", status: 404, error: "not found"},
		{name: "POST on the page", method: http.MethodPost, target: "/v1/pages/home?user_id=abc", status: 405, error: "method not allowed"},
		{name: "DELETE on the page", method: http.MethodDelete, target: "/v1/pages/home?user_id=abc", status: 405, error: "method not allowed"},
		{name: "OPTIONS on the page", method: http.MethodOptions, target: "/v1/pages/home?user_id=abc", status: 405, error: "method not allowed"},
		{name: "semicolon in the query", target: "/v1/pages/home?user_id=a;b", status: 400, error: "malformed query string"},
		{name: "bad escape in the query", target: "/v1/pages/home?user_id=%zz", status: 400, error: "malformed query string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, handlers{}, nil)
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			r := f.do(t, context.Background(), method, tt.target)
			if r.resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.resp.StatusCode, tt.status, r.body)
			}
			var body struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" {
				t.Fatalf("body %s: want a JSON {\"error\": ...}", r.body)
			}
			if tt.error != "" && body.Error != tt.error {
				t.Errorf("error = %q, want %q", body.Error, tt.error)
			}
			if ct := r.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if r.resp.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id on an error answer")
			}
			if tt.status == 405 && r.resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q, want \"GET, HEAD\"", r.resp.Header.Get("Allow"))
			}
			if n := f.user.Hits() + f.catalog.Hits() + f.activity.Hits(); n != 0 {
				t.Errorf("bad input reached the services %d times", n)
			}
		})
	}
}

// HEAD answers like GET, without a body.
func TestHeadPage(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	r := f.do(t, context.Background(), http.MethodHead, "/v1/pages/home?user_id=abc")
	if r.resp.StatusCode != 200 || len(r.body) != 0 || r.resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("HEAD: status %d, body %q, headers %v", r.resp.StatusCode, r.body, r.resp.Header)
	}
}

// Beyond server.max_inflight, a page is shed with 503 and Retry-After at
// once, without calling any service.
func TestMaxInflightSheds(t *testing.T) {
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	hold := func(w http.ResponseWriter, r *http.Request) {
		testutil.Signal(held)
		select {
		case <-release:
			testutil.JSON(userBody)(w, r)
		case <-r.Context().Done():
		}
	}
	// patient: the first page is held while the second is shed, however long
	// that takes on a loaded machine (with 300ms the held call could time
	// out first, and the second page find the slot free).
	f := newFixture(t, handlers{user: hold}, func(c *config.Config) { patient(c); c.Server.MaxInflight = 1 })

	type result struct {
		r   reply
		err error
	}
	first := make(chan result, 1)
	go func() {
		r, err := f.try(context.Background(), http.MethodGet, "/v1/pages/home?user_id=abc")
		first <- result{r, err}
	}()
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("first page never reached the user service")
	}
	eventually(t, "first page's other calls", func() bool { return f.catalog.Hits() == 1 && f.activity.Hits() == 1 })

	r := f.get(t, "/v1/pages/home?user_id=abc")
	if r.resp.StatusCode != http.StatusServiceUnavailable || r.resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second page: status %d, Retry-After %q; want 503 with Retry-After", r.resp.StatusCode, r.resp.Header.Get("Retry-After"))
	}
	if f.user.Hits()+f.catalog.Hits()+f.activity.Hits() != 3 {
		t.Error("a shed page called the services")
	}
	close(release)
	if res := <-first; res.err != nil || res.r.resp.StatusCode != 200 {
		t.Fatalf("first page: %v %+v", res.err, res.r.resp)
	}
	if r := f.get(t, "/v1/pages/home?user_id=abc"); r.resp.StatusCode != 200 {
		t.Fatalf("page after the first finished: status %d, want 200", r.resp.StatusCode)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	// New servers start not ready; Serve flips readiness (see cmd/bff tests).
	if r := f.get(t, "/readyz"); r.resp.StatusCode != 503 {
		t.Fatalf("/readyz before serving = %d, want 503", r.resp.StatusCode)
	}
	f.app.Server().SetReady(true)
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := f.get(t, path); r.resp.StatusCode != 200 {
			t.Fatalf("%s = %d, want 200", path, r.resp.StatusCode)
		}
		if r := f.do(t, context.Background(), http.MethodHead, path); r.resp.StatusCode != 200 {
			t.Fatalf("HEAD %s = %d, want 200", path, r.resp.StatusCode)
		}
	}
	f.app.Server().SetReady(false)
	if r := f.get(t, "/readyz"); r.resp.StatusCode != 503 {
		t.Fatalf("/readyz while draining = %d, want 503", r.resp.StatusCode)
	}
	if r := f.get(t, "/healthz"); r.resp.StatusCode != 200 {
		t.Fatalf("/healthz while draining = %d, want 200", r.resp.StatusCode)
	}
}
