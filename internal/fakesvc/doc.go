// Package fakesvc plays pagebff's downstream services — User, Catalog and
// Activity — with realistic data and a little latency, and takes faults at
// run time for chaos drills: latency and a slow tail, error statuses, hangs,
// trickling, truncated, malformed or empty bodies, connection resets, each
// for a share of requests and optionally for a limited time.
//
// A Service is an http.Handler with a small control API at /_chaos (see
// docs/chaos.md); cmd/fakesvc serves one as a process, and `bff --demo`
// runs one of each in-process (StartDemo).
package fakesvc
