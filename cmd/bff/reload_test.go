package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/testutil"
)

// writeAtomically writes data to a temp file and renames it over path, as
// editors and config management do.
func writeAtomically(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits for a log line containing every fragment.
func (w *logWatcher) waitLog(t *testing.T, fragments ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range w.all() {
			if containsAll(line, fragments) {
				return line
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line with %q; logs:\n%s", fragments, strings.Join(w.all(), "\n"))
	return ""
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// An edit of the config file is picked up without a restart; an invalid
// edit is rejected with its reason and the running config stays.
func TestRunReloadsConfigFile(t *testing.T) {
	user := testutil.NewService(t, testutil.JSON(`{"id":"abc"}`))
	other := testutil.NewService(t, testutil.JSON(`[]`))
	dir := t.TempDir()
	file := filepath.Join(dir, "bff.yaml")
	writeAtomically(t, file, "services:\n  user:\n    path: /users/{user_id}\n")

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := watchLogs(t, pr)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"--config", file}, env(map[string]string{
			"BFF_ADDR": "127.0.0.1:0", "USER_SERVICE_URL": user.URL,
			"CATALOG_SERVICE_URL": other.URL, "ACTIVITY_SERVICE_URL": other.URL,
		}), pw, io.Discard)
		pw.Close()
	}()
	base := logs.listening(t)
	lastUserPath := func() string {
		t.Helper()
		if status, _ := getPage(t, base); status != 200 {
			t.Fatalf("page status %d", status)
		}
		reqs := user.Requests()
		return reqs[len(reqs)-1].Path
	}
	if p := lastUserPath(); p != "/users/abc" {
		t.Fatalf("user path %s", p)
	}

	writeAtomically(t, file, "services:\n  user:\n    path: /v2/users/{user_id}\n    timeout: 250ms\n")
	logs.waitLog(t, `"msg":"config reloaded"`, `"trigger":"file"`, `services.user.path`, `services.user.timeout`)
	if p := lastUserPath(); p != "/v2/users/abc" {
		t.Fatalf("user path %s after reload, want /v2/users/abc", p)
	}

	writeAtomically(t, file, "services:\n  user:\n    path: /v3/users/{user_id}\n    timeout: soon\n")
	logs.waitLog(t, `"msg":"config reload rejected; the running config stays"`, `services.user.timeout`, `soon`)
	if p := lastUserPath(); p != "/v2/users/abc" {
		t.Fatalf("user path %s after a rejected edit, want the running /v2/users/abc", p)
	}

	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// SIGHUP makes the real binary reload its config.
func TestBinarySIGHUPReloads(t *testing.T) {
	bin := binary(t)
	svc := testutil.NewService(t, testutil.JSON(`{}`))
	file := filepath.Join(t.TempDir(), "bff.yaml")
	writeAtomically(t, file, "page:\n  timeout: 500ms\n")
	cmd, logs, base := startBinary(t, bin,
		[]string{"BFF_ADDR=127.0.0.1:0", "USER_SERVICE_URL=" + svc.URL, "CATALOG_SERVICE_URL=" + svc.URL, "ACTIVITY_SERVICE_URL=" + svc.URL},
		"--config", file)

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.waitLog(t, `"trigger":"SIGHUP"`, `nothing changed`)
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after SIGHUP: %v", err)
	} else {
		resp.Body.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
