package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pagebff/pagebff/chaos"
)

// users is how many distinct user ids the load cycles through.
const users = 1000

// bffUnderTest is a BFF binary the scenarios run against.
type bffUnderTest struct {
	name    string
	bin     string
	pagebff bool // pagebff takes the scenarios' extra environment
}

// scenario is one downstream situation.
type scenario struct {
	name, what string
	faults     map[string]string // fakesvc faults (PUT /_chaos body) by service
	dead       string            // a service whose URL points at a closed port
	env        []string          // extra environment for pagebff
	// pagebffOnly skips the naive BFF, for which the scenario would repeat
	// another one (it has no hedging to switch on).
	pagebffOnly bool
}

const tailFaults = `{"tail": {"rate": 0.02, "delay": "1s"}}`

var scenarios = []scenario{
	{name: "healthy", what: "every service answers in 5–15ms"},
	{name: "one-slow", what: "activity answers in 205–215ms", faults: map[string]string{"activity": `{"latency": {"delay": "200ms"}}`}},
	{name: "one-hung", what: "activity accepts connections and never answers", faults: map[string]string{"activity": `{"hang": {}}`}},
	{name: "one-dead", what: "activity refuses connections", dead: "activity"},
	{name: "tail/hedge-off", what: "2% of user calls take 1s; pagebff hedging off", faults: map[string]string{"user": tailFaults},
		env: []string{"BFF_DEFAULTS_HEDGE_ENABLED=false"}},
	{name: "tail/hedge-on", what: "2% of user calls take 1s; pagebff hedging on (auto delay, 10% budget)", faults: map[string]string{"user": tailFaults},
		env: []string{"BFF_DEFAULTS_HEDGE_ENABLED=true"}, pagebffOnly: true},
}

// row is one scenario's figures for one BFF.
type row struct {
	scenario, bff string
	pages         int
	lat           []time.Duration // sorted
	failed        int             // pages not 200 or not read
	sectionsOK    float64         // share of sections with status ok
	stale         float64         // share of sections served stale
	cpuPerPage    time.Duration
	peakRSS       int64
	callsPerPage  float64 // downstream calls per page, live services only
	hedges        float64 // hedged requests sent (pagebff's /metrics); -1 unknown
	extra         float64 // calls over one per live section per page, as a share
}

// hedgeCell shows the hedges sent as a share of pages.
func (r row) hedgeCell() string {
	if r.hedges < 0 || r.pages == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f (%.1f%%)", r.hedges, 100*r.hedges/float64(r.pages))
}

func (r row) q(p float64) time.Duration { return chaos.Percentile(r.lat, p) }

func (r row) line() string {
	return fmt.Sprintf("loadbench: %-15s %-8s %5d pages  p50 %-7s p90 %-7s p99 %-7s max %-7s failed %d  hedges %s  ok %5.1f%%  cpu/page %-7s peak RSS %s  calls/page %.2f",
		r.scenario, r.bff, r.pages, ms(r.q(.5)), ms(r.q(.9)), ms(r.q(.99)), ms(r.q(1)), r.failed, r.hedgeCell(), 100*r.sectionsOK, us(r.cpuPerPage), mib(r.peakRSS), r.callsPerPage)
}

// measure runs one scenario against one BFF, on a fresh BFF process.
func measure(ctx context.Context, c *chaos.Cluster, o options, sc scenario, b bffUnderTest) (row, error) {
	r := row{scenario: sc.name, bff: b.name, hedges: -1}
	live := len(c.Fakes)
	if err := setFaults(ctx, c, sc.faults); err != nil {
		return r, err
	}
	defer setFaults(ctx, c, nil)

	var env []string
	if b.pagebff {
		env = append(append(env, o.bffEnv...), sc.env...)
	}
	if sc.dead != "" {
		addr, err := closedAddr()
		if err != nil {
			return r, err
		}
		env = append(env, strings.ToUpper(sc.dead)+"_SERVICE_URL=http://"+addr)
		live--
	}
	if err := c.StartBFF(b.bin, env...); err != nil {
		return r, err
	}
	defer c.StopBFF()
	pid := c.BFF.Pid()
	client := chaos.NewClient(5 * time.Second)
	defer client.CloseIdleConnections()

	// One open-loop load through warm-up and measurement: stopping it in
	// between would leave a lull in which the only calls finishing are the
	// slow ones in flight, one failure after another (in the tail scenario,
	// enough to trip a consecutive_failures breaker, which then stays open
	// into the measurement). Only pages due after the warm-up are counted.
	run := chaos.Load{Rate: o.rate, URL: c.PageURL(users), Client: client, Decode: true, MaxInflight: 10000}.Start()
	defer run.Stop()
	time.Sleep(o.warmup)
	calls0, err := totalCalls(ctx, c, sc.dead)
	if err != nil {
		return r, err
	}
	hedges0 := hedgesSent(ctx, c)
	st0, err := chaos.ReadProcStat(pid)
	if err != nil {
		return r, err
	}
	// Pages due from here on are counted. Warm-up pages still in flight
	// (at most the slowest call's timeout) add a little to the window's
	// CPU and calls; pages still in flight at its end, which are counted,
	// make up for most of it.
	measured := time.Now()
	time.Sleep(o.duration)
	var results []chaos.Result
	for _, res := range run.Stop() {
		if !res.Due.Before(measured) {
			results = append(results, res)
		}
	}
	st1, err := chaos.ReadProcStat(pid)
	if err != nil {
		return r, err
	}
	calls1, err := totalCalls(ctx, c, sc.dead)
	if err != nil {
		return r, err
	}
	if hedges1 := hedgesSent(ctx, c); hedges0 >= 0 && hedges1 >= 0 {
		r.hedges = hedges1 - hedges0
	}
	if err := c.StopBFF(); err != nil {
		return r, err
	}

	r.pages = len(results)
	r.lat = chaos.Latencies(results)
	var sections, ok, stale int
	for _, res := range results {
		if res.Err != nil || res.Status != 200 {
			r.failed++
			continue
		}
		for _, s := range res.Sections {
			sections++
			switch s.Status {
			case "ok":
				ok++
			case "stale":
				stale++
			}
		}
	}
	if sections > 0 {
		r.sectionsOK = float64(ok) / float64(sections)
		r.stale = float64(stale) / float64(sections)
	}
	if r.pages > 0 {
		r.cpuPerPage = (st1.CPU - st0.CPU) / time.Duration(r.pages)
		r.callsPerPage = float64(calls1-calls0) / float64(r.pages)
		r.extra = r.callsPerPage/float64(live) - 1
	}
	r.peakRSS = st1.PeakRSS
	return r, nil
}

// hedgesSent returns bff_hedges_sent_total over every service, or -1 when
// the BFF has no such metric (the naive one).
func hedgesSent(ctx context.Context, c *chaos.Cluster) float64 {
	m, err := c.Metrics(ctx)
	if err != nil {
		return -1
	}
	if _, ok := m.Find("bff_hedges_sent_total"); !ok {
		return -1
	}
	return m.Sum("bff_hedges_sent_total")
}

// setFaults clears every fake's faults, then sets faults (by service).
func setFaults(ctx context.Context, c *chaos.Cluster, faults map[string]string) error {
	for _, f := range c.Fakes {
		if err := f.ClearFaults(ctx); err != nil {
			return err
		}
	}
	for kind, f := range faults {
		if err := c.Fakes[kind].SetFaults(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// totalCalls adds up the requests the fakes received, but the dead one's.
func totalCalls(ctx context.Context, c *chaos.Cluster, dead string) (int64, error) {
	var n int64
	for kind, f := range c.Fakes {
		if kind == dead {
			continue
		}
		st, err := f.Status(ctx)
		if err != nil {
			return 0, err
		}
		n += st.Requests
	}
	return n, nil
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// saturation is a BFF's page throughput when pushed as hard as it goes.
type saturation struct {
	bff        string
	workers    int
	pagesPerS  float64
	failed     int
	cpuPerPage time.Duration
	cpuUse     float64 // BFF CPU seconds per second
	// allocsPerPage is heap allocations per page in the BFF process, from
	// its own go_memstats_mallocs_total (pagebff only; 0: not known).
	allocsPerPage float64
	rounds        int // runs the figures are the median of
}

// medianSaturation sums the failures of runs of one BFF and takes the
// median of each other figure.
func medianSaturation(runs []saturation) saturation {
	m := runs[0]
	m.rounds, m.failed = len(runs), 0
	var pages, cpuUse, allocs []float64
	var cpu []time.Duration
	for _, r := range runs {
		m.failed += r.failed
		pages, cpuUse, cpu = append(pages, r.pagesPerS), append(cpuUse, r.cpuUse), append(cpu, r.cpuPerPage)
		allocs = append(allocs, r.allocsPerPage)
	}
	m.pagesPerS, m.cpuUse, m.cpuPerPage, m.allocsPerPage = median(pages), median(cpuUse), median(cpu), median(allocs)
	return m
}

// median returns the middle value (the mean of the two middle ones for an
// even count).
func median[T float64 | time.Duration](v []T) T {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func (s saturation) line() string {
	return fmt.Sprintf("loadbench: saturation      %-8s %d clients: %.0f pages/s, %d failed, cpu/page %s, BFF using %.2f cores, allocs/page %s",
		s.bff, s.workers, s.pagesPerS, s.failed, us(s.cpuPerPage), s.cpuUse, s.allocsCell())
}

// allocsCell renders allocsPerPage, "—" when not known.
func (s saturation) allocsCell() string {
	if s.allocsPerPage <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", s.allocsPerPage)
}

// mallocs reads the BFF's count of heap allocations from its /metrics;
// ok is false for a BFF without them (the baselines).
func mallocs(ctx context.Context, c *chaos.Cluster, b bffUnderTest) (n float64, ok bool, err error) {
	if !b.pagebff {
		return 0, false, nil
	}
	m, err := chaos.Scrape(ctx, http.DefaultClient, c.URL+"/metrics")
	if err != nil {
		return 0, false, err
	}
	n, ok = m.Find("go_memstats_mallocs_total")
	return n, ok, nil
}

// saturate runs the healthy scenario closed loop: workers clients each
// sending the next page as soon as the last one is answered.
// A profile is taken when asked for (-profile) and profile is true.
func saturate(ctx context.Context, c *chaos.Cluster, o options, b bffUnderTest, profile bool) (saturation, error) {
	s := saturation{bff: b.name, workers: o.workers, rounds: 1}
	if err := setFaults(ctx, c, nil); err != nil {
		return s, err
	}
	var env []string
	profile = profile && b.pagebff && o.profile != ""
	if b.pagebff {
		env = o.bffEnv
		if profile {
			env = append(slices.Clip(env), "BFF_ADMIN_TOKEN="+profileToken)
		}
	}
	if err := c.StartBFF(b.bin, env...); err != nil {
		return s, err
	}
	defer c.StopBFF()
	client := chaos.NewClient(5 * time.Second)
	defer client.CloseIdleConnections()
	w := chaos.Load{Rate: o.rate, URL: c.PageURL(users), Client: client}.Start()
	time.Sleep(o.warmup)
	w.Stop()

	pid := c.BFF.Pid()
	m0, counted, err := mallocs(ctx, c, b)
	if err != nil {
		return s, err
	}
	st0, err := chaos.ReadProcStat(pid)
	if err != nil {
		return s, err
	}
	begin := time.Now()
	var profiled chan error
	if profile {
		profiled = make(chan error, 1)
		go func() { profiled <- takeProfile(ctx, c.URL, o.profile, o.saturate-time.Second) }()
	}
	ok, failed := chaos.Saturate(ctx, client, c.PageURL(users), o.workers, o.saturate)
	elapsed := time.Since(begin)
	if profiled != nil {
		if err := <-profiled; err != nil {
			return s, fmt.Errorf("profile: %w", err)
		}
	}
	st1, err := chaos.ReadProcStat(pid)
	if err != nil {
		return s, err
	}
	if m1, _, err := mallocs(ctx, c, b); err != nil {
		return s, err
	} else if counted && ok+failed > 0 {
		// The two scrapes' own allocations are in the count too: a few
		// thousand against the tens of thousands of pages of a run.
		s.allocsPerPage = (m1 - m0) / float64(ok+failed)
	}
	s.failed = failed
	s.pagesPerS = float64(ok) / elapsed.Seconds()
	if ok+failed > 0 {
		s.cpuPerPage = (st1.CPU - st0.CPU) / time.Duration(ok+failed)
	}
	s.cpuUse = (st1.CPU - st0.CPU).Seconds() / elapsed.Seconds()
	return s, c.StopBFF()
}

// profileToken is the admin token of a profiled pagebff.
const profileToken = "loadbench"

// takeProfile writes a CPU profile of the BFF at base, taken over d (at
// least a second), to path.
func takeProfile(ctx context.Context, base, path string, d time.Duration) error {
	secs := max(int(d.Seconds()), 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/admin/debug/pprof/profile?seconds=%d", base, secs), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+profileToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ms(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/1e3) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
