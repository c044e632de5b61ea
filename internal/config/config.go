package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pagebff/pagebff/internal/auth"
	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/cache"
	"github.com/pagebff/pagebff/internal/downstream"
	"github.com/pagebff/pagebff/internal/httpapi"
	"github.com/pagebff/pagebff/internal/page"
	"github.com/pagebff/pagebff/internal/resilience"
)

// Service is one section's resolved settings, defaults already applied.
type Service struct {
	// Name is the section name; it is also the section's JSON key.
	Name       string
	Downstream downstream.Config
	Breaker    resilience.BreakerConfig
	Hedge      resilience.HedgeConfig
	Retry      resilience.RetryConfig
	Budget     resilience.BudgetConfig
	Cache      cache.Config
}

// Config is pagebff's whole configuration. Build it with Default or Load.
type Config struct {
	// Server holds server.* and admin.token (as AdminToken).
	Server httpapi.Config
	Page   page.Config
	// Services holds the enabled services: user, catalog and activity first
	// (those that are enabled), then any others sorted by name.
	Services []Service
	// CacheBackend is cache.backend: "memory" or "redis".
	CacheBackend string
	// Redis holds the cache.redis_* keys, for the Redis backend.
	Redis Redis
	// Auth holds auth.*: where the user id comes from.
	Auth auth.Config
	// LogLevel is log.level: debug, info, warn or error.
	LogLevel string
	// Deprecated holds a line for each old key name the file or the
	// environment used, for the caller to log once.
	Deprecated []string
}

// Redis is the shared cache tier's connection (cache.redis_*).
type Redis struct {
	// URL is cache.redis_url: redis://[user:password@]host:port/db or
	// rediss://. It is a secret: never shown.
	URL           string
	Timeout       time.Duration // every command
	WriteInterval time.Duration // at most one write per key per interval, unless the value changed
	Prefix        string
}

// builtinServices are the services every configuration has unless one is
// switched off, in page order, with their default paths and identity
// fields.
var builtinServices = []struct{ name, path, identity string }{
	{"user", "/users/{user_id}", "id"},
	{"catalog", "/items", ""},
	{"activity", "/users/{user_id}/activity", ""},
}

// builtinPath returns the default path and identity field of a built-in
// service, or "" for any other name: an extra service has to set its own.
func builtinPath(name string) (path, identity string) {
	for _, b := range builtinServices {
		if b.name == name {
			return b.path, b.identity
		}
	}
	return "", ""
}

// Default returns the built-in configuration, the values documented in
// config/bff.yaml. The services have no URL.
func Default() Config {
	c := Config{
		Server: httpapi.Config{
			Addr:               ":8080",
			MaxInflight:        10000,
			ShutdownTimeout:    10 * time.Second,
			ReadHeaderTimeout:  5 * time.Second,
			ReadTimeout:        10 * time.Second,
			WriteTimeout:       15 * time.Second,
			IdleTimeout:        120 * time.Second,
			MaxHeaderBytes:     16 << 10,
			TrustIncomingTrace: true,
		},
		Page:         page.Config{Timeout: 500 * time.Millisecond},
		CacheBackend: "memory",
		Redis:        Redis{Timeout: 20 * time.Millisecond, WriteInterval: time.Second, Prefix: "pagebff:"},
		Auth:         auth.Default(),
		LogLevel:     "info",
	}
	for _, b := range builtinServices {
		c.Services = append(c.Services, defaultService().named(b.name, b.path, b.identity))
	}
	return c
}

// defaultService returns the per-service defaults, without name, URL or path.
func defaultService() Service {
	return Service{
		Downstream: downstream.Config{
			Timeout:      300 * time.Millisecond,
			MaxBody:      1 << 20,
			MaxJSONDepth: 64,
		},
		Breaker: resilience.BreakerConfig{
			ConsecutiveFailures: 5,
			FailureRatio:        0.5,
			MinRequests:         20,
			Interval:            10 * time.Second,
			OpenTimeout:         5 * time.Second,
			HalfOpenRequests:    1,
		},
		Hedge:  resilience.HedgeConfig{Enabled: true},
		Retry:  resilience.RetryConfig{MaxAttempts: 2, Backoff: 10 * time.Millisecond},
		Budget: resilience.BudgetConfig{Percent: 10, MinPerWindow: resilience.BudgetMinimum},
		Cache: cache.Config{Enabled: true, StaleTTL: 10 * time.Minute, Revalidate: 10 * time.Second,
			HonorCacheControl: true, MaxEntries: 100000, MaxBytes: 64 << 20},
	}
}

// named returns s as the service called name, with the given default path
// and identity field.
func (s Service) named(name, path, identity string) Service {
	s.Name = name
	s.Downstream.Name = name
	s.Downstream.Path = path
	s.Downstream.IdentityField = identity
	return s
}

// Validate reports every invalid value and relation at once, joined with
// errors.Join; each leaf is a *bff.FieldError keyed with the full dotted key.
// Unless demo is set, every service needs a URL.
func (c Config) Validate(demo bool) error {
	errs := []error{
		bff.PrefixKeys("server.", c.Server.Validate()),
		bff.PrefixKeys("page.", c.Page.Validate()),
		c.validateCacheBackend(),
		bff.PrefixKeys("auth.", c.Auth.Validate()),
		c.validateLogLevel(),
		c.validateAdminAddr(),
	}
	if w, p := c.Server.WriteTimeout, c.Page.Timeout; w > 0 && p > 0 && w <= p {
		errs = append(errs, bff.Invalid("server.write_timeout", w.String(),
			fmt.Sprintf("a duration longer than page.timeout (%s)", p)))
	}
	seen := make(map[string]bool)
	for _, s := range c.Services {
		if seen[s.Name] {
			errs = append(errs, bff.Invalid("services."+s.Name, s.Name, "each service name once"))
		}
		seen[s.Name] = true
		errs = append(errs, s.validate(c.Page.Timeout, demo))
	}
	return errors.Join(bff.Flatten(errors.Join(errs...))...)
}

func (c Config) validateCacheBackend() error {
	var errs []error
	if c.Redis.Timeout <= 0 || c.Redis.Timeout > time.Second {
		errs = append(errs, bff.Invalid("cache.redis_timeout", c.Redis.Timeout.String(), "a positive duration up to 1s, such as 20ms"))
	}
	if c.Redis.WriteInterval <= 0 {
		errs = append(errs, bff.Invalid("cache.redis_write_interval", c.Redis.WriteInterval.String(), "a positive duration such as 1s"))
	}
	if c.CacheBackend == "redis" && c.Redis.Timeout > 0 {
		// A fresh lookup in Redis comes before the live call, within the
		// same page deadline.
		for _, s := range c.Services {
			if t := s.Downstream.Timeout; t < c.Page.Timeout && c.Redis.Timeout+t >= c.Page.Timeout { // (a timeout over page.timeout is told on its own key)
				errs = append(errs, bff.Invalid("cache.redis_timeout", c.Redis.Timeout.String(),
					fmt.Sprintf("a duration that leaves room for services.%s.timeout (%s) within page.timeout (%s)", s.Name, t, c.Page.Timeout)))
				break
			}
		}
	}
	switch c.CacheBackend {
	case "memory":
	case "redis":
		if err := validRedisURL(c.Redis.URL); err != "" {
			errs = append(errs, bff.Invalid("cache.redis_url", c.Redis.URL, err))
		}
	default:
		errs = append(errs, bff.Invalid("cache.backend", c.CacheBackend, `"memory" or "redis"`))
	}
	return errors.Join(errs...)
}

// validRedisURL says what is wrong with a cache.redis_url ("" if nothing),
// without repeating any of it (the error's value is shown without its
// userinfo: see redactErrors).
func validRedisURL(raw string) string {
	const want = "redis://[user:password@]host:port/db or rediss:// for TLS"
	if raw == "" {
		return "set for cache.backend: redis (" + want + ")"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "a URL: " + want
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return "a redis:// or rediss:// URL"
	case u.Hostname() == "":
		return "a URL with a host: " + want
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return "a database number after the host, such as /0"
		}
	}
	return ""
}

func (c Config) validateAdminAddr() error {
	if c.Server.AdminAddr == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(c.Server.AdminAddr); err != nil || port == "" {
		return bff.Invalid("admin.addr", c.Server.AdminAddr, `"" (admin on the public listener) or a listen address host:port, such as "127.0.0.1:9090"`)
	}
	if c.Server.AdminAddr == c.Server.Addr {
		return bff.Invalid("admin.addr", c.Server.AdminAddr, "an address other than server.addr")
	}
	return nil
}

func (c Config) validateLogLevel() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
		return nil
	}
	return bff.Invalid("log.level", c.LogLevel, "debug, info, warn or error")
}

// validate checks one service, keyed under services.<name>.
func (s Service) validate(pageTimeout time.Duration, demo bool) error {
	if err := checkName(s.Name); err != nil {
		return err
	}
	p := "services." + s.Name + "."
	errs := []error{
		bff.PrefixKeys(p, s.Downstream.Validate()),
		bff.PrefixKeys(p+"breaker.", s.Breaker.Validate()),
		bff.PrefixKeys(p+"hedge.", s.Hedge.Validate(s.Downstream.Timeout)),
		bff.PrefixKeys(p+"retry.", s.Retry.Validate(s.Downstream.Timeout)),
		bff.PrefixKeys(p+"budget.", s.Budget.Validate()),
		bff.PrefixKeys(p+"cache.", s.Cache.Validate()),
	}
	if t := s.Downstream.Timeout; pageTimeout > 0 && t > pageTimeout {
		errs = append(errs, bff.Invalid(p+"timeout", t.String(),
			fmt.Sprintf("a duration no longer than page.timeout (%s)", pageTimeout)))
	}
	if s.Downstream.URL == "" && !demo {
		errs = append(errs, bff.Invalid(p+"url", nil, fmt.Sprintf(
			"%s is not set (or %surl in the config file); set it, or run with --demo", urlEnv(s.Name), p)))
	}
	return errors.Join(errs...)
}

// nameRE is what a service name may look like: it becomes a JSON key, a
// metric label and part of environment variable names.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// checkName reports a service name that does not fit nameRE or is "meta",
// which the page response uses for itself.
func checkName(name string) error {
	if nameRE.MatchString(name) && name != "meta" {
		return nil
	}
	return bff.Invalid("services."+name, name, `a service name matching ^[a-z][a-z0-9_]{0,31}$, other than "meta"`)
}

// urlEnv returns the environment variable holding a service's base URL,
// e.g. USER_SERVICE_URL.
func urlEnv(name string) string {
	return strings.ToUpper(name) + "_SERVICE_URL"
}
