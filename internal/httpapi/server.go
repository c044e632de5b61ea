package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/pagebff/pagebff/internal/observability"
	"github.com/pagebff/pagebff/internal/page"
)

// Renderer renders a page; *page.Assembler is one. The app hands in a
// renderer that always uses the current configuration.
type Renderer interface {
	Render(ctx context.Context, userID, requestID string) page.Page
}

// Admin is what /admin/* shows and does.
type Admin interface {
	// Breakers returns the JSON view of every service's breaker, hedging
	// and cache figures.
	Breakers() any
	// BreakerAction forces a service's breaker "open" or "closed", or
	// "reset"s it. It returns ErrUnknownService or ErrUnknownAction.
	BreakerAction(service, action string) error
}

// Errors an Admin returns.
var (
	ErrUnknownService = errors.New("unknown service")
	ErrUnknownAction  = errors.New("unknown action")
)

// Deps are what a Server serves with. Pages, Log and Metrics are required;
// a nil Tracer makes no spans; a nil Admin serves no /admin routes.
type Deps struct {
	Pages   Renderer
	Admin   Admin
	Log     *slog.Logger
	Metrics *observability.Metrics
	Tracer  trace.Tracer
}

// Server is pagebff's HTTP handler. Create it with New; it is safe for
// concurrent use, and Configure may change its settings while it serves.
type Server struct {
	cfg      atomic.Pointer[Config]
	page     echo.HandlerFunc                 // the page handler, without authentication
	authed   atomic.Pointer[echo.HandlerFunc] // page behind auth.mode jwt's check; nil: mode none (SetAuth)
	deps     Deps
	log      *slog.Logger
	echo     *echo.Echo
	admin    *echo.Echo // the admin listener's routes; nil without admin.addr
	ready    atomic.Bool
	inflight atomic.Int64

	homeDuration prometheus.Observer // bff_page_duration_seconds{page="home"}
}

var _ http.Handler = (*Server)(nil)

// New returns a Server. It starts not ready; call SetReady(true) once it may
// take traffic.
func New(cfg Config, deps Deps) *Server {
	if deps.Tracer == nil {
		deps.Tracer = noop.NewTracerProvider().Tracer("")
	}
	s := &Server{deps: deps, log: deps.Log, homeDuration: deps.Metrics.PageDuration.WithLabelValues("home")}
	s.cfg.Store(&cfg)
	s.echo = s.newEcho()
	if cfg.AdminAddr != "" {
		s.admin = s.newEcho()
	}
	s.routes()
	return s
}

// newEcho returns an Echo with pagebff's error handling and router rules.
func (s *Server) newEcho() *echo.Echo {
	return echo.NewWithConfig(echo.Config{
		Logger:           s.deps.Log,
		HTTPErrorHandler: s.handleError,
		Router: echo.NewRouter(echo.RouterConfig{
			// Echo answers OPTIONS itself with 204; the contract wants 405
			// for every method but GET and HEAD.
			OptionsMethodHandler:    methodNotAllowed,
			MethodNotAllowedHandler: methodNotAllowed,
		}),
	})
}

// AdminHandler returns the handler for the admin listener (admin.addr):
// /admin/*, /metrics and the health checks. It is nil when admin.addr is
// not set, and then the public handler serves /admin/* and /metrics.
func (s *Server) AdminHandler() http.Handler {
	if s.admin == nil {
		return nil
	}
	return s.admin
}

// Configure swaps in new settings: max_inflight, the admin token and
// tracing.trust_incoming apply to the next request. ShutdownTimeout and
// DrainDelay are read by the app when it stops; AdminAddr and the listener
// settings (Addr, timeouts, MaxHeaderBytes, MaxConns) only when it starts.
func (s *Server) Configure(cfg Config) { s.cfg.Store(&cfg) }

func (s *Server) config() *Config { return s.cfg.Load() }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// SetReady sets what /readyz answers: 200 when true, 503 when false.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Inflight returns how many page requests are being served.
func (s *Server) Inflight() int64 { return s.inflight.Load() }
