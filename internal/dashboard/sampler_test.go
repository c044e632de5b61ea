package dashboard

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// world is a fake pagebff whose cumulative figures a test moves forward.
type world struct {
	mu   sync.Mutex
	now  time.Time
	raw  Raw
	seen int // Sample calls
}

func newWorld() *world {
	w := &world{now: t0}
	w.raw.Pages.Latency = hist(0, 0, 0, 0, 0, 0)
	for _, name := range []string{"user", "catalog", "activity"} {
		w.raw.Services = append(w.raw.Services, RawService{
			Name: name, Breaker: "closed", Latency: hist(0, 0, 0, 0, 0, 0),
			Outcomes: []Outcome{{"ok", "none", 0}, {"error", "timeout", 0}, {"stale", "unavailable", 0}},
		})
	}
	return w
}

// Sample is the Source: a deep copy, so later moves do not change it.
func (w *world) Sample() Raw {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen++
	r := w.raw
	r.Time = w.now
	r.Pages.Latency = copyHist(r.Pages.Latency)
	r.Services = append([]RawService(nil), r.Services...)
	for i := range r.Services {
		r.Services[i].Latency = copyHist(r.Services[i].Latency)
		r.Services[i].Outcomes = append([]Outcome(nil), r.Services[i].Outcomes...)
	}
	return r
}

func copyHist(h Histogram) Histogram {
	h.Counts = append([]uint64(nil), h.Counts...)
	return h
}

// observe adds n pages (and n sections per service) that took d seconds.
func (w *world) observe(n uint64, d float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	add := func(h *Histogram) {
		for i, b := range h.Bounds {
			if d <= b {
				h.Counts[i] += n
			}
		}
		h.Count += n
	}
	add(&w.raw.Pages.Latency)
	for i := range w.raw.Services {
		add(&w.raw.Services[i].Latency)
		w.raw.Services[i].Outcomes[0].N += n
	}
}

func (w *world) tick(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

func (w *world) set(f func(r *Raw)) {
	w.mu.Lock()
	f(&w.raw)
	w.mu.Unlock()
}

// step moves the world a second on and records a sample.
func step(s *Sampler, w *world, pages uint64, latency float64) *Snapshot {
	w.tick(time.Second)
	if pages > 0 {
		w.observe(pages, latency)
	}
	s.Record(w.Sample())
	snap, _ := s.Latest()
	return snap
}

func TestSamplerRatesAndWindow(t *testing.T) {
	w := newWorld()
	s := NewSampler(w, time.Second)
	s.Record(w.Sample())
	first, _ := s.Latest()
	if first.Pages.PerSec != 0 || !math.IsNaN(float64(first.Pages.P99)) {
		t.Errorf("first sample: per_sec %v, p99 %v; want 0 and no percentile (nothing to compare with)", first.Pages.PerSec, first.Pages.P99)
	}

	// A minute of fast pages at 20/s.
	var snap *Snapshot
	for range 60 {
		snap = step(s, w, 20, 0.005)
	}
	if snap.Pages.PerSec != 20 || snap.Services[0].PerSec != 20 {
		t.Errorf("per_sec = %v (pages), %v (user); want 20", snap.Pages.PerSec, snap.Services[0].PerSec)
	}
	if p := float64(snap.Pages.P99); math.Abs(p-9.9) > 1e-6 {
		t.Errorf("p99 = %v ms, want 9.9 (99%% of the way through the first bucket)", p)
	}
	if snap.Window != Window {
		t.Errorf("window = %vs, want %d", snap.Window, Window)
	}

	// Then everything slows down: within the window, the percentiles
	// follow; the cumulative histogram would still be fast.
	snap = step(s, w, 20, 0.3)
	if p := float64(snap.Pages.P99); p < 100 {
		t.Errorf("p99 one slow second in = %v ms, want the slow pages to show at once", p)
	}
	for range Window {
		snap = step(s, w, 20, 0.3)
	}
	if p := float64(snap.Pages.P50); p < 100 || p > 500 {
		t.Errorf("p50 after a window of slow pages = %v ms, want between 100 and 500", p)
	}
	if p := float64(snap.Services[1].P99); p < 100 || p > 500 {
		t.Errorf("catalog p99 after a window of slow sections = %v ms, want between 100 and 500", p)
	}

	// An idle window has no percentiles.
	for range Window {
		snap = step(s, w, 0, 0)
	}
	if !math.IsNaN(float64(snap.Pages.P99)) || snap.Pages.PerSec != 0 {
		t.Errorf("idle: p99 %v, per_sec %v; want none and 0", snap.Pages.P99, snap.Pages.PerSec)
	}
}

func TestSamplerOutcomesAndCounters(t *testing.T) {
	w := newWorld()
	s := NewSampler(w, time.Second)
	s.Record(w.Sample())
	w.tick(2 * time.Second) // rates are per second of the real interval
	w.set(func(r *Raw) {
		u := &r.Services[0]
		u.Outcomes[0].N += 10
		u.Outcomes[1].N += 4
		u.Outcomes[2].N += 2
		u.HedgesSent, u.HedgesWon, u.RetriesSent, u.RetriesWon = 6, 2, 8, 4
		u.FreshHits, u.StaleServed = 20, 2
		r.Pages.Shed = 30
		r.Pages.Inflight = 7
	})
	s.Record(w.Sample())
	snap, _ := s.Latest()
	u := snap.Services[0]
	if snap.Interval != 2 {
		t.Errorf("interval = %v, want 2", snap.Interval)
	}
	want := []OutcomeStats{{"ok", "none", 5, 10}, {"error", "timeout", 2, 4}, {"stale", "unavailable", 1, 2}}
	if len(u.Outcomes) != len(want) {
		t.Fatalf("outcomes = %+v, want %+v", u.Outcomes, want)
	}
	for i := range want {
		if u.Outcomes[i] != want[i] {
			t.Errorf("outcome %d = %+v, want %+v (ok first, then by total)", i, u.Outcomes[i], want[i])
		}
	}
	if u.NotOKPerSec != 3 {
		t.Errorf("not_ok_per_sec = %v, want 3", u.NotOKPerSec)
	}
	if (u.Hedges != SentWon{SentPerSec: 3, WonPerSec: 1, Sent: 6, Won: 2}) {
		t.Errorf("hedges = %+v", u.Hedges)
	}
	if (u.Retries != SentWon{SentPerSec: 4, WonPerSec: 2, Sent: 8, Won: 4}) {
		t.Errorf("retries = %+v", u.Retries)
	}
	if (u.Cache != CacheStats{FreshPerSec: 10, StalePerSec: 1, Fresh: 20, Stale: 2}) {
		t.Errorf("cache = %+v", u.Cache)
	}
	if snap.Pages.ShedPerSec != 15 || snap.Pages.Shed != 30 || snap.Pages.Inflight != 7 {
		t.Errorf("pages = %+v", snap.Pages)
	}
	if len(snap.Services[1].Outcomes) != 0 {
		t.Errorf("catalog outcomes = %+v, want none (all zero)", snap.Services[1].Outcomes)
	}
}

func TestSamplerBreakerSince(t *testing.T) {
	w := newWorld()
	s := NewSampler(w, time.Second)
	s.Record(w.Sample())
	snap := step(s, w, 1, 0.005)
	if b := snap.Services[0].Breaker; b.State != "closed" || !b.SinceStart || b.Since != t0.UnixMilli() {
		t.Errorf("before any change: %+v, want closed since the start (a lower bound)", b)
	}
	w.set(func(r *Raw) { r.Services[0].Breaker, r.Services[0].Forced = "open", "open" })
	opened := step(s, w, 1, 0.005)
	for range 5 {
		snap = step(s, w, 1, 0.005)
	}
	b := snap.Services[0].Breaker
	if b.State != "open" || b.SinceStart || b.Since != opened.Time || b.Forced != "open" {
		t.Errorf("after opening: %+v, want open (forced) since %d", b, opened.Time)
	}
	w.set(func(r *Raw) { r.Services[0].Breaker, r.Services[0].Forced = "closed", "none" })
	snap = step(s, w, 1, 0.005)
	if b := snap.Services[0].Breaker; b.State != "closed" || b.Forced != "" || b.Since != snap.Time {
		t.Errorf("after reset: %+v, want closed since now, not forced", b)
	}
	if snap.Redis != nil {
		t.Errorf("redis = %+v without a Redis tier", snap.Redis)
	}
	w.set(func(r *Raw) { r.Redis = "half-open" })
	snap = step(s, w, 1, 0.005)
	if snap.Redis == nil || snap.Redis.State != "half-open" || !snap.Redis.SinceStart {
		t.Errorf("redis = %+v, want half-open since the start", snap.Redis)
	}
}

func TestSamplerHistory(t *testing.T) {
	w := newWorld()
	s := NewSampler(w, time.Second)
	for i := range HistoryLen + 20 {
		step(s, w, uint64(i), 0.005)
	}
	f := s.Frame()
	if len(f.History) != HistoryLen {
		t.Fatalf("history has %d points, want %d", len(f.History), HistoryLen)
	}
	for i := 1; i < len(f.History); i++ {
		if f.History[i].Time-f.History[i-1].Time != 1000 {
			t.Fatalf("points %d and %d are not a second apart, oldest first", i-1, i)
		}
	}
	last := f.History[len(f.History)-1]
	if last.Time != f.Latest.Time || last.Pages.PerSec != float64(HistoryLen+19) || last.Services["user"].PerSec != last.Pages.PerSec {
		t.Errorf("newest point = %+v, latest at %d", last, f.Latest.Time)
	}
	one, _ := s.frame(false)
	if len(one.History) != 1 || one.History[0].Time != last.Time {
		t.Errorf("frame(false) = %d points, want the newest alone", len(one.History))
	}
}

// TestSamplerStart runs the ticker for real: it samples at once, then every
// interval, wakes waiters, and stops with its context (goleak checks that
// the goroutine is gone).
func TestSamplerStart(t *testing.T) {
	w := newWorld()
	s := NewSampler(SourceFunc(func() Raw { r := w.Sample(); r.Time = time.Time{}; return r }), 10*time.Millisecond)
	_, next := s.Latest()
	ctx, cancel := context.WithCancel(context.Background())
	done := s.Start(ctx)
	for range 3 {
		select {
		case <-next:
		case <-time.After(5 * time.Second):
			t.Fatal("no sample within 5s")
		}
		_, next = s.Latest()
	}
	cancel()
	<-done
	if f := s.Frame(); f.Latest == nil || len(f.History) < 3 {
		t.Fatalf("after 3 samples: %+v", f)
	}

	// A new start begins afresh: no rates against a reading of long ago.
	done = s.Start(ctx) // ctx is done: one sample, then it returns
	<-done
	if f := s.Frame(); len(f.History) != 1 || f.Latest.Interval != 0 {
		t.Errorf("after a restart: %d points, interval %v; want one, 0", len(f.History), f.Latest.Interval)
	}
}
