//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package h1

func (pc *conn) setupPeek() {}

// socketQuiet cannot look at the socket on this platform; a stale
// connection is found, and the request retried once, when it is used.
func (pc *conn) socketQuiet() bool { return true }
