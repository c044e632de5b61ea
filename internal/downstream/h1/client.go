package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"time"
)

// Errors a Get returns, always wrapped with the step that failed; test them
// with errors.Is.
var (
	// ErrBodyTooLarge: the decoded body would exceed maxBody. Nothing more
	// is read and the connection is closed.
	ErrBodyTooLarge = errors.New("response body exceeds maxBody")
	// ErrHeaderTooLarge: a status line and header block (or a chunked
	// trailer) exceed Config.MaxResponseHeaderBytes. The connection is closed.
	ErrHeaderTooLarge = errors.New("response header exceeds MaxResponseHeaderBytes")
	// ErrBadResponse: the response is not well-formed HTTP/1.x, or its
	// framing is ambiguous (differing Content-Length values, both
	// Content-Length and Transfer-Encoding, an unsupported
	// Transfer-Encoding, a malformed chunk). The connection is closed.
	ErrBadResponse = errors.New("malformed response")
	// ErrBadEncoding: the body's framing ended cleanly but its gzip
	// stream does not decode (corrupt, or cut short inside the body).
	// It wraps ErrBadResponse too. The connection is closed.
	ErrBadEncoding = fmt.Errorf("%w: body encoding does not decode", ErrBadResponse)
	// ErrInvalidRequest: the path or a header field cannot be written
	// safely; nothing was sent. Also returned for an invalid Config.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("client closed")
	// ErrNoResponse marks a failure before any byte of a response arrived
	// (a refused dial, or a connection reset or closed before the status
	// line): the server answered nothing, so the request may be sent
	// again. It wraps the I/O error, which errors.Is still finds.
	ErrNoResponse = errors.New("no response")
)

// noResponse is an I/O error that happened before any response byte.
type noResponse struct{ err error }

func (e noResponse) Error() string   { return e.err.Error() }
func (e noResponse) Unwrap() []error { return []error{e.err, ErrNoResponse} }

// HeaderField is one request header line, written exactly as given: the
// caller canonicalises the name. Neither part may hold CR, LF or NUL, and
// the name must be an HTTP token.
type HeaderField struct{ Name, Value string }

// Response is a complete response: the body has been read in full.
type Response struct {
	// Status is the status code of the final (non-1xx) response.
	Status int
	// Header holds the response header with canonical keys
	// (net/textproto), every value kept in order. Transfer-Encoding is
	// removed once the body is de-chunked, and Content-Encoding and
	// Content-Length once it is gunzipped, so that they describe Body.
	Header http.Header
	// Body is the decoded body: de-chunked, and gunzipped when
	// Content-Encoding is "gzip" (or "x-gzip"); other encodings are left
	// as they came. Empty (nil) for 204, 304 and empty bodies, and for
	// any status outside 2xx: such a body is read past (a little of it,
	// keeping the connection; a longer one closes it), never kept, so an
	// error page larger than maxBody still gives its status.
	Body []byte
}

// Client sends GET requests to one host over HTTP/1.1 keep-alive
// connections. The request is written and the response read on the calling
// goroutine: there is no goroutine per connection or per call, and a call's
// only timer is the connection deadline taken from its context. It is safe
// for concurrent use; each Get uses one connection at a time, by itself.
type Client struct {
	err         error // from Config.Validate; every Get returns it
	scheme      string
	addr        string
	host        string      // Host header value
	tls         *tls.Config // nil for http
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	dialTimeout time.Duration
	maxIdle     int
	idleTimeout time.Duration
	maxHeader   int

	mu     sync.Mutex
	idle   []*conn // guarded by mu; a LIFO stack, oldest at idle[0]
	closed bool    // guarded by mu
}

// New returns a Client for cfg. An invalid cfg (see Config.Validate) gives
// a Client whose every Get fails with an error wrapping ErrInvalidRequest
// and the problems found. Call Close when the Client is retired.
func New(cfg Config) *Client {
	c := &Client{
		scheme:      cfg.Scheme,
		addr:        cfg.Host,
		host:        cfg.Host,
		dial:        cfg.Dial,
		dialTimeout: cfg.DialTimeout,
		maxIdle:     cfg.MaxIdleConns,
		idleTimeout: cfg.IdleTimeout,
		maxHeader:   cfg.MaxResponseHeaderBytes,
	}
	if err := cfg.Validate(); err != nil {
		c.err = fmt.Errorf("h1: %w: %w", ErrInvalidRequest, err)
		return c
	}
	if c.dial == nil {
		c.dial = (&net.Dialer{}).DialContext
	}
	if c.maxIdle == 0 {
		c.maxIdle = DefaultMaxIdleConns
	}
	if c.idleTimeout == 0 {
		c.idleTimeout = DefaultIdleTimeout
	}
	if c.maxHeader == 0 {
		c.maxHeader = DefaultMaxResponseHeaderBytes
	}
	if cfg.Scheme == "https" {
		t := &tls.Config{}
		if cfg.TLS != nil {
			t = cfg.TLS.Clone()
		}
		if t.ServerName == "" {
			t.ServerName, _, _ = net.SplitHostPort(cfg.Host)
		}
		// h2 would be offered by a config built for net/http; this client
		// speaks HTTP/1.1 only.
		t.NextProtos = []string{"http/1.1"}
		c.tls = t
	}
	return c
}

// maxBodyCap keeps limit arithmetic (see rawBudget) in range.
const maxBodyCap = math.MaxInt64 / 4

// Get sends GET path with header and reads the whole response, whatever its
// status. path must start with "/" and hold no space, control character or
// DEL. Host is always sent, and "Accept-Encoding: gzip" unless header sets
// Accept-Encoding; header may not set Host, Content-Length,
// Transfer-Encoding or Connection. maxBody bounds the decoded body; 0 or
// less means DefaultMaxBody.
//
// ctx bounds the whole call: its deadline becomes the connection's, and a
// cancellation interrupts a blocked read or write at once. A call ended by
// ctx returns an error for which errors.Is(err, ctx.Err()) holds (and
// errors.Is(err, context.Cause(ctx)) when the cause differs), and its
// connection is closed. Without a deadline or cancellation nothing bounds
// the call: pass a context with a deadline.
//
// Retry: when a reused keep-alive connection fails before any byte of the
// response arrives (the server closed it while idle and the close raced
// our request), the request — a GET, idempotent — is sent once more on a
// freshly dialled connection. There is never a second retry, and nothing
// is retried once a response byte was read or ctx has ended.
//
// Errors wrap ErrInvalidRequest, ErrClosed, ErrBodyTooLarge,
// ErrHeaderTooLarge, ErrBadResponse, the context's error, or the dial,
// TLS or I/O error as it came (so errors.Is works for syscall errnos such
// as ECONNREFUSED or EMFILE, and errors.As for net.Error). Messages never
// include body bytes. After any error the connection used is closed, never
// reused; so is one whose server asked to close it, or that holds bytes
// past the end of the response (a response desync).
func (c *Client) Get(ctx context.Context, path string, header []HeaderField, maxBody int64) (*Response, error) {
	if c.err != nil {
		return nil, c.err
	}
	setsAE, err := validateRequest(path, header)
	if err != nil {
		return nil, err
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	} else if maxBody > maxBodyCap {
		maxBody = maxBodyCap
	}
	if ctx.Err() != nil {
		return nil, ctxError(ctx, "get", nil)
	}
	pc, err := c.idleConn()
	if err != nil {
		return nil, err
	}
	reused := pc != nil
	if pc == nil {
		if pc, err = c.dialConn(ctx); err != nil {
			return nil, err
		}
	}
	resp, retry, err := c.roundTrip(ctx, pc, path, header, setsAE, maxBody, reused)
	if retry {
		if pc, err = c.dialConn(ctx); err != nil {
			return nil, err
		}
		resp, _, err = c.roundTrip(ctx, pc, path, header, setsAE, maxBody, false)
	}
	return resp, err
}

// roundTrip sends one request on pc and reads its response, then pools or
// closes pc. retry reports a failure that Get may retry on a new connection.
func (c *Client) roundTrip(ctx context.Context, pc *conn, path string, header []HeaderField, setsAE bool,
	maxBody int64, reused bool) (resp *Response, retry bool, err error) {
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		if err := pc.nc.SetDeadline(deadline); err != nil {
			pc.close()
			return nil, false, fmt.Errorf("h1: set deadline: %w", err)
		}
	}
	var stop func() bool
	if ctx.Done() != nil {
		// A cancellation (a hedge's loser, a client that left) moves the
		// deadline into the past, so the blocked Read or Write returns now.
		stop = context.AfterFunc(ctx, pc.interrupt)
	}
	resp, keep, gotBytes, step, err := pc.exchange(c.host, path, header, setsAE, c.maxHeader, maxBody)
	if stop != nil && !stop() {
		// ctx ended during the call and the deadline is being moved, maybe
		// even now: the connection cannot be trusted again.
		keep = false
	}
	if err != nil {
		pc.close()
		if !protocolError(err) && ctxDone(ctx, err) {
			return nil, false, ctxError(ctx, step, err)
		}
		if !gotBytes && !protocolError(err) {
			err = noResponse{err}
		}
		return nil, reused && !gotBytes && !protocolError(err), fmt.Errorf("h1: %s: %w", step, err)
	}
	if keep && hasDeadline {
		keep = pc.nc.SetDeadline(time.Time{}) == nil
	}
	if keep {
		c.put(pc)
	} else {
		pc.close()
	}
	return resp, false, nil
}

func protocolError(err error) bool {
	return errors.Is(err, ErrBodyTooLarge) || errors.Is(err, ErrHeaderTooLarge) || errors.Is(err, ErrBadResponse)
}

// ctxDone reports whether ctx ended the call that failed with err. The
// connection's deadline is ctx's own, and may pass a moment before ctx's
// timer marks ctx done: a timeout at or after the deadline counts too.
func ctxDone(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	var ne net.Error
	return ok && !time.Now().Before(d) && errors.As(err, &ne) && ne.Timeout()
}

// ctxError is the error of a call that ctx ended during step. The I/O
// error it caused (a deadline in the past) is named but not wrapped: the
// cause is ctx, not the network.
func ctxError(ctx context.Context, step string, ioErr error) error {
	cerr := ctx.Err()
	if cerr == nil {
		cerr = context.DeadlineExceeded // the deadline passed just before ctx's timer fired
	}
	var cause error
	if cc := context.Cause(ctx); cc != nil && cc != cerr {
		cause = cc
	}
	switch {
	case cause != nil && ioErr != nil:
		return fmt.Errorf("h1: %s: %w: %w (%v)", step, cerr, cause, ioErr)
	case cause != nil:
		return fmt.Errorf("h1: %s: %w: %w", step, cerr, cause)
	case ioErr != nil:
		return fmt.Errorf("h1: %s: %w (%v)", step, cerr, ioErr)
	}
	return fmt.Errorf("h1: %s: %w", step, cerr)
}

// dialConn opens a new connection, with TLS for https.
func (c *Client) dialConn(ctx context.Context) (*conn, error) {
	dctx := ctx
	if c.dialTimeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, c.dialTimeout)
		defer cancel()
	}
	nc, err := c.dial(dctx, "tcp", c.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxError(ctx, "dial", err)
		}
		return nil, fmt.Errorf("h1: dial: %w", noResponse{err})
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = nc.Close()
			if ctx.Err() != nil {
				return nil, ctxError(ctx, "tls handshake", err)
			}
			return nil, fmt.Errorf("h1: tls handshake: %w", err)
		}
		nc = tc
	}
	return newConn(nc), nil
}

// idleConn pops the most recently used idle connection that is still fit
// for a request, or returns nil. Expired or unfit connections it meets are
// closed.
func (c *Client) idleConn() (*conn, error) {
	for {
		now := time.Now()
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, fmt.Errorf("h1: get: %w", ErrClosed)
		}
		n := len(c.idle)
		if n == 0 {
			c.mu.Unlock()
			return nil, nil
		}
		pc := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		if now.Sub(pc.idleAt) > c.idleTimeout {
			// Every connection below is older still.
			old := append([]*conn(nil), c.idle...)
			clear(c.idle)
			c.idle = c.idle[:0]
			c.mu.Unlock()
			pc.close()
			for _, o := range old {
				o.close()
			}
			return nil, nil
		}
		c.mu.Unlock()
		if pc.idleFit() {
			return pc, nil
		}
		pc.close()
	}
}

// put returns pc to the pool, or closes it when the pool is full or the
// Client closed. Connections idle longer than the timeout are pruned from
// the bottom of the stack.
func (c *Client) put(pc *conn) {
	now := time.Now()
	pc.idleAt = now
	var expired []*conn
	c.mu.Lock()
	if len(c.idle) > 0 && now.Sub(c.idle[0].idleAt) > c.idleTimeout {
		i := 0
		for i < len(c.idle) && now.Sub(c.idle[i].idleAt) > c.idleTimeout {
			i++
		}
		expired = append(expired, c.idle[:i]...)
		k := copy(c.idle, c.idle[i:])
		clear(c.idle[k:])
		c.idle = c.idle[:k]
	}
	if c.closed || len(c.idle) >= c.maxIdle {
		c.mu.Unlock()
		pc.close()
	} else {
		c.idle = append(c.idle, pc)
		c.mu.Unlock()
	}
	for _, o := range expired {
		o.close()
	}
}

// CloseIdle closes the idle connections. Connections in use are not
// affected. Safe for concurrent use.
func (c *Client) CloseIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, pc := range idle {
		pc.close()
	}
}

// Close closes the idle connections and makes every later Get fail with
// ErrClosed; a Get in flight finishes, and its connection is closed rather
// than pooled. Safe to call more than once.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.CloseIdle()
}

// IdleConns reports how many idle connections the pool holds.
func (c *Client) IdleConns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}
