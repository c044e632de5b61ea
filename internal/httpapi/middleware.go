package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/pagebff/pagebff/internal/observability"
)

const (
	headerRequestID = "X-Request-Id"
	keyRequestID    = "request_id"
)

// requestID reuses a valid incoming X-Request-Id or generates one, stores it
// for the handlers and sets it on the response. It runs before routing, so
// 404s carry an id too.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		id := observability.RequestID(c.Request().Header.Get(headerRequestID))
		c.Set(keyRequestID, id)
		c.Response().Header()[headerRequestID] = []string{id}
		return next(c)
	}
}

func requestIDOf(c *echo.Context) string {
	id, _ := c.Get(keyRequestID).(string)
	return id
}

// limitInflight sheds page requests beyond server.max_inflight with 503 and
// Retry-After, before any downstream call.
func (s *Server) limitInflight(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		defer s.inflight.Add(-1)
		if s.inflight.Add(1) > int64(s.cfg.MaxInflight) {
			c.Response().Header().Set("Retry-After", "1")
			return &apiError{status: http.StatusServiceUnavailable, msg: "too many requests in flight; retry shortly"}
		}
		return next(c)
	}
}
