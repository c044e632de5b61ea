package resilience

import (
	"context"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// Timeout bounds every call through next by the service's own deadline d.
// When it passes, context.Cause reports a *bff.TimeoutError, which the
// downstream client turns into CodeTimeout "timed out after d".
//
// A call whose context already ends within d (a shared call, which the
// Coalescer bounds by d when it detaches it; a page with less than d left)
// goes on with that context: a deadline of its own could change nothing
// but cost a context and a timer per call.
func Timeout(service string, d time.Duration, next bff.Fetcher) bff.Fetcher {
	cause := timeoutCause(service, d)
	return bff.FetcherFunc(func(ctx context.Context, call bff.Call) (bff.Response, error) {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
			return next.Fetch(ctx, call)
		}
		ctx, cancel := context.WithTimeoutCause(ctx, d, cause)
		defer cancel()
		return next.Fetch(ctx, call)
	})
}

// timeoutCause is the cause of a context bounded by a service's timeout d:
// one per service, not per call.
func timeoutCause(service string, d time.Duration) error {
	return &bff.TimeoutError{Service: service, After: d}
}
