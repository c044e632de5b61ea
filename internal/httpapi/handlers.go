package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/pagebff/pagebff/internal/auth"
	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/observability"
	"github.com/pagebff/pagebff/internal/page"
)

// ValidUserID reports whether id is a user_id the contract accepts; see
// bff.ValidUserID.
func ValidUserID(id string) bool { return bff.ValidUserID(id) }

// serverSpan are the options of a page's span, made once (a variadic list
// built per page is an allocation).
var serverSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// handlePage serves GET /v1/pages/home?user_id=...: always 200 with the
// assembled page once the input is valid.
func (s *Server) handlePage() echo.HandlerFunc {
	return func(c *echo.Context) error {
		start := time.Now()
		query, err := url.ParseQuery(c.Request().URL.RawQuery)
		if err != nil {
			return badRequest("malformed query string")
		}
		userID := query.Get("user_id")
		if verified, ok := auth.UserID(c.Request().Context()); ok {
			userID = verified // the middleware checked any user_id against it
		}
		switch {
		case userID == "":
			return badRequest("user_id is required")
		case !ValidUserID(userID):
			return badRequest("user_id must be 1 to 128 characters from A-Z a-z 0-9 . _ @ : - and start with a letter or digit")
		}
		id := requestIDOf(c)
		req := c.Request()
		ctx := req.Context()
		// An incoming traceparent (sampled flag included) and tracestate
		// are passed on as they came, unless told not to trust them.
		if s.config().TrustIncomingTrace {
			ctx = observability.Propagator.Extract(ctx, propagation.HeaderCarrier(req.Header))
		}
		if token, ok := auth.Token(ctx); ok {
			ctx = bff.WithAuthorization(ctx, token)
		}
		ctx, span := s.deps.Tracer.Start(ctx, "GET /v1/pages/home", serverSpan...)
		p := s.deps.Pages.Render(ctx, userID, id)
		if span.IsRecording() {
			// OpenTelemetry HTTP semantic conventions, then our own.
			span.SetAttributes(attribute.String("http.request.method", req.Method), attribute.String("http.route", c.Path()),
				attribute.Int("http.response.status_code", http.StatusOK), attribute.String("server.address", hostOnly(req.Host)),
				attribute.String("url.path", req.URL.Path),
				attribute.String("bff.request_id", id), attribute.String("bff.user_id", userID),
				attribute.Bool("bff.degraded", p.Degraded))
		}
		span.End()

		h := c.Response().Header()
		h["Server-Timing"] = []string{p.ServerTiming()}
		h["Cache-Control"] = []string{"no-store"}
		h["Content-Length"] = []string{strconv.Itoa(len(p.Body))}
		err = c.JSONBlob(http.StatusOK, p.Body)
		// Send the page before logging, so a slow log sink never holds the
		// client. Flush the writer under Echo's: echo.Response.Flush panics
		// when it cannot flush (a wrapping middleware, a test writer).
		if r, uerr := echo.UnwrapResponse(c.Response()); uerr == nil {
			_ = http.NewResponseController(r.ResponseWriter).Flush()
		}
		d := time.Since(start)
		s.record(p, d)
		s.logPage(req.Context(), id, span.SpanContext().TraceID(), userID, p, d)
		return err
	}
}

// hostOnly returns the host of a Host header, without its port.
func hostOnly(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return hostport
}

// record adds a page to the metrics.
func (s *Server) record(p page.Page, d time.Duration) {
	m := s.deps.Metrics
	s.homeDuration.Observe(d.Seconds())
	for _, o := range p.Sections {
		m.SectionDuration.WithLabelValues(o.Name).Observe(o.Latency.Seconds())
		code := o.Code.String()
		if code == "" {
			code = "none"
		}
		m.SectionOutcomes.WithLabelValues(o.Name, o.Status(), code).Inc()
	}
}

// logPage writes the page's log line. ctx is the request's: done when the
// client went away.
func (s *Server) logPage(ctx context.Context, requestID string, traceID trace.TraceID, userID string, p page.Page, d time.Duration) {
	level := slog.LevelInfo
	if p.Degraded {
		level = slog.LevelWarn
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	// Groups as slog.GroupValue of Attrs, in one array with the group
	// attributes (slog.Group's ...any would box each attribute): a few
	// allocations per line instead of dozens.
	const perSection = 6
	n := len(p.Sections)
	attrs := make([]slog.Attr, n, n*(1+perSection))
	sections, backing := attrs[:n:n], attrs[n:n]
	for i, o := range p.Sections {
		sec := backing[len(backing) : len(backing) : len(backing)+perSection]
		sec = append(sec, slog.String("status", o.Status()), slog.Float64("latency_ms", float64(o.Latency.Microseconds())/1000))
		if o.Err == nil || o.Stale {
			sec = append(sec, slog.String("source", o.Source.String()))
		}
		if o.Err != nil {
			sec = append(sec, slog.String("code", o.Code.String()), slog.String("error", o.Err.Error()))
		}
		if o.Attempts > 1 {
			sec = append(sec, slog.Int("attempts", int(o.Attempts)))
		}
		backing = backing[:len(backing)+perSection]
		sections[i] = slog.Attr{Key: o.Name, Value: slog.GroupValue(sec...)}
	}
	s.log.LogAttrs(ctx, level, "page",
		slog.String("request_id", requestID),
		slog.String("trace_id", traceID.String()),
		slog.String("user_id", userID),
		slog.Int("status", http.StatusOK),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Bool("degraded", p.Degraded),
		slog.Bool("client_gone", ctx.Err() != nil),
		slog.Attr{Key: "sections", Value: slog.GroupValue(sections...)},
	)
}

// handleBreakers shows every service's breaker, hedging and cache figures.
func (s *Server) handleBreakers(c *echo.Context) error {
	return c.JSON(http.StatusOK, s.deps.Admin.Breakers())
}

// handleBreakerAction forces a breaker open or closed, or resets it:
// POST /admin/breakers/{service}/{open|closed|reset}.
func (s *Server) handleBreakerAction(c *echo.Context) error {
	service, action := c.Param("service"), c.Param("action")
	switch err := s.deps.Admin.BreakerAction(service, action); {
	case errors.Is(err, ErrUnknownService):
		return &apiError{status: http.StatusNotFound, msg: "unknown service " + strconv.Quote(service)}
	case errors.Is(err, ErrUnknownAction):
		return badRequest("unknown action " + strconv.Quote(action) + "; want open, closed or reset")
	case err != nil:
		return err
	}
	s.log.Warn("breaker action", slog.String("request_id", requestIDOf(c)), slog.String("service", service), slog.String("action", action))
	return c.JSON(http.StatusOK, s.deps.Admin.Breakers())
}

// handleHealthz is liveness: 200 while the process serves.
func (s *Server) handleHealthz(c *echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz is readiness: 200 once configured, 503 while draining.
func (s *Server) handleReadyz(c *echo.Context) error {
	if !s.ready.Load() {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
