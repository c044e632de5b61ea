//go:build chaos

package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagebff/pagebff/chaos"
)

// Scenarios for pagebff's own defences: requests that would hold it, answers
// it must not follow or believe, and running out of file descriptors.

const (
	// stalled-body: requests that announce a body and never send it.
	stalledLength  = 200             // with Content-Length: 1
	stalledChunked = 100             // with Transfer-Encoding: chunked, and no chunk
	stallWait      = 2 * time.Second // how long a stalled request waits for its answer
	stallAnswer    = time.Second     // its 400 must come within this
	inflightSlack  = 20              // in-flight pages allowed above the load's own level
	stalledPath    = "/v1/pages/home?user_id=x"

	// desync: the share of user answers followed by a stray answer.
	desyncRate = 0.3
	// intruderMark is in every stray answer's body (the user record of
	// "intruder-<n>"), strayIDMark in its X-Request-Id ("desync-<n>").
	intruderMark = "intruder-"
	strayIDMark  = "desync-"

	// fd-pressure: a second BFF with a low open-file limit.
	fdLimit     = 256                    // soft and hard RLIMIT_NOFILE
	idleConns   = 400                    // idle client connections: above the auto cap (64) and the limit
	fdRate      = 30                     // pages/s of the light load
	fdPageConns = 4                      // kept-alive connections the light load uses, opened first
	fdHold      = 3 * time.Second        // load under pressure; below read_header_timeout (5s), which would close the idle connections
	fdAfter     = 2 * time.Second        // load after the idle connections are released
	fdSettle    = 700 * time.Millisecond // after the release, before pages must be fully ok
)

func desyncFaults(later bool) string {
	if later {
		return fmt.Sprintf(`{"desync": {"rate": %g, "delay": "20ms", "bare": true}}`, desyncRate)
	}
	return fmt.Sprintf(`{"desync": {"rate": %g}}`, desyncRate)
}

// stalledProbe sends the stalled requests while the load runs, and checks
// each is refused at once and none holds a page slot.
type stalledProbe struct {
	done chan struct{}
	res  []chaos.Stalled // set before done is closed
}

func (p *stalledProbe) start(_ context.Context, s *suite) error {
	addr := strings.TrimPrefix(s.c.URL, "http://")
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		var (
			wg     sync.WaitGroup
			cl, ch []chaos.Stalled
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			cl = chaos.Stall(addr, stalledPath, "Content-Length: 1\r\n", stalledLength, stalledLength, stallWait)
		}()
		go func() {
			defer wg.Done()
			ch = chaos.Stall(addr, stalledPath, "Transfer-Encoding: chunked\r\n", stalledChunked, stalledChunked, stallWait)
		}()
		wg.Wait()
		p.res = append(cl, ch...)
	}()
	return nil
}

func (p *stalledProbe) finish(_ context.Context, s *suite, w window, chk *checks) (string, string) {
	<-p.done // Stall is bounded: about 2 × stallWait
	answered := 0
	var slowest time.Duration
	for i, r := range p.res {
		kind := "Content-Length: 1"
		if i >= stalledLength {
			kind = "chunked"
		}
		switch {
		case r.Status != http.StatusBadRequest:
			chk.add("stalled request not refused", "%s request %d: status %d after %v: %v", kind, i, r.Status, r.Latency.Round(time.Millisecond), r.Err)
			continue
		case r.Latency > stallAnswer:
			chk.add("stalled request refused late", "%s request %d: 400 after %v, want < %v", kind, i, r.Latency.Round(time.Millisecond), stallAnswer)
		case !r.Closed:
			chk.add("connection kept after refusing a body", "%s request %d", kind, i)
		}
		answered++
		slowest = max(slowest, r.Latency)
	}
	note := fmt.Sprintf("stalled %d/%d answered 400 (slowest %v)", answered, len(p.res), ms(slowest))
	if !s.metrics {
		return note + "; in-flight gauge unchecked (TODO: no /metrics)", fmt.Sprintf("stalled %d/%d answered 400", answered, len(p.res))
	}
	// The in-flight gauge: the load's level before, never much above it
	// during (300 stalled requests holding slots would show as 300), and
	// back to it after.
	var base, peak, after float64
	for _, sm := range w.samples {
		switch {
		case sm.at.Before(w.tInject):
			base = max(base, sm.inflight)
		case sm.at.Before(w.tClear):
			peak = max(peak, sm.inflight)
		default:
			after = max(after, sm.inflight)
		}
	}
	if peak > base+inflightSlack {
		chk.add("stalled requests held page slots", "bff_inflight_pages peaked at %.0f during the attack, %.0f before", peak, base)
	}
	if after > base+inflightSlack {
		chk.add("in-flight pages did not return to the load's level", "bff_inflight_pages %.0f after the attack, %.0f before", after, base)
	}
	note += fmt.Sprintf("; bff_inflight_pages ≤ %.0f before, ≤ %.0f during, ≤ %.0f after (max_inflight %d)", base, peak, after, maxInflight)
	return note, fmt.Sprintf("stalled %d/%d answered 400", answered, len(p.res))
}

// redirectProbe checks that a redirect costs one call: pagebff does not
// follow it.
type redirectProbe struct{}

func (redirectProbe) start(context.Context, *suite) error { return nil }

func (redirectProbe) finish(_ context.Context, _ *suite, w window, chk *checks) (string, string) {
	calls := w.during.calls["user"] - w.before.calls["user"]
	if w.pagesDuringFault == 0 {
		chk.add("no pages during the redirect fault", "")
		return "", ""
	}
	ratio := float64(calls) / float64(w.pagesDuringFault)
	// One call per section; hedges or coalescing move it a little. A
	// followed redirect loop would make it 2 or more.
	if ratio < 0.9 || ratio > 1.1 {
		chk.add("not one call per section", "user got %d calls for %d pages (%.2f each): redirects followed, or sections not called", calls, w.pagesDuringFault, ratio)
	}
	return fmt.Sprintf("user got %d calls for %d pages: %.2f per section (redirects not followed)", calls, w.pagesDuringFault, ratio),
		fmt.Sprintf("redirect calls/section %.2f", ratio)
}

// desyncProbe checks every page's user section is the requested user's,
// and that no stray answer's bytes reach the BFF's output.
type desyncProbe struct {
	strays                          int64 // the user fake's desync count at start
	intruder, strayID, unsolicited0 int64 // watch counts at start
}

func (p *desyncProbe) start(ctx context.Context, s *suite) error {
	st, err := s.c.Fakes["user"].Status(ctx)
	if err != nil {
		return err
	}
	p.strays = st.Faulted["desync"]
	p.intruder, p.strayID, p.unsolicited0 = s.intruderLines.Count(), s.strayIDLines.Count(), s.unsolicited.Count()
	return nil
}

func (p *desyncProbe) finish(ctx context.Context, s *suite, w window, chk *checks) (string, string) {
	foreign, rejected, timedOut, pages := 0, 0, 0, 0
	for _, r := range w.results {
		if r.Status != http.StatusOK || r.Body == nil {
			continue
		}
		pages++
		want := "u" + strconv.Itoa(r.Seq%w.users)
		if bytes.Contains(r.Body, []byte(intruderMark)) {
			foreign++
			chk.add("page carries a stray answer's data", "page %d for %s: %.300s", r.Seq, want, r.Body)
			continue
		}
		var page struct {
			User struct {
				ID *json.RawMessage `json:"id"`
			} `json:"user"`
		}
		if err := json.Unmarshal(r.Body, &page); err != nil {
			chk.add("page not JSON", "page %d: %v", r.Seq, err)
			continue
		}
		sec := r.Sections["user"]
		switch sec.Code {
		case "bad_response":
			rejected++
		case "timeout":
			timedOut++
		}
		switch {
		case page.User.ID != nil && string(*page.User.ID) != strconv.Quote(want):
			foreign++
			chk.add("user section for another user", "page %d for %s has user id %s (%s/%s)", r.Seq, want, *page.User.ID, sec.Status, sec.Code)
		case page.User.ID == nil && sec.Status != "error":
			chk.add("user section without an id", "page %d for %s: %s/%s", r.Seq, want, sec.Status, sec.Code)
		}
	}
	strays := int64(-1)
	if st, err := s.c.Fakes["user"].Status(ctx); err == nil {
		strays = st.Faulted["desync"] - p.strays
	}
	if n := s.intruderLines.Count(); n > 0 {
		chk.add("a stray answer's bytes reached the BFF's output", "%d lines; first: %s", n, strings.Join(s.intruderLines.First(), " / "))
	}
	note := fmt.Sprintf("%d stray answers sent; %d foreign user sections in %d pages, %d rejected as bad_response, %d timed out on a connection out of step; bff output: %d notes of an unsolicited response (bytes redacted), %d lines with a stray's bytes, %d with its X-Request-Id",
		strays, foreign, pages, rejected, timedOut, s.unsolicited.Count()-p.unsolicited0, s.intruderLines.Count()-p.intruder, s.strayIDLines.Count()-p.strayID)
	return note, fmt.Sprintf("desync: %d foreign sections, %d rejected", foreign, rejected)
}

// fdPressure runs a second BFF with an open-file limit of fdLimit, twice:
// with server.max_conns at auto (a quarter of the limit) and set above the
// limit, so that idle connections exhaust it. Each time a light load runs
// on a few kept-alive connections opened first while idleConns idle
// connections are held, then after they are released.
func (s *suite) fdPressure(t *testing.T) string {
	chk := &checks{t: t}
	var notes []string
	var okUnder, pagesUnder []int
	for _, maxConns := range []int{0, 4 * fdLimit} {
		note, ok, n := s.fdPhase(chk, maxConns)
		notes = append(notes, note)
		okUnder, pagesUnder = append(okUnder, ok), append(pagesUnder, n)
	}
	verdict := "PASS"
	if !chk.report() {
		verdict = "FAIL"
	}
	line := fmt.Sprintf("chaos: %-13s %-4s a second bff with %d open files, %d idle connections held under %d pages/s on %d kept-alive ones | %s",
		"fd-pressure", verdict, fdLimit, idleConns, fdRate, fdPageConns, strings.Join(notes, " | "))
	fmt.Println(line)
	s.notes = append(s.notes, fmt.Sprintf("fd pressure: breakers closed, %d/%d pages ok (auto max_conns), %d/%d (over the limit)",
		okUnder[0], pagesUnder[0], okUnder[1], pagesUnder[1]))
	return line
}

// fdPhase runs one BFF of fdPressure; maxConns 0 leaves server.max_conns
// at auto. It returns its note and, under pressure, the pages with every
// section ok and all pages.
func (s *suite) fdPhase(chk *checks, maxConns int) (note string, okUnder, pagesUnder int) {
	label := "max_conns auto"
	env := []string{
		"BFF_DEFAULTS_BREAKER_OPEN_TIMEOUT=" + openTimeout.String(),
		fmt.Sprintf("BFF_DEFAULTS_BREAKER_CONSECUTIVE_FAILURES=%d", consecutiveFailures),
	}
	if maxConns > 0 {
		label = fmt.Sprintf("max_conns %d", maxConns)
		env = append(env, fmt.Sprintf("BFF_SERVER_MAX_CONNS=%d", maxConns))
	}
	b, err := s.c.LaunchBFF("bff-fd", chaos.WithOpenFileLimit(fdLimit, []string{*bffBin}), env...)
	if err != nil {
		chk.add("low-limit bff did not start", "%s: %v", label, err)
		return label + ": did not start", 0, 0
	}
	defer func() {
		if err := b.Proc.Stop(15 * time.Second); err != nil {
			chk.add("low-limit bff did not shut down cleanly", "%s: %v", label, err)
		}
	}()
	emfile := b.Proc.Watch("too many open files")
	var listening struct {
		MaxConns int    `json:"max_conns"`
		Limit    uint64 `json:"open_file_limit"`
	}
	if l := b.Proc.Lines(`"listening"`); len(l) > 0 {
		_ = json.Unmarshal([]byte(l[0]), &listening)
	}
	if listening.Limit != fdLimit {
		chk.add("open-file limit not applied", "%s: the bff reports open_file_limit %d, want %d", label, listening.Limit, fdLimit)
	}
	label = fmt.Sprintf("%s (%d of %d files)", label, listening.MaxConns, listening.Limit)

	// The connections that matter, opened before the pressure and the
	// only ones their clients use: one for /metrics, fdPageConns for
	// pages. Nothing is asked of the BFF before the pressure, so its own
	// downstream pools are empty: under pressure it has to dial.
	addr := strings.TrimPrefix(b.URL, "http://")
	kept, err := chaos.OpenIdle(addr, 1+fdPageConns, 2*time.Second)
	if err != nil {
		chaos.CloseAll(kept)
		chk.add("kept-alive connections", "%s: %v", label, err)
		return label + ": no connections", 0, 0
	}
	mtr := chaos.PreDialed(kept[:1])
	defer mtr.CloseIdleConnections()
	mc := &http.Client{Transport: mtr, Timeout: 2 * time.Second}
	scrape := func(ctx context.Context) (chaos.Metrics, error) { return chaos.Scrape(ctx, mc, b.URL+"/metrics") }
	if _, err := sampleOf(scrape); err != nil {
		chk.add("low-limit bff metrics", "%s: %v", label, err)
	}
	ptr := chaos.PreDialed(kept[1:])
	defer ptr.CloseIdleConnections()
	pc := &http.Client{Transport: ptr, Timeout: 5 * time.Second}
	time.Sleep(100 * time.Millisecond) // the BFF accepts them before the idle ones arrive

	idle, err := chaos.OpenIdle(addr, idleConns, 2*time.Second)
	defer chaos.CloseAll(idle)
	if err != nil {
		chk.add("idle connections", "%s: %d opened: %v", label, len(idle), err)
	}
	time.Sleep(300 * time.Millisecond) // the BFF accepts what it will

	p := pollWith(func() (sample, error) { return sampleOf(scrape) })
	base := b.URL + "/v1/pages/home?user_id=u"
	run := chaos.Load{Rate: fdRate, URL: func(i int) string { return base + strconv.Itoa(i%users) }, Client: pc, Decode: true, MaxInflight: 100}.Start()
	tStart := time.Now()
	time.Sleep(fdHold)
	tRelease := time.Now()
	chaos.CloseAll(idle)
	time.Sleep(fdAfter)
	results := run.Stop()
	samples, scrapeErrs := p.finish()
	final, finalErr := sampleOf(scrape)

	codes := map[string]int{}
	okAfter, pagesAfter := 0, 0
	for _, r := range results {
		switch {
		case r.Err != nil:
			chk.add("page failed under fd pressure", "%s: page %d at +%v: %v", label, r.Seq, r.Due.Sub(tStart).Round(time.Millisecond), r.Err)
			continue
		case r.Status != http.StatusOK:
			chk.add("page not 200 under fd pressure", "%s: page %d: %d", label, r.Seq, r.Status)
			continue
		case r.Latency >= pageBudget:
			chk.add("page over 500ms under fd pressure", "%s: page %d at +%v took %v", label, r.Seq, r.Due.Sub(tStart).Round(time.Millisecond), r.Latency.Round(time.Millisecond))
		}
		ok := true
		for _, svc := range services {
			sec := r.Sections[svc]
			if sec.Code == "circuit_open" {
				chk.add("breaker opened under fd pressure", "%s: page %d: %s circuit_open", label, r.Seq, svc)
			}
			if sec.Status != "ok" {
				ok = false
				if r.Due.Before(tRelease) {
					codes[svc+" "+sec.Code]++
				}
			}
		}
		switch {
		case r.Due.Before(tRelease):
			pagesUnder++
			if ok {
				okUnder++
			}
		case r.Due.After(tRelease.Add(fdSettle)):
			pagesAfter++
			if ok {
				okAfter++
			} else {
				chk.add("pages not fully ok after the release", "%s: page %d at +%v after the release: %v", label, r.Seq, r.Due.Sub(tRelease).Round(time.Millisecond), r.Sections)
			}
		}
	}
	if pagesAfter == 0 {
		chk.add("no pages after the release", "%s", label)
	}
	for _, sm := range samples {
		for svc, v := range sm.state {
			if v != 0 {
				chk.add("breaker left closed under fd pressure", "%s: %s state %v at +%v", label, svc, v, sm.at.Sub(tStart).Round(time.Millisecond))
			}
		}
	}
	if finalErr != nil {
		chk.add("metrics unreadable after the release", "%s: %v", label, finalErr)
	} else {
		for svc, v := range final.state {
			if v != 0 {
				chk.add("breaker not closed after the release", "%s: %s state %v", label, svc, v)
			}
		}
	}
	if maxConns > 0 && emfile.Count() == 0 {
		chk.add("the open-file limit was never reached", "%s: no \"too many open files\" in the bff's output; the phase tested nothing", label)
	}
	var failed []string
	for k, n := range codes {
		failed = append(failed, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(failed)
	under := "all sections ok"
	if len(failed) > 0 {
		under = strings.Join(failed, ", ")
	}
	note = fmt.Sprintf("%s: %d/%d pages ok under pressure (%s), %d/%d after the release; breakers closed; %d lines of \"too many open files\"; %d of %d scrapes failed under pressure",
		label, okUnder, pagesUnder, under, okAfter, pagesAfter, emfile.Count(), len(scrapeErrs), len(scrapeErrs)+len(samples))
	return note, okUnder, pagesUnder
}
