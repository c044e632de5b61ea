package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/config"
)

// served is a fixture's app served by App.Serve on real listeners, with the
// server settings (timeouts, caps) that httptest does not apply.
type served struct {
	*fixture
	addr, adminAddr string
	stop            func() error // cancels Serve and returns its result
}

func serve(t *testing.T, tweak func(*config.Config)) *served {
	t.Helper()
	f := newFixture(t, handlers{}, tweak)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var adminLn net.Listener
	if f.app.Config().Server.AdminAddr != "" {
		if adminLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.app.Serve(ctx, ln, adminLn) }()
	s := &served{fixture: f, addr: ln.Addr().String()}
	if adminLn != nil {
		s.adminAddr = adminLn.Addr().String()
	}
	var stopped bool
	var result error
	s.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-errc
		}
		return result
	}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

// raw opens a connection and writes req as it is.
func (s *served) raw(t *testing.T, req string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if req != "" {
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// readStatus reads one response's status code from conn within d.
func readStatus(t *testing.T, conn net.Conn, d time.Duration) (int, *http.Response) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", d, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp
}

func (s *served) pageStatus(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/v1/pages/home?user_id=abc")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestStalledBodyHoldsNoPageSlot: a GET declaring "Content-Length: 1" that
// never sent the byte blocked the handler at its flush and kept its page
// slot; enough of them filled server.max_inflight, every real client got
// 503, and SIGTERM waited the whole shutdown_timeout.
func TestStalledBodyHoldsNoPageSlot(t *testing.T) {
	s := serve(t, func(c *config.Config) {
		c.Server.MaxInflight = 2
		c.Server.ShutdownTimeout = 30 * time.Second
	})
	requests := []string{
		"GET /v1/pages/home?user_id=abc HTTP/1.1\r\nHost: bff\r\nContent-Length: 1\r\n\r\n",
		"GET /v1/pages/home?user_id=abc HTTP/1.1\r\nHost: bff\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HEAD /v1/pages/home?user_id=abc HTTP/1.1\r\nHost: bff\r\nContent-Length: 100\r\n\r\n",
	}
	for i := range 12 {
		conn := s.raw(t, requests[i%len(requests)])
		code, resp := readStatus(t, conn, 2*time.Second)
		if code != http.StatusBadRequest || !resp.Close {
			t.Fatalf("request %d: %d (close %v), want 400 closing the connection", i, code, resp.Close)
		}
	}
	if n := s.app.Server().Inflight(); n != 0 {
		t.Fatalf("%d page slots held after the stalled bodies, want 0", n)
	}
	if code := s.pageStatus(t); code != 200 {
		t.Fatalf("a real client got %d, want 200", code)
	}
	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with stalled bodies about, want far less than shutdown_timeout (30s)", d)
	}
}

// TestSlowHeadersCutOff: a client trickling its headers is cut off at
// server.read_header_timeout.
func TestSlowHeadersCutOff(t *testing.T) {
	s := serve(t, func(c *config.Config) {
		c.Server.ReadHeaderTimeout = 200 * time.Millisecond
		c.Server.ReadTimeout = 200 * time.Millisecond
	})
	conn := s.raw(t, "GET /v1/pages/home?user_id=abc HTTP/1.1\r\nHost: bff\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection still open after 5s of unfinished headers, want it closed at read_header_timeout")
	}
}

// TestHugeHeadersAnswered431: net/http's default allows 1 MiB of headers
// per connection; 300 slow connections took RSS from 25 to 433 MB.
func TestHugeHeadersAnswered431(t *testing.T) {
	s := serve(t, nil)
	big := strings.Repeat("x", 64<<10)
	conn := s.raw(t, "GET /v1/pages/home?user_id=abc HTTP/1.1\r\nHost: bff\r\nX-Big: "+big+"\r\n\r\n")
	if code, _ := readStatus(t, conn, 5*time.Second); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB of headers: %d, want 431", code)
	}
	// A page request's usual headers fit.
	conn = s.raw(t, "GET /v1/pages/home?user_id=abc HTTP/1.1\r\nHost: bff\r\nCookie: "+strings.Repeat("c", 8<<10)+"\r\n\r\n")
	if code, _ := readStatus(t, conn, 5*time.Second); code != 200 {
		t.Fatalf("8 KiB cookie: %d, want 200", code)
	}
}

// TestMaxConnsQueuesBeyondTheCap: past server.max_conns the listener stops
// accepting; a further connection waits in the kernel's queue and is
// served as soon as another closes.
func TestMaxConnsQueuesBeyondTheCap(t *testing.T) {
	s := serve(t, func(c *config.Config) { c.Server.MaxConns = 2 })
	held := []net.Conn{s.raw(t, ""), s.raw(t, "")}
	page := "GET /v1/pages/home?user_id=abc HTTP/1.1\r\nHost: bff\r\n\r\n"
	for _, c := range held {
		_, _ = io.WriteString(c, page)
		if code, _ := readStatus(t, c, 5*time.Second); code != 200 {
			t.Fatalf("page on a held connection: %d", code)
		}
	}
	third := s.raw(t, page)
	_ = third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection was served with max_conns 2 and two open")
	}
	held[0].Close()
	if code, _ := readStatus(t, third, 5*time.Second); code != 200 {
		t.Fatalf("queued connection after one closed: %d, want 200", code)
	}
}

// TestReloadKeepsListenerSettings: the listener settings apply only on
// restart; a reload keeps the running ones and applies the rest.
func TestReloadKeepsListenerSettings(t *testing.T) {
	f := newFixture(t, handlers{}, nil)
	next := f.app.Config()
	next.Server.MaxHeaderBytes = 4096
	next.Server.ReadTimeout = time.Minute
	next.Server.MaxInflight = 7
	changed, err := f.app.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	got := f.app.Config().Server
	if got.MaxHeaderBytes != 16<<10 || got.ReadTimeout != 10*time.Second || got.MaxInflight != 7 {
		t.Fatalf("after reload: max_header_bytes %d, read_timeout %v, max_inflight %d; want 16384, 10s, 7",
			got.MaxHeaderBytes, got.ReadTimeout, got.MaxInflight)
	}
	if fmt.Sprint(changed) != "[server.max_inflight]" {
		t.Fatalf("changed = %v, want [server.max_inflight]", changed)
	}
	if len(f.logs.lines(t, "config reload: these keys change only on restart; their running values stay")) != 1 {
		t.Fatal("no warning about the restart-only keys")
	}
}
