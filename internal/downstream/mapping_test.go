package downstream

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// clientPaths are the client's two ways to the wire: its own h1 pool (the
// default) and net/http's, used when Config.Transport is set.
var clientPaths = []struct {
	name  string
	tweak func(*Config)
}{
	{"h1", nil},
	{"net/http", func(c *Config) { c.Transport = &http.Transport{} }},
}

func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGzipBodies(t *testing.T) {
	big := `{"id":"abc","pad":"` + strings.Repeat("x", 2000) + `"}`
	tests := []struct {
		name    string
		body    func(t testing.TB) []byte
		maxBody int64
		code    bff.Code // CodeNone: success with the decoded object
	}{
		{"decoded", func(t testing.TB) []byte { return gzipped(t, `{"id":"abc","name":"Ada"}`) }, 1 << 20, bff.CodeNone},
		{"corrupt", func(testing.TB) []byte { return []byte("\x1f\x8b\x08\x00garbage-not-deflate") }, 1 << 20, bff.CodeBadResponse},
		// Small on the wire, over max_body once decoded.
		{"decoded over max_body", func(t testing.TB) []byte { return gzipped(t, big) }, 1024, bff.CodeBadResponse},
		// The framing ends, the gzip stream does not: malformed, not a
		// dropped connection. (Only the h1 path can tell the two apart:
		// net/http reports both as io.ErrUnexpectedEOF.)
		{"cut short", func(t testing.TB) []byte { z := gzipped(t, big); return z[:len(z)-6] }, 1 << 20, bff.CodeBadResponse},
	}
	for _, p := range clientPaths {
		for _, tt := range tests {
			if tt.name == "cut short" && p.tweak != nil {
				continue
			}
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				body := tt.body(t)
				srv, _ := counting(t, func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Encoding", "gzip")
					w.Header().Set("Content-Type", "application/json")
					w.Write(body)
				})
				c := newClient(t, srv.URL, func(c *Config) {
					c.MaxBody = tt.maxBody
					if p.tweak != nil {
						p.tweak(c)
					}
				})
				resp, err := fetch(t, c, "abc", "rid")
				if tt.code != bff.CodeNone {
					wantCode(t, err, tt.code)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(resp.Body, []byte(`"name":"Ada"`)) {
					t.Fatalf("body %q, want the decoded object", resp.Body)
				}
			})
		}
	}
}

func TestBodyCap(t *testing.T) {
	const maxBody = 1000
	exact := `{"id":"abc","pad":"` + strings.Repeat("x", maxBody-len(`{"id":"abc","pad":""}`)) + `"}`
	if len(exact) != maxBody {
		t.Fatalf("test body is %d bytes", len(exact))
	}
	over := exact[:len(exact)-2] + `x"}`
	for _, p := range clientPaths {
		for _, tt := range []struct {
			name, body string
			ok         bool
		}{{"at max_body", exact, true}, {"one byte over", over, false}} {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				srv, _ := counting(t, func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(tt.body)) })
				c := newClient(t, srv.URL, func(c *Config) {
					c.MaxBody = maxBody
					if p.tweak != nil {
						p.tweak(c)
					}
				})
				_, err := fetch(t, c, "abc", "rid")
				if tt.ok && err != nil {
					t.Fatalf("a body of exactly max_body: %v", err)
				}
				if !tt.ok {
					wantCode(t, err, bff.CodeBadResponse)
				}
			})
		}
	}
}

// An error page longer than max_body keeps its status: a 404 is not_found
// (a gone resource, not the service's fault), a 500 upstream_status.
func TestErrorBodyOverMaxBody(t *testing.T) {
	page := strings.Repeat("<p>error</p>", 1000)
	for _, p := range clientPaths {
		for _, tt := range []struct {
			status int
			code   bff.Code
		}{{http.StatusNotFound, bff.CodeNotFound}, {http.StatusInternalServerError, bff.CodeUpstreamStatus}} {
			t.Run(fmt.Sprintf("%s/%d", p.name, tt.status), func(t *testing.T) {
				srv, _ := counting(t, func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(tt.status)
					w.Write([]byte(page))
				})
				c := newClient(t, srv.URL, func(c *Config) {
					c.MaxBody = 1000
					if p.tweak != nil {
						p.tweak(c)
					}
				})
				_, err := fetch(t, c, "abc", "rid")
				wantCode(t, err, tt.code)
			})
		}
	}
}

// rawServer answers every request on its connections with status line
// line, then a JSON body.
func rawServer(t testing.TB, line, body string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(nc)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				nc.Write([]byte(line + "\r\nContent-Type: application/json\r\nContent-Length: " +
					strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestReasonPhrases: the status code alone decides; a service's own or
// empty reason phrase changes nothing and is never shown.
func TestReasonPhrases(t *testing.T) {
	for _, p := range clientPaths {
		for _, tt := range []struct {
			line string
			code bff.Code // CodeNone: success
		}{
			{"HTTP/1.1 503 Totally Fine", bff.CodeUpstreamStatus},
			{"HTTP/1.1 200 Not OK At All", bff.CodeNone},
			{"HTTP/1.1 200 ", bff.CodeNone},
			{"HTTP/1.1 404 ", bff.CodeNotFound},
		} {
			t.Run(p.name+"/"+tt.line, func(t *testing.T) {
				base := rawServer(t, tt.line, `{"id":"abc"}`)
				c := newClient(t, base, p.tweak)
				_, err := fetch(t, c, "abc", "rid")
				if tt.code == bff.CodeNone {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				e := wantCode(t, err, tt.code)
				if strings.Contains(e.Message, "Totally") || strings.Contains(err.Error(), "Totally") {
					t.Fatalf("error %q shows the service's reason phrase", err)
				}
			})
		}
	}
}
