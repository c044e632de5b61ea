package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/app"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/testutil"
)

const (
	userBody     = `{"id":"abc","name":"Ada","preferences":{"theme":"dark"}}`
	catalogBody  = `{"items":[{"id":"i1","title":"Keyboard","description":"Clicky","category":"hardware"}]}`
	activityBody = `[{"type":"viewed","item_id":"i1"}]`
)

// fixture is pagebff in front of three fake services, all over real HTTP.
type fixture struct {
	user, catalog, activity *testutil.Service
	app                     *app.App
	srv                     *testutil.SettledServer
	admin                   *httptest.Server // the admin listener, when admin.addr is set
	logs                    *syncBuffer
}

// handlers defaults every service to a healthy answer; a test overrides the
// ones it cares about.
type handlers struct {
	user, catalog, activity http.HandlerFunc
}

func newFixture(t testing.TB, h handlers, tweak func(*config.Config), opts ...app.Option) *fixture {
	t.Helper()
	if h.user == nil {
		h.user = testutil.JSON(userBody)
	}
	if h.catalog == nil {
		h.catalog = testutil.JSON(catalogBody)
	}
	if h.activity == nil {
		h.activity = testutil.JSON(activityBody)
	}
	f := &fixture{
		user:     testutil.NewService(t, h.user),
		catalog:  testutil.NewService(t, h.catalog),
		activity: testutil.NewService(t, h.activity),
		logs:     &syncBuffer{},
	}
	cfg := config.Default()
	urls := map[string]string{"user": f.user.URL, "catalog": f.catalog.URL, "activity": f.activity.URL}
	for i := range cfg.Services {
		cfg.Services[i].Downstream.URL = urls[cfg.Services[i].Name]
	}
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(false); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	if f.app, err = app.New(cfg, log, opts...); err != nil {
		t.Fatal(err)
	}
	f.srv = testutil.NewSettledServer(f.app.Handler())
	t.Cleanup(f.app.Close)
	t.Cleanup(f.srv.Close)
	if h := f.app.Server().AdminHandler(); h != nil {
		f.admin = httptest.NewServer(h)
		t.Cleanup(f.admin.Close)
	}
	return f
}

// settle waits until the pages asked for so far are wholly done: counted
// and logged.
func (f *fixture) settle() { f.srv.Settle() }

// setService changes one setting block for the named service.
func setService(cfg *config.Config, name string, change func(*config.Service)) {
	for i := range cfg.Services {
		if cfg.Services[i].Name == name {
			change(&cfg.Services[i])
		}
	}
}

// pageDoc is a decoded page.
type pageDoc struct {
	Sections map[string]json.RawMessage
	Meta     struct {
		RequestID string                 `json:"request_id"`
		Degraded  bool                   `json:"degraded"`
		Sections  map[string]sectionMeta `json:"sections"`
	}
}

type sectionMeta struct {
	Status    string `json:"status"`
	Source    string `json:"source"`
	Code      string `json:"code"`
	LatencyMS *int64 `json:"latency_ms"`
	AgeMS     *int64 `json:"age_ms"`
	Attempts  *int64 `json:"attempts"`
}

// sectionError decodes a section's error message.
func (p pageDoc) sectionError(name string) string {
	var s struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(p.Sections[name], &s)
	return s.Error
}

type reply struct {
	resp    *http.Response
	body    []byte
	page    pageDoc
	elapsed time.Duration
}

// get requests target (path and query) with optional header pairs.
func (f *fixture) get(t testing.TB, target string, header ...string) reply {
	t.Helper()
	return f.do(t, context.Background(), http.MethodGet, target, header...)
}

func (f *fixture) do(t testing.TB, ctx context.Context, method, target string, header ...string) reply {
	t.Helper()
	r, err := f.try(ctx, method, target, header...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try is do for goroutines other than the test's own, which must not call
// t.Fatal: it returns the error instead.
func (f *fixture) try(ctx context.Context, method, target string, header ...string) (reply, error) {
	return tryOn(f.srv.Server, ctx, method, target, header...)
}

// adminDo is do on the admin listener.
func (f *fixture) adminDo(t testing.TB, method, target string, header ...string) reply {
	t.Helper()
	if f.admin == nil {
		t.Fatal("no admin listener: set admin.addr")
	}
	r, err := tryOn(f.admin, context.Background(), method, target, header...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func tryOn(srv *httptest.Server, ctx context.Context, method, target string, header ...string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+target, nil)
	if err != nil {
		return reply{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	var r reply
	start := time.Now()
	r.resp, err = srv.Client().Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, target, err)
	}
	r.body, err = io.ReadAll(r.resp.Body)
	r.elapsed = time.Since(start)
	r.resp.Body.Close()
	if err != nil {
		return reply{}, fmt.Errorf("read body: %w", err)
	}
	if r.resp.StatusCode == http.StatusOK && strings.HasPrefix(target, "/v1/pages/") && method == http.MethodGet {
		if r.page, err = decodePage(r.body); err != nil {
			return reply{}, err
		}
	}
	return r, nil
}

func decodePage(body []byte) (pageDoc, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return pageDoc{}, fmt.Errorf("page is not JSON: %w\n%s", err, body)
	}
	var p pageDoc
	if err := json.Unmarshal(raw["meta"], &p.Meta); err != nil {
		return pageDoc{}, fmt.Errorf("meta: %w\n%s", err, body)
	}
	delete(raw, "meta")
	p.Sections = raw
	return p, nil
}

// leavingPage asks for a page with ctx on another goroutine, for a client
// that leaves (cancels ctx) while it renders; the channel gets the client's
// error.
func (f *fixture) leavingPage(ctx context.Context) <-chan error {
	answered := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/v1/pages/home?user_id=abc", nil)
		resp, err := f.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	return answered
}

// page fetches the home page for user abc.
func (f *fixture) page(t testing.TB) reply {
	t.Helper()
	r := f.get(t, "/v1/pages/home?user_id=abc")
	if r.resp.StatusCode != http.StatusOK {
		t.Fatalf("page status = %d, want 200; body %s", r.resp.StatusCode, r.body)
	}
	return r
}

// assertJSONEqual compares two JSON documents semantically.
func assertJSONEqual(t testing.TB, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: not JSON: %v: %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want: %v", what, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("%s = %s, want %s", what, gb, wb)
	}
}

// assertSection checks a section's meta status and code.
func assertSection(t testing.TB, p pageDoc, name, status, code string) {
	t.Helper()
	m, ok := p.Meta.Sections[name]
	if !ok {
		t.Fatalf("meta.sections has no %q: %+v", name, p.Meta.Sections)
	}
	if m.Status != status || m.Code != code {
		t.Fatalf("meta.sections.%s = status %q code %q, want %q %q (section %s)", name, m.Status, m.Code, status, code, p.Sections[name])
	}
	if m.LatencyMS == nil {
		t.Fatalf("meta.sections.%s has no latency_ms", name)
	}
	if status == "error" && m.Source != "" {
		t.Fatalf("meta.sections.%s: a section in error has source %q", name, m.Source)
	}
	if status == "error" && p.sectionError(name) == "" {
		t.Fatalf("section %s has no error field: %s", name, p.Sections[name])
	}
}

// syncBuffer is the fixture's log output, with JSON line helpers.
type syncBuffer struct{ testutil.LogBuffer }

// lines returns the decoded JSON log lines whose msg is msg.
func (b *syncBuffer) lines(t testing.TB, msg string) []map[string]any {
	t.Helper()
	data := b.Bytes()
	var out []map[string]any
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// eventually is testutil.Eventually, kept short for the many callers here.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, cond)
}

// newTestClock is an injected clock (app.WithClock) that moves only when
// told.
func newTestClock() *testutil.Clock { return testutil.NewClock(time.Unix(1_000_000, 0)) }
