package httpapi

import (
	"github.com/labstack/echo/v5"

	"github.com/pagebff/pagebff/internal/auth"
)

// SetAuth makes the page routes require a token verified by v (auth.mode
// jwt), passing the Authorization header on to the services when forward;
// a nil v goes back to auth.mode none. A reload calls it with the new
// verifier; pages already past the check keep the one they had.
func (s *Server) SetAuth(v *auth.Verifier, forward bool) {
	if v == nil {
		s.authed.Store(nil)
		return
	}
	h := auth.Middleware(v, forward)(s.page) // composed once, not per request
	s.authed.Store(&h)
}

// servePage serves a page, behind the token check when there is one.
func (s *Server) servePage(c *echo.Context) error {
	if h := s.authed.Load(); h != nil {
		return (*h)(c)
	}
	return s.page(c)
}
