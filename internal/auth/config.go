package auth

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/pagebff/pagebff/internal/bff"
)

// The modes of auth.mode.
const (
	ModeNone = "none" // user_id comes from the query string, unchecked
	ModeJWT  = "jwt"  // /v1/pages/* needs a verified bearer token
)

// Bounds the configuration must respect.
const (
	minJWKSRefresh = 10 * time.Second
	maxLeeway      = 5 * time.Minute
)

// Config holds the auth block's settings.
type Config struct {
	// Mode is ModeNone or ModeJWT.
	Mode string
	// JWKSURL is where the key set is fetched from: at start, every
	// JWKSRefresh, and on a token with an unknown kid at most once per 10s.
	// Userinfo in it is sent as basic auth and never shown.
	JWKSURL string
	// JWKSFile is a key set read once at start. With JWKSURL too, the keys
	// of both are accepted.
	JWKSFile string
	// JWKSRefresh is how often JWKSURL is fetched again; a failed fetch
	// keeps the last good keys.
	JWKSRefresh time.Duration
	// Issuer, when set, must equal a token's iss.
	Issuer string
	// Audience, when set, must be one of a token's aud.
	Audience string
	// UserClaim names the claim holding the user id.
	UserClaim string
	// Leeway is the clock skew allowed when checking exp and nbf.
	Leeway time.Duration
	// ForwardToken passes the incoming Authorization header on to the
	// services (mode jwt only).
	ForwardToken bool
}

// Default returns the defaults: mode none, a refresh every 5m, a leeway
// of 30s, the user id in sub, nothing forwarded.
func Default() Config {
	return Config{Mode: ModeNone, JWKSRefresh: 5 * time.Minute, UserClaim: "sub", Leeway: 30 * time.Second}
}

// Validate reports every invalid field at once, keyed relative to the auth
// block. Only mode jwt needs a key source, and only then is jwks_file read
// and parsed.
func (c Config) Validate() error {
	var errs []error
	switch c.Mode {
	case ModeNone, ModeJWT:
	default:
		errs = append(errs, bff.Invalid("mode", c.Mode, `"none" or "jwt"`))
	}
	if c.JWKSURL != "" {
		if _, err := parseJWKSURL(c.JWKSURL); err != nil {
			errs = append(errs, bff.Invalid("jwks_url", redactURL(c.JWKSURL), "an absolute http:// or https:// URL"))
		}
	}
	if c.Mode == ModeJWT {
		if c.JWKSURL == "" && c.JWKSFile == "" {
			errs = append(errs, bff.Invalid("jwks_url", nil, "a JWKS URL, or auth.jwks_file, when auth.mode is jwt"))
		}
		if c.JWKSFile != "" {
			if _, err := readJWKSFile(c.JWKSFile); err != nil {
				errs = append(errs, bff.Invalid("jwks_file", c.JWKSFile, "a readable file holding a JWK set with a usable signing key ("+err.Error()+")"))
			}
		}
	}
	if c.JWKSRefresh < minJWKSRefresh {
		errs = append(errs, bff.Invalid("jwks_refresh", c.JWKSRefresh.String(), "a duration of at least 10s, such as 5m"))
	}
	if c.Leeway < 0 || c.Leeway > maxLeeway {
		errs = append(errs, bff.Invalid("leeway", c.Leeway.String(), "a duration from 0s to 5m, such as 30s"))
	}
	if strings.TrimSpace(c.UserClaim) == "" {
		errs = append(errs, bff.Invalid("user_claim", c.UserClaim, "a claim name such as sub"))
	}
	return errors.Join(errs...)
}

// Warnings returns what is valid but probably unwise, for the caller to
// log: mode jwt without an issuer or an audience, keys fetched over plain
// http from another host, a forward_token that has nothing to forward.
func (c Config) Warnings() []string {
	var w []string
	if c.Mode != ModeJWT {
		if c.ForwardToken {
			w = append(w, "auth.forward_token has no effect while auth.mode is none: nothing is forwarded")
		}
		return w
	}
	if c.Issuer == "" {
		w = append(w, "auth.issuer is not set: tokens from any issuer signed by these keys are accepted")
	}
	if c.Audience == "" {
		w = append(w, "auth.audience is not set: tokens for any audience signed by these keys are accepted")
	}
	if u, err := parseJWKSURL(c.JWKSURL); err == nil && u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		w = append(w, "auth.jwks_url uses plain http: whoever sits on the path can swap the keys")
	}
	return w
}

// parseJWKSURL accepts an absolute http(s) URL with a host.
func parseJWKSURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("not an absolute http(s) URL")
	}
	return u, nil
}

// redactURL returns s without its userinfo, for logs and errors.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// maxJWKSBytes bounds a key set, fetched or read: real ones are a few KiB.
const maxJWKSBytes = 1 << 20

// readJWKSFile reads and parses a key set file and checks it holds at least
// one key this package can verify with.
func readJWKSFile(path string) (jwk.Set, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the key's value
		}
		return nil, fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(buf) > maxJWKSBytes {
		return nil, errors.New("larger than 1 MiB")
	}
	return parseKeySet(buf)
}
