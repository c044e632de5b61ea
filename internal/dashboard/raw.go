package dashboard

import "time"

// Source is what a Sampler reads once a second. Sample must be safe to call
// from the Sampler's goroutine while pages are served, and cheap: it is the
// whole cost of an open dashboard.
type Source interface {
	Sample() Raw
}

// SourceFunc adapts a function to Source.
type SourceFunc func() Raw

// Sample calls f.
func (f SourceFunc) Sample() Raw { return f() }

// Raw is one reading of the cumulative figures: counters and histogram
// buckets since the process started, as Prometheus keeps them, plus the
// current states. The Sampler turns two readings into rates and windowed
// percentiles.
type Raw struct {
	// Time is when the reading was taken; zero means "now" by the
	// Sampler's clock.
	Time     time.Time
	Services []RawService // in page order
	Pages    RawPages
	// Redis is the shared Redis tier's breaker state ("closed",
	// "half-open", "open"), or "" when no Redis tier is configured.
	Redis string
}

// RawService is one service's cumulative figures.
type RawService struct {
	Name string
	// Breaker is the breaker's state: "closed", "half-open" or "open".
	Breaker string
	// Forced is the drill override: "open", "closed", or "" (or "none")
	// when the breaker follows its rules.
	Forced string
	// Outcomes are the sections rendered, by status and code.
	Outcomes []Outcome
	// Latency is the section latency histogram.
	Latency     Histogram
	HedgesSent  uint64
	HedgesWon   uint64
	RetriesSent uint64
	RetriesWon  uint64
	FreshHits   uint64 // cache lookups answered fresh, every tier
	StaleServed uint64 // sections answered from the stale cache
}

// Outcome is a cumulative count of sections with one status ("ok",
// "stale", "error") and code ("none" when ok).
type Outcome struct {
	Status, Code string
	N            uint64
}

// RawPages are the page figures.
type RawPages struct {
	// Latency is the page latency histogram; its Count is the pages
	// served.
	Latency  Histogram
	Inflight float64 // pages in flight now
	Shed     uint64  // pages answered 503 at server.max_inflight
}

// Histogram is a cumulative histogram the way Prometheus exposes it.
type Histogram struct {
	// Bounds are the buckets' upper bounds in seconds, ascending, without
	// +Inf.
	Bounds []float64
	// Counts are the cumulative counts: Counts[i] observations were at most
	// Bounds[i]. len(Counts) == len(Bounds).
	Counts []uint64
	// Count is every observation, those above the last bound included.
	Count uint64
}
