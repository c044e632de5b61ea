package bff

import (
	"context"
	"time"
)

// Call is one downstream request made on behalf of a page section.
type Call struct {
	// Service is the section name, e.g. "user".
	Service string
	// Path is the resolved, already path-escaped request path that is appended
	// to the service's base URL, e.g. "/users/abc". Together with Service it
	// identifies the request (Key); a policy that is the service's own
	// (its coalescer, its memory cache) keys on Path alone.
	Path string
	// RequestID is sent downstream as X-Request-Id.
	RequestID string
	// UserID is the user the page is for; a user-scoped answer must be
	// about this user (see downstream.Config.IdentityField). It does not
	// take part in Key: Path already holds it where it matters.
	UserID string
}

// Key identifies a call's resource: service plus resolved path. Two calls with
// the same Key ask for the same data, whoever asks. It is built on each
// call: what is shared by services (the Redis tier) uses it, what belongs
// to one service uses Path.
func (c Call) Key() string { return c.Service + " " + c.Path }

// Source says where a section's data came from.
type Source uint8

// The sources a section can report in meta.sections.<name>.source.
const (
	SourceLive  Source = iota // the first attempt answered
	SourceHedge               // a hedged attempt answered first
	SourceCache               // the stale-on-error cache answered
)

// String returns the JSON spelling of s.
func (s Source) String() string {
	switch s {
	case SourceLive:
		return "live"
	case SourceHedge:
		return "hedge"
	case SourceCache:
		return "cache"
	default:
		return "unknown"
	}
}

// Response is a downstream answer.
//
// Body is always a JSON object (arrays and empty answers are normalized by the
// downstream client) and is never modified after it is returned, so it may be
// shared between pages and kept by a cache.
//
// A Fetcher that returns both a non-nil error and a non-empty Body is serving a
// stale value: Body is the last good answer, Age how old it is, and the error
// says why live data was not available.
type Response struct {
	Body   []byte
	Source Source
	// Attempts is how many requests were sent for the answer, hedges and
	// retries included; 0 means one (or none, from a cache).
	Attempts uint8
	Age      time.Duration
	// Caching holds the answer's caching headers for the cache policy; nil
	// when it had none (the common case costs no allocation). A pointer,
	// not the strings: a Response is passed by value through every
	// policy, and a larger one makes each section's goroutine grow (copy)
	// its stack.
	Caching *Caching
}

// Caching is what an answer's headers say about caching it, as they came.
type Caching struct {
	CacheControl string // "" when absent
	Age          string // "" when absent
}

// Fetcher performs a downstream call. Implementations are safe for concurrent
// use. Errors are *Error values (possibly wrapped) carrying a Code.
type Fetcher interface {
	Fetch(ctx context.Context, call Call) (Response, error)
}

// FetcherFunc adapts a function to the Fetcher interface.
type FetcherFunc func(ctx context.Context, call Call) (Response, error)

// Fetch calls f.
func (f FetcherFunc) Fetch(ctx context.Context, call Call) (Response, error) { return f(ctx, call) }

var _ Fetcher = FetcherFunc(nil)

type hedgeKey struct{}

// WithHedge marks ctx as carrying a hedged attempt, so the attempt's trace
// span says so.
func WithHedge(ctx context.Context) context.Context { return context.WithValue(ctx, hedgeKey{}, true) }

// IsHedge reports whether ctx carries a hedged attempt.
func IsHedge(ctx context.Context) bool { v, _ := ctx.Value(hedgeKey{}).(bool); return v }

type retryKey struct{}

// WithRetry marks ctx as carrying retry n (1 for the first retry), so the
// attempt's trace span says so.
func WithRetry(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, retryKey{}, n)
}

// RetryOf returns the retry ctx carries, 0 for a first attempt.
func RetryOf(ctx context.Context) int { v, _ := ctx.Value(retryKey{}).(int); return v }

type authorizationKey struct{}

// WithAuthorization makes the calls made under ctx send an Authorization
// header with value v (auth.forward_token). A call shared by several pages
// (coalescing) carries the one of the page that started it, as it carries
// that page's X-Request-Id.
func WithAuthorization(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, authorizationKey{}, v)
}

// AuthorizationOf returns the Authorization header to send under ctx, "" for
// none.
func AuthorizationOf(ctx context.Context) string {
	v, _ := ctx.Value(authorizationKey{}).(string)
	return v
}
