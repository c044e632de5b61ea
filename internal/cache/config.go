package cache

import (
	"errors"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// Config sets a service's cache.
type Config struct {
	Enabled bool
	// StaleTTL is how long after it was fetched a value may hide a
	// failure (stale-if-error can only shorten it).
	StaleTTL time.Duration
	// FreshTTL is how long a good answer is served without a call when
	// its Cache-Control says nothing (0: every page asks live).
	FreshTTL time.Duration
	// Revalidate is the stale-while-revalidate window after freshness.
	Revalidate time.Duration
	// HonorCacheControl makes the service's Cache-Control decide, as for
	// a shared cache.
	HonorCacheControl bool
	// MaxEntries and MaxBytes bound the values kept for the service.
	MaxEntries int
	MaxBytes   int64
}

// Validate reports every invalid field at once, keyed relative to the cache
// block.
func (c Config) Validate() error {
	var errs []error
	if c.StaleTTL <= 0 {
		errs = append(errs, bff.Invalid("stale_ttl", c.StaleTTL.String(), "a positive duration such as 10m"))
	}
	if c.FreshTTL < 0 {
		errs = append(errs, bff.Invalid("fresh_ttl", c.FreshTTL.String(), "0s (off) or a positive duration such as 1s"))
	}
	if c.Revalidate < 0 {
		errs = append(errs, bff.Invalid("revalidate", c.Revalidate.String(), "0s (off) or a positive duration such as 10s"))
	}
	if c.MaxEntries < 1 {
		errs = append(errs, bff.Invalid("max_entries", c.MaxEntries, "a whole number of at least 1"))
	}
	if c.MaxBytes < 1 {
		errs = append(errs, bff.Invalid("max_bytes", c.MaxBytes, "a number of bytes of at least 1, such as 67108864"))
	}
	return errors.Join(errs...)
}
