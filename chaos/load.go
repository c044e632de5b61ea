package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// ErrOverload marks a page the generator did not send because MaxInflight
// pages were already in flight: the generator stays bounded, and the page
// still counts, as a failure at its due time.
var ErrOverload = errors.New("load generator: too many pages in flight")

// Section is one section's entry in a page's meta.
type Section struct {
	Status    string  `json:"status"`
	Code      string  `json:"code"`
	Source    string  `json:"source"`
	LatencyMS float64 `json:"latency_ms"`
	AgeMS     float64 `json:"age_ms"`
}

// Result is what happened to one page.
type Result struct {
	Seq int       // position in the schedule, from 0
	Due time.Time // when the schedule said to send it
	// Latency runs from Due, not from when the request went out, until the
	// whole body was read or the request failed: a stall in the generator
	// or the server shows up in every page it delayed (no coordinated
	// omission).
	Latency  time.Duration
	Status   int   // HTTP status; 0 when the request failed
	Err      error // transport failure, unreadable page, or ErrOverload
	Sections map[string]Section
	Body     []byte // the page as it came, when Load.KeepBody is set
}

// Load sends pages at a fixed rate, open loop: page i is due at
// start + i/Rate whatever happened to the pages before it.
type Load struct {
	// Rate is pages per second; it must be positive.
	Rate float64
	// URL returns the URL of page i.
	URL func(i int) string
	// Client sends the pages; nil means a client with a deep connection
	// pool and a 5s timeout.
	Client *http.Client
	// MaxInflight bounds the pages in flight (default 1000); a page due
	// beyond it is recorded with ErrOverload and not sent.
	MaxInflight int
	// Decode, when true, reads meta.sections of every 200 page into
	// Result.Sections.
	Decode bool
	// KeepBody, when true, keeps every page's body in Result.Body.
	KeepBody bool
}

// Run is a running Load.
type Run struct {
	stop    chan struct{}
	stopped chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	results []Result // guarded by mu; in completion order
}

// NewClient returns the client Load uses by default: a deep keep-alive pool
// (so the generator never queues for a connection) and a timeout.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

// Start begins sending pages and returns at once.
func (l Load) Start() *Run {
	if l.Client == nil {
		l.Client = NewClient(5 * time.Second)
	}
	if l.MaxInflight <= 0 {
		l.MaxInflight = 1000
	}
	r := &Run{stop: make(chan struct{}), stopped: make(chan struct{})}
	go r.schedule(l)
	return r
}

func (r *Run) schedule(l Load) {
	defer close(r.stopped)
	sem := make(chan struct{}, l.MaxInflight)
	interval := time.Duration(float64(time.Second) / l.Rate)
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-r.stop:
				return
			}
		} else {
			select {
			case <-r.stop:
				return
			default:
			}
		}
		select {
		case sem <- struct{}{}:
		default:
			r.record(Result{Seq: i, Due: due, Latency: time.Since(due), Err: ErrOverload})
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-sem }()
			res := fetchPage(l.Client, l.URL(i), l.Decode, l.KeepBody)
			res.Seq, res.Due, res.Latency = i, due, time.Since(due)
			r.record(res)
		}()
	}
}

func (r *Run) record(res Result) {
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
}

// Results returns the pages finished so far.
func (r *Run) Results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.results...)
}

// Stop stops scheduling, waits for the pages in flight and returns every
// result. It may be called more than once.
func (r *Run) Stop() []Result {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.stopped
	r.wg.Wait()
	return r.Results()
}

// fetchPage gets one page and reads it whole.
func fetchPage(c *http.Client, url string, decode, keep bool) Result {
	resp, err := c.Get(url)
	if err != nil {
		return Result{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	res := Result{Status: resp.StatusCode}
	if keep {
		res.Body = body
	}
	if err != nil {
		res.Err = fmt.Errorf("read page: %w", err)
		return res
	}
	if decode && resp.StatusCode == http.StatusOK {
		var p struct {
			Meta struct {
				Sections map[string]Section `json:"sections"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			res.Err = fmt.Errorf("decode page: %w", err)
			return res
		}
		res.Sections = p.Meta.Sections
	}
	return res
}

// Saturate sends pages back to back from workers goroutines (closed loop)
// for d and returns how many succeeded with 200 and how many failed: the
// page throughput the system sustains when pushed as hard as it goes.
func Saturate(ctx context.Context, c *http.Client, url func(i int) string, workers int, d time.Duration) (ok, failed int) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu  sync.Mutex
		seq int
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				i := seq
				seq++
				mu.Unlock()
				res := fetchPage(c, url(i), false, false)
				if ctx.Err() != nil {
					return // cut off by the end of the run: not counted
				}
				mu.Lock()
				if res.Err == nil && res.Status == http.StatusOK {
					ok++
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ok, failed
}
