package httpapi

import (
	"github.com/labstack/echo/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/labstack/echo/v5"
)

// routes registers the whole API. With admin.addr set, /metrics and
// /admin/* are on the admin listener only.
func (s *Server) routes() {
	for _, e := range []*echo.Echo{s.echo, s.admin} {
		if e == nil {
			continue
		}
		e.Pre(s.requestID, rejectBody)
		e.Use(s.measure, middleware.Recover())
		e.GET("/healthz", s.handleHealthz)
		e.HEAD("/healthz", s.handleHealthz)
		e.GET("/readyz", s.handleReadyz)
		e.HEAD("/readyz", s.handleReadyz)
	}
	// Shedding first: a token check (and a bounded key refetch) holds a
	// page slot like the page does.
	s.page = s.handlePage()
	s.echo.GET("/v1/pages/home", s.servePage, s.limitInflight)
	s.echo.HEAD("/v1/pages/home", s.servePage, s.limitInflight)

	ops := s.echo
	if s.admin != nil {
		ops = s.admin
	}
	ops.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.deps.Metrics.Registry, promhttp.HandlerOpts{})))
	if s.deps.Admin != nil {
		admin := ops.Group("/admin", s.requireToken)
		admin.GET("/breakers", s.handleBreakers)
		admin.POST("/breakers/:service/:action", s.handleBreakerAction, s.requireConfiguredToken)
		admin.GET("/debug/pprof/*", handlePprof, s.requireConfiguredToken)
	}
}
