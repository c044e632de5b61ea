// Package resilience holds the per-service call policies that wrap a
// bff.Fetcher: Timeout (the service's own deadline, body included) and
// Breaker (a circuit breaker over github.com/sony/gobreaker/v2). Later
// policies (hedging) slot in the same way. Nothing here speaks HTTP.
//
// The per-service pipeline, outermost first, is:
//
//	stale cache → coalescing → Timeout → Breaker → hedge → HTTP attempt
package resilience
