package testutil

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// JSON answers 200 with body as application/json.
func JSON(body string) http.HandlerFunc {
	return Status(http.StatusOK, body)
}

// Status answers code with body as application/json.
func Status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

// Slow waits d (or until the request ends) before calling next.
func Slow(d time.Duration, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			next(w, r)
		case <-r.Context().Done():
		}
	}
}

// Hang never answers; it returns when the request ends.
func Hang() http.HandlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
}

// Trickle answers 200 and writes chunk n times, one every interval, flushing
// each: a body that arrives slowly.
func Trickle(chunk string, n int, every time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		f, _ := w.(http.Flusher)
		for i := 0; i < n; i++ {
			if _, err := w.Write([]byte(chunk)); err != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
			select {
			case <-time.After(every):
			case <-r.Context().Done():
				return
			}
		}
	}
}

// Big answers 200 with a valid JSON array of about size bytes, declared in
// Content-Length.
func Big(size int) http.HandlerFunc {
	body := `["` + strings.Repeat("x", size) + `"]`
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write([]byte(body))
	}
}

// contextUntil returns ctx that also ends when done is closed.
func contextUntil(ctx context.Context, done <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Drop closes the connection without answering, like a crashed process or a
// reset.
func Drop() http.HandlerFunc {
	return func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }
}
