// Package basetest checks the baseline BFFs of the load benchmarks
// (bench/naive, bench/plain) the same way: each must serve the page from
// the environment pagebff reads, and refuse to start without URLs.
package basetest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/fakesvc"
)

// Run is a baseline's run function.
type Run func(ctx context.Context, getenv func(string) string, stdout io.Writer) error

// ServesAPage starts run in front of three fakesvc services, the activity
// one refusing connections, and checks the page: user and catalog ok,
// activity an error with code unavailable.
func ServesAPage(t *testing.T, run Run) {
	t.Helper()
	env := map[string]string{"BFF_ADDR": "127.0.0.1:0"}
	for _, kind := range fakesvc.Kinds {
		svc, err := fakesvc.New(kind, fakesvc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(svc)
		defer srv.Close()
		env[map[string]string{"user": "USER_SERVICE_URL", "catalog": "CATALOG_SERVICE_URL", "activity": "ACTIVITY_SERVICE_URL"}[kind]] = srv.URL
	}
	// The activity service fails: its section says so, the rest is there.
	closed := httptest.NewServer(http.NotFoundHandler())
	env["ACTIVITY_SERVICE_URL"] = closed.URL
	closed.Close()

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, func(k string) string { return env[k] }, pw)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatal("no log line")
	}
	var l struct{ Msg, Addr string }
	if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Msg != "listening" {
		t.Fatalf("first line %s", sc.Bytes())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + l.Addr + "/v1/pages/home?user_id=abc")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		User map[string]any
		Meta struct {
			Sections map[string]struct{ Status, Code string }
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("page: %d %v", resp.StatusCode, err)
	}
	if page.User["id"] != "abc" || page.Meta.Sections["user"].Status != "ok" || page.Meta.Sections["catalog"].Status != "ok" ||
		page.Meta.Sections["activity"].Status != "error" || page.Meta.Sections["activity"].Code != "unavailable" {
		t.Errorf("page = %+v", page)
	}
	client.CloseIdleConnections()
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("run = %v", err)
	}
}

// NeedsURLs checks that run refuses to start without service URLs.
func NeedsURLs(t *testing.T, run Run) {
	t.Helper()
	if err := run(context.Background(), func(string) string { return "" }, io.Discard); err == nil {
		t.Error("run without URLs succeeded")
	}
}
