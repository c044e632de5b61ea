package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Stalled is what happened to one request that announced a body and never
// sent it.
type Stalled struct {
	Status  int           // the answer's status; 0 if none came
	Latency time.Duration // from the request's headers sent to the answer's
	Closed  bool          // the server closed the connection after answering
	Err     error         // no answer: the connection failed or wait passed
}

// Stall sends n requests "GET path HTTP/1.1" to addr (host:port), each on
// its own connection, with header (one or more "Key: value\r\n" lines
// announcing a body, e.g. "Content-Length: 1\r\n") and never the body. At
// most parallel are open at once. Each waits up to wait for an answer and
// then for the server to close the connection; Stall returns when every
// request has its outcome, within about n/parallel × 2 × wait.
func Stall(addr, path, header string, n, parallel int, wait time.Duration) []Stalled {
	out := make([]Stalled, n)
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = stallOne(addr, path, header, wait)
		}()
	}
	wg.Wait()
	return out
}

func stallOne(addr, path, header string, wait time.Duration) Stalled {
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return Stalled{Err: err}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * wait))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" + header + "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return Stalled{Err: fmt.Errorf("send: %w", err)}
	}
	sent := time.Now()
	_ = conn.SetReadDeadline(sent.Add(wait))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return Stalled{Latency: time.Since(sent), Err: fmt.Errorf("no answer: %w", err)}
	}
	st := Stalled{Status: resp.StatusCode, Latency: time.Since(sent)}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The answer promised to close the connection: the next read is EOF.
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	_, err = br.ReadByte()
	st.Closed = errors.Is(err, io.EOF)
	return st
}

// OpenIdle opens up to n TCP connections to addr that send nothing, each
// dial bounded by timeout, and returns those it opened (with the first
// error, if any stopped it early). A server that does not accept them
// leaves them in its listen backlog: they are connected all the same.
// Close them with CloseAll.
func OpenIdle(addr string, n int, timeout time.Duration) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return conns, fmt.Errorf("open idle connection %d: %w", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// CloseAll closes every connection.
func CloseAll(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// ErrNoConn is what a PreDialed transport answers once its connections are
// all taken.
var ErrNoConn = errors.New("no pre-dialed connection left; this client never dials")

// PreDialed returns a transport that sends requests only on conns, opened
// beforehand to one server, and never dials: a request that finds them all
// busy waits for one, and one that finds them all gone fails with
// ErrNoConn. It keeps a client's connections those it opened before some
// trouble began, such as a full listen backlog.
func PreDialed(conns []net.Conn) *http.Transport {
	pool := make(chan net.Conn, len(conns))
	for _, c := range conns {
		pool <- c
	}
	return &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			select {
			case c := <-pool:
				return c, nil
			default:
				return nil, ErrNoConn
			}
		},
		MaxConnsPerHost:     len(conns),
		MaxIdleConnsPerHost: len(conns),
		IdleConnTimeout:     time.Minute,
	}
}
