package resilience

import (
	"context"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// Timeout bounds every call through next by the service's own deadline d.
// When it passes, context.Cause reports a *bff.TimeoutError, which the
// downstream client turns into CodeTimeout "timed out after d".
func Timeout(service string, d time.Duration, next bff.Fetcher) bff.Fetcher {
	cause := &bff.TimeoutError{Service: service, After: d} // one per service, not per call
	return bff.FetcherFunc(func(ctx context.Context, call bff.Call) (bff.Response, error) {
		ctx, cancel := context.WithTimeoutCause(ctx, d, cause)
		defer cancel()
		return next.Fetch(ctx, call)
	})
}
