package app

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// GC defaults, applied unless the GOGC and GOMEMLIMIT environment
// variables (the Go runtime's own) are set.
const (
	// DefaultGCPercent lets the heap grow to five times what is live
	// between collections. A page's garbage is short-lived and the live
	// heap small (a few MiB plus the stale cache), so collecting a quarter
	// as often costs little memory and saves about a tenth of the CPU of a
	// page at saturation.
	DefaultGCPercent = 400
	// memoryLimitShare is the part of a cgroup (container) memory limit
	// given to the Go runtime as its soft limit, so that the larger heap
	// target never pushes the process into the OOM killer: near the limit
	// the GC collects more often instead.
	memoryLimitShare = 0.75
)

// GCSettings are the garbage collector settings in force.
type GCSettings struct {
	Percent     int   // GOGC; -1 is off
	MemoryLimit int64 // bytes; math.MaxInt64 is none
	// FromEnv names the settings taken from the environment.
	FromEnv []string
}

// TuneGC applies DefaultGCPercent unless GOGC is set, and a soft memory
// limit of three quarters of the container's memory limit (cgroup v2 or v1,
// read under cgroupRoot) unless GOMEMLIMIT is set or there is no container
// limit. It returns the settings in force.
func TuneGC(getenv func(string) string, cgroupRoot string) GCSettings {
	var s GCSettings
	if getenv("GOGC") != "" {
		s.Percent = debug.SetGCPercent(-1)
		debug.SetGCPercent(s.Percent)
		s.FromEnv = append(s.FromEnv, "GOGC")
	} else {
		debug.SetGCPercent(DefaultGCPercent)
		s.Percent = DefaultGCPercent
	}
	if getenv("GOMEMLIMIT") != "" {
		s.FromEnv = append(s.FromEnv, "GOMEMLIMIT")
		s.MemoryLimit = debug.SetMemoryLimit(-1)
	} else if limit, ok := cgroupMemoryLimit(cgroupRoot); ok {
		s.MemoryLimit = int64(float64(limit) * memoryLimitShare)
		debug.SetMemoryLimit(s.MemoryLimit)
	} else {
		s.MemoryLimit = debug.SetMemoryLimit(-1)
	}
	return s
}

// cgroupMemoryLimit reads the memory limit of the process's cgroup: v2's
// memory.max, else v1's memory.limit_in_bytes. "max", or v1's near-2^63
// "unlimited", is no limit.
func cgroupMemoryLimit(root string) (int64, bool) {
	for _, f := range []string{"memory.max", "memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(root + "/" + f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= math.MaxInt64/2 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
