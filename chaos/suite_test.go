//go:build chaos

package chaos_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagebff/pagebff/chaos"
)

// The suite runs with `make chaos`, which builds the binaries and passes
// their paths; see docs/chaos.md.
var (
	bffBin       = flag.String("bff", "../bin/bff", "pagebff binary")
	fakesvcBin   = flag.String("fakesvc", "../bin/fakesvc", "fakesvc binary")
	toxiproxyBin = flag.String("toxiproxy", "", "Toxiproxy server binary (make chaos installs it into bin/)")
	rate         = flag.Float64("rate", 80, "pages per second during every scenario")
	only         = flag.String("only", "", "run only the scenarios whose names contain this")
)

// The promises under test, and the configuration the BFF runs with.
const (
	pageBudget          = 500 * time.Millisecond // every page, at the client, from its scheduled start
	openTimeout         = time.Second            // BFF_DEFAULTS_BREAKER_OPEN_TIMEOUT
	consecutiveFailures = 5                      // BFF_DEFAULTS_BREAKER_CONSECUTIVE_FAILURES
	sectionTimeout      = 300 * time.Millisecond // the default per-service timeout
	users               = 20                     // distinct user ids in the load
	pollEvery           = 100 * time.Millisecond // metrics polling during a scenario
	// A page's downstream calls may still be in flight when a fault starts
	// or ends: pages due this close to a boundary are held only to the
	// promises that always hold (200, in budget, allowed codes).
	edge = sectionTimeout + 100*time.Millisecond
	// An open breaker answers at once: its section well under the 300ms
	// a call could take (the margin is for a busy 2-core box).
	openAnswer = 100 * time.Millisecond
	// Once a fault ends, every breaker closes within open_timeout (the
	// rest of its open period) plus this, for the probe.
	closeSlack = 1500 * time.Millisecond
	// Goroutines allowed above the count before a scenario once it is
	// over: idle keep-alive connections (two goroutines each) may differ.
	goroutineSlack = 16
	// server.max_inflight of the BFF under test: far above what the load
	// needs (80 pages/s of ~10ms), below the stalled requests sent at once,
	// so that stalled requests holding page slots would shed real pages.
	maxInflight = 200
)

var services = []string{"user", "catalog", "activity"}

// scenario is one fault, held under load, then recovery.
type scenario struct {
	name, what string
	hold       time.Duration // how long the fault stays on
	// inject starts the fault; during, if set, runs for hold instead of
	// sleeping (a fault that changes); clear ends it (nil: Toxiproxy reset).
	inject func(context.Context, *chaos.Cluster) error
	during func(context.Context, *chaos.Cluster, time.Duration) error
	clear  func(context.Context, *chaos.Cluster) error
	// hit are the services the fault breaks, with the codes their sections
	// may show while it lasts (circuit_open is always allowed for them).
	hit map[string][]string
	// steady means every call to a hit service fails while the fault is
	// on: no ok section is allowed after the first edge.
	steady bool
	// minOpen is how many separate times each hit service's breaker must
	// be seen open.
	minOpen int
	// staysClosed means the fault is not the hit services' failure (a
	// redirect): their breakers must never leave closed either.
	staysClosed bool
	// users is how many distinct user ids the load cycles through; 0
	// means users. keepBodies keeps every page's body for extra.
	users      int
	keepBodies bool
	// extra, if set, makes the scenario's own probe, started just before
	// the fault and checked once the load has stopped.
	extra func() probe
}

// probe is a scenario's own attack and checks beside the generic ones.
type probe interface {
	// start runs just before the fault is injected.
	start(ctx context.Context, s *suite) error
	// finish runs once the load has stopped: it adds failed promises to
	// chk and returns a note for the scenario's line and one for the
	// summary line ("" for none).
	finish(ctx context.Context, s *suite, w window, chk *checks) (line, summary string)
}

// window is what a scenario saw, for a probe's checks.
type window struct {
	results          []chaos.Result
	samples          []sample
	tInject, tClear  time.Time
	before, during   counts
	users            int
	pagesDuringFault int // pages due between inject and clear
}

func toxic(kind string, tx chaos.Toxic) func(context.Context, *chaos.Cluster) error {
	return func(ctx context.Context, c *chaos.Cluster) error { return c.Toxi.AddToxic(ctx, kind, tx) }
}

func disable(kinds ...string) func(context.Context, *chaos.Cluster) error {
	return func(ctx context.Context, c *chaos.Cluster) error {
		for _, k := range kinds {
			if err := c.Toxi.SetEnabled(ctx, k, false); err != nil {
				return err
			}
		}
		return nil
	}
}

var scenarios = []scenario{
	{
		name: "healthy", what: "no fault (warms the stale cache)", hold: 2 * time.Second,
		inject: func(context.Context, *chaos.Cluster) error { return nil },
	},
	{
		name: "latency-spike", what: "catalog +1s latency (toxic latency)", hold: 5 * time.Second,
		inject: toxic("catalog", chaos.Toxic{Name: "spike", Type: "latency", Attributes: map[string]int{"latency": 1000}}),
		hit:    map[string][]string{"catalog": {"timeout"}}, steady: true, minOpen: 1,
	},
	{
		name: "blackhole", what: "activity swallows everything (toxic timeout=0)", hold: 5 * time.Second,
		inject: toxic("activity", chaos.Toxic{Name: "blackhole", Type: "timeout", Attributes: map[string]int{"timeout": 0}}),
		hit:    map[string][]string{"activity": {"timeout"}}, steady: true, minOpen: 1,
	},
	{
		name: "reset-peer", what: "user connections reset (toxic reset_peer)", hold: 5 * time.Second,
		inject: toxic("user", chaos.Toxic{Name: "reset", Type: "reset_peer", Attributes: map[string]int{"timeout": 0}}),
		hit:    map[string][]string{"user": {"unavailable"}}, steady: true, minOpen: 1,
	},
	{
		name: "slow-body", what: "catalog body in 32-byte slices every 30ms (toxic slicer)", hold: 5 * time.Second,
		inject: toxic("catalog", chaos.Toxic{Name: "slow", Type: "slicer", Attributes: map[string]int{"average_size": 32, "size_variation": 8, "delay": 30000}}),
		hit:    map[string][]string{"catalog": {"timeout"}}, steady: true, minOpen: 1,
	},
	{
		name: "flapping", what: "activity down 1.5s / up 2s, three times (proxy disabled)", hold: 10500 * time.Millisecond,
		inject: func(context.Context, *chaos.Cluster) error { return nil },
		during: func(ctx context.Context, c *chaos.Cluster, hold time.Duration) error {
			for range 3 {
				if err := c.Toxi.SetEnabled(ctx, "activity", false); err != nil {
					return err
				}
				time.Sleep(1500 * time.Millisecond)
				if err := c.Toxi.SetEnabled(ctx, "activity", true); err != nil {
					return err
				}
				time.Sleep(2 * time.Second)
			}
			return nil
		},
		hit: map[string][]string{"activity": {"unavailable"}}, minOpen: 3,
	},
	{
		name: "all-down", what: "all three services refuse connections (proxies disabled)", hold: 4 * time.Second,
		inject: disable(services...),
		hit:    map[string][]string{"user": {"unavailable"}, "catalog": {"unavailable"}, "activity": {"unavailable"}}, steady: true, minOpen: 1,
	},
	{
		name: "bad-answers", what: "user 503s, catalog malformed JSON (fakesvc faults that clear themselves after 4s)", hold: 4 * time.Second,
		inject: func(ctx context.Context, c *chaos.Cluster) error {
			if err := c.Fakes["user"].SetFaults(ctx, `{"error": {"status": 503, "duration": "4s"}}`); err != nil {
				return err
			}
			return c.Fakes["catalog"].SetFaults(ctx, `{"malformed": {"duration": "4s"}}`)
		},
		// Nothing to clear: the faults end by themselves. Check they did.
		clear: func(ctx context.Context, c *chaos.Cluster) error {
			time.Sleep(100 * time.Millisecond)
			for _, k := range []string{"user", "catalog"} {
				st, err := c.Fakes[k].Status(ctx)
				if err != nil {
					return err
				}
				if !st.Faults.IsZero() {
					return fmt.Errorf("%s fake still has faults %+v after their duration", k, st.Faults)
				}
			}
			return nil
		},
		hit: map[string][]string{"user": {"upstream_status"}, "catalog": {"bad_response"}}, steady: true, minOpen: 1,
	},
	{
		// The attack is the probe's: requests to the BFF itself.
		name: "stalled-body", what: fmt.Sprintf("%d GETs announce a body and never send it (%d Content-Length: 1, %d chunked)", stalledLength+stalledChunked, stalledLength, stalledChunked),
		hold:   2500 * time.Millisecond,
		inject: func(context.Context, *chaos.Cluster) error { return nil },
		extra:  func() probe { return &stalledProbe{} },
	},
	{
		name: "redirect-loop", what: "user answers 302 to itself (fakesvc redirect)", hold: 3 * time.Second,
		inject: func(ctx context.Context, c *chaos.Cluster) error {
			return c.Fakes["user"].SetFaults(ctx, `{"redirect": {}}`)
		},
		clear: func(ctx context.Context, c *chaos.Cluster) error { return c.Fakes["user"].ClearFaults(ctx) },
		// A redirect not followed is not the service failing: the breaker
		// stays closed, and the stale cache may cover the section.
		hit: map[string][]string{"user": {"upstream_status"}}, steady: true, staysClosed: true,
		extra: func() probe { return &redirectProbe{} },
	},
	{
		name: "desync", what: fmt.Sprintf("user follows %.0f%% of answers with a stray one for another user: in the same write with a foreign X-Request-Id, then 20ms later without one (fakesvc desync)", desyncRate*100),
		hold: 4 * time.Second,
		inject: func(ctx context.Context, c *chaos.Cluster) error {
			return c.Fakes["user"].SetFaults(ctx, desyncFaults(false))
		},
		during: func(ctx context.Context, c *chaos.Cluster, hold time.Duration) error {
			time.Sleep(hold / 2)
			if err := c.Fakes["user"].SetFaults(ctx, desyncFaults(true)); err != nil {
				return err
			}
			time.Sleep(hold / 2)
			return nil
		},
		clear: func(ctx context.Context, c *chaos.Cluster) error { return c.Fakes["user"].ClearFaults(ctx) },
		// Every page asks for its own user, so no section can hide behind
		// a cached value, and a foreign one shows. timeout: a call sent on
		// a connection in the 20ms before its late stray arrives waits for
		// an answer the fake never sends (it stops reading after a
		// desync), as with a hung service; pagebff closes every refused
		// answer's connection, so this stays rare (it was 11-29 a run while
		// refused answers' connections went back to the pool).
		hit: map[string][]string{"user": {"bad_response", "timeout"}}, users: 1 << 30, keepBodies: true,
		extra: func() probe { return &desyncProbe{} },
	},
}

func TestChaos(t *testing.T) {
	if *toxiproxyBin == "" {
		t.Fatal("-toxiproxy is not set; run the suite with `make chaos`")
	}
	began := time.Now()
	ctx := context.Background()
	c, err := chaos.StartCluster(ctx, chaos.Config{
		Bin:       chaos.Binaries{BFF: *bffBin, Fakesvc: *fakesvcBin, Toxiproxy: *toxiproxyBin},
		Toxiproxy: true,
		FakeArgs:  []string{"--min-latency", "2ms", "--max-latency", "8ms"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.StartBFF(*bffBin,
		"BFF_DEFAULTS_BREAKER_OPEN_TIMEOUT="+openTimeout.String(),
		fmt.Sprintf("BFF_DEFAULTS_BREAKER_CONSECUTIVE_FAILURES=%d", consecutiveFailures),
		fmt.Sprintf("BFF_SERVER_MAX_INFLIGHT=%d", maxInflight),
	)
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{c: c, intruderLines: c.BFF.Watch(intruderMark), strayIDLines: c.BFF.Watch(strayIDMark), unsolicited: c.BFF.Watch("Unsolicited response")}
	if _, err := c.Metrics(ctx); errors.Is(err, chaos.ErrNoMetrics) {
		fmt.Println("chaos: TODO: the BFF has no /metrics yet: breaker states are read from section codes, and the goroutine check is skipped")
	} else if err != nil {
		t.Fatal(err)
	} else {
		s.metrics = true
	}
	// Warm up connections and caches so the goroutine baseline is that of
	// a serving BFF, not of an idle one.
	warm := chaos.NewClient(5 * time.Second)
	warmRun := chaos.Load{Rate: *rate, URL: c.PageURL(users), Client: warm}.Start()
	time.Sleep(time.Second)
	warmRun.Stop()
	warm.CloseIdleConnections()
	gStart := s.goroutines()
	setup := time.Since(began)

	var summaries []string
	for _, sc := range scenarios {
		if *only != "" && !strings.Contains(sc.name, *only) {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			summaries = append(summaries, s.run(t, sc))
		})
	}
	if *only == "" || strings.Contains("fd-pressure", *only) {
		t.Run("fd-pressure", func(t *testing.T) {
			summaries = append(summaries, s.fdPressure(t))
		})
	}

	// No growth across the whole suite either.
	gEnd := s.goroutines()
	if gStart >= 0 {
		if !waitFor(5*time.Second, func() bool { gEnd = s.goroutines(); return gEnd >= 0 && gEnd <= gStart+goroutineSlack }) {
			t.Errorf("goroutines grew over the suite: %.0f after warm-up, %.0f at the end", gStart, gEnd)
		}
	}

	// The binary's shutdown promise, after all of that: SIGTERM, exit 0.
	if err := c.StopBFF(); err != nil {
		t.Errorf("bff did not shut down cleanly: %v", err)
	}
	fmt.Println()
	gNote := "goroutines unchecked (TODO: no /metrics)"
	if gStart >= 0 {
		gNote = fmt.Sprintf("goroutines %.0f after warm-up, %.0f at the end", gStart, gEnd)
	}
	defences := ""
	if len(s.notes) > 0 {
		defences = " | " + strings.Join(s.notes, " | ")
	}
	fmt.Printf("chaos: summary (%.0f pages/s, breaker open_timeout %v, %d consecutive failures; setup %.1fs, total %.1fs; %s)%s\n",
		*rate, openTimeout, consecutiveFailures, setup.Seconds(), time.Since(began).Seconds(), gNote, defences)
	for _, l := range summaries {
		fmt.Println(l)
	}
}

type suite struct {
	c       *chaos.Cluster
	metrics bool // the BFF serves /metrics
	// Lines of the BFF's output, all run long, holding a stray answer's
	// bytes, its X-Request-Id, or net/http's note about one.
	intruderLines, strayIDLines, unsolicited *chaos.Watch
	notes                                    []string // probes' notes for the summary line
}

// sample is one metrics poll.
type sample struct {
	at         time.Time
	state      map[string]float64 // breaker state by service
	goroutines float64
	inflight   float64 // bff_inflight_pages
}

// poller scrapes /metrics every pollEvery until stopped.
type poller struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples []sample // guarded by mu
	errs    []error  // guarded by mu
}

func (s *suite) poll() *poller {
	if !s.metrics {
		p := &poller{stop: make(chan struct{}), done: make(chan struct{})}
		close(p.done)
		return p
	}
	return pollWith(s.sample)
}

// pollWith calls sample every pollEvery until stopped.
func pollWith(sampleNow func() (sample, error)) *poller {
	p := &poller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			sm, err := sampleNow()
			p.mu.Lock()
			if err != nil {
				p.errs = append(p.errs, err)
			} else {
				p.samples = append(p.samples, sm)
			}
			p.mu.Unlock()
			select {
			case <-tick.C:
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

func (p *poller) finish() ([]sample, []error) {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.samples, p.errs
}

func (s *suite) sample() (sample, error) {
	return sampleOf(s.c.Metrics)
}

// sampleOf scrapes once, within 2s.
func sampleOf(scrape func(context.Context) (chaos.Metrics, error)) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := scrape(ctx)
	if err != nil {
		return sample{}, err
	}
	sm := sample{at: time.Now(), state: map[string]float64{}}
	for _, svc := range services {
		v, ok := m.Find("bff_breaker_state", "service", svc)
		if !ok {
			return sm, fmt.Errorf("no bff_breaker_state for %s", svc)
		}
		sm.state[svc] = v
	}
	g, ok := m.Find("go_goroutines")
	if !ok {
		return sm, errors.New("no go_goroutines")
	}
	sm.goroutines = g
	sm.inflight, _ = m.Find("bff_inflight_pages")
	return sm, nil
}

// allClosed reports whether every breaker is closed: from /metrics, or,
// without it, from a probe page whose sections are all ok.
func (s *suite) allClosed() bool {
	if s.metrics {
		sm, err := s.sample()
		if err != nil {
			return false
		}
		for _, v := range sm.state {
			if v != 0 {
				return false
			}
		}
		return true
	}
	r := chaos.Load{Rate: 1, URL: s.c.PageURL(users), Decode: true}.Start()
	time.Sleep(50 * time.Millisecond)
	res := r.Stop()
	for _, x := range res {
		for _, sec := range x.Sections {
			if sec.Status != "ok" {
				return false
			}
		}
	}
	return len(res) > 0
}

// counts are request counters at one moment.
type counts struct {
	calls  map[string]int64 // requests each fake service received
	hedges float64          // bff_hedges_sent_total, all services; -1 without /metrics
}

func (s *suite) counters(ctx context.Context) counts {
	c := counts{calls: map[string]int64{}, hedges: -1}
	for kind, f := range s.c.Fakes {
		if st, err := f.Status(ctx); err == nil {
			c.calls[kind] = st.Requests
		}
	}
	if s.metrics {
		if m, err := s.c.Metrics(ctx); err == nil {
			c.hedges = m.Sum("bff_hedges_sent_total")
		}
	}
	return c
}

// goroutines returns go_goroutines, or -1 without /metrics.
func (s *suite) goroutines() float64 {
	if !s.metrics {
		return -1
	}
	sm, err := s.sample()
	if err != nil {
		return -1
	}
	return sm.goroutines
}

// checks collects failed promises; the first few of each kind are shown.
type checks struct {
	t    *testing.T
	fail map[string][]string
	keys []string
}

func (c *checks) add(kind, format string, args ...any) {
	if c.fail == nil {
		c.fail = map[string][]string{}
	}
	if _, ok := c.fail[kind]; !ok {
		c.keys = append(c.keys, kind)
	}
	c.fail[kind] = append(c.fail[kind], fmt.Sprintf(format, args...))
}

func (c *checks) report() bool {
	for _, k := range c.keys {
		msgs := c.fail[k]
		shown := msgs[:min(len(msgs), 5)]
		c.t.Errorf("%s: %d times; first: %s", k, len(msgs), strings.Join(shown, "; "))
	}
	return len(c.keys) == 0
}

func (s *suite) run(t *testing.T, sc scenario) string {
	ctx := context.Background()
	// Start from a clean, closed state whatever the previous scenario left.
	if err := s.c.Toxi.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range s.c.Fakes {
		if err := f.ClearFaults(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(openTimeout+5*time.Second, s.allClosed) {
		t.Fatal("breakers not closed before the scenario")
	}
	g0 := s.goroutines()

	nusers := sc.users
	if nusers == 0 {
		nusers = users
	}
	var pr probe
	if sc.extra != nil {
		pr = sc.extra()
	}
	client := chaos.NewClient(5 * time.Second)
	p := s.poll()
	run := chaos.Load{Rate: *rate, URL: s.c.PageURL(nusers), Client: client, Decode: true, KeepBody: sc.keepBodies, MaxInflight: 500}.Start()
	time.Sleep(time.Second) // healthy lead-in
	before := s.counters(ctx)
	if pr != nil {
		if err := pr.start(ctx, s); err != nil {
			run.Stop()
			p.finish()
			t.Fatalf("probe: %v", err)
		}
	}
	tInject := time.Now()
	if err := sc.inject(ctx, s.c); err != nil {
		run.Stop()
		p.finish()
		t.Fatalf("inject: %v", err)
	}
	if sc.during != nil {
		if err := sc.during(ctx, s.c, sc.hold); err != nil {
			run.Stop()
			p.finish()
			t.Fatalf("during: %v", err)
		}
	} else {
		time.Sleep(sc.hold)
	}
	tClear := time.Now()
	during := s.counters(ctx)
	clear := sc.clear
	if clear == nil {
		clear = func(ctx context.Context, c *chaos.Cluster) error { return c.Toxi.Reset(ctx) }
	}
	if err := clear(ctx, s.c); err != nil {
		run.Stop()
		p.finish()
		t.Fatalf("clear: %v", err)
	}
	closed := waitFor(openTimeout+5*time.Second, s.allClosed)
	tClosed := time.Now()
	time.Sleep(1500 * time.Millisecond) // recovered: everything must be ok again
	results := run.Stop()
	samples, pollErrs := p.finish()
	client.CloseIdleConnections()

	chk := &checks{t: t}
	if !closed {
		chk.add("breakers still open 6s after the fault ended", "last sample %v", lastStates(samples))
	}
	for _, err := range pollErrs {
		chk.add("metrics scrape failed", "%v", err)
	}

	// Promise 1 and 2: every page 200, every page within budget.
	var worst time.Duration
	for _, r := range results {
		worst = max(worst, r.Latency)
		switch {
		case r.Err != nil:
			chk.add("page failed", "page %d at +%v: %v", r.Seq, r.Due.Sub(tInject).Round(time.Millisecond), r.Err)
		case r.Status != 200:
			chk.add("page not 200", "page %d: %d", r.Seq, r.Status)
		case r.Latency >= pageBudget:
			chk.add("page over 500ms", "page %d at +%v took %v", r.Seq, r.Due.Sub(tInject).Round(time.Millisecond), r.Latency.Round(time.Millisecond))
		}
	}

	// Promise 3: the right section codes, phase by phase.
	codes := map[string]map[string]int{} // service → code (or status for ok/stale) → count, fault to recovery
	failedBefore := map[string]int{}     // failing sections due before the first circuit_open
	firstOpen := map[string]time.Time{}
	byDue := slices.Clone(results)
	sort.Slice(byDue, func(i, j int) bool { return byDue[i].Seq < byDue[j].Seq })
	for _, r := range byDue {
		if r.Sections == nil {
			continue
		}
		for _, svc := range services {
			sec, ok := r.Sections[svc]
			if !ok {
				chk.add("section missing", "page %d has no %s section", r.Seq, svc)
				continue
			}
			allowed, hit := sc.hit[svc]
			inFault := !r.Due.Before(tInject) && r.Due.Before(tClosed.Add(edge))
			switch {
			case r.Due.Before(tInject.Add(-edge)) || r.Due.After(tClosed.Add(edge)):
				// Before the fault, and once every breaker has closed again.
				if sec.Status != "ok" {
					chk.add("section not ok outside the fault", "page %d at +%v: %s %s/%s", r.Seq, r.Due.Sub(tInject).Round(time.Millisecond), svc, sec.Status, sec.Code)
				}
			case !hit:
				if sec.Status != "ok" && !r.Due.Before(tInject) {
					chk.add("unaffected section failed", "page %d at +%v: %s %s/%s", r.Seq, r.Due.Sub(tInject).Round(time.Millisecond), svc, sec.Status, sec.Code)
				}
			default:
				if sec.Status != "ok" && sec.Code != "circuit_open" && !slices.Contains(allowed, sec.Code) {
					chk.add("wrong section code", "page %d at +%v: %s %s/%s, want one of %v or circuit_open", r.Seq, r.Due.Sub(tInject).Round(time.Millisecond), svc, sec.Status, sec.Code, allowed)
				}
				steadyWindow := !r.Due.Before(tInject.Add(edge)) && r.Due.Before(tClear)
				if sc.steady && steadyWindow && sec.Status == "ok" {
					chk.add("section ok while its service is broken", "page %d at +%v: %s", r.Seq, r.Due.Sub(tInject).Round(time.Millisecond), svc)
				}
				if sec.Status == "stale" && sec.Source != "cache" {
					chk.add("stale section not from cache", "page %d: %s source %q", r.Seq, svc, sec.Source)
				}
				if sec.Code == "circuit_open" && sec.LatencyMS >= openAnswer.Seconds()*1000 {
					chk.add("open breaker slow to answer", "page %d: %s circuit_open after %.0fms", r.Seq, svc, sec.LatencyMS)
				}
			}
			if !hit {
				continue
			}
			// The breaker counts every failed call, also those of pages due
			// just before the fault whose calls were still in flight.
			if sec.Code == "circuit_open" {
				if firstOpen[svc].IsZero() {
					firstOpen[svc] = r.Due
				}
			} else if sec.Status != "ok" && firstOpen[svc].IsZero() && !r.Due.Before(tInject.Add(-edge)) {
				failedBefore[svc]++
			}
			if !inFault {
				continue
			}
			if codes[svc] == nil {
				codes[svc] = map[string]int{}
			}
			key := sec.Code
			if sec.Status == "ok" {
				key = "ok"
			}
			codes[svc][key]++
			if sec.Status == "stale" {
				codes[svc]["(stale)"]++
			}
		}
	}

	// Promise 4: breakers open after the configured failures, stay open
	// open_timeout, close once the service is back; the others never open.
	var breakerNotes []string
	for _, svc := range services {
		if _, hit := sc.hit[svc]; !hit || sc.staysClosed {
			for _, sm := range samples {
				if sm.state[svc] != 0 {
					what := "breaker of an unaffected service opened"
					if hit {
						what = "breaker opened on a fault that is not the service's"
					}
					chk.add(what, "%s state %v at +%v", svc, sm.state[svc], sm.at.Sub(tInject).Round(time.Millisecond))
					break
				}
			}
			if !hit {
				continue
			}
			if firstOpen[svc].IsZero() {
				breakerNotes = append(breakerNotes, svc+" breaker stayed closed")
			} else {
				chk.add("breaker opened on a fault that is not the service's", "%s answered circuit_open from +%v", svc, firstOpen[svc].Sub(tInject).Round(time.Millisecond))
			}
			continue
		}
		if sc.minOpen == 0 {
			continue
		}
		if firstOpen[svc].IsZero() {
			chk.add("breaker never answered circuit_open", "%s", svc)
		} else if failedBefore[svc] < consecutiveFailures {
			chk.add("breaker opened too early", "%s: %d failed sections before the first circuit_open, want ≥ %d", svc, failedBefore[svc], consecutiveFailures)
		}
		if !s.metrics {
			breakerNotes = append(breakerNotes, fmt.Sprintf("%s opened after %d failures", svc, failedBefore[svc]))
			continue
		}
		eps := openEpisodes(samples, svc)
		if len(eps) < sc.minOpen {
			chk.add("breaker not seen open often enough", "%s open %d times, want ≥ %d", svc, len(eps), sc.minOpen)
		}
		shortest := time.Duration(0)
		for i, d := range eps {
			if i == 0 || d < shortest {
				shortest = d
			}
			if d < openTimeout-2*pollEvery {
				chk.add("breaker open shorter than open_timeout", "%s open for %v, want ≥ %v", svc, d, openTimeout)
			}
		}
		breakerNotes = append(breakerNotes, fmt.Sprintf("%s opened after %d failures, open %d× (≥%.1fs)", svc, failedBefore[svc], len(eps), shortest.Seconds()))
	}
	for _, svc := range services {
		if _, hit := sc.hit[svc]; hit {
			breakerNotes = append(breakerNotes, fmt.Sprintf("%s got %d calls in %.1fs", svc, during.calls[svc]-before.calls[svc], tClear.Sub(tInject).Seconds()))
		}
	}
	if before.hedges >= 0 && during.hedges >= 0 {
		breakerNotes = append(breakerNotes, fmt.Sprintf("%.0f hedges sent", during.hedges-before.hedges))
	}
	if closed && len(sc.hit) > 0 && tClosed.Sub(tClear) > openTimeout+closeSlack {
		chk.add("breakers slow to close", "closed %v after the fault ended, want ≤ open_timeout + %v", tClosed.Sub(tClear).Round(time.Millisecond), closeSlack)
	}
	if len(sc.hit) > 0 {
		breakerNotes = append(breakerNotes, fmt.Sprintf("all closed %.1fs after the fault", tClosed.Sub(tClear).Seconds()))
	}

	// Promise 5: no goroutine growth once the load is gone.
	gNote := "goroutines unchecked (TODO: no /metrics)"
	if g0 >= 0 {
		var g1 float64
		ok := waitFor(5*time.Second, func() bool {
			g1 = s.goroutines()
			return g1 >= 0 && g1 <= g0+goroutineSlack
		})
		gNote = fmt.Sprintf("goroutines %.0f→%.0f", g0, g1)
		if !ok {
			chk.add("goroutines grew", "%.0f before, %.0f 5s after the load stopped (slack %d)", g0, g1, goroutineSlack)
		}
	}

	var extraNote string
	if pr != nil {
		w := window{results: results, samples: samples, tInject: tInject, tClear: tClear, before: before, during: during, users: nusers}
		for _, r := range results {
			if !r.Due.Before(tInject) && r.Due.Before(tClear) {
				w.pagesDuringFault++
			}
		}
		var summary string
		extraNote, summary = pr.finish(ctx, s, w, chk)
		if summary != "" {
			s.notes = append(s.notes, summary)
		}
	}

	lat := chaos.Latencies(results)
	pass := chk.report()
	verdict := "PASS"
	if !pass {
		verdict = "FAIL"
	}
	ok200 := 0
	for _, r := range results {
		if r.Err == nil && r.Status == 200 {
			ok200++
		}
	}
	line := fmt.Sprintf("chaos: %-13s %-4s %d pages, %d×200, p50 %v p99 %v max %v | %s | %s | %s | %s",
		sc.name, verdict, len(results), ok200,
		ms(chaos.Percentile(lat, .5)), ms(chaos.Percentile(lat, .99)), ms(worst),
		sc.what, codeNote(codes), strings.Join(breakerNotes, "; "), gNote)
	if len(sc.hit) == 0 {
		line = fmt.Sprintf("chaos: %-13s %-4s %d pages, %d×200, p50 %v p99 %v max %v | %s | %s",
			sc.name, verdict, len(results), ok200, ms(chaos.Percentile(lat, .5)), ms(chaos.Percentile(lat, .99)), ms(worst), sc.what, gNote)
	}
	if extraNote != "" {
		line += " | " + extraNote
	}
	fmt.Println(line)
	return line
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
}

// codeNote renders {"catalog": {"timeout": 6, "circuit_open": 380}}.
func codeNote(codes map[string]map[string]int) string {
	var parts []string
	for _, svc := range services {
		m := codes[svc]
		if m == nil {
			continue
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			if k != "(stale)" {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
		var kv []string
		for _, k := range keys {
			kv = append(kv, fmt.Sprintf("%s %d", k, m[k]))
		}
		if n := m["(stale)"]; n > 0 {
			kv = append(kv, fmt.Sprintf("(%d served stale)", n))
		}
		parts = append(parts, svc+": "+strings.Join(kv, ", "))
	}
	return strings.Join(parts, "; ")
}

// openEpisodes returns how long each time the breaker was seen open (state
// 2) lasted, counting only episodes seen to end.
func openEpisodes(samples []sample, svc string) []time.Duration {
	var (
		eps   []time.Duration
		since time.Time
	)
	for _, sm := range samples {
		open := sm.state[svc] == 2
		switch {
		case open && since.IsZero():
			since = sm.at
		case !open && !since.IsZero():
			eps = append(eps, sm.at.Sub(since))
			since = time.Time{}
		}
	}
	return eps
}

func lastStates(samples []sample) map[string]float64 {
	if len(samples) == 0 {
		return nil
	}
	return samples[len(samples)-1].state
}

// waitFor polls cond every 50ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}
