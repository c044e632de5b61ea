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
		s.auth.Store(nil)
		return
	}
	mw := auth.Middleware(v, forward)
	s.auth.Store(&mw)
}

// authenticate runs the current auth middleware, if any, before next.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		mw := s.auth.Load()
		if mw == nil {
			return next(c)
		}
		return (*mw)(next)(c)
	}
}
