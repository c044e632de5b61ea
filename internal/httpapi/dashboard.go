package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"
)

// Dashboard is the live page at GET /admin/dashboard; *dashboard.Handler is
// one. Its handlers do not check the admin token: the routes do.
type Dashboard interface {
	// ServePage serves the HTML, which holds no data: it is served without
	// the token, so that it can ask for it.
	ServePage(w http.ResponseWriter, r *http.Request)
	// ServeAsset serves the page's script and style, named by the path's
	// last element.
	ServeAsset(w http.ResponseWriter, r *http.Request)
	// ServeStream serves text/event-stream, an event a second, until the
	// request's context ends.
	ServeStream(w http.ResponseWriter, r *http.Request)
	// ServeJSON serves the latest figures and their history, for polling.
	ServeJSON(w http.ResponseWriter, r *http.Request)
}

// SetDashboard serves d beside /admin/*, on the same listener (the admin
// listener with admin.addr): the page and its assets without the token,
// the stream and the JSON behind requireToken like every /admin route. Call
// it once, before serving; without an Admin (Deps.Admin nil) there is no
// /admin and it does nothing.
//
// The routes are registered here rather than in routes(), since they need
// d, which New does not have.
func (s *Server) SetDashboard(d Dashboard) {
	if s.deps.Admin == nil || d == nil {
		return
	}
	ops := s.echo
	if s.admin != nil {
		ops = s.admin
	}
	s.dashboardRoutes(ops, ops.Group("/admin", s.requireToken), d)
}

// dashboardRoutes registers the dashboard on ops, the listener of /admin,
// and admin, its token-guarded group.
func (s *Server) dashboardRoutes(ops *echo.Echo, admin *echo.Group, d Dashboard) {
	ops.GET("/admin/dashboard", echo.WrapHandler(http.HandlerFunc(d.ServePage)))
	ops.GET("/admin/dashboard/dashboard.js", echo.WrapHandler(http.HandlerFunc(d.ServeAsset)))
	ops.GET("/admin/dashboard/dashboard.css", echo.WrapHandler(http.HandlerFunc(d.ServeAsset)))
	admin.GET("/dashboard/stream", s.handleDashboardStream(d))
	admin.GET("/dashboard.json", echo.WrapHandler(http.HandlerFunc(d.ServeJSON)))
}

// drainPoll is how often an open stream checks whether the server is
// ready; notReadyStream is how long a stream lasts while it is not.
const (
	drainPoll      = 100 * time.Millisecond
	notReadyStream = time.Second
)

// handleDashboardStream serves the dashboard's stream while the server is
// ready. http.Server.Shutdown waits for connections to go idle, which a
// stream never does, so an open dashboard would hold every shutdown for
// shutdown_timeout and end in the "cut off" error: a stream ends at once
// when readiness turns off (SIGTERM), and one started while the server is
// not ready ends after a second, its first event sent. The page
// reconnects (to another instance, behind a balancer).
func (s *Server) handleDashboardStream(d Dashboard) echo.HandlerFunc {
	return func(c *echo.Context) error {
		r := c.Request()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go s.endStreamWhenNotReady(ctx, cancel)
		d.ServeStream(c.Response(), r.WithContext(ctx))
		return nil
	}
}

// endStreamWhenNotReady calls cancel when the server stops being ready, or
// once it has not been for notReadyStream; it returns when ctx ends.
func (s *Server) endStreamWhenNotReady(ctx context.Context, cancel context.CancelFunc) {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	wasReady, notReady := s.ready.Load(), time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch ready := s.ready.Load(); {
		case ready:
			wasReady, notReady = true, 0
		case wasReady:
			cancel()
			return
		default:
			if notReady += drainPoll; notReady >= notReadyStream {
				cancel()
				return
			}
		}
	}
}
