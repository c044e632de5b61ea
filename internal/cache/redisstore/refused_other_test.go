//go:build !unix

package redisstore

import (
	"strings"
	"testing"

	"github.com/pagebff/pagebff/internal/testutil"
)

// refusingAddr returns a loopback address nobody listens on (see the unix
// version, which also keeps it from being reused).
func refusingAddr(tb testing.TB) string {
	tb.Helper()
	return strings.TrimPrefix(testutil.ClosedURL(tb), "http://")
}
