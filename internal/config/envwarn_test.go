package config

import (
	"strings"
	"testing"
)

// A mistyped BFF_* variable was silently ignored.
func TestEnvWarningsMistypedVariable(t *testing.T) {
	cfg, err := Load(writeConfig(t, "services:\n  reviews: {url: \"http://r\", path: /r}\n"), envOf(withURLs(nil)), false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{
			name: "known variables only",
			environ: []string{
				"BFF_CONFIG=x.yaml", "BFF_ADDR=:1", "BFF_SERVER_ADDR=:2", "BFF_ADMIN_TOKEN=t",
				"BFF_DEFAULTS_TIMEOUT=1s", "BFF_SERVICES_USER_TIMEOUT=1s", "BFF_SERVICES_USER_URL=http://u",
				"BFF_SERVICES_REVIEWS_BREAKER_OPEN_TIMEOUT=1s", "BFF_SERVICES_ACTIVITY_ENABLED=false",
				"PATH=/bin", "USER_SERVICE_URL=http://u", "bff_addr=:1",
			},
		},
		{
			name:    "one letter off",
			environ: []string{"BFF_SERVICES_USER_TIMOUT=250ms"},
			want:    []string{"BFF_SERVICES_USER_TIMOUT is not a pagebff setting and is ignored; did you mean BFF_SERVICES_USER_TIMEOUT?"},
		},
		{
			name:    "an extra service's key",
			environ: []string{"BFF_SERVICES_REVIEWS_TIMEOT=1s"},
			want:    []string{"BFF_SERVICES_REVIEWS_TIMEOT is not a pagebff setting and is ignored; did you mean BFF_SERVICES_REVIEWS_TIMEOUT?"},
		},
		{
			name:    "nothing close",
			environ: []string{"BFF_WHATEVER_YOU_LIKE=1"},
			want:    []string{"BFF_WHATEVER_YOU_LIKE is not a pagebff setting and is ignored"},
		},
		{
			name:    "sorted, once each, no value shown",
			environ: []string{"BFF_ADMIN_TOKN=s3cr3t-token-7731", "BFF_ADRR=:1", "BFF_ADMIN_TOKN=s3cr3t-token-7731", "BFF_EMPTY="},
			want: []string{
				"BFF_ADMIN_TOKN is not a pagebff setting and is ignored; did you mean BFF_ADMIN_TOKEN?",
				"BFF_ADRR is not a pagebff setting and is ignored; did you mean BFF_ADDR?",
				"BFF_EMPTY is not a pagebff setting and is ignored",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EnvWarnings(tt.environ, cfg)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("EnvWarnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// Every variable Load reads is known, so a correct environment warns about
// nothing: the list is built from the same tables and envNames.
func TestEnvWarningsKnowsEveryKey(t *testing.T) {
	cfg := Default()
	var environ []string
	for k := range knownEnv(cfg) {
		environ = append(environ, k+"=1")
	}
	for _, k := range []string{"server.max_conns", "defaults.hedge.delay", "services.catalog.identity_field", "cache.redis_url"} {
		environ = append(environ, envNames(k)[0]+"=1")
	}
	if got := EnvWarnings(environ, cfg); got != nil {
		t.Errorf("EnvWarnings = %q, want nil", got)
	}
	if n := len(knownEnv(cfg)); n < len(globalSettings)+4*len(serviceSettings) {
		t.Errorf("only %d known variables", n)
	}
}
