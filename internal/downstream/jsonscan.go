package downstream

import (
	"encoding/json"
	"strings"
)

// depthWithin reports whether the JSON text b (already known to be valid)
// nests arrays and objects at most max deep. It makes one pass and
// allocates nothing. encoding/json accepts 10,000 levels; many clients
// parsing the page (browsers' recursive parsers, older libraries) fail far
// sooner, so a service's answer must not pass that on.
func depthWithin(b []byte, max int) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = skipString(b, i)
		case '[', '{':
			if depth++; depth > max {
				return false
			}
		case ']', '}':
			depth--
		}
	}
	return true
}

// skipString returns the index of the closing quote of the string whose
// opening quote is at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return i
}

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i) + 1
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i)
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for i < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[i])) {
			i++
		}
		return i
	}
}

// topLevelFields returns the raw values of every member called name of the
// JSON object obj (valid JSON, starting with '{'), in order: a key written
// twice is there twice (encoding/json and browsers keep the last, other
// parsers the first). Keys are unquoted only when they hold an escape.
func topLevelFields(obj []byte, name string) [][]byte {
	var out [][]byte
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] == '"' {
		end := skipString(obj, i)
		key := obj[i+1 : end]
		i = skipSpace(obj, end+1) + 1 // past ':'
		i = skipSpace(obj, i)
		vend := skipValue(obj, i)
		if keyEquals(key, name) {
			out = append(out, obj[i:vend])
		}
		i = skipSpace(obj, vend)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return out
}

func keyEquals(raw []byte, name string) bool {
	if !strings.ContainsRune(string(raw), '\\') {
		return string(raw) == name
	}
	var k string
	if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &k); err != nil {
		return false
	}
	return k == name
}

// identityMatches reports whether the raw JSON value v names the user id
// want: a string equal to it, or a number whose text equals it. Any other
// value names somebody else.
func identityMatches(v []byte, want string) bool {
	if len(v) == 0 {
		return false
	}
	if v[0] != '"' {
		return (v[0] == '-' || v[0] >= '0' && v[0] <= '9') && string(v) == want
	}
	if !strings.ContainsRune(string(v), '\\') {
		return string(v[1:len(v)-1]) == want
	}
	var s string
	return json.Unmarshal(v, &s) == nil && s == want
}
