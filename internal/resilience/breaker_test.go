package resilience

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/downstream"
)

var testBreaker = BreakerConfig{
	ConsecutiveFailures: 2, FailureRatio: 0, MinRequests: 1, Interval: 10 * time.Second,
	OpenTimeout: 5 * time.Second, HalfOpenRequests: 1,
}

// failWith is a Fetcher that always fails with err.
func failWith(err error) bff.Fetcher {
	return bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) { return bff.Response{}, err })
}

var succeed = bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
	return bff.Response{Body: []byte(`{}`)}, nil
})

// TestBreakerCountsOnlyServiceFaults: the statuses a real service answers,
// through the real HTTP client, count against the breaker exactly when
// bff.Classify says they are the service's fault.
func TestBreakerCountsOnlyServiceFaults(t *testing.T) {
	tests := []struct {
		status int
		counts bool
	}{
		{500, true}, {502, true}, {503, true}, {429, true},
		{400, false}, {404, false}, {410, false}, {302, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.status) }))
			defer srv.Close()
			client := downstream.New(downstream.Config{Name: "user", URL: srv.URL, Path: "/users/{user_id}",
				Timeout: time.Second, MaxBody: 1 << 20}, nil)
			defer client.Close()
			b := NewBreaker("user", testBreaker, nil)
			f := b.Wrap(client)
			for range 3 {
				_, _ = f.Fetch(context.Background(), bff.Call{Service: "user", Path: "/users/a", UserID: "a"})
			}
			if open := b.State() == StateOpen; open != tt.counts {
				t.Fatalf("after three %ds: breaker %s (counts %+v); want open=%v", tt.status, b.State(), b.Counts(), tt.counts)
			}
		})
	}
}

func TestBreakerExcludes(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{name: "client went away", err: bff.Errorf("user", bff.CodeCanceled, nil, "canceled")},
		{name: "pagebff out of fds", err: &bff.Error{Service: "user", Code: bff.CodeUnavailable, Local: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBreaker("user", testBreaker, nil)
			f := b.Wrap(failWith(tt.err))
			for range 5 {
				_, _ = f.Fetch(context.Background(), bff.Call{})
			}
			if c := b.Counts(); b.State() != StateClosed || c.Failures != 0 || c.Excluded != 5 {
				t.Fatalf("breaker %s, counts %+v; want closed with 5 excluded", b.State(), c)
			}
		})
	}
}

func TestBreakerRatioRule(t *testing.T) {
	cfg := testBreaker
	cfg.ConsecutiveFailures, cfg.FailureRatio, cfg.MinRequests = 0, 0.5, 4
	b := NewBreaker("user", cfg, nil)
	fail, ok := b.Wrap(failWith(errors.New("boom"))), b.Wrap(succeed)
	for _, f := range []bff.Fetcher{ok, fail, ok} {
		_, _ = f.Fetch(context.Background(), bff.Call{})
	}
	if b.State() != StateClosed {
		t.Fatalf("breaker %s below min_requests, want closed", b.State())
	}
	_, _ = fail.Fetch(context.Background(), bff.Call{}) // 2 of 4
	if b.State() != StateOpen {
		t.Fatalf("breaker %s at 2/4 failures with ratio 0.5, want open", b.State())
	}
}

// TestBreakerHalfOpenInVirtualTime: open answers at once until
// open_timeout, then one probe goes through while others are refused, and
// its success closes the breaker. The clock is synctest's.
func TestBreakerHalfOpenInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var transitions []string
		var mu sync.Mutex
		b := NewBreaker("user", testBreaker, func(tr Transition) {
			mu.Lock()
			transitions = append(transitions, tr.From.String()+">"+tr.To.String())
			mu.Unlock()
		})
		fail := b.Wrap(failWith(errors.New("boom")))
		for range 2 {
			_, _ = fail.Fetch(context.Background(), bff.Call{})
		}
		if _, err := b.Wrap(succeed).Fetch(context.Background(), bff.Call{}); bff.CodeOf(err) != bff.CodeCircuitOpen || !errors.Is(err, ErrOpen) {
			t.Fatalf("open breaker answered %v, want circuit_open wrapping ErrOpen", err)
		}
		time.Sleep(testBreaker.OpenTimeout + time.Millisecond)
		if b.State() != StateHalfOpen {
			t.Fatalf("breaker %s after open_timeout, want half-open", b.State())
		}
		release := make(chan struct{})
		probing := make(chan struct{})
		slow := b.Wrap(bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
			close(probing)
			<-release
			return bff.Response{Body: []byte(`{}`)}, nil
		}))
		done := make(chan error, 1)
		go func() { _, err := slow.Fetch(context.Background(), bff.Call{}); done <- err }()
		<-probing
		if _, err := b.Wrap(succeed).Fetch(context.Background(), bff.Call{}); bff.CodeOf(err) != bff.CodeCircuitOpen {
			t.Fatalf("second call while the probe runs: %v, want circuit_open", err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if b.State() != StateClosed {
			t.Fatalf("breaker %s after the probe succeeded, want closed", b.State())
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(transitions) != "[closed>open open>half-open half-open>closed]" {
			t.Fatalf("transitions %v", transitions)
		}
	})
}

func TestBreakerForcedAndReset(t *testing.T) {
	b := NewBreaker("user", testBreaker, nil)
	calls := 0
	f := b.Wrap(bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
		calls++
		return bff.Response{}, errors.New("boom")
	}))
	b.SetForce(ForceOpen)
	if _, err := f.Fetch(context.Background(), bff.Call{}); bff.CodeOf(err) != bff.CodeCircuitOpen || calls != 0 {
		t.Fatalf("forced open: %v after %d calls, want circuit_open and no call", err, calls)
	}
	b.SetForce(ForceClosed)
	for range 5 {
		_, _ = f.Fetch(context.Background(), bff.Call{})
	}
	if b.State() != StateClosed || calls != 5 || b.Counts().Failures != 0 {
		t.Fatalf("forced closed: %s, %d calls, counts %+v; want every call through, nothing counted", b.State(), calls, b.Counts())
	}
	b.SetForce(ForceNone)
	for range 2 {
		_, _ = f.Fetch(context.Background(), bff.Call{})
	}
	if b.State() != StateOpen {
		t.Fatalf("unforced after two failures: %s, want open", b.State())
	}
	b.Reset()
	if b.State() != StateClosed || b.Forced() != ForceNone || b.Counts().Requests != 0 {
		t.Fatalf("after Reset: %s, forced %s, counts %+v", b.State(), b.Forced(), b.Counts())
	}
}
