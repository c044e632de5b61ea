package page

import (
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// Config holds the page-wide settings.
type Config struct {
	// Timeout is the overall page deadline: whatever is still running then is
	// cancelled and reported as a timeout.
	Timeout time.Duration
}

// Validate reports an invalid page timeout, keyed relative to the page block.
func (c Config) Validate() error {
	if c.Timeout <= 0 {
		return bff.Invalid("timeout", c.Timeout.String(), "a positive duration such as 500ms")
	}
	return nil
}
