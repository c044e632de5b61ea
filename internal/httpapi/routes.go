package httpapi

import (
	"github.com/labstack/echo/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/labstack/echo/v5"
)

// routes registers the whole API.
func (s *Server) routes() {
	s.echo.Pre(s.requestID)
	s.echo.Use(s.measure, middleware.Recover())

	s.echo.GET("/v1/pages/home", s.handlePage(), s.limitInflight)
	s.echo.HEAD("/v1/pages/home", s.handlePage(), s.limitInflight)
	s.echo.GET("/healthz", s.handleHealthz)
	s.echo.HEAD("/healthz", s.handleHealthz)
	s.echo.GET("/readyz", s.handleReadyz)
	s.echo.HEAD("/readyz", s.handleReadyz)
	s.echo.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.deps.Metrics.Registry, promhttp.HandlerOpts{})))

	if s.deps.Admin != nil {
		admin := s.echo.Group("/admin", s.requireToken)
		admin.GET("/breakers", s.handleBreakers)
		admin.POST("/breakers/:service/:action", s.handleBreakerAction, s.requireConfiguredToken)
	}
}
