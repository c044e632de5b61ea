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

// NewTracerProvider returns the SDK tracer provider pagebff records spans
// with. Spans are always made, so an incoming traceparent is continued and
// a traceparent goes downstream; they are exported over OTLP/HTTP only when
// the OTEL_ environment asks for it (OTLPRequested), configured by the
// exporter's own OTEL_EXPORTER_OTLP_* variables (read from the process
// environment; the exporter speaks OTLP over HTTP, whatever
// OTEL_EXPORTER_OTLP_PROTOCOL says). Call Shutdown on the provider to flush.
func NewTracerProvider(ctx context.Context, getenv func(string) string) (*sdktrace.TracerProvider, error) {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(serviceName(getenv)))),
	}
	if OTLPRequested(getenv) {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	} else {
		// Nothing is exported: don't claim "sampled" downstream for traces
		// we start, but pass an incoming decision on.
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

func serviceName(getenv func(string) string) string {
	if n := getenv("OTEL_SERVICE_NAME"); n != "" {
		return n
	}
	return "pagebff"
}
