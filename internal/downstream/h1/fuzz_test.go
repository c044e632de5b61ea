package h1

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

// FuzzReadResponse feeds arbitrary bytes to the response parser: whatever a
// server sends, it must not panic, must keep to its limits, and must fail
// with one of its errors or an EOF rather than return a half-read answer.
func FuzzReadResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x\r\nhello\r\n0\r\nT: v\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nclose-delimited",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 23\r\n\r\n\x1f\x8b\b\x00\x00\x00\x00\x00\x00\xff\x02\x04\x00\x00\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	const maxHeader, maxBody = 1 << 10, 1 << 12
	f.Fuzz(func(t *testing.T, data []byte) {
		pc := &conn{br: bufio.NewReaderSize(bytes.NewReader(data), readBufSize)}
		pc.body.pc = pc
		resp, keep, _, err := pc.readResponse(maxHeader, maxBody)
		if err != nil {
			if resp != nil || keep {
				t.Fatalf("error %v with a response or a reusable connection", err)
			}
			return
		}
		if resp.Status < 200 || resp.Status > 999 {
			t.Fatalf("final status %d", resp.Status)
		}
		if len(resp.Body) > maxBody {
			t.Fatalf("body of %d bytes over the %d limit", len(resp.Body), maxBody)
		}
		if keep && pc.br.Buffered() > 0 {
			t.Fatal("reusable connection with bytes left over")
		}
		for k := range resp.Header {
			if k != canonicalKey(k) {
				t.Fatalf("key %q not canonical", k)
			}
		}
	})
}

func TestFuzzSeedErrorsAreClassified(t *testing.T) {
	pc := &conn{br: bufio.NewReader(bytes.NewReader([]byte("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n")))}
	pc.body.pc = pc
	if _, _, _, err := pc.readResponse(1<<10, 1<<10); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("err = %v, want ErrBadResponse", err)
	}
}
