//go:build !unix

package testutil

import (
	"net"
	"testing"
)

// RefusingAddr returns a loopback address nobody listens on: a port
// listened on and closed again (the unix version also keeps it from being
// given to another server while the test runs).
func RefusingAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("close: %v", err)
	}
	return addr
}
