package httpapi

import (
	"regexp"
	"strings"
	"testing"
)

var userIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$`)

var idSeeds = []string{
	"", "abc", "a", "A1", "user@example.com", "a.b_c:d-e", ".leading", "-x", "_x",
	"has space", "semi;colon", "slash/", "percent%20", "ünï", "\x00", strings.Repeat("a", 128),
	strings.Repeat("a", 129), "a\nb", "../etc/passwd",
}

// FuzzValidUserID checks the hand-written validator against the contract's
// regular expression.
func FuzzValidUserID(f *testing.F) {
	for _, s := range idSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := ValidUserID(id), userIDPattern.MatchString(id); got != want {
			t.Fatalf("ValidUserID(%q) = %v, regexp says %v", id, got, want)
		}
	})
}
