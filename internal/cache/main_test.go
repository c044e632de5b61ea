package cache

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a background refresh is left running
// after its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
