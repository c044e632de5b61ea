package fakesvc_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pagebff/pagebff/internal/downstream"
	"github.com/pagebff/pagebff/internal/fakesvc"
	"github.com/pagebff/pagebff/internal/testutil"
)

// TestMain fails the package if a test leaves goroutines behind: a hanging
// request nobody released, a trickle nobody stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newClock() *testutil.Clock {
	return testutil.NewClock(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
}

// cycle returns a Rand that hands out vals in turn.
func cycle(vals ...float64) func() float64 {
	var mu sync.Mutex
	i := 0
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		v := vals[i%len(vals)]
		i++
		return v
	}
}

// start serves a fake of kind on an httptest server, closed with the test.
func start(t *testing.T, kind string, opt fakesvc.Options) (*fakesvc.Service, *httptest.Server) {
	t.Helper()
	svc, err := fakesvc.New(kind, opt)
	if err != nil {
		t.Fatalf("New(%q): %v", kind, err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	t.Cleanup(svc.Close) // runs first: releases hanging requests
	return svc, srv
}

// put sends faults (raw JSON) and returns the status code and body.
func put(t *testing.T, srv *httptest.Server, faults string) (int, string) {
	t.Helper()
	return do(t, http.MethodPut, srv.URL+fakesvc.ControlPath, faults)
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

// srv returns a client that does not keep connections, so a connection a
// fault cut is never reused by the next request.
func srv(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func status(t *testing.T, srv *httptest.Server) fakesvc.Status {
	t.Helper()
	code, body := do(t, http.MethodGet, srv.URL+fakesvc.ControlPath, "")
	if code != http.StatusOK {
		t.Fatalf("GET /_chaos = %d %s", code, body)
	}
	var st fakesvc.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /_chaos: %v in %s", err, body)
	}
	return st
}

var paths = map[string]string{"user": "/users/abc", "catalog": "/items", "activity": "/users/abc/activity"}

// fetch requests path and returns the status and body, or the error.
func fetch(t *testing.T, url string) (int, []byte, error) {
	t.Helper()
	resp, err := srv(t).Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func TestKindsServeRealisticData(t *testing.T) {
	tests := []struct {
		kind string
		want []string // substrings of the body
	}{
		{"user", []string{`"id":"abc"`, `"name":`, `"preferences":`}},
		{"catalog", []string{`"items":[`, `"title":`, `"category":`}},
		{"activity", []string{`"type":`, `"item_id":`, `"at":`}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			_, s := start(t, tt.kind, fakesvc.Options{})
			code, body, err := fetch(t, s.URL+paths[tt.kind])
			if err != nil || code != http.StatusOK {
				t.Fatalf("GET = %d, %v", code, err)
			}
			if _, err := downstream.Normalize(body); err != nil {
				t.Errorf("body is not a section pagebff accepts: %v\n%s", err, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("body lacks %s:\n%s", w, body)
				}
			}
		})
	}
}

func TestNewRefusesUnknownKind(t *testing.T) {
	if _, err := fakesvc.New("billing", fakesvc.Options{}); err == nil || !strings.Contains(err.Error(), "billing") {
		t.Errorf("New(billing) error = %v, want one naming the kind", err)
	}
}

func TestControlAPI(t *testing.T) {
	_, s := start(t, "user", fakesvc.Options{})

	if st := status(t, s); !st.Faults.IsZero() || st.Kind != "user" {
		t.Fatalf("fresh service status = %+v, want user with no faults", st)
	}
	code, body := put(t, s, `{"latency": {"delay": "5ms", "jitter": "1ms"}, "error": {"rate": 0.5, "status": 503}}`)
	if code != http.StatusOK {
		t.Fatalf("PUT = %d %s", code, body)
	}
	st := status(t, s)
	if st.Faults.Latency == nil || time.Duration(st.Faults.Latency.Delay) != 5*time.Millisecond ||
		st.Faults.Error == nil || st.Faults.Error.Status != 503 || st.Faults.Error.Rate != 0.5 {
		t.Errorf("after PUT faults = %+v", st.Faults)
	}
	if !strings.Contains(body, `"delay":"5ms"`) {
		t.Errorf("PUT answer does not show durations as strings: %s", body)
	}

	// A PUT replaces the whole set.
	if code, body := put(t, s, `{"hang": {}}`); code != http.StatusOK {
		t.Fatalf("PUT = %d %s", code, body)
	}
	if st := status(t, s); st.Faults.Latency != nil || st.Faults.Hang == nil {
		t.Errorf("after second PUT faults = %+v, want only hang", st.Faults)
	}

	if code, body := do(t, http.MethodDelete, s.URL+fakesvc.ControlPath, ""); code != http.StatusOK {
		t.Fatalf("DELETE = %d %s", code, body)
	}
	if st := status(t, s); !st.Faults.IsZero() {
		t.Errorf("after DELETE faults = %+v", st.Faults)
	}

	code, body = do(t, http.MethodPost, s.URL+fakesvc.ControlPath, "{}")
	if code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d %s, want 405", code, body)
	}
}

func TestControlAPIRefusesBadFaults(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string // substrings of the error
	}{
		{"not JSON", `{"latency":`, []string{"faults:"}},
		{"unknown fault", `{"latency": {"delay": "1s"}, "fire": {}}`, []string{"unknown field", "fire"}},
		{"bare number duration", `{"latency": {"delay": 200}}`, []string{"Go duration"}},
		{"negative duration", `{"latency": {"delay": "-1s"}}`, []string{"negative"}},
		{"latency without delay", `{"latency": {}}`, []string{"latency.delay"}},
		{"redirect status and target", `{"redirect": {"status": 200, "target": "ftp://example.com/x"}}`, []string{"redirect.status", "redirect.target"}},
		{"redirect to a scheme-relative URL", `{"redirect": {"target": "//example.com/x"}}`, []string{"redirect.target"}},
		{"every problem at once", `{"error": {"status": 200, "rate": 2}, "malformed": {"form": "xml"}, "empty": {"form": "zero"}, "trickle": {"chunk": -1}}`,
			[]string{"error.status", "error.rate", "malformed.form", "empty.form", "trickle.chunk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := start(t, "user", fakesvc.Options{})
			if code, body := put(t, s, `{"hang": {}}`); code != http.StatusOK {
				t.Fatalf("PUT = %d %s", code, body)
			}
			code, body := put(t, s, tt.body)
			if code != http.StatusBadRequest {
				t.Fatalf("PUT %s = %d %s, want 400", tt.body, code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("error %s lacks %s", body, w)
				}
			}
			if st := status(t, s); st.Faults.Hang == nil || st.Faults.Latency != nil {
				t.Errorf("a refused PUT changed the faults: %+v", st.Faults)
			}
		})
	}
}

// outcome is what a client made of one request.
type outcome struct {
	code    int
	body    []byte
	err     error
	elapsed time.Duration
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		kind   string
		faults string
		check  func(t *testing.T, o outcome)
	}{
		{"latency", "user", `{"latency": {"delay": "80ms"}}`, func(t *testing.T, o outcome) {
			wantOK(t, o)
			if o.elapsed < 80*time.Millisecond {
				t.Errorf("answered in %v, want ≥ 80ms", o.elapsed)
			}
		}},
		{"tail adds to latency", "user", `{"latency": {"delay": "30ms"}, "tail": {"delay": "50ms"}}`, func(t *testing.T, o outcome) {
			wantOK(t, o)
			if o.elapsed < 80*time.Millisecond {
				t.Errorf("answered in %v, want ≥ 80ms", o.elapsed)
			}
		}},
		{"error default status", "catalog", `{"error": {}}`, func(t *testing.T, o outcome) {
			if o.err != nil || o.code != 500 || !strings.Contains(string(o.body), "injected fault") {
				t.Errorf("got %d %s %v, want 500 with an injected-fault error", o.code, o.body, o.err)
			}
		}},
		{"error status", "catalog", `{"error": {"status": 503}}`, func(t *testing.T, o outcome) {
			if o.err != nil || o.code != 503 {
				t.Errorf("got %d %v, want 503", o.code, o.err)
			}
		}},
		{"hang until the client gives up", "activity", `{"hang": {}}`, func(t *testing.T, o outcome) {
			if !errors.Is(o.err, context.DeadlineExceeded) {
				t.Errorf("got %d %v, want the client's timeout", o.code, o.err)
			}
		}},
		{"trickle", "catalog", `{"trickle": {"chunk": 100, "every": "20ms"}}`, func(t *testing.T, o outcome) {
			wantOK(t, o)
			// The catalog is ~600 bytes: six or seven chunks, five or
			// more pauses.
			if o.elapsed < 100*time.Millisecond {
				t.Errorf("answered in %v, want ≥ 100ms", o.elapsed)
			}
		}},
		{"truncate", "catalog", `{"truncate": {}}`, func(t *testing.T, o outcome) {
			if !errors.Is(o.err, io.ErrUnexpectedEOF) {
				t.Errorf("got %d %v, want unexpected EOF while reading the body", o.code, o.err)
			}
		}},
		{"trickle then truncate", "catalog", `{"trickle": {"chunk": 50, "every": "5ms"}, "truncate": {}}`, func(t *testing.T, o outcome) {
			if !errors.Is(o.err, io.ErrUnexpectedEOF) {
				t.Errorf("got %d %v, want unexpected EOF while reading the body", o.code, o.err)
			}
		}},
		{"reset", "user", `{"reset": {}}`, func(t *testing.T, o outcome) {
			if !errors.Is(o.err, syscall.ECONNRESET) {
				t.Errorf("got %d %v, want connection reset by peer", o.code, o.err)
			}
		}},
		{"desync: the real answer first", "user", `{"desync": {}}`, func(t *testing.T, o outcome) {
			wantOK(t, o)
			if !strings.Contains(string(o.body), `"id":"abc"`) || strings.Contains(string(o.body), "intruder") {
				t.Errorf("body %s, want abc's record alone", o.body)
			}
		}},
		{"error after latency", "user", `{"latency": {"delay": "40ms"}, "error": {"status": 502}}`, func(t *testing.T, o outcome) {
			if o.code != 502 || o.elapsed < 40*time.Millisecond {
				t.Errorf("got %d after %v, want 502 after ≥ 40ms", o.code, o.elapsed)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, s := start(t, tt.kind, fakesvc.Options{})
			if code, body := put(t, s, tt.faults); code != http.StatusOK {
				t.Fatalf("PUT = %d %s", code, body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+paths[tt.kind], nil)
			begin := time.Now()
			var o outcome
			resp, err := srv(t).Do(req)
			if err == nil {
				o.code = resp.StatusCode
				o.body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			o.err, o.elapsed = err, time.Since(begin)
			tt.check(t, o)

			st := svc.Status()
			if st.Requests != 1 {
				t.Errorf("requests = %d, want 1", st.Requests)
			}
			for name, n := range st.Faulted {
				want := int64(0)
				if strings.Contains(tt.faults, `"`+name+`"`) {
					want = 1
				}
				if n != want {
					t.Errorf("faulted[%s] = %d, want %d", name, n, want)
				}
			}
		})
	}
}

func wantOK(t *testing.T, o outcome) {
	t.Helper()
	if o.err != nil || o.code != http.StatusOK {
		t.Fatalf("got %d %v, want 200", o.code, o.err)
	}
	if _, err := downstream.Normalize(o.body); err != nil {
		t.Errorf("body is not a section pagebff accepts: %v\n%s", err, o.body)
	}
}

// TestBodyFaultsAsPagebffSeesThem checks each body fault against pagebff's
// own reading of a body: malformed ones are refused, empty ones are empty
// data, never an error.
func TestBodyFaultsAsPagebffSeesThem(t *testing.T) {
	tests := []struct {
		faults    string
		wantCode  int
		wantError bool   // downstream.Normalize refuses the body
		wantBody  string // what Normalize makes of it, if accepted
	}{
		{`{"malformed": {}}`, 200, true, ""},
		{`{"malformed": {"form": "json"}}`, 200, true, ""},
		{`{"malformed": {"form": "html"}}`, 200, true, ""},
		{`{"malformed": {"form": "scalar"}}`, 200, true, ""},
		{`{"malformed": {"form": "utf8"}}`, 200, true, ""},
		{`{"empty": {}}`, 200, false, `{"items":[]}`},
		{`{"empty": {"form": "items"}}`, 200, false, `{"items":[]}`},
		{`{"empty": {"form": "array"}}`, 200, false, `{"items":[]}`},
		{`{"empty": {"form": "null"}}`, 200, false, `{"items":[]}`},
		{`{"empty": {"form": "blank"}}`, 200, false, `{"items":[]}`},
		{`{"empty": {"form": "no_content"}}`, 204, false, `{"items":[]}`},
	}
	for _, tt := range tests {
		for _, kind := range fakesvc.Kinds {
			t.Run(kind+" "+tt.faults, func(t *testing.T) {
				_, s := start(t, kind, fakesvc.Options{})
				if code, body := put(t, s, tt.faults); code != http.StatusOK {
					t.Fatalf("PUT = %d %s", code, body)
				}
				code, body, err := fetch(t, s.URL+paths[kind])
				if err != nil || code != tt.wantCode {
					t.Fatalf("GET = %d %v, want %d", code, err, tt.wantCode)
				}
				norm, err := downstream.Normalize(body)
				if tt.wantError {
					if err == nil {
						t.Errorf("pagebff accepts %q as %s", body, norm)
					}
					return
				}
				if err != nil || string(norm) != tt.wantBody {
					t.Errorf("pagebff reads %q as %s, %v; want %s", body, norm, err, tt.wantBody)
				}
			})
		}
	}
}

func TestRateHitsAShare(t *testing.T) {
	// Draws alternate below and above the rate: every other request errs.
	svc, s := start(t, "user", fakesvc.Options{Rand: cycle(0.1, 0.9)})
	if code, body := put(t, s, `{"error": {"rate": 0.5, "status": 503}}`); code != http.StatusOK {
		t.Fatalf("PUT = %d %s", code, body)
	}
	codes := map[int]int{}
	for range 10 {
		code, _, err := fetch(t, s.URL+"/users/abc")
		if err != nil {
			t.Fatal(err)
		}
		codes[code]++
	}
	if codes[200] != 5 || codes[503] != 5 {
		t.Errorf("answers = %v, want five 200 and five 503", codes)
	}
	if st := svc.Status(); st.Requests != 10 || st.Faulted["error"] != 5 {
		t.Errorf("status requests=%d faulted=%v, want 10 and error=5", st.Requests, st.Faulted)
	}
}

func TestJitterStaysAroundDelay(t *testing.T) {
	// Rand 0 draws the lowest jitter, 0.999… the highest. The drawn delay
	// is checked exactly; the answer's time only from below, since a loaded
	// machine may add any amount to it (an upper bound 40ms above the low
	// draw's delay failed there).
	tests := []struct {
		name string
		draw float64
		want time.Duration
	}{
		{"low", 0, 20 * time.Millisecond},
		{"high", 0.999, 60*time.Millisecond + time.Duration(0.998*float64(40*time.Millisecond))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, s := start(t, "user", fakesvc.Options{Rand: cycle(tt.draw)})
			l := fakesvc.Latency{Delay: fakesvc.Duration(60 * time.Millisecond), Jitter: fakesvc.Duration(40 * time.Millisecond)}
			if got := svc.Jittered(&l); got != tt.want {
				t.Errorf("drawn delay %v, want %v", got, tt.want)
			}
			if code, body := put(t, s, `{"latency": {"delay": "60ms", "jitter": "40ms"}}`); code != http.StatusOK {
				t.Fatalf("PUT = %d %s", code, body)
			}
			begin := time.Now()
			if code, _, err := fetch(t, s.URL+"/users/abc"); err != nil || code != 200 {
				t.Fatalf("GET = %d %v", code, err)
			}
			if d := time.Since(begin); d < tt.want {
				t.Errorf("answered in %v, want at least the drawn %v", d, tt.want)
			}
		})
	}
}

func TestFaultsClearThemselves(t *testing.T) {
	clk := newClock()
	svc, s := start(t, "user", fakesvc.Options{Now: clk.Now})
	if code, body := put(t, s, `{"error": {"status": 503, "duration": "10s"}, "empty": {"duration": "30s"}, "latency": {"delay": "1ms"}}`); code != http.StatusOK {
		t.Fatalf("PUT = %d %s", code, body)
	}
	st := status(t, s)
	if st.ExpiresIn["error"] != fakesvc.Duration(10*time.Second) || st.ExpiresIn["empty"] != fakesvc.Duration(30*time.Second) {
		t.Errorf("expires_in = %v, want error 10s and empty 30s", st.ExpiresIn)
	}
	if _, ok := st.ExpiresIn["latency"]; ok {
		t.Errorf("expires_in = %v: latency has no duration", st.ExpiresIn)
	}
	if code, _, _ := fetch(t, s.URL+"/users/abc"); code != 503 {
		t.Errorf("before expiry: %d, want 503", code)
	}

	clk.Advance(10 * time.Second)
	code, body, err := fetch(t, s.URL+"/users/abc")
	if err != nil || code != 200 || string(body) != "{\"items\":[]}\n" {
		t.Errorf("after 10s: %d %q %v, want the error gone and empty data still on", code, body, err)
	}
	if st := status(t, s); st.Faults.Error != nil || st.Faults.Empty == nil || st.ExpiresIn["empty"] != fakesvc.Duration(20*time.Second) {
		t.Errorf("after 10s faults = %+v expires_in %v", st.Faults, st.ExpiresIn)
	}

	clk.Advance(20 * time.Second)
	if code, body, _ := fetch(t, s.URL+"/users/abc"); code != 200 || !strings.Contains(string(body), `"name"`) {
		t.Errorf("after 30s: %d %s, want real data", code, body)
	}
	if f, _ := svc.Faults(); f.Error != nil || f.Empty != nil || f.Latency == nil {
		t.Errorf("after 30s faults = %+v, want only latency", f)
	}
}

func TestStatusCountsInflight(t *testing.T) {
	svc, s := start(t, "activity", fakesvc.Options{})
	if code, body := put(t, s, `{"hang": {}}`); code != http.StatusOK {
		t.Fatalf("PUT = %d %s", code, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/users/abc/activity", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for svc.Status().Inflight != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the hanging request never showed as in flight")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := status(t, s); st.Inflight != 1 || st.Requests != 1 || st.Faulted["hang"] != 1 {
		t.Errorf("status = %+v, want one request in flight, hung", st)
	}
	cancel()
	if err := <-done; err == nil {
		t.Error("the hanging request answered")
	}
	for svc.Status().Inflight != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the hanging request never ended after the client left")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseCutsHangingRequests(t *testing.T) {
	svc, s := start(t, "user", fakesvc.Options{})
	if code, body := put(t, s, `{"hang": {}}`); code != http.StatusOK {
		t.Fatalf("PUT = %d %s", code, body)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := fetch(t, s.URL+"/users/abc")
		done <- err
	}()
	for svc.Status().Inflight != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	svc.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a hanging request answered when the service closed; want a cut connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hanging request")
	}
}

func TestStartDemo(t *testing.T) {
	d, err := fakesvc.StartDemo()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, kind := range fakesvc.Kinds {
		code, body, err := fetch(t, d.URLs[kind]+paths[kind])
		if err != nil || code != 200 {
			t.Errorf("%s: %d %v", kind, code, err)
		}
		if _, err := downstream.Normalize(body); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
	// The demo's fakes take faults too.
	if err := d.Services["user"].Set(fakesvc.Faults{Error: &fakesvc.ErrorFault{Status: 503}}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := fetch(t, d.URLs["user"]+"/users/abc"); code != 503 {
		t.Errorf("demo user with an error fault answered %d, want 503", code)
	}
}

func TestRedirect(t *testing.T) {
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		name, faults, path string
		wantStatus         int
		wantLocation       string
	}{
		{"to itself by default", `{"redirect": {}}`, "/users/abc?x=1", 302, "/users/abc?x=1"},
		{"to a target", `{"redirect": {"target": "http://127.0.0.1:1/elsewhere"}}`, "/users/abc", 302, "http://127.0.0.1:1/elsewhere"},
		{"with a status", `{"redirect": {"status": 308, "target": "/users/def"}}`, "/users/abc", 308, "/users/def"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, s := start(t, "user", fakesvc.Options{})
			if code, body := put(t, s, tt.faults); code != http.StatusOK {
				t.Fatalf("PUT = %d %s", code, body)
			}
			req, _ := http.NewRequest(http.MethodGet, s.URL+tt.path, nil)
			req.Header.Set("X-Request-Id", "r-1")
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("Location") != tt.wantLocation {
				t.Errorf("got %d Location %q, want %d %q", resp.StatusCode, resp.Header.Get("Location"), tt.wantStatus, tt.wantLocation)
			}
			if got := resp.Header.Get("X-Request-Id"); got != "r-1" {
				t.Errorf("X-Request-Id = %q, want the request's echoed", got)
			}
			if st := svc.Status(); st.Requests != 1 || st.Faulted["redirect"] != 1 {
				t.Errorf("requests %d, faulted %v; want 1 and redirect=1", st.Requests, st.Faulted)
			}
		})
	}

	t.Run("a client that follows loops, each hop counted", func(t *testing.T) {
		svc, s := start(t, "user", fakesvc.Options{})
		if code, body := put(t, s, `{"redirect": {}}`); code != http.StatusOK {
			t.Fatalf("PUT = %d %s", code, body)
		}
		// net/http gives up after 10 requests.
		if _, _, err := fetch(t, s.URL+"/users/abc"); err == nil || !strings.Contains(err.Error(), "redirects") {
			t.Fatalf("GET = %v, want the client to stop after too many redirects", err)
		}
		if st := svc.Status(); st.Requests != 10 || st.Faulted["redirect"] != 10 {
			t.Errorf("requests %d, faulted %v; want 10 and redirect=10", st.Requests, st.Faulted)
		}
	})
}

// rawGet sends a GET on a new connection and returns the connection and a
// reader over it, closed with the test.
func rawGet(t *testing.T, srv *httptest.Server, path, requestID string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: fake\r\nX-Request-Id: "+requestID+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

// readAnswer reads one response from br: its X-Request-Id and the id of the
// user record in its body.
func readAnswer(t *testing.T, br *bufio.Reader) (requestID, userID string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	defer resp.Body.Close()
	var u struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || resp.StatusCode != 200 {
		t.Fatalf("answer %d: %v", resp.StatusCode, err)
	}
	return resp.Header.Get("X-Request-Id"), u.ID
}

func TestDesync(t *testing.T) {
	tests := []struct {
		name, faults string
		wantStrayID  string // the stray answer's X-Request-Id
		minGap       time.Duration
	}{
		{"in the same write", `{"desync": {}}`, "desync-1", 0},
		{"bare", `{"desync": {"bare": true}}`, "", 0},
		{"later", `{"desync": {"delay": "60ms"}}`, "desync-1", 60 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, s := start(t, "user", fakesvc.Options{})
			if code, body := put(t, s, tt.faults); code != http.StatusOK {
				t.Fatalf("PUT = %d %s", code, body)
			}
			conn, br := rawGet(t, s, "/users/abc", "req-1")
			if rid, uid := readAnswer(t, br); rid != "req-1" || uid != "abc" {
				t.Errorf("first answer: X-Request-Id %q, id %q; want req-1 and abc", rid, uid)
			}
			first := time.Now()
			// Asked for nothing more, the connection still carries a
			// whole second answer, for another user.
			rid, uid := readAnswer(t, br)
			if rid != tt.wantStrayID || uid != "intruder-1" {
				t.Errorf("stray answer: X-Request-Id %q, id %q; want %q and intruder-1", rid, uid, tt.wantStrayID)
			}
			if gap := time.Since(first); gap < tt.minGap-5*time.Millisecond {
				t.Errorf("stray answer %v after the first, want ≥ %v", gap, tt.minGap)
			}
			// Then the connection is held, not closed.
			_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("after the stray answer: %v, want the connection held open", err)
			}
			if st := svc.Status(); st.Requests != 1 || st.Faulted["desync"] != 1 {
				t.Errorf("requests %d, faulted %v; want 1 and desync=1", st.Requests, st.Faulted)
			}
		})
	}

	t.Run("stray answers are numbered", func(t *testing.T) {
		_, s := start(t, "user", fakesvc.Options{})
		if code, body := put(t, s, `{"desync": {}}`); code != http.StatusOK {
			t.Fatalf("PUT = %d %s", code, body)
		}
		for i := 1; i <= 2; i++ {
			_, br := rawGet(t, s, "/users/abc", "r")
			readAnswer(t, br)
			if _, uid := readAnswer(t, br); uid != fmt.Sprintf("intruder-%d", i) {
				t.Errorf("stray answer %d names %q", i, uid)
			}
		}
	})

	t.Run("close cuts a connection waiting to desync", func(t *testing.T) {
		svc, s := start(t, "user", fakesvc.Options{})
		if code, body := put(t, s, `{"desync": {"delay": "10s"}}`); code != http.StatusOK {
			t.Fatalf("PUT = %d %s", code, body)
		}
		_, br := rawGet(t, s, "/users/abc", "r")
		readAnswer(t, br)
		svc.Close()
		begin := time.Now()
		if _, err := br.ReadByte(); err == nil {
			t.Error("read a byte after Close; want the connection cut")
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Errorf("cut after %v, want at once", d)
		}
	})
}

func TestRequestIDEcho(t *testing.T) {
	tests := []struct {
		name   string
		opt    fakesvc.Options
		faults string
		sent   string
		want   string
	}{
		{"echoed by default", fakesvc.Options{}, "", "abc-1", "abc-1"},
		{"echoed on an error", fakesvc.Options{}, `{"error": {"status": 503}}`, "abc-1", "abc-1"},
		{"echoed on empty data", fakesvc.Options{}, `{"empty": {"form": "no_content"}}`, "abc-1", "abc-1"},
		{"none sent, none echoed", fakesvc.Options{}, "", "", ""},
		{"switched off", fakesvc.Options{NoRequestID: true}, "", "abc-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := start(t, "user", tt.opt)
			if tt.faults != "" {
				if code, body := put(t, s, tt.faults); code != http.StatusOK {
					t.Fatalf("PUT = %d %s", code, body)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, s.URL+"/users/abc", nil)
			if tt.sent != "" {
				req.Header.Set("X-Request-Id", tt.sent)
			}
			resp, err := srv(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if _, ok := resp.Header["X-Request-Id"]; ok != (tt.want != "") || resp.Header.Get("X-Request-Id") != tt.want {
				t.Errorf("X-Request-Id = %q (present %v), want %q", resp.Header.Get("X-Request-Id"), ok, tt.want)
			}
		})
	}
}
