package redisstore

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: a
// writer that outlives Close, or a client whose connections stay open.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
