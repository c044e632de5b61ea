package observability

import (
	"regexp"
	"strings"
	"testing"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// FuzzValidRequestID checks the request-id validator against the contract:
// an incoming id is reused only when it matches, and whatever comes in, the
// id used is valid.
func FuzzValidRequestID(f *testing.F) {
	for _, s := range []string{"", "abc", "req-42.a_b:c", "has space", "a/b", "idé", "\x00", "a\nb",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "@at", "{}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := ValidRequestID(id), requestIDPattern.MatchString(id); got != want {
			t.Fatalf("ValidRequestID(%q) = %v, regexp says %v", id, got, want)
		}
		got := RequestID(id)
		if !requestIDPattern.MatchString(got) {
			t.Fatalf("RequestID(%q) = %q, not a valid id", id, got)
		}
		if ValidRequestID(id) != (got == id) {
			t.Fatalf("RequestID(%q) = %q: a valid id must be reused, an invalid one replaced", id, got)
		}
	})
}
