package auth

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"
)

// identity is what Middleware leaves on a verified request's context.
type identity struct {
	userID        string
	authorization string // the header to forward; empty unless asked
}

type identityKey struct{}

// UserID returns the user id Middleware verified for the request ctx
// belongs to; false when there is none (auth.mode none, or ctx is not a
// request's that went through Middleware).
func UserID(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(identityKey{}).(*identity)
	if !ok {
		return "", false
	}
	return id.userID, true
}

// Token returns the incoming Authorization header to pass on to the
// services; false unless Middleware verified it and was told to forward.
func Token(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(identityKey{}).(*identity)
	if !ok || id.authorization == "" {
		return "", false
	}
	return id.authorization, true
}

// Middleware guards a route with v. A request needs "Authorization: Bearer
// <JWT>" that v verifies; an access_token in the query string is refused
// (RFC 6750 §2.3 allows it, we do not: query strings end up in logs); a
// user_id in the query must equal the token's. It then puts the user id on
// the request's context (UserID) and, when forward is true, the
// Authorization header too (Token).
//
// A refusal is answered here, before any downstream call, the way httpapi
// answers errors: JSON {"error": "..."} (no body for HEAD), 401 with
// WWW-Authenticate (Bearer realm="pagebff" without a token, Bearer
// error="invalid_token" for a bad one), or 403 on a user_id mismatch; and
// it is logged at Info as "request rejected", with its reason, never the
// token. A nil v (auth.mode none) lets every request through untouched.
func Middleware(v *Verifier, forward bool) echo.MiddlewareFunc {
	if v == nil {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			r := c.Request()
			userID, e := v.check(r)
			if e != nil {
				v.obs.Verified(e.result())
				return v.reject(c, e)
			}
			v.obs.Verified(ResultOK)
			id := &identity{userID: userID}
			if forward {
				id.authorization = r.Header.Get("Authorization")
			}
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
			return next(c)
		}
	}
}

// check runs the middleware's rules on r, in the order they are answered.
func (v *Verifier) check(r *http.Request) (string, *Error) {
	query := r.URL.RawQuery
	if queryHas(query, "access_token") {
		return "", errInvalid("query_token")
	}
	h := r.Header["Authorization"]
	if len(h) > 1 {
		return "", errInvalid("malformed") // which one would we check, and which forward?
	}
	var authorization string
	if len(h) == 1 {
		authorization = h[0]
	}
	userID, e := v.verify(r.Context(), authorization)
	if e != nil {
		return "", e
	}
	if !queryAll(query, "user_id", userID) {
		return "", errMismatch()
	}
	return userID, nil
}

// reject answers e and logs it.
func (v *Verifier) reject(c *echo.Context, e *Error) error {
	r := c.Request()
	if v.log.Enabled(r.Context(), slog.LevelInfo) {
		v.log.LogAttrs(r.Context(), slog.LevelInfo, "request rejected",
			slog.String("request_id", c.Response().Header().Get("X-Request-Id")),
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", e.Status),
			slog.String("error", e.Message), slog.String("reason", e.Reason))
	}
	if e.Header != "" {
		c.Response().Header().Set("WWW-Authenticate", e.Header)
	}
	if r.Method == http.MethodHead {
		return c.NoContent(e.Status)
	}
	return c.JSON(e.Status, map[string]string{"error": e.Message})
}

// queryHas reports whether the raw query has the key name, with or
// without a value.
func queryHas(query, name string) bool {
	found := false
	eachQuery(query, func(k, _ string) bool {
		found = k == name
		return !found
	})
	return found
}

// queryAll reports whether every value of name in the raw query equals
// want; true when there is none.
func queryAll(query, name, want string) bool {
	all := true
	eachQuery(query, func(k, val string) bool {
		if k == name && val != want {
			all = false
		}
		return all
	})
	return all
}

// eachQuery calls f with each decoded key and value of a raw query, as
// url.ParseQuery (which the page handler uses) would see them: pairs with
// ';' or a bad escape are skipped. It stops when f returns false.
func eachQuery(query string, f func(key, value string) bool) {
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		val, err = url.QueryUnescape(val)
		if err != nil {
			continue
		}
		if !f(k, val) {
			return
		}
	}
}
