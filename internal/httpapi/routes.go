package httpapi

import "github.com/labstack/echo/v5/middleware"

// routes registers the whole API.
func (s *Server) routes() {
	s.echo.Pre(s.requestID)
	s.echo.Use(middleware.Recover())

	s.echo.GET("/v1/pages/home", s.handlePage(), s.limitInflight)
	s.echo.HEAD("/v1/pages/home", s.handlePage(), s.limitInflight)
	s.echo.GET("/healthz", s.handleHealthz)
	s.echo.HEAD("/healthz", s.handleHealthz)
	s.echo.GET("/readyz", s.handleReadyz)
	s.echo.HEAD("/readyz", s.handleReadyz)
}
