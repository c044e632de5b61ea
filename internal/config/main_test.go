package config

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: a Watch
// that outlives its context, or fsnotify's reader that was never closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
