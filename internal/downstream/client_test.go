package downstream

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// newClient returns a user-scoped client for base, like the built-in user
// service, with tweak applied to its config.
func newClient(t testing.TB, base string, tweak func(*Config)) *Client {
	t.Helper()
	cfg := Config{Name: "user", URL: base, Path: "/users/{user_id}", Timeout: 2 * time.Second,
		MaxBody: 1 << 20, MaxJSONDepth: 64, IdentityField: "id"}
	if tweak != nil {
		tweak(&cfg)
	}
	c := New(cfg, nil)
	t.Cleanup(c.Close)
	return c
}

func fetch(t testing.TB, c *Client, user, requestID string) (bff.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Fetch(ctx, bff.Call{Service: "user", Path: PathTemplate("/users/{user_id}").Resolve(user), RequestID: requestID, UserID: user})
}

func wantCode(t testing.TB, err error, code bff.Code) *bff.Error {
	t.Helper()
	e, ok := errors.AsType[*bff.Error](err)
	if !ok || e.Code != code {
		t.Fatalf("err = %v (code %s), want code %s", err, bff.CodeOf(err), code)
	}
	return e
}

// counting serves h and counts its requests.
func counting(t testing.TB, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		status int
		code   bff.Code
		fault  bff.Fault
	}{
		{404, bff.CodeNotFound, bff.FaultRequest},
		{410, bff.CodeUpstreamStatus, bff.FaultRequest},
		{400, bff.CodeUpstreamStatus, bff.FaultRequest},
		{429, bff.CodeUpstreamStatus, bff.FaultService},
		{500, bff.CodeUpstreamStatus, bff.FaultService},
		{503, bff.CodeUpstreamStatus, bff.FaultService},
		{302, bff.CodeUpstreamStatus, bff.FaultNeither},
		{304, bff.CodeUpstreamStatus, bff.FaultNeither},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv, _ := counting(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Location", "/elsewhere")
				w.WriteHeader(tt.status)
			})
			_, err := fetch(t, newClient(t, srv.URL, nil), "abc", "rid")
			e := wantCode(t, err, tt.code)
			if e.Status != tt.status || bff.Classify(err) != tt.fault {
				t.Fatalf("status %d, fault %d; want %d, %d", e.Status, bff.Classify(err), tt.status, tt.fault)
			}
			if strings.Contains(e.Message, "elsewhere") {
				t.Fatalf("message %q shows the service's Location", e.Message)
			}
		})
	}
}

// TestRedirectToAdminNotFollowed: a downstream redirect used to make
// pagebff fetch any URL, its own /admin/breakers included, and hand the
// answer to the public client inside a section, with X-Request-Id,
// traceparent and a Referer naming the user sent to the target.
func TestRedirectToAdminNotFollowed(t *testing.T) {
	target, hits := counting(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"services":{"user":{"state":"closed"}}}`))
	})
	svc, calls := counting(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/admin/breakers", http.StatusFound)
	})
	for _, follow := range []bool{false, true} {
		c := newClient(t, svc.URL, func(c *Config) { c.FollowRedirects = follow })
		_, err := fetch(t, c, "abc", "rid")
		wantCode(t, err, bff.CodeUpstreamStatus)
	}
	if hits.Load() != 0 || calls.Load() != 2 {
		t.Fatalf("target hit %d times, service %d; want 0 and 2", hits.Load(), calls.Load())
	}
}

// TestRedirectLoopCostsOneCall: a loop used to cost 11 calls per section.
func TestRedirectLoopCostsOneCall(t *testing.T) {
	svc, calls := counting(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
	})
	_, err := fetch(t, newClient(t, svc.URL, nil), "abc", "rid")
	wantCode(t, err, bff.CodeUpstreamStatus)
	if calls.Load() != 1 {
		t.Fatalf("redirect loop made %d calls, want 1", calls.Load())
	}
	calls.Store(0)
	_, err = fetch(t, newClient(t, svc.URL, func(c *Config) { c.FollowRedirects = true }), "abc", "rid")
	wantCode(t, err, bff.CodeUpstreamStatus)
	if calls.Load() != MaxRedirects+1 {
		t.Fatalf("redirect loop with follow_redirects made %d calls, want %d", calls.Load(), MaxRedirects+1)
	}
}

// With follow_redirects, a same-host redirect is followed, without the
// Referer that net/http would add (it names the user).
func TestFollowRedirectsSameHostWithoutReferer(t *testing.T) {
	var referer, requestID atomic.Value
	svc, _ := counting(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/abc" {
			referer.Store(r.Header.Get("Referer"))
			requestID.Store(r.Header.Get("X-Request-Id"))
			_, _ = w.Write([]byte(`{"id":"abc"}`))
			return
		}
		http.Redirect(w, r, "/v2/abc", http.StatusMovedPermanently)
	})
	resp, err := fetch(t, newClient(t, svc.URL, func(c *Config) { c.FollowRedirects = true }), "abc", "rid-7")
	if err != nil || string(resp.Body) != `{"id":"abc"}` {
		t.Fatalf("Fetch = %s, %v; want the redirected answer", resp.Body, err)
	}
	if referer.Load() != "" || requestID.Load() != "rid-7" {
		t.Fatalf("redirected request had Referer %q, X-Request-Id %q; want none and rid-7", referer.Load(), requestID.Load())
	}
}

// TestRequestIDMismatchIsBadResponse: a service that echoes X-Request-Id
// and echoes another one has answered another request; its connection is
// closed, not reused.
func TestRequestIDMismatchIsBadResponse(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "victim" {
			id = "someone-else"
		}
		w.Header().Set("X-Request-Id", id)
		_, _ = w.Write([]byte(`{"id":"abc"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, nil)
	if _, err := fetch(t, c, "abc", "fine-1"); err != nil {
		t.Fatal(err)
	}
	_, err := fetch(t, c, "abc", "victim")
	wantCode(t, err, bff.CodeBadResponse)
	if _, err := fetch(t, c, "abc", "fine-2"); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2: the mismatched answer's connection must be closed", n)
	}
}

// TestRefusedAnswerClosesItsConnection: a body refused after it was read
// (another user's record) left its connection in the pool, out of step
// with its requests; the next call on it timed out. Found by the chaos
// suite's desync scenario.
func TestRefusedAnswerClosesItsConnection(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body := `{"id":"abc"}`
			if strings.HasSuffix(r.URL.Path, "/victim") {
				body = `{"id":"intruder"}`
			}
			if chunked {
				w.(http.Flusher).Flush() // no Content-Length
			}
			_, _ = w.Write([]byte(body))
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		c := newClient(t, srv.URL, nil)
		if _, err := fetch(t, c, "abc", "r1"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, mustErr(fetch(t, c, "victim", "r2")), bff.CodeBadResponse)
		if _, err := fetch(t, c, "abc", "r3"); err != nil {
			t.Fatal(err)
		}
		if n := conns.Load(); n != 2 {
			t.Fatalf("chunked=%v: %d connections, want 2: the refused answer's connection must not be reused", chunked, n)
		}
		srv.Close()
	}
}

func mustErr(_ bff.Response, err error) error { return err }

func TestIdentityField(t *testing.T) {
	tests := []struct {
		name, body string
		scoped     bool
		ok         bool
	}{
		{name: "same user", body: `{"id":"abc","name":"Ada"}`, scoped: true, ok: true},
		{name: "other user", body: `{"name":"Eve","id":"eve"}`, scoped: true, ok: false},
		{name: "numeric id differs", body: `{"id":42}`, scoped: true, ok: false},
		{name: "escaped key and value", body: `{"\u0069d":"\u0061bc"}`, scoped: true, ok: true},
		{name: "nested id ignored", body: `{"profile":{"id":"eve"},"id":"abc"}`, scoped: true, ok: true},
		{name: "no id field", body: `{"name":"Ada"}`, scoped: true, ok: true},
		{name: "null id", body: `{"id":null}`, scoped: true, ok: false},
		{name: "id written twice, second another user", body: `{"id":"abc","id":"eve"}`, scoped: true, ok: false},
		{name: "id written twice, first another user", body: `{"id":"eve","id":"abc"}`, scoped: true, ok: false},
		{name: "not user-scoped", body: `{"id":"eve"}`, scoped: false, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := counting(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(tt.body)) })
			c := newClient(t, srv.URL, func(c *Config) {
				if !tt.scoped {
					c.Path = "/items"
				}
			})
			_, err := fetch(t, c, "abc", "rid")
			if tt.ok && err != nil {
				t.Fatalf("Fetch: %v, want ok", err)
			}
			if !tt.ok {
				e := wantCode(t, err, bff.CodeBadResponse)
				if strings.Contains(e.Error(), "eve") {
					t.Fatalf("error %q shows the other user's id", e.Error())
				}
			}
		})
	}
}

func TestNumericIdentityMatches(t *testing.T) {
	srv, _ := counting(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"id":42}`)) })
	if _, err := fetch(t, newClient(t, srv.URL, nil), "42", "rid"); err != nil {
		t.Fatalf("Fetch: %v, want ok for a numeric id equal to the user", err)
	}
}

// TestResponseDesyncNeverCrossesUsers: a downstream that writes a whole
// second response after its Content-Length can have those bytes read as
// the next request's answer on the same connection (golang/go#31259): 54 of
// 12,000 sections once carried another user's data. Whatever net/http does
// with the extra bytes, no call may return another user's answer.
func TestResponseDesyncNeverCrossesUsers(t *testing.T) {
	addr := serveConns(t, desyncServer)
	for _, echo := range []bool{true, false} {
		base := "http://" + addr
		if !echo {
			base += "/noecho"
		}
		c := newClient(t, base, nil)
		var mu sync.Mutex
		bad := 0
		var calls sync.WaitGroup
		for i := range 400 {
			calls.Go(func() {
				user := fmt.Sprintf("u%d", i)
				resp, err := fetch(t, c, user, fmt.Sprintf("rid-%d", i))
				if err == nil && string(resp.Body) != `{"id":"`+user+`"}` {
					mu.Lock()
					bad++
					mu.Unlock()
					t.Errorf("user %s got %s", user, resp.Body)
				}
			})
		}
		calls.Wait()
		if bad > 0 {
			t.Fatalf("echo=%v: %d answers for another user", echo, bad)
		}
	}
}

// desyncServer answers each request on conn with the requested user's
// record, and after every third one writes an unrequested second response
// for another user.
func desyncServer(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for n := 0; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		path := strings.TrimPrefix(req.URL.Path, "/noecho")
		user := strings.TrimPrefix(path, "/users/")
		echo := !strings.HasPrefix(req.URL.Path, "/noecho")
		out := response(user, req.Header.Get("X-Request-Id"), echo)
		if n%3 == 0 {
			out += response("intruder", "rid-intruder", echo)
		}
		if _, err := conn.Write([]byte(out)); err != nil {
			return
		}
	}
}

func response(user, requestID string, echo bool) string {
	body := `{"id":"` + user + `"}`
	h := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	if echo {
		h += "X-Request-Id: " + requestID + "\r\n"
	}
	return h + "\r\n" + body
}

// TestClaimedLengthDoesNotPreallocate: the body buffer was made from the
// claimed Content-Length, so stalled answers claiming 1 MiB took the heap
// from 6 to 277 MB in one test. Memory must follow the bytes that arrive.
func TestClaimedLengthDoesNotPreallocate(t *testing.T) {
	release := make(chan struct{})
	srv, _ := counting(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		_, _ = w.Write([]byte(`{"id":"abc"`))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := newClient(t, srv.URL, nil)
	const calls = 64
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	started := make(chan struct{}, calls)
	for range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			started <- struct{}{}
			_, _ = c.Fetch(ctx, bff.Call{Service: "user", Path: "/users/abc", RequestID: "r", UserID: "abc"})
		})
	}
	for range calls {
		<-started
	}
	time.Sleep(200 * time.Millisecond) // let the bodies start arriving
	runtime.ReadMemStats(&after)
	close(release)
	wg.Wait()
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 24<<20 {
		t.Fatalf("%d stalled 1 MB claims allocated %d MB, want memory to follow the bytes (well under 24 MB)", calls, grew>>20)
	}
}

func TestBodyLongerThanInitialBuffer(t *testing.T) {
	body := `{"id":"abc","pad":"` + strings.Repeat("x", 200<<10) + `"}`
	srv, _ := counting(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
	resp, err := fetch(t, newClient(t, srv.URL, nil), "abc", "rid")
	if err != nil || string(resp.Body) != body {
		t.Fatalf("Fetch: %d bytes, %v; want the whole %d-byte body", len(resp.Body), err, len(body))
	}
}

// TestDeepJSONIsBadResponse: 10,000 levels used to pass and break common
// clients parsing the page.
func TestDeepJSONIsBadResponse(t *testing.T) {
	nest := func(n int) string {
		return `{"id":"abc","x":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	for _, tt := range []struct {
		levels int
		ok     bool
	}{{64, true}, {65, false}, {10000, false}} {
		srv, _ := counting(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(nest(tt.levels))) })
		_, err := fetch(t, newClient(t, srv.URL, nil), "abc", "rid")
		if tt.ok != (err == nil) {
			t.Fatalf("%d levels: err %v, want ok=%v", tt.levels, err, tt.ok)
		}
		if !tt.ok {
			wantCode(t, err, bff.CodeBadResponse)
		}
	}
}

// TestOutOfFilesIsNotTheServicesFault: at the fd limit pagebff's own dials
// failed with "too many open files", counted as the services' fault, so
// breakers opened for healthy services.
func TestOutOfFilesIsNotTheServicesFault(t *testing.T) {
	emfile := func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
	}
	for name, tweak := range map[string]func(*Config){
		"pool":     func(c *Config) { c.Dial = emfile },
		"net/http": func(c *Config) { c.Transport = &http.Transport{DialContext: emfile} },
	} {
		_, err := fetch(t, newClient(t, "http://127.0.0.1:1", tweak), "abc", "rid")
		e := wantCode(t, err, bff.CodeUnavailable)
		if !e.Local || bff.Classify(err) != bff.FaultNeither {
			t.Fatalf("%s, EMFILE: Local %v, fault %d; want pagebff's own fault", name, e.Local, bff.Classify(err))
		}
	}
	// A refused connection is still the service's.
	_, err := fetch(t, newClient(t, "http://127.0.0.1:1", nil), "abc", "rid")
	if bff.Classify(err) != bff.FaultService {
		t.Fatalf("refused connection: fault %d, want the service's", bff.Classify(err))
	}
}

func TestDepthWithin(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want bool
	}{
		{`{}`, 1, true},
		{`{"a":{}}`, 1, false},
		{`{"a":"[[[[{{{{"}`, 1, true},
		{`{"a":"\"[[["}`, 1, true},
		{`[[],[],[[]]]`, 3, true},
		{`[[],[],[[]]]`, 2, false},
	}
	for _, tt := range tests {
		if got := depthWithin([]byte(tt.in), tt.max); got != tt.want {
			t.Errorf("depthWithin(%s, %d) = %v, want %v", tt.in, tt.max, got, tt.want)
		}
	}
}

// The tests below complement TestGzipBodies, TestBodyCap and
// TestReasonPhrases (mapping_test.go): both client paths (clientPaths),
// every body framing, exact boundaries and more kinds of corruption.

// pathClient returns a client of path p for base with max_body maxBody
// whose idle connections, net/http's included, are closed at cleanup.
func pathClient(t testing.TB, base string, p func(*Config), maxBody int64) *Client {
	t.Helper()
	c := newClient(t, base, func(c *Config) {
		c.MaxBody = maxBody
		if p != nil {
			p(c)
		}
	})
	t.Cleanup(c.closeIdle)
	return c
}

// rawHTTP serves every connection one request: it reads it and writes
// answer, bytes exactly as given, then closes the connection. For status
// lines and framings httptest would not write.
func rawHTTP(t testing.TB, answer func(path string) string) string {
	t.Helper()
	return "http://" + serveConns(t, func(nc net.Conn) {
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		req, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			return
		}
		_, _ = nc.Write([]byte(answer(req.URL.Path)))
	})
}

// serveConns listens on a loopback port and hands each connection to
// serve on its own goroutine until the test ends (and waits for them);
// it returns the address.
func serveConns(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serve(nc) })
		}
	})
	return ln.Addr().String()
}

// withLength is a complete answer with status line line and body framed by
// Content-Length, after header lines extra (each ending in CRLF).
func withLength(line, extra, body string) string {
	return line + "\r\n" + extra + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// padded is a JSON object naming user abc of exactly n bytes.
func padded(t testing.TB, n int) string {
	t.Helper()
	s := `{"id":"abc","pad":"` + strings.Repeat("x", n-len(`{"id":"abc","pad":""}`)) + `"}`
	if len(s) != n {
		t.Fatalf("padded(%d) is %d bytes", n, len(s))
	}
	return s
}

// TestGzipAnswerDecoded: the Response holds the decoded object, byte for
// byte, whether the gzip body comes with a Content-Length or chunked, and
// its header no longer matters.
func TestGzipAnswerDecoded(t *testing.T) {
	const obj = `{"id":"abc","name":"Ada","tags":["a","b"]}`
	for _, p := range clientPaths {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/chunked=%v", p.name, chunked), func(t *testing.T) {
				body := gzipped(t, obj)
				srv, _ := counting(t, func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Content-Encoding", "gzip")
					if chunked {
						w.(http.Flusher).Flush()
					}
					_, _ = w.Write(body)
				})
				resp, err := fetch(t, pathClient(t, srv.URL, p.tweak, 1<<20), "abc", "rid")
				if err != nil || string(resp.Body) != obj {
					t.Fatalf("Fetch = %q, %v; want %q", resp.Body, err, obj)
				}
			})
		}
	}
}

// TestGzipCorruptIsBadResponse: every way a gzip body can fail to decode
// (bad magic, bad deflate data, bad CRC, wrong length trailer) is the
// service's malformed answer — bad_response, as Fetch documents — not a
// connection failure; and the client keeps working afterwards.
func TestGzipCorruptIsBadResponse(t *testing.T) {
	const obj = `{"id":"abc","name":"Ada"}`
	good := gzipped(t, obj)
	flip := func(i int) string { // good with the byte at i (from the end if negative) inverted
		b := append([]byte(nil), good...)
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 0xff
		return string(b)
	}
	for _, p := range clientPaths {
		for _, tt := range []struct{ name, body string }{
			{"not gzip at all", obj},
			{"bad magic", flip(0)},
			{"deflate data corrupt", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff"},
			{"CRC mismatch", flip(-8)},
			{"length trailer mismatch", flip(-1)},
		} {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				base := rawHTTP(t, func(path string) string {
					if path == "/users/abc" {
						return withLength("HTTP/1.1 200 OK", "Content-Encoding: gzip\r\n", string(good))
					}
					return withLength("HTTP/1.1 200 OK", "Content-Encoding: gzip\r\n", tt.body)
				})
				c := pathClient(t, base, p.tweak, 1<<20)
				_, err := fetch(t, c, "bad", "rid-1")
				e := wantCode(t, err, bff.CodeBadResponse)
				if e.Local {
					t.Fatalf("corrupt gzip marked as pagebff's own failure: %v", err)
				}
				resp, err := fetch(t, c, "abc", "rid-2")
				if err != nil || string(resp.Body) != obj {
					t.Fatalf("after a corrupt answer, Fetch = %q, %v; want %q", resp.Body, err, obj)
				}
			})
		}
	}
}

// TestGzipDecodedSizeCap: max_body bounds the decoded body, as Fetch
// documents: a gzip body decoding to exactly max_body bytes is accepted,
// one byte more is bad_response although both are far smaller on the
// wire, and so is a bomb (megabytes of zeros in a few kilobytes).
func TestGzipDecodedSizeCap(t *testing.T) {
	const maxBody = 4096
	exact := padded(t, maxBody)
	over := padded(t, maxBody+1)
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write([]byte(`{"id":"abc","pad":"`))
	_, _ = zw.Write(make([]byte, 2<<20))
	_ = zw.Close()
	for _, tt := range []struct {
		name string
		wire []byte
		ok   bool
	}{
		{"decoded at max_body", gzipped(t, exact), true},
		{"decoded one byte over", gzipped(t, over), false},
		{"bomb", bomb.Bytes(), false},
	} {
		if len(tt.wire) >= maxBody {
			t.Fatalf("%s: %d bytes on the wire, want fewer than max_body for the test to mean anything", tt.name, len(tt.wire))
		}
		for _, p := range clientPaths {
			for _, chunked := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/chunked=%v", p.name, tt.name, chunked), func(t *testing.T) {
					srv, _ := counting(t, func(w http.ResponseWriter, _ *http.Request) {
						w.Header().Set("Content-Encoding", "gzip")
						if chunked {
							w.(http.Flusher).Flush()
						}
						_, _ = w.Write(tt.wire)
					})
					resp, err := fetch(t, pathClient(t, srv.URL, p.tweak, maxBody), "abc", "rid")
					if !tt.ok {
						e := wantCode(t, err, bff.CodeBadResponse)
						if !errors.Is(err, errTooLarge) {
							t.Fatalf("err = %v (message %q), want the too-large detail", err, e.Message)
						}
						return
					}
					if err != nil || string(resp.Body) != exact {
						t.Fatalf("Fetch = %d bytes, %v; want the %d-byte decoded body", len(resp.Body), err, len(exact))
					}
				})
			}
		}
	}
}

// TestStatusLineReasonIgnored: the numeric code alone decides the mapping;
// a reason phrase that is absent, empty, non-ASCII or names another status
// changes nothing, and none reaches the error.
func TestStatusLineReasonIgnored(t *testing.T) {
	const obj = `{"id":"abc"}`
	tests := []struct {
		line   string
		body   string
		code   bff.Code // CodeNone: success with want
		want   string
		status int
		fault  bff.Fault
	}{
		{line: "HTTP/1.1 503 Totally Fine", code: bff.CodeUpstreamStatus, status: 503, fault: bff.FaultService},
		{line: "HTTP/1.1 503 ", code: bff.CodeUpstreamStatus, status: 503, fault: bff.FaultService},
		{line: "HTTP/1.1 503", code: bff.CodeUpstreamStatus, status: 503, fault: bff.FaultService},
		{line: "HTTP/1.1 503 200 OK", body: obj, code: bff.CodeUpstreamStatus, status: 503, fault: bff.FaultService},
		{line: "HTTP/1.0 500 Totally Fine", code: bff.CodeUpstreamStatus, status: 500, fault: bff.FaultService},
		{line: "HTTP/1.1 404 Totally Found", code: bff.CodeNotFound, status: 404, fault: bff.FaultRequest},
		{line: "HTTP/1.1 429 Totally Fine", code: bff.CodeUpstreamStatus, status: 429, fault: bff.FaultService},
		{line: "HTTP/1.1 200 ", body: obj, want: obj},
		{line: "HTTP/1.1 200", body: obj, want: obj},
		{line: "HTTP/1.1 200 503 Service Unavailable", body: obj, want: obj},
		{line: "HTTP/1.1 200 \xe7a va tr\xe8s bien", body: obj, want: obj},
		{line: "HTTP/1.0 200 Totally Fine", body: obj, want: obj},
		{line: "HTTP/1.1 204 Lots Of Content", want: `{"items":[]}`},
	}
	for _, p := range clientPaths {
		for _, tt := range tests {
			t.Run(p.name+"/"+strings.ToValidUTF8(tt.line, "?"), func(t *testing.T) {
				base := rawHTTP(t, func(string) string {
					return withLength(tt.line, "Content-Type: application/json\r\nConnection: close\r\n", tt.body)
				})
				resp, err := fetch(t, pathClient(t, base, p.tweak, 1<<20), "abc", "rid")
				if tt.code == bff.CodeNone {
					if err != nil || string(resp.Body) != tt.want {
						t.Fatalf("Fetch = %q, %v; want %q", resp.Body, err, tt.want)
					}
					return
				}
				e := wantCode(t, err, tt.code)
				if e.Status != tt.status || bff.Classify(err) != tt.fault {
					t.Fatalf("status %d, fault %d; want %d, %d", e.Status, bff.Classify(err), tt.status, tt.fault)
				}
				if strings.Contains(err.Error(), "Totally") || strings.Contains(err.Error(), "200 OK") {
					t.Fatalf("error %q shows the service's reason phrase", err)
				}
			})
		}
	}
}

// TestBodyCapEveryFraming: max_body holds whatever frames the body —
// Content-Length, chunked, or the server closing the connection: exactly
// max_body bytes are accepted (an array too, though wrapping it in
// {"items":...} makes it longer), one more is bad_response, and so is a
// Content-Length claim over max_body with fewer bytes behind it.
func TestBodyCapEveryFraming(t *testing.T) {
	const maxBody = 2000
	exact, over := padded(t, maxBody), padded(t, maxBody+1)
	array := `[` + strings.Repeat(`1,`, (maxBody-2)/2-1) + `1` + `]`
	if len(array) != maxBody-1 {
		t.Fatalf("array is %d bytes", len(array))
	}
	array += " " // exactly max_body, trailing whitespace allowed
	frame := map[string]func(body string) string{
		"content-length": func(body string) string { return withLength("HTTP/1.1 200 OK", "", body) },
		"chunked": func(body string) string {
			// Two chunks, so no single chunk size gives the total away.
			half := len(body) / 2
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n",
				half, body[:half], len(body)-half, body[half:])
		},
		"close-delimited": func(body string) string { return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body },
		"claim over max_body": func(string) string {
			return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(maxBody+1) + "\r\n\r\n" + `{"id":"abc"}`
		},
	}
	tests := []struct {
		framing, name, body, want string // want "": bad_response
	}{
		{"content-length", "exact", exact, exact},
		{"content-length", "over", over, ""},
		{"content-length", "array exact", array, `{"items":` + strings.TrimSpace(array) + `}`},
		{"chunked", "exact", exact, exact},
		{"chunked", "over", over, ""},
		{"chunked", "far over", padded(t, 50*maxBody), ""},
		{"chunked", "array exact", array, `{"items":` + strings.TrimSpace(array) + `}`},
		{"close-delimited", "exact", exact, exact},
		{"close-delimited", "over", over, ""},
		{"claim over max_body", "short", "", ""},
	}
	for _, p := range clientPaths {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.framing+"/"+tt.name, func(t *testing.T) {
				base := rawHTTP(t, func(string) string { return frame[tt.framing](tt.body) })
				resp, err := fetch(t, pathClient(t, base, p.tweak, maxBody), "abc", "rid")
				if tt.want == "" {
					wantCode(t, err, bff.CodeBadResponse)
					if !errors.Is(err, errTooLarge) {
						t.Fatalf("err = %v, want the too-large detail", err)
					}
					return
				}
				if err != nil || string(resp.Body) != tt.want {
					t.Fatalf("Fetch = %d bytes, %v; want the %d-byte answer", len(resp.Body), err, len(tt.want))
				}
			})
		}
	}
}
