package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond every few milliseconds until it holds, failing the
// test after 5 seconds, a margin wide enough for a loaded 2-core machine.
// what names the awaited condition in the failure. For timing that must be
// exact, use testing/synctest instead.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	EventuallyWithin(tb, 5*time.Second, what, cond)
}

// EventuallyWithin is Eventually with its own limit, for a condition that
// waits on something slower than a loaded machine (a background refresh
// on a timer), or one whose limit is the promise under test.
func EventuallyWithin(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
