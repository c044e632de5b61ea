package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// envOf returns a getenv that reads from m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// withURLs returns m plus base URLs for the three built-in services.
func withURLs(m map[string]string) map[string]string {
	out := map[string]string{
		"USER_SERVICE_URL":     "http://user:8080",
		"CATALOG_SERVICE_URL":  "http://catalog:8080",
		"ACTIVITY_SERVICE_URL": "http://activity:8080",
	}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// writeConfig writes yaml to a file in a fresh temporary directory and
// returns its path; an empty yaml means no file ("").
func writeConfig(tb testing.TB, yaml string) string {
	tb.Helper()
	if yaml == "" {
		return ""
	}
	path := filepath.Join(tb.TempDir(), "bff.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// service returns the service called name, failing the test if it is absent.
func service(tb testing.TB, c Config, name string) Service {
	tb.Helper()
	for _, s := range c.Services {
		if s.Name == name {
			return s
		}
	}
	tb.Fatalf("no service %q in %v", name, serviceNames(c))
	return Service{}
}

func serviceNames(c Config) []string {
	var names []string
	for _, s := range c.Services {
		names = append(names, s.Name)
	}
	return names
}

func TestDefaultMatchesExampleFile(t *testing.T) {
	got, err := Load("../../config/bff.yaml", envOf(nil), true)
	if err != nil {
		t.Fatalf("Load(example): %v", err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("example file differs from Default():\n got %+v\nwant %+v", got, want)
	}
}

func TestDefaultIsValidWithURLs(t *testing.T) {
	c := Default()
	for i := range c.Services {
		c.Services[i].Downstream.URL = "http://" + c.Services[i].Name
	}
	if err := c.Validate(false); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestLoadLayering(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		get  func(Config) any
		want any
	}{
		{
			name: "no file, no env: built-in default",
			get:  func(c Config) any { return c.Server.Addr },
			want: ":8080",
		},
		{
			name: "file wins over built-in",
			file: "server:\n  addr: \":9090\"\n",
			get:  func(c Config) any { return c.Server.Addr },
			want: ":9090",
		},
		{
			name: "BFF_SERVER_ADDR wins over file",
			file: "server:\n  addr: \":9090\"\n",
			env:  map[string]string{"BFF_SERVER_ADDR": ":7070"},
			get:  func(c Config) any { return c.Server.Addr },
			want: ":7070",
		},
		{
			name: "BFF_ADDR wins over BFF_SERVER_ADDR and file",
			file: "server:\n  addr: \":9090\"\n",
			env:  map[string]string{"BFF_SERVER_ADDR": ":7070", "BFF_ADDR": "127.0.0.1:18080"},
			get:  func(c Config) any { return c.Server.Addr },
			want: "127.0.0.1:18080",
		},
		{
			name: "empty env value is unset",
			file: "server:\n  addr: \":9090\"\n",
			env:  map[string]string{"BFF_ADDR": ""},
			get:  func(c Config) any { return c.Server.Addr },
			want: ":9090",
		},
		{
			name: "admin.token goes to Server.AdminToken",
			env:  map[string]string{"BFF_ADMIN_TOKEN": "s3cret"},
			get:  func(c Config) any { return c.Server.AdminToken },
			want: "s3cret",
		},
		{
			name: "log.level from file",
			file: "log:\n  level: debug\n",
			get:  func(c Config) any { return c.LogLevel },
			want: "debug",
		},
		{
			name: "defaults.timeout from file applies to every service",
			file: "defaults:\n  timeout: 200ms\n",
			get:  func(c Config) any { return service(t, c, "activity").Downstream.Timeout },
			want: 200 * time.Millisecond,
		},
		{
			name: "BFF_DEFAULTS_TIMEOUT wins over file defaults.timeout",
			file: "defaults:\n  timeout: 200ms\n",
			env:  map[string]string{"BFF_DEFAULTS_TIMEOUT": "250ms"},
			get:  func(c Config) any { return service(t, c, "catalog").Downstream.Timeout },
			want: 250 * time.Millisecond,
		},
		{
			name: "file services.user.timeout wins over BFF_DEFAULTS_TIMEOUT",
			file: "services:\n  user:\n    timeout: 150ms\n",
			env:  map[string]string{"BFF_DEFAULTS_TIMEOUT": "250ms"},
			get:  func(c Config) any { return service(t, c, "user").Downstream.Timeout },
			want: 150 * time.Millisecond,
		},
		{
			name: "other services keep defaults when one sets its own",
			file: "services:\n  user:\n    timeout: 150ms\n",
			env:  map[string]string{"BFF_DEFAULTS_TIMEOUT": "250ms"},
			get:  func(c Config) any { return service(t, c, "catalog").Downstream.Timeout },
			want: 250 * time.Millisecond,
		},
		{
			name: "BFF_SERVICES_USER_TIMEOUT wins over file services.user.timeout",
			file: "services:\n  user:\n    timeout: 150ms\n",
			env:  map[string]string{"BFF_SERVICES_USER_TIMEOUT": "100ms"},
			get:  func(c Config) any { return service(t, c, "user").Downstream.Timeout },
			want: 100 * time.Millisecond,
		},
		{
			name: "nested key from env under defaults",
			env:  map[string]string{"BFF_DEFAULTS_BREAKER_FAILURE_RATIO": "0.25"},
			get:  func(c Config) any { return service(t, c, "user").Breaker.FailureRatio },
			want: 0.25,
		},
		{
			name: "uint from decimal string in the file",
			file: "services:\n  catalog:\n    breaker:\n      min_requests: \"7\"\n",
			get:  func(c Config) any { return service(t, c, "catalog").Breaker.MinRequests },
			want: uint32(7),
		},
		{
			name: "bool 0 from env",
			env:  map[string]string{"BFF_SERVICES_ACTIVITY_HEDGE_ENABLED": "0"},
			get:  func(c Config) any { return service(t, c, "activity").Hedge.Enabled },
			want: false,
		},
		{
			name: "fixed hedge delay",
			file: "defaults:\n  hedge:\n    delay: 80ms\n",
			get:  func(c Config) any { return service(t, c, "user").Hedge.Delay },
			want: 80 * time.Millisecond,
		},
		{
			name: "hedge delay auto from env overrides a fixed one in the file",
			file: "defaults:\n  hedge:\n    delay: 80ms\n",
			env:  map[string]string{"BFF_DEFAULTS_HEDGE_DELAY": "auto"},
			get:  func(c Config) any { return service(t, c, "user").Hedge.Delay },
			want: time.Duration(0),
		},
		{
			name: "integer budget_percent is a float, read as the old name of budget.percent",
			file: "defaults:\n  hedge:\n    budget_percent: 5\n",
			get:  func(c Config) any { return service(t, c, "user").Budget.Percent },
			want: 5.0,
		},
		{
			name: "budget.percent wins over its old name",
			file: "defaults:\n  hedge:\n    budget_percent: 5\n  budget:\n    percent: 20\n",
			get:  func(c Config) any { return service(t, c, "user").Budget.Percent },
			want: 20.0,
		},
		{
			name: "retry per service",
			file: "services:\n  catalog:\n    retry:\n      max_attempts: 3\n      backoff: 25ms\n",
			get: func(c Config) any {
				r := service(t, c, "catalog").Retry
				return fmt.Sprint(r.MaxAttempts, r.Backoff, service(t, c, "user").Retry.MaxAttempts)
			},
			want: "3 25ms 2",
		},
		{
			name: "max_body per service",
			file: "services:\n  catalog:\n    max_body: 2048\n",
			get:  func(c Config) any { return service(t, c, "catalog").Downstream.MaxBody },
			want: int64(2048),
		},
		{
			name: "path per service",
			file: "services:\n  user:\n    path: /v2/users/{user_id}\n",
			get:  func(c Config) any { return service(t, c, "user").Downstream.Path },
			want: "/v2/users/{user_id}",
		},
		{
			name: "url from file",
			file: "services:\n  user:\n    url: http://file-user\n",
			env:  map[string]string{"USER_SERVICE_URL": ""},
			get:  func(c Config) any { return service(t, c, "user").Downstream.URL },
			want: "http://file-user",
		},
		{
			name: "BFF_SERVICES_USER_URL wins over file",
			file: "services:\n  user:\n    url: http://file-user\n",
			env:  map[string]string{"USER_SERVICE_URL": "", "BFF_SERVICES_USER_URL": "http://bff-env-user"},
			get:  func(c Config) any { return service(t, c, "user").Downstream.URL },
			want: "http://bff-env-user",
		},
		{
			name: "USER_SERVICE_URL wins over BFF_SERVICES_USER_URL and file",
			file: "services:\n  user:\n    url: http://file-user\n",
			env:  map[string]string{"USER_SERVICE_URL": "http://env-user/prefix", "BFF_SERVICES_USER_URL": "http://bff-env-user"},
			get:  func(c Config) any { return service(t, c, "user").Downstream.URL },
			want: "http://env-user/prefix",
		},
		{
			name: "keys are case-insensitive in the file",
			file: "Page:\n  Timeout: 800ms\n",
			get:  func(c Config) any { return c.Page.Timeout },
			want: 800 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, tt.file), envOf(withURLs(tt.env)), false)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v (%T), want %v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestLoadServices(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		env       map[string]string
		wantNames []string
		check     func(t *testing.T, c Config)
	}{
		{
			name:      "built-in services in page order",
			wantNames: []string{"user", "catalog", "activity"},
		},
		{
			name: "fourth service from the file inherits defaults",
			file: `
defaults:
  timeout: 200ms
  breaker:
    open_timeout: 2s
services:
  reviews:
    url: http://reviews:8080
    path: /reviews/{user_id}
    max_body: 4096
`,
			wantNames: []string{"user", "catalog", "activity", "reviews"},
			check: func(t *testing.T, c Config) {
				s := service(t, c, "reviews")
				want := defaultService().named("reviews", "/reviews/{user_id}", "")
				want.Downstream.URL = "http://reviews:8080"
				want.Downstream.MaxBody = 4096
				want.Downstream.Timeout = 200 * time.Millisecond
				want.Breaker.OpenTimeout = 2 * time.Second
				if !reflect.DeepEqual(s, want) {
					t.Errorf("reviews:\n got %+v\nwant %+v", s, want)
				}
			},
		},
		{
			name:      "extra services sorted after the built-in ones",
			file:      "services:\n  zeta: {url: http://z, path: /z}\n  alpha: {url: http://a, path: /a}\n",
			wantNames: []string{"user", "catalog", "activity", "alpha", "zeta"},
		},
		{
			name: "extra service URL from its env variable",
			file: "services:\n  reviews: {path: /r}\n",
			env:  map[string]string{"REVIEWS_SERVICE_URL": "http://env-reviews"},
			check: func(t *testing.T, c Config) {
				if got := service(t, c, "reviews").Downstream.URL; got != "http://env-reviews" {
					t.Errorf("URL = %q", got)
				}
			},
			wantNames: []string{"user", "catalog", "activity", "reviews"},
		},
		{
			name:      "disabled in the file",
			file:      "services:\n  activity:\n    enabled: false\n",
			wantNames: []string{"user", "catalog"},
		},
		{
			name:      "disabled from env",
			env:       map[string]string{"BFF_SERVICES_CATALOG_ENABLED": "false"},
			wantNames: []string{"user", "activity"},
		},
		{
			name:      "disabled extra service needs no path",
			file:      "services:\n  reviews:\n    enabled: false\n",
			wantNames: []string{"user", "catalog", "activity"},
		},
		{
			name:      "service written without a value",
			file:      "services:\n  user:\n",
			wantNames: []string{"user", "catalog", "activity"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, tt.file), envOf(withURLs(tt.env)), false)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := serviceNames(c); !reflect.DeepEqual(got, tt.wantNames) {
				t.Errorf("services = %v, want %v", got, tt.wantNames)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestLoadBadValue(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		key  string   // the *bff.FieldError's Key
		want []string // substrings of the message: value and what is allowed
	}{
		{
			name: "bad duration",
			file: "services:\n  user:\n    timeout: soon\n",
			key:  "services.user.timeout",
			want: []string{`"soon"`, "a Go duration such as 300ms"},
		},
		{
			name: "bare number is not a duration",
			file: "defaults:\n  timeout: 300\n",
			key:  "defaults.timeout",
			want: []string{"300 is not allowed", "a Go duration such as 300ms"},
		},
		{
			name: "bare number from env is not a duration",
			env:  map[string]string{"BFF_PAGE_TIMEOUT": "500"},
			key:  "page.timeout",
			want: []string{`"500"`, "a Go duration such as 300ms", "from env BFF_PAGE_TIMEOUT"},
		},
		{
			name: "failure ratio above 1",
			file: "services:\n  user:\n    breaker:\n      failure_ratio: 1.5\n",
			key:  "services.user.breaker.failure_ratio",
			want: []string{"1.5", "a number from 0 (rule off) to 1"},
		},
		{
			name: "failure ratio not a number",
			env:  map[string]string{"BFF_SERVICES_USER_BREAKER_FAILURE_RATIO": "half"},
			key:  "services.user.breaker.failure_ratio",
			want: []string{`"half"`, "a number"},
		},
		{
			name: "negative unsigned int",
			file: "services:\n  catalog:\n    breaker:\n      min_requests: -1\n",
			key:  "services.catalog.breaker.min_requests",
			want: []string{"-1", "a whole number from 0 to 4294967295"},
		},
		{
			name: "fraction for a whole number",
			file: "defaults:\n  max_body: 1.5\n",
			key:  "defaults.max_body",
			want: []string{"1.5", "a whole number"},
		},
		{
			name: "zero max_entries",
			file: "services:\n  user:\n    cache:\n      max_entries: 0\n",
			key:  "services.user.cache.max_entries",
			want: []string{"0 is not allowed", "a whole number of at least 1"},
		},
		{
			name: "bad bool",
			file: "defaults:\n  hedge:\n    enabled: \"yes\"\n",
			key:  "defaults.hedge.enabled",
			want: []string{`"yes"`, "true or false"},
		},
		{
			name: "unknown key",
			file: "services:\n  user:\n    timeot: 200ms\n",
			key:  "services.user.timeot",
			want: []string{"unknown key"},
		},
		{
			name: "unknown top-level key",
			file: "sever:\n  addr: \":9090\"\n",
			key:  "sever.addr",
			want: []string{"unknown key"},
		},
		{
			name: "url only under services",
			file: "defaults:\n  url: http://x\n",
			key:  "defaults.url",
			want: []string{"unknown key"},
		},
		{
			name: "scalar where a section belongs",
			file: "server: 5\n",
			key:  "server",
			want: []string{"5 is not allowed", "a mapping of settings"},
		},
		{
			name: "number where a string belongs",
			file: "server:\n  addr: 8080\n",
			key:  "server.addr",
			want: []string{"8080 is not allowed", "a string"},
		},
		{
			name: "bad URL",
			env:  map[string]string{"USER_SERVICE_URL": "ftp://user"},
			key:  "services.user.url",
			want: []string{`"ftp://user"`, "an absolute http:// or https:// URL"},
		},
		{
			name: "path without leading slash",
			file: "services:\n  catalog:\n    path: items\n",
			key:  "services.catalog.path",
			want: []string{`"items"`, `a path starting with "/"`},
		},
		{
			name: "extra service without path",
			file: "services:\n  reviews:\n    url: http://reviews\n",
			key:  "services.reviews.path",
			want: []string{`""`, `a path starting with "/"`},
		},
		{
			name: "bad service name",
			file: "services:\n  bad-name: {url: http://x, path: /x}\n",
			key:  "services.bad-name",
			want: []string{`"bad-name"`, "^[a-z][a-z0-9_]{0,31}$"},
		},
		{
			name: "reserved service name",
			file: "services:\n  meta: {url: http://x, path: /x}\n",
			key:  "services.meta",
			want: []string{`"meta"`, `other than "meta"`},
		},
		{
			name: "service timeout above page timeout",
			file: "services:\n  activity:\n    timeout: 600ms\n",
			key:  "services.activity.timeout",
			want: []string{`"600ms"`, "a duration no longer than page.timeout (500ms)"},
		},
		{
			name: "hedge delay not below timeout",
			file: "services:\n  user:\n    hedge:\n      delay: 300ms\n",
			key:  "services.user.hedge.delay",
			want: []string{`"300ms"`, "a duration below the service timeout (300ms)"},
		},
		{
			name: "hedge delay 0s is not auto",
			file: "services:\n  user:\n    hedge:\n      delay: 0s\n",
			key:  "services.user.hedge.delay",
			want: []string{`"0s"`, `"auto" or a positive duration`},
		},
		{
			name: "redis backend without a URL",
			file: "cache:\n  backend: redis\n",
			key:  "cache.redis_url",
			want: []string{`want set for cache.backend: redis`},
		},
		{
			name: "redis URL of another scheme, password not shown",
			file: "cache:\n  backend: redis\n  redis_url: http://u:hunter2pw@r:6379\n",
			key:  "cache.redis_url",
			want: []string{`"http://u:xxxxx@r:6379" is not allowed; want a redis:// or rediss:// URL`},
		},
		{
			name: "redis database not a number",
			file: "cache:\n  backend: redis\n  redis_url: redis://r:6379/x\n",
			key:  "cache.redis_url",
			want: []string{`want a database number`},
		},
		{
			name: "redis timeout",
			file: "cache:\n  redis_timeout: 0s\n",
			key:  "cache.redis_timeout",
			want: []string{`"0s" is not allowed`},
		},
		{
			name: "redis timeout leaves no room for the service timeout",
			file: "page:\n  timeout: 400ms\ncache:\n  backend: redis\n  redis_url: redis://r:6379\n  redis_timeout: 150ms\n",
			key:  "cache.redis_timeout",
			want: []string{`leaves room for services.user.timeout (300ms) within page.timeout (400ms)`},
		},
		{
			name: "fresh ttl negative",
			file: "defaults:\n  cache:\n    fresh_ttl: -1s\n",
			key:  "defaults.cache.fresh_ttl",
			want: []string{`"-1s" is not allowed`},
		},
		{
			name: "max bytes zero",
			file: "services:\n  catalog:\n    cache:\n      max_bytes: 0\n",
			key:  "services.catalog.cache.max_bytes",
			want: []string{`0 is not allowed`},
		},
		{
			name: "unknown backend",
			env:  map[string]string{"BFF_CACHE_BACKEND": "memcached"},
			key:  "cache.backend",
			want: []string{`"memcached"`, `"memory" or "redis"`},
		},
		{
			name: "bad log level",
			file: "log:\n  level: verbose\n",
			key:  "log.level",
			want: []string{`"verbose"`, "debug, info, warn or error"},
		},
		{
			name: "bad listen address",
			env:  map[string]string{"BFF_ADDR": "localhost"},
			key:  "server.addr",
			want: []string{`"localhost"`, "a listen address host:port"},
		},
		{
			name: "bad value in the file is reported even when env overrides it",
			file: "page:\n  timeout: soon\n",
			env:  map[string]string{"BFF_PAGE_TIMEOUT": "400ms"},
			key:  "page.timeout",
			want: []string{`"soon"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.file), envOf(withURLs(tt.env)), false)
			errs := bff.Flatten(err)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), err)
			}
			var fe *bff.FieldError
			if !errors.As(errs[0], &fe) {
				t.Fatalf("error %v is a %T, want *bff.FieldError", errs[0], errs[0])
			}
			if fe.Key != tt.key {
				t.Errorf("Key = %q, want %q", fe.Key, tt.key)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.key+": ") {
				t.Errorf("message %q does not start with the key %q", msg, tt.key)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	file := `
server:
  max_inflight: 0
page:
  timeout: 200ms
defaults:
  breaker:
    failure_ratio: 1.5
services:
  user:
    timeot: 1s
  catalog:
    path: items
cache:
  backend: redis
`
	env := map[string]string{"BFF_LOG_LEVEL": "loud", "USER_SERVICE_URL": ""}
	_, err := Load(writeConfig(t, file), envOf(withURLs(env)), false)
	wantKeys := []string{
		"services.user.timeot",
		"server.max_inflight",
		"cache.redis_url", // backend redis without one
		"log.level",
		// The default 300ms service timeout now exceeds page.timeout for
		// every service, and the bad ratio applies to all three: each is
		// told once, under the key that holds the value.
		"defaults.breaker.failure_ratio",
		"defaults.timeout",
		"services.user.url",
		"services.catalog.path",
	}
	var gotKeys []string
	for _, e := range bff.Flatten(err) {
		var fe *bff.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v is a %T, want *bff.FieldError", e, e)
		}
		gotKeys = append(gotKeys, fe.Key)
	}
	if !sameSet(gotKeys, wantKeys) {
		t.Errorf("error keys:\n got %v\nwant %v\nerror:\n%v", gotKeys, wantKeys, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(wantKeys) {
		t.Errorf("message has %d lines, want one per problem (%d)", n, len(wantKeys))
	}
}

func sameSet(a, b []string) bool {
	count := make(map[string]int)
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestLoadMissingURLs(t *testing.T) {
	file := "services:\n  reviews: {path: /r}\n"
	tests := []struct {
		name string
		env  map[string]string
		demo bool
		want []string
	}{
		{
			name: "none set, no demo",
			want: []string{
				"services.user.url: USER_SERVICE_URL is not set (or services.user.url in the config file); set it, or run with --demo",
				"services.catalog.url: CATALOG_SERVICE_URL is not set",
				"services.activity.url: ACTIVITY_SERVICE_URL is not set",
				"services.reviews.url: REVIEWS_SERVICE_URL is not set",
			},
		},
		{
			name: "one set, no demo",
			env:  map[string]string{"USER_SERVICE_URL": "http://u", "CATALOG_SERVICE_URL": "http://c", "REVIEWS_SERVICE_URL": "http://r"},
			want: []string{"services.activity.url: ACTIVITY_SERVICE_URL is not set"},
		},
		{
			name: "none set, demo",
			demo: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, file), envOf(tt.env), tt.demo)
			errs := bff.Flatten(err)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d: %v", len(errs), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want prefix %q", i, errs[i], w)
				}
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		path     string
		content  string // written to path unless empty
		notExist bool
	}{
		{name: "missing file", path: filepath.Join(dir, "nope.yaml"), notExist: true},
		{name: "unparsable YAML", path: filepath.Join(dir, "broken.yaml"), content: "server: [\n"},
		{name: "not a mapping", path: filepath.Join(dir, "list.yaml"), content: "- a\n- b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.content != "" {
				if err := os.WriteFile(tt.path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(tt.path, envOf(withURLs(nil)), false)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if want := "read config file " + tt.path + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want prefix %q", err, want)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", got, tt.notExist)
			}
		})
	}
}

func TestLoadOddFiles(t *testing.T) {
	tests := []struct {
		name, file, ext string
	}{
		{name: "empty file", file: "\n", ext: ".yaml"},
		{name: "comments only", file: "# nothing here\n", ext: ".yaml"},
		{name: "unusual extension is still YAML", file: "page:\n  timeout: 500ms\n", ext: ".conf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bff"+tt.ext)
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := Load(path, envOf(nil), true)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, Default()) {
				t.Errorf("got %+v, want Default()", got)
			}
		})
	}
}

func TestFilePath(t *testing.T) {
	tests := []struct {
		name         string
		flag         string
		env          map[string]string
		defaultFile  bool // create config/bff.yaml in the working directory
		wantPath     string
		wantExplicit bool
	}{
		{name: "flag wins", flag: "a.yaml", env: map[string]string{"BFF_CONFIG": "b.yaml"}, defaultFile: true, wantPath: "a.yaml", wantExplicit: true},
		{name: "env when no flag", env: map[string]string{"BFF_CONFIG": "b.yaml"}, defaultFile: true, wantPath: "b.yaml", wantExplicit: true},
		{name: "default file when it exists", defaultFile: true, wantPath: "config/bff.yaml"},
		{name: "nothing", wantPath: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			if tt.defaultFile {
				if err := os.MkdirAll("config", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile("config/bff.yaml", nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			path, explicit := FilePath(tt.flag, envOf(tt.env))
			if path != tt.wantPath || explicit != tt.wantExplicit {
				t.Errorf("FilePath = (%q, %v), want (%q, %v)", path, explicit, tt.wantPath, tt.wantExplicit)
			}
		})
	}
}

func TestValidateHandBuilt(t *testing.T) {
	withURL := func(s Service) Service {
		s.Downstream.URL = "http://" + s.Name
		return s
	}
	base := defaultService()
	tests := []struct {
		name     string
		services []Service
		wantKey  string
	}{
		{name: "duplicate name", services: []Service{withURL(base.named("user", "/u", "")), withURL(base.named("user", "/u", ""))}, wantKey: "services.user"},
		{name: "bad name", services: []Service{withURL(base.named("User", "/u", ""))}, wantKey: "services.User"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Services = tt.services
			errs := bff.Flatten(c.Validate(false))
			var fe *bff.FieldError
			if len(errs) != 1 || !errors.As(errs[0], &fe) || fe.Key != tt.wantKey {
				t.Errorf("Validate = %v, want one error keyed %q", errs, tt.wantKey)
			}
		})
	}
}

// The old name of budget.percent is read with one warning line, and none
// when it is not used.
func TestDeprecatedKeyWarns(t *testing.T) {
	c, err := Load(writeConfig(t, "defaults:\n  hedge:\n    budget_percent: 5\nservices:\n  user:\n    hedge:\n      budget_percent: 7\n"),
		envOf(withURLs(nil)), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Deprecated) != 1 || !strings.Contains(c.Deprecated[0], "defaults.hedge.budget_percent is the old name of defaults.budget.percent") ||
		!strings.Contains(c.Deprecated[0], "services.user.hedge.budget_percent") {
		t.Fatalf("Deprecated = %q, want one line naming both uses", c.Deprecated)
	}
	if c, err := Load(writeConfig(t, "defaults:\n  budget:\n    percent: 5\n"), envOf(withURLs(nil)), false); err != nil || c.Deprecated != nil {
		t.Fatalf("Deprecated = %q (%v), want none", c.Deprecated, err)
	}
}
