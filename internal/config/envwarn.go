package config

import (
	"slices"
	"sort"
	"strings"
)

// EnvWarnings returns one line for each BFF_-prefixed variable in environ
// ("NAME=value" entries, as from os.Environ) that pagebff does not read,
// naming the nearest variable it does read when one is close, e.g.
//
//	BFF_SERVICES_USER_TIMOUT is not a pagebff setting and is ignored; did you mean BFF_SERVICES_USER_TIMEOUT?
//
// A mistyped variable is otherwise silently ignored. The lines never show a
// value. The variables read are BFF_CONFIG, BFF_ADDR and BFF_<KEY> for every
// global key, every defaults.* key and every per-service key of the
// built-in services and of each service in cfg (the Config that Load
// returned). A service that the file names but disables is not in cfg, so
// its variables are reported too. Lines come sorted by variable name; nil
// means nothing to warn about. EnvWarnings is safe for concurrent use.
func EnvWarnings(environ []string, cfg Config) []string {
	known := knownEnv(cfg)
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "BFF_") && !known[name] && !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	var lines []string
	for _, name := range unknown {
		line := name + " is not a pagebff setting and is ignored"
		if near := nearest(name, known); near != "" {
			line += "; did you mean " + near + "?"
		}
		lines = append(lines, line)
	}
	return lines
}

// knownEnv returns the BFF_ variables that Load and FilePath read for cfg.
func knownEnv(cfg Config) map[string]bool {
	known := map[string]bool{"BFF_CONFIG": true}
	add := func(keys []string) {
		for _, k := range keys {
			for _, name := range envNames(k) {
				if strings.HasPrefix(name, "BFF_") {
					known[name] = true
				}
			}
		}
	}
	add(keysOf("", globalSettings))
	add(keysOf("defaults.", serviceSettings))
	names := make([]string, 0, len(builtinServices)+len(cfg.Services))
	for _, b := range builtinServices {
		names = append(names, b.name)
	}
	for _, s := range cfg.Services {
		names = append(names, s.Name)
	}
	for _, n := range names {
		p := "services." + n + "."
		add(keysOf(p, serviceSettings))
		add(keysOf(p, serviceOnlySettings))
	}
	return known
}

// nearest returns the known name closest to name by edit distance, if it is
// close enough to be a likely typo (at most 3 edits, and fewer than a third
// of the name); ties go to the alphabetically first.
func nearest(name string, known map[string]bool) string {
	best, bestD := "", 0
	for k := range known {
		d := editDistance(name, k)
		if best == "" || d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" || bestD > 3 || bestD*3 >= len(name) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (environment variable names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
