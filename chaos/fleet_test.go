//go:build chaos && fleet

package chaos_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagebff/pagebff/chaos"
	"github.com/pagebff/pagebff/internal/testutil"
)

// The fleet drill runs with `make fleet`, which builds the binaries and
// passes their paths (-bff, -fakesvc: the chaos suite's flags); see README
// "Running a fleet".
var fleetRate = flag.Float64("fleet-rate", 300, "pages per second through the load balancer, open loop")

const (
	fleetSize   = 3
	fleetUsers  = 5000 // distinct user ids: most pages are new to the instance that serves them
	slowPage    = 500 * time.Millisecond
	drainDelay  = time.Second // > HAProxy's health check interval × fall
	healthEvery = 200 * time.Millisecond
	// A fleet member's settings, ConfigMap-style in its own directory.
	fleetConfig = `server:
  drain_delay: %s
  shutdown_timeout: 10s
admin:
  addr: "127.0.0.1:%d"
cache:
  backend: redis
  redis_url: "redis://%s/0"
defaults:
  breaker:
    open_timeout: %s
services:
  catalog:
    cache:
      fresh_ttl: 1s    # then looked up in Redis: Redis is on the page's path
      revalidate: 0s
`
)

// member is one pagebff of the fleet, on fixed ports so HAProxy finds it
// again after a restart.
type member struct {
	name            string
	port, adminPort int
	dir             string // its ConfigMap-style config directory
	proc            *chaos.Process
}

func (m *member) addr() string { return "127.0.0.1:" + strconv.Itoa(m.port) }

// writeConfig publishes a new version of m's bff.yaml the way the kubelet
// updates a mounted ConfigMap: a new timestamped directory, then one
// atomic rename of the ..data symlink.
func (m *member) writeConfig(t *testing.T, version, redisAddr, openTimeout string) {
	t.Helper()
	dir := filepath.Join(m.dir, ".."+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(fleetConfig, drainDelay, m.adminPort, redisAddr, openTimeout)
	if err := os.WriteFile(filepath.Join(dir, "bff.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(m.dir, "..data_tmp")
	os.Remove(tmp)
	if err := os.Symlink(".."+version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(m.dir, "bff.yaml")
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(filepath.Join("..data", "bff.yaml"), link); err != nil {
			t.Fatal(err)
		}
	}
}

type fleet struct {
	t       *testing.T
	c       *chaos.Cluster
	redis   *testutil.RedisServer
	members []*member
	lb      *chaos.Process
	lbAddr  string
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (f *fleet) start(m *member) {
	f.t.Helper()
	b, err := f.c.LaunchBFF(m.name, []string{*bffBin}, "BFF_CONFIG="+filepath.Join(m.dir, "bff.yaml"),
		"BFF_ADDR="+m.addr())
	if err != nil {
		f.t.Fatal(err)
	}
	m.proc = b.Proc
}

// haproxyConfig balances over the members with health checks on /readyz;
// a GET that fails to connect, or whose connection dies before any answer
// byte, is tried again on another member (safe for an idempotent GET).
func (f *fleet) haproxyConfig(port int) string {
	var servers strings.Builder
	for _, m := range f.members {
		fmt.Fprintf(&servers, "    server %s %s check inter %s fall 2 rise 1\n", m.name, m.addr(), healthEvery)
	}
	return fmt.Sprintf(`global
    maxconn 4000
defaults
    mode http
    timeout connect 200ms
    timeout client 10s
    timeout server 2s
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend pages
    bind 127.0.0.1:%d
    default_backend bffs
backend bffs
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    http-reuse safe
%s`, port, servers.String())
}

// TestFleet: three pagebff behind HAProxy sharing one Redis, under an
// open-loop load, through a rolling restart, an instance killed, an
// outage a cold instance rides out on what the others stored, Redis
// itself going away, and a config change rolled out on every member.
func TestFleet(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		msg := "haproxy not installed: apt-get install haproxy"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx := context.Background()
	f := &fleet{t: t, redis: testutil.StartRedis(t)}
	f.c, err = chaos.StartCluster(ctx, chaos.Config{
		Bin:      chaos.Binaries{BFF: *bffBin, Fakesvc: *fakesvcBin},
		FakeArgs: []string{"--min-latency", "5ms", "--max-latency", "15ms"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.c.Close()
	for i := range fleetSize + 1 { // the last one starts cold, later
		m := &member{name: fmt.Sprintf("bff%d", i+1), port: freeLoopbackPort(t), adminPort: freeLoopbackPort(t),
			dir: t.TempDir()}
		m.writeConfig(t, "2026_a", f.redis.Addr(), "5s")
		f.members = append(f.members, m)
	}
	cold := f.members[fleetSize]
	f.members = f.members[:fleetSize]
	for _, m := range f.members {
		f.start(m)
		defer func(m *member) {
			if m.proc != nil {
				m.proc.Stop(15 * time.Second)
			}
		}(m)
	}
	lbPort := freeLoopbackPort(t)
	cfgPath := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(f.haproxyConfig(lbPort)), 0o644); err != nil {
		t.Fatal(err)
	}
	f.lb, err = chaos.StartProcess("haproxy", haproxy, []string{"-db", "-f", cfgPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.lb.Kill()
	f.lbAddr = "127.0.0.1:" + strconv.Itoa(lbPort)
	if !waitFor(10*time.Second, func() bool { return pageOK("http://" + f.lbAddr) }) {
		t.Fatalf("HAProxy not answering within 10s; its output:\n%s", f.lb.Tail(20))
	}

	pages := func(base string) func(int) string {
		return func(i int) string { return base + "/v1/pages/home?user_id=u" + strconv.Itoa(i%fleetUsers) }
	}
	lbPages := pages("http://" + f.lbAddr)
	type verdict struct {
		st      phaseStats
		proves  string
		allowed int // failed or slow pages the scenario may show
	}
	var verdicts []verdict
	run := func(name, proves string, allowed int, during func()) phaseStats {
		r := chaos.Load{Rate: *fleetRate, URL: lbPages, Decode: true}.Start()
		during()
		res := r.Stop()
		st := summarize(name, res)
		slow := 0
		for _, x := range res {
			if x.Latency > slowPage {
				slow++
			}
		}
		st.failed += slow
		verdicts = append(verdicts, verdict{st, proves, allowed})
		t.Logf("%s  (failed or slow: %d, allowed %d) — %s", st, st.failed, allowed, proves)
		if st.failed > allowed {
			t.Errorf("%s: %d failed or slow pages, at most %d allowed", name, st.failed, allowed)
		}
		return st
	}
	sleep := func(d time.Duration) func() { return func() { time.Sleep(d) } }

	run("warm-up", "every instance fills the shared cache", 0, sleep(3*time.Second))
	base := run("baseline", "the fleet healthy", 0, sleep(3*time.Second))

	run("rolling restart", "SIGTERM, drain, restart, one at a time: no failed or slow page", 0, func() {
		for _, m := range f.members {
			if err := m.proc.Stop(15 * time.Second); err != nil {
				t.Errorf("%s did not stop cleanly: %v", m.name, err)
			}
			f.start(m)
			time.Sleep(2 * healthEvery) // HAProxy's next check marks it up
		}
	})

	// SIGKILL: the requests the instance had in flight die with it; HAProxy
	// retries those that had no answer byte yet on another instance.
	inflight := int(*fleetRate*float64(base.p99)/float64(time.Second)) + 1
	run("instance killed", fmt.Sprintf("SIGKILL one: failures bounded by its requests in flight (≤ %d)", 2*inflight), 2*inflight, func() {
		time.Sleep(time.Second)
		victim := f.members[1]
		syscall.Kill(victim.proc.Pid(), syscall.SIGKILL)
		<-victim.proc.Exited()
		time.Sleep(2 * time.Second)
		f.start(victim)
		time.Sleep(time.Second)
	})

	// The user service goes down after warm-up; a fourth instance starts
	// cold and serves user sections it never fetched, from Redis.
	if err := f.c.Fakes["user"].SetFaults(ctx, `{"error": {"status": 503}}`); err != nil {
		t.Fatal(err)
	}
	f.start(cold)
	defer cold.proc.Stop(15 * time.Second)
	coldRun := chaos.Load{Rate: 100, URL: func(i int) string { return pages("http://" + cold.addr())(i % 1000) }, Decode: true}.Start()
	time.Sleep(3 * time.Second)
	coldRes := coldRun.Stop()
	cst := summarize("cold instance, user down", coldRes)
	staleUser := 0
	for _, r := range coldRes {
		if r.Sections["user"].Status == "stale" {
			staleUser++
		}
	}
	t.Logf("%s — the cold instance served %d of %d user sections stale from Redis, never having fetched one",
		cst, staleUser, len(coldRes))
	if cst.failed > 0 || staleUser < len(coldRes)*9/10 {
		t.Errorf("cold instance: %d failed pages, %d of %d user sections stale; want none failed and ≥90%% stale",
			cst.failed, staleUser, len(coldRes))
	}
	verdicts = append(verdicts, verdict{cst, fmt.Sprintf("a cold instance serves what others stored (%d/%d stale)", staleUser, len(coldRes)), 0})
	if err := f.c.Fakes["user"].ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}

	redisRun := run("redis killed, restarted", "no failed page; p99 within redis_timeout of the baseline", 0, func() {
		time.Sleep(time.Second)
		f.redis.Kill()
		time.Sleep(3 * time.Second)
		f.redis.Restart()
		time.Sleep(3 * time.Second)
	})
	if limit := base.p99 + 20*time.Millisecond + 30*time.Millisecond; redisRun.p99 > limit {
		t.Errorf("redis killed: p99 %v, want within redis_timeout (20ms, plus 30ms for a busy machine) of the baseline %v", redisRun.p99, base.p99)
	}

	run("config rollout", "a ConfigMap-style symlink swap on every instance: applied everywhere, no failed page", 0, func() {
		for _, m := range f.members {
			m.writeConfig(t, "2026_b", f.redis.Addr(), "7s")
		}
		mustWait(t, "the new config applied on every instance", 10*time.Second, func() bool {
			for _, m := range f.members {
				if memberOpenTimeout(m) != "7s" {
					return false
				}
			}
			return true
		})
		time.Sleep(time.Second)
	})

	t.Log("fleet drill summary:")
	for _, v := range verdicts {
		t.Logf("  %-26s pages %5d  statuses %v  p50 %s p99 %s max %s  failed or slow %d (allowed %d): %s",
			v.st.name, v.st.pages, v.st.statusCounts, ms(v.st.p50), ms(v.st.p99), ms(v.st.max), v.st.failed, v.allowed, v.proves)
	}
}

// memberOpenTimeout reads the user breaker's open_timeout from m's admin view.
func memberOpenTimeout(m *member) string {
	resp, err := chaos.NewClient(2 * time.Second).Get("http://127.0.0.1:" + strconv.Itoa(m.adminPort) + "/admin/breakers")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var v struct {
		Services map[string]struct {
			Settings struct {
				OpenTimeout string `json:"open_timeout"`
			} `json:"settings"`
		} `json:"services"`
	}
	if json.NewDecoder(resp.Body).Decode(&v) != nil {
		return ""
	}
	return v.Services["user"].Settings.OpenTimeout
}

func pageOK(base string) bool {
	resp, err := chaos.NewClient(time.Second).Get(base + "/v1/pages/home?user_id=u0")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// mustWait fails t unless cond holds within d.
func mustWait(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	if !waitFor(d, cond) {
		t.Fatalf("%s: not within %v", what, d)
	}
}
