package app_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: a section
// call nobody cancelled, a connection pool nobody closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
