package resilience

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a hedge attempt or a shared call is left
// running after its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
