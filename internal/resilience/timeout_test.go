package resilience

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// TestTimeout: a call gets the service's deadline and, when it passes, the
// cause that names the service and the timeout; a call already bounded
// within it keeps its own context (no second timer).
func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen context.Context
		var left time.Duration
		var cause error
		hang := bff.FetcherFunc(func(ctx context.Context, c bff.Call) (bff.Response, error) {
			seen = ctx
			dl, _ := ctx.Deadline()
			left = time.Until(dl)
			<-ctx.Done()
			cause = context.Cause(ctx)
			return bff.Response{}, bff.ContextError(ctx, c.Service, ctx.Err())
		})
		f := Timeout("user", 300*time.Millisecond, hang)

		page, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := f.Fetch(page, bff.Call{Service: "user"})
		if left != 300*time.Millisecond || seen == page {
			t.Errorf("a call with 500ms left got %v of its own (own context %v), want 300ms", left, seen != page)
		}
		var te *bff.TimeoutError
		if !errors.As(cause, &te) || te.Service != "user" || te.After != 300*time.Millisecond {
			t.Errorf("cause = %v, want the user service's 300ms timeout", cause)
		}
		if bff.CodeOf(err) != bff.CodeTimeout {
			t.Errorf("err = %v, want timeout", err)
		}

		bounded, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, _ = f.Fetch(bounded, bff.Call{Service: "user"})
		if seen != bounded {
			t.Error("a call already bounded within the timeout got a context of its own")
		}
	})
}

// TestCoalescerBoundsTheSharedCall: the shared call is detached from its
// callers but bounded by the service's timeout, with Timeout's cause, so
// the Timeout under it keeps that context.
func TestCoalescerBoundsTheSharedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var shared context.Context
		var took time.Duration
		var cause error
		hang := bff.FetcherFunc(func(ctx context.Context, c bff.Call) (bff.Response, error) {
			shared = ctx
			start := time.Now()
			<-ctx.Done()
			took, cause = time.Since(start), context.Cause(ctx)
			return bff.Response{}, bff.ContextError(ctx, c.Service, ctx.Err())
		})
		var detached context.Context // what the Coalescer gives the Timeout
		timeout := Timeout("user", 300*time.Millisecond, hang)
		c := NewCoalescer("user", 300*time.Millisecond, bff.FetcherFunc(func(ctx context.Context, call bff.Call) (bff.Response, error) {
			detached = ctx
			return timeout.Fetch(ctx, call)
		}), nil, nil)

		page, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := c.Fetch(page, bff.Call{Service: "user", Path: "/users/a"})
		if took != 300*time.Millisecond || bff.CodeOf(err) != bff.CodeTimeout {
			t.Errorf("shared call ended after %v with %v, want the 300ms timeout", took, err)
		}
		var te *bff.TimeoutError
		if !errors.As(cause, &te) || te.After != 300*time.Millisecond {
			t.Errorf("cause = %v, want the service's timeout", cause)
		}
		if detached != shared {
			t.Error("the Timeout under the Coalescer made a second context")
		}
	})
}
