package auth

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

func TestConfigValidate(t *testing.T) {
	keys(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	garbage := filepath.Join(dir, "garbage.json")
	hmacOnly := filepath.Join(dir, "hmac.json")
	for path, body := range map[string][]byte{
		good:     keySetJSON(t, ecKey),
		garbage:  []byte("not json"),
		hmacOnly: []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`),
	} {
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	jwt := func(f func(*Config)) Config {
		c := Default()
		c.Mode = ModeJWT
		c.JWKSURL = "https://idp.example/.well-known/jwks.json"
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		keys []string // the invalid keys, in order
		not  string   // must not appear in the message
	}{
		{name: "default", cfg: Default()},
		{name: "jwt with a URL", cfg: jwt(func(*Config) {})},
		{name: "jwt with a file", cfg: jwt(func(c *Config) { c.JWKSURL, c.JWKSFile = "", good })},
		{name: "jwt with both", cfg: jwt(func(c *Config) { c.JWKSFile = good })},
		{name: "bounds", cfg: jwt(func(c *Config) { c.JWKSRefresh, c.Leeway = 10*time.Second, 5*time.Minute })},
		{name: "zero leeway", cfg: jwt(func(c *Config) { c.Leeway = 0 })},
		{name: "mode none ignores a missing file", cfg: func() Config { c := Default(); c.JWKSFile = "/nonexistent"; return c }()},

		{name: "unknown mode", cfg: func() Config { c := Default(); c.Mode = "oauth"; return c }(), keys: []string{"mode"}},
		{name: "jwt without keys", cfg: jwt(func(c *Config) { c.JWKSURL = "" }), keys: []string{"jwks_url"}},
		{name: "relative URL", cfg: jwt(func(c *Config) { c.JWKSURL = "/jwks.json" }), keys: []string{"jwks_url"}},
		{name: "ftp URL", cfg: jwt(func(c *Config) { c.JWKSURL = "ftp://idp.example/jwks" }), keys: []string{"jwks_url"}},
		{name: "URL without host", cfg: jwt(func(c *Config) { c.JWKSURL = "https:///jwks" }), keys: []string{"jwks_url"}},
		{name: "bad URL hides its password", cfg: jwt(func(c *Config) { c.JWKSURL = "ftp://alice:hunter2@idp.example/jwks" }), keys: []string{"jwks_url"}, not: "hunter2"},
		{name: "missing file", cfg: jwt(func(c *Config) { c.JWKSFile = filepath.Join(dir, "nope.json") }), keys: []string{"jwks_file"}},
		{name: "file not a key set", cfg: jwt(func(c *Config) { c.JWKSFile = garbage }), keys: []string{"jwks_file"}},
		{name: "file with only an HMAC key", cfg: jwt(func(c *Config) { c.JWKSFile = hmacOnly }), keys: []string{"jwks_file"}},
		{name: "refresh too fast", cfg: jwt(func(c *Config) { c.JWKSRefresh = 9 * time.Second }), keys: []string{"jwks_refresh"}},
		{name: "negative leeway", cfg: jwt(func(c *Config) { c.Leeway = -time.Second }), keys: []string{"leeway"}},
		{name: "leeway too long", cfg: jwt(func(c *Config) { c.Leeway = 5*time.Minute + time.Second }), keys: []string{"leeway"}},
		{name: "no user claim", cfg: jwt(func(c *Config) { c.UserClaim = " " }), keys: []string{"user_claim"}},
		{name: "everything at once", cfg: Config{Mode: ModeJWT, JWKSRefresh: time.Second, Leeway: time.Hour},
			keys: []string{"jwks_url", "jwks_refresh", "leeway", "user_claim"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var got []string
			for _, e := range bff.Flatten(err) {
				fe, ok := errors.AsType[*bff.FieldError](e)
				if !ok {
					t.Fatalf("%T is not a *bff.FieldError: %v", e, e)
				}
				got = append(got, fe.Key)
			}
			if !slices.Equal(got, tc.keys) {
				t.Fatalf("invalid keys %q, want %q; err: %v", got, tc.keys, err)
			}
			if tc.not != "" && strings.Contains(err.Error(), tc.not) {
				t.Fatalf("message %q shows %q", err, tc.not)
			}
		})
	}
}

func TestConfigWarnings(t *testing.T) {
	c := Default()
	if w := c.Warnings(); len(w) != 0 {
		t.Fatalf("default warns %q", w)
	}
	c.ForwardToken = true
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "forward_token") {
		t.Fatalf("forward in mode none: %q", w)
	}
	c = Default()
	c.Mode, c.JWKSURL = ModeJWT, "http://idp.example/jwks"
	want := []string{
		"auth.issuer is not set: tokens from any issuer signed by these keys are accepted",
		"auth.audience is not set: tokens for any audience signed by these keys are accepted",
		"auth.jwks_url uses plain http: whoever sits on the path can swap the keys",
	}
	if w := c.Warnings(); !slices.Equal(w, want) {
		t.Fatalf("warnings %q, want %q", w, want)
	}
	c.Issuer, c.Audience, c.JWKSURL = "https://idp.example", "pagebff", "http://127.0.0.1:8081/jwks"
	if w := c.Warnings(); len(w) != 0 {
		t.Fatalf("warnings %q", w)
	}
}
