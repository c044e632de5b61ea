package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestWireResponses(t *testing.T) {
	tests := []struct {
		name       string
		resp       string // written as one Write per request
		wantStatus int
		wantBody   string
		wantErr    error
		wantReused bool // the connection went back to the pool
	}{
		{
			name:       "HTTP/1.0 body delimited by close",
			resp:       "HTTP/1.0 200 OK\r\n\r\nuntil the end",
			wantStatus: 200, wantBody: "until the end",
		},
		{
			name:       "HTTP/1.0 keep-alive with content-length",
			resp:       "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
			wantStatus: 200, wantBody: "ok", wantReused: true,
		},
		{
			name:       "HTTP/1.0 content-length without keep-alive",
			resp:       "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
			wantStatus: 200, wantBody: "ok",
		},
		{
			name:       "HTTP/1.1 body delimited by close",
			resp:       "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
			wantStatus: 200, wantBody: "until the end",
		},
		{
			name:       "100 continue and 103 early hints skipped",
			resp:       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes",
			wantStatus: 200, wantBody: "yes", wantReused: true,
		},
		{
			name:       "status line without reason",
			resp:       "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
			wantStatus: 200, wantReused: true,
		},
		{
			name:       "bare LF line endings",
			resp:       "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
			wantStatus: 200, wantBody: "ok", wantReused: true,
		},
		{
			name:       "equal duplicate content-length",
			resp:       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok",
			wantStatus: 200, wantBody: "ok", wantReused: true,
		},
		{
			name:       "chunked with extensions and trailer",
			resp:       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1 \r\n!\r\n0\r\nX-Trailer: t\r\n\r\n",
			wantStatus: 200, wantBody: "hello!", wantReused: true,
		},
		{
			name:       "chunked upper-case hex",
			resp:       "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
			wantStatus: 200, wantBody: "0123456789", wantReused: true,
		},
		{
			name:       "204 with a body is not reused",
			resp:       "HTTP/1.1 204 No Content\r\n\r\nstray bytes",
			wantStatus: 204,
		},
		{name: "malformed status line: HTTP/2", resp: "HTTP/2 200 OK\r\n\r\n", wantErr: ErrBadResponse},
		{name: "malformed status line: two digits", resp: "HTTP/1.1 20 OK\r\n\r\n", wantErr: ErrBadResponse},
		{name: "malformed status line: four digits", resp: "HTTP/1.1 2000 OK\r\n\r\n", wantErr: ErrBadResponse},
		{name: "malformed status line: not HTTP", resp: "ICY 200 OK\r\n\r\n", wantErr: ErrBadResponse},
		{name: "malformed status line: letters", resp: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: ErrBadResponse},
		{name: "malformed status line: 099", resp: "HTTP/1.1 099 Hm\r\n\r\n", wantErr: ErrBadResponse},
		{name: "garbage", resp: "\x00\x01\x02 hello\r\n\r\n", wantErr: ErrBadResponse},
		{name: "101 without upgrade", resp: "HTTP/1.1 101 Switching Protocols\r\n\r\n", wantErr: ErrBadResponse},
		{name: "too many 1xx", resp: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 20), wantErr: ErrBadResponse},
		{
			name:    "differing content-length",
			resp:    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
			wantErr: ErrBadResponse,
		},
		{name: "differing content-length in one line", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nokk", wantErr: ErrBadResponse},
		{name: "negative content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: ErrBadResponse},
		{name: "signed content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", wantErr: ErrBadResponse},
		{name: "empty content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", wantErr: ErrBadResponse},
		{
			name:    "content-length and transfer-encoding",
			resp:    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			wantErr: ErrBadResponse,
		},
		{
			name:    "unsupported transfer-encoding",
			resp:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
			wantErr: ErrBadResponse,
		},
		{
			name:    "two transfer-encoding lines",
			resp:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			wantErr: ErrBadResponse,
		},
		{name: "space before colon", resp: "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", wantErr: ErrBadResponse},
		{name: "obsolete line folding", resp: "HTTP/1.1 200 OK\r\nX-A: b\r\n  c\r\nContent-Length: 0\r\n\r\n", wantErr: ErrBadResponse},
		{name: "header without colon", resp: "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", wantErr: ErrBadResponse},
		{name: "control character in value", resp: "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n\r\n", wantErr: ErrBadResponse},
		{name: "bare CR in value", resp: "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", wantErr: ErrBadResponse},
		{
			name:    "bad chunk size",
			resp:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
			wantErr: ErrBadResponse,
		},
		{
			name:    "chunk size overflow",
			resp:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
			wantErr: ErrBadResponse,
		},
		{
			name:    "chunk without CRLF",
			resp:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
			wantErr: ErrBadResponse,
		},
		{
			name:    "chunk-size line too long",
			resp:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("x", 8<<10) + "\r\nhello\r\n0\r\n\r\n",
			wantErr: ErrBadResponse,
		},
		{
			name:    "oversized header",
			resp:    "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("x", 70<<10) + "\r\n\r\n",
			wantErr: ErrHeaderTooLarge,
		},
		{
			name:    "oversized header in many lines",
			resp:    "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Many: 0123456789012345678901234567890123456789\r\n", 2000) + "\r\n",
			wantErr: ErrHeaderTooLarge,
		},
		{
			name:    "oversized trailer",
			resp:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: " + strings.Repeat("x", 70<<10) + "\r\n\r\n",
			wantErr: ErrHeaderTooLarge,
		},
		{
			name:    "short content-length body",
			resp:    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "truncated chunked body",
			resp:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhel",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "truncated header",
			resp:    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n",
			wantErr: io.ErrUnexpectedEOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, _ int) {
				if _, _, err := readRequest(br); err != nil {
					return
				}
				c.Write([]byte(tt.resp))
				if strings.Contains(tt.resp, "Connection: close") || strings.HasPrefix(tt.resp, "HTTP/1.0 200 OK\r\n\r\n") {
					return // close
				}
				io.Copy(io.Discard, br) // hold the connection open until the client closes it
			})
			c := newClient(t, srv.addr())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := c.Get(ctx, "/", nil, 0)
			reused := c.IdleConns() == 1
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if reused {
					t.Error("connection pooled after an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tt.wantStatus || string(resp.Body) != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.Status, resp.Body, tt.wantStatus, tt.wantBody)
			}
			if reused != tt.wantReused {
				t.Errorf("reused = %v, want %v", reused, tt.wantReused)
			}
		})
	}
}

func TestRequestOnTheWire(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		header []HeaderField
		want   string // after the Host line
	}{
		{
			name: "defaults",
			path: "/a/b?c=d",
			want: "Accept-Encoding: gzip\r\n\r\n",
		},
		{
			name:   "caller headers in order, as given",
			path:   "/",
			header: []HeaderField{{"Accept", "application/json"}, {"X-Request-Id", "r1"}, {"x-lower", "v"}},
			want:   "Accept-Encoding: gzip\r\nAccept: application/json\r\nX-Request-Id: r1\r\nx-lower: v\r\n\r\n",
		},
		{
			name:   "caller's Accept-Encoding replaces ours",
			path:   "/",
			header: []HeaderField{{"accept-encoding", "identity"}},
			want:   "accept-encoding: identity\r\n\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, _ int) {
				var b strings.Builder
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					b.WriteString(line)
					if line == "\r\n" {
						break
					}
				}
				got <- b.String()
				c.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
				io.Copy(io.Discard, br)
			})
			c := newClient(t, srv.addr())
			if _, err := c.Get(context.Background(), tt.path, tt.header, 0); err != nil {
				t.Fatal(err)
			}
			want := "GET " + tt.path + " HTTP/1.1\r\nHost: " + srv.addr() + "\r\n" + tt.want
			if g := <-got; g != want {
				t.Errorf("request =\n%q\nwant\n%q", g, want)
			}
		})
	}
}

func TestInvalidRequestSendsNothing(t *testing.T) {
	srv := newRawServer(t, respondEach("HTTP/1.1 204 No Content\r\n\r\n"))
	c := newClient(t, srv.addr())
	tests := []struct {
		name   string
		path   string
		header []HeaderField
	}{
		{name: "empty path", path: ""},
		{name: "relative path", path: "a/b"},
		{name: "absolute URL", path: "http://evil/"},
		{name: "space in path", path: "/a b"},
		{name: "CRLF in path", path: "/a\r\nX-Injected: 1"},
		{name: "LF in path", path: "/a\nb"},
		{name: "tab in path", path: "/a\tb"},
		{name: "NUL in path", path: "/a\x00"},
		{name: "DEL in path", path: "/a\x7f"},
		{name: "CRLF in header value", path: "/", header: []HeaderField{{"X-A", "b\r\nX-Injected: 1"}}},
		{name: "LF in header value", path: "/", header: []HeaderField{{"X-A", "b\nc"}}},
		{name: "CR in header name", path: "/", header: []HeaderField{{"X-A\r", "b"}}},
		{name: "colon in header name", path: "/", header: []HeaderField{{"X-A:", "b"}}},
		{name: "space in header name", path: "/", header: []HeaderField{{"X A", "b"}}},
		{name: "empty header name", path: "/", header: []HeaderField{{"", "b"}}},
		{name: "Host set by caller", path: "/", header: []HeaderField{{"host", "evil"}}},
		{name: "Content-Length set by caller", path: "/", header: []HeaderField{{"Content-Length", "5"}}},
		{name: "Transfer-Encoding set by caller", path: "/", header: []HeaderField{{"Transfer-Encoding", "chunked"}}},
		{name: "Connection set by caller", path: "/", header: []HeaderField{{"Connection", "close"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Get(context.Background(), tt.path, tt.header, 0); !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
	if n := srv.accepted.Load(); n != 0 {
		t.Errorf("server accepted %d connections for invalid requests", n)
	}
}

// TestDesyncSecondResponseInOneWrite: a server answers one request with two
// responses. The first is returned; the second must never answer the next
// request, so the connection is closed and the next Get dials anew.
func TestDesyncSecondResponseInOneWrite(t *testing.T) {
	closed := make(chan struct{})
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, n int) {
		if n == 0 {
			readRequest(br)
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"))
			io.Copy(io.Discard, br) // until the client closes
			close(closed)
			return
		}
		respondEach("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")(c, br, n)
	})
	c := newClient(t, srv.addr())
	get := func(want string) {
		t.Helper()
		resp, err := c.Get(context.Background(), "/", nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != want {
			t.Fatalf("body = %q, want %q", resp.Body, want)
		}
	}
	get("first")
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the desynced connection was not closed")
	}
	get("fresh")
	get("fresh")
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2", n)
	}
}

// TestDesyncLateResponseWhileIdle: the extra response arrives after the
// first was read, while the connection sits idle. With no reader goroutine
// nobody sees it arrive, so reuse checks the socket first.
func TestDesyncLateResponseWhileIdle(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, n int) {
		if n == 0 {
			readRequest(br)
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"))
			time.Sleep(20 * time.Millisecond)
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"))
			io.Copy(io.Discard, br)
			return
		}
		respondEach("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")(c, br, n)
	})
	c := newClient(t, srv.addr())
	if resp, err := c.Get(context.Background(), "/", nil, 0); err != nil || string(resp.Body) != "first" {
		t.Fatalf("first get: %v %q", err, resp.Body)
	}
	time.Sleep(100 * time.Millisecond)
	resp, err := c.Get(context.Background(), "/", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "fresh" {
		t.Fatalf("body = %q: a response sent while idle answered a later request", resp.Body)
	}
}

// TestStaleConnRetriedOnce: the server closes a kept-alive connection just
// as the next request arrives (the idle-close race). The request is sent
// again on a new connection and succeeds.
func TestStaleConnRetriedOnce(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, n int) {
		if n == 0 {
			readRequest(br)
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"))
			readRequest(br) // and close without answering
			return
		}
		respondEach("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")(c, br, n)
	})
	c := newClient(t, srv.addr())
	for _, want := range []string{"one", "two"} {
		resp, err := c.Get(context.Background(), "/", nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != want {
			t.Fatalf("body = %q, want %q", resp.Body, want)
		}
	}
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2", n)
	}
}

func TestRetryNeverMoreThanOnce(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, n int) {
		if n == 0 {
			readRequest(br)
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"))
		}
		readRequest(br) // every later request: close without answering
	})
	c := newClient(t, srv.addr())
	if _, err := c.Get(context.Background(), "/", nil, 0); err != nil {
		t.Fatal(err)
	}
	_, err := c.Get(context.Background(), "/", nil, 0)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want io.EOF from the retry", err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2 (one retry)", n)
	}
}

func TestNoRetryOnFreshConnOrAfterBytes(t *testing.T) {
	tests := []struct {
		name  string
		serve func(c net.Conn, br *bufio.Reader, n int)
	}{
		{
			name:  "fresh connection closed without answer",
			serve: func(c net.Conn, br *bufio.Reader, n int) { readRequest(br) },
		},
		{
			name: "reused connection closed mid-response",
			serve: func(c net.Conn, br *bufio.Reader, n int) {
				readRequest(br)
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"))
				readRequest(br)
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Le"))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, tt.serve)
			c := newClient(t, srv.addr())
			var err error
			for range 2 {
				if _, err = c.Get(context.Background(), "/", nil, 0); err != nil {
					break
				}
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("err = %v, want EOF", err)
			}
			time.Sleep(20 * time.Millisecond)
			if n := srv.accepted.Load(); n != 1 {
				t.Errorf("server accepted %d connections, want 1 (no retry)", n)
			}
		})
	}
}

// stallServer writes head (and whatever body bytes it holds), reports on
// sent, then holds the connection until the client closes it, reporting
// that on gone.
func stallServer(t *testing.T, head string) (srv *rawServer, sent, gone chan struct{}) {
	sent, gone = make(chan struct{}), make(chan struct{})
	srv = newRawServer(t, func(c net.Conn, br *bufio.Reader, n int) {
		readRequest(br)
		c.Write([]byte(head))
		close(sent)
		io.Copy(io.Discard, br)
		close(gone)
	})
	return srv, sent, gone
}

func waitClosed(t *testing.T, gone chan struct{}) {
	t.Helper()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not closed")
	}
}

func TestCancelMidBody(t *testing.T) {
	srv, sent, gone := stallServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
	c := newClient(t, srv.addr())
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled time.Time
	go func() {
		<-sent
		time.Sleep(10 * time.Millisecond) // let the Get block in the body
		cancelled = time.Now()
		cancel()
	}()
	_, err := c.Get(ctx, "/", nil, 0)
	took := time.Since(cancelled)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// A few ms in practice; the margin is for -race on a loaded CI machine.
	if took > 100*time.Millisecond {
		t.Errorf("Get returned %v after cancel, want a few ms", took)
	}
	waitClosed(t, gone)
}

func TestCancelCauseKept(t *testing.T) {
	errLost := errors.New("hedge lost")
	srv, sent, gone := stallServer(t, "HTTP/1.1 200 OK\r\n")
	c := newClient(t, srv.addr())
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-sent
		cancel(errLost)
	}()
	_, err := c.Get(ctx, "/", nil, 0)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errLost) {
		t.Fatalf("err = %v, want context.Canceled and the cause", err)
	}
	waitClosed(t, gone)
}

func TestCancelledBeforeGet(t *testing.T) {
	srv := newRawServer(t, respondEach("HTTP/1.1 204 No Content\r\n\r\n"))
	c := newClient(t, srv.addr())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, "/", nil, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := srv.accepted.Load(); n != 0 {
		t.Errorf("accepted %d connections for a cancelled call", n)
	}
}

func TestDeadline(t *testing.T) {
	srv, _, gone := stallServer(t, "") // never answers
	c := newClient(t, srv.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, "/", nil, 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("err = %v, want a net.Error timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Get took %v for a 30ms deadline", d)
	}
	waitClosed(t, gone)
}

// TestClaimedHugeLengthThenStall: a 1 GB Content-Length (or chunk size),
// 10 bytes, then nothing. Memory follows the bytes that came, and the
// deadline ends it.
func TestClaimedHugeLengthThenStall(t *testing.T) {
	for name, head := range map[string]string{
		"content-length": "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n0123456789",
		"chunk":          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3b9aca00\r\n0123456789",
	} {
		t.Run(name, func(t *testing.T) {
			srv, _, gone := stallServer(t, head)
			c := newClient(t, srv.addr())
			var err error
			alloc := allocated(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				_, err = c.Get(ctx, "/", nil, 2<<30)
			})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			if alloc > 1<<20 {
				t.Errorf("allocated %d bytes for 10 bytes of body", alloc)
			}
			waitClosed(t, gone)
		})
	}
}

func TestBodyOverMaxBodyReadsNoFurther(t *testing.T) {
	// The claimed length alone refuses the body; the server's bytes are
	// never read, and the connection is closed.
	srv, _, gone := stallServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n0123456789")
	c := newClient(t, srv.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Get(ctx, "/", nil, 1<<20); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrBodyTooLarge", err)
	}
	waitClosed(t, gone)
}

// endless writes head, then chunk forever, until the client goes.
func endless(head, chunk string) func(net.Conn, *bufio.Reader, int) {
	return func(c net.Conn, br *bufio.Reader, _ int) {
		readRequest(br)
		if _, err := c.Write([]byte(head)); err != nil {
			return
		}
		buf := []byte(strings.Repeat(chunk, 1000))
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}
}

// TestEndlessFramingWithoutBody: bytes that decode to nothing (chunk
// extensions, empty deflate blocks) count against the body's budget too.
func TestEndlessFramingWithoutBody(t *testing.T) {
	gzipHeader := "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
	emptyStoredBlock := "\x00\x00\x00\xff\xff"
	tests := []struct {
		name  string
		serve func(net.Conn, *bufio.Reader, int)
	}{
		{
			name:  "empty deflate blocks",
			serve: endless("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n"+gzipHeader, emptyStoredBlock),
		},
		{
			name:  "one-byte chunks with long extensions",
			serve: endless("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "1;"+strings.Repeat("x", 1000)+"\r\nA\r\n"),
		},
		{
			name: "gzip of one-byte chunks with long extensions",
			serve: endless("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\na\r\n"+gzipHeader+"\r\n",
				"5;"+strings.Repeat("x", 1000)+"\r\n"+emptyStoredBlock+"\r\n"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, tt.serve)
			c := newClient(t, srv.addr())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := c.Get(ctx, "/", nil, 1<<10); !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("err = %v, want ErrBodyTooLarge", err)
			}
		})
	}
}
