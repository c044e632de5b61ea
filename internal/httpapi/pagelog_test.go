package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/page"
)

func samplePage() page.Page {
	return page.Page{Degraded: true, Sections: []page.Outcome{
		{Name: "user", Source: bff.SourceLive, Latency: 12300 * time.Microsecond},
		{Name: "catalog", Source: bff.SourceCache, Stale: true, Code: bff.CodeTimeout, Latency: 300 * time.Millisecond,
			Err: errors.New("catalog: timed out after 300ms")},
		{Name: "activity", Code: bff.CodeUnavailable, Latency: 1500 * time.Microsecond, Err: errors.New("activity: connection refused")},
	}}
}

// TestPageLogLine: the page line's fields, as operators query them.
func TestPageLogLine(t *testing.T) {
	var buf bytes.Buffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&buf, nil))}
	tid := trace.TraceID{0x4b, 0xf9}
	s.logPage(context.Background(), "req-1", tid, "abc", samplePage(), 25*time.Millisecond)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	want := map[string]any{
		"level": "WARN", "msg": "page", "request_id": "req-1", "trace_id": tid.String(), "user_id": "abc",
		"status": 200.0, "duration_ms": 25.0, "degraded": true, "client_gone": false,
		"sections": map[string]any{
			"user":     map[string]any{"status": "ok", "latency_ms": 12.3, "source": "live"},
			"catalog":  map[string]any{"status": "stale", "latency_ms": 300.0, "source": "cache", "code": "timeout", "error": "catalog: timed out after 300ms"},
			"activity": map[string]any{"status": "error", "latency_ms": 1.5, "code": "unavailable", "error": "activity: connection refused"},
		},
	}
	delete(line, "time")
	got, _ := json.Marshal(line)
	exp, _ := json.Marshal(want)
	if !bytes.Equal(got, exp) {
		t.Fatalf("page line\n got %s\nwant %s", got, exp)
	}
}

func BenchmarkPageLogLine(b *testing.B) {
	s := &Server{log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	p := samplePage()
	p.Degraded = false
	for i := range p.Sections {
		p.Sections[i].Err, p.Sections[i].Stale, p.Sections[i].Code = nil, false, bff.CodeNone
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.logPage(ctx, "9b2c1f0e-6a57-4c2b-9d0e-8f1a2b3c4d5e", trace.TraceID{1}, "abc", p, 25*time.Millisecond)
	}
}
