package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// Tier is where a lookup was answered.
type Tier uint8

// The tiers, near first.
const (
	TierMemory Tier = iota
	TierRedis
	tierCount
)

func (t Tier) String() string { return [...]string{"memory", "redis"}[t] }

// Result is what a lookup in one tier found.
type Result uint8

// The results a lookup counts.
const (
	ResultFresh Result = iota // served without a call (fresh, or revalidating)
	ResultStale               // served to hide a failure
	ResultMiss                // nothing usable
	ResultError               // the tier failed (a remote one)
	resultCount
)

func (r Result) String() string { return [...]string{"fresh_hit", "stale_served", "miss", "error"}[r] }

// Tiers and Results list every label value, for metrics that exist from
// the start.
var (
	Tiers   = []Tier{TierMemory, TierRedis}
	Results = []Result{ResultFresh, ResultStale, ResultMiss, ResultError}
)

// Counters are a service's cache events, kept across reloads. Safe for
// concurrent use.
type Counters struct {
	lookups       [tierCount][resultCount]atomic.Int64
	Revalidations atomic.Int64 // background refreshes started
}

// Lookups returns how many lookups in tier had result.
func (c *Counters) Lookups(t Tier, r Result) int64 { return c.lookups[t][r].Load() }

func (c *Counters) add(t Tier, r Result) { c.lookups[t][r].Add(1) }

// StaleServed is how many stale values were served, from either tier.
func (c *Counters) StaleServed() int64 {
	return c.Lookups(TierMemory, ResultStale) + c.Lookups(TierRedis, ResultStale)
}

// FreshHits is how many sections were answered from the cache without a
// call.
func (c *Counters) FreshHits() int64 {
	return c.Lookups(TierMemory, ResultFresh) + c.Lookups(TierRedis, ResultFresh)
}

// Options are what a Cache is made of besides its Config.
type Options struct {
	// Near is the in-process tier, always there. It is the service's own,
	// so its keys are a call's Path alone (no key to build per call).
	Near *Memory
	// Far is the shared tier (Redis), nil for the memory backend. It is
	// read only when Near has nothing usable, and written after Near. It
	// holds every service's entries, keyed by bff.Call.Key.
	Far Store
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Counters receives the lookups (nil: private counters).
	Counters *Counters
	// Refresher runs background revalidations; nil serves a value past
	// its freshness only to hide a failure.
	Refresher *Refresher
	// NewRequestID gives a background refresh its X-Request-Id.
	NewRequestID func() string
}

// Cache is the service's cache policy: it answers a call from a fresh
// entry without calling next, serves an entry in its revalidation window
// at once while one background call refreshes it, remembers good answers
// as the service's Cache-Control and the Config allow, and hides a
// failure that is the service's fault with an entry still within its
// stale-on-error window. It is safe for concurrent use.
type Cache struct {
	cfg   Config
	opt   Options
	next  bff.Fetcher
	now   func() time.Time
	count *Counters

	// mayBeFresh is false until the cache could hold a fresh entry
	// (fresh_ttl set, or a service answer with a freshness lifetime), so a
	// service that never allows caching costs no lookup before its calls.
	mayBeFresh atomic.Bool

	mu         sync.Mutex
	refreshing map[string]struct{} // keys with a background refresh running; guarded by mu
}

var _ bff.Fetcher = (*Cache)(nil)

// New returns a Cache in front of next.
func New(cfg Config, opt Options, next bff.Fetcher) *Cache {
	c := &Cache{cfg: cfg, opt: opt, next: next, now: opt.Now, count: opt.Counters, refreshing: map[string]struct{}{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.count == nil {
		c.count = new(Counters)
	}
	c.mayBeFresh.Store(cfg.FreshTTL > 0)
	return c
}

// Fetch answers call from a usable entry or from next; see Cache. A
// stale answer is the entry's body together with the live error (the
// bff.Response convention); a fresh one has Source bff.SourceCache and
// its Age. Once ctx has ended nobody waits for the answer, so no stale
// value is looked up: the page asks Fallback itself for sections still
// running at its deadline.
func (c *Cache) Fetch(ctx context.Context, call bff.Call) (bff.Response, error) {
	askedFar := false
	if c.mayBeFresh.Load() {
		var resp bff.Response
		var ok bool
		if resp, ok, askedFar = c.lookupFresh(ctx, call); ok {
			return resp, nil
		}
	}
	resp, err := c.next.Fetch(ctx, call)
	if err == nil {
		c.remember(ctx, call, resp)
		return resp, nil
	}
	if bff.Gone(err) {
		c.forget(ctx, call)
	}
	if !Hideable(err) || ctx.Err() != nil {
		return resp, err
	}
	if stale, ok := c.lookupStale(ctx, call, !askedFar); ok {
		stale.Attempts = resp.Attempts
		return stale, err
	}
	return resp, err
}

// usable says what an entry can do at now.
func usable(e Entry, now time.Time) (fresh, revalidate, stale bool) {
	age := e.Age(now)
	fresh = age < e.Fresh
	revalidate = !fresh && e.Fresh > 0 && age < e.Fresh+e.Revalidate
	stale = age <= e.StaleFor
	return
}

// lookupFresh answers from an entry that is fresh or in its revalidation
// window, near tier first; askedFar reports that the far tier was read
// (what it had, if anything, is now in the near tier).
func (c *Cache) lookupFresh(ctx context.Context, call bff.Call) (resp bff.Response, ok, askedFar bool) {
	now := c.now()
	e, found, _ := c.opt.Near.Get(ctx, call.Path)
	if found {
		if resp, ok := c.freshAnswer(e, now, call, TierMemory); ok {
			return resp, true, false
		}
	}
	c.count.add(TierMemory, ResultMiss)
	if c.opt.Far == nil {
		return bff.Response{}, false, false
	}
	fe, found := c.farGet(ctx, call)
	if !found || e.StoredAt.After(fe.StoredAt) {
		return bff.Response{}, false, true
	}
	_ = c.opt.Near.Put(ctx, call.Path, fe) // near now has it, fresh or only for a failure
	resp, ok = c.freshAnswer(fe, now, call, TierRedis)
	return resp, ok, true
}

func (c *Cache) freshAnswer(e Entry, now time.Time, call bff.Call, tier Tier) (bff.Response, bool) {
	fresh, revalidate, _ := usable(e, now)
	if !fresh && !revalidate {
		return bff.Response{}, false
	}
	if revalidate {
		c.revalidate(call)
	}
	c.count.add(tier, ResultFresh)
	return bff.Response{Body: e.Body, Source: bff.SourceCache, Age: e.Age(now)}, true
}

// farGet reads the shared tier, counting a miss or an error there.
func (c *Cache) farGet(ctx context.Context, call bff.Call) (Entry, bool) {
	e, ok, err := c.opt.Far.Get(ctx, call.Key())
	if now := c.now(); e.StoredAt.After(now) {
		e.StoredAt = now // another instance's clock runs ahead: no negative age
	}
	switch {
	case err != nil:
		c.count.add(TierRedis, ResultError)
		return Entry{}, false
	case !ok:
		c.count.add(TierRedis, ResultMiss)
	}
	return e, ok
}

// lookupStale finds an entry that may hide a failure, near tier first,
// then the far one when askFar.
func (c *Cache) lookupStale(ctx context.Context, call bff.Call, askFar bool) (bff.Response, bool) {
	now := c.now()
	if e, ok, _ := c.opt.Near.Get(ctx, call.Path); ok {
		if _, _, stale := usable(e, now); stale {
			c.count.add(TierMemory, ResultStale)
			return staleAnswer(e, now), true
		}
	}
	c.count.add(TierMemory, ResultMiss)
	if c.opt.Far == nil || !askFar {
		return bff.Response{}, false
	}
	e, ok := c.farGet(ctx, call)
	if !ok {
		return bff.Response{}, false
	}
	if _, _, stale := usable(e, now); !stale {
		c.count.add(TierRedis, ResultMiss)
		return bff.Response{}, false
	}
	_ = c.opt.Near.Put(ctx, call.Path, e)
	c.count.add(TierRedis, ResultStale)
	return staleAnswer(e, now), true
}

func staleAnswer(e Entry, now time.Time) bff.Response {
	return bff.Response{Body: e.Body, Source: bff.SourceCache, Age: e.Age(now)}
}

// Fallback returns the near tier's entry for call if it may still hide a
// failure, and counts it as served. The page uses it for a section still
// running at its deadline, when there is no time left to ask a remote
// tier.
func (c *Cache) Fallback(call bff.Call) (bff.Response, bool) {
	now := c.now()
	e, ok, _ := c.opt.Near.Get(context.Background(), call.Path)
	if !ok {
		return bff.Response{}, false
	}
	if _, _, stale := usable(e, now); !stale {
		return bff.Response{}, false
	}
	c.count.add(TierMemory, ResultStale)
	return staleAnswer(e, now), true
}

// entry makes the Entry for a good answer received at now, or reports
// that it must not be stored (Cache-Control: no-store).
func (c *Cache) entry(resp bff.Response, now time.Time) (Entry, bool) {
	e := Entry{Body: resp.Body, StoredAt: now, Fresh: c.cfg.FreshTTL, Revalidate: c.cfg.Revalidate, StaleFor: c.cfg.StaleTTL}
	if !c.cfg.HonorCacheControl || resp.Caching == nil {
		return e, true
	}
	d := parseCacheControl(resp.Caching.CacheControl)
	if d.noStore {
		return Entry{}, false
	}
	switch {
	case d.noCache || d.private:
		e.Fresh = 0
	case d.sMaxAge >= 0:
		e.Fresh = d.sMaxAge
	case d.maxAge >= 0:
		e.Fresh = d.maxAge
	}
	if d.staleWhileRevalidate >= 0 {
		e.Revalidate = d.staleWhileRevalidate
	}
	if d.staleIfError >= 0 {
		e.StaleFor = min(e.StaleFor, d.staleIfError)
	}
	if d.mustRevalidate {
		// Never used stale without asking (RFC 9111 section 5.2.2.2):
		// no revalidation window, and no stale-on-error unless the
		// answer allows it with stale-if-error.
		e.Revalidate = 0
		if d.staleIfError < 0 {
			e.StaleFor = 0
		}
	}
	// Time already spent in caches upstream counts (RFC 9111 section 4.2.3).
	e.StoredAt = now.Add(-parseAge(resp.Caching.Age))
	return e, true
}

// remember stores a good answer in both tiers, or forgets the call's
// entry when the answer may not be stored.
func (c *Cache) remember(ctx context.Context, call bff.Call, resp bff.Response) {
	e, ok := c.entry(resp, c.now())
	if !ok {
		c.forget(ctx, call)
		return
	}
	if e.Fresh > 0 && !c.mayBeFresh.Load() {
		c.mayBeFresh.Store(true)
	}
	_ = c.opt.Near.Put(ctx, call.Path, e)
	if c.opt.Far != nil {
		_ = c.opt.Far.Put(ctx, call.Key(), e)
	}
}

func (c *Cache) forget(ctx context.Context, call bff.Call) {
	_ = c.opt.Near.Delete(ctx, call.Path)
	if c.opt.Far != nil {
		_ = c.opt.Far.Delete(ctx, call.Key())
	}
}

// revalidate starts one background refresh of call's entry unless one is
// running.
// It goes through next (so page calls for the key join it, and it has the
// service's timeout and breaker) with its own X-Request-Id; a failure
// leaves the entry as it was, and a 404 or 410 removes it.
func (c *Cache) revalidate(call bff.Call) {
	if c.opt.Refresher == nil {
		return
	}
	key := call.Path
	c.mu.Lock()
	if _, running := c.refreshing[key]; running {
		c.mu.Unlock()
		return
	}
	c.refreshing[key] = struct{}{}
	c.mu.Unlock()
	if c.opt.NewRequestID != nil {
		call.RequestID = c.opt.NewRequestID()
	}
	started := c.opt.Refresher.Go(func(ctx context.Context) {
		defer c.done(key)
		resp, err := c.next.Fetch(ctx, call)
		switch {
		case err == nil:
			c.remember(ctx, call, resp)
		case bff.Gone(err):
			c.forget(ctx, call)
		}
	})
	if started {
		c.count.Revalidations.Add(1)
	} else {
		c.done(key)
	}
}

func (c *Cache) done(key string) {
	c.mu.Lock()
	delete(c.refreshing, key)
	c.mu.Unlock()
}

// Hideable reports whether a failure may be hidden by a stale value: the
// service's own faults — 5xx, 429, timeouts (the page deadline included),
// connection failures, bad responses, an open breaker — and failures that
// are nobody's (an unfollowed redirect, pagebff out of local resources).
// Never a 404 or other 4xx (the data may truly be gone) or a client that
// went away. See bff.Classify.
func Hideable(err error) bool {
	if _, ok := errors.AsType[*bff.Error](err); !ok {
		return false
	}
	switch bff.Classify(err) {
	case bff.FaultService, bff.FaultNeither:
		return true
	}
	return false
}
