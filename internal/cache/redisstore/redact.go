package redisstore

import (
	"net/url"
	"strings"
)

// redacted replaces a password wherever one would be shown.
const redacted = "xxxxx"

// Redact returns rawURL with any password replaced by "xxxxx", for logs
// and the admin view. A string that does not parse as a URL is redacted
// all the same: whatever sits between the first ':' after the scheme and
// the last '@' is taken for a password.
func Redact(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Opaque == "" {
		if _, has := u.User.Password(); has {
			return u.Redacted()
		}
		return rawURL
	}
	start, end, ok := passwordSpan(rawURL)
	if !ok {
		return rawURL
	}
	return rawURL[:start] + redacted + rawURL[end:]
}

// passwordSpan finds the password of a URL, parsed or not, by hand: after
// the scheme's "://" (or from the start), between the first ':' and the
// last '@'. It errs towards finding one: a stray '@' in the path widens
// the span, which only hides more.
func passwordSpan(raw string) (start, end int, ok bool) {
	from := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		from = i + 3
	}
	at := strings.LastIndex(raw[from:], "@")
	if at < 0 {
		return 0, 0, false
	}
	at += from
	colon := strings.Index(raw[from:at], ":")
	if colon < 0 {
		return 0, 0, false
	}
	return from + colon + 1, at, true
}

// secrets returns the forms in which rawURL's password could show up in
// a message: as written in the URL and decoded.
func secrets(rawURL string) []string {
	var out []string
	add := func(s string) {
		if s != "" && !containsString(out, s) {
			out = append(out, s)
		}
	}
	if start, end, ok := passwordSpan(rawURL); ok {
		add(rawURL[start:end])
		if dec, err := url.PathUnescape(rawURL[start:end]); err == nil {
			add(dec)
		}
	}
	if u, err := url.Parse(rawURL); err == nil {
		if pw, ok := u.User.Password(); ok {
			add(pw)
			add(url.QueryEscape(pw))
			add(url.PathEscape(pw))
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// scrub returns msg with every secret replaced.
func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	return msg
}

// scrubbedError is an error whose message had a secret in it. It keeps
// nothing of the original error but its message, scrubbed, so unwrapping
// cannot bring the secret back.
type scrubbedError struct{ msg string }

func (e *scrubbedError) Error() string { return e.msg }

// scrubErr returns err unchanged unless its message holds a secret, and
// an error of the scrubbed message otherwise.
func scrubErr(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	msg := err.Error()
	if clean := scrub(msg, secrets); clean != msg {
		return &scrubbedError{msg: clean}
	}
	return err
}
