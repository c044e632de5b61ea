package observability

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Propagator carries W3C Trace Context (traceparent, tracestate) in and out.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// OTLPRequested reports whether the standard OpenTelemetry environment asks
// for OTLP trace export: an OTLP endpoint is set, or OTEL_TRACES_EXPORTER is
// "otlp"; and neither OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none.
func OTLPRequested(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch strings.ToLower(getenv("OTEL_TRACES_EXPORTER")) {
	case "none":
		return false
	case "otlp":
		return true
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// TracerProvider is a tracer provider to shut down at exit.
type TracerProvider interface {
	trace.TracerProvider
	// Shutdown flushes the spans not yet exported.
	Shutdown(ctx context.Context) error
}

// NewTracerProvider returns the tracer provider pagebff makes spans with.
// When the OTEL_ environment asks for export (OTLPRequested), it is the
// SDK's, exporting over OTLP/HTTP as configured by the exporter's own
// OTEL_EXPORTER_OTLP_* variables (read from the process environment; the
// exporter speaks OTLP over HTTP, whatever OTEL_EXPORTER_OTLP_PROTOCOL
// says), sampling as OTEL_TRACES_SAMPLER says. Otherwise nothing would keep
// a span, so none is recorded: the provider only carries trace context (an
// incoming traceparent is continued, its sampled flag passed on, and a
// traceparent goes downstream), at a fraction of the SDK's cost. Call
// Shutdown on the provider to flush.
func NewTracerProvider(ctx context.Context, getenv func(string) string) (TracerProvider, error) {
	if !OTLPRequested(getenv) {
		return Propagating(), nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(serviceName(getenv)))),
		sdktrace.WithBatcher(exp),
	), nil
}

func serviceName(getenv func(string) string) string {
	if n := getenv("OTEL_SERVICE_NAME"); n != "" {
		return n
	}
	return "pagebff"
}
