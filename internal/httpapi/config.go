package httpapi

import (
	"errors"
	"net"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// Config holds the HTTP server's settings.
type Config struct {
	// Addr is the listen address, host:port (host may be empty).
	Addr string
	// MaxInflight is how many page requests may run at once; the next one is
	// answered 503 with Retry-After at once.
	MaxInflight int
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after the server stops accepting.
	ShutdownTimeout time.Duration
	// DrainDelay is how long the server keeps serving after SIGTERM, with
	// /readyz answering 503, so load balancers stop sending traffic first.
	DrainDelay time.Duration
	// AdminToken, when set, is required as "Authorization: Bearer <token>"
	// on /admin/*.
	AdminToken string
}

// Validate reports every invalid field at once, keyed relative to the server
// block.
func (c Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		errs = append(errs, bff.Invalid("addr", c.Addr, `a listen address host:port, such as ":8080" or "127.0.0.1:8080"`))
	}
	if c.MaxInflight < 1 {
		errs = append(errs, bff.Invalid("max_inflight", c.MaxInflight, "a whole number of at least 1"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, bff.Invalid("shutdown_timeout", c.ShutdownTimeout.String(), "a positive duration such as 10s"))
	}
	if c.DrainDelay < 0 {
		errs = append(errs, bff.Invalid("drain_delay", c.DrainDelay.String(), "a duration of 0s or more"))
	}
	return errors.Join(errs...)
}
