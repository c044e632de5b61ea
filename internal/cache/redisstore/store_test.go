package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/pagebff/pagebff/internal/cache"
	"github.com/pagebff/pagebff/internal/testutil"
)

// testTimeout bounds every command in these tests: wider than the 20ms
// default, for a loaded machine running -race.
const testTimeout = 50 * time.Millisecond

// recorder is an Observer that remembers what it was told.
type recorder struct {
	mu       sync.Mutex
	commands map[string]int
	failed   map[string]int
	dropped  int
	states   []string
}

func newRecorder() *recorder {
	return &recorder{commands: map[string]int{}, failed: map[string]int{}}
}

func (r *recorder) Command(name string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands[name]++
	if err != nil {
		r.failed[name]++
	}
}

func (r *recorder) WriteDropped() {
	r.mu.Lock()
	r.dropped++
	r.mu.Unlock()
}

func (r *recorder) BreakerState(s string) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
}

func (r *recorder) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.commands[name]
}

func (r *recorder) drops() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

func (r *recorder) stateLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.states...)
}

// newStore returns a Store on url, closed when the test ends.
func newStore(t *testing.T, cfg Config, log *slog.Logger, obs Observer) *Store {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = testTimeout
	}
	s, err := New(cfg, log, obs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// client is a plain go-redis client on srv, to look at what the Store did.
func client(t *testing.T, srv *testutil.RedisServer) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.Protocol = 2
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func entry(body string, storedAt time.Time) cache.Entry {
	return cache.Entry{Body: []byte(body), StoredAt: storedAt, Fresh: 10 * time.Second, Revalidate: 5 * time.Second, StaleFor: time.Minute}
}

// eventuallyGet polls s until key is found and returns it.
func eventuallyGet(t *testing.T, s *Store, key string) cache.Entry {
	t.Helper()
	var got cache.Entry
	testutil.Eventually(t, "the entry "+key+" in Redis", func() bool {
		e, ok, err := s.Get(context.Background(), key)
		got = e
		return ok && err == nil
	})
	return got
}

func sameEntry(t *testing.T, got, want cache.Entry) {
	t.Helper()
	if string(got.Body) != string(want.Body) || !got.StoredAt.Equal(want.StoredAt) ||
		got.Fresh != want.Fresh || got.Revalidate != want.Revalidate || got.StaleFor != want.StaleFor {
		t.Fatalf("entry = %+v (body %s), want %+v (body %s)", got, got.Body, want, want.Body)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	obs := newRecorder()
	s := newStore(t, Config{URL: srv.URL()}, nil, obs)
	ctx := context.Background()

	if _, ok, err := s.Get(ctx, "catalog /items"); ok || err != nil {
		t.Fatalf("Get before Put = %v, %v; want a miss", ok, err)
	}
	want := entry(`{"items":[1,2]}`, time.Now())
	if err := s.Put(ctx, "catalog /items", want); err != nil {
		t.Fatal(err)
	}
	sameEntry(t, eventuallyGet(t, s, "catalog /items"), want)

	if err := s.Delete(ctx, "catalog /items"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the delete", func() bool {
		_, ok, err := s.Get(ctx, "catalog /items")
		return !ok && err == nil
	})
	st := s.Stats()
	if st.Written != 2 || st.Dropped != 0 || st.Errors != 0 || st.State != "closed" || st.Addr != srv.Addr() {
		t.Errorf("Stats = %+v, want 2 written (a SET, a DEL), none dropped, closed, addr %s", st, srv.Addr())
	}
	if obs.count("get") == 0 || obs.count("pipeline") != 2 {
		t.Errorf("observed commands %v, want gets and 2 pipelines", obs.commands)
	}
}

// A second instance reads what the first wrote, with the same StoredAt:
// ages agree across the fleet.
func TestAgesAgreeAcrossInstances(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	a := newStore(t, Config{URL: srv.URL()}, nil, nil)
	b := newStore(t, Config{URL: srv.URL()}, nil, nil)

	want := entry(`{"id":"abc"}`, time.Now().Add(-5*time.Second).Round(0)) // wall clock only, as in Redis
	if err := a.Put(context.Background(), "user /users/abc", want); err != nil {
		t.Fatal(err)
	}
	got := eventuallyGet(t, b, "user /users/abc")
	sameEntry(t, got, want)
	now := time.Now()
	if got.Age(now) != want.Age(now) || got.Age(now) < 5*time.Second {
		t.Errorf("age on the second instance %v, on the first %v", got.Age(now), want.Age(now))
	}
}

func TestExpiryIsEntryExpires(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	s := newStore(t, Config{URL: srv.URL()}, nil, nil)
	rc := client(t, srv)
	ctx := context.Background()

	tests := []struct {
		key string
		e   cache.Entry
	}{
		// Stale-on-error outlasts freshness and revalidation.
		{"a /stale-longest", cache.Entry{Body: []byte(`{}`), StoredAt: time.Now(), Fresh: 10 * time.Second, Revalidate: 5 * time.Second, StaleFor: time.Minute}},
		// Freshness and revalidation outlast stale-on-error.
		{"a /fresh-longest", cache.Entry{Body: []byte(`{}`), StoredAt: time.Now().Add(-10 * time.Second), Fresh: 30 * time.Second, Revalidate: 20 * time.Second, StaleFor: 5 * time.Second}},
	}
	for _, tt := range tests {
		if err := s.Put(ctx, tt.key, tt.e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		eventuallyGet(t, s, tt.key)
		want := time.Until(tt.e.Expires())
		pttl, err := rc.PTTL(ctx, "pagebff:v1:"+tt.key).Result()
		if err != nil {
			t.Fatal(err)
		}
		// Redis counts in milliseconds from its own clock reading.
		if pttl > want+5*time.Millisecond || pttl < want-2*time.Second {
			t.Errorf("%s: PTTL %v, want about %v (Entry.Expires)", tt.key, pttl, want)
		}
	}
}

func TestKeyPrefixAndVersion(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	rc := client(t, srv)
	ctx := context.Background()
	for _, tt := range []struct{ prefix, want string }{
		{"", "pagebff:v1:catalog /items"},
		{"team-a:", "team-a:v1:catalog /items"},
	} {
		s := newStore(t, Config{URL: srv.URL(), Prefix: tt.prefix}, nil, nil)
		if err := s.Put(ctx, "catalog /items", entry(`{}`, time.Now())); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "key "+tt.want, func() bool { return rc.Exists(ctx, tt.want).Val() == 1 })
	}
	keys, err := rc.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Errorf("keys %q, want the two above only", keys)
	}
}

// setCalls returns how many SETs the server has run since CONFIG RESETSTAT.
func setCalls(t *testing.T, rc *redis.Client) int {
	t.Helper()
	info, err := rc.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_set:calls="); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

// The same value is written at most once per WriteInterval; a changed one
// at once.
func TestWriteRateLimit(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	rc := client(t, srv)
	ctx := context.Background()
	const interval = 300 * time.Millisecond
	s := newStore(t, Config{URL: srv.URL(), WriteInterval: interval}, nil, nil)
	if err := rc.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	begin := time.Now()
	first := entry(`{"v":1}`, time.Now())
	_ = s.Put(ctx, "k /a", first)
	again := first
	again.StoredAt = time.Now() // the same answer fetched again
	_ = s.Put(ctx, "k /a", again)
	sameEntry(t, eventuallyGet(t, s, "k /a"), first)
	testutil.Eventually(t, "the first write counted", func() bool { return s.Stats().Written == 1 })
	if n := setCalls(t, rc); n != 1 {
		t.Fatalf("two Puts of one body within the interval ran %d SETs, want 1", n)
	}

	changed := entry(`{"v":2}`, time.Now())
	changedAt := time.Now()
	_ = s.Put(ctx, "k /a", changed)
	testutil.Eventually(t, "the changed body written", func() bool {
		e, ok, _ := s.Get(ctx, "k /a")
		return ok && string(e.Body) == `{"v":2}`
	})
	if time.Since(begin) >= interval {
		t.Skipf("too slow to tell the rate limit from the interval (%v)", time.Since(begin))
	}
	if n := setCalls(t, rc); n != 2 {
		t.Fatalf("a changed body ran %d SETs in all, want 2", n)
	}

	// Past the interval the same body is written again (a newer StoredAt).
	time.Sleep(time.Until(changedAt.Add(interval + 10*time.Millisecond)))
	later := changed
	later.StoredAt = time.Now()
	_ = s.Put(ctx, "k /a", later)
	testutil.Eventually(t, "the write after the interval", func() bool { return setCalls(t, rc) == 3 })
	sameEntry(t, eventuallyGet(t, s, "k /a"), later)

	// A Delete makes the next Put of the same body go through.
	_ = s.Delete(ctx, "k /a")
	_ = s.Put(ctx, "k /a", later)
	testutil.Eventually(t, "the write after a delete", func() bool { return setCalls(t, rc) == 4 })
}

func TestPutSkipsExpiredEntries(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	obs := newRecorder()
	s := newStore(t, Config{URL: srv.URL()}, nil, obs)
	old := cache.Entry{Body: []byte(`{}`), StoredAt: time.Now().Add(-time.Hour), Fresh: time.Second, StaleFor: time.Minute}
	if err := s.Put(context.Background(), "k /old", old); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // flushes the queue
		t.Fatal(err)
	}
	if st := s.Stats(); st.Written != 0 || st.Dropped != 0 || obs.count("pipeline") != 0 {
		t.Errorf("an expired entry was sent: %+v, %v", st, obs.commands)
	}
}

// A context already done sends nothing.
func TestDoneContextSendsNothing(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	obs := newRecorder()
	s := newStore(t, Config{URL: srv.URL()}, nil, obs)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Get(ctx, "k /a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v, want context.Canceled", err)
	}
	if err := s.Put(ctx, "k /a", entry(`{}`, time.Now())); !errors.Is(err, context.Canceled) {
		t.Errorf("Put = %v, want context.Canceled", err)
	}
	if err := s.Delete(ctx, "k /a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete = %v, want context.Canceled", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if obs.count("get") != 0 || obs.count("pipeline") != 0 {
		t.Errorf("commands sent with a done context: %v", obs.commands)
	}
}

// Close sends what is queued before it returns.
func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	rc := client(t, srv)
	s := newStore(t, Config{URL: srv.URL(), Timeout: time.Second}, nil, nil)
	const n = 300 // more than one pipeline
	for i := range n {
		if err := s.Put(context.Background(), fmt.Sprintf("k /%d", i), entry(`{}`, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Written != n {
		t.Errorf("after Close: %+v, want %d written", st, n)
	}
	if got := rc.DBSize(context.Background()).Val(); got != n {
		t.Errorf("DBSIZE %d, want %d", got, n)
	}
	if _, _, err := s.Get(context.Background(), "k /1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if err := s.Put(context.Background(), "k /1", entry(`{}`, time.Now())); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
}

// With Redis stuck, Puts never block: what does not fit in the queue is
// dropped and counted.
func TestQueueOverflowDropsAndCounts(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	obs := newRecorder()
	s := newStore(t, Config{URL: srv.URL(), QueueSize: 2}, nil, obs)
	srv.Pause()
	defer srv.Resume()

	const n = 100
	full := 0
	begin := time.Now()
	for i := range n {
		if err := s.Put(context.Background(), fmt.Sprintf("k /%d", i), entry(`{}`, time.Now())); errors.Is(err, ErrQueueFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	// A Put that waited for stuck Redis would wait out the timeout: 100 of
	// them at least 5s. The bound is wide for a loaded machine.
	if d := time.Since(begin); d > time.Second {
		t.Errorf("%d Puts took %v with Redis stuck; want them never to wait", n, d)
	}
	if full < n/2 { // the queue holds 2, the writer's stuck batch a few more
		t.Errorf("%d of %d Puts found the queue full, want most", full, n)
	}
	// The few that made it into the queue fail with Redis stuck: every
	// write ends up dropped.
	testutil.Eventually(t, "every write dropped", func() bool { return s.Stats().Dropped == n })
	if got := obs.drops(); got != n {
		t.Errorf("Observer told of %d drops, want %d", got, n)
	}
	if st := s.Stats(); st.Written != 0 {
		t.Errorf("Stats = %+v, want nothing written", st)
	}
}

// wantQuick fails unless d is within the bound every command has, with a
// margin wide enough for a loaded machine.
func wantQuick(t *testing.T, what string, d time.Duration) {
	t.Helper()
	if limit := 10*testTimeout + 100*time.Millisecond; d > limit {
		t.Errorf("%s took %v, want at most about the %v timeout (limit %v)", what, d, testTimeout, limit)
	}
}

// breakerCycle checks that with Redis failing (fail), Gets fail within the
// timeout, the breaker opens after three and then fails them at once, and
// that once Redis is back (heal, then put back what it lost) the breaker
// closes and Gets work; each change is logged once.
func breakerCycle(t *testing.T, srv *testutil.RedisServer, fail, heal func()) {
	logs := &testutil.LogBuffer{}
	obs := newRecorder()
	s := newStore(t, Config{URL: srv.URL()}, logs.Logger(), obs)
	ctx := context.Background()
	want := entry(`{"ok":true}`, time.Now())
	_ = s.Put(ctx, "k /a", want)
	eventuallyGet(t, s, "k /a")

	fail()
	for i := range breakerFailures {
		begin := time.Now()
		_, ok, err := s.Get(ctx, "k /a")
		wantQuick(t, fmt.Sprintf("Get %d with Redis failing", i+1), time.Since(begin))
		if err == nil || ok {
			t.Fatalf("Get %d with Redis failing = %v, %v; want an error", i+1, ok, err)
		}
		if errors.Is(err, ErrUnavailable) {
			t.Fatalf("Get %d: breaker open already", i+1)
		}
	}
	if st := s.State(); st != "open" {
		t.Fatalf("after %d failures the breaker is %s, want open", breakerFailures, st)
	}
	begin := time.Now()
	if _, _, err := s.Get(ctx, "k /a"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with the breaker open = %v, want ErrUnavailable", err)
	}
	// ErrUnavailable already says no command was sent; a Get that sent one
	// would take the timeout, with stuck Redis.
	if d := time.Since(begin); d >= testTimeout {
		t.Errorf("Get with the breaker open took %v, want it at once (under the %v timeout)", d, testTimeout)
	}
	if st := s.Stats(); st.Errors != breakerFailures || st.State != "open" {
		t.Errorf("Stats = %+v, want %d errors, open", st, breakerFailures)
	}

	heal()
	testutil.Eventually(t, "Gets to work again", func() bool {
		_, _, err := s.Get(ctx, "k /a")
		return err == nil
	})
	_ = s.Put(ctx, "k /b", want)
	eventuallyGet(t, s, "k /b")
	if st := s.State(); st != "closed" {
		t.Errorf("breaker %s after Redis is back, want closed", st)
	}
	states := obs.stateLog()
	if len(states) < 3 || states[0] != "open" || states[len(states)-1] != "closed" {
		t.Errorf("Observer told of states %q, want open … half-open, closed", states)
	}
	for i := 1; i < len(states); i++ {
		if states[i] == states[i-1] {
			t.Errorf("Observer told of %s twice in a row: %q", states[i], states)
		}
	}
	out := logs.String()
	t.Logf("states %q; log:\n%s", states, out)
	if n := strings.Count(out, "redis cache unavailable"); n != 1 {
		t.Errorf("logged unavailable %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "redis cache available again"); n != 1 {
		t.Errorf("logged available again %d times, want once:\n%s", n, out)
	}
	if strings.Count(out, "\n") != 2 {
		t.Errorf("want exactly two log lines:\n%s", out)
	}
}

// Redis stuck (SIGSTOP): commands time out.
func TestBreakerRedisPaused(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	paused := false
	t.Cleanup(func() {
		if paused {
			srv.Resume()
		}
	})
	breakerCycle(t, srv,
		func() { srv.Pause(); paused = true },
		func() { srv.Resume(); paused = false })
}

// Redis gone (SIGKILL), then back empty on the same port.
func TestBreakerRedisKilled(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	breakerCycle(t, srv, srv.Kill, srv.Restart)
}

// A page whose own deadline cuts a Get short does not count against
// Redis: impatient pages cannot open the breaker.
func TestCallerDeadlineDoesNotOpenBreaker(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	s := newStore(t, Config{URL: srv.URL()}, nil, nil)
	eventuallyGetMiss(t, s)
	srv.Pause()
	defer srv.Resume()
	for range 2 * breakerFailures {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout/5)
		_, _, err := s.Get(ctx, "k /a")
		cancel()
		if err == nil {
			t.Fatal("Get with Redis stuck succeeded")
		}
	}
	if st := s.State(); st != "closed" {
		t.Errorf("breaker %s after Gets cut short by their callers, want closed", st)
	}
}

func eventuallyGetMiss(t *testing.T, s *Store) {
	t.Helper()
	testutil.Eventually(t, "a Get to answer", func() bool {
		_, _, err := s.Get(context.Background(), "k /none")
		return err == nil
	})
}

// pagebff starts with Redis down: New does not connect.
func TestNewWithRedisDown(t *testing.T) {
	t.Parallel()
	logs := &testutil.LogBuffer{}
	s := newStore(t, Config{URL: "redis://" + closedAddr(t) + "/0"}, logs.Logger(), nil)
	for range breakerFailures + 1 {
		begin := time.Now()
		if _, _, err := s.Get(context.Background(), "k /a"); err == nil {
			t.Fatal("Get with Redis down succeeded")
		}
		wantQuick(t, "Get with Redis down", time.Since(begin))
	}
	if st := s.State(); st != "open" {
		t.Errorf("breaker %s, want open", st)
	}
	_ = s.Put(context.Background(), "k /a", entry(`{}`, time.Now()))
	testutil.Eventually(t, "the write dropped", func() bool { return s.Stats().Dropped == 1 })
}

// closedAddr returns a loopback address nobody listens on, for the whole
// test: the Redis servers the parallel tests start must not be given it.
func closedAddr(t *testing.T) string {
	t.Helper()
	return testutil.RefusingAddr(t)
}

// The password is never in an error, a log line or Stats: not with a
// wrong password, not with Redis unreachable, not with a bad URL.
func TestPasswordNeverShown(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t, "--requirepass", "right-pa55word")

	// The right password works.
	good := newStore(t, Config{URL: srv.URL()}, nil, nil)
	_ = good.Put(context.Background(), "k /a", entry(`{}`, time.Now()))
	eventuallyGet(t, good, "k /a")

	const secret = "wr0ng-pa55word"
	urls := map[string]string{
		"wrong password":   "redis://:" + secret + "@" + srv.Addr() + "/0",
		"wrong user":       "redis://someone:" + secret + "@" + srv.Addr() + "/0",
		"unreachable host": "redis://someone:" + secret + "@" + closedAddr(t) + "/0",
		"escaped password": "redis://:" + strings.ReplaceAll(secret, "-", "%2D") + "@" + closedAddr(t) + "/0",
	}
	for name, u := range urls {
		t.Run(name, func(t *testing.T) {
			logs := &testutil.LogBuffer{}
			s := newStore(t, Config{URL: u}, logs.Logger(), nil)
			var errs []string
			for range breakerFailures + 1 {
				_, _, err := s.Get(context.Background(), "k /a")
				if err == nil {
					t.Fatal("Get succeeded")
				}
				errs = append(errs, err.Error())
			}
			_ = s.Put(context.Background(), "k /a", entry(`{}`, time.Now()))
			testutil.Eventually(t, "the write dropped", func() bool { return s.Stats().Dropped == 1 })
			st := s.Stats()
			shown := strings.Join(errs, "\n") + "\n" + logs.String() + "\n" + fmt.Sprintf("%+v", st) + "\n" + Redact(u)
			if strings.Contains(shown, secret) || strings.Contains(shown, "pa55word") {
				t.Fatalf("the password shows:\n%s", shown)
			}
			if !strings.Contains(logs.String(), "redis cache unavailable") {
				t.Errorf("no unavailable log line:\n%s", logs.String())
			}
			if name == "wrong password" && !strings.Contains(errs[0], "WRONGPASS") {
				t.Errorf("error %q does not say the password is wrong", errs[0])
			}
		})
	}
}

// go-redis's own log lines (debug, through slog.Default) are scrubbed
// too. Not parallel: it swaps slog.Default.
func TestGoRedisLogScrubbed(t *testing.T) {
	logs := &testutil.LogBuffer{}
	prev := slog.Default()
	slog.SetDefault(logs.Logger())
	defer slog.SetDefault(prev)

	const secret = "an0ther-pa55word"
	s := newStore(t, Config{URL: "redis://u:" + secret + "@" + closedAddr(t) + "/0"}, nil, nil)
	_, _, _ = s.Get(context.Background(), "k /a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "go-redis") {
		t.Errorf("no go-redis debug line:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the password shows:\n%s", logs.String())
	}
	// A message that would show it is scrubbed.
	debugLogger{}.Printf(context.Background(), "dial %s failed", "redis://u:"+secret+"@host")
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the password shows:\n%s", logs.String())
	}
}

func TestNewRefusesBadURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, want string }{
		{"", "required"},
		{"http://localhost:6379", "scheme"},
		{"localhost:6379", "scheme"},
		{"redis://", "no host"},
		{"redis://:s3cret-pw@localhost:port/0", "port"},
		{"redis://u:s3cret-pw@localhost:6379/zero", "database"},
		{"redis://u:s3cret-pw@localhost:6379/0?nonsense=1", "nonsense"},
		{"redis://u:s3cret-pw@local host:6379/0", "not a URL"},
	}
	for _, tt := range tests {
		_, err := New(Config{URL: tt.url}, nil, nil)
		if err == nil {
			t.Errorf("New(%q) succeeded", tt.url)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "cache.redis_url") || !strings.Contains(msg, tt.want) {
			t.Errorf("New(%q) = %q, want an error naming cache.redis_url and mentioning %q", tt.url, msg, tt.want)
		}
		if strings.Contains(msg, "s3cret-pw") {
			t.Errorf("New(%q) = %q shows the password", tt.url, msg)
		}
	}
	for _, cfg := range []Config{
		{URL: "redis://localhost:6379/0", Timeout: -1},
		{URL: "redis://localhost:6379/0", WriteInterval: -1},
		{URL: "redis://localhost:6379/0", QueueSize: -1},
	} {
		if _, err := New(cfg, nil, nil); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"redis://localhost:6379/0", "redis://localhost:6379/0"},
		{"redis://user@localhost:6379/0", "redis://user@localhost:6379/0"},
		{"redis://user:pw@localhost:6379/0", "redis://user:xxxxx@localhost:6379/0"},
		{"redis://:pw@localhost:6379/0", "redis://:xxxxx@localhost:6379/0"},
		{"rediss://user:p%40ss@redis.internal:6380/2", "rediss://user:xxxxx@redis.internal:6380/2"},
		{"redis://u:pw@local host:6379", "redis://u:xxxxx@local host:6379"}, // does not parse
		{"redis:u:pw@host", "redis:xxxxx@host"},                             // opaque: the user goes too
		{"", ""},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncoding(t *testing.T) {
	t.Parallel()
	e := entry(`{"a":1}`, time.Unix(1_700_000_000, 123456789))
	got, err := decode(encode(e))
	if err != nil {
		t.Fatal(err)
	}
	sameEntry(t, got, e)

	empty := cache.Entry{StoredAt: time.Unix(5, 0), StaleFor: time.Second}
	if got, err := decode(encode(empty)); err != nil || len(got.Body) != 0 || !got.StoredAt.Equal(empty.StoredAt) {
		t.Errorf("empty body: %+v, %v", got, err)
	}

	bad := encode(e)
	wrongVersion := append([]byte{2}, bad[1:]...)
	negative := encode(cache.Entry{StoredAt: time.Now(), Fresh: -time.Second})
	for name, b := range map[string][]byte{
		"empty": nil, "short": bad[:headerLen-1], "wrong version": wrongVersion, "negative": negative, "json": []byte(`{"a":1}`),
	} {
		if _, err := decode(b); err == nil {
			t.Errorf("decode(%s) succeeded", name)
		}
	}
}

// A value that does not decode is a miss, not an error.
func TestUndecodableValueIsMiss(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	rc := client(t, srv)
	s := newStore(t, Config{URL: srv.URL()}, nil, nil)
	if err := rc.Set(context.Background(), "pagebff:v1:k /a", `{"not":"ours"}`, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(context.Background(), "k /a"); ok || err != nil {
		t.Errorf("Get of a foreign value = %v, %v; want a miss", ok, err)
	}
	if st := s.Stats(); st.Errors != 0 {
		t.Errorf("Stats = %+v, want no error", st)
	}
}

// Without redis-server on PATH (and CI unset) StartRedis skips the test.
// Not parallel: it changes PATH.
func TestStartRedisSkipsWithoutServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CI", "")
	skipped := false
	t.Run("no redis-server", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		testutil.StartRedis(t)
	})
	if !skipped {
		t.Error("StartRedis did not skip without redis-server")
	}
}
