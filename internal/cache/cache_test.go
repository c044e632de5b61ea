package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/testutil"
)

var bg = context.Background()

func TestHideable(t *testing.T) {
	status := func(code bff.Code, s int) error {
		e := bff.Errorf("user", code, nil, "x")
		e.Status = s
		return e
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "500", err: status(bff.CodeUpstreamStatus, 500), want: true},
		{name: "503", err: status(bff.CodeUpstreamStatus, 503), want: true},
		{name: "429 overload", err: status(bff.CodeUpstreamStatus, 429), want: true},
		{name: "302 unfollowed redirect", err: status(bff.CodeUpstreamStatus, 302), want: true},
		{name: "410", err: status(bff.CodeUpstreamStatus, 410), want: false},
		{name: "local resources", err: &bff.Error{Code: bff.CodeUnavailable, Local: true}, want: true},
		{name: "400", err: status(bff.CodeUpstreamStatus, 400), want: false},
		{name: "404", err: status(bff.CodeNotFound, 404), want: false},
		{name: "timeout", err: status(bff.CodeTimeout, 0), want: true},
		{name: "unavailable", err: status(bff.CodeUnavailable, 0), want: true},
		{name: "bad response", err: status(bff.CodeBadResponse, 0), want: true},
		{name: "circuit open", err: status(bff.CodeCircuitOpen, 0), want: true},
		{name: "canceled", err: status(bff.CodeCanceled, 0), want: false},
		{name: "uncoded error", err: fmt.Errorf("boom"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hideable(tt.err); got != tt.want {
				t.Fatalf("Hideable = %v, want %v", got, tt.want)
			}
		})
	}
}

// service is a fake next: it answers with resp or fails with err, and
// counts its calls.
type service struct {
	mu    sync.Mutex
	resp  bff.Response
	err   error
	calls atomic.Int64
	gate  chan struct{} // when set, each call waits for it
}

func (s *service) set(resp bff.Response, err error) {
	s.mu.Lock()
	s.resp, s.err = resp, err
	s.mu.Unlock()
}

func (s *service) Fetch(ctx context.Context, _ bff.Call) (bff.Response, error) {
	s.calls.Add(1)
	s.mu.Lock()
	resp, err, gate := s.resp, s.err, s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return bff.Response{}, bff.ContextError(ctx, "catalog", ctx.Err())
		}
	}
	return resp, err
}

func newClock() *testutil.Clock   { return testutil.NewClock(time.Unix(1_000_000, 0)) }
func ok(body string) bff.Response { return bff.Response{Body: []byte(body)} }
func withCC(body, cc string) bff.Response {
	return bff.Response{Body: []byte(body), Caching: &bff.Caching{CacheControl: cc}}
}
func timeoutErr() error { return bff.Errorf("catalog", bff.CodeTimeout, nil, "timed out after 300ms") }

var call = bff.Call{Service: "catalog", Path: "/items", RequestID: "r1"}

func defaults() Config {
	return Config{Enabled: true, StaleTTL: time.Minute, Revalidate: 10 * time.Second, HonorCacheControl: true,
		MaxEntries: 100, MaxBytes: 1 << 20}
}

func newCache(t *testing.T, cfg Config, next bff.Fetcher, clk *testutil.Clock, far Store) (*Cache, *Counters, *Refresher) {
	t.Helper()
	near, err := NewMemory(cfg.MaxEntries, cfg.MaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	counters := new(Counters)
	r := NewRefresher(8)
	t.Cleanup(r.Close)
	ids := atomic.Int64{}
	c := New(cfg, Options{Near: near, Far: far, Now: clk.Now, Counters: counters, Refresher: r,
		NewRequestID: func() string { return fmt.Sprintf("refresh-%d", ids.Add(1)) }}, next)
	return c, counters, r
}

func TestStaleServesWithinTTL(t *testing.T) {
	clk := newClock()
	svc := &service{resp: ok(`{"v":1}`)}
	c, counters, _ := newCache(t, defaults(), svc, clk, nil)
	if _, err := c.Fetch(bg, call); err != nil {
		t.Fatal(err)
	}
	svc.set(bff.Response{}, timeoutErr())
	clk.Advance(30 * time.Second)
	resp, err := c.Fetch(bg, call)
	if err == nil || string(resp.Body) != `{"v":1}` || resp.Source != bff.SourceCache || resp.Age != 30*time.Second {
		t.Fatalf("stale answer = %s %v age %v, err %v", resp.Body, resp.Source, resp.Age, err)
	}
	// Another page's identical call shares the entry (same key).
	if resp, _ := c.Fetch(bg, bff.Call{Service: "catalog", Path: "/items", RequestID: "other"}); resp.Body == nil {
		t.Fatal("identical call from another page got no stale value")
	}
	clk.Advance(31 * time.Second)
	if resp, _ := c.Fetch(bg, call); resp.Body != nil {
		t.Fatalf("served a value older than the TTL: %s", resp.Body)
	}
	if n := counters.StaleServed(); n != 2 {
		t.Fatalf("stale served %d, want 2", n)
	}
	// fresh_ttl 0 and no Cache-Control: every call went to the service.
	if n := svc.calls.Load(); n != 4 {
		t.Fatalf("%d calls, want 4", n)
	}
}

func TestFreshTTL(t *testing.T) {
	clk := newClock()
	svc := &service{resp: ok(`{"v":1}`)}
	cfg := defaults()
	cfg.FreshTTL, cfg.Revalidate = time.Second, 0
	c, counters, _ := newCache(t, cfg, svc, clk, nil)
	c.Fetch(bg, call)
	clk.Advance(400 * time.Millisecond)
	resp, err := c.Fetch(bg, call)
	if err != nil || resp.Source != bff.SourceCache || resp.Age != 400*time.Millisecond || string(resp.Body) != `{"v":1}` {
		t.Fatalf("fresh hit = %s %v age %v, err %v", resp.Body, resp.Source, resp.Age, err)
	}
	if n := svc.calls.Load(); n != 1 {
		t.Fatalf("%d calls, want 1: a fresh hit calls nobody", n)
	}
	clk.Advance(600 * time.Millisecond) // now exactly fresh_ttl old: no longer fresh
	if resp, _ := c.Fetch(bg, call); resp.Source != bff.SourceLive {
		t.Fatalf("source %v at fresh_ttl, want live", resp.Source)
	}
	if counters.FreshHits() != 1 || svc.calls.Load() != 2 {
		t.Fatalf("fresh hits %d, calls %d; want 1 and 2", counters.FreshHits(), svc.calls.Load())
	}
}

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		in   string
		want directives
	}{
		{"", directives{maxAge: -1, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
		{"max-age=60", directives{maxAge: time.Minute, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
		{`Max-Age="5", S-MAXAGE=7 , public`, directives{maxAge: 5 * time.Second, sMaxAge: 7 * time.Second, staleWhileRevalidate: -1, staleIfError: -1}},
		{"no-store, no-cache, private", directives{noStore: true, noCache: true, private: true, maxAge: -1, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
		{"max-age=10, stale-while-revalidate=30, stale-if-error=120", directives{maxAge: 10 * time.Second, sMaxAge: -1, staleWhileRevalidate: 30 * time.Second, staleIfError: 2 * time.Minute}},
		// An invalid or repeated freshness lifetime means stale.
		{"max-age=abc", directives{maxAge: 0, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
		{"max-age=10, max-age=20", directives{maxAge: 0, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
		{"max-age=-5", directives{maxAge: 0, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
		{"max-age=99999999999999999999", directives{maxAge: maxDirectiveSeconds * time.Second, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
		{"stale-if-error=x", directives{maxAge: -1, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
	}
	for _, tt := range tests {
		if got := parseCacheControl(tt.in); got != tt.want {
			t.Errorf("parseCacheControl(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// What the service's Cache-Control makes of an answer, as a shared cache.
func TestEntryFromCacheControl(t *testing.T) {
	cfg := defaults()
	cfg.FreshTTL = 2 * time.Second
	c := New(cfg, Options{}, nil)
	now := time.Unix(1_000_000, 0)
	tests := []struct {
		cc, age         string
		stored          bool
		fresh, swr, sie time.Duration
		storedAt        time.Time
	}{
		{cc: "", stored: true, fresh: 2 * time.Second, swr: 10 * time.Second, sie: time.Minute},
		{cc: "max-age=30", stored: true, fresh: 30 * time.Second, swr: 10 * time.Second, sie: time.Minute},
		{cc: "max-age=30, s-maxage=5", stored: true, fresh: 5 * time.Second, swr: 10 * time.Second, sie: time.Minute},
		{cc: "max-age=0", stored: true, fresh: 0, swr: 10 * time.Second, sie: time.Minute},
		{cc: "no-cache, max-age=30", stored: true, fresh: 0, swr: 10 * time.Second, sie: time.Minute},
		{cc: "private, max-age=30", stored: true, fresh: 0, swr: 10 * time.Second, sie: time.Minute},
		{cc: "no-store", stored: false},
		{cc: "max-age=3, stale-while-revalidate=20, stale-if-error=15", stored: true, fresh: 3 * time.Second, swr: 20 * time.Second, sie: 15 * time.Second},
		// must-revalidate: never stale without asking, unless stale-if-error says so.
		{cc: "max-age=3, must-revalidate", stored: true, fresh: 3 * time.Second, swr: 0, sie: 0},
		{cc: "max-age=3, proxy-revalidate, stale-if-error=20", stored: true, fresh: 3 * time.Second, swr: 0, sie: 20 * time.Second},
		// stale-if-error only shortens stale_ttl.
		{cc: "stale-if-error=3600", stored: true, fresh: 2 * time.Second, swr: 10 * time.Second, sie: time.Minute},
		// Time spent in caches upstream counts.
		{cc: "max-age=30", age: "12", stored: true, fresh: 30 * time.Second, swr: 10 * time.Second, sie: time.Minute,
			storedAt: now.Add(-12 * time.Second)},
	}
	for _, tt := range tests {
		resp := bff.Response{Body: []byte(`{}`)}
		if tt.cc != "" || tt.age != "" {
			resp.Caching = &bff.Caching{CacheControl: tt.cc, Age: tt.age}
		}
		e, stored := c.entry(resp, now)
		if stored != tt.stored {
			t.Errorf("%q: stored %v, want %v", tt.cc, stored, tt.stored)
			continue
		}
		if !stored {
			continue
		}
		want := tt.storedAt
		if want.IsZero() {
			want = now
		}
		if e.Fresh != tt.fresh || e.Revalidate != tt.swr || e.StaleFor != tt.sie || !e.StoredAt.Equal(want) {
			t.Errorf("%q age %q: fresh %v swr %v sie %v at %v; want %v %v %v at %v", tt.cc, tt.age,
				e.Fresh, e.Revalidate, e.StaleFor, e.StoredAt, tt.fresh, tt.swr, tt.sie, want)
		}
	}
	// Not honoured: the config decides whatever the service says.
	cfg.HonorCacheControl = false
	c = New(cfg, Options{}, nil)
	if e, stored := c.entry(withCC(`{}`, "no-store, max-age=99"), now); !stored || e.Fresh != 2*time.Second {
		t.Errorf("honor_cache_control false: stored %v fresh %v", stored, e.Fresh)
	}
}

// no-store keeps the answer nowhere, and forgets what was there.
func TestNoStoreNeverStored(t *testing.T) {
	clk := newClock()
	svc := &service{resp: ok(`{"v":1}`)}
	c, _, _ := newCache(t, defaults(), svc, clk, nil)
	c.Fetch(bg, call)
	svc.set(withCC(`{"v":2}`, "no-store"), nil)
	c.Fetch(bg, call)
	svc.set(bff.Response{}, timeoutErr())
	if resp, err := c.Fetch(bg, call); resp.Body != nil || err == nil {
		t.Fatalf("after no-store: %s %v, want the error alone", resp.Body, err)
	}
	if n := c.opt.Near.Len(); n != 0 {
		t.Fatalf("%d entries after no-store", n)
	}
}

// A service that never allows caching costs no lookup before its calls.
func TestNoLookupUntilFreshPossible(t *testing.T) {
	clk := newClock()
	svc := &service{resp: ok(`{"v":1}`)}
	c, counters, _ := newCache(t, defaults(), svc, clk, nil)
	for range 3 {
		c.Fetch(bg, call)
	}
	if n := counters.Lookups(TierMemory, ResultMiss); n != 0 {
		t.Fatalf("%d lookups before any answer could be fresh", n)
	}
	svc.set(withCC(`{"v":2}`, "max-age=5"), nil)
	c.Fetch(bg, call) // live, now fresh for 5s
	if resp, _ := c.Fetch(bg, call); resp.Source != bff.SourceCache || svc.calls.Load() != 4 {
		t.Fatalf("after max-age: source %v, %d calls", resp.Source, svc.calls.Load())
	}
}

// In the revalidation window the value is served at once and one
// background refresh replaces it, however many pages ask.
func TestRevalidateInBackground(t *testing.T) {
	clk := newClock()
	svc := &service{resp: withCC(`{"v":1}`, "max-age=1, stale-while-revalidate=30")}
	c, counters, _ := newCache(t, defaults(), svc, clk, nil)
	c.Fetch(bg, call)
	clk.Advance(5 * time.Second)
	gate := make(chan struct{})
	svc.mu.Lock()
	svc.gate, svc.resp = gate, withCC(`{"v":2}`, "max-age=1, stale-while-revalidate=30")
	svc.mu.Unlock()
	for range 10 {
		resp, err := c.Fetch(bg, call)
		if err != nil || string(resp.Body) != `{"v":1}` || resp.Source != bff.SourceCache || resp.Age != 5*time.Second {
			t.Fatalf("in the revalidation window: %s %v age %v err %v", resp.Body, resp.Source, resp.Age, err)
		}
	}
	if n := counters.Revalidations.Load(); n != 1 {
		t.Fatalf("%d refreshes started, want 1", n)
	}
	close(gate)
	testutil.Eventually(t, "the refreshed value stored", func() bool {
		e, _, _ := c.opt.Near.Get(bg, call.Path)
		return string(e.Body) == `{"v":2}`
	})
	if resp, _ := c.Fetch(bg, call); string(resp.Body) != `{"v":2}` || resp.Source != bff.SourceCache {
		t.Fatalf("after the refresh: %s %v", resp.Body, resp.Source)
	}
	if n := svc.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2 (the first and one refresh)", n)
	}
}

// A refresh that fails leaves the value; past the window the page asks
// live again.
func TestRefreshFailureLeavesValue(t *testing.T) {
	clk := newClock()
	svc := &service{resp: withCC(`{"v":1}`, "max-age=1")}
	c, counters, _ := newCache(t, defaults(), svc, clk, nil)
	c.Fetch(bg, call)
	clk.Advance(2 * time.Second)
	svc.set(bff.Response{}, bff.Errorf("catalog", bff.CodeUpstreamStatus, nil, "upstream answered 503"))
	c.Fetch(bg, call)
	testutil.Eventually(t, "the refresh sent", func() bool { return svc.calls.Load() == 2 })
	testutil.Eventually(t, "the refresh over", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.refreshing) == 0 })
	if e, ok, _ := c.opt.Near.Get(bg, call.Path); !ok || string(e.Body) != `{"v":1}` {
		t.Fatalf("after a failed refresh: %s %v", e.Body, ok)
	}
	if counters.Revalidations.Load() != 1 {
		t.Fatal("no refresh started")
	}
	clk.Advance(10 * time.Second) // past max-age + revalidate: live, failing, stale
	resp, err := c.Fetch(bg, call)
	if err == nil || string(resp.Body) != `{"v":1}` {
		t.Fatalf("past the window: %s %v, want stale with the error", resp.Body, err)
	}
}

// A refresh running when the Refresher closes is cancelled and waited for.
func TestRefresherCloseCancels(t *testing.T) {
	r := NewRefresher(2)
	started := make(chan struct{})
	var ended atomic.Bool
	if !r.Go(func(ctx context.Context) { close(started); <-ctx.Done(); ended.Store(true) }) {
		t.Fatal("Go refused")
	}
	<-started
	r.Close()
	if !ended.Load() {
		t.Fatal("Close returned before the refresh")
	}
	if r.Go(func(context.Context) {}) {
		t.Fatal("Go accepted after Close")
	}
	full := NewRefresher(1)
	release := make(chan struct{})
	full.Go(func(context.Context) { <-release })
	if full.Go(func(context.Context) {}) {
		t.Fatal("Go accepted past max")
	}
	close(release)
	full.Close()
}

// A 404 forgets the entry; a 404 on a refresh too.
func TestGoneForgets(t *testing.T) {
	clk := newClock()
	svc := &service{resp: ok(`{"v":1}`)}
	c, _, _ := newCache(t, defaults(), svc, clk, nil)
	c.Fetch(bg, call)
	notFound := bff.Errorf("catalog", bff.CodeNotFound, nil, "not found")
	notFound.Status = 404
	svc.set(bff.Response{}, notFound)
	if resp, _ := c.Fetch(bg, call); resp.Body != nil {
		t.Fatal("a 404 was hidden")
	}
	if c.opt.Near.Len() != 0 {
		t.Fatal("a 404 left the entry")
	}
}

func TestMemoryBounded(t *testing.T) {
	m, err := NewMemory(1000, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200_000 {
		m.Put(bg, fmt.Sprintf("user /users/u%d", i), Entry{Body: []byte(`{}`)})
	}
	if m.Len() != 1000 {
		t.Fatalf("Len = %d, want 1000", m.Len())
	}
	if _, ok, _ := m.Get(bg, "user /users/u0"); ok {
		t.Fatal("oldest entry was not evicted")
	}
	if _, ok, _ := m.Get(bg, "user /users/u199999"); !ok {
		t.Fatal("newest entry missing")
	}
	if _, err := NewMemory(0, 1); err == nil {
		t.Fatal("NewMemory(0, 1) accepted")
	}
	if _, err := NewMemory(1, 0); err == nil {
		t.Fatal("NewMemory(1, 0) accepted")
	}
}

// max_bytes bounds the bytes held, least recently used first, and the
// count stays exact through replacements and deletes.
func TestMemoryByteBound(t *testing.T) {
	body := make([]byte, 1000)
	size := entrySize("k00", Entry{Body: body})
	m, _ := NewMemory(1000, 10*size)
	for i := range 50 {
		m.Put(bg, fmt.Sprintf("k%02d", i), Entry{Body: body})
	}
	u := m.Usage()
	if u.Entries != 10 || u.Bytes != 10*size {
		t.Fatalf("usage %+v, want 10 entries of %d bytes", u, size)
	}
	if _, ok, _ := m.Get(bg, "k39"); ok {
		t.Fatal("k39 kept, want only the 10 newest")
	}
	m.Get(bg, "k40") // now the most recently used
	m.Put(bg, "k41", Entry{Body: make([]byte, 10)})
	m.Put(bg, "big", Entry{Body: make([]byte, 3000)}) // evicts the 3 least recently used
	if _, ok, _ := m.Get(bg, "k40"); !ok {
		t.Fatal("recently used k40 evicted")
	}
	m.Delete(bg, "big")
	var total int64
	for _, k := range m.lru.Keys() {
		e, _ := m.lru.Peek(k)
		total += entrySize(k, e)
	}
	if got := m.Usage().Bytes; got != total {
		t.Fatalf("bytes counted %d, held %d", got, total)
	}
	// Larger than the whole bound: not kept, and nothing else evicted.
	before := m.Usage()
	m.Put(bg, "huge", Entry{Body: make([]byte, 20*size)})
	if _, ok, _ := m.Get(bg, "huge"); ok || m.Usage() != before {
		t.Fatalf("an entry over max_bytes was kept or evicted others: %+v -> %+v", before, m.Usage())
	}
	c, _ := m.Copy(1000, 3*size)
	if u := c.Usage(); u.Bytes > 3*size {
		t.Fatalf("copy holds %d bytes, bound %d", u.Bytes, 3*size)
	}
}

// farStore is a shared tier in memory, with a switch to make it fail.
type farStore struct {
	mu      sync.Mutex
	m       map[string]Entry
	fail    bool
	gets    int
	written chan string
}

func newFar() *farStore { return &farStore{m: map[string]Entry{}, written: make(chan string, 100)} }

func (f *farStore) Get(_ context.Context, key string) (Entry, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.fail {
		return Entry{}, false, errors.New("redis: timeout")
	}
	e, ok := f.m[key]
	return e, ok, nil
}

func (f *farStore) Put(_ context.Context, key string, e Entry) error {
	f.mu.Lock()
	f.m[key] = e
	f.mu.Unlock()
	f.written <- key
	return nil
}

func (f *farStore) Delete(_ context.Context, key string) error {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	return nil
}

// An instance that never reached the service serves what another stored
// in the shared tier, with the age counted from the first store.
func TestFarTierServesStale(t *testing.T) {
	clk := newClock()
	far := newFar()
	a, _, _ := newCache(t, defaults(), &service{resp: ok(`{"v":1}`)}, clk, far)
	a.Fetch(bg, call)
	clk.Advance(7 * time.Second)
	down := &service{err: timeoutErr()}
	b, counters, _ := newCache(t, defaults(), down, clk, far)
	resp, err := b.Fetch(bg, call)
	if err == nil || string(resp.Body) != `{"v":1}` || resp.Age != 7*time.Second {
		t.Fatalf("cold instance: %s age %v err %v, want instance a's value, 7s old", resp.Body, resp.Age, err)
	}
	if counters.Lookups(TierRedis, ResultStale) != 1 || counters.Lookups(TierMemory, ResultMiss) != 1 {
		t.Fatalf("lookups: redis stale %d, memory miss %d", counters.Lookups(TierRedis, ResultStale), counters.Lookups(TierMemory, ResultMiss))
	}
	// Now in b's near tier: the next failure does not ask the far one.
	far.mu.Lock()
	gets := far.gets
	far.mu.Unlock()
	b.Fetch(bg, call)
	if far.gets != gets {
		t.Fatal("asked the far tier although the near one had the value")
	}
}

// Fresh values are shared too: a second instance answers without a call.
func TestFarTierServesFresh(t *testing.T) {
	clk := newClock()
	far := newFar()
	cfg := defaults()
	cfg.FreshTTL = 10 * time.Second
	a, _, _ := newCache(t, cfg, &service{resp: ok(`{"v":1}`)}, clk, far)
	a.Fetch(bg, call)
	svc := &service{resp: ok(`{"v":2}`)}
	b, counters, _ := newCache(t, cfg, svc, clk, far)
	clk.Advance(time.Second)
	resp, err := b.Fetch(bg, call)
	if err != nil || string(resp.Body) != `{"v":1}` || resp.Source != bff.SourceCache || svc.calls.Load() != 0 {
		t.Fatalf("second instance: %s %v err %v, %d calls", resp.Body, resp.Source, err, svc.calls.Load())
	}
	if counters.Lookups(TierRedis, ResultFresh) != 1 {
		t.Fatal("fresh hit not counted for the redis tier")
	}
}

// A failing shared tier fails nothing: it is counted, and the memory
// tier goes on alone.
func TestFarTierErrorIgnored(t *testing.T) {
	clk := newClock()
	far := newFar()
	far.fail = true
	svc := &service{resp: ok(`{"v":1}`)}
	c, counters, _ := newCache(t, defaults(), svc, clk, far)
	c.Fetch(bg, call)
	svc.set(bff.Response{}, timeoutErr())
	if resp, _ := c.Fetch(bg, call); string(resp.Body) != `{"v":1}` {
		t.Fatal("memory tier did not serve stale")
	}
	c2, counters2, _ := newCache(t, defaults(), svc, clk, far)
	if resp, err := c2.Fetch(bg, call); resp.Body != nil || bff.CodeOf(err) != bff.CodeTimeout {
		t.Fatalf("with the far tier failing: %s %v, want the live error", resp.Body, err)
	}
	if counters2.Lookups(TierRedis, ResultError) != 1 || counters.Lookups(TierRedis, ResultError) != 0 {
		t.Fatal("far errors miscounted")
	}
}
