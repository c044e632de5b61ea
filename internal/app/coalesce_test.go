package app_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/testutil"
)

// noHedging isolates coalescing from hedging: with slow services a cold
// hedger would add its own requests.
func noHedging(c *config.Config) {
	for i := range c.Services {
		c.Services[i].Hedge.Enabled = false
	}
}

// patient gives every call seconds instead of the default 300ms, and
// switches hedging off: a test that holds the services' answers until its
// pages have all joined must not see them time out, or hedged, first on a
// loaded machine.
func patient(c *config.Config) {
	noHedging(c)
	c.Page.Timeout = 5 * time.Second
	for i := range c.Services {
		c.Services[i].Downstream.Timeout = 4 * time.Second
	}
}

// held answers body once release is closed (or gives up when the request
// ends).
func held(release <-chan struct{}, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			testutil.JSON(body)(w, r)
		case <-r.Context().Done():
		}
	}
}

// pagesAtOnce fetches the page for each user id concurrently. The services
// hold their answers until release is closed, which it does once joined()
// holds: however late a request starts on a loaded machine, it finds the
// calls it shares still in flight (a fixed service delay made that a race).
func pagesAtOnce(t *testing.T, f *fixture, users []string, release chan struct{}, joined func() bool) []reply {
	t.Helper()
	out := make([]reply, len(users))
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = f.try(context.Background(), http.MethodGet, "/v1/pages/home?user_id="+u, "X-Request-Id", fmt.Sprintf("page-%d", i))
		}()
	}
	eventually(t, "every page joining the calls it shares", joined)
	close(release)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// coalesced reports whether each named service has coalesced want calls.
func coalesced(f *fixture, want int64, names ...string) func() bool {
	return func() bool {
		for _, name := range names {
			if st, _ := f.app.Stats(name); st.Coalesced != want {
				return false
			}
		}
		return true
	}
}

// Concurrent identical calls share one downstream request, which carries the
// X-Request-Id of one of the pages.
func TestCoalescing(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, handlers{user: held(release, userBody), catalog: held(release, catalogBody), activity: held(release, activityBody)}, patient)

	pages := pagesAtOnce(t, f, []string{"abc", "abc", "abc", "abc", "abc"}, release, coalesced(f, 4, "user", "catalog", "activity"))
	for _, r := range pages {
		for _, name := range []string{"user", "catalog", "activity"} {
			assertSection(t, r.page, name, "ok", "")
		}
	}
	for name, svc := range map[string]*testutil.Service{"user": f.user, "catalog": f.catalog, "activity": f.activity} {
		if svc.Hits() != 1 {
			t.Errorf("%s service got %d requests for 5 identical pages, want 1", name, svc.Hits())
		}
		if st, _ := f.app.Stats(name); st.Coalesced != 4 {
			t.Errorf("%s coalesced %d calls, want 4", name, st.Coalesced)
		}
		id := svc.Requests()[0].Header.Get("X-Request-Id")
		if len(id) < 6 || id[:5] != "page-" {
			t.Errorf("%s shared call carried X-Request-Id %q, want one of the pages' ids", name, id)
		}
	}
}

// Different users share the catalog call but not their own.
func TestCoalescingPerResolvedPath(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, handlers{user: held(release, userBody), catalog: held(release, catalogBody), activity: held(release, activityBody)}, patient)
	pagesAtOnce(t, f, []string{"u1", "u2", "u3"}, release, func() bool {
		return coalesced(f, 2, "catalog")() && f.user.Hits() == 3 && f.activity.Hits() == 3
	})
	if f.catalog.Hits() != 1 || f.user.Hits() != 3 || f.activity.Hits() != 3 {
		t.Fatalf("requests: catalog %d, user %d, activity %d; want 1, 3, 3", f.catalog.Hits(), f.user.Hits(), f.activity.Hits())
	}
	if st, _ := f.app.Stats("user"); st.Coalesced != 0 {
		t.Fatalf("user coalesced %d calls of different users, want 0", st.Coalesced)
	}
}

// One client going away does not cancel the shared call for the others.
func TestCoalescedCallSurvivesOneClientLeaving(t *testing.T) {
	var cancelled atomic.Bool
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	user := func(w http.ResponseWriter, r *http.Request) {
		testutil.Signal(arrived)
		select {
		case <-release:
			testutil.JSON(userBody)(w, r)
		case <-r.Context().Done():
			cancelled.Store(true)
		}
	}
	// The call is held until the leaver has gone: patient, so that no
	// timeout ends it first on a loaded machine.
	f := newFixture(t, handlers{user: user}, patient)

	ctx, cancel := context.WithCancel(context.Background())
	leaver := f.leavingPage(ctx)
	<-arrived // the first page's call is in flight
	stayer := make(chan reply, 1)
	stayerErr := make(chan error, 1)
	go func() {
		r, err := f.try(context.Background(), http.MethodGet, "/v1/pages/home?user_id=abc")
		stayer <- r
		stayerErr <- err
	}()
	eventually(t, "the second page joins", func() bool { st, _ := f.app.Stats("user"); return st.Coalesced == 1 })
	cancel()
	if err := <-leaver; err == nil {
		t.Fatal("the leaving client got an answer")
	}
	// The server has seen the leaver go once its page is logged; only the
	// stayer waits for the call now.
	eventually(t, "the leaving page's log line", func() bool { return len(f.logs.lines(t, "page")) == 1 })
	close(release)
	r := <-stayer
	if err := <-stayerErr; err != nil {
		t.Fatal(err)
	}
	assertSection(t, r.page, "user", "ok", "")
	if cancelled.Load() || f.user.Hits() != 1 {
		t.Fatalf("shared call cancelled=%v with %d requests; want one uncancelled call", cancelled.Load(), f.user.Hits())
	}
}
