//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package h1

import (
	"crypto/tls"
	"syscall"
)

// setupPeek prepares socketQuiet for a connection backed by a socket.
func (pc *conn) setupPeek() {
	nc := pc.nc
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	pc.raw = raw
	// Made once per connection so that the check costs no allocation.
	var one [1]byte
	pc.peek = func(fd uintptr) bool {
		// Go's sockets are non-blocking: EAGAIN means nothing waits.
		n, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK)
		pc.peekOK = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		_ = n // n == 0 with no error is EOF: the server closed it; n > 0 is unsolicited data
		return true
	}
}

// socketQuiet reports whether nothing arrived on an idle connection: no
// bytes (an unsolicited or late response, which would otherwise be read as
// the answer to the next request) and no EOF or reset (a server that closed
// it while idle). One non-blocking MSG_PEEK, so this costs no goroutine:
// net/http keeps a reader goroutine per connection to notice the same.
func (pc *conn) socketQuiet() bool {
	if pc.raw == nil {
		return true
	}
	pc.peekOK = false
	if err := pc.raw.Read(pc.peek); err != nil {
		return false
	}
	return pc.peekOK
}
