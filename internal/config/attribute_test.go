package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// A problem with a value from defaults.<key> (or the built-in default) was
// reported as services.<name>.<key>, once per service, naming keys the file
// did not have.
func TestLoadDefaultsProblemNamedOnce(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want []string // every message, in order
	}{
		{
			name: "defaults timeout above page timeout",
			file: "defaults:\n  timeout: 900ms\npage:\n  timeout: 500ms\n",
			want: []string{`defaults.timeout: "900ms" is not allowed; want a duration no longer than page.timeout (500ms)`},
		},
		{
			name: "built-in timeout above page timeout",
			file: "page:\n  timeout: 200ms\n",
			want: []string{`defaults.timeout: "300ms" is not allowed; want a duration no longer than page.timeout (200ms)`},
		},
		{
			name: "defaults from the environment",
			env:  map[string]string{"BFF_DEFAULTS_BREAKER_FAILURE_RATIO": "2"},
			want: []string{"defaults.breaker.failure_ratio: 2 is not allowed; want a number from 0 (rule off) to 1"},
		},
		{
			name: "a service that sets the key itself is named for it",
			file: "defaults:\n  timeout: 900ms\npage:\n  timeout: 500ms\nservices:\n  user:\n    timeout: 800ms\n",
			want: []string{
				`services.user.timeout: "800ms" is not allowed; want a duration no longer than page.timeout (500ms)`,
				`defaults.timeout: "900ms" is not allowed; want a duration no longer than page.timeout (500ms)`,
			},
		},
		{
			name: "service set from the environment",
			file: "defaults:\n  breaker:\n    min_requests: 0\n",
			env:  map[string]string{"BFF_SERVICES_CATALOG_BREAKER_MIN_REQUESTS": "0"},
			want: []string{
				"defaults.breaker.min_requests: 0 is not allowed; want a whole number of at least 1",
				"services.catalog.breaker.min_requests: 0 is not allowed; want a whole number of at least 1",
			},
		},
		{
			name: "hedge delay against the service's own timeout stays with the service",
			file: "defaults:\n  hedge:\n    delay: 80ms\nservices:\n  user:\n    timeout: 50ms\n",
			want: []string{`services.user.hedge.delay: "80ms" is not allowed; want a duration below the service timeout (50ms), or "auto"`},
		},
		{
			name: "hedge delay against the default timeout",
			file: "defaults:\n  hedge:\n    delay: 400ms\n",
			want: []string{`defaults.hedge.delay: "400ms" is not allowed; want a duration below the service timeout (300ms), or "auto"`},
		},
		{
			name: "an extra service gets the same treatment",
			file: "defaults:\n  cache:\n    max_entries: 0\nservices:\n  reviews: {url: \"http://r\", path: /r}\n",
			want: []string{"defaults.cache.max_entries: 0 is not allowed; want a whole number of at least 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.file), envOf(withURLs(tt.env)), false)
			var got []string
			for _, e := range bff.Flatten(err) {
				var fe *bff.FieldError
				if !errors.As(e, &fe) {
					t.Errorf("error %v is a %T, want *bff.FieldError", e, e)
				}
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// Validate on its own, with no loader, keeps naming each service.
func TestValidateWithoutLoaderNamesServices(t *testing.T) {
	c := Default()
	c.Page.Timeout = 200 * time.Millisecond
	for i := range c.Services {
		c.Services[i].Downstream.URL = "http://" + c.Services[i].Name
	}
	var keys []string
	for _, e := range bff.Flatten(c.Validate(false)) {
		var fe *bff.FieldError
		if errors.As(e, &fe) {
			keys = append(keys, fe.Key)
		}
	}
	want := []string{"services.user.timeout", "services.catalog.timeout", "services.activity.timeout"}
	if !sameSet(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
}
