package httpapi

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pagebff/pagebff/internal/page"
)

// MaxUserIDLen is the longest user_id accepted.
const MaxUserIDLen = 128

// ValidUserID reports whether id matches ^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$.
func ValidUserID(id string) bool {
	if len(id) == 0 || len(id) > MaxUserIDLen || !isAlnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '@' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

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
		switch {
		case userID == "":
			return badRequest("user_id is required")
		case !ValidUserID(userID):
			return badRequest("user_id must be 1 to 128 characters from A-Z a-z 0-9 . _ @ : - and start with a letter or digit")
		}
		id := requestIDOf(c)
		ctx := c.Request().Context()
		p := s.pages.Render(ctx, userID, id)

		h := c.Response().Header()
		h["Server-Timing"] = []string{p.ServerTiming()}
		h["Cache-Control"] = []string{"no-store"}
		err = c.JSONBlob(http.StatusOK, p.Body)
		s.logPage(c, userID, p, time.Since(start), ctx.Err() != nil)
		return err
	}
}

func (s *Server) logPage(c *echo.Context, userID string, p page.Page, d time.Duration, clientGone bool) {
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs,
		slog.String("request_id", requestIDOf(c)),
		slog.String("user_id", userID),
		slog.Int("status", http.StatusOK),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Bool("degraded", p.Degraded),
		slog.Bool("client_gone", clientGone),
	)
	sections := make([]any, 0, len(p.Sections))
	for _, o := range p.Sections {
		sec := []any{slog.String("status", o.Status()), slog.Float64("latency_ms", float64(o.Latency.Microseconds())/1000)}
		if o.Err == nil || o.Stale {
			sec = append(sec, slog.String("source", o.Source.String()))
		}
		if o.Err != nil {
			sec = append(sec, slog.String("code", o.Code.String()), slog.String("error", o.Err.Error()))
		}
		sections = append(sections, slog.Group(o.Name, sec...))
	}
	attrs = append(attrs, slog.Group("sections", sections...))
	level := slog.LevelInfo
	if p.Degraded {
		level = slog.LevelWarn
	}
	s.log.LogAttrs(c.Request().Context(), level, "page", attrs...)
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
