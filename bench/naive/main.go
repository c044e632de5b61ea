// Command naive is a deliberately naive Backend-for-Frontend, the baseline
// of the load benchmarks (docs/bench.md). It serves the same page as
// pagebff from the same environment (BFF_ADDR, USER_SERVICE_URL,
// CATALOG_SERVICE_URL, ACTIVITY_SERVICE_URL) the way a first version
// often does:
//
//   - the three services are called one after another;
//   - with Go's default transport (http.DefaultTransport: at most two idle
//     connections kept per host), shared by all;
//   - each call bounded by the same 300ms timeout pagebff uses, so the
//     comparison is about the architecture, not a missing timeout;
//   - no circuit breaker, no hedging, no stale cache, no coalescing, no
//     page deadline; bodies decoded into interface{} and encoded again.
//
// Do not copy it. It exists to be measured against.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/pagebff/pagebff/bench/internal/baseline"
)

func main() { baseline.Main("naive", run) }

// run serves until ctx ends; logs, the first being the listening address,
// go to stdout as JSON lines.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	urls, err := baseline.URLs(getenv)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: baseline.CallTimeout} // Transport nil: http.DefaultTransport
	return baseline.Serve(ctx, getenv, stdout, func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("user_id")
		if id == "" {
			http.Error(w, `{"error":"user_id is required"}`, http.StatusBadRequest)
			return
		}
		page := map[string]any{}
		sections := map[string]any{}
		paths := []string{"/users/" + url.PathEscape(id), "/items", "/users/" + url.PathEscape(id) + "/activity"}
		for i, name := range []string{"user", "catalog", "activity"} {
			begin := time.Now()
			v, code, err := get(client, urls[i]+paths[i])
			meta := map[string]any{"latency_ms": time.Since(begin).Milliseconds()}
			if err != nil {
				page[name] = map[string]any{"error": err.Error()}
				meta["status"], meta["code"] = "error", code
			} else {
				page[name] = v
				meta["status"], meta["source"] = "ok", "live"
			}
			sections[name] = meta
		}
		page["meta"] = map[string]any{"sections": sections}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	})
}

// get fetches and decodes one section; code says why it failed, in
// pagebff's words.
func get(c *http.Client, u string) (any, string, error) {
	resp, err := c.Get(u)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, "timeout", err
		}
		return nil, "unavailable", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "upstream_status", fmt.Errorf("status %d", resp.StatusCode)
	}
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, "timeout", err
		}
		return nil, "bad_response", err
	}
	return v, "", nil
}
