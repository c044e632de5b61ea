// Package downstream calls one backend service over HTTP and turns its answer
// into a section: a JSON object kept as raw bytes, or a *bff.Error with a code.
//
// A Client owns one tuned http.Transport (Go's default keeps only two idle
// connections per host, which collapses under load), sends X-Request-Id and
// Accept: application/json, reads at most MaxBody bytes, validates the JSON
// without decoding it, and normalizes arrays and empty answers to
// {"items": [...]}. It applies no timeout of its own: the caller's context
// bounds the whole call, connection and body included (see the resilience
// package's Timeout).
package downstream
