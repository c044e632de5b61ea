package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pagebff/pagebff/internal/testutil"
)

// TestMain removes the built binary and fails on leaked goroutines.
func TestMain(m *testing.M) {
	code := m.Run()
	if binBuilt.Load() {
		bin, _ := buildBinary()
		os.RemoveAll(filepath.Dir(bin))
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// logWatcher reads JSON log lines and hands out the listening address.
type logWatcher struct {
	addr  chan string
	mu    sync.Mutex
	lines []string // guarded by mu
}

func watchLogs(t *testing.T, r io.Reader) *logWatcher {
	t.Helper()
	w := &logWatcher{addr: make(chan string, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			w.mu.Lock()
			w.lines = append(w.lines, line)
			w.mu.Unlock()
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" {
				w.addr <- m.Addr
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	t.Cleanup(func() { <-done })
	return w
}

func (w *logWatcher) listening(t *testing.T) string {
	t.Helper()
	select {
	case a := <-w.addr:
		return "http://" + a
	case <-time.After(20 * time.Second):
		t.Fatalf("never logged listening; logs:\n%s", strings.Join(w.all(), "\n"))
		return ""
	}
}

func (w *logWatcher) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

// env returns m as an environment, "KEY=value" entries.
func env(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func getPage(t *testing.T, base string) (int, map[string]json.RawMessage) {
	t.Helper()
	status, page, err := tryPage(base, "abc")
	if err != nil {
		t.Fatal(err)
	}
	return status, page
}

// tryPage fetches a page; safe on any goroutine.
func tryPage(base, user string) (int, map[string]json.RawMessage, error) {
	resp, err := http.Get(base + "/v1/pages/home?user_id=" + user)
	if err != nil {
		return 0, nil, fmt.Errorf("get page: %w", err)
	}
	defer resp.Body.Close()
	var page map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return 0, nil, fmt.Errorf("decode page: %w", err)
	}
	return resp.StatusCode, page, nil
}

// The demo serves a full page from its built-in services, and run returns
// nil when its context ends.
func TestRunDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := watchLogs(t, pr)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"--demo"}, env(map[string]string{"BFF_ADDR": "127.0.0.1:0"}), pw, io.Discard)
		pw.Close()
	}()
	base := logs.listening(t)

	status, page := getPage(t, base)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var meta struct {
		Degraded bool
		Sections map[string]struct{ Status string }
	}
	_ = json.Unmarshal(page["meta"], &meta)
	for _, s := range []string{"user", "catalog", "activity"} {
		if meta.Sections[s].Status != "ok" {
			t.Errorf("demo section %s: %s; page %s", s, meta.Sections[s].Status, page[s])
		}
	}
	if !strings.Contains(string(page["user"]), `"id":"abc"`) {
		t.Errorf("demo user section = %s", page["user"])
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run returned %v after shutdown, want nil", err)
	}
}

// TestMistypedEnvWarned: a mistyped BFF_* variable used to be ignored in
// silence; it is warned about, naming the nearest setting, never its value.
func TestMistypedEnvWarned(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := watchLogs(t, pr)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"--demo"}, env(map[string]string{
			"BFF_ADDR": "127.0.0.1:0", "BFF_SERVICES_USER_TIMOUT": "250ms-secret-value",
		}), pw, io.Discard)
		pw.Close()
	}()
	logs.listening(t)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	all := strings.Join(logs.all(), "\n")
	if !strings.Contains(all, "BFF_SERVICES_USER_TIMOUT is not a pagebff setting and is ignored; did you mean BFF_SERVICES_USER_TIMEOUT?") ||
		strings.Contains(all, "secret-value") {
		t.Fatalf("logs:\n%s\nwant a warning naming BFF_SERVICES_USER_TIMEOUT and not the value", all)
	}
}

// TestHelpExitsZero: --help printed the usage and exited 1.
func TestHelpExitsZero(t *testing.T) {
	var stderr strings.Builder
	if err := run(context.Background(), []string{"--help"}, nil, io.Discard, &stderr); err != nil {
		t.Fatalf("run --help = %v, want nil (exit 0)", err)
	}
	if !strings.Contains(stderr.String(), "-config") {
		t.Fatalf("usage = %q", stderr.String())
	}
}

// TestDemoBindsLoopback: --demo listened on every interface by default.
func TestDemoBindsLoopback(t *testing.T) {
	for in, want := range map[string]string{":8080": "127.0.0.1:8080", "0.0.0.0:8080": "0.0.0.0:8080", "127.0.0.1:0": "127.0.0.1:0"} {
		if got := loopbackIfUnspecified(in); got != want {
			t.Errorf("loopbackIfUnspecified(%q) = %q, want %q", in, got, want)
		}
	}
}

// Bad start-up input is refused with a message that says what to fix.
func TestRunRefusesToStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	dir := t.TempDir()
	badFile := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badFile, []byte("services:\n  user:\n    timeot: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{
		"BFF_ADDR":             "127.0.0.1:0",
		"USER_SERVICE_URL":     "http://127.0.0.1:1",
		"CATALOG_SERVICE_URL":  "http://127.0.0.1:1",
		"ACTIVITY_SERVICE_URL": "http://127.0.0.1:1",
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range urls {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{name: "no service URLs", env: map[string]string{"BFF_ADDR": "127.0.0.1:0"},
			want: []string{"USER_SERVICE_URL", "CATALOG_SERVICE_URL", "ACTIVITY_SERVICE_URL", "--demo"}},
		{name: "bad timeout from env", env: with(map[string]string{"BFF_SERVICES_USER_TIMEOUT": "soon"}),
			want: []string{"services.user.timeout", `"soon"`, "duration"}},
		{name: "two problems at once", env: with(map[string]string{"BFF_PAGE_TIMEOUT": "0s", "BFF_DEFAULTS_BREAKER_FAILURE_RATIO": "2"}),
			want: []string{"page.timeout", "failure_ratio", "2"}},
		{name: "unknown key in file", args: []string{"--config", badFile}, env: urls, want: []string{"services.user.timeot", "unknown key"}},
		{name: "missing config file", args: []string{"--config", filepath.Join(dir, "nope.yaml")}, env: urls, want: []string{"nope.yaml"}},
		{name: "bad service URL", env: with(map[string]string{"USER_SERVICE_URL": "localhost:9000"}), want: []string{"services.user.url", "localhost:9000"}},
		{name: "unknown flag", args: []string{"--nope"}, env: urls, want: []string{"nope"}},
		{name: "address in use", env: with(map[string]string{"BFF_ADDR": busy}), want: []string{"listen on " + busy, "address already in use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, env(tt.env), io.Discard, io.Discard)
			if err == nil {
				t.Fatal("run started; want a refusal")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

// binBuilt records that buildBinary ran, so TestMain does not build just to
// clean up.
var binBuilt atomic.Bool

// buildBinary builds cmd/bff once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	binBuilt.Store(true)
	dir, err := os.MkdirTemp("", "bff-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bff")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", errors.New(string(out))
	}
	return bin, nil
})

// binary returns the built bff, skipping the test under -short.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

// startBinary starts bin with args and env added to this process's, and
// waits for it to listen. The process is killed when the test ends, if it
// is still running.
func startBinary(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, *logWatcher, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := watchLogs(t, stdout)
	// Registered after watchLogs's, so it runs first: the log reader's
	// cleanup waits for the output to end, which a live process never does
	// (a failing test used to hang here instead of failing).
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, logs, logs.listening(t)
}

// The real binary: SIGTERM turns /readyz to 503 at once, keeps serving for
// drain_delay, lets the in-flight page finish, and exits 0.
func TestBinaryGracefulShutdown(t *testing.T) {
	bin := binary(t)

	tests := []struct {
		name  string
		drain time.Duration
	}{
		{name: "no drain delay", drain: 0},
		{name: "with drain delay", drain: 700 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			slowUser := func(w http.ResponseWriter, r *http.Request) {
				testutil.Signal(arrived) // only the first arrival is awaited
				testutil.Slow(250*time.Millisecond, testutil.JSON(`{"id":"abc"}`))(w, r)
			}
			user := testutil.NewService(t, slowUser)
			other := testutil.NewService(t, testutil.JSON(`[]`))

			cmd, logs, base := startBinary(t, bin, []string{
				"BFF_ADDR=127.0.0.1:0",
				"BFF_CONFIG=",
				"USER_SERVICE_URL=" + user.URL,
				"CATALOG_SERVICE_URL=" + other.URL,
				"ACTIVITY_SERVICE_URL=" + other.URL,
				"BFF_SERVER_DRAIN_DELAY=" + tt.drain.String(),
				// Seconds for the 250ms user call instead of the default
				// 300ms: a loaded machine must not time it out and fail
				// the in-flight page's check.
				"BFF_PAGE_TIMEOUT=5s",
				"BFF_SERVICES_USER_TIMEOUT=4s",
			})

			if code := statusOf(t, base+"/readyz"); code != 200 {
				t.Fatalf("/readyz = %d before SIGTERM, want 200", code)
			}
			type result struct {
				status int
				page   map[string]json.RawMessage
				err    error
			}
			inflight := make(chan result, 1)
			go func() {
				s, p, err := tryPage(base, "abc")
				inflight <- result{s, p, err}
			}()
			<-arrived
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if tt.drain > 0 {
				// Still serving while draining, but no longer ready.
				eventuallyStatus(t, base+"/readyz", 503)
				if code := statusOf(t, base+"/healthz"); code != 200 {
					t.Errorf("/healthz while draining = %d, want 200", code)
				}
				// A new page still gets served while load balancers catch up.
				if status, _, err := tryPage(base, "late"); err != nil || status != 200 {
					t.Errorf("page while draining: %d %v, want 200", status, err)
				}
			}
			r := <-inflight
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.status != 200 || !strings.Contains(string(r.page["user"]), `"id":"abc"`) {
				t.Fatalf("in-flight page: status %d, user %s; want 200 with data", r.status, r.page["user"])
			}
			waitErr := make(chan error, 1)
			go func() { waitErr <- cmd.Wait() }()
			select {
			case err := <-waitErr:
				if err != nil {
					t.Fatalf("bff exited with %v, want 0; stderr: %s", err, cmd.Stderr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("bff did not exit after SIGTERM")
			}
			if !strings.Contains(strings.Join(logs.all(), "\n"), `"msg":"stopped"`) {
				t.Errorf("no stopped log line:\n%s", strings.Join(logs.all(), "\n"))
			}
		})
	}
}

// The real binary refuses bad configuration: stderr names the problem and
// the exit status is non-zero.
func TestBinaryRefusesBadConfig(t *testing.T) {
	bin := binary(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "BFF_CONFIG=", "USER_SERVICE_URL=", "CATALOG_SERVICE_URL=", "ACTIVITY_SERVICE_URL=", "BFF_DEFAULTS_TIMEOUT=300")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("bff with bad config: %v, want a non-zero exit", err)
	}
	for _, w := range []string{"USER_SERVICE_URL", "defaults.timeout", `"300"`} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr does not mention %s:\n%s", w, stderr.String())
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("start-up error leaked to stdout: %s", stdout.String())
	}
}

func statusOf(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func eventuallyStatus(t *testing.T, url string, want int) {
	t.Helper()
	testutil.Eventually(t, fmt.Sprintf("%s to answer %d", url, want), func() bool { return statusOf(t, url) == want })
}
