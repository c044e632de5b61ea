package cache

import (
	"errors"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// Config sets a service's stale-on-error cache.
type Config struct {
	Enabled bool
	// StaleTTL is how long a last good value may be served after it was
	// fetched.
	StaleTTL time.Duration
	// MaxEntries bounds the number of values kept for the service.
	MaxEntries int
}

// Validate reports every invalid field at once, keyed relative to the cache
// block.
func (c Config) Validate() error {
	var errs []error
	if c.StaleTTL <= 0 {
		errs = append(errs, bff.Invalid("stale_ttl", c.StaleTTL.String(), "a positive duration such as 10m"))
	}
	if c.MaxEntries < 1 {
		errs = append(errs, bff.Invalid("max_entries", c.MaxEntries, "a whole number of at least 1"))
	}
	return errors.Join(errs...)
}
