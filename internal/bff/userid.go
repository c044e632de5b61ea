package bff

// MaxUserIDLen is the longest user_id accepted.
const MaxUserIDLen = 128

// ValidUserID reports whether id matches ^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$.
func ValidUserID(id string) bool {
	if len(id) == 0 || len(id) > MaxUserIDLen || !isAlnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '@' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
