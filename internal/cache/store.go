package cache

import (
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Entry is a remembered good answer.
type Entry struct {
	Body     []byte // a JSON object; never modified
	StoredAt time.Time
}

// Store keeps entries by key. Implementations are safe for concurrent use
// and bounded in memory. Get reports whether the key is present, whatever
// the entry's age: expiry is the caller's decision.
type Store interface {
	Get(key string) (Entry, bool)
	Put(key string, e Entry)
	Delete(key string)
	Len() int
}

// Memory is an in-process Store holding at most a fixed number of entries,
// evicting the least recently used.
type Memory struct {
	lru        *lru.Cache[string, Entry]
	maxEntries int
}

var _ Store = (*Memory)(nil)

// NewMemory returns a Memory store of at most maxEntries (≥ 1) entries.
func NewMemory(maxEntries int) (*Memory, error) {
	c, err := lru.New[string, Entry](maxEntries)
	if err != nil {
		return nil, fmt.Errorf("new memory cache: %w", err)
	}
	return &Memory{lru: c, maxEntries: maxEntries}, nil
}

// Cap returns the most entries m holds.
func (m *Memory) Cap() int { return m.maxEntries }

// Get returns the entry for key.
func (m *Memory) Get(key string) (Entry, bool) { return m.lru.Get(key) }

// Put stores e under key, evicting the least recently used entry when full.
func (m *Memory) Put(key string, e Entry) { m.lru.Add(key, e) }

// Delete removes key.
func (m *Memory) Delete(key string) { m.lru.Remove(key) }

// Copy returns a new Memory store of at most maxEntries holding m's entries,
// the most recently used kept when they do not all fit, in m's order of
// use. m is not changed: pages still using it go on with it.
func (m *Memory) Copy(maxEntries int) (*Memory, error) {
	c, err := NewMemory(maxEntries)
	if err != nil {
		return nil, err
	}
	keys := m.lru.Keys() // oldest first
	if len(keys) > maxEntries {
		keys = keys[len(keys)-maxEntries:]
	}
	for _, k := range keys {
		if e, ok := m.lru.Peek(k); ok {
			c.lru.Add(k, e)
		}
	}
	return c, nil
}

// Len returns the number of entries.
func (m *Memory) Len() int { return m.lru.Len() }
