package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v5"
)

// apiError is an error with the status and the message the client sees.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string   { return e.msg }
func (e *apiError) StatusCode() int { return e.status }

func badRequest(msg string) error { return &apiError{status: http.StatusBadRequest, msg: msg} }

// handleError is Echo's HTTPErrorHandler: the one place errors become
// statuses. The client gets {"error": "<plain message>"} and the request id
// in X-Request-Id; detail of unexpected errors goes to the log only.
func (s *Server) handleError(c *echo.Context, err error) {
	if r, _ := echo.UnwrapResponse(c.Response()); r != nil && r.Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "internal error"
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		status, msg = ae.status, ae.msg
	case echo.StatusCode(err) != 0:
		status = echo.StatusCode(err)
		msg = publicText(status)
	}
	attrs := []slog.Attr{slog.String("request_id", requestIDOf(c)), slog.String("method", c.Request().Method),
		slog.String("path", c.Request().URL.Path), slog.Int("status", status)}
	switch {
	case status >= 500 && ae == nil:
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed", append(attrs, slog.Any("error", err))...)
	case status == http.StatusServiceUnavailable:
		s.log.LogAttrs(c.Request().Context(), slog.LevelWarn, "request shed", attrs...)
	default:
		s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request rejected", append(attrs, slog.String("error", msg))...)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, map[string]string{"error": msg})
	}
	if err != nil {
		s.log.Debug("write error response", slog.Any("error", err))
	}
}

// methodNotAllowed answers 405 with an Allow header listing the path's
// methods, OPTIONS left out since it is not served.
func methodNotAllowed(c *echo.Context) error {
	if allow, _ := c.Get(echo.ContextKeyHeaderAllow).(string); allow != "" {
		methods := strings.Split(allow, ", ")
		methods = slices.DeleteFunc(methods, func(m string) bool { return m == http.MethodOptions })
		c.Response().Header().Set(echo.HeaderAllow, strings.Join(methods, ", "))
	}
	return echo.ErrMethodNotAllowed
}

func publicText(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not found"
	case http.StatusMethodNotAllowed:
		return "method not allowed"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "error"
}
