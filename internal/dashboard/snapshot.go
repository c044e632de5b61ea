package dashboard

import (
	"math"
	"strconv"
)

// Snapshot is what the dashboard shows for one second: rates over the last
// sample interval (about a second), percentiles over the last Window
// samples (about ten seconds), and totals since the process started.
type Snapshot struct {
	Time     int64          `json:"t"`          // Unix milliseconds
	Interval float64        `json:"interval_s"` // seconds the rates are over
	Window   float64        `json:"window_s"`   // seconds the percentiles are over
	Pages    PageStats      `json:"pages"`
	Services []ServiceStats `json:"services"`
	Redis    *State         `json:"redis,omitempty"` // nil without a Redis tier
}

// PageStats are the page figures of a Snapshot.
type PageStats struct {
	PerSec     float64 `json:"per_sec"`
	P50        Millis  `json:"p50_ms"`
	P99        Millis  `json:"p99_ms"`
	Inflight   float64 `json:"inflight"`
	ShedPerSec float64 `json:"shed_per_sec"`
	Total      uint64  `json:"total"`
	Shed       uint64  `json:"shed"`
}

// ServiceStats are one service's figures in a Snapshot.
type ServiceStats struct {
	Name    string  `json:"name"`
	Breaker State   `json:"breaker"`
	PerSec  float64 `json:"per_sec"`
	P50     Millis  `json:"p50_ms"`
	P99     Millis  `json:"p99_ms"`
	// NotOKPerSec is the sections per second that were not ok (stale or
	// error).
	NotOKPerSec float64 `json:"not_ok_per_sec"`
	// Outcomes are every status and code seen since the start, ok first,
	// then by total.
	Outcomes []OutcomeStats `json:"outcomes"`
	Hedges   SentWon        `json:"hedges"`
	Retries  SentWon        `json:"retries"`
	Cache    CacheStats     `json:"cache"`
}

// State is a breaker's state and since when it holds.
type State struct {
	State  string `json:"state"`
	Forced string `json:"forced,omitempty"` // "open" or "closed" during a drill
	Since  int64  `json:"since"`            // Unix milliseconds
	// SinceStart is true when the state has not changed since the
	// Sampler started: it held before, so Since is a lower bound.
	SinceStart bool `json:"since_start"`
}

// OutcomeStats is one status and code: per second now, and the total.
type OutcomeStats struct {
	Status string  `json:"status"`
	Code   string  `json:"code"`
	PerSec float64 `json:"per_sec"`
	Total  uint64  `json:"total"`
}

// SentWon are hedges or retries: sent and won, per second and in total.
type SentWon struct {
	SentPerSec float64 `json:"sent_per_sec"`
	WonPerSec  float64 `json:"won_per_sec"`
	Sent       uint64  `json:"sent"`
	Won        uint64  `json:"won"`
}

// CacheStats are fresh hits and stale answers.
type CacheStats struct {
	FreshPerSec float64 `json:"fresh_per_sec"`
	StalePerSec float64 `json:"stale_per_sec"`
	Fresh       uint64  `json:"fresh"`
	Stale       uint64  `json:"stale"`
}

// Point is one second of the sparklines.
type Point struct {
	Time     int64                   `json:"t"` // Unix milliseconds
	Pages    PagePoint               `json:"pages"`
	Services map[string]ServicePoint `json:"services"`
}

// PagePoint is the page sparklines' values at one Point.
type PagePoint struct {
	PerSec   float64 `json:"per_sec"`
	P99      Millis  `json:"p99_ms"`
	Inflight float64 `json:"inflight"`
	Shed     float64 `json:"shed_per_sec"`
}

// ServicePoint is one service's sparkline values at one Point.
type ServicePoint struct {
	PerSec float64 `json:"per_sec"`
	P99    Millis  `json:"p99_ms"`
	NotOK  float64 `json:"not_ok_per_sec"`
}

// Frame is one message of the stream and the JSON endpoint: the latest
// Snapshot and sparkline Points to append (on connect and from the JSON
// endpoint, the whole history; then the newest Point).
type Frame struct {
	Latest  *Snapshot `json:"latest"` // nil before the first sample
	History []Point   `json:"history"`
}

// Millis is a latency in milliseconds; NaN (no observations in the window)
// is written as JSON null.
type Millis float64

// MarshalJSON writes m with at most three decimals, or null for NaN.
func (m Millis) MarshalJSON() ([]byte, error) {
	v := float64(m)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, round3(v), 'f', -1, 64), nil
}

// millis converts seconds to Millis.
func millis(seconds float64) Millis { return Millis(seconds * 1000) }
