package cache

import (
	"context"
	"sync"
)

// Refresher runs background refreshes: each outlives the page that
// started it but not the Refresher, whose Close cancels those running and
// waits for them. At most a fixed number run at once; more are not
// started. It is safe for concurrent use.
type Refresher struct {
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}

	mu     sync.Mutex
	closed bool // guarded by mu
	wg     sync.WaitGroup
}

// NewRefresher returns a Refresher running at most max refreshes at once.
func NewRefresher(max int) *Refresher {
	ctx, cancel := context.WithCancel(context.Background())
	return &Refresher{ctx: ctx, cancel: cancel, slots: make(chan struct{}, max)}
}

// Go runs f on its own goroutine with a context that Close cancels, and
// reports whether it did: not when max refreshes are running or after
// Close.
func (r *Refresher) Go(f func(ctx context.Context)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	select {
	case r.slots <- struct{}{}:
	default:
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { <-r.slots }()
		f(r.ctx)
	}()
	return true
}

// Close cancels the refreshes running and waits for them to return.
func (r *Refresher) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}
