package config

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// setting is one config key and how its value is stored into a T.
type setting[T any] struct {
	// key is dotted and relative to where the table is applied
	// ("timeout" under "services.user.").
	key string
	// want says what is allowed, for error messages.
	want string
	// set parses raw and stores it into dst; false means raw is not allowed
	// and dst is unchanged.
	set func(dst *T, raw any) bool
	// get returns the value stored in src, for comparing two configs (Diff);
	// it is always a comparable scalar (string, number, bool or duration).
	get func(src *T) any
	// secret means the value is never shown: an error about it says
	// (redacted) where the value would be (see redactErrors).
	secret bool
}

// kind is a type of value as it may appear in the file or the environment.
type kind[V any] struct {
	want  string
	parse func(raw any) (V, bool)
}

var (
	durationKind   = kind[time.Duration]{"a Go duration such as 300ms", parseDuration}
	hedgeDelayKind = kind[time.Duration]{`"auto" or a positive duration such as 80ms`, parseHedgeDelay}
	stringKind     = kind[string]{"a string", parseString}
	intKind        = kind[int]{"a whole number", parseInt}
	int64Kind      = kind[int64]{"a whole number", parseInt64}
	uint32Kind     = kind[uint32]{"a whole number from 0 to 4294967295", parseUint32}
	floatKind      = kind[float64]{"a number", parseFloat}
	boolKind       = kind[bool]{"true or false", parseBool}
)

// key returns the setting that stores values of kind k into the field that
// field points at. V is comparable so that get's values compare with ==.
func key[T any, V comparable](name string, k kind[V], field func(*T) *V) setting[T] {
	return setting[T]{
		key:  name,
		want: k.want,
		set: func(dst *T, raw any) bool {
			v, ok := k.parse(raw)
			if ok {
				*field(dst) = v
			}
			return ok
		},
		get: func(src *T) any { return *field(src) },
	}
}

// secretKey is key for a setting whose value must never appear in a
// message, such as admin.token.
func secretKey[T any, V comparable](name string, k kind[V], field func(*T) *V) setting[T] {
	s := key(name, k, field)
	s.secret = true
	return s
}

// globalSettings are the keys that appear once, at the top of the file.
var globalSettings = []setting[Config]{
	key("server.addr", stringKind, func(c *Config) *string { return &c.Server.Addr }),
	key("server.max_inflight", intKind, func(c *Config) *int { return &c.Server.MaxInflight }),
	key("server.shutdown_timeout", durationKind, func(c *Config) *time.Duration { return &c.Server.ShutdownTimeout }),
	key("server.drain_delay", durationKind, func(c *Config) *time.Duration { return &c.Server.DrainDelay }),
	key("server.read_header_timeout", durationKind, func(c *Config) *time.Duration { return &c.Server.ReadHeaderTimeout }),
	key("server.read_timeout", durationKind, func(c *Config) *time.Duration { return &c.Server.ReadTimeout }),
	key("server.write_timeout", durationKind, func(c *Config) *time.Duration { return &c.Server.WriteTimeout }),
	key("server.idle_timeout", durationKind, func(c *Config) *time.Duration { return &c.Server.IdleTimeout }),
	key("server.max_header_bytes", intKind, func(c *Config) *int { return &c.Server.MaxHeaderBytes }),
	key("server.max_conns", intKind, func(c *Config) *int { return &c.Server.MaxConns }),
	secretKey("admin.token", stringKind, func(c *Config) *string { return &c.Server.AdminToken }),
	key("admin.addr", stringKind, func(c *Config) *string { return &c.Server.AdminAddr }),
	key("tracing.trust_incoming", boolKind, func(c *Config) *bool { return &c.Server.TrustIncomingTrace }),
	key("page.timeout", durationKind, func(c *Config) *time.Duration { return &c.Page.Timeout }),
	key("cache.backend", stringKind, func(c *Config) *string { return &c.CacheBackend }),
	key("cache.redis_url", stringKind, func(c *Config) *string { return &c.Redis.URL }),
	key("cache.redis_timeout", durationKind, func(c *Config) *time.Duration { return &c.Redis.Timeout }),
	key("cache.redis_write_interval", durationKind, func(c *Config) *time.Duration { return &c.Redis.WriteInterval }),
	key("cache.redis_prefix", stringKind, func(c *Config) *string { return &c.Redis.Prefix }),
	key("log.level", stringKind, func(c *Config) *string { return &c.LogLevel }),
	key("auth.mode", stringKind, func(c *Config) *string { return &c.Auth.Mode }),
	key("auth.jwks_url", stringKind, func(c *Config) *string { return &c.Auth.JWKSURL }),
	key("auth.jwks_file", stringKind, func(c *Config) *string { return &c.Auth.JWKSFile }),
	key("auth.jwks_refresh", durationKind, func(c *Config) *time.Duration { return &c.Auth.JWKSRefresh }),
	key("auth.issuer", stringKind, func(c *Config) *string { return &c.Auth.Issuer }),
	key("auth.audience", stringKind, func(c *Config) *string { return &c.Auth.Audience }),
	key("auth.user_claim", stringKind, func(c *Config) *string { return &c.Auth.UserClaim }),
	key("auth.leeway", durationKind, func(c *Config) *time.Duration { return &c.Auth.Leeway }),
	key("auth.forward_token", boolKind, func(c *Config) *bool { return &c.Auth.ForwardToken }),
}

// serviceSettings are the per-service keys, allowed under "defaults." and
// under "services.<name>.".
var serviceSettings = []setting[Service]{
	key("timeout", durationKind, func(s *Service) *time.Duration { return &s.Downstream.Timeout }),
	key("max_body", int64Kind, func(s *Service) *int64 { return &s.Downstream.MaxBody }),
	key("max_json_depth", intKind, func(s *Service) *int { return &s.Downstream.MaxJSONDepth }),
	key("follow_redirects", boolKind, func(s *Service) *bool { return &s.Downstream.FollowRedirects }),
	key("breaker.consecutive_failures", uint32Kind, func(s *Service) *uint32 { return &s.Breaker.ConsecutiveFailures }),
	key("breaker.failure_ratio", floatKind, func(s *Service) *float64 { return &s.Breaker.FailureRatio }),
	key("breaker.min_requests", uint32Kind, func(s *Service) *uint32 { return &s.Breaker.MinRequests }),
	key("breaker.interval", durationKind, func(s *Service) *time.Duration { return &s.Breaker.Interval }),
	key("breaker.open_timeout", durationKind, func(s *Service) *time.Duration { return &s.Breaker.OpenTimeout }),
	key("breaker.half_open_requests", uint32Kind, func(s *Service) *uint32 { return &s.Breaker.HalfOpenRequests }),
	key("hedge.enabled", boolKind, func(s *Service) *bool { return &s.Hedge.Enabled }),
	key("hedge.delay", hedgeDelayKind, func(s *Service) *time.Duration { return &s.Hedge.Delay }),
	// hedge.budget_percent is the old name of budget.percent: read before
	// it (the new name wins), with a warning (see deprecatedKeys).
	key("hedge.budget_percent", floatKind, func(s *Service) *float64 { return &s.Budget.Percent }),
	key("budget.percent", floatKind, func(s *Service) *float64 { return &s.Budget.Percent }),
	key("budget.min_per_window", intKind, func(s *Service) *int { return &s.Budget.MinPerWindow }),
	key("retry.max_attempts", intKind, func(s *Service) *int { return &s.Retry.MaxAttempts }),
	key("retry.backoff", durationKind, func(s *Service) *time.Duration { return &s.Retry.Backoff }),
	key("cache.enabled", boolKind, func(s *Service) *bool { return &s.Cache.Enabled }),
	key("cache.stale_ttl", durationKind, func(s *Service) *time.Duration { return &s.Cache.StaleTTL }),
	key("cache.max_entries", intKind, func(s *Service) *int { return &s.Cache.MaxEntries }),
	key("cache.max_bytes", int64Kind, func(s *Service) *int64 { return &s.Cache.MaxBytes }),
	key("cache.fresh_ttl", durationKind, func(s *Service) *time.Duration { return &s.Cache.FreshTTL }),
	key("cache.revalidate", durationKind, func(s *Service) *time.Duration { return &s.Cache.Revalidate }),
	key("cache.honor_cache_control", boolKind, func(s *Service) *bool { return &s.Cache.HonorCacheControl }),
}

// serviceDraft is a service being loaded: Service plus whether it is on.
type serviceDraft struct {
	Service
	enabled bool
}

// serviceOnlySettings exist only under "services.<name>.", never under
// "defaults.".
var serviceOnlySettings = []setting[serviceDraft]{
	key("url", stringKind, func(d *serviceDraft) *string { return &d.Downstream.URL }),
	key("path", stringKind, func(d *serviceDraft) *string { return &d.Downstream.Path }),
	key("identity_field", stringKind, func(d *serviceDraft) *string { return &d.Downstream.IdentityField }),
	key("enabled", boolKind, func(d *serviceDraft) *bool { return &d.enabled }),
}

// parseDuration accepts a Go duration string. A bare number is refused
// rather than read as nanoseconds: "timeout: 300" means nothing certain.
func parseDuration(raw any) (time.Duration, bool) {
	s, ok := raw.(string)
	if !ok {
		return 0, false
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// parseHedgeDelay accepts "auto" (0) or a positive duration; "0s" is refused
// so that it does not silently mean auto.
func parseHedgeDelay(raw any) (time.Duration, bool) {
	if s, ok := raw.(string); ok && strings.EqualFold(s, "auto") {
		return 0, true
	}
	d, ok := parseDuration(raw)
	return d, ok && d > 0
}

func parseString(raw any) (string, bool) {
	s, ok := raw.(string)
	return s, ok
}

// parseInt64 accepts a YAML integer or a decimal string.
func parseInt64(raw any) (int64, bool) {
	switch v := raw.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case uint64:
		return int64(v), v <= math.MaxInt64
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func parseInt(raw any) (int, bool) {
	n, ok := parseInt64(raw)
	return int(n), ok && n >= math.MinInt && n <= math.MaxInt
}

func parseUint32(raw any) (uint32, bool) {
	n, ok := parseInt64(raw)
	return uint32(n), ok && n >= 0 && n <= math.MaxUint32
}

// parseFloat accepts a YAML number or a decimal string.
func parseFloat(raw any) (float64, bool) {
	if f, ok := raw.(float64); ok {
		return f, true
	}
	if s, ok := raw.(string); ok {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	n, ok := parseInt64(raw)
	return float64(n), ok
}

// parseBool accepts a YAML bool or the strings true, false, 1 and 0.
func parseBool(raw any) (bool, bool) {
	if b, ok := raw.(bool); ok {
		return b, true
	}
	s, _ := raw.(string)
	switch strings.ToLower(s) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}
