package httpapi

import (
	"regexp"
	"strings"
	"testing"

	"github.com/pagebff/pagebff/internal/observability"
)

var (
	userIDPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$`)
	requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
)

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

// FuzzValidRequestID checks the request-id validator against the contract.
func FuzzValidRequestID(f *testing.F) {
	for _, s := range idSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := observability.ValidRequestID(id), requestIDPattern.MatchString(id); got != want {
			t.Fatalf("ValidRequestID(%q) = %v, regexp says %v", id, got, want)
		}
		if got := observability.RequestID(id); !requestIDPattern.MatchString(got) {
			t.Fatalf("RequestID(%q) = %q, not a valid id", id, got)
		}
	})
}
