//go:build !unix

package config

import "os"

// openNonBlocking opens path for reading; without O_NONBLOCK here, the
// regular-file check and the read timeout in readBounded still apply.
func openNonBlocking(path string) (*os.File, error) {
	return os.Open(path)
}
