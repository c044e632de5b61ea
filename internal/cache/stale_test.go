package cache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

func TestHideable(t *testing.T) {
	status := func(code bff.Code, s int) error {
		e := bff.Errorf("user", code, nil, "x")
		e.Status = s
		return e
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "500", err: status(bff.CodeUpstreamStatus, 500), want: true},
		{name: "503", err: status(bff.CodeUpstreamStatus, 503), want: true},
		{name: "429 overload", err: status(bff.CodeUpstreamStatus, 429), want: true},
		{name: "302 unfollowed redirect", err: status(bff.CodeUpstreamStatus, 302), want: true},
		{name: "410", err: status(bff.CodeUpstreamStatus, 410), want: false},
		{name: "local resources", err: &bff.Error{Code: bff.CodeUnavailable, Local: true}, want: true},
		{name: "400", err: status(bff.CodeUpstreamStatus, 400), want: false},
		{name: "404", err: status(bff.CodeNotFound, 404), want: false},
		{name: "timeout", err: status(bff.CodeTimeout, 0), want: true},
		{name: "unavailable", err: status(bff.CodeUnavailable, 0), want: true},
		{name: "bad response", err: status(bff.CodeBadResponse, 0), want: true},
		{name: "circuit open", err: status(bff.CodeCircuitOpen, 0), want: true},
		{name: "canceled", err: status(bff.CodeCanceled, 0), want: false},
		{name: "uncoded error", err: fmt.Errorf("boom"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hideable(tt.err); got != tt.want {
				t.Fatalf("Hideable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStaleServesWithinTTL(t *testing.T) {
	now := time.Unix(0, 0)
	var fail error
	next := bff.FetcherFunc(func(context.Context, bff.Call) (bff.Response, error) {
		if fail != nil {
			return bff.Response{}, fail
		}
		return bff.Response{Body: []byte(`{"v":1}`)}, nil
	})
	store, _ := NewMemory(10)
	s := NewStale(time.Minute, store, next, func() time.Time { return now }, nil)
	call := bff.Call{Service: "catalog", Path: "/items"}

	if _, err := s.Fetch(context.Background(), call); err != nil {
		t.Fatal(err)
	}
	fail = bff.Errorf("catalog", bff.CodeTimeout, nil, "timed out after 300ms")
	now = now.Add(30 * time.Second)
	resp, err := s.Fetch(context.Background(), call)
	if err == nil || string(resp.Body) != `{"v":1}` || resp.Source != bff.SourceCache || resp.Age != 30*time.Second {
		t.Fatalf("stale answer = %s %v age %v, err %v", resp.Body, resp.Source, resp.Age, err)
	}
	// Another user's identical call shares the entry (same key).
	if resp, _ := s.Fetch(context.Background(), bff.Call{Service: "catalog", Path: "/items", RequestID: "other"}); resp.Body == nil {
		t.Fatal("identical call from another page got no stale value")
	}
	now = now.Add(31 * time.Second)
	if resp, _ := s.Fetch(context.Background(), call); resp.Body != nil {
		t.Fatalf("served a value older than the TTL: %s", resp.Body)
	}
	if s.Served() != 2 {
		t.Fatalf("served %d, want 2", s.Served())
	}
}

// Memory stays bounded however many distinct users pass through.
func TestMemoryBounded(t *testing.T) {
	m, err := NewMemory(1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200_000 {
		m.Put(fmt.Sprintf("user /users/u%d", i), Entry{Body: []byte(`{}`)})
	}
	if m.Len() != 1000 {
		t.Fatalf("Len = %d, want 1000", m.Len())
	}
	if _, ok := m.Get("user /users/u0"); ok {
		t.Fatal("oldest entry was not evicted")
	}
	if _, ok := m.Get("user /users/u199999"); !ok {
		t.Fatal("newest entry missing")
	}
	if _, err := NewMemory(0); err == nil {
		t.Fatal("NewMemory(0) accepted")
	}
}
