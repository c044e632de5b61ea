package dashboard

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Defaults of a Sampler.
const (
	// DefaultInterval is how often a Sampler reads its Source.
	DefaultInterval = time.Second
	// HistoryLen is how many samples the sparklines keep: five minutes.
	HistoryLen = 300
	// Window is how many intervals the percentiles span: ten seconds.
	Window = 10
)

// Sampler reads a Source every interval while started, and keeps the
// latest Snapshot and the last HistoryLen Points. Create it with
// NewSampler; it is safe for concurrent use.
type Sampler struct {
	src      Source
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	raws    ring[Raw]        // the last Window+1 readings; guarded by mu
	points  ring[Point]      // guarded by mu
	latest  *Snapshot        // guarded by mu; nil before the first sample
	next    chan struct{}    // closed at the next sample; guarded by mu
	since   map[string]State // breaker states by service, and redisKey; guarded by mu
	started time.Time        // guarded by mu
}

// NewSampler returns a Sampler of src that reads it every interval (0:
// DefaultInterval). It does nothing until Start.
func NewSampler(src Source, interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Sampler{
		src: src, interval: interval, now: time.Now,
		raws: newRing[Raw](Window + 1), points: newRing[Point](HistoryLen),
		next: make(chan struct{}), since: map[string]State{},
	}
}

// Start clears what the Sampler kept, reads the Source at once and then
// every interval from a goroutine of its own, until ctx ends. The returned
// channel is closed once that goroutine has returned. Start again only
// after that.
func (s *Sampler) Start(ctx context.Context) <-chan struct{} {
	s.mu.Lock()
	s.raws.reset()
	s.points.reset()
	s.latest, s.started = nil, time.Time{}
	clear(s.since)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			s.Record(s.src.Sample())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return done
}

// Latest returns the newest Snapshot (nil before the first sample) and a
// channel closed when the next one is recorded.
func (s *Sampler) Latest() (snap *Snapshot, next <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest, s.next
}

// Frame returns the newest Snapshot with the whole history, oldest first.
func (s *Sampler) Frame() Frame {
	f, _ := s.frame(true)
	return f
}

// frame returns the newest Snapshot with the whole history (full) or with
// its own Point alone, for a client that has the history already, and a
// channel closed when the next sample is recorded.
func (s *Sampler) frame(full bool) (Frame, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := Frame{Latest: s.latest}
	switch p, ok := s.points.back(0); {
	case full:
		f.History = s.points.slice()
	case ok:
		f.History = []Point{p}
	}
	return f, s.next
}

// Record adds a reading, as Start's goroutine does every interval: the
// Snapshot and Point it makes become the latest, and whoever waits on
// Latest's channel is woken.
func (s *Sampler) Record(raw Raw) {
	if raw.Time.IsZero() {
		raw.Time = s.now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started.IsZero() {
		s.started = raw.Time
	}
	s.raws.push(raw)
	snap := s.compute()
	s.points.push(pointOf(snap))
	s.latest = snap
	close(s.next)
	s.next = make(chan struct{})
}

// compute makes the Snapshot of the newest reading, against the one before
// it (rates) and the one Window intervals before (percentiles). Caller
// holds mu.
func (s *Sampler) compute() *Snapshot {
	now, _ := s.raws.back(0)
	prev, havePrev := s.raws.back(1)
	then, ok := s.raws.back(Window)
	if !ok { // fewer readings than the window: the oldest kept
		then, _ = s.raws.back(s.raws.len() - 1)
	}
	dt := 0.0
	if havePrev {
		dt = now.Time.Sub(prev.Time).Seconds()
	}
	snap := &Snapshot{
		Time:     now.Time.UnixMilli(),
		Interval: round3(dt),
		Window:   round3(now.Time.Sub(then.Time).Seconds()),
	}
	if !havePrev {
		prev = now // no rates yet
	}

	// With one reading, then is now: no rates and no percentiles yet.
	pages := now.Pages.Latency.Sub(then.Pages.Latency)
	snap.Pages = PageStats{
		PerSec:     round3(rate(now.Pages.Latency.Count, prev.Pages.Latency.Count, dt)),
		P50:        millis(Quantile(0.5, pages)),
		P99:        millis(Quantile(0.99, pages)),
		Inflight:   now.Pages.Inflight,
		ShedPerSec: round3(rate(now.Pages.Shed, prev.Pages.Shed, dt)),
		Total:      now.Pages.Latency.Count,
		Shed:       now.Pages.Shed,
	}
	for _, svc := range now.Services {
		p, _ := findService(prev, svc.Name)
		w, _ := findService(then, svc.Name)
		lat := svc.Latency.Sub(w.Latency)
		st := ServiceStats{
			Name:    svc.Name,
			Breaker: s.state(svc.Name, svc.Breaker, svc.Forced, now.Time),
			PerSec:  round3(rate(svc.Latency.Count, p.Latency.Count, dt)),
			P50:     millis(Quantile(0.5, lat)),
			P99:     millis(Quantile(0.99, lat)),
			Hedges: SentWon{
				SentPerSec: round3(rate(svc.HedgesSent, p.HedgesSent, dt)), WonPerSec: round3(rate(svc.HedgesWon, p.HedgesWon, dt)),
				Sent: svc.HedgesSent, Won: svc.HedgesWon,
			},
			Retries: SentWon{
				SentPerSec: round3(rate(svc.RetriesSent, p.RetriesSent, dt)), WonPerSec: round3(rate(svc.RetriesWon, p.RetriesWon, dt)),
				Sent: svc.RetriesSent, Won: svc.RetriesWon,
			},
			Cache: CacheStats{
				FreshPerSec: round3(rate(svc.FreshHits, p.FreshHits, dt)), StalePerSec: round3(rate(svc.StaleServed, p.StaleServed, dt)),
				Fresh: svc.FreshHits, Stale: svc.StaleServed,
			},
		}
		for _, o := range svc.Outcomes {
			if o.N == 0 {
				continue
			}
			r := rate(o.N, outcome(p, o.Status, o.Code), dt)
			st.Outcomes = append(st.Outcomes, OutcomeStats{Status: o.Status, Code: o.Code, PerSec: round3(r), Total: o.N})
			if o.Status != "ok" {
				st.NotOKPerSec += r
			}
		}
		st.NotOKPerSec = round3(st.NotOKPerSec)
		slices.SortStableFunc(st.Outcomes, func(a, b OutcomeStats) int {
			if (a.Status == "ok") != (b.Status == "ok") {
				if a.Status == "ok" {
					return -1
				}
				return 1
			}
			return cmp.Compare(b.Total, a.Total)
		})
		snap.Services = append(snap.Services, st)
	}
	if now.Redis != "" {
		st := s.state(redisKey, now.Redis, "", now.Time)
		snap.Redis = &st
	}
	return snap
}

// redisKey is the Redis tier's breaker among the services' (a service name
// is never empty).
const redisKey = ""

// state returns a breaker's State, remembering since when it holds: the
// first reading where it differed from the one before. Caller holds mu.
func (s *Sampler) state(name, state, forced string, at time.Time) State {
	if forced == "none" {
		forced = ""
	}
	st, ok := s.since[name]
	switch {
	case !ok:
		st = State{State: state, Since: s.started.UnixMilli(), SinceStart: true}
	case st.State != state:
		st = State{State: state, Since: at.UnixMilli()}
	}
	st.Forced = forced
	s.since[name] = st
	return st
}

func findService(r Raw, name string) (RawService, bool) {
	for _, s := range r.Services {
		if s.Name == name {
			return s, true
		}
	}
	return RawService{}, false
}

func outcome(r RawService, status, code string) uint64 {
	for _, o := range r.Outcomes {
		if o.Status == status && o.Code == code {
			return o.N
		}
	}
	return 0
}

// pointOf is a Snapshot's sparkline values.
func pointOf(s *Snapshot) Point {
	p := Point{
		Time:     s.Time,
		Pages:    PagePoint{PerSec: s.Pages.PerSec, P99: s.Pages.P99, Inflight: s.Pages.Inflight, Shed: s.Pages.ShedPerSec},
		Services: make(map[string]ServicePoint, len(s.Services)),
	}
	for _, svc := range s.Services {
		p.Services[svc.Name] = ServicePoint{PerSec: svc.PerSec, P99: svc.P99, NotOK: svc.NotOKPerSec}
	}
	return p
}
