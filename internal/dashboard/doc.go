// Package dashboard is the live page operators watch during an incident,
// GET /admin/dashboard: per service the breaker state and how long it has
// held, requests per second, p50 and p99 latency over the last ten seconds,
// sections by outcome, hedges and retries, cache hits; for pages the rate,
// latency, pages in flight and pages shed; and sparklines of the last five
// minutes.
//
// It adds no work to a page. A Sampler reads a Source once a second — the
// app's cumulative Prometheus counters and histogram buckets, which pages
// update anyway — and derives rates from the difference between two
// samples and windowed percentiles from the difference between the bucket
// counts now and ten samples ago (as histogram_quantile does over a rate).
// It keeps the last 300 samples for the sparklines.
//
// Handler serves the page (HTML, script and style embedded from assets/;
// nothing is loaded from another origin), a text/event-stream of one
// snapshot a second, and the same as JSON for polling. It runs the Sampler
// only while someone watches: from the first stream or poll until 30
// seconds after the last one. Guarding the data with the admin token is the
// router's job (internal/httpapi); the page itself holds no data and asks
// for the token.
package dashboard
