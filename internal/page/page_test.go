package page

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pagebff/pagebff/internal/bff"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func fixed(body string, err error) bff.Fetcher {
	return bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
		return bff.Response{Body: []byte(body)}, err
	})
}

func sections(fs ...bff.Fetcher) []Section {
	names := []string{"user", "catalog", "activity"}
	out := make([]Section, len(fs))
	for i, f := range fs {
		out[i] = Section{Name: names[i], Path: func(u string) string { return "/" + u }, Fetcher: f}
	}
	return out
}

func TestRenderSectionKinds(t *testing.T) {
	failed := bff.Errorf("catalog", bff.CodeUpstreamStatus, errors.New("detail with http://10.0.0.1"), "upstream answered 502 Bad Gateway")
	stale := bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
		return bff.Response{Body: []byte(`{"items":[1]}`), Source: bff.SourceCache, Age: 1500 * time.Millisecond},
			bff.Errorf("activity", bff.CodeTimeout, nil, "timed out after 300ms")
	})
	a := New(Config{Timeout: time.Second}, sections(fixed(`{"id":"u\"1"}`, nil), fixed("", failed), stale))
	p := a.Render(context.Background(), "abc", "rid-1")

	want := `{"user":{"id":"u\"1"},` +
		`"catalog":{"error":"catalog: upstream answered 502 Bad Gateway"},` +
		`"activity":{"items":[1],"stale":true,"error":"activity: timed out after 300ms"},` +
		`"meta":{"request_id":"rid-1","degraded":true,"sections":{` +
		`"user":{"status":"ok","source":"live","latency_ms":0},` +
		`"catalog":{"status":"error","code":"upstream_status","latency_ms":0},` +
		`"activity":{"status":"stale","source":"cache","code":"timeout","latency_ms":0,"age_ms":1500}}}}`
	// Latencies vary with the machine; everything else is exact.
	got := regexp.MustCompile(`"latency_ms":\d+`).ReplaceAllString(string(p.Body), `"latency_ms":0`)
	if got != want {
		t.Fatalf("page\n got %s\nwant %s", got, want)
	}
	if !json.Valid(p.Body) {
		t.Fatal("page is not valid JSON")
	}
	if strings.Contains(string(p.Body), "10.0.0.1") {
		t.Fatal("error detail leaked into the page")
	}
}

func TestRenderStaleEmptyObject(t *testing.T) {
	stale := bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
		return bff.Response{Body: []byte(`{ }`)}, bff.Errorf("user", bff.CodeUnavailable, nil, "connection failed")
	})
	p := New(Config{Timeout: time.Second}, sections(stale)).Render(context.Background(), "abc", "r")
	if !strings.HasPrefix(string(p.Body), `{"user":{ "stale":true,"error":"user: connection failed"}`) || !json.Valid(p.Body) {
		t.Fatalf("page %s", p.Body)
	}
}

// A Fetcher that ignores its context must not hold the page past its
// deadline; it finishes on its own later.
func TestRenderStragglerDoesNotHoldPage(t *testing.T) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	stubborn := bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
		defer wg.Done()
		<-release
		return bff.Response{Body: []byte(`{}`)}, nil
	})
	a := New(Config{Timeout: 50 * time.Millisecond}, sections(fixed(`{}`, nil), stubborn))
	start := time.Now()
	p := a.Render(context.Background(), "abc", "r")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Render took %v with a 50ms deadline", d)
	}
	if p.Sections[1].Code != bff.CodeTimeout || p.Sections[0].Err != nil {
		t.Fatalf("outcomes %+v", p.Sections)
	}
	close(release)
	wg.Wait()
}

// A panicking policy costs its section, not the process.
func TestRenderPanicCostsSection(t *testing.T) {
	boom := bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) { panic("boom") })
	p := New(Config{Timeout: time.Second}, sections(boom, fixed(`{}`, nil))).Render(context.Background(), "abc", "r")
	if p.Sections[0].Code != bff.CodeUnavailable || p.Sections[1].Err != nil {
		t.Fatalf("outcomes %+v", p.Sections)
	}
	if !strings.Contains(string(p.Body), `"user":{"error":"user: internal error"}`) {
		t.Fatalf("page %s", p.Body)
	}
}

// The client going away ends the page with canceled sections.
func TestRenderClientGone(t *testing.T) {
	hang := bff.FetcherFunc(func(ctx context.Context, c bff.Call) (bff.Response, error) {
		<-ctx.Done()
		return bff.Response{}, bff.ContextError(ctx, c.Service, ctx.Err())
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	p := New(Config{Timeout: 5 * time.Second}, sections(hang, hang)).Render(ctx, "abc", "r")
	for _, o := range p.Sections {
		if o.Code != bff.CodeCanceled {
			t.Fatalf("outcome %+v, want canceled", o)
		}
	}
}

func TestServerTimingFormat(t *testing.T) {
	p := Page{Sections: []Outcome{{Name: "user", Latency: 12345 * time.Microsecond}, {Name: "catalog", Latency: 300 * time.Millisecond}}}
	if got := p.ServerTiming(); got != "user;dur=12.3, catalog;dur=300.0" {
		t.Fatalf("ServerTiming = %q", got)
	}
}

// fallbackFetcher hangs past any deadline and has a stale value at hand.
type fallbackFetcher struct{ release chan struct{} }

func (f fallbackFetcher) Fetch(ctx context.Context, c bff.Call) (bff.Response, error) {
	<-f.release // ignores ctx: only the page deadline can end the wait
	return bff.Response{}, bff.ContextError(ctx, c.Service, ctx.Err())
}

func (f fallbackFetcher) Fallback(c bff.Call) (bff.Response, bool) {
	if c.Path != "/abc" {
		return bff.Response{}, false
	}
	return bff.Response{Body: []byte(`{"cached":true}`), Source: bff.SourceCache, Age: time.Second}, true
}

// At the page deadline, a section still running is answered from its
// Fallback (the stale cache) and reported as a stale timeout.
func TestRenderDeadlineUsesFallback(t *testing.T) {
	fb := fallbackFetcher{release: make(chan struct{})}
	defer close(fb.release)
	secs := sections(fixed(`{}`, nil), fb)
	secs[1].Fallback = fb.Fallback
	p := New(Config{Timeout: 30 * time.Millisecond}, secs).Render(context.Background(), "abc", "r")
	o := p.Sections[1]
	if !o.Stale || o.Code != bff.CodeTimeout || o.Age != time.Second {
		t.Fatalf("outcome %+v, want a stale timeout", o)
	}
	if !strings.Contains(string(p.Body), `"catalog":{"cached":true,"stale":true,"error":"catalog: page deadline reached before the service answered"}`) {
		t.Fatalf("page %s", p.Body)
	}
}

// A section still running at the page deadline reads "page deadline".
func TestRenderDeadlineMessage(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stuck := bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
		<-release
		return bff.Response{}, nil
	})
	p := New(Config{Timeout: 30 * time.Millisecond}, sections(stuck)).Render(context.Background(), "abc", "r")
	if !strings.Contains(string(p.Body), `"user":{"error":"user: page deadline reached before the service answered"}`) {
		t.Fatalf("page %s", p.Body)
	}
}

// Whatever a Fetcher returns, the page stays valid JSON.
func TestRenderGuardsBodies(t *testing.T) {
	staleOf := func(body string) bff.Fetcher {
		return bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
			return bff.Response{Body: []byte(body)}, bff.Errorf("x", bff.CodeTimeout, nil, "timed out")
		})
	}
	tests := []struct {
		name    string
		fetcher bff.Fetcher
		code    bff.Code
	}{
		{name: "empty success", fetcher: fixed("", nil), code: bff.CodeBadResponse},
		{name: "array success", fetcher: fixed("[1]", nil), code: bff.CodeBadResponse},
		{name: "whitespace stale", fetcher: staleOf("  "), code: bff.CodeTimeout},
		{name: "array stale", fetcher: staleOf("[1]"), code: bff.CodeTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(Config{Timeout: time.Second}, sections(tt.fetcher)).Render(context.Background(), "abc", "r")
			if !json.Valid(p.Body) {
				t.Fatalf("invalid page %s", p.Body)
			}
			if o := p.Sections[0]; o.Code != tt.code || o.Stale {
				t.Fatalf("outcome %+v, want code %v, not stale", o, tt.code)
			}
		})
	}
}
