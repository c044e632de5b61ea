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
	return bff.FetcherFunc(func(ctx context.Context, call bff.Call) (bff.Response, error) {
		ctx, cancel := bff.WithServiceTimeout(ctx, service, d)
		defer cancel()
		return next.Fetch(ctx, call)
	})
}
