package h1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// BenchmarkGet compares a Get with net/http's client doing the same call
// (the downstream package's way: a request with a context, two headers,
// the body read whole), for a 1 KiB JSON body. Against an httptest server
// the server's own cost is in both figures; against the raw server, which
// answers every request with the same bytes, little but the client's is.
func BenchmarkGet(b *testing.B) {
	body := []byte(`{"items":[` + string(bytes.Repeat([]byte(`{"id":12345,"name":"abcdefghij"},`), 30)) + `{}]}`)
	b.Run("httptest", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		}))
		defer srv.Close()
		benchClients(b, srv.URL, body)
	})
	b.Run("raw", func(b *testing.B) {
		resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 02 Dec 2026 15:00:00 GMT\r\n" +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
		srv := newRawServer(b, func(c net.Conn, br *bufio.Reader, _ int) {
			for {
				for { // the request head, without allocating
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 {
						break
					}
				}
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		})
		benchClients(b, "http://"+srv.addr(), body)
	})
}

func benchClients(b *testing.B, srvURL string, body []byte) {
	header := []HeaderField{{"Accept", "application/json"}, {"X-Request-Id", "0f8fad5b-d9cb-469f-a165-70867728950e"}}
	c := New(Config{Scheme: "http", Host: hostOf(srvURL)})
	defer c.Close()
	h1Get := func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := c.Get(ctx, "/v1/items?user=42", header, 1<<20)
		cancel()
		if err != nil || len(resp.Body) != len(body) {
			b.Fatal(err)
		}
	}

	tr := &http.Transport{MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	url := srvURL + "/v1/items?user=42"
	netGet := func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header = http.Header{"Accept": {"application/json"}, "X-Request-Id": {"0f8fad5b-d9cb-469f-a165-70867728950e"}}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(got) != len(body) {
			b.Fatal(err)
		}
	}

	for _, bm := range []struct {
		name string
		get  func(*testing.B)
	}{{"h1", h1Get}, {"nethttp", netGet}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bm.get(b)
			}
		})
		b.Run("parallel/"+bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bm.get(b)
				}
			})
		})
	}
}
