package h1

import (
	"testing"

	"go.uber.org/goleak"
)

// Every Get runs on its caller's goroutine and a cancelled one leaves no
// AfterFunc behind, so no ignores are needed: any goroutine left over is a
// server a test forgot to close, or a leak in the client.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
