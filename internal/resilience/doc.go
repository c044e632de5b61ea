// Package resilience holds the per-service call policies that wrap a
// bff.Fetcher: Timeout (the service's own deadline, body included), Breaker
// (a circuit breaker over github.com/sony/gobreaker/v2), Coalescer (shared
// identical calls) and Hedger (a second attempt for slow calls, with its
// latency Estimator and hedge Budget). Nothing here speaks HTTP.
//
// The per-service pipeline, outermost first, is:
//
//	stale cache → coalescing → Timeout → Breaker → hedge → HTTP attempt
package resilience
