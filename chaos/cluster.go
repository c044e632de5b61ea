package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pagebff/pagebff/internal/fakesvc"
)

// Binaries are the built programs a Cluster runs.
type Binaries struct {
	BFF       string // pagebff (or anything honouring its environment contract)
	Fakesvc   string // cmd/fakesvc
	Toxiproxy string // Toxiproxy's cmd/server; needed only with Config.Toxiproxy
}

// Config describes a Cluster.
type Config struct {
	Bin Binaries
	// Toxiproxy, when true, puts a Toxiproxy proxy between the BFF and
	// each fake service.
	Toxiproxy bool
	// FakeArgs are extra arguments for every fakesvc (e.g. latency bounds).
	FakeArgs []string
}

// Fake is one running fakesvc.
type Fake struct {
	Kind string
	URL  string // the fake's own base URL, not through Toxiproxy
	Proc *Process
	hc   *http.Client
}

// SetFaults replaces the fake's faults with faults (the JSON body of
// PUT /_chaos).
func (f *Fake) SetFaults(ctx context.Context, faults string) error {
	return f.control(ctx, http.MethodPut, faults, nil)
}

// ClearFaults clears every fault.
func (f *Fake) ClearFaults(ctx context.Context) error {
	return f.control(ctx, http.MethodDelete, "", nil)
}

// Status returns the fake's faults and request counts.
func (f *Fake) Status(ctx context.Context) (fakesvc.Status, error) {
	var st fakesvc.Status
	err := f.control(ctx, http.MethodGet, "", &st)
	return st, err
}

func (f *Fake) control(ctx context.Context, method, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, f.URL+fakesvc.ControlPath, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s fake: %s %s: %w", f.Kind, method, fakesvc.ControlPath, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s fake: %s %s: %w", f.Kind, method, fakesvc.ControlPath, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s fake: %s %s: %s: %s", f.Kind, method, fakesvc.ControlPath, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Cluster is three fake services, optionally Toxiproxy in front of them,
// and a BFF started with StartBFF. Close stops everything.
type Cluster struct {
	cfg   Config
	Fakes map[string]*Fake // by kind
	// Toxi and Proxies (by kind) are set when Config.Toxiproxy is.
	Toxi    *Toxiproxy
	Proxies map[string]Proxy
	toxi    *Process

	BFF *Process // the running BFF, or nil
	URL string   // its base URL
	hc  *http.Client
}

// StartCluster starts the fakes and, if configured, Toxiproxy with one proxy
// per fake. On error whatever started is stopped again.
func StartCluster(ctx context.Context, cfg Config) (c *Cluster, err error) {
	c = &Cluster{cfg: cfg, Fakes: map[string]*Fake{}, Proxies: map[string]Proxy{}, hc: &http.Client{Timeout: 5 * time.Second}}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	for _, kind := range fakesvc.Kinds {
		args := append([]string{"--kind", kind, "--addr", "127.0.0.1:0"}, cfg.FakeArgs...)
		p, err := StartProcess("fakesvc-"+kind, cfg.Bin.Fakesvc, args, nil)
		if err != nil {
			return nil, err
		}
		c.Fakes[kind] = &Fake{Kind: kind, Proc: p, hc: c.hc}
		addr, err := p.WaitListening(10 * time.Second)
		if err != nil {
			return nil, err
		}
		c.Fakes[kind].URL = "http://" + addr
	}
	if !cfg.Toxiproxy {
		return c, nil
	}
	if err := c.startToxiproxy(ctx); err != nil {
		return nil, err
	}
	for _, kind := range fakesvc.Kinds {
		p, err := c.Toxi.CreateProxy(ctx, kind, "127.0.0.1:0", strings.TrimPrefix(c.Fakes[kind].URL, "http://"))
		if err != nil {
			return nil, err
		}
		c.Proxies[kind] = p
	}
	return c, nil
}

// startToxiproxy starts the server on a free loopback port. The port is
// found by listening on port 0 and closing; should something else take it
// in between, the server fails and the next attempt picks another.
func (c *Cluster) startToxiproxy(ctx context.Context) error {
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return err
		}
		// Toxiproxy logs every API call at info; keep it quiet.
		p, err := StartProcess("toxiproxy", c.cfg.Bin.Toxiproxy, []string{"-host", "127.0.0.1", "-port", strconv.Itoa(port)}, []string{"LOG_LEVEL=warn"})
		if err != nil {
			return err
		}
		t := &Toxiproxy{URL: "http://127.0.0.1:" + strconv.Itoa(port), Client: c.hc}
		if lastErr = waitToxiproxy(ctx, t, p); lastErr == nil {
			c.Toxi, c.toxi = t, p
			return nil
		}
		p.Kill()
	}
	return fmt.Errorf("start toxiproxy: %w", lastErr)
}

// waitToxiproxy waits until the API answers.
func waitToxiproxy(ctx context.Context, t *Toxiproxy, p *Process) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := t.Version(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("toxiproxy API not answering after 10s: %w; output:\n%s", err, p.Tail(20))
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("toxiproxy exited: %w; output:\n%s", err, p.Tail(20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ServiceURL returns the base URL the BFF should use for kind: the proxy's
// when Toxiproxy is on, else the fake's own.
func (c *Cluster) ServiceURL(kind string) string {
	if p, ok := c.Proxies[kind]; ok {
		return "http://" + p.Listen
	}
	return c.Fakes[kind].URL
}

// StartBFF starts bin (pagebff or a stand-in honouring its environment) on
// a free loopback port against the cluster's services, with pagebff's
// default config file skipped and env added, and waits until /readyz
// answers 200. It is the cluster's BFF: c.BFF and c.URL.
func (c *Cluster) StartBFF(bin string, env ...string) error {
	if c.BFF != nil {
		return errors.New("a BFF is already running; StopBFF first")
	}
	b, err := c.LaunchBFF("bff", []string{bin}, env...)
	if err != nil {
		return err
	}
	c.BFF, c.URL = b.Proc, b.URL
	return nil
}

// BFF is a pagebff process started by LaunchBFF.
type BFF struct {
	Proc *Process
	URL  string // its base URL, http://127.0.0.1:port
}

// LaunchBFF starts argv — a pagebff binary and its arguments, or a wrapper
// that execs one, such as WithOpenFileLimit makes — as StartBFF does, and
// waits until /readyz answers 200. It may run beside the cluster's own BFF
// (c.BFF); it is not stopped by Close: stop it with b.Proc.Stop.
func (c *Cluster) LaunchBFF(name string, argv []string, env ...string) (*BFF, error) {
	base := []string{
		"BFF_CONFIG=", "BFF_ADDR=127.0.0.1:0",
		"USER_SERVICE_URL=" + c.ServiceURL("user"),
		"CATALOG_SERVICE_URL=" + c.ServiceURL("catalog"),
		"ACTIVITY_SERVICE_URL=" + c.ServiceURL("activity"),
	}
	p, err := StartProcess(name, argv[0], argv[1:], append(base, env...))
	if err != nil {
		return nil, err
	}
	addr, err := p.WaitListening(20 * time.Second)
	if err != nil {
		p.Kill()
		return nil, err
	}
	b := &BFF{Proc: p, URL: "http://" + addr}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.hc.Get(b.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return b, nil
			}
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("%s never ready (%v); output:\n%s", name, err, p.Tail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WithOpenFileLimit returns argv wrapped to run with an open-file limit of
// n, soft and hard: sh's `ulimit -n` sets both, and the shell execs the
// program, so its pid is the program's. (Go raises a program's soft limit
// to its hard one when it starts: setting only the soft one would not
// hold.)
func WithOpenFileLimit(n int, argv []string) []string {
	return append([]string{"/bin/sh", "-c", `ulimit -n ` + strconv.Itoa(n) + ` && exec "$0" "$@"`}, argv...)
}

// StopBFF stops the BFF with SIGTERM; an error means it did not stop
// cleanly (exit status 0 within 15s).
func (c *Cluster) StopBFF() error {
	if c.BFF == nil {
		return nil
	}
	err := c.BFF.Stop(15 * time.Second)
	c.BFF, c.URL = nil, ""
	return err
}

// PageURL returns the URL of a home page for user id u<i mod users>.
func (c *Cluster) PageURL(users int) func(i int) string {
	base := c.URL + "/v1/pages/home?user_id=u"
	return func(i int) string { return base + strconv.Itoa(i%users) }
}

// Metrics scrapes the BFF's /metrics.
func (c *Cluster) Metrics(ctx context.Context) (Metrics, error) {
	return Scrape(ctx, c.hc, c.URL+"/metrics")
}

// Close stops every process: the BFF gracefully, the rest at once.
func (c *Cluster) Close() error {
	err := c.StopBFF()
	if c.toxi != nil {
		c.toxi.Kill()
	}
	for _, f := range c.Fakes {
		f.Proc.Kill()
	}
	c.hc.CloseIdleConnections()
	return err
}
