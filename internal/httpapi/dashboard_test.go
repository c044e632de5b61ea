package httpapi

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pagebff/pagebff/internal/dashboard"
	"github.com/pagebff/pagebff/internal/observability"
	"github.com/pagebff/pagebff/internal/page"
)

type noPages struct{}

func (noPages) Render(context.Context, string, string) page.Page { return page.Page{} }

type noAdmin struct{}

func (noAdmin) Breakers() any                              { return map[string]any{} }
func (noAdmin) BreakerAction(service, action string) error { return nil }

// dashboardServer is a Server with a dashboard over a fake source, and the
// listeners it would serve on: public always, admin with admin.addr.
type dashboardServer struct {
	srv           *Server
	dash          *dashboard.Handler
	public, admin *httptest.Server // admin nil without admin.addr
}

func newDashboardServer(t *testing.T, cfg Config) *dashboardServer {
	t.Helper()
	cfg.MaxInflight = 10
	s := New(cfg, Deps{Pages: noPages{}, Admin: noAdmin{}, Log: slog.New(slog.DiscardHandler),
		Metrics: observability.NewMetrics(func() float64 { return 0 })})
	d := dashboard.New(dashboard.SourceFunc(func() dashboard.Raw {
		return dashboard.Raw{Services: []dashboard.RawService{{Name: "user", Breaker: "closed"}, {Name: "catalog", Breaker: "open"}}}
	}), dashboard.Options{Interval: 20 * time.Millisecond, Linger: 20 * time.Millisecond})
	s.SetDashboard(d)
	ds := &dashboardServer{srv: s, dash: d, public: httptest.NewServer(s)}
	if h := s.AdminHandler(); h != nil {
		ds.admin = httptest.NewServer(h)
	}
	t.Cleanup(func() {
		d.Close() // ends the streams first, so the servers close at once
		ds.public.Close()
		if ds.admin != nil {
			ds.admin.Close()
		}
	})
	return ds
}

func get(t *testing.T, url, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Type") == "text/event-stream" {
		// Read the first event only: the stream goes on.
		br := bufio.NewReader(res.Body)
		line, err := br.ReadString('\n')
		for err == nil && !strings.HasPrefix(line, "data: ") {
			line, err = br.ReadString('\n')
		}
		return res, line
	}
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestDashboardAccess: the page is served without the token, on the
// listener of /admin; its data only as requireToken allows.
func TestDashboardAccess(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the servers close
	const token = "s3cret"
	type want struct {
		page, stream, json int
	}
	tests := []struct {
		name     string
		cfg      Config
		onAdmin  bool // the dashboard is on the admin listener
		sendTok  string
		want     want
		wantAuth bool // a 401 names the scheme
	}{
		{"token set, none sent", Config{AdminToken: token}, false, "", want{200, 401, 401}, true},
		{"token set, wrong one sent", Config{AdminToken: token}, false, "nope", want{200, 401, 401}, true},
		{"token set and sent", Config{AdminToken: token}, false, token, want{200, 200, 200}, false},
		{"no token, public listener", Config{}, false, "", want{200, 403, 403}, false},
		{"no token, loopback admin.addr", Config{AdminAddr: "127.0.0.1:9090"}, true, "", want{200, 200, 200}, false},
		{"no token, admin.addr on every interface", Config{AdminAddr: ":9090"}, true, "", want{200, 403, 403}, false},
		{"token and admin.addr, sent", Config{AdminToken: token, AdminAddr: ":9090"}, true, token, want{200, 200, 200}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDashboardServer(t, tt.cfg)
			base := ds.public.URL
			if tt.onAdmin {
				base = ds.admin.URL
				// The public listener serves none of it.
				for _, p := range []string{"/admin/dashboard", "/admin/dashboard/dashboard.js", "/admin/dashboard/stream", "/admin/dashboard.json"} {
					if res, _ := get(t, ds.public.URL+p, tt.sendTok); res.StatusCode != http.StatusNotFound {
						t.Errorf("public %s: %s, want 404 with admin.addr set", p, res.Status)
					}
				}
			}
			res, body := get(t, base+"/admin/dashboard", "")
			if res.StatusCode != tt.want.page || !strings.Contains(body, "<title>pagebff") {
				t.Errorf("page without a token: %s", res.Status)
			}
			if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
				t.Error("the page names an external URL")
			}
			res, body = get(t, base+"/admin/dashboard/stream", tt.sendTok)
			if res.StatusCode != tt.want.stream {
				t.Errorf("stream: %s, want %d", res.Status, tt.want.stream)
			}
			if res.StatusCode == http.StatusOK && !strings.Contains(body, `"services":[{"name":"user"`) {
				t.Errorf("stream's first event = %q", body)
			}
			if got := res.Header.Get("WWW-Authenticate") != ""; got != tt.wantAuth {
				t.Errorf("WWW-Authenticate present = %v, want %v", got, tt.wantAuth)
			}
			res, body = get(t, base+"/admin/dashboard.json", tt.sendTok)
			if res.StatusCode != tt.want.json {
				t.Errorf("json: %s, want %d", res.Status, tt.want.json)
			}
			if res.StatusCode == http.StatusOK && !strings.Contains(body, `"latest":{`) {
				t.Errorf("json = %s", body)
			}
			// The other /admin routes keep their guard.
			if res, _ := get(t, base+"/admin/breakers", ""); tt.cfg.AdminToken != "" && res.StatusCode != http.StatusUnauthorized {
				t.Errorf("/admin/breakers without the token: %s, want 401", res.Status)
			}
			if res, _ := get(t, base+"/admin/nothing-here", ""); tt.cfg.AdminToken != "" && res.StatusCode != http.StatusUnauthorized {
				t.Errorf("/admin/nothing-here without the token: %s, want 401", res.Status)
			}
		})
	}
}

// TestDashboardWithoutAdmin: no Admin, no /admin, no dashboard.
func TestDashboardWithoutAdmin(t *testing.T) {
	s := New(Config{MaxInflight: 1}, Deps{Pages: noPages{}, Log: slog.New(slog.DiscardHandler),
		Metrics: observability.NewMetrics(func() float64 { return 0 })})
	d := dashboard.New(dashboard.SourceFunc(func() dashboard.Raw { return dashboard.Raw{} }), dashboard.Options{})
	defer d.Close()
	s.SetDashboard(d)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/dashboard", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("page without an Admin: %d, want 404", rec.Code)
	}
}

// streamEnds reads the stream until it ends, failing after within.
func streamEnds(t *testing.T, body io.Reader, within time.Duration) (events int) {
	t.Helper()
	ended := make(chan int)
	go func() {
		n := 0
		sc := bufio.NewScanner(body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				n++
			}
		}
		ended <- n
	}()
	select {
	case n := <-ended:
		return n
	case <-time.After(within):
		t.Fatalf("the stream still runs after %v", within)
		return 0
	}
}

func openDashboardStream(t *testing.T, url string) *http.Response {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %s", res.Status)
	}
	return res
}

// TestDashboardStreamEndsAtDrain: readiness turning off (SIGTERM) ends the
// streams, so that an open dashboard cannot hold the shutdown for
// shutdown_timeout.
func TestDashboardStreamEndsAtDrain(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the servers close
	ds := newDashboardServer(t, Config{AdminAddr: "127.0.0.1:9090"})
	ds.srv.SetReady(true)
	res := openDashboardStream(t, ds.admin.URL+"/admin/dashboard/stream")
	time.Sleep(3 * notReadyStream / 2) // longer than a stream lasts while not ready
	ds.srv.SetReady(false)
	start := time.Now()
	if n := streamEnds(t, res.Body, 2*time.Second); n < 2 {
		t.Errorf("%d events before the drain, want a few", n)
	}
	if d := time.Since(start); d > 5*drainPoll {
		t.Errorf("the stream ended %v after readiness turned off", d)
	}
}

// TestDashboardStreamNotReady: a stream opened while the server is not
// ready (starting, or draining) sends its first event and ends.
func TestDashboardStreamNotReady(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the servers close
	ds := newDashboardServer(t, Config{AdminAddr: "127.0.0.1:9090"})
	res := openDashboardStream(t, ds.admin.URL+"/admin/dashboard/stream")
	if n := streamEnds(t, res.Body, 3*notReadyStream); n < 1 {
		t.Errorf("%d events, want the first one at least", n)
	}
}
