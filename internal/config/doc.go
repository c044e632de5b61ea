// Package config builds pagebff's configuration: Default, Load, Validate and
// FilePath. It is the only package that uses viper; every other package owns a
// small Config with its own Validate, and this package composes them.
//
// # Layering
//
// Load starts from Default(), then applies the YAML file (if any), then the
// environment, and validates the result. Later layers win, and a non-empty
// environment variable wins over the file.
//
// Keys are dotted and lower-case, as written in the file: "server.addr",
// "services.user.timeout". Every key can be set from the environment as
// BFF_ followed by the upper-case key with "." replaced by "_", for example
// BFF_SERVICES_USER_TIMEOUT=250ms. Two aliases win over their BFF_ name:
// BFF_ADDR (for server.addr) and <NAME>_SERVICE_URL, e.g. USER_SERVICE_URL (for
// services.<name>.url).
//
// # Services
//
// The services are user, catalog and activity, plus any other name under
// "services:" in the file (the environment can configure a service but not
// add one). The per-service keys (timeout, max_body, breaker.*, hedge.*,
// cache.*) may be set under "defaults." for every service and under
// "services.<name>." for one; the more specific key wins, and within one key
// the environment wins over the file. url, path and enabled exist only under
// "services.<name>.".
//
// # Errors
//
// Load and Validate report every problem at once, joined with errors.Join;
// each leaf is a *bff.FieldError carrying the full dotted key, the value as
// given and what is allowed. Unknown keys in the file are errors, so a typo
// never passes silently; EnvWarnings does the same for BFF_* variables that
// nothing reads. A problem with a per-service value that came from
// "defaults." (or the built-in default) is keyed defaults.<key>, once. No
// message shows a secret: a secret key's value (admin.token) reads
// (redacted), and a URL's user:password@ is masked.
//
// # Reading the file
//
// The config path must be a regular file (a symlink to one is fine) of at
// most 1 MiB; a FIFO, a device or a directory is refused at once, and a read
// is abandoned after 5s, so that a reload can never hang.
package config
