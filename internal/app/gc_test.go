package app

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// restoreGC puts the runtime's GC settings back after a test changed them.
func restoreGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(percent)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
}

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestTuneGC(t *testing.T) {
	restoreGC(t)
	dir := t.TempDir()
	write := func(name, v string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// No container limit: the default percent, no memory limit.
	debug.SetMemoryLimit(math.MaxInt64)
	s := TuneGC(env(nil), dir)
	if s.Percent != DefaultGCPercent || s.MemoryLimit != math.MaxInt64 || len(s.FromEnv) != 0 {
		t.Fatalf("without a limit: %+v", s)
	}
	if got := debug.SetGCPercent(-1); got != DefaultGCPercent {
		t.Fatalf("GC percent in force %d, want %d", got, DefaultGCPercent)
	}

	// cgroup v2 limit of 128 MiB: a soft limit of 96 MiB.
	write("memory.max", "134217728\n")
	s = TuneGC(env(nil), dir)
	if s.MemoryLimit != 96<<20 || debug.SetMemoryLimit(-1) != 96<<20 {
		t.Fatalf("with a 128 MiB cgroup: %+v", s)
	}

	// "max" is no limit; v1's unlimited too.
	debug.SetMemoryLimit(math.MaxInt64)
	write("memory.max", "max\n")
	if s = TuneGC(env(nil), dir); s.MemoryLimit != math.MaxInt64 {
		t.Fatalf("memory.max \"max\": %+v", s)
	}
	os.Remove(filepath.Join(dir, "memory.max"))
	write("memory/memory.limit_in_bytes", "9223372036854771712\n")
	if s = TuneGC(env(nil), dir); s.MemoryLimit != math.MaxInt64 {
		t.Fatalf("v1 unlimited: %+v", s)
	}
	write("memory/memory.limit_in_bytes", "268435456\n")
	if s = TuneGC(env(nil), dir); s.MemoryLimit != 192<<20 {
		t.Fatalf("v1 256 MiB: %+v", s)
	}

	// The environment wins: what the runtime took from it stays.
	debug.SetGCPercent(50)
	debug.SetMemoryLimit(10 << 20)
	s = TuneGC(env(map[string]string{"GOGC": "50", "GOMEMLIMIT": "10MiB"}), dir)
	if s.Percent != 50 || s.MemoryLimit != 10<<20 || len(s.FromEnv) != 2 {
		t.Fatalf("with GOGC and GOMEMLIMIT set: %+v", s)
	}
	if debug.SetGCPercent(-1) != 50 || debug.SetMemoryLimit(-1) != 10<<20 {
		t.Fatal("TuneGC changed settings the environment gave")
	}
}
