package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/pagebff/pagebff/internal/bff"
)

// DefaultFile is the config file used when neither --config nor BFF_CONFIG
// names one, if it exists (relative to the working directory).
const DefaultFile = "config/bff.yaml"

// FilePath resolves the config file path: flagValue if set, else
// getenv("BFF_CONFIG") if set, else DefaultFile if it exists, else "" (no
// file: built-in defaults and environment only). explicit is true when the
// path came from the flag or the environment; Load treats a missing file as
// an error in any case.
func FilePath(flagValue string, getenv func(string) string) (path string, explicit bool) {
	if flagValue != "" {
		return flagValue, true
	}
	if p := getenv("BFF_CONFIG"); p != "" {
		return p, true
	}
	if fi, err := os.Stat(DefaultFile); err == nil && !fi.IsDir() {
		return DefaultFile, false
	}
	return "", false
}

// Load builds the configuration: Default(), then the YAML file at path (none
// if path is ""), then the environment, read only through getenv. It then
// validates the result with Validate(demo).
//
// A file that cannot be read or parsed is an error naming the file; so is a
// path that is not a regular file (a FIFO, a device, a directory; a symlink
// to a regular file is fine) or a file larger than maxFileSize, and a read
// that takes longer than readTimeout. Otherwise every problem comes back at
// once, joined with errors.Join, each a *bff.FieldError keyed with the full
// dotted key. A problem with a per-service value that the service did not set
// itself (it came from defaults.* or the built-in default) is keyed
// defaults.<key> and reported once, not once per service. No message shows a
// secret: the value of a secret key such as admin.token is (redacted), and
// so is the userinfo (user:password@) of any URL. On error the Config is the
// zero value. Load keeps no state and is safe for concurrent use.
func Load(path string, getenv func(string) string, demo bool) (Config, error) {
	l := &loader{getenv: getenv, set: make(map[string]bool)}
	if path != "" {
		f, err := readFile(path)
		if err != nil {
			return Config{}, err
		}
		l.file = f
	}
	c := l.build()
	c.Deprecated = l.deprecated()
	errs := append(l.errs, l.attribute(bff.Flatten(c.Validate(demo)))...)
	if len(errs) > 0 {
		return Config{}, errors.Join(redactErrors(errs)...)
	}
	return c, nil
}

// fileValues is what the config file says.
type fileValues struct {
	// leaves holds every value by lower-case dotted key; a nil value is a
	// key written without a value, which sets nothing.
	leaves map[string]any
	// services are the names under "services:", as written (lower-cased).
	services []string
}

const (
	// maxFileSize is the largest config file read; a config file is a few
	// kilobytes, and anything much larger is a mistake (a log, a dump).
	maxFileSize = 1 << 20
	// readTimeout bounds reading the file, so that a reload can never hang
	// on it (and later hold up SIGTERM behind the reload lock).
	readTimeout = 5 * time.Second
)

// readFile reads the YAML file at path and parses it with viper.
//
// It never blocks for long: the file is opened with O_NONBLOCK, so that
// opening a FIFO with no writer returns at once, and must then be a regular
// file (checked on the opened file, so a symlink to one, as in a Kubernetes
// ConfigMap, is fine), at most maxFileSize bytes, read within readTimeout.
// A FIFO or a symlink to /dev/zero used to hang viper's ReadInConfig
// forever, freezing reloads and then SIGTERM.
func readFile(path string) (fileValues, error) {
	b, err := readBounded(path)
	if err != nil {
		return fileValues{}, fmt.Errorf("read config file %s: %w", path, err)
	}
	v := viper.New()
	// The file is YAML whatever its name, so that viper never guesses TOML
	// or properties from an unusual extension.
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		// Drop the wrapper that would say "While parsing config"; the
		// cause stays reachable.
		var parseErr viper.ConfigParseError
		if errors.As(err, &parseErr) {
			err = parseErr.Unwrap()
		}
		return fileValues{}, fmt.Errorf("read config file %s: %w", path, err)
	}
	f := fileValues{leaves: make(map[string]any)}
	for _, k := range v.AllKeys() {
		f.leaves[k] = v.Get(k)
	}
	// Names come from the raw map rather than the leaves, so that an empty
	// "extra: {}" is still seen (and reported for its missing path).
	if m, ok := v.Get("services").(map[string]any); ok {
		for name := range m {
			f.services = append(f.services, name)
		}
	}
	sort.Strings(f.services)
	return f, nil
}

// readBounded returns the contents of the regular file at path, within
// maxFileSize and readTimeout. Errors do not repeat the path; a missing file
// is fs.ErrNotExist.
func readBounded(path string) ([]byte, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		// The caller names the file; keep the cause (fs.ErrNotExist, ...).
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("not a regular file (%s)", describeMode(fi.Mode()))
	}
	if fi.Size() > maxFileSize {
		f.Close()
		return nil, errTooLarge
	}
	type result struct {
		b   []byte
		err error
	}
	// Buffered, so that a read that outlives the timeout can still finish
	// and close the file; its goroutine then exits.
	done := make(chan result, 1)
	go func() {
		defer f.Close()
		// One byte more than allowed tells a file that grew past the limit.
		b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
		done <- result{b, err}
	}()
	timer := time.NewTimer(readTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		if len(r.b) > maxFileSize {
			return nil, errTooLarge
		}
		return r.b, nil
	case <-timer.C:
		return nil, fmt.Errorf("not read within %s", readTimeout)
	}
}

// errTooLarge is a config file above maxFileSize.
var errTooLarge = errors.New("larger than the 1 MiB limit for a config file")

// describeMode names a file type that is not a regular file.
func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.Type().String()
}

// loader layers the file and the environment over the defaults, collecting
// every problem in errs.
type loader struct {
	file   fileValues
	getenv func(string) string
	errs   []error
	// set holds every full dotted key that got a value from the file or the
	// environment (one that parsed), for attribute.
	set map[string]bool
}

// build returns the layered configuration, not yet validated.
func (l *loader) build() Config {
	c := Default()
	apply(l, "", globalSettings, &c)
	base := defaultService()
	apply(l, "defaults.", serviceSettings, &base)
	names := l.serviceNames()
	l.checkKeys(names)
	c.Services = nil
	for _, name := range names {
		if s, enabled := l.service(name, base); enabled {
			c.Services = append(c.Services, s)
		}
	}
	return c
}

// service layers services.<name>.* over base, which already holds the
// defaults.* values, and says whether the service is enabled.
func (l *loader) service(name string, base Service) (Service, bool) {
	path, identity := builtinPath(name)
	d := serviceDraft{Service: base.named(name, path, identity), enabled: true}
	prefix := "services." + name + "."
	apply(l, prefix, serviceSettings, &d.Service)
	apply(l, prefix, serviceOnlySettings, &d)
	return d.Service, d.enabled
}

// serviceNames returns the built-in services, then the file's other valid
// names in order; invalid names are reported and left out.
func (l *loader) serviceNames() []string {
	var names []string
	for _, b := range builtinServices {
		names = append(names, b.name)
	}
	for _, name := range l.file.services {
		if slices.Contains(names, name) {
			continue
		}
		if err := checkName(name); err != nil {
			l.errs = append(l.errs, err)
			continue
		}
		names = append(names, name)
	}
	return names
}

// apply sets dst from every value given for prefix+key, for each setting in
// table, lowest precedence first, and records the values that do not parse.
// Every given value is checked, even one that a higher layer overrides: a
// broken file should not wait for the environment to change to show.
func apply[T any](l *loader, prefix string, table []setting[T], dst *T) {
	for _, s := range table {
		k := prefix + s.key
		for _, g := range l.values(k) {
			if s.set(dst, g.raw) {
				l.set[k] = true
				continue
			}
			want := g.want(s.want)
			if _, isString := g.raw.(string); s.secret && !isString && s.want == stringKind.want {
				// The value is not shown, so say what to do about it:
				// YAML reads an unquoted 123456789 as a number.
				want += " (quote it in YAML)"
			}
			l.errs = append(l.errs, bff.Invalid(k, g.raw, want))
		}
	}
}

// given is one value supplied for a key.
type given struct {
	raw any
	// env is the environment variable it came from; "" for the file.
	env string
}

// want adds where the value came from, when that was the environment.
func (g given) want(want string) string {
	if g.env == "" {
		return want
	}
	return want + " (from env " + g.env + ")"
}

// values returns the values supplied for key, lowest precedence first: the
// file's, then BFF_<KEY>, then its alias if it has one. Empty environment
// variables count as unset.
func (l *loader) values(key string) []given {
	var out []given
	if raw := l.file.leaves[key]; raw != nil {
		out = append(out, given{raw: raw})
	}
	for _, name := range envNames(key) {
		if v := strings.TrimSpace(l.getenv(name)); v != "" {
			out = append(out, given{raw: v, env: name})
		}
	}
	return out
}

// envNames returns the environment variables for key, lowest precedence
// first: BFF_ + upper-case key with "." -> "_", then the alias, if any
// (BFF_ADDR for server.addr, <NAME>_SERVICE_URL for services.<name>.url).
func envNames(key string) []string {
	names := []string{"BFF_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))}
	if key == "server.addr" {
		names = append(names, "BFF_ADDR")
	}
	if rest, ok := strings.CutPrefix(key, "services."); ok {
		if name, ok := strings.CutSuffix(rest, ".url"); ok && !strings.Contains(name, ".") {
			names = append(names, urlEnv(name))
		}
	}
	return names
}

// unknownKey is what a key that pagebff does not know gets told.
const unknownKey = "unknown key; see config/bff.yaml for the allowed keys"

// keyIndex knows which dotted keys are settings and which are the sections
// that hold them.
type keyIndex struct {
	leaves, sections map[string]bool
}

// newKeyIndex indexes keys and every section above them, plus the root ""
// and any extra sections.
func newKeyIndex(keys []string, sections ...string) keyIndex {
	x := keyIndex{leaves: make(map[string]bool), sections: make(map[string]bool)}
	x.sections[""] = true
	for _, s := range sections {
		x.sections[s] = true
	}
	for _, k := range keys {
		x.leaves[k] = true
		for i, r := range k {
			if r == '.' {
				x.sections[k[:i]] = true
			}
		}
	}
	return x
}

// problem returns why key (with value raw) is not allowed, or "" when it is.
// A section with a scalar value, like "server: 5", wants a mapping; a section
// written without a value is fine.
func (x keyIndex) problem(key string, raw any) string {
	switch {
	case x.leaves[key]:
		return ""
	case x.sections[key]:
		if raw == nil {
			return ""
		}
		return "a mapping of settings"
	}
	return unknownKey
}

// keysOf returns the keys of table, each with prefix.
func keysOf[T any](prefix string, table []setting[T]) []string {
	var keys []string
	for _, s := range table {
		keys = append(keys, prefix+s.key)
	}
	return keys
}

var (
	// topKeys are the keys outside services.<name>.
	topKeys = newKeyIndex(slices.Concat(keysOf("", globalSettings), keysOf("defaults.", serviceSettings)), "services")
	// serviceKeys are the keys under services.<name>, relative to it; the
	// root "" is the service itself.
	serviceKeys = newKeyIndex(slices.Concat(keysOf("", serviceSettings), keysOf("", serviceOnlySettings)))
)

// checkKeys reports every key in the file that is not a setting. Keys under
// a service name that is not in names were reported with the name.
func (l *loader) checkKeys(names []string) {
	keys := make([]string, 0, len(l.file.leaves))
	for k := range l.file.leaves {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		idx, rel := topKeys, k
		if rest, ok := strings.CutPrefix(k, "services."); ok {
			name, sub, _ := strings.Cut(rest, ".")
			if !slices.Contains(names, name) {
				continue
			}
			idx, rel = serviceKeys, sub
		}
		raw := l.file.leaves[k]
		switch want := idx.problem(rel, raw); want {
		case "":
		case unknownKey:
			l.errs = append(l.errs, bff.Invalid(k, nil, want))
		default:
			l.errs = append(l.errs, bff.Invalid(k, raw, want))
		}
	}
}

// deprecatedKeys are old key names still read, by the name that replaced
// them (the last part of a dotted key, under defaults.* or services.*).
var deprecatedKeys = map[string]string{"hedge.budget_percent": "budget.percent"}

// deprecated returns one line naming every old key the file or the
// environment set, or nil.
func (l *loader) deprecated() []string {
	var lines []string
	for k := range l.set {
		for old, now := range deprecatedKeys {
			if prefix, ok := strings.CutSuffix(k, old); ok {
				lines = append(lines, fmt.Sprintf("config: %s is the old name of %s%s; it is still read, but %s wins when both are set",
					k, prefix, now, prefix+now))
			}
		}
	}
	if len(lines) == 0 {
		return nil
	}
	slices.Sort(lines)
	return []string{strings.Join(lines, "; ")}
}
