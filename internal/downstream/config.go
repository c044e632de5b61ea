package downstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/downstream/h1"
)

// Config describes one downstream service. The zero value is not usable; start
// from the defaults that internal/config fills in.
type Config struct {
	// Name is the section name, e.g. "user".
	Name string
	// URL is the base URL, e.g. "http://user:8080" or "http://gw/user-svc";
	// a path prefix is kept and Path is appended to it.
	URL string
	// Path is the request path template; "{user_id}" is replaced by the
	// path-escaped user id.
	Path string
	// Timeout bounds the whole call: connecting, headers and the whole body.
	Timeout time.Duration
	// MaxBody is the largest body accepted, in bytes; a longer one is a
	// bad_response and is read no further.
	MaxBody int64
	// MaxJSONDepth is the deepest nesting of arrays and objects accepted in
	// a body; deeper is a bad_response.
	MaxJSONDepth int
	// FollowRedirects follows a 3xx to the same scheme and host, at most
	// MaxRedirects times, without a Referer. false answers a 3xx as
	// upstream_status.
	FollowRedirects bool
	// IdentityField, when set, names a top-level field of a user-scoped
	// answer (a Path with {user_id}) that must equal the requested user id;
	// an answer naming another user is a bad_response and is never cached.
	IdentityField string
	// Pool, if not nil, is the connection pool to use (see NewPool): the app
	// shares one per service across the clients its reloads build. It is
	// not set from the config file.
	Pool *h1.Client
	// Dial, if not nil, replaces the dialer of a pool NewPool makes (for
	// tests). It is not set from the config file.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Transport, if not nil, replaces the client's own tuned transport. It
	// is for tests and benchmarks; the config file cannot set it.
	Transport http.RoundTripper
}

// Validate reports every invalid field at once as *bff.FieldError values keyed
// relative to the service ("timeout", "url", ...). An empty URL is not an
// error here: whether one is required depends on how pagebff is started.
func (c Config) Validate() error {
	var errs []error
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, bff.Invalid("url", c.URL, "an absolute http:// or https:// URL"))
		} else if u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, bff.Invalid("url", c.URL, "a base URL without query or fragment"))
		}
	}
	if !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, bff.Invalid("path", c.Path, `a path starting with "/", e.g. "/users/{user_id}"`))
	} else if rest := strings.ReplaceAll(c.Path, "{user_id}", ""); strings.ContainsAny(rest, "{}?#") {
		errs = append(errs, bff.Invalid("path", c.Path, `a path whose only placeholder is {user_id}, without query or fragment`))
	}
	if c.Timeout <= 0 {
		errs = append(errs, bff.Invalid("timeout", c.Timeout.String(), "a positive duration such as 300ms"))
	}
	if c.MaxBody <= 0 {
		errs = append(errs, bff.Invalid("max_body", c.MaxBody, "a positive number of bytes"))
	}
	if c.MaxJSONDepth < 1 || c.MaxJSONDepth > 10000 {
		errs = append(errs, bff.Invalid("max_json_depth", c.MaxJSONDepth, "a whole number from 1 to 10000"))
	}
	return errors.Join(errs...)
}
