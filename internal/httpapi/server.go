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
	deps     Deps
	log      *slog.Logger
	echo     *echo.Echo
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
	s.echo = echo.NewWithConfig(echo.Config{
		Logger:           deps.Log,
		HTTPErrorHandler: s.handleError,
		Router: echo.NewRouter(echo.RouterConfig{
			// Echo answers OPTIONS itself with 204; the contract wants 405
			// for every method but GET and HEAD.
			OptionsMethodHandler:    methodNotAllowed,
			MethodNotAllowedHandler: methodNotAllowed,
		}),
	})
	s.routes()
	return s
}

// Configure swaps in new settings: max_inflight and the admin token apply
// to the next request. Addr, ShutdownTimeout and DrainDelay are read by the
// app when it serves and stops.
func (s *Server) Configure(cfg Config) { s.cfg.Store(&cfg) }

func (s *Server) config() *Config { return s.cfg.Load() }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// SetReady sets what /readyz answers: 200 when true, 503 when false.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Inflight returns how many page requests are being served.
func (s *Server) Inflight() int64 { return s.inflight.Load() }
