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
	lru *lru.Cache[string, Entry]
}

var _ Store = (*Memory)(nil)

// NewMemory returns a Memory store of at most maxEntries (≥ 1) entries.
func NewMemory(maxEntries int) (*Memory, error) {
	c, err := lru.New[string, Entry](maxEntries)
	if err != nil {
		return nil, fmt.Errorf("new memory cache: %w", err)
	}
	return &Memory{lru: c}, nil
}

// Get returns the entry for key.
func (m *Memory) Get(key string) (Entry, bool) { return m.lru.Get(key) }

// Put stores e under key, evicting the least recently used entry when full.
func (m *Memory) Put(key string, e Entry) { m.lru.Add(key, e) }

// Delete removes key.
func (m *Memory) Delete(key string) { m.lru.Remove(key) }

// Resize changes the bound, evicting the least recently used entries if
// the store holds more.
func (m *Memory) Resize(maxEntries int) { m.lru.Resize(maxEntries) }

// Len returns the number of entries.
func (m *Memory) Len() int { return m.lru.Len() }
