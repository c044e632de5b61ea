package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/pagebff/pagebff/internal/observability"
	"github.com/pagebff/pagebff/internal/page"
)

var userIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$`)

var idSeeds = []string{
	"", "abc", "a", "A1", "user@example.com", "a.b_c:d-e", ".leading", "-x", "_x",
	"has space", "semi;colon", "slash/", "percent%20", "ünï", "\x00", strings.Repeat("a", 128),
	strings.Repeat("a", 129), "a\nb", "../etc/passwd",
}

// FuzzValidUserID checks the hand-written validator against the contract's
// regular expression.
func FuzzValidUserID(f *testing.F) {
	for _, s := range idSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := ValidUserID(id), userIDPattern.MatchString(id); got != want {
			t.Fatalf("ValidUserID(%q) = %v, regexp says %v", id, got, want)
		}
	})
}

// A page served through a writer that cannot flush (a wrapping middleware,
// a test recorder) is still logged and measured: echo.Response.Flush would
// panic there, and the recovered panic skipped both.
func TestPageWithoutFlusher(t *testing.T) {
	pages := rendererFunc(func(context.Context, string, string) page.Page {
		return page.Page{Body: []byte(`{"meta":{}}`)}
	})
	var logs bytes.Buffer
	s := New(Config{Addr: ":0", MaxInflight: 1}, Deps{
		Pages: pages, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: observability.NewMetrics(func() float64 { return 0 }),
	})
	w := &plainWriter{h: http.Header{}}
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/pages/home?user_id=abc", nil))
	if w.status != http.StatusOK || w.body.String() != `{"meta":{}}` {
		t.Fatalf("status %d body %q", w.status, w.body.String())
	}
	if !strings.Contains(logs.String(), `"msg":"page"`) {
		t.Fatalf("no page log line; logs:\n%s", logs.String())
	}
}

type rendererFunc func(ctx context.Context, userID, requestID string) page.Page

func (f rendererFunc) Render(ctx context.Context, userID, requestID string) page.Page {
	return f(ctx, userID, requestID)
}

// plainWriter is an http.ResponseWriter and nothing more.
type plainWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *plainWriter) Header() http.Header { return w.h }
func (w *plainWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}
func (w *plainWriter) WriteHeader(code int) { w.status = code }
