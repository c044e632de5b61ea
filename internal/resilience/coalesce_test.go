package resilience

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/testutil"
)

func TestCoalescerSharesAndCancelsWhenAllLeave(t *testing.T) {
	var calls, cancelled atomic.Int64
	release := make(chan struct{})
	next := bff.FetcherFunc(func(ctx context.Context, c bff.Call) (bff.Response, error) {
		calls.Add(1)
		select {
		case <-release:
			return bff.Response{Body: []byte(`{}`)}, nil
		case <-ctx.Done():
			cancelled.Add(1)
			return bff.Response{}, bff.ContextError(ctx, c.Service, ctx.Err())
		}
	})
	c := NewCoalescer("user", 0, next, nil, nil)
	call := bff.Call{Service: "user", Path: "/users/a", RequestID: "first"}

	// Five callers share one call; two leave early, the others still get it.
	// They leave once all five are in, and the call is released once they
	// have left (its waiters down to three): with a 10ms timer and a 30ms
	// sleep instead, a loaded machine could start a caller after its own
	// cancellation, or release the call before the two had gone.
	var wg sync.WaitGroup
	errs := make([]error, 5)
	var leave []context.CancelFunc
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		if i < 2 {
			leave = append(leave, cancel)
		}
		defer cancel()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Fetch(ctx, call)
		}()
	}
	waiters := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		if f := c.flights[call.Path]; f != nil {
			return f.waiters
		}
		return 0
	}
	testutil.Eventually(t, "all five in the call", func() bool { return c.Shared() == 4 && waiters() == 5 })
	for _, cancel := range leave {
		cancel()
	}
	testutil.Eventually(t, "the early two gone", func() bool { return waiters() == 3 })
	close(release)
	wg.Wait()
	for i, err := range errs {
		if want := bff.CodeOf(err); (i < 2) != (want == bff.CodeCanceled) || (i >= 2 && err != nil) {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if calls.Load() != 1 || cancelled.Load() != 0 {
		t.Fatalf("calls %d, cancelled %d; want one shared call, not cancelled", calls.Load(), cancelled.Load())
	}

	// When every caller leaves, the shared call is cancelled, and its
	// cancellation reads as canceled (which the breaker excludes).
	var sharedErr atomic.Value
	hang := bff.FetcherFunc(func(ctx context.Context, c bff.Call) (bff.Response, error) {
		<-ctx.Done()
		err := bff.ContextError(ctx, c.Service, ctx.Err())
		sharedErr.Store(err)
		return bff.Response{}, err
	})
	c = NewCoalescer("user", 0, hang, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := c.Fetch(ctx, bff.Call{Service: "user", Path: "/users/b"}); bff.CodeOf(err) != bff.CodeTimeout {
		t.Fatalf("caller err = %v, want its own timeout", err)
	}
	testutil.Eventually(t, "the condition", func() bool { return sharedErr.Load() != nil })
	if err := sharedErr.Load().(error); bff.CodeOf(err) != bff.CodeCanceled {
		t.Fatalf("shared call ended with %v, want canceled", err)
	}
}
