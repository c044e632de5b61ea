// Package downstream calls one backend service over HTTP and turns its answer
// into a section: a JSON object kept as raw bytes, or a *bff.Error with a code.
//
// A Client calls through an h1.Client pool (subpackage h1: HTTP/1.1 on the
// calling goroutine, up to 1024 idle keep-alive connections), sends
// X-Request-Id, Accept: application/json and the W3C trace context, reads
// at most MaxBody bytes, validates the JSON without decoding it, refuses
// answers for another request or user (a response desync), and normalizes
// arrays and empty answers to {"items": [...]}. It applies no timeout of its
// own: the caller's context bounds the whole call, connection and body
// included (see the resilience package's Timeout).
package downstream
