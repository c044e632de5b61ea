// Command plain is the baseline pagebff has to beat on cost: the simplest
// Backend-for-Frontend a careful team would write for the same page, and
// the first row of the load benchmarks' comparison (docs/bench.md). It
// serves the same page from the same environment (BFF_ADDR,
// USER_SERVICE_URL, CATALOG_SERVICE_URL, ACTIVITY_SERVICE_URL):
//
//   - the three services are called at the same time;
//   - over one tuned transport per service (1024 idle keep-alive
//     connections per host, unlike Go's default of two);
//   - each call bounded by the same 300ms timeout pagebff uses;
//   - bodies checked with json.Valid and passed through as raw JSON;
//   - no circuit breaker, no hedging, no stale cache, no coalescing, no log
//     line, metrics or traces.
//
// What pagebff adds on top of this is what its extra CPU per page, if any,
// pays for.
package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pagebff/pagebff/bench/internal/baseline"
)

func main() { baseline.Main("plain", run) }

type service struct {
	name, base string
	client     *http.Client
	userPath   func(id string) string
}

// run serves until ctx ends; logs, the first being the listening address,
// go to stdout as JSON lines.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	urls, err := baseline.URLs(getenv)
	if err != nil {
		return err
	}
	paths := []func(string) string{
		func(id string) string { return "/users/" + url.PathEscape(id) },
		func(string) string { return "/items" },
		func(id string) string { return "/users/" + url.PathEscape(id) + "/activity" },
	}
	var services []service
	for i, name := range []string{"user", "catalog", "activity"} {
		tr := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: baseline.CallTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
		}
		services = append(services, service{name: name, base: urls[i], client: &http.Client{Transport: tr}, userPath: paths[i]})
	}

	type result struct {
		body    []byte
		code    string
		latency time.Duration
	}
	return baseline.Serve(ctx, getenv, stdout, func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("user_id")
		if id == "" {
			http.Error(w, `{"error":"user_id is required"}`, http.StatusBadRequest)
			return
		}
		start := time.Now()
		results := make([]result, len(services))
		done := make(chan struct{}, len(services))
		for i, s := range services {
			go func() {
				body, code := get(r.Context(), s.client, s.base+s.userPath(id))
				results[i] = result{body: body, code: code, latency: time.Since(start)}
				done <- struct{}{}
			}()
		}
		for range services {
			<-done
		}
		b := make([]byte, 0, 4096)
		b = append(b, '{')
		meta := make([]byte, 0, 256)
		for i, s := range services {
			res := results[i]
			b = strconv.AppendQuote(b, s.name)
			b = append(b, ':')
			meta = strconv.AppendQuote(meta, s.name)
			if res.code == "" {
				b = append(b, res.body...)
				meta = append(meta, `:{"status":"ok","source":"live","latency_ms":`...)
			} else {
				b = append(b, `{"error":"`+s.name+`: `+res.code+`"}`...)
				meta = append(meta, `:{"status":"error","code":"`+res.code+`","latency_ms":`...)
			}
			meta = strconv.AppendInt(meta, res.latency.Milliseconds(), 10)
			meta = append(meta, "},"...)
			b = append(b, ',')
		}
		b = append(b, `"meta":{"sections":{`...)
		b = append(b, meta[:len(meta)-1]...)
		b = append(b, "}}}"...)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})
}

// get fetches one section as raw JSON; code says why it failed, in
// pagebff's words ("" on success).
func get(ctx context.Context, c *http.Client, u string) ([]byte, string) {
	ctx, cancel := context.WithTimeout(ctx, baseline.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "unavailable"
	}
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "timeout"
		}
		return nil, "unavailable"
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, "timeout"
	case err != nil:
		return nil, "unavailable"
	case resp.StatusCode != http.StatusOK:
		return nil, "upstream_status"
	case !json.Valid(body):
		return nil, "bad_response"
	}
	if len(body) > 0 && body[0] == '[' {
		body = append(append([]byte(`{"items":`), body...), '}')
	}
	return body, ""
}
