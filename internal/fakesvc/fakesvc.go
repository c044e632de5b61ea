package fakesvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// Kinds are the services a fake can play.
var Kinds = []string{"user", "catalog", "activity"}

// Handler returns an http.Handler playing kind ("user", "catalog" or
// "activity"), answering after a latency drawn uniformly from
// [minLatency, maxLatency).
func Handler(kind string, minLatency, maxLatency time.Duration) (http.Handler, error) {
	mux := http.NewServeMux()
	switch kind {
	case "user":
		mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, user(r.PathValue("id"))) })
	case "catalog":
		mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, catalog) })
	case "activity":
		mux.HandleFunc("GET /users/{id}/activity", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, activity(r.PathValue("id"))) })
	default:
		return nil, fmt.Errorf("fakesvc: unknown kind %q; want user, catalog or activity", kind)
	}
	return delay(mux, minLatency, maxLatency), nil
}

func delay(next http.Handler, lo, hi time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := lo
		if hi > lo {
			d += rand.N(hi - lo)
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			next.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

var names = []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth", "Margaret Hamilton"}

func pick(id string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

func user(id string) map[string]any {
	themes := []string{"dark", "light"}
	return map[string]any{
		"id":          id,
		"name":        names[pick(id, len(names))],
		"preferences": map[string]any{"theme": themes[pick(id+"t", 2)], "language": "en"},
	}
}

type item struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Category    string `json:"category"`
}

var catalog = map[string]any{"items": []item{
	{"i1", "Mechanical keyboard", "Tenkeyless, hot-swappable switches", "hardware"},
	{"i2", "Noise-cancelling headphones", "Thirty hours of quiet", "audio"},
	{"i3", "The Go Programming Language", "Donovan and Kernighan", "books"},
	{"i4", "Standing desk", "Electric, two motors, memory presets", "furniture"},
	{"i5", "27-inch monitor", "4K, USB-C with power delivery", "hardware"},
	{"i6", "Designing Data-Intensive Applications", "Kleppmann", "books"},
}}

func activity(id string) []map[string]any {
	kinds := []string{"viewed", "added_to_cart", "purchased", "reviewed"}
	start := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	out := make([]map[string]any, 0, 4)
	for i := range 4 {
		out = append(out, map[string]any{
			"type":    kinds[pick(fmt.Sprint(id, i), len(kinds))],
			"item_id": fmt.Sprintf("i%d", 1+pick(fmt.Sprint(id, "item", i), 6)),
			"at":      start.Add(time.Duration(pick(fmt.Sprint(id, "at", i), 500)) * time.Hour).Format(time.RFC3339),
		})
	}
	return out
}

// Demo is a running set of fake services on loopback.
type Demo struct {
	// URLs maps a kind to its base URL.
	URLs map[string]string
	// Services maps a kind to its fake, whose faults can be set while the
	// demo runs (also over HTTP at URLs[kind] + ControlPath).
	Services map[string]*Service
	servers  []*http.Server
}

// StartDemo starts one fake of every kind on 127.0.0.1, each answering in
// 5–40ms. Stop it with Close.
func StartDemo() (*Demo, error) {
	d := &Demo{URLs: make(map[string]string, len(Kinds)), Services: make(map[string]*Service, len(Kinds))}
	for _, kind := range Kinds {
		h, err := New(kind, Options{MinLatency: 5 * time.Millisecond, MaxLatency: 40 * time.Millisecond})
		if err != nil {
			return nil, errors.Join(err, d.Close())
		}
		d.Services[kind] = h
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, errors.Join(fmt.Errorf("demo %s service: %w", kind, err), d.Close())
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		d.servers = append(d.servers, srv)
		go func() { _ = srv.Serve(ln) }()
		d.URLs[kind] = "http://" + ln.Addr().String()
	}
	return d, nil
}

// Close stops the fake services at once.
func (d *Demo) Close() error {
	var errs []error
	for _, s := range d.Services {
		s.Close()
	}
	for _, s := range d.servers {
		errs = append(errs, s.Shutdown(context.Background()))
	}
	return errors.Join(errs...)
}
