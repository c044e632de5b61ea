package config

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{
			name:   "identical",
			change: func(c *Config) {},
			want:   nil,
		},
		{
			name:   "page.timeout",
			change: func(c *Config) { c.Page.Timeout = 400 * time.Millisecond },
			want:   []string{"page.timeout"},
		},
		{
			name:   "service timeout",
			change: func(c *Config) { svc(c, "user").Downstream.Timeout = 200 * time.Millisecond },
			want:   []string{"services.user.timeout"},
		},
		{
			name:   "service path",
			change: func(c *Config) { svc(c, "catalog").Downstream.Path = "/v2/items" },
			want:   []string{"services.catalog.path"},
		},
		{
			name:   "service url",
			change: func(c *Config) { svc(c, "activity").Downstream.URL = "http://activity-v2" },
			want:   []string{"services.activity.url"},
		},
		{
			name:   "breaker threshold",
			change: func(c *Config) { svc(c, "user").Breaker.ConsecutiveFailures = 3 },
			want:   []string{"services.user.breaker.consecutive_failures"},
		},
		{
			name:   "hedge delay from auto to fixed",
			change: func(c *Config) { svc(c, "catalog").Hedge.Delay = 80 * time.Millisecond },
			want:   []string{"services.catalog.hedge.delay"},
		},
		{
			name: "several changes come back sorted",
			change: func(c *Config) {
				svc(c, "user").Downstream.Path = "/v2/users/{user_id}"
				c.Page.Timeout = time.Second
				svc(c, "user").Breaker.ConsecutiveFailures = 3
				c.LogLevel = "debug"
			},
			want: []string{
				"log.level",
				"page.timeout",
				"services.user.breaker.consecutive_failures",
				"services.user.path",
			},
		},
		{
			name: "service added",
			change: func(c *Config) {
				s := defaultService().named("extra", "/extra", "")
				s.Downstream.URL = "http://extra"
				c.Services = append(c.Services, s)
			},
			want: []string{"services.extra"},
		},
		{
			name: "service removed",
			change: func(c *Config) {
				c.Services = slices.DeleteFunc(c.Services, func(s Service) bool { return s.Name == "activity" })
			},
			want: []string{"services.activity"},
		},
		{
			name: "services reordered",
			change: func(c *Config) {
				slices.Reverse(c.Services)
			},
			want: nil,
		},
		{
			name: "fields without a key are ignored",
			change: func(c *Config) {
				svc(c, "user").Downstream.Transport = http.DefaultTransport
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := withServiceURLs(Default())
			// Copy the services, so that changing new leaves old alone.
			next := old
			next.Services = slices.Clone(old.Services)
			tt.change(&next)
			if got := Diff(old, next); !slices.Equal(got, tt.want) {
				t.Errorf("Diff = %q, want %q", got, tt.want)
			}
			if got := Diff(next, old); !slices.Equal(got, tt.want) {
				t.Errorf("Diff, reversed = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDiffAdminTokenNamesKeyNotValue(t *testing.T) {
	const secret = "s3cret-t0ken"
	tests := []struct {
		name     string
		old, new string
	}{
		{name: "set", old: "", new: secret},
		{name: "changed", old: "0ld-" + secret, new: secret},
		{name: "cleared", old: secret, new: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := Default(), Default()
			a.Server.AdminToken = tt.old
			b.Server.AdminToken = tt.new
			got := Diff(a, b)
			if want := []string{"admin.token"}; !slices.Equal(got, want) {
				t.Errorf("Diff = %q, want %q", got, want)
			}
			if s := strings.Join(got, " "); strings.Contains(s, secret) {
				t.Errorf("Diff = %q, contains the token", got)
			}
		})
	}
}

// TestDiffAfterLoad compares two loaded files: a change under defaults.
// shows as the resolved key of every service it reaches, never as
// defaults.*, and a service that sets its own value does not change.
func TestDiffAfterLoad(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     []string
	}{
		{
			name: "same file",
			old:  "page:\n  timeout: 400ms\n",
			new:  "page:\n  timeout: 400ms\n",
			want: nil,
		},
		{
			name: "defaults.timeout reaches the services that do not set their own",
			old:  "services:\n  user:\n    timeout: 100ms\n",
			new:  "defaults:\n  timeout: 200ms\nservices:\n  user:\n    timeout: 100ms\n",
			want: []string{"services.activity.timeout", "services.catalog.timeout"},
		},
		{
			name: "same resolved value written differently",
			old:  "defaults:\n  timeout: 300ms\n",
			new:  "services:\n  user:\n    timeout: 0.3s\n",
			want: nil,
		},
		{
			name: "service disabled",
			old:  "",
			new:  "services:\n  activity:\n    enabled: false\n",
			want: []string{"services.activity"},
		},
		{
			name: "extra service with a breaker setting",
			old:  "services:\n  extra:\n    path: /x\n",
			new:  "services:\n  extra:\n    path: /x\n    breaker:\n      consecutive_failures: 2\n",
			want: []string{"services.extra.breaker.consecutive_failures"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := mustLoad(t, tt.old)
			next := mustLoad(t, tt.new)
			if got := Diff(old, next); !slices.Equal(got, tt.want) {
				t.Errorf("Diff = %q, want %q", got, tt.want)
			}
		})
	}
}

// mustLoad loads yaml (built-in defaults if empty) in demo mode.
func mustLoad(tb testing.TB, yaml string) Config {
	tb.Helper()
	c, err := Load(writeConfig(tb, yaml), envOf(nil), true)
	if err != nil {
		tb.Fatalf("Load(%q): %v", yaml, err)
	}
	return c
}

// svc returns a pointer to c's service called name; it panics if there is
// none, which only a broken test table can cause.
func svc(c *Config, name string) *Service {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i]
		}
	}
	panic("no service " + name)
}

// withServiceURLs returns c with a URL for every service.
func withServiceURLs(c Config) Config {
	c.Services = slices.Clone(c.Services)
	for i := range c.Services {
		c.Services[i].Downstream.URL = "http://" + c.Services[i].Name
	}
	return c
}
