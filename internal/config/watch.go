package config

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls onChange after the file at path changes, once per burst of
// events: events within debounce of each other are one change. onChange runs
// on Watch's own goroutine, never concurrently with itself; events that
// arrive while it runs start the next burst. It should return promptly (read,
// validate, swap), since stopping waits for it.
//
// Watch watches the file's directory rather than the file, so it sees
// editors that write a temporary file and rename it over the original, and
// Kubernetes ConfigMap updates, which swap a "..data" symlink: the path stays
// the same but what it resolves to changes. A removed file counts as a
// change (the reload then fails and the running config stays); a file
// created later at the same path counts again. Chmod-only events, and events
// for other files in the directory that do not change what path resolves to,
// are ignored. If path is itself a symlink into another directory (other than
// the ConfigMap layout), writes to the target in place are not seen.
//
// Watch returns once the watch is set up, or an error when it cannot be (for
// example, the directory does not exist). It stops when ctx ends: no
// onChange starts after that, a pending one is dropped, and its goroutines
// exit soon after (once a running onChange returns).
func Watch(ctx context.Context, path string, debounce time.Duration, onChange func()) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("watch config file: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config file: %w", err)
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return fmt.Errorf("watch config file %s: %w", path, err)
	}
	fw := &fileWatch{
		path:     abs,
		resolved: resolve(abs),
		debounce: debounce,
		onChange: onChange,
	}
	go fw.run(ctx, w)
	return nil
}

// fileWatch is the state of one Watch; only its run goroutine uses it.
type fileWatch struct {
	// path is the watched file, absolute and clean, as fsnotify names it.
	path string
	// resolved is what path last resolved to through symlinks, "" if it
	// did not resolve (missing).
	resolved string
	debounce time.Duration
	onChange func()
}

// run handles events until ctx ends, then closes w, which waits for
// fsnotify's own goroutine to exit.
func (fw *fileWatch) run(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	// The debounce timer is ours and its channel is read only here, so
	// stopping leaves no callback or goroutine behind; a nil channel (no
	// change pending) is never ready.
	var timer *time.Timer
	var fire <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if !fw.changed(ev) {
				continue
			}
			// Each event pushes the deadline out, so a burst (viper-style
			// double writes, rename then create) becomes one call.
			if timer == nil {
				timer = time.NewTimer(fw.debounce)
			} else {
				timer.Reset(fw.debounce)
			}
			fire = timer.C
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
			// An error (such as an inotify queue overflow) may hide a
			// change, but there is no one to hand it to and nothing to
			// retry; keep watching, the next write will be seen.
		case <-fire:
			fire = nil
			// Both ctx and the timer may be ready; ctx wins.
			if ctx.Err() != nil {
				return
			}
			fw.onChange()
		}
	}
}

// changed reports whether ev is a change to the watched file: a write,
// create, rename or remove of path itself, or any event after which path
// resolves to a different file (a ConfigMap's "..data" symlink swap names
// "..data" or "..data_tmp", never the file).
func (fw *fileWatch) changed(ev fsnotify.Event) bool {
	if ev.Op&^fsnotify.Chmod == 0 {
		return false
	}
	r := resolve(fw.path)
	moved := r != fw.resolved
	fw.resolved = r
	if moved {
		return true
	}
	return filepath.Clean(ev.Name) == fw.path &&
		ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0
}

// resolve returns path with every symlink resolved, or "" if that fails
// (the file or a link in the chain is missing).
func resolve(path string) string {
	r, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	return r
}
