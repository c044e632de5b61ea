package h1

import (
	"fmt"
	"io"
)

var (
	errRawTooLarge      = fmt.Errorf("%w (framing and encoding included)", ErrBodyTooLarge)
	errChunkLineTooLong = badResponse("chunk-size line too long")
)

type bodyMode uint8

const (
	modeLength  bodyMode = iota // Content-Length
	modeChunked                 // Transfer-Encoding: chunked
	modeClose                   // delimited by the server closing the connection
)

// bodyReader reads one response body's framing from its connection's
// bufio.Reader and yields the body bytes, ending with io.EOF exactly at the
// end of the framing: a Content-Length body after its last byte, a chunked
// one after its trailer (read and discarded), a close-delimited one at the
// connection's EOF. A connection that ends early gives
// io.ErrUnexpectedEOF. It is embedded in its conn and reset per response,
// and is an io.ByteReader so compress/flate reads it unbuffered.
type bodyReader struct {
	pc        *conn
	mode      bodyMode
	remain    int64 // bytes left of the body (modeLength) or of the chunk (modeChunked)
	inChunk   bool  // modeChunked: a chunk's data was read; its CRLF is due
	done      bool  // the framing ended
	maxHeader int   // bounds the trailer
	rawLeft   int64 // wire bytes the body may still take, framing included
	err       error // sticky
}

// rawBudget is how many wire bytes a body limited to maxBody decoded bytes
// may take: room for chunk framing and for gzip's overhead on data that
// does not compress, but no more. Without it a server could send endless
// chunk extensions, or deflate blocks that inflate to nothing, and keep a
// call reading until its deadline.
func rawBudget(maxBody int64) int64 { return 2*maxBody + 64<<10 }

func (b *bodyReader) reset(mode bodyMode, length int64, maxHeader int, maxBody int64) {
	*b = bodyReader{pc: b.pc, mode: mode, remain: length, maxHeader: maxHeader, rawLeft: rawBudget(maxBody)}
	if mode == modeLength && length == 0 {
		b.done = true
	}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	br := b.pc.br
	switch b.mode {
	case modeClose:
		n, err := br.Read(p)
		if b.rawLeft -= int64(n); b.rawLeft < 0 && err == nil {
			err = errRawTooLarge
		}
		if err == io.EOF {
			b.done = true
		} else if err != nil {
			b.err = err
		}
		return n, err
	case modeChunked:
		if b.remain == 0 {
			if err := b.nextChunk(); err != nil {
				b.err = err
				return 0, err
			}
			if b.done {
				return 0, io.EOF
			}
		}
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := br.Read(p)
	b.remain -= int64(n)
	if b.rawLeft -= int64(n); b.rawLeft < 0 && err == nil {
		err = errRawTooLarge
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.err = err
		return n, err
	}
	if b.remain == 0 && b.mode == modeLength {
		b.done = true
	}
	return n, nil
}

func (b *bodyReader) ReadByte() (byte, error) {
	if b.remain > 0 && b.rawLeft > 0 && b.err == nil {
		c, err := b.pc.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
			return 0, err
		}
		b.remain--
		b.rawLeft--
		if b.remain == 0 && b.mode == modeLength {
			b.done = true
		}
		return c, nil
	}
	var one [1]byte
	for {
		n, err := b.Read(one[:])
		if n == 1 {
			return one[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// nextChunk reads the CRLF ending the previous chunk's data, then the next
// chunk-size line; for the last chunk it reads the trailer too.
func (b *bodyReader) nextChunk() error {
	pc := b.pc
	if b.inChunk {
		cr, err1 := pc.br.ReadByte()
		lf, err2 := pc.br.ReadByte()
		if err := firstErr(err1, err2); err != nil {
			return eofUnexpected(err)
		}
		if cr != '\r' || lf != '\n' {
			return badResponse("chunk data not followed by CRLF")
		}
		b.rawLeft -= 2
	}
	budget := maxChunkLine
	line, err := pc.readLine(&budget, errChunkLineTooLong)
	if err != nil {
		return err
	}
	if b.rawLeft -= int64(maxChunkLine - budget); b.rawLeft < 0 {
		return errRawTooLarge
	}
	size, err := parseChunkSize(line)
	if err != nil {
		return err
	}
	if size > 0 {
		b.remain, b.inChunk = size, true
		return nil
	}
	// The last chunk: the trailer follows, discarded, up to an empty line.
	trailer := int(min(b.rawLeft, int64(b.maxHeader)))
	for {
		line, err := pc.readLine(&trailer, ErrHeaderTooLarge)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			b.done = true
			return nil
		}
	}
}

// parseChunkSize parses "HEX[ ;ext...]".
func parseChunkSize(line []byte) (int64, error) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto end
		}
		if n > (1<<62)>>4 {
			return 0, badResponse("chunk size too large")
		}
		n = n<<4 | int64(d)
	}
end:
	if i == 0 {
		return 0, badResponse("chunk-size line is not hex digits")
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, badResponse("chunk-size line is not hex digits")
	}
	return n, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
