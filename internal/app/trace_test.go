package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/pagebff/pagebff/internal/app"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/testutil"
)

func recorder(t *testing.T) (*tracetest.SpanRecorder, app.Option) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return rec, app.WithTracer(tp)
}

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

const sampledParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestHedgeLoserIsNotAnErrorSpan: a cancelled hedge loser used to end as a
// red error span ("canceled by the client"), so span-based error rates
// counted every hedge.
func TestHedgeLoserIsNotAnErrorSpan(t *testing.T) {
	rec, withTracer := recorder(t)
	fs := &firstSlow{body: userBody}
	f := newFixture(t, handlers{user: fs.handle}, hedgeOn(20*time.Millisecond), withTracer)
	r := f.get(t, "/v1/pages/home?user_id=abc", "traceparent", sampledParent)
	assertSection(t, r.page, "user", "ok", "")
	eventually(t, "the losing attempt's span", func() bool { return len(rec.Ended()) == 5 })
	var lost, failed int
	for _, s := range rec.Ended() {
		if s.Name() != "GET user" {
			continue
		}
		if v, ok := attr(s, "bff.hedge.outcome"); ok && v.AsString() == "lost" {
			lost++
		}
		if s.Status().Code == codes.Error {
			failed++
		}
	}
	if lost != 1 || failed != 0 {
		t.Fatalf("user attempt spans: %d lost, %d errors; want one lost and none in error", lost, failed)
	}
}

// TestCoalescedCallHasASpan: a page that joined a coalesced call had no span
// for that section.
func TestCoalescedCallHasASpan(t *testing.T) {
	rec, withTracer := recorder(t)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	f := newFixture(t, handlers{catalog: func(w http.ResponseWriter, r *http.Request) {
		testutil.Signal(arrived)
		<-release
		testutil.JSON(catalogBody)(w, r)
	}}, patient, withTracer) // the held call must not time out, or be hedged, before the second page joins
	first := make(chan reply, 1)
	go func() {
		r, _ := f.try(context.Background(), http.MethodGet, "/v1/pages/home?user_id=abc")
		first <- r
	}()
	<-arrived
	second := make(chan reply, 1)
	go func() {
		r, _ := f.try(context.Background(), http.MethodGet, "/v1/pages/home?user_id=other",
			"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		second <- r
	}()
	eventually(t, "the second page to join", func() bool { v, _ := f.app.Stats("catalog"); return v.Coalesced == 1 })
	close(release)
	<-first
	if r := <-second; r.page.Meta.Sections["catalog"].Status != "ok" {
		t.Fatalf("joined catalog section %+v", r.page.Meta.Sections["catalog"])
	}
	eventually(t, "the coalesced span", func() bool {
		for _, s := range rec.Ended() {
			if v, ok := attr(s, "bff.coalesced"); ok && v.AsBool() {
				return s.SpanContext().TraceID().String() == "0af7651916cd43dd8448eb211c80319c" && len(s.Links()) == 1
			}
		}
		return false
	})
}

// TestSpansCarryHTTPSemanticConventions: server and client spans carry the
// OpenTelemetry HTTP attributes that tracing back ends group by.
func TestSpansCarryHTTPSemanticConventions(t *testing.T) {
	rec, withTracer := recorder(t)
	f := newFixture(t, handlers{}, noHedging, withTracer) // a hedge would add a span
	f.get(t, "/v1/pages/home?user_id=abc", "traceparent", sampledParent)
	eventually(t, "four spans", func() bool { return len(rec.Ended()) == 4 })
	for _, s := range rec.Ended() {
		want := []string{"http.request.method", "server.address"}
		switch s.SpanKind() {
		case trace.SpanKindServer:
			want = append(want, "http.route", "http.response.status_code")
			if v, _ := attr(s, "http.route"); v.AsString() != "/v1/pages/home" {
				t.Errorf("server span http.route = %q", v.AsString())
			}
		case trace.SpanKindClient:
			want = append(want, "server.port", "http.response.status_code")
		}
		for _, k := range want {
			if _, ok := attr(s, k); !ok {
				t.Errorf("span %q has no %s", s.Name(), k)
			}
		}
	}
}

// TestUntrustedTraceContextStartsANewTrace: with tracing.trust_incoming
// false, an incoming traceparent and tracestate are not passed on.
func TestUntrustedTraceContextStartsANewTrace(t *testing.T) {
	for _, trust := range []bool{true, false} {
		rec, withTracer := recorder(t)
		f := newFixture(t, handlers{}, func(c *config.Config) { noHedging(c); c.Server.TrustIncomingTrace = trust }, withTracer)
		f.get(t, "/v1/pages/home?user_id=abc", "traceparent", sampledParent, "tracestate", "vendor=secret-routing")
		reqs := f.catalog.Requests()
		if len(reqs) != 1 {
			t.Fatalf("catalog got %d requests", len(reqs))
		}
		tp, ts := reqs[0].Header.Get("traceparent"), reqs[0].Header.Get("tracestate")
		continued := strings.Contains(tp, "4bf92f3577b34da6a3ce929d0e0e4736")
		if continued != trust || (ts == "vendor=secret-routing") != trust {
			t.Errorf("trust_incoming %v: downstream traceparent %q, tracestate %q", trust, tp, ts)
		}
		eventually(t, "the page span", func() bool { return len(rec.Ended()) > 0 })
		for _, s := range rec.Ended() {
			if s.SpanKind() == trace.SpanKindServer && s.Parent().IsValid() != trust {
				t.Errorf("trust_incoming %v: page span parent %v", trust, s.Parent())
			}
		}
	}
}

// TestTraceContextWithoutExporter: with nothing exporting spans (the
// default provider records none), trace context still flows: an incoming
// traceparent is continued with a new parent-id and its sampled flag, a
// page without one starts an unsampled trace, and the log line names the
// trace the services saw.
func TestTraceContextWithoutExporter(t *testing.T) {
	f := newFixture(t, handlers{}, noHedging) // the requests are counted
	f.get(t, "/v1/pages/home?user_id=abc", "traceparent", sampledParent)
	f.get(t, "/v1/pages/home?user_id=def")
	reqs := f.catalog.Requests()
	if len(reqs) != 2 {
		t.Fatalf("catalog got %d requests, want 2", len(reqs))
	}
	eventually(t, "two page log lines", func() bool { return len(f.logs.lines(t, "page")) == 2 })
	lines := f.logs.lines(t, "page")
	for i, want := range []struct {
		trace, flags string // trace "" means any new one
	}{{"4bf92f3577b34da6a3ce929d0e0e4736", "01"}, {"", "00"}} {
		parts := strings.Split(reqs[i].Header.Get("traceparent"), "-")
		if len(parts) != 4 || len(parts[1]) != 32 || len(parts[2]) != 16 || parts[3] != want.flags ||
			(want.trace != "" && parts[1] != want.trace) || parts[2] == "00f067aa0ba902b7" || parts[2] == "0000000000000000" {
			t.Fatalf("page %d: downstream traceparent %q, want trace %q with a new parent-id and flags %s", i, reqs[i].Header.Get("traceparent"), want.trace, want.flags)
		}
		if lines[i]["trace_id"] != parts[1] {
			t.Errorf("page %d: log trace_id %v, downstream trace %s", i, lines[i]["trace_id"], parts[1])
		}
	}
}
