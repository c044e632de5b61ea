package auth

import "strings"

const bearerScheme = "Bearer"

// bearerToken returns the token of an Authorization header value of the
// form "Bearer <token68>" (RFC 6750 §2.1, RFC 9110 §11.4): the scheme
// matched without regard to case, one or more spaces, then exactly one
// token68 and nothing after it. Anything else is not a bearer token.
func bearerToken(h string) (string, bool) {
	n := len(bearerScheme)
	if len(h) <= n || h[n] != ' ' || !strings.EqualFold(h[:n], bearerScheme) {
		return "", false
	}
	tok := strings.TrimLeft(h[n:], " ")
	if !isToken68(tok) {
		return "", false
	}
	return tok, true
}

// hasBearerScheme reports whether h names the Bearer scheme, whatever
// follows: a malformed bearer token is an invalid one, not a missing one.
func hasBearerScheme(h string) bool {
	scheme, _, _ := strings.Cut(h, " ")
	return strings.EqualFold(scheme, bearerScheme)
}

// isToken68 reports whether s is a token68:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// A compact JWT (base64url parts joined by dots) always is.
func isToken68(s string) bool {
	i := 0
	for i < len(s) && isToken68Byte(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

func isToken68Byte(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}
