package config

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// These tests use the real file system and real time: fsnotify's events come
// from the kernel, which testing/synctest cannot wait for.
const (
	// testDebounce is short, to keep the tests quick.
	testDebounce = 50 * time.Millisecond
	// quiet is how long "no further callback" is watched for.
	quiet = 3 * testDebounce
	// callbackTimeout is generous, for loaded machines under -race.
	callbackTimeout = 5 * time.Second
)

// watchStep is one thing done to the directory, and how many callbacks it
// should cause.
type watchStep struct {
	name  string
	do    func(tb testing.TB, dir string)
	calls int
}

func TestWatch(t *testing.T) {
	tests := []struct {
		name string
		// setup lays out dir and returns the path to watch; nil writes
		// dir/bff.yaml.
		setup func(t *testing.T, dir string) string
		steps []watchStep
	}{
		{
			name: "plain write",
			steps: []watchStep{
				{"write", writeFileStep("bff.yaml", "page:\n  timeout: 400ms\n"), 1},
			},
		},
		{
			name: "two writes within the debounce are one change",
			steps: []watchStep{
				{"write twice", func(tb testing.TB, dir string) {
					writeFile(tb, filepath.Join(dir, "bff.yaml"), "page:\n  timeout: 400ms\n")
					time.Sleep(testDebounce / 5)
					writeFile(tb, filepath.Join(dir, "bff.yaml"), "page:\n  timeout: 450ms\n")
				}, 1},
			},
		},
		{
			name: "writes further apart than the debounce are two changes",
			steps: []watchStep{
				{"first write", writeFileStep("bff.yaml", "page:\n  timeout: 400ms\n"), 1},
				{"second write", writeFileStep("bff.yaml", "page:\n  timeout: 450ms\n"), 1},
			},
		},
		{
			name: "editor writes a temp file and renames it over",
			steps: []watchStep{
				{"write temp, rename", func(tb testing.TB, dir string) {
					tmp := filepath.Join(dir, ".bff.yaml.swp")
					writeFile(tb, tmp, "page:\n  timeout: 400ms\n")
					rename(tb, tmp, filepath.Join(dir, "bff.yaml"))
				}, 1},
			},
		},
		{
			name: "removed, then created later",
			steps: []watchStep{
				{"remove", func(tb testing.TB, dir string) {
					remove(tb, filepath.Join(dir, "bff.yaml"))
				}, 1},
				{"create", writeFileStep("bff.yaml", "page:\n  timeout: 400ms\n"), 1},
			},
		},
		{
			name: "another file in the directory",
			steps: []watchStep{
				{"write other", writeFileStep("other.yaml", "x: 1\n"), 0},
				{"rename other", func(tb testing.TB, dir string) {
					rename(tb, filepath.Join(dir, "other.yaml"), filepath.Join(dir, "other2.yaml"))
				}, 0},
			},
		},
		{
			name: "chmod only",
			steps: []watchStep{
				{"chmod", func(tb testing.TB, dir string) {
					if err := os.Chmod(filepath.Join(dir, "bff.yaml"), 0o644); err != nil {
						tb.Fatal(err)
					}
				}, 0},
			},
		},
		{
			name: "relative path",
			setup: func(t *testing.T, dir string) string {
				writeFile(t, filepath.Join(dir, "bff.yaml"), "")
				t.Chdir(dir)
				return "bff.yaml"
			},
			steps: []watchStep{
				{"write", writeFileStep("bff.yaml", "page:\n  timeout: 400ms\n"), 1},
			},
		},
		{
			name:  "Kubernetes ConfigMap update swaps the ..data symlink",
			setup: func(t *testing.T, dir string) string { return configMapLayout(t, dir) },
			steps: []watchStep{
				{"swap ..data", func(tb testing.TB, dir string) {
					mkdir(tb, filepath.Join(dir, "..2026_b"))
					writeFile(tb, filepath.Join(dir, "..2026_b", "bff.yaml"), "page:\n  timeout: 400ms\n")
					symlink(tb, "..2026_b", filepath.Join(dir, "..data_tmp"))
					rename(tb, filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data"))
					if err := os.RemoveAll(filepath.Join(dir, "..2026_a")); err != nil {
						tb.Fatal(err)
					}
				}, 1},
			},
		},
		{
			name:  "Kubernetes: a file next to the ConfigMap changes",
			setup: func(t *testing.T, dir string) string { return configMapLayout(t, dir) },
			steps: []watchStep{
				{"write other", writeFileStep("other.yaml", "x: 1\n"), 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "bff.yaml")
			if tt.setup != nil {
				path = tt.setup(t, dir)
			} else {
				writeFile(t, path, "")
			}
			calls := startWatch(t, path, testDebounce)
			for _, s := range tt.steps {
				s.do(t, dir)
				expectCalls(t, s.name, calls, s.calls)
			}
		})
	}
}

func TestWatchStopsWithContext(t *testing.T) {
	tests := []struct {
		name string
		// beforeCancel runs after Watch starts and before the cancel.
		beforeCancel func(tb testing.TB, path string)
	}{
		{
			name:         "idle",
			beforeCancel: func(testing.TB, string) {},
		},
		{
			name: "change pending",
			beforeCancel: func(tb testing.TB, path string) {
				writeFile(tb, path, "page:\n  timeout: 400ms\n")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bff.yaml")
			writeFile(t, path, "")
			// A long debounce, so that a pending change cannot fire between
			// the write and the cancel.
			const debounce = 200 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := make(chan struct{}, 16)
			if err := Watch(ctx, path, debounce, func() { calls <- struct{}{} }); err != nil {
				t.Fatalf("Watch: %v", err)
			}
			tt.beforeCancel(t, path)
			cancel()
			writeFile(t, path, "page:\n  timeout: 450ms\n")
			// goleak retries until the goroutines have exited, or fails.
			goleak.VerifyNone(t)
			select {
			case <-calls:
				t.Error("onChange called after the context ended")
			case <-time.After(debounce + quiet):
			}
		})
	}
}

func TestWatchMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "bff.yaml")
	err := Watch(t.Context(), path, testDebounce, func() {})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Watch = %v, want an error wrapping fs.ErrNotExist", err)
	}
}

// startWatch watches path until the test ends and returns a channel that
// receives once per onChange call.
func startWatch(tb testing.TB, path string, debounce time.Duration) <-chan struct{} {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	calls := make(chan struct{}, 16)
	if err := Watch(ctx, path, debounce, func() { calls <- struct{}{} }); err != nil {
		tb.Fatalf("Watch(%s): %v", path, err)
	}
	return calls
}

// expectCalls waits for want callbacks, then checks that no more come within
// quiet.
func expectCalls(tb testing.TB, step string, calls <-chan struct{}, want int) {
	tb.Helper()
	for i := range want {
		select {
		case <-calls:
		case <-time.After(callbackTimeout):
			tb.Fatalf("%s: got %d onChange calls within %s, want %d", step, i, callbackTimeout, want)
		}
	}
	extra := 0
	deadline := time.After(quiet)
	for {
		select {
		case <-calls:
			extra++
		case <-deadline:
			if extra > 0 {
				tb.Fatalf("%s: got %d onChange calls, want %d", step, want+extra, want)
			}
			return
		}
	}
}

// configMapLayout lays dir out as the kubelet does for a mounted ConfigMap
// and returns the path to watch:
//
//	dir/..2026_a/bff.yaml
//	dir/..data -> ..2026_a
//	dir/bff.yaml -> ..data/bff.yaml
func configMapLayout(tb testing.TB, dir string) string {
	tb.Helper()
	mkdir(tb, filepath.Join(dir, "..2026_a"))
	writeFile(tb, filepath.Join(dir, "..2026_a", "bff.yaml"), "")
	symlink(tb, "..2026_a", filepath.Join(dir, "..data"))
	path := filepath.Join(dir, "bff.yaml")
	symlink(tb, filepath.Join("..data", "bff.yaml"), path)
	return path
}

// writeFileStep returns a step action that writes data to dir/name.
func writeFileStep(name, data string) func(testing.TB, string) {
	return func(tb testing.TB, dir string) {
		tb.Helper()
		writeFile(tb, filepath.Join(dir, name), data)
	}
}

func writeFile(tb testing.TB, path, data string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func rename(tb testing.TB, from, to string) {
	tb.Helper()
	if err := os.Rename(from, to); err != nil {
		tb.Fatal(err)
	}
}

func remove(tb testing.TB, path string) {
	tb.Helper()
	if err := os.Remove(path); err != nil {
		tb.Fatal(err)
	}
}

func mkdir(tb testing.TB, path string) {
	tb.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		tb.Fatal(err)
	}
}

func symlink(tb testing.TB, target, link string) {
	tb.Helper()
	if err := os.Symlink(target, link); err != nil {
		tb.Fatal(err)
	}
}
