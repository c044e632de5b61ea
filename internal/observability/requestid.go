package observability

import "github.com/google/uuid"

// MaxRequestIDLen is the longest incoming X-Request-Id that is reused.
const MaxRequestIDLen = 128

// ValidRequestID reports whether an incoming X-Request-Id can be reused: 1 to
// 128 bytes from [A-Za-z0-9._:-]. Anything else is ignored and replaced.
func ValidRequestID(id string) bool {
	if len(id) == 0 || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isIDByte(id[i]) {
			return false
		}
	}
	return true
}

// RequestID returns incoming when it is valid, else a new random UUID.
func RequestID(incoming string) string {
	if ValidRequestID(incoming) {
		return incoming
	}
	return uuid.NewString()
}

func isIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
}
