package auth

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a Verifier's refresh goroutines, a refetch
// or an HTTP connection outlive their test. No ignores: Close must leave
// nothing behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
