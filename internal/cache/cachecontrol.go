package cache

import (
	"strconv"
	"strings"
	"time"
)

// directives are the Cache-Control directives of an answer that a shared
// cache acts on (RFC 9111 section 5.2.2, RFC 5861). A duration of -1 means
// the directive is absent.
type directives struct {
	noStore, noCache, private bool
	mustRevalidate            bool // must-revalidate or proxy-revalidate
	maxAge, sMaxAge           time.Duration
	staleWhileRevalidate      time.Duration
	staleIfError              time.Duration
}

// maxDirectiveSeconds caps a delta-seconds value (RFC 9111 section 1.2.2
// asks for at least 2^31 to be understood, and anything larger to be read
// as that).
const maxDirectiveSeconds = 1<<31 - 1

// parseCacheControl reads a Cache-Control value: directives separated by
// commas, names case-insensitive, values as tokens or quoted strings.
// Unknown directives are ignored; a malformed or duplicated duration makes
// that directive count as absent, except max-age and s-maxage, which
// then count as 0 (a recipient must treat an invalid freshness lifetime
// as stale).
func parseCacheControl(v string) directives {
	d := directives{maxAge: -1, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}
	for part := range strings.SplitSeq(v, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.Trim(strings.TrimSpace(value), `"`)
		switch name {
		case "no-store":
			d.noStore = true
		case "no-cache":
			d.noCache = true
		case "private":
			d.private = true
		case "must-revalidate", "proxy-revalidate":
			d.mustRevalidate = true
		case "max-age":
			d.maxAge = freshness(d.maxAge, value)
		case "s-maxage":
			d.sMaxAge = freshness(d.sMaxAge, value)
		case "stale-while-revalidate":
			d.staleWhileRevalidate, _ = seconds(value)
		case "stale-if-error":
			d.staleIfError, _ = seconds(value)
		}
	}
	return d
}

// freshness parses a max-age or s-maxage value seen a second time (prev
// not -1) or malformed as 0.
func freshness(prev time.Duration, value string) time.Duration {
	s, ok := seconds(value)
	if !ok || prev >= 0 {
		return 0
	}
	return s
}

// seconds parses delta-seconds: digits only.
func seconds(value string) (time.Duration, bool) {
	if value == "" {
		return -1, false
	}
	for i := 0; i < len(value); i++ {
		if value[i] < '0' || value[i] > '9' {
			return -1, false
		}
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n > maxDirectiveSeconds {
		n = maxDirectiveSeconds
	}
	return time.Duration(n) * time.Second, true
}

// parseAge reads an Age header (seconds the answer already spent in caches
// upstream); anything but delta-seconds counts as 0.
func parseAge(v string) time.Duration {
	s, ok := seconds(strings.TrimSpace(v))
	if !ok {
		return 0
	}
	return s
}
