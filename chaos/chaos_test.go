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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pagebff/pagebff/chaos"
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
	// Every page takes 50ms; one, the fifth, takes 300ms. Open loop, the
	// pages behind it keep their schedule; their latencies stay ~50ms and
	// the slow page's own latency counts from its due time.
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := 50 * time.Millisecond
		if r.URL.Query().Get("i") == "4" {
			d = 300 * time.Millisecond
		}
		n.Add(1)
		time.Sleep(d)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"user":{"id":"x"},"meta":{"sections":{"user":{"status":"stale","code":"timeout","source":"cache","latency_ms":300,"age_ms":12}}}}`)
	}))
	defer srv.Close()
	client := chaos.NewClient(5 * time.Second)
	defer client.CloseIdleConnections()

	run := chaos.Load{Rate: 100, URL: func(i int) string { return fmt.Sprintf("%s/?i=%d", srv.URL, i) }, Client: client, Decode: true}.Start()
	time.Sleep(195 * time.Millisecond)
	res := run.Stop()
	if len(res) < 15 || len(res) > 22 {
		t.Fatalf("%d pages in ~200ms at 100/s", len(res))
	}
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
		switch {
		case r.Seq == 4 && r.Latency < 300*time.Millisecond:
			t.Errorf("slow page latency %v, want ≥ 300ms", r.Latency)
		case r.Seq != 4 && r.Latency > 250*time.Millisecond:
			t.Errorf("page %d waited for the slow one: %v", r.Seq, r.Latency)
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
	time.Sleep(100 * time.Millisecond)
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/bad") {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	client := chaos.NewClient(5 * time.Second)
	defer client.CloseIdleConnections()
	ok, failed := chaos.Saturate(context.Background(), client, func(i int) string {
		if i%2 == 1 {
			return srv.URL + "/bad"
		}
		return srv.URL + "/good"
	}, 4, 100*time.Millisecond)
	if ok < 10 || failed < 10 {
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
	// Burn some CPU so the counter moves.
	x := 0
	for begin := time.Now(); time.Since(begin) < 100*time.Millisecond; {
		x++
	}
	after, err := chaos.ReadProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.CPU <= before.CPU || after.PeakRSS < after.RSS || after.RSS <= 0 {
		t.Errorf("before %+v, after %+v (x=%d)", before, after, x)
	}
	b, _ := json.Marshal(after)
	t.Logf("own stat: %s", b)
}
