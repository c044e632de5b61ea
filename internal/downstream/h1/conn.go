package h1

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Buffer sizes. A connection's buffers are reused for every request it
// carries; ones that grew past the keep sizes are dropped after use.
const (
	readBufSize   = 4 << 10
	writeBufSize  = 512
	writeBufKeep  = 16 << 10
	headerBufKeep = 16 << 10
	// initialBody is the most a body buffer starts with, whatever length
	// the response claims: memory follows the bytes that arrive.
	initialBody = 32 << 10
	minBody     = 512
	// maxChunkLine bounds a chunk-size line, extensions included.
	maxChunkLine = 4 << 10
	// max1xx is how many informational responses may precede the final one.
	max1xx = 8
)

// aLongTimeAgo is a deadline in the past: it fails a blocked Read or Write
// at once.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one connection with its reusable buffers. Only one goroutine uses
// a conn at a time: the Get that took it from the pool or dialled it.
type conn struct {
	nc        net.Conn
	br        *bufio.Reader
	wbuf      []byte // request bytes, reused
	hbuf      []byte // header block being read, reused
	lbuf      []byte // a line longer than br's buffer, reused
	body      bodyReader
	idleAt    time.Time
	interrupt func()          // moves nc's deadline into the past; made once
	raw       syscall.RawConn // for the idle check; nil when unavailable
	peek      func(fd uintptr) bool
	peekOK    bool
}

func newConn(nc net.Conn) *conn {
	pc := &conn{
		nc:   nc,
		br:   bufio.NewReaderSize(nc, readBufSize),
		wbuf: make([]byte, 0, writeBufSize),
	}
	pc.body.pc = pc
	pc.interrupt = func() { _ = pc.nc.SetDeadline(aLongTimeAgo) }
	pc.setupPeek()
	return pc
}

func (pc *conn) close() { _ = pc.nc.Close() }

// idleFit reports whether an idle connection may carry a request: nothing
// arrived while it was idle (no unsolicited bytes, no close by the server).
func (pc *conn) idleFit() bool {
	return pc.br.Buffered() == 0 && pc.socketQuiet()
}

// exchange writes one request and reads its response. keep reports whether
// the connection may be reused; gotBytes whether any byte of a response
// arrived; step names what failed.
func (pc *conn) exchange(host, path string, header []HeaderField, setsAE bool, maxHeader int, maxBody int64) (
	resp *Response, keep, gotBytes bool, step string, err error) {
	b := append(pc.wbuf[:0], "GET "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	if !setsAE {
		b = append(b, "Accept-Encoding: gzip\r\n"...)
	}
	for _, f := range header {
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	if cap(b) <= writeBufKeep {
		pc.wbuf = b
	}
	if _, err := pc.nc.Write(b); err != nil {
		return nil, false, false, "write request", err
	}
	if _, err := pc.br.Peek(1); err != nil {
		return nil, false, false, "read response", err
	}
	resp, keep, step, err = pc.readResponse(maxHeader, maxBody)
	if cap(pc.hbuf) > headerBufKeep {
		pc.hbuf = nil
	}
	if cap(pc.lbuf) > headerBufKeep {
		pc.lbuf = nil
	}
	return resp, keep, true, step, err
}

// validateRequest checks what Get would write; setsAE reports whether
// header sets Accept-Encoding.
func validateRequest(path string, header []HeaderField) (setsAE bool, err error) {
	if path == "" || path[0] != '/' {
		return false, fmt.Errorf("h1: %w: path must start with \"/\"", ErrInvalidRequest)
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c == 0x7f {
			return false, fmt.Errorf("h1: %w: path holds byte %#x", ErrInvalidRequest, c)
		}
	}
	for _, f := range header {
		if !validToken(f.Name) {
			return false, fmt.Errorf("h1: %w: header name %q", ErrInvalidRequest, f.Name)
		}
		if !validValue(f.Value) {
			return false, fmt.Errorf("h1: %w: value of header %q holds a control character", ErrInvalidRequest, f.Name)
		}
		switch {
		case strings.EqualFold(f.Name, "Accept-Encoding"):
			setsAE = true
		case strings.EqualFold(f.Name, "Host"), strings.EqualFold(f.Name, "Content-Length"),
			strings.EqualFold(f.Name, "Transfer-Encoding"), strings.EqualFold(f.Name, "Connection"):
			// Host is written by the client; the others would change how
			// the server frames this request or the connection.
			return false, fmt.Errorf("h1: %w: header %q is set by the client", ErrInvalidRequest, f.Name)
		}
	}
	return setsAE, nil
}

// tchar reports the token characters of RFC 9110 section 5.6.2.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// validValue rejects control characters other than HTAB, and DEL.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// badResponse wraps ErrBadResponse. Messages describe what is wrong but
// never quote the bytes: in a misframed stream they can be body bytes.
func badResponse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadResponse, fmt.Sprintf(format, args...))
}

// readLine reads one line, bounded by *budget bytes (decreased by what the
// line takes), and returns it without its LF or CRLF. The line may alias
// br's buffer: it is valid until the next read.
func (pc *conn) readLine(budget *int, tooLong error) ([]byte, error) {
	line, err := pc.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		pc.lbuf = append(pc.lbuf[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(pc.lbuf) > *budget {
				return nil, tooLong
			}
			line, err = pc.br.ReadSlice('\n')
			pc.lbuf = append(pc.lbuf, line...)
		}
		line = pc.lbuf
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if *budget -= len(line); *budget < 0 {
		return nil, tooLong
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readResponse reads a status line, header and body, skipping 1xx
// responses. keep reports whether the connection may carry another request.
func (pc *conn) readResponse(maxHeader int, maxBody int64) (resp *Response, keep bool, step string, err error) {
	var (
		status int
		http11 bool
		lines  int
	)
	for n1xx := 0; ; n1xx++ {
		budget := maxHeader
		line, err := pc.readLine(&budget, ErrHeaderTooLarge)
		if err != nil {
			return nil, false, "read status line", err
		}
		if status, http11, err = parseStatusLine(line); err != nil {
			return nil, false, "read status line", err
		}
		if lines, err = pc.readHeaderBlock(&budget, status >= 200); err != nil {
			return nil, false, "read header", err
		}
		if status >= 200 {
			break
		}
		if status == http.StatusSwitchingProtocols {
			return nil, false, "read status line", badResponse("101 Switching Protocols without an upgrade request")
		}
		if n1xx == max1xx {
			return nil, false, "read status line", badResponse("more than %d informational responses", max1xx)
		}
	}
	h, err := parseHeader(pc.hbuf, lines)
	if err != nil {
		return nil, false, "read header", err
	}
	resp = &Response{Status: status, Header: h}

	keep = http11
	if conn := h["Connection"]; conn != nil {
		if hasToken(conn, "close") {
			keep = false
		} else if !http11 && hasToken(conn, "keep-alive") {
			keep = true
		}
	}

	cl, hasCL, err := contentLength(h["Content-Length"])
	if err != nil {
		return nil, false, "read header", err
	}
	te := h["Transfer-Encoding"]
	noBody := status == http.StatusNoContent || status == http.StatusNotModified
	switch {
	case noBody:
		// A 204 or 304 has no body whatever its header says; bytes sent
		// anyway are left over and close the connection below.
	case te != nil:
		if hasCL {
			return nil, false, "read header", badResponse("both Content-Length and Transfer-Encoding")
		}
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return nil, false, "read header", badResponse("unsupported Transfer-Encoding %q", strings.Join(te, ", "))
		}
		delete(h, "Transfer-Encoding")
		pc.body.reset(modeChunked, 0, maxHeader, maxBody)
	case hasCL:
		pc.body.reset(modeLength, cl, maxHeader, maxBody)
	default:
		pc.body.reset(modeClose, 0, maxHeader, maxBody)
		keep = false
	}
	switch {
	case noBody || (hasCL && cl == 0):
	case status < 200 || status >= 300:
		// Nobody reads an error page or a redirect's body: skip a little
		// of it to keep the connection, and close it for more.
		if !pc.skipBody() {
			keep = false
		}
	default:
		if isGzip(h["Content-Encoding"]) {
			resp.Body, err = pc.readGzip(maxBody)
			delete(h, "Content-Encoding")
			delete(h, "Content-Length")
		} else {
			resp.Body, err = pc.readPlain(hasCL, cl, maxBody)
		}
		if err != nil {
			return nil, false, "read body", err
		}
	}
	if pc.br.Buffered() > 0 {
		// More bytes than the framing allows: the server is out of step
		// with its requests (a response desync), so the next response on
		// this connection could answer another request.
		keep = false
	}
	return resp, keep, "", nil
}

// skipDiscard is how much of a body outside 2xx is read past to keep its
// connection.
const skipDiscard = 4 << 10

// skipBody reads past up to skipDiscard bytes of a body nobody uses and
// reports whether its framing ended cleanly within them.
func (pc *conn) skipBody() bool {
	var buf [512]byte
	for n := 0; n < skipDiscard; {
		m, err := pc.body.Read(buf[:])
		n += m
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// parseStatusLine parses "HTTP/1.x NNN[ reason]".
func parseStatusLine(line []byte) (status int, http11 bool, err error) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return 0, false, badResponse("status line of %d bytes is not HTTP/1.x NNN", len(line))
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false, badResponse("status line of %d bytes is not HTTP/1.x NNN", len(line))
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return 0, false, badResponse("status line of %d bytes is not HTTP/1.x NNN", len(line))
	}
	return status, line[7] == '1', nil
}

// readHeaderBlock reads header lines up to the empty line. With keep it
// gathers them in pc.hbuf, each ended by '\n', and counts them.
func (pc *conn) readHeaderBlock(budget *int, keep bool) (lines int, err error) {
	pc.hbuf = pc.hbuf[:0]
	for {
		line, err := pc.readLine(budget, ErrHeaderTooLarge)
		if err != nil {
			return 0, err
		}
		if len(line) == 0 {
			return lines, nil
		}
		if keep {
			pc.hbuf = append(pc.hbuf, line...)
			pc.hbuf = append(pc.hbuf, '\n')
			lines++
		}
	}
}

// commonKeys maps header names as servers usually write them to their
// canonical form, saving CanonicalMIMEHeaderKey's work and allocation.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Cache-Control", "Connection", "Content-Encoding", "Content-Length",
		"Content-Type", "Date", "Etag", "Expires", "Keep-Alive", "Last-Modified", "Server", "Set-Cookie",
		"Transfer-Encoding", "Vary", "X-Request-Id", "Traceparent", "Age", "Location", "Trailer"} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	m["ETag"] = "Etag"
	return m
}()

// parseHeader turns the lines in block into a header. One string holds
// every name and value, and one slice every value, so a header costs a few
// allocations whatever its size.
func parseHeader(block []byte, lines int) (http.Header, error) {
	h := make(http.Header, lines)
	if lines == 0 {
		return h, nil
	}
	s := string(block)
	vals := make([]string, lines)
	for n := 1; len(s) > 0; n++ {
		i := strings.IndexByte(s, '\n')
		line := s[:i]
		s = s[i+1:]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !validToken(line[:colon]) {
			// Also refuses obsolete line folding and whitespace before
			// the colon (RFC 9112 section 5).
			return nil, badResponse("header line %d has no token and colon", n)
		}
		value := strings.Trim(line[colon+1:], " \t")
		if !validValue(value) {
			return nil, badResponse("control character in header %q", line[:colon])
		}
		name := line[:colon]
		key, ok := commonKeys[name]
		if !ok {
			key = canonicalKey(name)
		}
		if old := h[key]; old != nil {
			h[key] = append(old, value)
			continue
		}
		vals[0] = value
		h[key] = vals[:1:1]
		vals = vals[1:]
	}
	return h, nil
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey for a valid token,
// returning s itself when it is canonical already.
func canonicalKey(s string) string {
	upper := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return canonicalCopy(s)
		}
		upper = c == '-'
	}
	return s
}

func canonicalCopy(s string) string {
	b := []byte(s)
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}

// hasToken reports whether a comma-separated header holds token.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// contentLength parses every Content-Length value; all must agree
// ("5, 5" and two equal lines are one length; differing ones are a
// request-smuggling vector and refused).
func contentLength(values []string) (n int64, ok bool, err error) {
	for _, v := range values {
		for {
			t, rest, more := strings.Cut(v, ",")
			t = strings.TrimSpace(t)
			m, valid := parseDecimal(t)
			if !valid {
				return 0, false, badResponse("Content-Length is not a decimal number")
			}
			if ok && m != n {
				return 0, false, badResponse("differing Content-Length values")
			}
			n, ok = m, true
			if !more {
				break
			}
			v = rest
		}
	}
	return n, ok, nil
}

func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isGzip(ce []string) bool {
	if len(ce) != 1 {
		return false
	}
	v := strings.TrimSpace(ce[0])
	return strings.EqualFold(v, "gzip") || strings.EqualFold(v, "x-gzip")
}

// readPlain reads an unencoded body. A Content-Length beyond maxBody fails
// before reading; otherwise the buffer starts at most initialBody bytes
// and grows as bytes arrive.
func (pc *conn) readPlain(hasCL bool, cl, maxBody int64) ([]byte, error) {
	if hasCL {
		if cl > maxBody {
			return nil, fmt.Errorf("%w (Content-Length %d, limit %d)", ErrBodyTooLarge, cl, maxBody)
		}
		return readAll(&pc.body, min(cl, initialBody), cl, cl)
	}
	return readAll(&pc.body, startSize(pc.br.Buffered()), -1, maxBody)
}

func startSize(buffered int) int64 {
	return int64(min(max(buffered, minBody), initialBody))
}

var gzipReaders sync.Pool // of *gzip.Reader

// readGzip gunzips the body, bounding the decompressed size by maxBody:
// a small body that inflates without end (a gzip bomb) stops there.
func (pc *conn) readGzip(maxBody int64) ([]byte, error) {
	var zr *gzip.Reader
	var err error
	if v := gzipReaders.Get(); v != nil {
		zr = v.(*gzip.Reader)
		err = zr.Reset(&pc.body)
	} else {
		zr, err = gzip.NewReader(&pc.body)
	}
	if err == io.EOF && pc.body.done {
		return nil, nil // an empty body
	}
	if err != nil {
		if zr != nil {
			gzipReaders.Put(zr)
		}
		return nil, gzipError(err)
	}
	body, err := readAll(zr, startSize(4*pc.br.Buffered()), -1, maxBody)
	gzipReaders.Put(zr)
	if errors.Is(err, io.ErrUnexpectedEOF) && pc.body.done {
		// The framing ended but the gzip stream did not (or a few stray
		// bytes followed it): the answer is malformed, the connection fine.
		return nil, fmt.Errorf("%w: gzip stream cut short", ErrBadEncoding)
	}
	if err != nil {
		return nil, gzipError(err)
	}
	// The gzip stream ended; its framing must end with it.
	if !pc.body.done {
		var one [1]byte
		if n, err := pc.body.Read(one[:]); n > 0 {
			return nil, badResponse("data after the gzip stream")
		} else if err != io.EOF {
			return nil, err
		}
	}
	return body, nil
}

func gzipError(err error) error {
	var corrupt flate.CorruptInputError
	if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &corrupt) {
		return fmt.Errorf("%w: gzip: %w", ErrBadEncoding, err)
	}
	return err
}

// readAll reads r into a buffer that starts with capacity start and grows
// as bytes arrive. With known >= 0 it stops after known bytes; it fails
// with ErrBodyTooLarge once more than limit bytes arrive.
func readAll(r io.Reader, start, known, limit int64) ([]byte, error) {
	buf := make([]byte, 0, start)
	for {
		if known >= 0 && int64(len(buf)) == known {
			return buf, nil
		}
		if len(buf) == cap(buf) {
			c := max(2*int64(cap(buf)), minBody)
			if known >= 0 {
				c = min(c, known)
			} else {
				c = min(c, limit+1) // room for one byte too many
			}
			nb := make([]byte, len(buf), c)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("%w (limit %d)", ErrBodyTooLarge, limit)
		}
		if err == io.EOF {
			if known >= 0 && int64(len(buf)) < known {
				return nil, io.ErrUnexpectedEOF
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
