package h1

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipBomb is mib concatenated gzip members of 1 MiB of zeros each: about
// 1 KiB per MiB it inflates to (gzip readers read concatenated members as
// one stream).
func gzipBomb(t testing.TB, mib int) []byte {
	return bytes.Repeat(gzipped(t, make([]byte, 1<<20)), mib)
}

func TestGetAgainstNetHTTPServer(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 10<<10) // 160 KiB: grows past the initial buffer
	zbig := gzipped(t, big)
	bomb := gzipBomb(t, 64) // 64 MiB of zeros in ~64 KiB
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		maxBody    int64
		wantStatus int
		wantBody   []byte
		wantErr    error
		check      func(t *testing.T, resp *Response)
	}{
		{
			name: "content-length body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "5")
				io.WriteString(w, "hello")
			},
			wantStatus: 200, wantBody: []byte("hello"),
			check: func(t *testing.T, resp *Response) {
				if got := resp.Header.Get("Content-Length"); got != "5" {
					t.Errorf("Content-Length = %q, want 5", got)
				}
			},
		},
		{
			name: "large content-length body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(big)))
				w.Write(big)
			},
			wantStatus: 200, wantBody: big,
		},
		{
			name: "chunked body with trailer",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Checksum")
				io.WriteString(w, "hello, ")
				w.(http.Flusher).Flush()
				io.WriteString(w, "world")
				w.Header().Set("X-Checksum", "abc")
			},
			wantStatus: 200, wantBody: []byte("hello, world"),
			check: func(t *testing.T, resp *Response) {
				if resp.Header.Get("X-Checksum") != "" {
					t.Error("trailer should be discarded")
				}
				if resp.Header.Get("Transfer-Encoding") != "" {
					t.Error("Transfer-Encoding should be removed from a de-chunked body's header")
				}
			},
		},
		{
			name: "large chunked body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for i := 0; i < len(big); i += 10000 {
					w.Write(big[i:min(i+10000, len(big))])
					w.(http.Flusher).Flush()
				}
			},
			wantStatus: 200, wantBody: big,
		},
		{
			name: "gzip with content-length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Accept-Encoding") != "gzip" {
					http.Error(w, "no Accept-Encoding: gzip", http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Encoding", "gzip")
				w.Header().Set("Content-Length", strconv.Itoa(len(zbig)))
				w.Write(zbig)
			},
			wantStatus: 200, wantBody: big,
			check: func(t *testing.T, resp *Response) {
				if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != "" {
					t.Errorf("header still describes the encoded body: %v", resp.Header)
				}
			},
		},
		{
			name: "gzip chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				for i := 0; i < len(zbig); i += 100 {
					w.Write(zbig[i:min(i+100, len(zbig))])
					w.(http.Flusher).Flush()
				}
			},
			wantStatus: 200, wantBody: big,
		},
		{
			name: "gzip empty body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Header().Set("Content-Length", "0")
			},
			wantStatus: 200, wantBody: nil,
		},
		{
			name: "corrupt gzip",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				io.WriteString(w, "this is not gzip at all")
			},
			wantErr: ErrBadResponse,
		},
		{
			name:       "204 no content",
			handler:    func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
			wantStatus: 204, wantBody: nil,
		},
		{
			name: "304 not modified",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Etag", `"x"`)
				w.WriteHeader(http.StatusNotModified)
			},
			wantStatus: 304, wantBody: nil,
		},
		{
			name: "103 early hints before 200",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", "</style.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				io.WriteString(w, "final")
			},
			wantStatus: 200, wantBody: []byte("final"),
		},
		{
			name: "error status with body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "nope", http.StatusNotFound)
			},
			wantStatus: 404, wantBody: nil, // read past, not kept
		},
		{
			name: "multiple header values kept, keys canonical",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header()["x-multi"] = []string{"a", "b"} // written lower-case
				w.Header().Add("X-Other", "c")
			},
			wantStatus: 200,
			check: func(t *testing.T, resp *Response) {
				if got := resp.Header["X-Multi"]; len(got) != 2 || got[0] != "a" || got[1] != "b" {
					t.Errorf("X-Multi = %q, want [a b]", got)
				}
				if got := resp.Header.Get("X-Other"); got != "c" {
					t.Errorf("X-Other = %q", got)
				}
			},
		},
		{
			name: "over maxBody with content-length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				w.Write(make([]byte, 100))
			},
			maxBody: 10, wantErr: ErrBodyTooLarge,
		},
		{
			name: "over maxBody chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for range 10 {
					w.Write(make([]byte, 10))
					w.(http.Flusher).Flush()
				}
			},
			maxBody: 50, wantErr: ErrBodyTooLarge,
		},
		{
			name: "exactly maxBody chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("12345"))
				w.(http.Flusher).Flush()
				w.Write([]byte("67890"))
			},
			maxBody: 10, wantStatus: 200, wantBody: []byte("1234567890"),
		},
		{
			name: "gzip bomb stops at maxBody",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Header().Set("Content-Length", strconv.Itoa(len(bomb)))
				w.Write(bomb)
			},
			maxBody: 1 << 20, wantErr: ErrBodyTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := newClient(t, hostOf(srv.URL))
			resp, err := c.Get(context.Background(), "/x", nil, tt.maxBody)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if n := c.IdleConns(); n != 0 {
					t.Errorf("%d idle conns after an error, want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.Status, tt.wantStatus)
			}
			if !bytes.Equal(resp.Body, tt.wantBody) {
				t.Errorf("body = %.60q (%d bytes), want %.60q (%d bytes)", resp.Body, len(resp.Body), tt.wantBody, len(tt.wantBody))
			}
			if tt.check != nil {
				tt.check(t, resp)
			}
			if n := c.IdleConns(); n != 1 {
				t.Errorf("%d idle conns, want the one used", n)
			}
		})
	}
}

// An error page larger than maxBody still gives its status (the caller
// maps it: a 404 is not a malformed answer); its connection is closed
// rather than read to the end.
func TestLargeErrorBodyGivesStatus(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 64<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write(big)
	}))
	defer srv.Close()
	c := newClient(t, hostOf(srv.URL))
	resp, err := c.Get(context.Background(), "/x", nil, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusInternalServerError || resp.Body != nil {
		t.Errorf("status %d, %d body bytes; want 500 and none", resp.Status, len(resp.Body))
	}
	if n := c.IdleConns(); n != 0 {
		t.Errorf("%d idle conns after a body too long to skip, want 0", n)
	}
}

// A gzip stream cut short inside a body whose framing ended is a malformed
// answer (ErrBadEncoding), not a dropped connection.
func TestGzipCutShortIsBadEncoding(t *testing.T) {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(bytes.Repeat([]byte(`{"items":[1,2,3]}`), 50))
	zw.Close()
	for _, cut := range []int{zb.Len() / 2, zb.Len() - 4} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", strconv.Itoa(cut))
			w.Write(zb.Bytes()[:cut])
		}))
		c := newClient(t, hostOf(srv.URL))
		_, err := c.Get(context.Background(), "/x", nil, 1<<20)
		if !errors.Is(err, ErrBadEncoding) {
			t.Errorf("cut at %d of %d: err = %v, want ErrBadEncoding", cut, zb.Len(), err)
		}
		srv.Close()
	}
}

func TestGzipBombMemoryStaysNearMaxBody(t *testing.T) {
	bomb := gzipBomb(t, 256)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb)
	}))
	defer srv.Close()
	c := newClient(t, hostOf(srv.URL))
	alloc := allocated(func() {
		if _, err := c.Get(context.Background(), "/", nil, 1<<20); !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("err = %v, want ErrBodyTooLarge", err)
		}
	})
	if alloc > 8<<20 {
		t.Errorf("allocated %d bytes for a 1 MiB limit", alloc)
	}
}

// allocated reports the bytes allocated while f runs (by every goroutine).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestConnectionClose(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	}))
	c := newClient(t, hostOf(srv.URL))
	for i := range 3 {
		resp, err := c.Get(context.Background(), "/", nil, 0)
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if string(resp.Body) != "bye" {
			t.Fatalf("body = %q", resp.Body)
		}
		if n := c.IdleConns(); n != 0 {
			t.Fatalf("%d idle conns after Connection: close", n)
		}
	}
	if n := srv.conns.Load(); n != 3 {
		t.Errorf("server saw %d connections, want 3", n)
	}
}

func TestKeepAliveReuse(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	c := newClient(t, hostOf(srv.URL))
	for i := range 100 {
		path := fmt.Sprintf("/n/%d", i)
		resp, err := c.Get(context.Background(), path, nil, 0)
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if string(resp.Body) != path {
			t.Fatalf("get %d: body %q", i, resp.Body)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("100 sequential Gets used %d connections, want 1", n)
	}
}

func TestConcurrentGets(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, r.URL.Path)
			zw.Close()
			return
		}
		io.WriteString(w, r.URL.Path)
	}))
	c := newClient(t, hostOf(srv.URL))
	const workers, each = 64, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				path := fmt.Sprintf("/g/%d/%d", g, i)
				q := ""
				if i%3 == 0 {
					q = "?gzip"
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				resp, err := c.Get(ctx, path+q, []HeaderField{{"X-Worker", strconv.Itoa(g)}}, 1<<10)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				if string(resp.Body) != path {
					errs <- fmt.Errorf("asked %s, got %q", path, resp.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.conns.Load(); n > workers {
		t.Errorf("%d connections for %d workers", n, workers)
	}
	if n := c.IdleConns(); n > workers {
		t.Errorf("%d idle connections for %d workers", n, workers)
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	}))
	srv.EnableHTTP2 = true                           // the client must still get HTTP/1.1
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the unknown-authority case's handshake error
	srv.StartTLS()
	defer srv.Close()
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	c := newClient(t, hostOf(srv.URL), func(cfg *Config) { cfg.Scheme, cfg.TLS = "https", tlsCfg })
	for range 3 {
		resp, err := c.Get(context.Background(), "/secure", nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != "HTTP/1.1 /secure" {
			t.Fatalf("body = %q", resp.Body)
		}
	}
	if n := c.IdleConns(); n != 1 {
		t.Errorf("%d idle conns, want 1", n)
	}

	t.Run("unknown authority", func(t *testing.T) {
		c := newClient(t, hostOf(srv.URL), func(cfg *Config) { cfg.Scheme = "https" })
		if _, err := c.Get(context.Background(), "/", nil, 0); err == nil || !strings.Contains(err.Error(), "tls handshake") {
			t.Fatalf("err = %v, want a handshake error", err)
		}
	})
}

func TestServerClosedIdleConns(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	c := newClient(t, hostOf(srv.URL))
	for i := range 3 {
		if _, err := c.Get(context.Background(), "/", nil, 0); err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		srv.CloseClientConnections() // as a server's idle timeout would
	}
	if n := srv.conns.Load(); n != 3 {
		t.Errorf("server saw %d connections, want 3", n)
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c := newClient(t, hostOf(srv.URL), func(cfg *Config) { cfg.IdleTimeout = 20 * time.Millisecond })
	if _, err := c.Get(context.Background(), "/", nil, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := c.Get(context.Background(), "/", nil, 0); err != nil {
		t.Fatal(err)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2: the idle one had expired", n)
	}
}

func TestMaxIdleConns(t *testing.T) {
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(3)
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
	}))
	c := newClient(t, hostOf(srv.URL), func(cfg *Config) { cfg.MaxIdleConns = 2 })
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := c.Get(context.Background(), "/", nil, 0); err != nil {
				t.Error(err)
			}
		})
	}
	arrived.Wait()
	close(release)
	wg.Wait()
	if n := c.IdleConns(); n != 2 {
		t.Errorf("%d idle conns, want MaxIdleConns = 2", n)
	}
}

func TestCloseRefusesGets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c := newClient(t, hostOf(srv.URL))
	if _, err := c.Get(context.Background(), "/", nil, 0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n := c.IdleConns(); n != 0 {
		t.Errorf("%d idle conns after Close", n)
	}
	if _, err := c.Get(context.Background(), "/", nil, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("err = %v, want ErrClosed", err)
	}
	c.Close() // twice is fine
}

func TestCloseIdleKeepsClientUsable(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c := newClient(t, hostOf(srv.URL))
	for range 2 {
		if _, err := c.Get(context.Background(), "/", nil, 0); err != nil {
			t.Fatal(err)
		}
		c.CloseIdle()
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
}

func TestDialErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	t.Run("connection refused", func(t *testing.T) {
		c := newClient(t, addr)
		_, err := c.Get(context.Background(), "/", nil, 0)
		var opErr *net.OpError
		if !errors.As(err, &opErr) || !isConnRefused(err) {
			t.Fatalf("err = %v, want ECONNREFUSED in a *net.OpError", err)
		}
	})
	t.Run("custom dial error kept", func(t *testing.T) {
		errDial := errors.New("out of files")
		c := newClient(t, addr, func(cfg *Config) {
			cfg.Dial = func(context.Context, string, string) (net.Conn, error) { return nil, errDial }
		})
		if _, err := c.Get(context.Background(), "/", nil, 0); !errors.Is(err, errDial) {
			t.Fatalf("err = %v, want %v", err, errDial)
		}
	})
	t.Run("dial cancelled by ctx", func(t *testing.T) {
		c := newClient(t, addr, func(cfg *Config) {
			cfg.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
				<-ctx.Done()
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("operation was canceled")}
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		if _, err := c.Get(ctx, "/", nil, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("dial timeout", func(t *testing.T) {
		c := newClient(t, addr, func(cfg *Config) {
			cfg.DialTimeout = 20 * time.Millisecond
			cfg.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}
		})
		start := time.Now()
		if _, err := c.Get(context.Background(), "/", nil, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the dial's deadline", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("dial took %v, want about DialTimeout", d)
		}
	})
}

func TestInvalidConfig(t *testing.T) {
	c := New(Config{Scheme: "ftp", Host: "nohostport", MaxIdleConns: -1})
	_, err := c.Get(context.Background(), "/", nil, 0)
	if !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("err = %v, want ErrInvalidRequest", err)
	}
	for _, key := range []string{"scheme:", "host:", "max_idle_conns:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}
