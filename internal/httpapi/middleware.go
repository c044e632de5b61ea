package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

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

// measure counts every request by route template, method and status (page
// latency is bff_page_duration_seconds, observed by the page handler).
// Unmatched paths share one route label, so scanners cannot blow up the
// label set.
func (s *Server) measure(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		err := next(c)
		_, status := echo.ResolveResponseStatus(c.Response(), err)
		route := c.Path()
		// RouteInfo copies; only 404s need it, to tell "no route" apart.
		if route == "" || status == http.StatusNotFound && c.RouteInfo().Name == echo.NotFoundRouteName {
			route = "unmatched"
		}
		s.deps.Metrics.HTTPRequests.WithLabelValues(route, methodLabel(c.Request().Method), strconv.Itoa(status)).Inc()
		return err
	}
}

// methodLabel bounds the method label: net/http accepts any token as a
// method, and a scanner must not be able to mint series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	default:
		return "other"
	}
}

// limitInflight sheds page requests beyond server.max_inflight with 503 and
// Retry-After, before any downstream call.
func (s *Server) limitInflight(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		defer s.inflight.Add(-1)
		if s.inflight.Add(1) > int64(s.config().MaxInflight) {
			s.deps.Metrics.PagesShed.Inc()
			c.Response().Header().Set("Retry-After", "1")
			return &apiError{status: http.StatusServiceUnavailable, msg: "too many requests in flight; retry shortly"}
		}
		return next(c)
	}
}

// rejectBody answers 400 at once to a GET or HEAD that announces a body.
// A page never needs one, and waiting for it is an attack: a request
// declaring "Content-Length: 1" that never sends the byte used to block the
// handler at its flush (net/http reads an unread body before answering on a
// connection it keeps) and hold a page slot forever; ten thousand of them
// filled server.max_inflight. The body is never read: the answer closes the
// connection, and reading stops now, so nothing waits for the client.
func rejectBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		r := c.Request()
		if r.ContentLength == 0 || r.Method != http.MethodGet && r.Method != http.MethodHead {
			return next(c)
		}
		c.Response().Header().Set("Connection", "close")
		_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Now())
		return badRequest("a " + r.Method + " request must not have a body")
	}
}

// requireToken guards /admin/*: when admin.token is set, a request needs
// "Authorization: Bearer <token>", compared in constant time. Without a
// token, admin endpoints answer only on a loopback admin.addr: nobody else
// may read them unauthenticated.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		cfg := s.config()
		token := cfg.AdminToken
		if token == "" {
			if s.admin != nil && IsLoopback(cfg.AdminAddr) {
				return next(c)
			}
			return &apiError{status: http.StatusForbidden,
				msg: "admin endpoints are off: set admin.token, or admin.addr to a loopback address such as 127.0.0.1:9090"}
		}
		scheme, got, _ := strings.Cut(c.Request().Header.Get("Authorization"), " ")
		// Digests have one length whatever the token, so the comparison
		// leaks neither its bytes nor its length.
		want, have := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(got))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="pagebff admin"`)
			return &apiError{status: http.StatusUnauthorized, msg: "admin endpoints need Authorization: Bearer <admin.token>"}
		}
		return next(c)
	}
}

// IsLoopback reports whether the listen address addr (host:port) accepts
// connections from this machine only: its host is a loopback IP or
// "localhost". An empty host listens on every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// requireConfiguredToken refuses the admin actions while no admin.token is
// configured: forcing a breaker must never be open to anyone.
func (s *Server) requireConfiguredToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if s.config().AdminToken == "" {
			return &apiError{status: http.StatusForbidden, msg: "admin actions are off: set admin.token to use them"}
		}
		return next(c)
	}
}
