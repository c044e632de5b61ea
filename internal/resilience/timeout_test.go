package resilience

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// hung is a service that never answers: it records the context it was
// called with, the time it had left, how long it waited and why it ended.
type hung struct {
	ctx          context.Context
	left, waited time.Duration
	cause        error
}

func (h *hung) Fetch(ctx context.Context, c bff.Call) (bff.Response, error) {
	h.ctx = ctx
	if dl, ok := ctx.Deadline(); ok {
		h.left = time.Until(dl)
	}
	start := time.Now()
	<-ctx.Done()
	h.waited, h.cause = time.Since(start), context.Cause(ctx)
	return bff.Response{}, bff.ContextError(ctx, c.Service, ctx.Err())
}

// isServiceTimeout reports whether err is the user service's timeout of d.
func isServiceTimeout(err error, d time.Duration) bool {
	var te *bff.TimeoutError
	return errors.As(err, &te) && te.Service == "user" && te.After == d
}

// TestTimeout: a call gets the service's deadline and, when it passes, the
// cause that names the service and the timeout; a call already bounded
// within it keeps its own context (no second timer).
func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hung{}
		f := Timeout("user", 300*time.Millisecond, h)

		page, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := f.Fetch(page, bff.Call{Service: "user"})
		if h.left != 300*time.Millisecond || h.ctx == page {
			t.Errorf("a call with 500ms left got %v of its own (own context %v), want 300ms", h.left, h.ctx != page)
		}
		if !isServiceTimeout(h.cause, 300*time.Millisecond) {
			t.Errorf("cause = %v, want the user service's 300ms timeout", h.cause)
		}
		if bff.CodeOf(err) != bff.CodeTimeout {
			t.Errorf("err = %v, want timeout", err)
		}

		bounded, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, _ = f.Fetch(bounded, bff.Call{Service: "user"})
		if h.ctx != bounded {
			t.Error("a call already bounded within the timeout got a context of its own")
		}
	})
}

// TestCoalescerBoundsTheSharedCall: the shared call is detached from its
// callers but bounded by the service's timeout, with Timeout's cause, so
// the Timeout under it keeps that context.
func TestCoalescerBoundsTheSharedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hung{}
		var detached context.Context // what the Coalescer gives the Timeout
		timeout := Timeout("user", 300*time.Millisecond, h)
		c := NewCoalescer("user", 300*time.Millisecond, bff.FetcherFunc(func(ctx context.Context, call bff.Call) (bff.Response, error) {
			detached = ctx
			return timeout.Fetch(ctx, call)
		}), nil, nil)

		page, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := c.Fetch(page, bff.Call{Service: "user", Path: "/users/a"})
		if h.waited != 300*time.Millisecond || bff.CodeOf(err) != bff.CodeTimeout {
			t.Errorf("shared call ended after %v with %v, want the 300ms timeout", h.waited, err)
		}
		if !isServiceTimeout(h.cause, 300*time.Millisecond) {
			t.Errorf("cause = %v, want the service's timeout", h.cause)
		}
		if detached != h.ctx {
			t.Error("the Timeout under the Coalescer made a second context")
		}
	})
}
