package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/testutil"
)

// serve mounts h the way internal/httpapi does, on a real server.
func serve(t testing.TB, h *Handler, tweak func(*http.Server)) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/dashboard", h.ServePage)
	mux.HandleFunc("GET /admin/dashboard/{asset}", h.ServeAsset)
	mux.HandleFunc("GET /admin/dashboard/stream", h.ServeStream)
	mux.HandleFunc("GET /admin/dashboard.json", h.ServeJSON)
	srv := httptest.NewUnstartedServer(mux)
	if tweak != nil {
		tweak(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// events reads a text/event-stream, one Frame per event.
type events struct {
	t    testing.TB
	body io.ReadCloser
	r    *bufio.Reader
}

func openStream(t testing.TB, ctx context.Context, url string) *events {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s, Content-Type %q", res.Status, res.Header.Get("Content-Type"))
	}
	return &events{t: t, body: res.Body, r: bufio.NewReader(res.Body)}
}

// next returns the next event's Frame; ok is false at the end of the
// stream.
func (e *events) next() (f Frame, ok bool) {
	e.t.Helper()
	var data string
	for {
		line, err := e.r.ReadString('\n')
		if err != nil {
			return f, false
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		case line == "" && data != "":
			if err := json.Unmarshal([]byte(data), &f); err != nil {
				e.t.Fatalf("event %q: %v", data, err)
			}
			return f, true
		}
	}
}

func TestStream(t *testing.T) {
	w := newWorld()
	h := New(SourceFunc(func() Raw { w.tick(10 * time.Millisecond); w.observe(1, 0.005); return w.Sample() }),
		Options{Interval: 10 * time.Millisecond, Linger: 50 * time.Millisecond})
	defer h.Close()
	srv := serve(t, h, nil)
	if h.Running() {
		t.Fatal("the sampler runs before anyone watches")
	}

	ctx, cancel := context.WithCancel(context.Background())
	ev := openStream(t, ctx, srv.URL+"/admin/dashboard/stream")
	first, ok := ev.next()
	if !ok || first.Latest == nil || len(first.History) == 0 {
		t.Fatalf("first event = %+v, want the latest snapshot and the history", first)
	}
	if len(first.Latest.Services) != 3 || first.Latest.Services[0].Name != "user" {
		t.Errorf("services = %+v", first.Latest.Services)
	}
	for range 3 {
		f, ok := ev.next()
		if !ok || f.Latest == nil || len(f.History) != 1 || f.History[0].Time != f.Latest.Time {
			t.Fatalf("next event = %+v, want the latest with its point alone", f)
		}
	}
	if !h.Running() {
		t.Error("the sampler does not run while a stream is open")
	}

	// The client goes: the sampler stops Linger later.
	cancel()
	testutil.Eventually(t, "the sampler stops after the last watcher left", func() bool { return !h.Running() })

	// A poll starts it again, and answers once it has a sample.
	res, err := http.Get(srv.URL + "/admin/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var f Frame
	err = json.NewDecoder(res.Body).Decode(&f)
	res.Body.Close()
	if err != nil || f.Latest == nil || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("poll: %v, %+v", err, f)
	}
	testutil.Eventually(t, "the sampler stops after a poll's linger", func() bool { return !h.Running() })
}

// TestStreamEndsAtClose: Close ends the streams, so the process can stop.
func TestStreamEndsAtClose(t *testing.T) {
	w := newWorld()
	h := New(SourceFunc(func() Raw { w.tick(time.Second); return w.Sample() }), Options{Interval: 10 * time.Millisecond})
	srv := serve(t, h, nil)
	ev := openStream(t, context.Background(), srv.URL+"/admin/dashboard/stream")
	if _, ok := ev.next(); !ok {
		t.Fatal("no first event")
	}
	h.Close()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			if _, ok := ev.next(); !ok {
				return
			}
		}
	}()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream goes on after Close")
	}
	if h.Running() {
		t.Error("the sampler runs after Close")
	}
	res, err := http.Get(srv.URL + "/admin/dashboard/stream")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("stream after Close: %s, want 503", res.Status)
	}
}

// TestStreamOutlivesServerTimeouts: a stream lasts longer than the
// server's write timeout (15s by default), since it moves its write
// deadline at every event, and than its read timeout.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	w := newWorld()
	h := New(SourceFunc(func() Raw { w.tick(50 * time.Millisecond); return w.Sample() }), Options{Interval: 50 * time.Millisecond})
	defer h.Close()
	srv := serve(t, h, func(s *http.Server) {
		s.ReadTimeout, s.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	})
	ev := openStream(t, context.Background(), srv.URL+"/admin/dashboard/stream")
	start := time.Now()
	n := 0
	for time.Since(start) < time.Second {
		if _, ok := ev.next(); !ok {
			t.Fatalf("the stream ended after %v and %d events, within the server's timeouts", time.Since(start), n)
		}
		n++
	}
}

// TestAssetsAreOwn: the page, its script and its style name nothing on
// another origin, and the Content-Security-Policy forbids it anyway.
func TestAssetsAreOwn(t *testing.T) {
	h := New(SourceFunc(func() Raw { return Raw{} }), Options{})
	defer h.Close()
	srv := serve(t, h, nil)
	external := regexp.MustCompile(`(?i)https?:|//[a-z0-9.-]+\.[a-z]|@import|url\(`)
	for _, tt := range []struct{ path, contentType string }{
		{"/admin/dashboard", "text/html; charset=utf-8"},
		{"/admin/dashboard/dashboard.js", "text/javascript; charset=utf-8"},
		{"/admin/dashboard/dashboard.css", "text/css; charset=utf-8"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			res, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != tt.contentType {
				t.Fatalf("%s, Content-Type %q", res.Status, res.Header.Get("Content-Type"))
			}
			if m := external.Find(b); m != nil {
				t.Errorf("%s names another origin: %q", tt.path, m)
			}
			csp := res.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
		})
	}
	res, err := http.Get(srv.URL + "/admin/dashboard/other.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown asset: %s, want 404", res.Status)
	}
	if h.Running() {
		t.Error("serving the page started the sampler")
	}
}

// TestPageHoldsNoData: the HTML is the same whatever the figures, so it
// can be served without the token.
func TestPageHoldsNoData(t *testing.T) {
	b, err := assets.ReadFile("assets/dashboard.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllSubmatch(b, -1) {
		if r := string(ref[1]); r != "data:," && !strings.HasPrefix(r, "/admin/dashboard/") {
			t.Errorf("the page loads %q, not one of its own assets", r)
		}
	}
}
