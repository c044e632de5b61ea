package testutil

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Recorded is one request a fake service received.
type Recorded struct {
	Method string
	Path   string // escaped path as sent
	Header http.Header
}

// Service is a fake downstream service. Its behaviour can be switched while a
// test runs with Set.
type Service struct {
	*httptest.Server
	handler atomic.Pointer[http.HandlerFunc]
	done    chan struct{} // closed at cleanup: releases hanging handlers

	mu       sync.Mutex
	requests []Recorded // guarded by mu
}

// NewService starts a fake service answering with h; it is closed when the
// test ends.
func NewService(tb testing.TB, h http.HandlerFunc) *Service {
	tb.Helper()
	s := &Service{done: make(chan struct{})}
	s.Set(h)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Server.Close)
	tb.Cleanup(func() { close(s.done) }) // runs first (cleanups are LIFO)
	return s
}

// Set switches the service's behaviour for the requests that follow.
func (s *Service) Set(h http.HandlerFunc) { s.handler.Store(&h) }

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, Recorded{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone()})
	s.mu.Unlock()
	// Hand the handler a context that also ends when the test does.
	ctx := r.Context()
	if s.done != nil {
		var cancel func()
		ctx, cancel = contextUntil(ctx, s.done)
		defer cancel()
	}
	(*s.handler.Load())(w, r.WithContext(ctx))
}

// Requests returns a copy of the requests received so far.
func (s *Service) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.requests...)
}

// Hits returns how many requests the service received.
func (s *Service) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// ClosedURL returns the URL of a loopback port that refuses connections
// until the test ends (see RefusingAddr).
func ClosedURL(tb testing.TB) string {
	tb.Helper()
	return "http://" + RefusingAddr(tb)
}

// Signal sends on ch without blocking: a handler can announce its first
// arrival on a buffered channel and never wedge on later ones.
func Signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
