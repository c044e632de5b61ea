// Package h1 is a small HTTP/1.1 GET client for one downstream host, built
// for the hot path of every page.
//
// net/http's client costs a read and a write goroutine per connection and
// clones the request, URL and header on every call. A Client here writes
// the request and reads the response on the calling goroutine, over a
// mutex-guarded LIFO stack of keep-alive connections, each with its own
// reused read and write buffers. It reads the whole body into memory,
// de-chunked and gunzipped, bounded by the caller's limit; memory follows
// the bytes that arrive, never a claimed length.
//
// It is strict where a lenient client would let a connection fall out of
// step with its requests (a response desync): ambiguous framing is an
// error, and a connection with bytes past the end of a response, or any
// that arrived while it was idle, is closed rather than reused. Any error
// closes the connection used. A reused connection that fails before any
// response byte arrives is retried once on a new connection (see
// Client.Get); nothing else is retried.
//
// Measured with BenchmarkGet (a 1 KiB JSON body over loopback, a context
// with a timeout per call; 2 vCPU AMD EPYC, go1.26, a loaded machine, so
// read the ratios rather than the times), per call:
//
//	                  h1                          net/http
//	raw server        ~42µs  2.4 KB  15 allocs    ~110µs  7.3 KB  65 allocs
//	httptest server   ~83µs  4.7 KB  39 allocs    ~118µs  9.6 KB  90 allocs
//
// The raw server answers with canned bytes, so its row is mostly client
// cost; the httptest row includes net/http's server in both columns. Of
// h1's 15 allocations, 4 are the benchmark's context.WithTimeout and 4 the
// context.AfterFunc that lets a cancellation interrupt the call.
//
// What it does not do: methods other than GET, request bodies, redirects,
// proxies, cookies, HTTP/2, or Transfer-Encoding other than chunked.
package h1
