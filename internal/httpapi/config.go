package httpapi

import (
	"errors"
	"fmt"
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
	// AdminAddr, when set, is a separate listen address for /admin/* and
	// /metrics, which the public listener then no longer serves. Without a
	// token, admin GETs answer only when AdminAddr is a loopback address.
	AdminAddr string

	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers included.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the response; it must exceed the page deadline.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's header bytes; more is answered 431.
	MaxHeaderBytes int
	// MaxConns caps the client connections open at once; beyond it the
	// listener stops accepting and the kernel queues new connections. 0
	// means auto: sized from the process's open-file limit (see
	// AutoMaxConns).
	MaxConns int

	// TrustIncomingTrace continues an incoming W3C traceparent and passes
	// tracestate on; false starts a new trace at the edge.
	TrustIncomingTrace bool
}

// Validate reports every invalid server field at once, keyed relative to the
// server block. AdminToken, AdminAddr and TrustIncomingTrace live under other
// blocks and are checked by the config package.
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
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"read_header_timeout", c.ReadHeaderTimeout}, {"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, bff.Invalid(d.key, d.v.String(), "a positive duration such as 10s"))
		}
	}
	if c.ReadTimeout > 0 && c.ReadHeaderTimeout > c.ReadTimeout {
		errs = append(errs, bff.Invalid("read_header_timeout", c.ReadHeaderTimeout.String(),
			fmt.Sprintf("a duration no longer than server.read_timeout (%s)", c.ReadTimeout)))
	}
	if c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 1<<20 {
		errs = append(errs, bff.Invalid("max_header_bytes", c.MaxHeaderBytes, "a number of bytes from 1024 to 1048576"))
	}
	if c.MaxConns < 0 {
		errs = append(errs, bff.Invalid("max_conns", c.MaxConns, "0 (auto: from the open-file limit) or a positive number"))
	}
	return errors.Join(errs...)
}
