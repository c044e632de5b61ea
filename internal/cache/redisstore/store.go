package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sony/gobreaker/v2"

	"github.com/pagebff/pagebff/internal/cache"
)

// Config is the shared tier's configuration (cache.redis_*).
type Config struct {
	URL           string        // redis:// or rediss:// (cache.redis_url)
	Timeout       time.Duration // bounds every command (0: 20ms)
	WriteInterval time.Duration // per-key write rate limit (0: 1s)
	Prefix        string        // "" means "pagebff:"
	QueueSize     int           // pending writes and deletes (0: 4096); beyond it they are dropped and counted
}

// The defaults, and the fixed parts of the design.
const (
	DefaultTimeout       = 20 * time.Millisecond
	DefaultWriteInterval = time.Second
	DefaultPrefix        = "pagebff:"
	DefaultQueueSize     = 4096

	maxBatch = 128     // commands in one pipeline
	rateKeys = 100_000 // keys whose last write is remembered for the rate limit
	// poolSize bounds the connections: the writer's one and concurrent
	// Gets. It is also how many failed dials go-redis takes before it
	// fails dials at once and probes in a goroutine of its own, once a
	// second, until one succeeds; after Close that goroutine may linger
	// for up to a second.
	poolSize        = 16
	breakerFailures = 3 // consecutive failures that open the breaker
	breakerOpenFor  = 2 * time.Second
)

// Observer receives the Store's events, for metrics. Its methods must be
// cheap: Command runs on a page's goroutine after every Get. New uses a
// no-op Observer when given nil.
type Observer interface {
	// Command reports one command sent: "get" (a miss is not an error) or
	// "pipeline" (one per batch of writes and deletes).
	Command(name string, d time.Duration, err error)
	// WriteDropped reports one write or delete dropped: the queue was
	// full, the breaker was open, or its pipeline failed.
	WriteDropped()
	// BreakerState reports the breaker's new state, "closed", "open" or
	// "half-open", once per change and in order. It is called with no
	// lock held, on the goroutine that noticed the change.
	BreakerState(state string)
}

type nopObserver struct{}

func (nopObserver) Command(string, time.Duration, error) {}
func (nopObserver) WriteDropped()                        {}
func (nopObserver) BreakerState(string)                  {}

// Stats are what a Store did, for the admin view.
type Stats struct {
	Written int64  `json:"written"` // writes and deletes Redis accepted
	Dropped int64  `json:"dropped"` // writes and deletes given up (queue full, breaker open, pipeline failed)
	Errors  int64  `json:"errors"`  // commands that failed (gets and pipelines)
	State   string `json:"state"`   // the breaker's: "closed", "open" or "half-open"
	Addr    string `json:"addr"`    // host:port, never a user or password
}

// Errors a Store returns besides Redis's own.
var (
	// ErrUnavailable is Get's answer while the breaker is open: no
	// command was sent.
	ErrUnavailable = errors.New("redis cache unavailable: breaker open")
	// ErrQueueFull is Put's and Delete's answer when the write queue is
	// full: the write was dropped (and counted).
	ErrQueueFull = errors.New("redis cache write queue full: write dropped")
	// ErrClosed is the answer of every method after Close.
	ErrClosed = errors.New("redis cache closed")
)

// Store is the shared cache tier on Redis; see the package documentation.
// It is safe for concurrent use.
type Store struct {
	cfg     Config // defaults applied
	addr    string // host:port
	secrets []string
	client  *redis.Client
	cb      *gobreaker.CircuitBreaker[[]byte]
	log     *slog.Logger
	obs     Observer

	ops       chan op       // to the writer
	quit      chan struct{} // closed by Close
	done      chan struct{} // closed by the writer when it returns
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	rateMu sync.Mutex
	rate   *simplelru.LRU[string, lastWrite] // by cache key; guarded by rateMu

	written, dropped, errs atomic.Int64

	lastErr atomic.Pointer[string] // the latest failure, scrubbed, for the log line

	// The breaker's state changes are recorded by OnStateChange, under
	// the breaker's lock, and told by report, outside it. mu is never
	// held while calling the breaker.
	mu         sync.Mutex
	changes    []gobreaker.State // not yet told; guarded by mu
	hasChanges atomic.Bool       // len(changes) > 0, for report's fast path
	reporting  bool              // a goroutine is telling of changes; guarded by mu
	down       bool              // "unavailable" was logged, "available again" not yet; guarded by mu
}

var _ cache.Store = (*Store)(nil)

// op is a queued write (a Put) or delete.
type op struct {
	key   string // the cache key, "service path"
	entry cache.Entry
	hash  uint64
	del   bool
}

// lastWrite is when a key was last queued for writing, and what.
type lastWrite struct {
	hash uint64
	at   time.Time
}

// New returns a Store for cfg. It parses cfg.URL (an error names
// cache.redis_url and never shows the password) but does not connect:
// pagebff starts with Redis down, and the Store connects when first used.
// log receives one line when Redis becomes unavailable and one when it is
// back (nil: no logging); obs receives the events for metrics (nil: none).
// Close stops the writer goroutine New starts.
func New(cfg Config, log *slog.Logger, obs Observer) (*Store, error) {
	opt, addr, secrets, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("cache.redis_timeout %v: must not be negative", cfg.Timeout)
	case cfg.WriteInterval < 0:
		return nil, fmt.Errorf("cache.redis_write_interval %v: must not be negative", cfg.WriteInterval)
	case cfg.QueueSize < 0:
		return nil, fmt.Errorf("redis queue size %d: must not be negative", cfg.QueueSize)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.WriteInterval == 0 {
		cfg.WriteInterval = DefaultWriteInterval
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if obs == nil {
		obs = nopObserver{}
	}
	rememberSecrets(secrets)

	// One attempt per command, each step bounded by Timeout, and the
	// caller's context bounds the whole (ContextTimeoutEnabled).
	opt.DialTimeout = cfg.Timeout
	opt.DialerRetries = 1
	opt.ReadTimeout = cfg.Timeout
	opt.WriteTimeout = cfg.Timeout
	opt.PoolTimeout = cfg.Timeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	opt.PoolSize = poolSize
	opt.MinIdleConns = 0
	opt.PipelinePoolSize = -1 // the writer's pipelines share the small pool
	opt.Protocol = 2          // RESP2: no push notifications wanted
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	rate, err := simplelru.NewLRU[string, lastWrite](rateKeys, nil)
	if err != nil {
		return nil, fmt.Errorf("new redis cache: %w", err)
	}
	s := &Store{
		cfg:     cfg,
		addr:    addr,
		secrets: secrets,
		log:     log,
		obs:     obs,
		ops:     make(chan op, cfg.QueueSize),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		rate:    rate,
	}
	s.cb = gobreaker.NewCircuitBreaker[[]byte](gobreaker.Settings{
		Name:        "redis",
		MaxRequests: 1,
		Timeout:     breakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= breakerFailures },
		IsExcluded:  func(err error) bool { _, ok := errors.AsType[*callerGoneError](err); return ok },
		// Called with the breaker's lock held: only record.
		OnStateChange: func(_ string, _, to gobreaker.State) {
			s.mu.Lock()
			s.changes = append(s.changes, to)
			s.hasChanges.Store(true)
			s.mu.Unlock()
		},
	})
	s.client = redis.NewClient(opt)
	go s.writeLoop()
	return s, nil
}

// parseURL checks a cache.redis_url and returns the client options, the
// address and the forms of the password to hide.
func parseURL(raw string) (*redis.Options, string, []string, error) {
	if raw == "" {
		return nil, "", nil, errors.New("cache.redis_url is required with cache.backend redis (redis://[user:password@]host:port/db)")
	}
	secrets := secrets(raw)
	shown := Redact(raw)
	u, err := url.Parse(raw)
	if err != nil {
		reason := err.Error()
		if ue, ok := errors.AsType[*url.Error](err); ok {
			reason = ue.Err.Error() // url.Error repeats the whole URL
		}
		return nil, "", nil, fmt.Errorf("cache.redis_url %q is not a URL: %s", shown, scrub(reason, secrets))
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, "", nil, fmt.Errorf("cache.redis_url %q: the scheme must be redis:// or rediss:// (redis://[user:password@]host:port/db)", shown)
	}
	if u.Hostname() == "" {
		return nil, "", nil, fmt.Errorf("cache.redis_url %q: no host (redis://[user:password@]host:port/db)", shown)
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, "", nil, fmt.Errorf("cache.redis_url %q: %s", shown, scrub(err.Error(), secrets))
	}
	return opt, opt.Addr, secrets, nil
}

func (s *Store) redisKey(key string) string { return s.cfg.Prefix + keyVersion + key }

// callerGoneError is a command cut short because its caller's context
// ended: the breaker counts it neither way.
type callerGoneError struct{ err error }

func (e *callerGoneError) Error() string { return e.err.Error() }
func (e *callerGoneError) Unwrap() error { return e.err }

// Get reads key from Redis: one GET bounded by Timeout and ctx. While the
// breaker is open it returns ErrUnavailable at once; with ctx already
// done it returns ctx's error; neither sends a command. A value that does
// not decode is a miss.
func (s *Store) Get(ctx context.Context, key string) (cache.Entry, bool, error) {
	if s.closed.Load() {
		return cache.Entry{}, false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return cache.Entry{}, false, fmt.Errorf("redis get: %w", err)
	}
	val, err := s.cb.Execute(func() ([]byte, error) { return s.get(ctx, key) })
	s.report()
	switch {
	case isOpen(err):
		return cache.Entry{}, false, ErrUnavailable
	case err != nil:
		return cache.Entry{}, false, err
	case val == nil:
		return cache.Entry{}, false, nil
	}
	e, err := decode(val)
	if err != nil {
		return cache.Entry{}, false, nil
	}
	return e, true, nil
}

// get sends the GET; a miss is a nil value and no error.
func (s *Store) get(ctx context.Context, key string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	start := time.Now()
	val, err := s.client.Get(cctx, s.redisKey(key)).Bytes()
	d := time.Since(start)
	switch {
	case errors.Is(err, redis.Nil):
		s.obs.Command("get", d, nil)
		return nil, nil
	case err != nil && callerGone(ctx):
		err = &callerGoneError{err: fmt.Errorf("redis get: %w", scrubErr(err, s.secrets))}
		s.obs.Command("get", d, err)
		return nil, err
	case err != nil:
		err = s.failed("get", err)
		s.obs.Command("get", d, err)
		return nil, err
	}
	s.obs.Command("get", d, nil)
	if val == nil {
		val = []byte{} // present, if empty (and then not decodable)
	}
	return val, nil
}

// callerGone reports whether ctx, the caller's, has ended or reached its
// deadline: the socket deadline go-redis set from it may expire a moment
// before ctx.Err says so.
func callerGone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

// failed counts a failed command and returns its error, scrubbed.
func (s *Store) failed(cmd string, err error) error {
	err = fmt.Errorf("redis %s %s: %w", cmd, s.addr, scrubErr(err, s.secrets))
	s.errs.Add(1)
	msg := err.Error()
	s.lastErr.Store(&msg)
	return err
}

// Put queues e for writing under key and returns at once. It skips an
// entry already expired, and one whose body and lifetimes were queued for
// key less than WriteInterval ago. With ctx already done it queues
// nothing; with the queue full it drops the write, counts it and returns
// ErrQueueFull.
func (s *Store) Put(ctx context.Context, key string, e cache.Entry) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redis put: %w", err)
	}
	now := time.Now()
	if !e.Expires().After(now) {
		return nil
	}
	h := hashEntry(e)
	s.rateMu.Lock()
	if last, ok := s.rate.Get(key); ok && last.hash == h && now.Sub(last.at) < s.cfg.WriteInterval {
		s.rateMu.Unlock()
		return nil
	}
	s.rate.Add(key, lastWrite{hash: h, at: now})
	s.rateMu.Unlock()
	return s.enqueue(op{key: key, entry: e, hash: h})
}

// Delete queues the removal of key and returns at once; see Put.
func (s *Store) Delete(ctx context.Context, key string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redis delete: %w", err)
	}
	s.rateMu.Lock()
	s.rate.Remove(key) // a Put after the Delete is written at once
	s.rateMu.Unlock()
	return s.enqueue(op{key: key, del: true})
}

func (s *Store) enqueue(o op) error {
	select {
	case s.ops <- o:
		return nil
	default:
		s.drop(o)
		return ErrQueueFull
	}
}

// drop counts o as given up, and forgets its write so that the next Put
// of the same value is not skipped.
func (s *Store) drop(o op) {
	s.dropped.Add(1)
	s.obs.WriteDropped()
	if o.del {
		return
	}
	s.rateMu.Lock()
	if last, ok := s.rate.Peek(o.key); ok && last.hash == o.hash {
		s.rate.Remove(o.key)
	}
	s.rateMu.Unlock()
}

// State returns the breaker's state: "closed", "open" or "half-open".
func (s *Store) State() string {
	st := s.cb.State() // may move open to half-open
	s.report()
	return st.String()
}

// Stats returns what the Store did.
func (s *Store) Stats() Stats {
	return Stats{
		Written: s.written.Load(),
		Dropped: s.dropped.Load(),
		Errors:  s.errs.Load(),
		State:   s.State(),
		Addr:    s.addr,
	}
}

// Close stops the writer, which first sends what is queued (within
// Timeout; the rest is dropped), and closes the connections. Every method
// then returns ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.quit)
		<-s.done
		if err := s.client.Close(); err != nil {
			s.closeErr = fmt.Errorf("close redis cache: %w", scrubErr(err, s.secrets))
		}
	})
	return s.closeErr
}

// report tells the Observer and the log of the breaker's state changes,
// in order, outside the breaker's lock and any other. One goroutine at a
// time tells; one that finds another telling leaves it to that one, which
// looks again before it stops. The log has one line when Redis becomes
// unavailable (the breaker opens) and one when it is back (closed again):
// a probe failing in half-open is not news.
func (s *Store) report() {
	if !s.hasChanges.Load() {
		return
	}
	s.mu.Lock()
	if s.reporting {
		s.mu.Unlock()
		return
	}
	s.reporting = true
	for len(s.changes) > 0 {
		changes := s.changes
		s.changes = nil
		s.hasChanges.Store(false)
		logs := make([]bool, len(changes)) // whether changes[i] is logged
		for i, to := range changes {
			if (to == gobreaker.StateOpen && !s.down) || (to == gobreaker.StateClosed && s.down) {
				logs[i] = true
				s.down = !s.down
			}
		}
		s.mu.Unlock()
		for i, to := range changes {
			s.obs.BreakerState(to.String())
			switch {
			case !logs[i]:
			case to == gobreaker.StateOpen:
				var cause string
				if p := s.lastErr.Load(); p != nil {
					cause = *p
				}
				s.log.Warn("redis cache unavailable; going on with the memory cache",
					"addr", s.addr, "error", cause, "retry_after", breakerOpenFor.String())
			default:
				s.log.Info("redis cache available again", "addr", s.addr)
			}
		}
		s.mu.Lock()
	}
	s.reporting = false
	s.mu.Unlock()
}
