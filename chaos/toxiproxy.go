package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Toxiproxy is a client of a Toxiproxy server's HTTP API
// (https://github.com/Shopify/toxiproxy#http-api). The zero value is not
// usable; set URL. It is safe for concurrent use.
type Toxiproxy struct {
	// URL is the API's base URL, e.g. "http://127.0.0.1:8474".
	URL string
	// Client is the HTTP client; nil means one with a 5s timeout.
	Client *http.Client
}

// Proxy is a Toxiproxy proxy: it listens on Listen and forwards every
// connection to Upstream, through its toxics.
type Proxy struct {
	Name     string  `json:"name"`
	Listen   string  `json:"listen"`
	Upstream string  `json:"upstream"`
	Enabled  bool    `json:"enabled"`
	Toxics   []Toxic `json:"toxics,omitempty"`
}

// Toxic is a fault on one direction of a proxy's connections. Stream is
// "downstream" (server to client, the default here) or "upstream";
// Toxicity is the share of connections it applies to (0 is read as 1 by
// AddToxic). Attributes depend on Type:
//
//	latency     latency, jitter (ms)
//	timeout     timeout (ms; 0 holds data forever: a blackhole)
//	reset_peer  timeout (ms before the RST)
//	slicer      average_size, size_variation (bytes), delay (µs between slices)
//	bandwidth   rate (KB/s)
//	limit_data  bytes
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream,omitempty"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]int `json:"attributes"`
}

func (t *Toxiproxy) client() *http.Client {
	if t.Client != nil {
		return t.Client
	}
	return &http.Client{Timeout: 5 * time.Second}
}

// do sends a JSON request; out, if not nil, receives the JSON answer.
func (t *Toxiproxy) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client().Do(req)
	if err != nil {
		return fmt.Errorf("toxiproxy %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("toxiproxy %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("toxiproxy %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("toxiproxy %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Version returns the server's version; it doubles as a readiness probe.
func (t *Toxiproxy) Version(ctx context.Context) (string, error) {
	var v struct{ Version string }
	err := t.do(ctx, http.MethodGet, "/version", nil, &v)
	return v.Version, err
}

// CreateProxy creates an enabled proxy. Listen may use port 0; the returned
// Proxy has the address actually listened on, which stays the same when the
// proxy is disabled and enabled again.
func (t *Toxiproxy) CreateProxy(ctx context.Context, name, listen, upstream string) (Proxy, error) {
	var p Proxy
	err := t.do(ctx, http.MethodPost, "/proxies", Proxy{Name: name, Listen: listen, Upstream: upstream, Enabled: true}, &p)
	return p, err
}

// SetEnabled enables or disables a proxy. A disabled proxy closes its
// listener and every open connection: new connections are refused.
func (t *Toxiproxy) SetEnabled(ctx context.Context, proxy string, enabled bool) error {
	return t.do(ctx, http.MethodPost, "/proxies/"+proxy, map[string]bool{"enabled": enabled}, nil)
}

// AddToxic adds toxic to proxy. An empty Stream means "downstream" and a
// zero Toxicity means 1 (every connection).
func (t *Toxiproxy) AddToxic(ctx context.Context, proxy string, toxic Toxic) error {
	if toxic.Stream == "" {
		toxic.Stream = "downstream"
	}
	if toxic.Toxicity == 0 {
		toxic.Toxicity = 1
	}
	if toxic.Attributes == nil {
		toxic.Attributes = map[string]int{}
	}
	return t.do(ctx, http.MethodPost, "/proxies/"+proxy+"/toxics", toxic, nil)
}

// RemoveToxic removes the named toxic from proxy.
func (t *Toxiproxy) RemoveToxic(ctx context.Context, proxy, toxic string) error {
	return t.do(ctx, http.MethodDelete, "/proxies/"+proxy+"/toxics/"+toxic, nil, nil)
}

// Reset enables every proxy and removes every toxic.
func (t *Toxiproxy) Reset(ctx context.Context) error {
	return t.do(ctx, http.MethodPost, "/reset", nil, nil)
}

// Proxies returns every proxy by name.
func (t *Toxiproxy) Proxies(ctx context.Context) (map[string]Proxy, error) {
	var m map[string]Proxy
	err := t.do(ctx, http.MethodGet, "/proxies", nil, &m)
	return m, err
}
