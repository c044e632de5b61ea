//go:build !unix

package app

// openFileLimit returns a conservative guess where the limit cannot be
// read.
func openFileLimit() uint64 { return 4096 }
