//go:build unix

package app

import "syscall"

// openFileLimit returns the soft RLIMIT_NOFILE, or 4096 if it cannot be
// read.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 4096
	}
	return rl.Cur
}
