package app_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/app"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/testutil"
)

// cpuTime returns the process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a cpu-µs/page metric: CPU time of the whole process
// (every core) divided by pages.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N)/1e3, "cpu-µs/page")
}

// BenchmarkPage renders the home page over real loopback HTTP: a client, the
// BFF's HTTP server, and three in-process services. Its CPU figure includes
// the services' and the client's work.
func BenchmarkPage(b *testing.B) { benchPage(b, nil, "") }

// BenchmarkPageJWT is BenchmarkPage with auth.mode jwt: every page carries
// an ES256 token (the same one: verified once, then from the verified
// tokens' cache).
func BenchmarkPageJWT(b *testing.B) {
	is := newIssuer(b)
	benchPage(b, withJWT(is, false), "Bearer "+is.token(b, "abc"))
}

func benchPage(b *testing.B, tweak func(*config.Config), authorization string) {
	user := testutil.NewService(b, testutil.JSON(userBody))
	catalog := testutil.NewService(b, testutil.JSON(catalogBody))
	activity := testutil.NewService(b, testutil.JSON(activityBody))
	cfg := benchConfig(map[string]string{"user": user.URL, "catalog": catalog.URL, "activity": activity.URL}, nil)
	if tweak != nil {
		tweak(&cfg)
	}
	a := newBenchApp(b, cfg)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	url := srv.URL + "/v1/pages/home?user_id=abc"

	b.ReportAllocs()
	start := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if authorization != "" {
				req.Header.Set("Authorization", authorization)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
			}
		}
	})
	b.StopTimer()
	reportCPU(b, start)
	// Coalescing shares the catalog call between concurrent pages, more or
	// less often from run to run: allocations per page move with this.
	b.ReportMetric(float64(user.Hits()+catalog.Hits()+activity.Hits())/float64(b.N), "calls/page")
}

// BenchmarkPageOwnWork measures only the BFF's own work per page: the Echo
// handler, the three section pipelines (breaker, timeout, HTTP client,
// body validation) and page assembly and logging. The services are a canned
// RoundTripper and the handler is called without a socket.
func BenchmarkPageOwnWork(b *testing.B) {
	bodies := map[string]string{"user": userBody, "catalog": catalogBody, "activity": activityBody}
	canned := cannedTransport(func(r *http.Request) string { return bodies[r.URL.Host] })
	cfg := benchConfig(map[string]string{"user": "http://user", "catalog": "http://catalog", "activity": "http://activity"}, canned)
	a := newBenchApp(b, cfg)
	h := a.Handler()
	req := httptest.NewRequest(http.MethodGet, "/v1/pages/home?user_id=abc", nil)

	b.ReportAllocs()
	start := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			w.status = 0
			h.ServeHTTP(w, req)
			if w.status != 200 {
				b.Errorf("status %d", w.status)
				return
			}
		}
	})
	b.StopTimer()
	reportCPU(b, start)
}

func benchConfig(urls map[string]string, rt http.RoundTripper) config.Config {
	cfg := config.Default()
	for i := range cfg.Services {
		cfg.Services[i].Downstream.URL = urls[cfg.Services[i].Name]
		cfg.Services[i].Downstream.Transport = rt
	}
	return cfg
}

// cannedTransport answers every request 200 with the body chosen by bodyFor.
type cannedTransport func(*http.Request) string

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body := c(r)
	return &http.Response{
		StatusCode:    200,
		Status:        "200 OK",
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader([]byte(body))),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return len(p), nil
}
func (w *discardWriter) WriteHeader(code int) { w.status = code }
func (w *discardWriter) Flush()               {}

func newBenchApp(b *testing.B, cfg config.Config) *app.App {
	b.Helper()
	a, err := app.New(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	return a
}
