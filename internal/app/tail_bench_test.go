package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/testutil"
)

// heavyTail answers in ~10ms, except tailShare of requests which take 1s.
func heavyTail(tailShare float64, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := 8*time.Millisecond + rand.N(4*time.Millisecond)
		if rand.Float64() < tailShare {
			d = time.Second
		}
		testutil.Slow(d, testutil.JSON(body))(w, r)
	}
}

// BenchmarkTailLatency drives b.N pages at a fixed rate (open loop: each page
// starts on schedule whatever the others do, and its latency counts from
// that schedule, so a stall cannot hide behind coordinated omission) against
// three services; the user service has a heavy tail (2% of calls take 1s).
// It compares hedging off and on. Run it with a fixed count:
//
//	go test -run '^$' -bench TailLatency -benchtime 3000x ./internal/app
func BenchmarkTailLatency(b *testing.B) {
	for _, hedge := range []bool{false, true} {
		b.Run(fmt.Sprintf("hedge=%v", hedge), func(b *testing.B) { runTail(b, hedge) })
	}
}

const tailRate = 250 // pages per second

func runTail(b *testing.B, hedge bool) {
	user := testutil.NewService(b, heavyTail(0.02, userBody))
	catalog := testutil.NewService(b, heavyTail(0, catalogBody))
	activity := testutil.NewService(b, heavyTail(0, activityBody))
	cfg := benchConfig(map[string]string{"user": user.URL, "catalog": catalog.URL, "activity": activity.URL}, nil)
	for i := range cfg.Services {
		s := &cfg.Services[i]
		s.Hedge.Enabled = hedge
		s.Cache.Enabled = false // count failures, don't hide them
	}
	a := newBenchApp(b, cfg)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	defer client.CloseIdleConnections()

	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		failed    int
		wg        sync.WaitGroup
	)
	interval := time.Second / tailRate
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := tailPage(client, fmt.Sprintf("%s/v1/pages/home?user_id=u%d", srv.URL, i))
			d := time.Since(due)
			mu.Lock()
			latencies = append(latencies, d)
			if !ok {
				failed++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()

	slices.Sort(latencies)
	q := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))]) / 1e6
	}
	st, _ := a.Stats("user")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(100*float64(failed)/float64(b.N), "failed-%")
	b.ReportMetric(100*float64(user.Hits()-b.N)/float64(b.N), "extra-req-%")
	b.ReportMetric(100*float64(st.HedgesWon)/float64(b.N), "hedge-won-%")
	b.ReportMetric(0, "ns/op") // wall time per page is the schedule, not a cost
}

// tailPage fetches a page and reports whether its user section was ok.
func tailPage(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return false
	}
	var p struct {
		Meta struct {
			Sections map[string]struct{ Status string }
		}
	}
	if json.Unmarshal(body, &p) != nil {
		return false
	}
	return p.Meta.Sections["user"].Status == "ok"
}
