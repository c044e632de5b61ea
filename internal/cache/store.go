package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Entry is a remembered good answer and how long it may be used.
type Entry struct {
	Body []byte // a JSON object; never modified
	// StoredAt is when the answer came from the service. It travels with
	// the entry (through a shared tier too), so ages agree across
	// instances.
	StoredAt time.Time
	// Fresh is how long after StoredAt the entry answers without a call
	// (0: never; every page asks live).
	Fresh time.Duration
	// Revalidate is how long after freshness ends the entry is still
	// served at once while one background call refreshes it.
	Revalidate time.Duration
	// StaleFor is how long after StoredAt the entry may hide a failure.
	StaleFor time.Duration
}

// Age is how old e is at now.
func (e Entry) Age(now time.Time) time.Duration { return now.Sub(e.StoredAt) }

// Expires is when e is no use any more: past freshness, revalidation and
// stale-on-error.
func (e Entry) Expires() time.Time {
	return e.StoredAt.Add(max(e.StaleFor, e.Fresh+e.Revalidate))
}

// Store keeps entries by key. Implementations are safe for concurrent use
// and bounded in memory. Get reports whether the key is present, whatever
// the entry's age: expiry is the caller's decision. A remote store bounds
// every call by its own timeout and reports its failures as errors; the
// caller then goes on without it.
type Store interface {
	Get(ctx context.Context, key string) (Entry, bool, error)
	Put(ctx context.Context, key string, e Entry) error
	Delete(ctx context.Context, key string) error
}

// entryOverhead is what an entry costs besides its key and body bytes:
// the list element, the map slot and Entry itself, roughly.
const entryOverhead = 128

func entrySize(key string, e Entry) int64 { return int64(len(key) + len(e.Body) + entryOverhead) }

// Memory is an in-process Store holding at most a fixed number of entries
// and a fixed number of bytes (keys and bodies, plus a small overhead per
// entry), evicting the least recently used. Its methods never fail.
type Memory struct {
	maxEntries int
	maxBytes   int64

	mu    sync.Mutex
	lru   *simplelru.LRU[string, Entry] // guarded by mu
	bytes int64                         // guarded by mu
}

var _ Store = (*Memory)(nil)

// NewMemory returns a Memory store of at most maxEntries (≥ 1) entries and
// maxBytes (≥ 1) bytes.
func NewMemory(maxEntries int, maxBytes int64) (*Memory, error) {
	if maxBytes < 1 {
		return nil, errors.New("new memory cache: max bytes must be at least 1")
	}
	m := &Memory{maxEntries: maxEntries, maxBytes: maxBytes}
	c, err := simplelru.NewLRU[string, Entry](maxEntries, func(k string, e Entry) { m.bytes -= entrySize(k, e) })
	if err != nil {
		return nil, fmt.Errorf("new memory cache: %w", err)
	}
	m.lru = c
	return m, nil
}

// Cap returns the most entries and bytes m holds.
func (m *Memory) Cap() (entries int, bytes int64) { return m.maxEntries, m.maxBytes }

// Get returns the entry for key, marking it recently used.
func (m *Memory) Get(_ context.Context, key string) (Entry, bool, error) {
	m.mu.Lock()
	e, ok := m.lru.Get(key)
	m.mu.Unlock()
	return e, ok, nil
}

// Put stores e under key, evicting the least recently used entries while
// the bounds are exceeded. An entry larger than the whole byte bound is
// not kept (and replaces nothing).
func (m *Memory) Put(_ context.Context, key string, e Entry) error {
	size := entrySize(key, e)
	m.mu.Lock()
	defer m.mu.Unlock()
	if size > m.maxBytes {
		m.lru.Remove(key)
		return nil
	}
	if old, ok := m.lru.Peek(key); ok {
		m.bytes -= entrySize(key, old)
	}
	m.lru.Add(key, e) // may evict the oldest, which subtracts its size
	m.bytes += size
	for m.bytes > m.maxBytes {
		if _, _, ok := m.lru.RemoveOldest(); !ok {
			break
		}
	}
	return nil
}

// Delete removes key.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	m.lru.Remove(key)
	m.mu.Unlock()
	return nil
}

// Copy returns a new Memory store with the given bounds holding m's
// entries, the most recently used kept when they do not all fit, in m's
// order of use. m is not changed: pages still using it go on with it.
func (m *Memory) Copy(maxEntries int, maxBytes int64) (*Memory, error) {
	c, err := NewMemory(maxEntries, maxBytes)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := m.lru.Keys() // oldest first
	for _, k := range keys {
		if e, ok := m.lru.Peek(k); ok {
			_ = c.Put(context.Background(), k, e) // the newest are added last and kept
		}
	}
	return c, nil
}

// Usage is what a Memory store holds.
type Usage struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

// Usage returns how many entries and bytes m holds.
func (m *Memory) Usage() Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Usage{Entries: m.lru.Len(), Bytes: m.bytes}
}

// Len returns the number of entries.
func (m *Memory) Len() int { return m.Usage().Entries }
