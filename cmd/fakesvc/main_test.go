package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pagebff/pagebff/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// started is a fakesvc run in-process on port 0.
type started struct {
	url  string
	logs func() string
	stop func() error // cancels run and returns its error
}

func startRun(t *testing.T, args ...string) started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, args, func(string) string { return "" }, pw, io.Discard)
		pw.Close()
		errc <- err
	}()
	var (
		mu    sync.Mutex
		lines []string
	)
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			var m struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Msg == "listening" {
				addr <- m.Addr
			}
		}
	}()
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
	stop := func() error {
		cancel()
		err := <-errc
		<-scanned
		return err
	}
	select {
	case a := <-addr:
		return started{url: "http://" + a, logs: logs, stop: stop}
	case err := <-errc:
		cancel()
		t.Fatalf("run ended before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("never logged listening; logs:\n%s", logs())
	}
	return started{}
}

func TestRunServesAndTakesFaults(t *testing.T) {
	s := startRun(t, "--kind", "user", "--addr", "127.0.0.1:0", "--min-latency", "0s", "--max-latency", "1ms")
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	resp, err := client.Get(s.url + "/users/abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /users/abc = %d", resp.StatusCode)
	}

	req, _ := http.NewRequest(http.MethodPut, s.url+"/_chaos", strings.NewReader(`{"error": {"status": 503}}`))
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = client.Get(s.url + "/users/abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("with an error fault GET = %d, want 503", resp.StatusCode)
	}
	if err := s.stop(); err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
	logs := s.logs()
	for _, want := range []string{`"msg":"faults set"`, `"kind":"user"`, `"msg":"stopped"`, `"requests":2`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

func TestRunStartsWithFaults(t *testing.T) {
	s := startRun(t, "--kind", "catalog", "--faults", `{"empty": {"form": "array"}}`)
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(s.url + "/items")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("GET /items = %q, want []", body)
	}
	if err := s.stop(); err != nil {
		t.Error(err)
	}
}

func TestRunShutsDownWithHangingRequests(t *testing.T) {
	s := startRun(t, "--kind", "activity", "--faults", `{"hang": {}}`)
	done := make(chan error, 1)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get(s.url + "/users/abc/activity")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// The request must be hanging when the shutdown starts (after a fixed
	// 50ms it might not have arrived yet on a loaded machine, and the test
	// pass without testing anything): wait until the service counts it.
	testutil.Eventually(t, "the request hanging", func() bool {
		resp, err := http.Get(s.url + "/_chaos")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct{ Inflight int64 }
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Inflight == 1
	})
	begin := time.Now()
	if err := s.stop(); err != nil {
		t.Errorf("run = %v, want nil", err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("shutdown took %v with a hanging request; want it released at once", d)
	}
	if err := <-done; err == nil {
		t.Error("the hanging request got an answer; want a cut connection")
	}
}

func TestRunEchoesRequestID(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"by default", nil, "r-42"},
		{"unless told not to", []string{"--echo-request-id=false"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startRun(t, append([]string{"--kind", "user"}, tt.args...)...)
			client := &http.Client{Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()
			req, _ := http.NewRequest(http.MethodGet, s.url+"/users/abc", nil)
			req.Header.Set("X-Request-Id", "r-42")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("X-Request-Id"); got != tt.want {
				t.Errorf("X-Request-Id = %q, want %q", got, tt.want)
			}
			if err := s.stop(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRunShutsDownWithDesyncedConnections(t *testing.T) {
	s := startRun(t, "--kind", "user", "--faults", `{"desync": {"delay": "10s"}}`)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET /users/abc HTTP/1.1\r\nHost: fake\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The stray answer is 10s away; stopping must not wait for it.
	begin := time.Now()
	if err := s.stop(); err != nil {
		t.Errorf("run = %v, want nil", err)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("read a byte after shutdown; want the connection cut")
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("shutdown took %v with a connection waiting to desync", d)
	}
}

func TestRunRefusesBadInvocations(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no kind", nil, "--kind"},
		{"unknown kind", []string{"--kind", "billing"}, "billing"},
		{"bad faults", []string{"--kind", "user", "--faults", `{"error": {"status": 99}}`}, "error.status"},
		{"unknown fault", []string{"--kind", "user", "--faults", `{"fire": {}}`}, "fire"},
		{"latency bounds", []string{"--kind", "user", "--min-latency", "10ms", "--max-latency", "1ms"}, "--max-latency"},
		{"bad address", []string{"--kind", "user", "--addr", "nowhere:-1"}, "listen"},
		{"stray argument", []string{"--kind", "user", "extra"}, "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, func(string) string { return "" }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error mentioning %s", tt.args, err, tt.want)
			}
		})
	}
}
