package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A config path that is a FIFO, or a symlink to /dev/zero, hung viper's
// ReadInConfig forever: reloads froze, and SIGTERM then waited behind the
// reload lock. Such paths are now refused at once, naming the file.
func TestLoadBlockingConfigFileRefused(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string // in the message, after the path
	}{
		{
			name: "FIFO with no writer",
			setup: func(t *testing.T, path string) {
				if err := syscall.Mkfifo(path, 0o600); err != nil {
					t.Skipf("mkfifo: %v", err)
				}
			},
			want: "not a regular file (a named pipe)",
		},
		{
			name: "symlink to /dev/zero",
			setup: func(t *testing.T, path string) {
				if err := os.Symlink("/dev/zero", path); err != nil {
					t.Fatal(err)
				}
			},
			want: "not a regular file (a device)",
		},
		{
			name: "directory",
			setup: func(t *testing.T, path string) {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			},
			want: "not a regular file (a directory)",
		},
		{
			name: "larger than 1 MiB",
			setup: func(t *testing.T, path string) {
				b := bytes.Repeat([]byte("# padding\n"), maxFileSize/10+1)
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: "larger than the 1 MiB limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bff.yaml")
			tt.setup(t, path)
			done := make(chan error, 1)
			go func() {
				_, err := Load(path, envOf(withURLs(nil)), false)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Load succeeded, want an error")
				}
				if want := "read config file " + path + ": " + tt.want; !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %q, want prefix %q", err, want)
				}
			case <-time.After(2 * time.Second):
				// The goroutine is left blocked; goleak will say so too.
				t.Fatal("Load did not return within 2s")
			}
		})
	}
}

// A symlink to a regular file, as in a Kubernetes ConfigMap (bff.yaml ->
// ..data/bff.yaml), is read; so is a file of exactly 1 MiB.
func TestLoadSymlinkToRegularFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "..2024_01_01"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "..2024_01_01", "bff.yaml"), "page:\n  timeout: 400ms\n")
	if err := os.Symlink("..2024_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bff.yaml")
	if err := os.Symlink(filepath.Join("..data", "bff.yaml"), path); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, envOf(withURLs(nil)), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Page.Timeout != 400*time.Millisecond {
		t.Errorf("page.timeout = %s, want 400ms", c.Page.Timeout)
	}

	big := filepath.Join(dir, "big.yaml")
	b := append([]byte("page:\n  timeout: 450ms\n"), bytes.Repeat([]byte("#"), maxFileSize)...)
	if err := os.WriteFile(big, b[:maxFileSize], 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(big, envOf(withURLs(nil)), false); err != nil || c.Page.Timeout != 450*time.Millisecond {
		t.Errorf("1 MiB file: page.timeout %s, err %v; want 450ms", c.Page.Timeout, err)
	}
}

// A dangling symlink is still a missing file.
func TestLoadDanglingSymlinkNotExist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bff.yaml")
	if err := os.Symlink("nowhere.yaml", path); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, envOf(nil), true)
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "read config file "+path+": ") {
		t.Errorf("error %v, want fs.ErrNotExist naming the file", err)
	}
}
