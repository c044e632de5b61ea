package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/labstack/echo/v5"

	"github.com/pagebff/pagebff/internal/page"
)

// Renderer renders a page; *page.Assembler is one. The app hands in a
// renderer that always uses the current configuration.
type Renderer interface {
	Render(ctx context.Context, userID, requestID string) page.Page
}

// Server is pagebff's HTTP handler. Create it with New; it is safe for
// concurrent use.
type Server struct {
	cfg      Config
	pages    Renderer
	log      *slog.Logger
	echo     *echo.Echo
	ready    atomic.Bool
	inflight atomic.Int64
}

var _ http.Handler = (*Server)(nil)

// New returns a Server that renders pages with pages and logs one line per
// page request to log. It starts not ready; call SetReady(true) once it may
// take traffic.
func New(cfg Config, pages Renderer, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, pages: pages, log: log}
	s.echo = echo.NewWithConfig(echo.Config{
		Logger:           log,
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

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// SetReady sets what /readyz answers: 200 when true, 503 when false.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Inflight returns how many page requests are being served.
func (s *Server) Inflight() int64 { return s.inflight.Load() }
