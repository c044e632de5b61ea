package observability

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestPropagatingContinuesTheIncomingTrace(t *testing.T) {
	ts, err := trace.ParseTraceState("vendor=x")
	if err != nil {
		t.Fatal(err)
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	})
	tr := Propagating().Tracer("test")
	ctx, span := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "page")
	sc := span.SpanContext()
	if sc.TraceID() != parent.TraceID() || !sc.IsSampled() || sc.TraceState().String() != "vendor=x" {
		t.Fatalf("span context %+v does not continue %+v", sc, parent)
	}
	if sc.SpanID() == parent.SpanID() || !sc.SpanID().IsValid() || sc.IsRemote() {
		t.Fatalf("span id %v: want a new local one", sc.SpanID())
	}
	if span.IsRecording() {
		t.Fatal("a propagating span records")
	}
	if got := trace.SpanContextFromContext(ctx); !got.Equal(sc) {
		t.Fatalf("context carries %+v, want the new span's", got)
	}
	_, child := tr.Start(ctx, "call")
	if c := child.SpanContext(); c.TraceID() != sc.TraceID() || c.SpanID() == sc.SpanID() {
		t.Fatalf("child %+v of %+v", c, sc)
	}
	_, root := tr.Start(ctx, "root", trace.WithNewRoot())
	if r := root.SpanContext(); r.TraceID() == sc.TraceID() || !r.IsValid() || r.IsSampled() {
		t.Fatalf("new root %+v: want a new valid unsampled trace", r)
	}
}

func TestPropagatingStartsUnsampledTraces(t *testing.T) {
	tr := Propagating().Tracer("test")
	seen := map[trace.TraceID]bool{}
	for range 100 {
		_, span := tr.Start(context.Background(), "page")
		sc := span.SpanContext()
		if !sc.IsValid() || sc.IsSampled() || seen[sc.TraceID()] {
			t.Fatalf("new trace %+v: want valid, unsampled and unique", sc)
		}
		seen[sc.TraceID()] = true
	}
}

func TestNoExporterMeansNoSDK(t *testing.T) {
	tp, err := NewTracerProvider(context.Background(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(leanProvider); !ok {
		t.Fatalf("without OTLP configured got %T, want the propagating provider", tp)
	}
	tp, err = NewTracerProvider(context.Background(), func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			return "http://127.0.0.1:1"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	if _, ok := tp.(leanProvider); ok {
		t.Fatal("with OTLP configured got the propagating provider")
	}
}
