// Package cache hides outages with stale-on-error values: Stale decorates a
// bff.Fetcher, remembers each call's last good answer in a Store, and serves
// it (marked stale) when live data fails for a reason that is the service's
// fault. Memory is the in-process Store, a size-bounded LRU; a shared backend
// for a fleet (Redis) implements the same interface.
package cache
