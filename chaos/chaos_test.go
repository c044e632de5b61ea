package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pagebff/pagebff/chaos"
	"github.com/pagebff/pagebff/internal/testutil"
)

// helperEnv makes the test binary play a child process (see TestProcess).
const helperEnv = "CHAOS_TEST_HELPER"

func init() {
	switch os.Getenv(helperEnv) {
	case "":
		return
	case "listen":
		// Like pagebff: log the address, serve until SIGTERM, exit 0.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		fmt.Println(`{"level":"INFO","msg":"starting"}`)
		fmt.Println(`{"level":"INFO","msg":"listening","addr":"127.0.0.1:4242"}`)
		<-sig
		fmt.Println(`{"level":"INFO","msg":"stopped"}`)
		os.Exit(0)
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println(`{"msg":"listening","addr":"127.0.0.1:4343"}`)
		time.Sleep(time.Minute)
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "bad configuration")
		os.Exit(3)
	}
}

func TestProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals")
	}
	t.Run("listens and stops on SIGTERM", func(t *testing.T) {
		p, err := chaos.StartProcess("helper", os.Args[0], []string{"-test.run=^$"}, []string{helperEnv + "=listen"})
		if err != nil {
			t.Fatal(err)
		}
		addr, err := p.WaitListening(10 * time.Second)
		if err != nil || addr != "127.0.0.1:4242" {
			t.Fatalf("WaitListening = %q, %v", addr, err)
		}
		if err := p.Stop(10 * time.Second); err != nil {
			t.Errorf("Stop = %v", err)
		}
		if l := p.Lines(`"stopped"`); len(l) != 1 {
			t.Errorf("output lacks the stopped line:\n%s", p.Tail(10))
		}
	})
	t.Run("killed when it ignores SIGTERM", func(t *testing.T) {
		p, err := chaos.StartProcess("stubborn", os.Args[0], []string{"-test.run=^$"}, []string{helperEnv + "=stubborn"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.WaitListening(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := p.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("Stop = %v, want an error saying it was killed", err)
		}
	})
	t.Run("exits before listening", func(t *testing.T) {
		p, err := chaos.StartProcess("failing", os.Args[0], []string{"-test.run=^$"}, []string{helperEnv + "=fail"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.WaitListening(10 * time.Second)
		if err == nil || !strings.Contains(err.Error(), "bad configuration") {
			t.Errorf("WaitListening = %v, want the exit with the process's output", err)
		}
	})
	t.Run("child does not inherit pagebff settings", func(t *testing.T) {
		t.Setenv("BFF_DEFAULTS_TIMEOUT", "1s")
		t.Setenv("USER_SERVICE_URL", "http://elsewhere")
		p, err := chaos.StartProcess("env", "/usr/bin/env", nil, []string{"BFF_ADDR=127.0.0.1:0"})
		if err != nil {
			t.Skip(err)
		}
		<-p.Exited()
		out := p.Tail(1000)
		if strings.Contains(out, "BFF_DEFAULTS_TIMEOUT") || strings.Contains(out, "USER_SERVICE_URL") || !strings.Contains(out, "BFF_ADDR=127.0.0.1:0") {
			t.Errorf("child environment:\n%s", out)
		}
	})
}

func TestReadMetrics(t *testing.T) {
	text := `# HELP bff_breaker_state Circuit breaker state.
# TYPE bff_breaker_state gauge
bff_breaker_state{service="activity"} 0
bff_breaker_state{service="user"} 2
bff_section_outcomes_total{code="timeout",service="user",status="error"} 12
bff_section_outcomes_total{code="circuit_open",service="user",status="stale"} 30
bff_section_outcomes_total{code="none",service="catalog",status="ok"} 7
odd_label{path="a \"quoted\", comma",x="y"} 1.5e3 1700000000000
go_goroutines 42
`
	m, err := chaos.ReadMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		got    float64
		ok     bool
		want   float64
		wantOK bool
	}{
		{"plain", get(m.Find("go_goroutines")), true, 42, true},
		{"by label", get(m.Find("bff_breaker_state", "service", "user")), true, 2, true},
		{"escaped label", get(m.Find("odd_label", "path", `a "quoted", comma`)), true, 1500, true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if _, ok := m.Find("bff_breaker_state", "service", "billing"); ok {
		t.Error("found a series that is not there")
	}
	if got := m.Sum("bff_section_outcomes_total", "service", "user"); got != 42 {
		t.Errorf("Sum(user outcomes) = %v, want 42", got)
	}
	if got := m.Sum("bff_section_outcomes_total"); got != 49 {
		t.Errorf("Sum(all outcomes) = %v, want 49", got)
	}

	for _, bad := range []string{"name_only", `x{a="b" 1`, `x{a=b} 1`, "x one"} {
		if _, err := chaos.ReadMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadMetrics(%q) accepted it", bad)
		}
	}
}

func get(v float64, _ bool) float64 { return v }

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "go_goroutines 7")
	}))
	defer srv.Close()
	m, err := chaos.Scrape(context.Background(), srv.Client(), srv.URL+"/metrics")
	if v, _ := m.Find("go_goroutines"); err != nil || v != 7 {
		t.Errorf("Scrape = %v, %v", m, err)
	}
	if _, err := chaos.Scrape(context.Background(), srv.Client(), srv.URL+"/nothing"); !errors.Is(err, chaos.ErrNoMetrics) {
		t.Errorf("Scrape of a 404 = %v, want ErrNoMetrics", err)
	}
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0, time.Millisecond}, {.5, 50 * time.Millisecond}, {.9, 90 * time.Millisecond}, {.99, 99 * time.Millisecond}, {.999, 100 * time.Millisecond}, {1, 100 * time.Millisecond}}
	for _, tt := range tests {
		if got := chaos.Percentile(ds, tt.q); got != tt.want {
			t.Errorf("Percentile(1..100ms, %v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := chaos.Percentile(nil, .5); got != 0 {
		t.Errorf("Percentile(nil) = %v", got)
	}
}

func TestLoadIsOpenLoop(t *testing.T) {
	// Every page takes 50ms; one, the fifth (page 4), holds its answer for
	// 300ms and until page 9 has arrived. Open loop, the pages behind it
	// keep their schedule: they are sent while it is still in flight, and
	// the slow page's own latency counts from its due time. (Counting the
	// pages of a fixed 200ms, and bounding the others' latencies, failed on
	// a loaded machine, where the generator itself runs late.)
	const slow, later, enough = 4, 9, 20
	var (
		mu       sync.Mutex
		arrivals = map[int][]time.Time{} // guarded by mu; by page
		behind   atomic.Int64            // pages after the slow one that arrived while it was in flight
		slowDone atomic.Bool
		once     sync.Once
	)
	laterCame := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		mu.Lock()
		arrivals[i] = append(arrivals[i], time.Now())
		mu.Unlock()
		if i > slow && !slowDone.Load() {
			behind.Add(1)
		}
		if i == later {
			once.Do(func() { close(laterCame) })
		}
		if i == slow {
			time.Sleep(300 * time.Millisecond)
			select {
			case <-laterCame:
			case <-time.After(10 * time.Second): // a closed loop never sends it
			}
			slowDone.Store(true)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"user":{"id":"x"},"meta":{"sections":{"user":{"status":"stale","code":"timeout","source":"cache","latency_ms":300,"age_ms":12}}}}`)
	}))
	defer srv.Close()
	client := chaos.NewClient(5 * time.Second)
	defer client.CloseIdleConnections()

	const rate = 100
	run := chaos.Load{Rate: rate, URL: func(i int) string { return fmt.Sprintf("%s/?i=%d", srv.URL, i) }, Client: client, Decode: true}.Start()
	testutil.Eventually(t, fmt.Sprintf("%d pages sent", enough), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(arrivals) >= enough
	})
	res := run.Stop()
	if len(res) < enough {
		t.Fatalf("%d pages, want at least the %d the server saw", len(res), enough)
	}
	if n := behind.Load(); n < later-slow {
		t.Errorf("%d pages sent while page %d was in flight, want at least %d: the load is not open loop", n, slow, later-slow)
	}
	var due0 time.Time
	for _, r := range res {
		if r.Seq == 0 {
			due0 = r.Due
		}
	}
	mu.Lock()
	defer mu.Unlock()
	seen := map[int]bool{}
	for _, r := range res {
		if seen[r.Seq] {
			t.Errorf("page %d twice", r.Seq)
		}
		seen[r.Seq] = true
		if r.Err != nil || r.Status != 200 {
			t.Errorf("page %d: %d %v", r.Seq, r.Status, r.Err)
		}
		want := chaos.Section{Status: "stale", Code: "timeout", Source: "cache", LatencyMS: 300, AgeMS: 12}
		if r.Sections["user"] != want {
			t.Errorf("page %d sections = %+v", r.Seq, r.Sections)
		}
		// The schedule is the rate's, and no page goes out before it is due.
		if got, want := r.Due.Sub(due0), time.Duration(r.Seq)*time.Second/rate; got != want {
			t.Errorf("page %d due %v after page 0, want %v", r.Seq, got, want)
		}
		if a := arrivals[r.Seq]; len(a) != 1 || a[0].Before(r.Due) {
			t.Errorf("page %d arrived at %v, due %v: want once, not before it was due", r.Seq, a, r.Due)
		}
		if r.Seq == slow && r.Latency < 300*time.Millisecond {
			t.Errorf("slow page latency %v, want ≥ 300ms", r.Latency)
		}
	}
	for i := range len(res) {
		if !seen[i] {
			t.Errorf("page %d missing", i)
		}
	}
}

func TestLoadIsBounded(t *testing.T) {
	release := make(chan struct{})
	var inflight, most atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	client := chaos.NewClient(5 * time.Second)
	defer client.CloseIdleConnections()
	run := chaos.Load{Rate: 200, URL: func(int) string { return srv.URL }, Client: client, MaxInflight: 3}.Start()
	// Held until three pages are in flight and ten more were refused, not
	// for a fixed 100ms: a loaded machine's generator may send only a couple
	// in that time.
	testutil.Eventually(t, "three pages held and ten refused", func() bool {
		refused := 0
		for _, r := range run.Results() {
			if errors.Is(r.Err, chaos.ErrOverload) {
				refused++
			}
		}
		return inflight.Load() == 3 && refused >= 10
	})
	close(release)
	res := run.Stop()
	var sent, overload int
	for _, r := range res {
		switch {
		case errors.Is(r.Err, chaos.ErrOverload):
			overload++
		case r.Err == nil:
			sent++
		}
	}
	if sent < 3 || overload < 10 || sent+overload != len(res) {
		t.Errorf("sent %d, overload %d of %d; want 3 or a few more sent and the rest refused", sent, overload, len(res))
	}
	if most.Load() > 3 {
		t.Errorf("%d pages in flight at once, want at most 3", most.Load())
	}
}

func TestSaturate(t *testing.T) {
	// The run ends once the server has had many of both, not after a fixed
	// 100ms, which a loaded machine may spend on a handful of pages. Each
	// of the 4 workers leaves at most its last page uncounted.
	const enough, workers = 20, 4
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var good, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/bad") {
			bad.Add(1)
			w.WriteHeader(500)
		} else {
			good.Add(1)
		}
		if good.Load() >= enough && bad.Load() >= enough {
			cancel()
		}
	}))
	defer srv.Close()
	client := chaos.NewClient(5 * time.Second)
	defer client.CloseIdleConnections()
	ok, failed := chaos.Saturate(ctx, client, func(i int) string {
		if i%2 == 1 {
			return srv.URL + "/bad"
		}
		return srv.URL + "/good"
	}, workers, time.Minute)
	if ok < enough-workers || failed < enough-workers {
		t.Errorf("ok %d, failed %d; want many of both", ok, failed)
	}
}

func TestToxiproxyClient(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(b)))
		mu.Unlock()
		switch {
		case r.URL.Path == "/version":
			fmt.Fprint(w, `{"version": "v2.12.0"}`)
		case r.URL.Path == "/proxies" && r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"name":"user","listen":"127.0.0.1:31000","upstream":"127.0.0.1:9001","enabled":true,"toxics":[]}`)
		case strings.HasSuffix(r.URL.Path, "/missing"):
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"toxic not found","status":404}`)
		default:
			fmt.Fprint(w, `{}`)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	tp := &chaos.Toxiproxy{URL: srv.URL}

	if v, err := tp.Version(ctx); err != nil || v != "v2.12.0" {
		t.Errorf("Version = %q, %v", v, err)
	}
	p, err := tp.CreateProxy(ctx, "user", "127.0.0.1:0", "127.0.0.1:9001")
	if err != nil || p.Listen != "127.0.0.1:31000" {
		t.Errorf("CreateProxy = %+v, %v; want the address actually listened on", p, err)
	}
	if err := tp.AddToxic(ctx, "user", chaos.Toxic{Name: "spike", Type: "latency", Attributes: map[string]int{"latency": 1000}}); err != nil {
		t.Error(err)
	}
	if err := tp.SetEnabled(ctx, "user", false); err != nil {
		t.Error(err)
	}
	if err := tp.RemoveToxic(ctx, "user", "spike"); err != nil {
		t.Error(err)
	}
	if err := tp.Reset(ctx); err != nil {
		t.Error(err)
	}
	err = tp.RemoveToxic(ctx, "user", "missing")
	if err == nil || !strings.Contains(err.Error(), "toxic not found") {
		t.Errorf("RemoveToxic(missing) = %v, want the server's error", err)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"GET /version ",
		`POST /proxies {"name":"user","listen":"127.0.0.1:0","upstream":"127.0.0.1:9001","enabled":true}`,
		`POST /proxies/user/toxics {"name":"spike","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":1000}}`,
		`POST /proxies/user {"enabled":false}`,
		"DELETE /proxies/user/toxics/spike ",
		"POST /reset ",
		"DELETE /proxies/user/toxics/missing ",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("API calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestReadProcStat(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	before, err := chaos.ReadProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the counter moves (it counts clock ticks; on a loaded
	// machine 100ms of wall time may not be a tick of CPU), for 10s at most.
	x := 0
	var after chaos.ProcStat
	for deadline := time.Now().Add(10 * time.Second); ; {
		for begin := time.Now(); time.Since(begin) < 20*time.Millisecond; {
			x++
		}
		if after, err = chaos.ReadProcStat(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if after.CPU > before.CPU || time.Now().After(deadline) {
			break
		}
	}
	if after.CPU <= before.CPU || after.PeakRSS < after.RSS || after.RSS <= 0 {
		t.Errorf("before %+v, after %+v (x=%d)", before, after, x)
	}
	b, _ := json.Marshal(after)
	t.Logf("own stat: %s", b)
}
