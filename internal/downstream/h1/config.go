package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultMaxIdleConns           = 1024
	DefaultIdleTimeout            = 90 * time.Second
	DefaultMaxResponseHeaderBytes = 64 << 10
	// DefaultMaxBody is the body limit of a Get whose maxBody is 0 or less.
	DefaultMaxBody = 10 << 20
)

// Config describes the one host a Client talks to. The zero value of each
// optional field picks the default named on it; negative numbers are
// invalid (see Validate).
type Config struct {
	// Scheme is "http" or "https".
	Scheme string
	// Host is the host:port dialled. It is also sent as the Host header and,
	// without its port, is the TLS server name.
	Host string
	// TLS configures https. nil means a default config; a config without
	// ServerName gets the host of Host. Either way the client offers only
	// "http/1.1" in ALPN. Ignored for http. The Client keeps its own clone.
	TLS *tls.Config
	// DialTimeout bounds dial and TLS handshake together; the Get's context
	// bounds them too. 0 means only the context does.
	DialTimeout time.Duration
	// MaxIdleConns is how many idle keep-alive connections are kept; a
	// connection finished while the pool is full is closed. 0 means
	// DefaultMaxIdleConns.
	MaxIdleConns int
	// IdleTimeout is how long a connection may sit idle and still be reused;
	// an older one is closed. 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxResponseHeaderBytes bounds the status line and header block of a
	// response (each 1xx response, the final one, and the chunked trailer
	// are bounded separately). 0 means DefaultMaxResponseHeaderBytes.
	MaxResponseHeaderBytes int
	// Dial opens a connection to addr on network ("tcp"). nil means a
	// net.Dialer. TLS, for https, is layered on top of what it returns.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Validate reports every problem with c at once, each prefixed with its
// field name.
func (c Config) Validate() error {
	var errs []error
	switch c.Scheme {
	case "http", "https":
	default:
		errs = append(errs, fmt.Errorf("scheme: %q, want \"http\" or \"https\"", c.Scheme))
	}
	if _, port, err := net.SplitHostPort(c.Host); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("host: %q, want host:port", c.Host))
	} else if strings.ContainsAny(c.Host, " \t\r\n/?#@") {
		errs = append(errs, fmt.Errorf("host: %q has a character not allowed in a Host header", c.Host))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("dial_timeout: %v, want 0 or more", c.DialTimeout))
	}
	if c.MaxIdleConns < 0 {
		errs = append(errs, fmt.Errorf("max_idle_conns: %d, want 0 or more", c.MaxIdleConns))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle_timeout: %v, want 0 or more", c.IdleTimeout))
	}
	if c.MaxResponseHeaderBytes < 0 {
		errs = append(errs, fmt.Errorf("max_response_header_bytes: %d, want 0 or more", c.MaxResponseHeaderBytes))
	}
	return errors.Join(errs...)
}
