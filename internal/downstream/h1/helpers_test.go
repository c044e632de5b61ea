package h1

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// rawServer accepts connections and hands each to serve on its own
// goroutine, with the connection's index (0 for the first). For wire-level
// cases that net/http would not produce.
type rawServer struct {
	ln       net.Listener
	accepted atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn // guarded by mu
	wg       sync.WaitGroup
}

func newRawServer(t testing.TB, serve func(c net.Conn, br *bufio.Reader, n int)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.accepted.Add(1)) - 1
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c), n)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

// readRequest reads one request head: its request line and header.
func readRequest(br *bufio.Reader) (line string, h textproto.MIMEHeader, err error) {
	tr := textproto.NewReader(br)
	if line, err = tr.ReadLine(); err != nil {
		return "", nil, err
	}
	h, err = tr.ReadMIMEHeader()
	return line, h, err
}

// respondEach answers every request on a connection with resp, written as
// one Write, until the client closes it.
func respondEach(resp string) func(net.Conn, *bufio.Reader, int) {
	return func(c net.Conn, br *bufio.Reader, _ int) {
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			if _, err := c.Write([]byte(resp)); err != nil {
				return
			}
		}
	}
}

func newClient(t testing.TB, addr string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{Scheme: "http", Host: addr}
	for _, m := range mod {
		m(&cfg)
	}
	c := New(cfg)
	t.Cleanup(c.Close)
	return c
}

// countingServer is an httptest server that counts the connections it
// accepted.
type countingServer struct {
	*httptest.Server
	conns atomic.Int32
}

func newCountingServer(t testing.TB, h http.Handler) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func hostOf(url string) string {
	return strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
}
