package resilience

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/testutil"
)

func TestBudget(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1000, 0))
	b := NewBudget(10, BudgetMinimum, clk.Now)

	// A quiet service still gets the minimum allowance.
	for i := range BudgetMinimum {
		if !b.TryExtra() {
			t.Fatalf("hedge %d refused within the minimum allowance", i+1)
		}
	}
	if b.TryExtra() {
		t.Fatal("hedge beyond the minimum allowance with no requests")
	}

	// 100 requests allow 10 hedges in the window (3 already used).
	for range 100 {
		b.Request()
	}
	granted := 0
	for range 50 {
		if b.TryExtra() {
			granted++
		}
	}
	if granted != 7 {
		t.Fatalf("granted %d more hedges for 100 requests at 10%%, want 7", granted)
	}

	// Ten seconds later the window has slid past all of it.
	clk.Advance(10 * time.Second)
	if !b.TryExtra() {
		t.Fatal("hedge refused after the window slid")
	}

	if NewBudget(0, BudgetMinimum, clk.Now).TryExtra() {
		t.Fatal("budget_percent 0 allowed a hedge")
	}
}

func TestEstimator(t *testing.T) {
	e := NewEstimator(0.95)
	if _, ok := e.Estimate(); ok {
		t.Fatal("estimate before any sample")
	}
	// 1..1000ms, shuffled deterministically: the last 512 are what count.
	for i := range 2000 {
		e.Observe(time.Duration(1+(i*7919)%100) * time.Millisecond)
	}
	p95, ok := e.Estimate()
	if !ok || p95 < 90*time.Millisecond || p95 > 100*time.Millisecond {
		t.Fatalf("p95 = %v (%v), want ~95ms", p95, ok)
	}
	// Recent samples replace old ones: the window follows a shift.
	for range 1024 {
		e.Observe(5 * time.Millisecond)
	}
	if p95, _ := e.Estimate(); p95 != 5*time.Millisecond {
		t.Fatalf("p95 after shift = %v, want 5ms", p95)
	}
}

// fakeAttempts answers each attempt by its order: attempt i takes delays[i]
// (or hangs until cancelled when delays[i] < 0).
type fakeAttempts struct {
	delays    []time.Duration
	n         atomic.Int64
	cancelled atomic.Int64
	ids       sync.Map // attempt number -> request id
}

func (f *fakeAttempts) Fetch(ctx context.Context, call bff.Call) (bff.Response, error) {
	i := int(f.n.Add(1)) - 1
	f.ids.Store(i, call.RequestID)
	d := f.delays[min(i, len(f.delays)-1)]
	var timeout <-chan time.Time
	if d >= 0 {
		timeout = time.After(d)
	}
	select {
	case <-timeout:
		return bff.Response{Body: []byte(`{"attempt":` + string(rune('0'+i)) + `}`)}, nil
	case <-ctx.Done():
		f.cancelled.Add(1)
		return bff.Response{}, bff.ContextError(ctx, call.Service, ctx.Err())
	}
}

func TestHedgeWinsAndLoserIsCancelled(t *testing.T) {
	f := &fakeAttempts{delays: []time.Duration{-1, 5 * time.Millisecond}}
	h := NewHedger("user", HedgeConfig{Enabled: true, Delay: 20 * time.Millisecond}, 300*time.Millisecond, f, HedgeState{})
	resp, err := h.Fetch(context.Background(), bff.Call{Service: "user", Path: "/users/a", RequestID: "rid"})
	if err != nil || resp.Source != bff.SourceHedge || string(resp.Body) != `{"attempt":1}` {
		t.Fatalf("Fetch = %s %v %v; want the hedge's answer", resp.Body, resp.Source, err)
	}
	testutil.Eventually(t, "the condition", func() bool { return f.cancelled.Load() == 1 })
	id0, _ := f.ids.Load(0)
	id1, _ := f.ids.Load(1)
	if id0 != "rid" || id1 != "rid" {
		t.Fatalf("request ids %v %v, want the same on both attempts", id0, id1)
	}
	if sent, won := h.Stats(); sent != 1 || won != 1 {
		t.Fatalf("stats sent %d won %d, want 1 1", sent, won)
	}
}

func TestHedgeNotSent(t *testing.T) {
	tests := []struct {
		name    string
		cfg     HedgeConfig
		budget  *Budget // nil: the default
		gate    func() bool
		timeout time.Duration // of the call's context; 0 = none
	}{
		{name: "fast first attempt", cfg: HedgeConfig{Delay: time.Second}},
		{name: "breaker not closed", cfg: HedgeConfig{Delay: 5 * time.Millisecond}, gate: func() bool { return false }},
		{name: "budget zero", cfg: HedgeConfig{Delay: 5 * time.Millisecond}, budget: NewBudget(0, 0, nil)},
		{name: "deadline too close", cfg: HedgeConfig{Delay: 29 * time.Millisecond}, timeout: 30 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAttempts{delays: []time.Duration{50 * time.Millisecond}}
			h := NewHedger("user", tt.cfg, 300*time.Millisecond, f, HedgeState{Gate: tt.gate, Budget: tt.budget})
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, _ = h.Fetch(ctx, bff.Call{Service: "user"})
			if n := f.n.Load(); n != 1 {
				t.Fatalf("%d attempts, want 1", n)
			}
		})
	}
}

// A first attempt that fails before the delay is the answer: hedging is not
// a retry. (The clocks here are synctest's.)
func TestHedgeIsNotARetry(t *testing.T) { synctest.Test(t, testHedgeIsNotARetry) }

func testHedgeIsNotARetry(t *testing.T) {
	var n atomic.Int64
	failing := bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
		n.Add(1)
		return bff.Response{}, bff.Errorf("user", bff.CodeUpstreamStatus, nil, "upstream answered 500")
	})
	h := NewHedger("user", HedgeConfig{Delay: 50 * time.Millisecond}, 300*time.Millisecond, failing, HedgeState{})
	if _, err := h.Fetch(context.Background(), bff.Call{Service: "user"}); bff.CodeOf(err) != bff.CodeUpstreamStatus {
		t.Fatalf("err = %v", err)
	}
	time.Sleep(80 * time.Millisecond)
	if n.Load() != 1 {
		t.Fatalf("%d attempts, want 1", n.Load())
	}
}

func TestAutoDelay(t *testing.T) {
	h := NewHedger("user", HedgeConfig{}, 300*time.Millisecond, nil, HedgeState{})
	if d := h.Delay(); d != 150*time.Millisecond {
		t.Fatalf("cold auto delay = %v, want half the timeout", d)
	}
	for range EstimatorMinSamples {
		h.est.Observe(10 * time.Millisecond)
	}
	if d := h.Delay(); d != 10*time.Millisecond {
		t.Fatalf("warm auto delay = %v, want 10ms", d)
	}
	for range 1024 {
		h.est.Observe(time.Microsecond)
	}
	if d := h.Delay(); d != AutoFloor {
		t.Fatalf("auto delay = %v, want the floor %v", d, AutoFloor)
	}
	for range 1024 {
		h.est.Observe(time.Second)
	}
	if d := h.Delay(); d != 150*time.Millisecond {
		t.Fatalf("auto delay = %v, want the ceiling", d)
	}
}

// The first attempt fails after the hedge went out: the hedge's good answer
// wins.
func TestHedgeWinsAfterPrimaryFails(t *testing.T) { synctest.Test(t, testHedgeWinsAfterPrimaryFails) }

func testHedgeWinsAfterPrimaryFails(t *testing.T) {
	var n atomic.Int64
	next := bff.FetcherFunc(func(ctx context.Context, c bff.Call) (bff.Response, error) {
		if n.Add(1) == 1 {
			time.Sleep(40 * time.Millisecond)
			return bff.Response{}, bff.Errorf("user", bff.CodeUnavailable, nil, "connection failed")
		}
		time.Sleep(30 * time.Millisecond)
		return bff.Response{Body: []byte(`{}`)}, nil
	})
	h := NewHedger("user", HedgeConfig{Delay: 20 * time.Millisecond}, 300*time.Millisecond, next, HedgeState{})
	resp, err := h.Fetch(context.Background(), bff.Call{Service: "user"})
	if err != nil || resp.Source != bff.SourceHedge {
		t.Fatalf("Fetch = %v %v, want the hedge's answer", resp.Source, err)
	}
	if sent, won := h.Stats(); sent != 1 || won != 1 {
		t.Fatalf("sent %d won %d", sent, won)
	}
}
