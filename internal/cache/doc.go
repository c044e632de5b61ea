// Package cache is a service's cache policy (Cache): it answers from a
// fresh entry without a call, serves an entry in its stale-while-revalidate
// window while one background call (Refresher) refreshes it, remembers good
// answers as the service's Cache-Control and the Config allow (RFC 9111 as
// a shared cache, RFC 5861), and hides failures that are the service's
// fault with a stale entry. Memory is the in-process Store, an LRU bounded
// by entries and bytes; a shared tier for a fleet (Redis) implements the
// same Store interface behind it.
package cache
