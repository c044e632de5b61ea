package resilience

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/pagebff/pagebff/internal/bff"
)

// Coalescer makes concurrent identical calls (same resolved path: a
// Coalescer is one service's) share one call to next. It is safe for
// concurrent use.
//
// The shared call runs on the goroutine of the caller that started it, but
// detached from its context, so one client going away does not fail the
// others; it carries the starting page's X-Request-Id. It runs on one
// context that is both detached and bounded by the service's own timeout
// (the bound given to NewCoalescer, with the cause Timeout gives), so the
// Timeout policy under the Coalescer finds the call bounded already and
// adds no second context and timer. Each caller waits at most until its
// own context ends. When the last caller waiting for a shared call
// has gone, the call is cancelled: nobody wants its answer, and a call
// abandoned by its clients must not count against the breaker.
//
// golang.org/x/sync/singleflight shares calls the same way but cannot cancel
// one when all its callers leave, hence this small equivalent.
type Coalescer struct {
	service  string
	bound    time.Duration // of the shared call; 0: none
	cause    error         // the shared call's, when bound passes
	spanName string
	next     bff.Fetcher
	joined   *atomic.Int64
	tracer   trace.Tracer // nil: no spans

	mu      sync.Mutex
	flights map[string]*flight // guarded by mu
}

// flight is one shared call in progress.
type flight struct {
	// done is made by the first caller to join, and closed when resp and
	// err are set; the caller that runs the call does not wait on it, so a
	// call nobody joins makes none. Guarded by Coalescer.mu.
	done    chan struct{}
	resp    bff.Response
	err     error
	waiters int // guarded by Coalescer.mu
	cancel  context.CancelFunc
	leader  trace.SpanContext // the span of the call that started it
}

var _ bff.Fetcher = (*Coalescer)(nil)

// NewCoalescer returns a Coalescer in front of next, bounding each shared
// call by the service's timeout bound (0: unbounded, for a next that bounds
// itself), and counting joined calls in joined (nil means a private
// counter). A call that joins another gets a
// span from tracer (nil means none) marked bff.coalesced=true and linked to
// the span that started the shared call (its page's), so the joining page's
// trace shows where the section came from.
func NewCoalescer(service string, bound time.Duration, next bff.Fetcher, joined *atomic.Int64, tracer trace.Tracer) *Coalescer {
	if joined == nil {
		joined = new(atomic.Int64)
	}
	return &Coalescer{service: service, bound: bound, cause: timeoutCause(service, bound),
		spanName: "GET " + service + " (coalesced)", next: next, joined: joined,
		tracer: tracer, flights: make(map[string]*flight)}
}

// Fetch joins an identical call in flight, or starts one.
func (c *Coalescer) Fetch(ctx context.Context, call bff.Call) (bff.Response, error) {
	key := call.Path
	c.mu.Lock()
	f, joined := c.flights[key]
	if !joined {
		fctx, cancel := c.detach(ctx)
		f = &flight{waiters: 1, cancel: cancel, leader: trace.SpanContextFromContext(ctx)}
		c.flights[key] = f
		c.mu.Unlock()
		// The caller that starts the call runs it on its own goroutine; if
		// it leaves first, it stops waiting like any other caller, and the
		// call goes on for the others (bounded by the service's timeout).
		stop := context.AfterFunc(ctx, func() { c.leave(key, f) })
		c.run(fctx, key, f, call)
		if !stop() {
			return bff.Response{}, bff.ContextError(ctx, c.service, ctx.Err())
		}
		return f.resp, f.err
	}

	f.waiters++
	if f.done == nil {
		f.done = make(chan struct{})
	}
	done := f.done
	c.mu.Unlock()
	c.joined.Add(1)
	// Only for a recorded page: an unsampled one would make a span nobody
	// keeps, at a few allocations per joined call.
	if c.tracer != nil && trace.SpanFromContext(ctx).IsRecording() {
		var span trace.Span
		ctx, span = c.tracer.Start(ctx, c.spanName, trace.WithLinks(trace.Link{SpanContext: f.leader}),
			trace.WithAttributes(attribute.Bool("bff.coalesced", true)))
		defer span.End()
	}
	select {
	case <-done:
		return f.resp, f.err
	case <-ctx.Done():
		c.leave(key, f)
		return bff.Response{}, bff.ContextError(ctx, c.service, ctx.Err())
	}
}

// detach returns the shared call's context: ctx's values without its
// cancellation, within the bound.
func (c *Coalescer) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.bound <= 0 {
		return context.WithCancel(context.WithoutCancel(ctx))
	}
	return context.WithTimeoutCause(context.WithoutCancel(ctx), c.bound, c.cause)
}

// leave is a caller of f giving up on it; the last one cancels the call.
func (c *Coalescer) leave(key string, f *flight) {
	c.mu.Lock()
	f.waiters--
	last := f.waiters == 0
	if last && c.flights[key] == f {
		delete(c.flights, key) // later callers start afresh
	}
	c.mu.Unlock()
	if last {
		f.cancel()
	}
}

func (c *Coalescer) run(ctx context.Context, key string, f *flight, call bff.Call) {
	defer f.cancel()
	defer func() {
		if p := recover(); p != nil {
			f.resp, f.err = bff.Response{}, bff.Errorf(c.service, bff.CodeUnavailable, fmt.Errorf("panic: %v", p), "internal error")
		}
		c.mu.Lock()
		if c.flights[key] == f {
			delete(c.flights, key)
		}
		done := f.done // out of flights, f is joined by nobody more
		c.mu.Unlock()
		if done != nil {
			close(done)
		}
	}()
	f.resp, f.err = c.next.Fetch(ctx, call)
}

// Shared returns how many calls were answered by joining another's call.
func (c *Coalescer) Shared() int64 { return c.joined.Load() }
