package config

import (
	"errors"
	"slices"
	"strings"

	"github.com/pagebff/pagebff/internal/bff"
)

// relatedKeys lists, for a per-service key, the other per-service keys its
// check in Service.validate depends on: hedge.delay must sit below the
// service's timeout. A service that set one of them itself owns the problem.
var relatedKeys = map[string][]string{
	"hedge.delay": {"timeout"},
}

// attribute rewrites validation errors to name the key the user set. An
// error keyed services.<name>.<key>, for a key also allowed under
// defaults., whose value the service did not set itself (nor any key the
// check relates it to) came from defaults.<key> or the built-in default: it
// is keyed defaults.<key>, and identical messages are kept once, instead of
// once per service. Other errors pass unchanged, in order.
//
// Before this, `defaults: {timeout: 900ms}` with `page: {timeout: 500ms}`
// was told as services.user.timeout, services.catalog.timeout and
// services.activity.timeout, none of which the file had.
func (l *loader) attribute(errs []error) []error {
	out := make([]error, 0, len(errs))
	seen := make(map[string]bool)
	for _, e := range errs {
		var fe *bff.FieldError
		if errors.As(e, &fe) {
			if key, ok := l.defaultsKey(fe.Key); ok {
				c := *fe
				c.Key = key
				e = &c
			}
		}
		if msg := e.Error(); !seen[msg] {
			seen[msg] = true
			out = append(out, e)
		}
	}
	return out
}

// defaultsKey returns defaults.<rel> for key services.<name>.<rel> when rel
// is a per-service setting that the service did not set, nor any of
// relatedKeys[rel]; otherwise false.
func (l *loader) defaultsKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "services.")
	if !ok {
		return "", false
	}
	// Service names have no dots (nameRE), so the first dot ends the name.
	name, rel, ok := strings.Cut(rest, ".")
	if !ok || !slices.Contains(serviceSettingKeys, rel) {
		return "", false
	}
	prefix := "services." + name + "."
	for _, k := range append([]string{rel}, relatedKeys[rel]...) {
		if l.set[prefix+k] {
			return "", false
		}
	}
	return "defaults." + rel, true
}

// serviceSettingKeys are the keys of serviceSettings, relative to a service.
var serviceSettingKeys = keysOf("", serviceSettings)
