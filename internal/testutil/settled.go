package testutil

import (
	"net/http"
	"net/http/httptest"
	"sync"
)

// SettledServer is a handler on a real HTTP server that knows when the
// requests it was sent are done. A client has its answer before the
// handler returns, and a page's figures are counted and its log line
// written last: a test reading them right after a response would race the
// handler's tail. The caller closes it.
type SettledServer struct {
	*httptest.Server
	handling sync.WaitGroup
}

// NewSettledServer serves h.
func NewSettledServer(h http.Handler) *SettledServer {
	s := &SettledServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handling.Add(1) // before the answer, so before any Settle that follows it
		defer s.handling.Done()
		h.ServeHTTP(w, r)
	}))
	return s
}

// Settle waits until every request sent so far has left the handler. Call
// it only while no other request may start.
func (s *SettledServer) Settle() { s.handling.Wait() }
