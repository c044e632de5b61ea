// Package bff holds pagebff's shared vocabulary: the downstream call and its
// answer (Call, Response, Fetcher), section outcomes and their machine-readable
// codes (Code, Error), and the field errors that configuration validation
// reports (FieldError).
//
// bff imports nothing internal; every other package may import it. That keeps
// the policies (breaker, hedge, cache, coalescing) and the HTTP client free to
// wrap one another through the Fetcher interface without knowing each other.
package bff
