//go:build browser

package dashboardtest

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/pagebff/pagebff/chaos"
)

var (
	bffFlag        = flag.String("bff", "", "the bff binary to test (default: built from ./cmd/bff into a temporary directory)")
	screenshotFlag = flag.String("screenshot", "", "where to write the screenshot taken during a fault (default: docs/dashboard.png in the module)")
)

const token = "dashboard-test-token"

// moduleRoot is the directory holding go.mod, above this package's.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	buildDir  string // removed after the tests
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// bffBinary returns -bff, or builds ./cmd/bff once for the run.
func bffBinary(t *testing.T) string {
	t.Helper()
	if *bffFlag != "" {
		return *bffFlag
	}
	buildOnce.Do(func() {
		var err error
		if buildDir, err = os.MkdirTemp("", "dashboardtest-"); err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(buildDir, "bff")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/bff")
		cmd.Dir = moduleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/bff: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// chromium finds the browser, skipping the test without one (failing
// under CI=true, where a missing browser is a broken set-up).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium not installed: apt-get install chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// instance is a running bff --demo with its admin listener on loopback.
type instance struct {
	proc       *chaos.Process
	addr       string // the page listener, 127.0.0.1:NNNN
	admin      string // the admin listener
	adminToken string
}

func startBFF(t *testing.T, adminToken string) *instance {
	t.Helper()
	// admin.addr must differ from server.addr, so it cannot be port 0 too.
	env := []string{"BFF_CONFIG=", "BFF_ADDR=127.0.0.1:0", "BFF_ADMIN_ADDR=" + freeAddr(t)}
	if adminToken != "" {
		env = append(env, "BFF_ADMIN_TOKEN="+adminToken)
	}
	p, err := chaos.StartProcess("bff", bffBinary(t), []string{"--demo"}, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(10 * time.Second); err != nil {
			t.Errorf("stop bff: %v", err)
		}
	})
	addr, err := p.WaitListening(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{proc: p, addr: addr, adminToken: adminToken}
	for _, l := range p.Lines(`"listening"`) {
		var line struct {
			Msg       string `json:"msg"`
			AdminAddr string `json:"admin_addr"`
		}
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "listening" && line.AdminAddr != "" {
			in.admin = line.AdminAddr
		}
	}
	if in.admin == "" {
		t.Fatalf("no admin_addr in the listening line:\n%s", p.Tail(10))
	}
	return in
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (in *instance) dashboardURL() string { return "http://" + in.admin + "/admin/dashboard" }

// adminDo sends an admin request, with the token when asked.
func (in *instance) adminDo(t *testing.T, method, path string, withToken bool) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+in.admin+path, nil)
	if withToken {
		req.Header.Set("Authorization", "Bearer "+in.adminToken)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Type") == "text/event-stream" {
		// One event is enough: the stream goes on until the context ends.
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				return res, sc.Bytes()
			}
		}
		return res, nil
	}
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// load sends pages until stopped, about rate a second.
func (in *instance) load(t *testing.T, rate int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent atomic.Int64
	client := &http.Client{Timeout: 5 * time.Second}
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Go(func() {
				res, err := client.Get(fmt.Sprintf("http://%s/v1/pages/home?user_id=u%d", in.addr, i%50))
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					sent.Add(1)
				}
			})
		}
	})
	return func() {
		cancel()
		wg.Wait()
		t.Logf("load: %d pages", sent.Load())
	}
}

// browser is a headless Chromium tab that records console errors and
// uncaught exceptions.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.WindowSize(1280, 900),
		chromedp.NoSandbox, // root in a container
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{ctx: ctx}
	// The first call starts the browser, on a context without a deadline
	// (a deadline there would end the browser with it).
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, strings.TrimSpace(string(a.Value)+" "+a.Description))
				}
				b.record("console." + string(ev.Type) + ": " + strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.record(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b.run(t, 10*time.Second, "set the viewport", chromedp.EmulateViewport(1280, 900))
	return b
}

func (b *browser) record(s string) {
	b.mu.Lock()
	b.errors = append(b.errors, s)
	b.mu.Unlock()
}

// noErrors fails the test if the page logged an error or threw.
func (b *browser) noErrors(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		t.Errorf("page error: %s", e)
	}
	b.errors = nil
}

// run runs actions with a deadline.
func (b *browser) run(t *testing.T, within time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds, and returns how long
// that took.
func (b *browser) waitFor(t *testing.T, within time.Duration, what, cond string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for !eval[bool](t, b, "!!("+cond+")") {
		if time.Now().After(deadline) {
			status := eval[string](t, b, `document.getElementById("status").textContent`)
			t.Fatalf("not within %v: %s (%s); the page's status: %q", within, what, cond, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func (b *browser) text(t *testing.T, expr string) string {
	t.Helper()
	return eval[string](t, b, expr)
}

const (
	allServices = `["user","catalog","activity"].every(n => { const e = document.querySelector('[data-service="' + n + '"]'); return e && !e.hidden && e.offsetHeight > 0; })`
	pagesPerSec = `document.getElementById("pages-per-sec").textContent`
)

// TestDashboardOpen: a pagebff without a token, its admin listener on
// loopback (open for reading there): the page shows all three services at
// once, no drill buttons, and follows the load.
func TestDashboardOpen(t *testing.T) {
	in := startBFF(t, "")
	b := newBrowser(t)
	b.run(t, 20*time.Second, "load the dashboard", chromedp.Navigate(in.dashboardURL()))
	b.waitFor(t, 5*time.Second, "the three services shown", allServices)
	if drills := eval[int](t, b, `[...document.querySelectorAll(".drills")].filter(d => !d.hidden).length`); drills != 0 {
		t.Errorf("%d services show drill buttons without a token", drills)
	}

	idle := b.text(t, pagesPerSec)
	stop := in.load(t, 40)
	defer stop()
	b.waitFor(t, 10*time.Second, "pages/s to follow the load (was "+idle+")",
		pagesPerSec+` !== `+strconv.Quote(idle)+` && parseFloat(`+pagesPerSec+`) > 5`)
	// Under load the latency shows, and the sparkline draws.
	b.waitFor(t, 5*time.Second, "page p99 shown", `document.getElementById("pages-p99").textContent.endsWith(" ms")`)
	b.waitFor(t, 5*time.Second, "the pages/s sparkline drawn",
		`document.querySelector("#spark-pages-rate polyline").getAttribute("points").split(" ").length > 2`)

	// A narrow window: nothing wider than it.
	b.run(t, 5*time.Second, "narrow the window", chromedp.EmulateViewport(380, 800))
	time.Sleep(300 * time.Millisecond)
	if sw, iw := eval[int](t, b, `document.documentElement.scrollWidth`), eval[int](t, b, `window.innerWidth`); sw > iw {
		t.Errorf("at 380px wide the page is %dpx wide (window %dpx): it scrolls sideways", sw, iw)
	}
	b.noErrors(t)
}

// TestDashboardToken: with admin.token set, the page asks for it and shows
// nothing else; the stream refuses requests without it; given the token,
// the page shows the data and the drills, follows a drill that opens a
// breaker within three seconds, and keeps the token for the tab.
func TestDashboardToken(t *testing.T) {
	in := startBFF(t, token)

	// Plain HTTP first: the stream and the JSON need the token, the page
	// does not.
	for _, tt := range []struct {
		path      string
		withToken bool
		want      int
	}{
		{"/admin/dashboard", false, 200},
		{"/admin/dashboard/stream", false, 401},
		{"/admin/dashboard.json", false, 401},
		{"/admin/dashboard/stream", true, 200},
		{"/admin/dashboard.json", true, 200},
	} {
		res, body := in.adminDo(t, http.MethodGet, tt.path, tt.withToken)
		if res.StatusCode != tt.want {
			t.Errorf("GET %s (token %v): %s, want %d", tt.path, tt.withToken, res.Status, tt.want)
		}
		if tt.withToken && !strings.Contains(string(body), `"name":"activity"`) {
			t.Errorf("GET %s with the token: %.200s, want the services", tt.path, body)
		}
	}

	b := newBrowser(t)
	b.run(t, 20*time.Second, "load the dashboard", chromedp.Navigate(in.dashboardURL()))
	b.waitFor(t, 5*time.Second, "the token prompt", `!document.getElementById("prompt").hidden`)
	type view struct {
		Board    bool `json:"board"`
		Services int  `json:"services"`
		Message  bool `json:"message"`
	}
	shown := eval[view](t, b, `({board: !document.getElementById("board").hidden, services: document.querySelectorAll("[data-service]").length,
		message: !document.getElementById("message").hidden})`)
	if shown.Board || shown.Services != 0 || shown.Message {
		t.Fatalf("before the token: %+v, want nothing but the prompt", shown)
	}

	b.run(t, 5*time.Second, "enter the token",
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("token-submit")))
	b.waitFor(t, 5*time.Second, "the three services shown after the token", allServices)
	b.waitFor(t, 2*time.Second, "the drill buttons shown with a token",
		`[...document.querySelectorAll(".drills")].filter(d => !d.hidden).length === 3`)
	if stored := b.text(t, `sessionStorage.getItem("pagebff.admin.token") || ""`); stored != token {
		t.Errorf("sessionStorage holds %q, want the token", stored)
	}
	if cookies := b.text(t, `document.cookie`); cookies != "" {
		t.Errorf("cookies %q, want none", cookies)
	}

	// Some healthy load first, so the sparklines show the fault begin.
	stop := in.load(t, 40)
	defer stop()
	b.waitFor(t, 10*time.Second, "pages/s to follow the load", `parseFloat(`+pagesPerSec+`) > 5`)
	time.Sleep(4 * time.Second)
	userBreaker := `document.querySelector('[data-service="user"] .breaker').textContent`
	if s := b.text(t, userBreaker); !strings.HasPrefix(s, "closed") {
		t.Fatalf("user breaker shows %q before the drill, want closed", s)
	}

	// The drill: the page's own button POSTs /admin/breakers/user/open.
	b.run(t, 5*time.Second, "click open", chromedp.Click(chromedp.CSS(`[data-service="user"] button[data-action="open"]`)))
	took := b.waitFor(t, 3*time.Second, "the user breaker shown open", userBreaker+`.startsWith("open")`)
	t.Logf("the open breaker showed %v after the click", took.Round(time.Millisecond))
	res, body := in.adminDo(t, http.MethodGet, "/admin/breakers", true)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"forced":"open"`) {
		t.Errorf("GET /admin/breakers after the drill: %s %.300s", res.Status, body)
	}
	// And a drill from outside the page (curl, another operator) shows
	// too.
	if res, body := in.adminDo(t, http.MethodPost, "/admin/breakers/catalog/open", true); res.StatusCode != 200 {
		t.Fatalf("POST /admin/breakers/catalog/open: %s %s", res.Status, body)
	}
	b.waitFor(t, 3*time.Second, "the catalog breaker shown open",
		`document.querySelector('[data-service="catalog"] .breaker').textContent.startsWith("open")`)
	if res, body := in.adminDo(t, http.MethodPost, "/admin/breakers/catalog/reset", true); res.StatusCode != 200 {
		t.Fatalf("POST /admin/breakers/catalog/reset: %s %s", res.Status, body)
	}
	b.waitFor(t, 3*time.Second, "the user section failing shows in not ok/s",
		`parseFloat(document.querySelector('[data-service="user"] .not-ok').textContent) > 0`)
	b.waitFor(t, 3*time.Second, "the time in state counting",
		`/^for [1-9]/.test(document.querySelector('[data-service="user"] .since').textContent)`)

	// A few seconds of the fault on the sparklines, then the picture.
	time.Sleep(6 * time.Second)
	screenshot(t, b)

	b.run(t, 5*time.Second, "click reset", chromedp.Click(chromedp.CSS(`[data-service="user"] button[data-action="reset"]`)))
	b.waitFor(t, 3*time.Second, "the user breaker shown closed again", userBreaker+`.startsWith("closed")`)

	// The token is kept for the tab: a reload goes straight to the data.
	b.run(t, 20*time.Second, "reload", chromedp.Reload())
	b.waitFor(t, 5*time.Second, "the services after a reload, without the prompt", allServices+` && document.getElementById("prompt").hidden`)

	// Forgetting it goes back to the prompt, and the data goes away.
	b.run(t, 5*time.Second, "forget the token", chromedp.Click(chromedp.ID("forget")))
	b.waitFor(t, 3*time.Second, "the prompt after forgetting the token",
		`!document.getElementById("prompt").hidden && document.getElementById("board").hidden`)
	b.noErrors(t)
}

// screenshot writes the viewport to docs/dashboard.png (or -screenshot).
func screenshot(t *testing.T, b *browser) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := *screenshotFlag
	if path == "" {
		path = filepath.Join(moduleRoot(t), "docs", "dashboard.png")
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("write the screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
