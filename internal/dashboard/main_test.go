package dashboard

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a
// Sampler nobody stopped, a stream that outlived its client.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
