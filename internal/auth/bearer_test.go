package auth

import (
	"regexp"
	"strings"
	"testing"
)

var token68 = regexp.MustCompile(`^[A-Za-z0-9._~+/-]+=*$`)

var bearerSeeds = []string{
	"", "Bearer", "Bearer ", "Bearer  ", "Bearer abc", "bearer abc", "BEARER abc", "Bearer  abc",
	"Bearer abc def", "Bearer abc ", " Bearer abc", "Bearer\tabc", "Bearerabc", "Basic abc",
	"Bearer a.b.c", "Bearer abc==", "Bearer ab=c", "Bearer =", "Bearer a,b", "Bearer ünï",
	"Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhYmMifQ.sig-_~+/", "Bearer a\x00", "Bearer a\nb",
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		h    string
		want string
		ok   bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BeArEr abc", "abc", true},
		{"Bearer   abc", "abc", true},
		{"Bearer a.b-c_d~e+f/g==", "a.b-c_d~e+f/g==", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer abc def", "", false},
		{"Bearer abc ", "", false},
		{" Bearer abc", "", false},
		{"Bearer\tabc", "", false},
		{"Bearerabc", "", false},
		{"Basic abc", "", false},
		{"Bearer ab=c", "", false},
		{"Bearer =", "", false},
		{"Bearer a,b", "", false},
	} {
		got, ok := bearerToken(tc.h)
		if got != tc.want || ok != tc.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tc.h, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzBearerToken: the parser never panics, accepts only token68 after a
// Bearer scheme and spaces, and gives back any token68 it is handed.
func FuzzBearerToken(f *testing.F) {
	for _, s := range bearerSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearerToken(h)
		if ok {
			if !token68.MatchString(tok) {
				t.Fatalf("bearerToken(%q) accepted %q, not a token68", h, tok)
			}
			scheme, rest, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") || strings.TrimLeft(rest, " ") != tok {
				t.Fatalf("bearerToken(%q) = %q: not scheme, spaces, token", h, tok)
			}
			if !hasBearerScheme(h) {
				t.Fatalf("hasBearerScheme(%q) is false for an accepted header", h)
			}
		} else if tok != "" {
			t.Fatalf("bearerToken(%q) refused but returned %q", h, tok)
		}
		// Round trip: any token68 comes back whole.
		if token68.MatchString(h) {
			if got, ok := bearerToken("Bearer " + h); !ok || got != h {
				t.Fatalf(`bearerToken("Bearer %s") = %q, %v`, h, got, ok)
			}
		}
	})
}
