package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/pagebff/pagebff/internal/bff"
)

// secretKeys are the full dotted keys of the secret settings, from the
// setting tables.
var secretKeys = func() []string {
	var keys []string
	for _, s := range globalSettings {
		if s.secret {
			keys = append(keys, s.key)
		}
	}
	return keys
}()

// isSecret reports whether key is a secret setting or a section holding one:
// `admin: s3cret` is refused as "want a mapping" and must not show it either.
func isSecret(key string) bool {
	for _, k := range secretKeys {
		if key == k || strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// redactErrors returns errs with every secret removed from the values of
// their *bff.FieldErrors: a secret key's value becomes (redacted), and the
// userinfo of a URL value (services.<name>.url, cache.redis_url, or any
// value with "://") is masked. Start-up prints these errors and a rejected
// reload logs them, so a value like "ftp://bob:hunter2@host" used to reach
// stderr and the log verbatim. Other errors, and every key and want, are
// kept as they are.
func redactErrors(errs []error) []error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
		var fe *bff.FieldError
		if !errors.As(e, &fe) || fe.Value == nil {
			continue
		}
		c := *fe
		s, isString := fe.Value.(string)
		if !isString {
			s = fmt.Sprint(fe.Value)
		}
		urlish := strings.HasSuffix(fe.Key, "url") || strings.Contains(s, "://")
		switch {
		case isSecret(fe.Key):
			c.Value = shown("(redacted)")
		case !urlish:
			continue
		case isString:
			c.Value = redactURL(s)
		default:
			// A list or map, printed with %v as before, less any
			// userinfo in it.
			r := redactUserinfo(s)
			if r == s {
				continue
			}
			c.Value = shown(r)
		}
		out[i] = &c
	}
	return out
}

// shown is a FieldError value printed as it is, unquoted: "(redacted)", or
// a redacted rendering of a value that was not a string.
type shown string

func (s shown) String() string { return string(s) }

// redactURL masks the userinfo of s: url.URL.Redacted when s parses (the
// password becomes xxxxx; a user name alone, often a token, is masked
// too), and otherwise as redactUserinfo does.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		if u.User == nil {
			return s
		}
		if _, ok := u.User.Password(); !ok {
			u.User = url.User("xxxxx")
			return u.String()
		}
		return u.Redacted()
	}
	return redactUserinfo(s)
}

// redactUserinfo replaces, after each "://" in s (or from the start when
// there is none), everything up to the last "@" before the next "/" with
// xxxxx: "http://a:b@host:bad/p" becomes "http://xxxxx@host:bad/p".
func redactUserinfo(s string) string {
	if !strings.Contains(s, "://") {
		return maskUntilAt(s)
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+len("://")])
		s = s[i+len("://"):]
		// The authority ends at the next "/" or the next URL.
		end := len(s)
		if j := strings.Index(s, "/"); j >= 0 {
			end = j
		}
		if j := strings.Index(s, "://"); j >= 0 && j < end {
			end = j
		}
		b.WriteString(maskUntilAt(s[:end]))
		s = s[end:]
	}
}

// maskUntilAt replaces everything before the last "@" in authority with
// xxxxx; without an "@" it returns authority unchanged.
func maskUntilAt(authority string) string {
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return authority
	}
	return "xxxxx" + authority[at:]
}
