package config

import (
	"slices"
)

// Diff returns the dotted keys whose resolved values differ between old and
// new, sorted: "page.timeout", "services.user.breaker.consecutive_failures".
// Per-service keys are reported under services.<name>; defaults.* never
// appears, since a change there shows as a change in each service it
// reaches. A service in only one of the two (added, removed, enabled or
// disabled) is reported once, as "services.<name>". Fields that no key sets,
// such as downstream.Config.Transport, are not compared.
//
// Diff returns keys only, never values, so its result is safe to log even
// when admin.token changed. It returns nil when nothing differs.
func Diff(old, new Config) []string {
	var keys []string
	keys = appendDiff(keys, "", globalSettings, &old, &new)

	oldSvc := servicesByName(old)
	newSvc := servicesByName(new)
	for name, o := range oldSvc {
		n, ok := newSvc[name]
		if !ok {
			keys = append(keys, "services."+name)
			continue
		}
		p := "services." + name + "."
		keys = appendDiff(keys, p, serviceSettings, &o, &n)
		// enabled is always true here: a disabled service is not in
		// Config.Services at all, and shows up as removed above.
		od := serviceDraft{Service: o, enabled: true}
		nd := serviceDraft{Service: n, enabled: true}
		keys = appendDiff(keys, p, serviceOnlySettings, &od, &nd)
	}
	for name := range newSvc {
		if _, ok := oldSvc[name]; !ok {
			keys = append(keys, "services."+name)
		}
	}
	slices.Sort(keys)
	return keys
}

// appendDiff appends prefix+key for every setting in table whose value
// differs between a and b.
func appendDiff[T any](keys []string, prefix string, table []setting[T], a, b *T) []string {
	for _, s := range table {
		if _, old := deprecatedKeys[s.key]; old {
			continue // the same value as the key that replaced it
		}
		if s.get(a) != s.get(b) {
			keys = append(keys, prefix+s.key)
		}
	}
	return keys
}

// servicesByName indexes c's services by name. Validate rejects duplicate
// names; should one slip through, the last wins.
func servicesByName(c Config) map[string]Service {
	m := make(map[string]Service, len(c.Services))
	for _, s := range c.Services {
		m[s.Name] = s
	}
	return m
}
