// Package chaos runs pagebff the way it runs in production — as a process,
// in front of real downstream processes — and breaks things on purpose.
//
// It provides the parts both the chaos suite (suite_test.go, build tag
// "chaos", `make chaos`) and the load benchmarks (bench/, `make loadbench`)
// are built from: processes started from built binaries (Process), a
// Toxiproxy client (Toxiproxy), an open-loop load generator (Load), a
// Prometheus text reader (ReadMetrics, over expfmt), CPU and memory figures
// from /proc (ReadProcStat) and latency percentiles (Percentile). See
// docs/chaos.md.
package chaos
