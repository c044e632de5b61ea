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
// What it does not do: methods other than GET, request bodies, redirects,
// proxies, cookies, HTTP/2, or Transfer-Encoding other than chunked.
package h1
