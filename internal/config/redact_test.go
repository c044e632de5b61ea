package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/pagebff/pagebff/internal/bff"
)

// An admin.token written as a YAML number was refused with the token in the
// message, which start-up prints and a rejected reload logs.
func TestLoadNumberTokenNotPrinted(t *testing.T) {
	_, err := Load(writeConfig(t, "admin:\n  token: 7731123456789\n"), envOf(withURLs(nil)), false)
	if err == nil {
		t.Fatal("Load accepted a number token")
	}
	const want = "admin.token: (redacted) is not allowed; want a string (quote it in YAML)"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	var fe *bff.FieldError
	if !errors.As(err, &fe) || fe.Key != "admin.token" {
		t.Fatalf("error %v is not a *bff.FieldError for admin.token", err)
	}
	if strings.Contains(err.Error(), "7731123456789") {
		t.Errorf("error shows the token: %v", err)
	}
}

// A secret in a section written as a scalar, `admin: s3cr3t`, is not shown
// either.
func TestLoadSecretSectionNotPrinted(t *testing.T) {
	_, err := Load(writeConfig(t, "admin: s3cr3t-token-7731\n"), envOf(withURLs(nil)), false)
	if err == nil {
		t.Fatal("Load accepted admin as a scalar")
	}
	if want := "admin: (redacted) is not allowed; want a mapping of settings"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

// A URL with user:pass@ that failed validation was printed verbatim.
func TestLoadURLUserinfoRedacted(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want string // the whole message
	}{
		{
			name: "service URL from the file",
			file: "services:\n  user:\n    url: \"ftp://bob:hunter2pw@host\"\n",
			env:  map[string]string{"USER_SERVICE_URL": ""},
			want: `services.user.url: "ftp://bob:xxxxx@host" is not allowed; want an absolute http:// or https:// URL`,
		},
		{
			name: "service URL from USER_SERVICE_URL",
			env:  map[string]string{"USER_SERVICE_URL": "http://bob:hunter2pw@host/x?q=1"},
			want: `services.user.url: "http://bob:xxxxx@host/x?q=1" is not allowed; want a base URL without query or fragment`,
		},
		{
			name: "user name alone is masked too",
			env:  map[string]string{"USER_SERVICE_URL": "ftp://hunter2pw@host"},
			want: `services.user.url: "ftp://xxxxx@host" is not allowed; want an absolute http:// or https:// URL`,
		},
		{
			name: "URL that does not parse",
			env:  map[string]string{"USER_SERVICE_URL": "http://bob:hunter2pw@host:port:x/p@q"},
			want: `services.user.url: "http://xxxxx@host:port:x/p@q" is not allowed; want an absolute http:// or https:// URL`,
		},
		{
			name: "URL without a scheme",
			env:  map[string]string{"USER_SERVICE_URL": "bob:hunter2pw@host:9000"},
			want: `services.user.url: "xxxxx@host:9000" is not allowed; want an absolute http:// or https:// URL`,
		},
		{
			name: "redis URL of the wrong type",
			file: "cache:\n  redis_url: [\"redis://:hunter2pw@redis:6379\"]\n",
			want: "cache.redis_url: [redis://xxxxx@redis:6379] is not allowed; want a string",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.file), envOf(withURLs(tt.env)), false)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\n want %q", err, tt.want)
			}
		})
	}
}

func TestRedactUserinfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[redis://a:b@r:1 http://c@d/e@f]", "[redis://xxxxx@r:1 http://xxxxx@d/e@f]"},
		{"map[x:http://u:p@h]", "map[x:http://xxxxx@h]"},
		{"[a b]", "[a b]"},
	}
	for _, tt := range tests {
		if got := redactUserinfo(tt.in); got != tt.want {
			t.Errorf("redactUserinfo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://host:80/p", "http://host:80/p"},
		{"redis://:hunter2pw@redis:6379/0", "redis://:xxxxx@redis:6379/0"},
		{"redis://default:hunter2pw@redis:6379", "redis://default:xxxxx@redis:6379"},
		{"https://tok@en@host/p", "https://xxxxx@host/p"},
		{"http://a:b@c@host:bad port/p@x", "http://xxxxx@host:bad port/p@x"},
		{"a:b@host", "xxxxx@host"},
		{"localhost:9000", "localhost:9000"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
