package downstream

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/pagebff/pagebff/internal/bff"
	"github.com/pagebff/pagebff/internal/downstream/h1"
)

// traceContext writes W3C traceparent and tracestate. (Not through the
// observability package, which would link the Prometheus and OTLP
// exporters into every user of this one.)
var traceContext = propagation.TraceContext{}

// emptyItems is what an empty answer becomes. Shared and never modified.
var emptyItems = []byte(`{"items":[]}`)

// errTooLarge is the detail of a body over MaxBody.
var errTooLarge = errors.New("body exceeds max_body")

// MaxRedirects is how many redirects a client with FollowRedirects follows
// for one call.
const MaxRedirects = 3

// DefaultMaxJSONDepth is the nesting limit when Config.MaxJSONDepth is 0.
const DefaultMaxJSONDepth = 64

// Client fetches one service's sections. It is safe for concurrent use.
//
// Calls go through an h1.Client (a connection pool that writes and reads
// on the calling goroutine: net/http's client costs a read and a write
// goroutine per connection and clones the request on every call, the
// largest item of a page's CPU), unless Config.Transport gives a
// RoundTripper, which then goes through net/http (for tests and the
// own-work benchmark).
type Client struct {
	name       string
	spanName   string
	tracer     trace.Tracer
	base       string // base URL without trailing slash
	baseURL    *url.URL
	prefix     string // the base URL's path, before every call's path
	maxBody    int64
	maxDepth   int
	identity   string // top-level field naming the user; "" = no check
	userScoped bool   // the path template holds {user_id}
	follow     bool   // follow same-host redirects
	pool       *h1.Client
	ownsPool   bool                 // pool was made here: Close closes it
	hc         *http.Client         // with Config.Transport only
	spanAttrs  []attribute.KeyValue // the same on every attempt's span
}

var _ bff.Fetcher = (*Client)(nil)

// New returns a Client for the service described by cfg, with its own
// connection pool unless cfg.Pool brings one (the app shares one pool per
// service across the clients that reloads build) or cfg.Transport a
// RoundTripper. Each attempt is a client span from tracer (nil means no
// spans), and carries its traceparent downstream. Call Close when the
// client is retired.
func New(cfg Config, tracer trace.Tracer) *Client {
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	c := &Client{
		name:       cfg.Name,
		spanName:   "GET " + cfg.Name,
		tracer:     tracer,
		base:       strings.TrimRight(cfg.URL, "/"),
		maxBody:    cfg.MaxBody,
		maxDepth:   cfg.MaxJSONDepth,
		identity:   cfg.IdentityField,
		userScoped: strings.Contains(cfg.Path, "{user_id}"),
		follow:     cfg.FollowRedirects,
	}
	if c.maxDepth <= 0 {
		c.maxDepth = DefaultMaxJSONDepth
	}
	if u, err := url.Parse(c.base); err == nil {
		c.baseURL, c.prefix = u, u.EscapedPath()
	}
	c.spanAttrs = []attribute.KeyValue{attribute.String("bff.service", c.name), attribute.String("http.request.method", http.MethodGet)}
	if c.baseURL != nil {
		c.spanAttrs = append(c.spanAttrs, attribute.String("server.address", c.baseURL.Hostname()))
		if port, err := strconv.Atoi(c.baseURL.Port()); err == nil {
			c.spanAttrs = append(c.spanAttrs, attribute.Int("server.port", port))
		}
	}
	switch {
	case cfg.Transport != nil:
		c.hc = &http.Client{Transport: cfg.Transport, CheckRedirect: noRedirects}
		if cfg.FollowRedirects {
			c.hc.CheckRedirect = c.sameHostRedirects
		}
	case cfg.Pool != nil:
		c.pool = cfg.Pool
	default:
		c.pool, c.ownsPool = NewPool(cfg), true
	}
	return c
}

// NewPool returns a connection pool for the service cfg describes: up to
// 1024 idle keep-alive connections to its host (Go's default transport
// keeps two, which collapses under load), dials and TLS handshakes bounded
// by its timeout, response headers by 64 KiB.
func NewPool(cfg Config) *h1.Client {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		u = &url.URL{}
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	return h1.New(h1.Config{
		Scheme: u.Scheme, Host: host, DialTimeout: cfg.Timeout,
		MaxIdleConns: 1024, IdleTimeout: 90 * time.Second, MaxResponseHeaderBytes: 64 << 10,
		Dial: cfg.Dial,
	})
}

// noRedirects answers a 3xx as it came: following one could take a call
// anywhere, pagebff's own admin endpoints included, with the request id and
// trace context and a Referer naming the user. A 3xx is upstream_status.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// sameHostRedirects follows at most MaxRedirects redirects, only to the
// service's own scheme and host, and never sends a Referer (net/http sets
// one from the previous URL, which names the user).
func (c *Client) sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects || c.baseURL == nil ||
		req.URL.Scheme != c.baseURL.Scheme || !strings.EqualFold(req.URL.Host, c.baseURL.Host) {
		return http.ErrUseLastResponse
	}
	req.Header.Del("Referer")
	return nil
}

// Close releases the idle connections of the client's own pool; a pool
// given in Config belongs to the caller.
func (c *Client) Close() {
	if c.ownsPool {
		c.pool.Close()
	}
}

// closeIdle drops the pool's idle connections: after a refused answer, the
// connection it came on may be out of step with its requests, and it may
// already be back in the pool.
func (c *Client) closeIdle() {
	switch {
	case c.pool != nil:
		c.pool.CloseIdle()
	case c.hc != nil:
		c.hc.CloseIdleConnections()
	}
}

// reply is a downstream answer, whichever client read it.
type reply struct {
	status int
	header http.Header
	body   []byte // read for 2xx answers only
}

// Fetch performs GET base+call.Path. On success the Response holds a JSON
// object; on failure the error is a *bff.Error whose Code says why:
// CodeTimeout or CodeCanceled when ctx ended (see bff.ContextError),
// CodeUnavailable when the connection failed, CodeNotFound for 404,
// CodeUpstreamStatus for any other non-2xx status, and CodeBadResponse for
// malformed JSON, a gzip body that does not decode, a body over MaxBody
// (decoded), or an answer for another request or user.
func (c *Client) Fetch(ctx context.Context, call bff.Call) (resp bff.Response, err error) {
	ctx, span := c.tracer.Start(ctx, c.spanName, clientSpan...)
	// Attributes cost allocations; an unsampled span would drop them.
	if span.IsRecording() {
		span.SetAttributes(c.spanAttrs...)
		span.SetAttributes(attribute.Bool("bff.hedge", bff.IsHedge(ctx)), attribute.Int("bff.retry", bff.RetryOf(ctx)),
			attribute.String("url.path", call.Path), attribute.String("bff.request_id", call.RequestID))
	}
	defer func() { endSpan(ctx, span, err) }()

	var r reply
	if c.pool != nil {
		r, err = c.getH1(ctx, call)
	} else {
		r, err = c.getHTTP(ctx, call)
	}
	if err != nil {
		return bff.Response{}, err
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("http.response.status_code", r.status))
	}
	// A service that echoes X-Request-Id must echo ours. Another id means
	// this answer belongs to another request — the connection is out of
	// step with its requests (a response desync; golang/go#31259) — so it
	// is refused and never cached. (The other id is not logged: it may be
	// another page's.)
	if echoed := r.header.Get("X-Request-Id"); echoed != "" && echoed != call.RequestID {
		c.closeIdle()
		return bff.Response{}, bff.Errorf(c.name, bff.CodeBadResponse,
			errors.New("response X-Request-Id is not the one sent"), "answer for another request")
	}
	switch {
	case r.status == http.StatusNoContent:
		return bff.Response{Body: emptyItems}, nil
	case r.status >= 200 && r.status < 300:
		norm, err := c.check(r.body, call)
		if err != nil {
			c.closeIdle()
			return bff.Response{}, err
		}
		resp := bff.Response{Body: norm}
		if cc, age := headerValue(r.header, "Cache-Control"), headerValue(r.header, "Age"); cc != "" || age != "" {
			resp.Caching = &bff.Caching{CacheControl: cc, Age: age}
		}
		return resp, nil
	default:
		return bff.Response{}, c.statusError(r.status, r.header)
	}
}

// clientSpan are the options of a call's span, made once: a variadic
// list built at the call would be an allocation per call.
var clientSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// headerValue is h's field named key (canonical), its several lines
// joined with commas; "" when absent. No allocation for one line.
func headerValue(h http.Header, key string) string {
	switch v := h[key]; len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	default:
		return strings.Join(v, ", ")
	}
}

// getH1 makes the call through the pool, following same-host redirects
// when configured.
func (c *Client) getH1(ctx context.Context, call bff.Call) (reply, error) {
	fields := make(fieldCarrier, 0, 5)
	fields = append(fields, h1.HeaderField{Name: "Accept", Value: "application/json"},
		h1.HeaderField{Name: "X-Request-Id", Value: call.RequestID})
	if v := bff.AuthorizationOf(ctx); v != "" {
		fields = append(fields, h1.HeaderField{Name: "Authorization", Value: v})
	}
	traceContext.Inject(ctx, &fields)
	path := c.prefix + call.Path
	for redirects := 0; ; redirects++ {
		hr, err := c.pool.Get(ctx, path, fields, c.maxBody)
		switch {
		case errors.Is(err, h1.ErrBodyTooLarge):
			return reply{}, c.tooLarge()
		case corruptEncoding(err):
			return reply{}, c.corrupt(err)
		case err != nil:
			return reply{}, c.transportError(ctx, err, "connection failed")
		}
		if next, ok := c.redirect(hr, redirects); ok {
			path = next
			continue
		}
		return reply{status: hr.Status, header: hr.Header, body: hr.Body}, nil
	}
}

// redirect returns the path a 3xx answer points to, when follow_redirects
// is on, fewer than MaxRedirects were followed, and the target is the
// service's own scheme and host. (No Referer is ever sent.)
func (c *Client) redirect(hr *h1.Response, followed int) (string, bool) {
	if !c.follow || hr.Status < 300 || hr.Status >= 400 || followed >= MaxRedirects || c.baseURL == nil {
		return "", false
	}
	loc, err := c.baseURL.Parse(hr.Header.Get("Location"))
	if err != nil || loc.Scheme != c.baseURL.Scheme || !strings.EqualFold(loc.Host, c.baseURL.Host) {
		return "", false
	}
	return loc.RequestURI(), true
}

// fieldCarrier lets the trace propagator add its headers to a request's
// fields.
type fieldCarrier []h1.HeaderField

func (f *fieldCarrier) Get(key string) string {
	for _, h := range *f {
		if strings.EqualFold(h.Name, key) {
			return h.Value
		}
	}
	return ""
}

func (f *fieldCarrier) Set(key, value string) {
	*f = append(*f, h1.HeaderField{Name: key, Value: value})
}

func (f *fieldCarrier) Keys() []string {
	keys := make([]string, len(*f))
	for i, h := range *f {
		keys[i] = h.Name
	}
	return keys
}

// getHTTP makes the call through net/http (a Config.Transport was given).
func (c *Client) getHTTP(ctx context.Context, call bff.Call) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+call.Path, nil)
	if err != nil {
		return reply{}, bff.Errorf(c.name, bff.CodeUnavailable, err, "invalid request URL")
	}
	// Header keys are already canonical; assigning the map skips Set's work.
	req.Header = http.Header{
		"Accept":       {"application/json"},
		"X-Request-Id": {call.RequestID},
	}
	if v := bff.AuthorizationOf(ctx); v != "" {
		req.Header["Authorization"] = []string{v}
	}
	traceContext.Inject(ctx, propagation.HeaderCarrier(req.Header))
	hr, err := c.hc.Do(req)
	if err != nil {
		return reply{}, c.transportError(ctx, err, "connection failed")
	}
	defer hr.Body.Close()
	r := reply{status: hr.StatusCode, header: hr.Header}
	if hr.StatusCode < 200 || hr.StatusCode >= 300 || hr.StatusCode == http.StatusNoContent {
		drain(hr.Body)
		return r, nil
	}
	if hr.ContentLength > c.maxBody {
		return reply{}, c.tooLarge()
	}
	r.body, err = readLimited(hr.Body, hr.ContentLength, c.maxBody)
	if errors.Is(err, errTooLarge) {
		return reply{}, c.tooLarge()
	}
	if corruptEncoding(err) {
		return reply{}, c.corrupt(err)
	}
	if err != nil {
		return reply{}, c.transportError(ctx, err, "connection failed while reading the body")
	}
	return r, nil
}

// corruptEncoding reports whether err is a gzip body that does not decode:
// the service's answer is malformed, the connection is not at fault.
func corruptEncoding(err error) bool {
	var ce flate.CorruptInputError
	return errors.Is(err, h1.ErrBadEncoding) || errors.As(err, &ce) || errors.Is(err, gzip.ErrHeader) ||
		errors.Is(err, gzip.ErrChecksum)
}

func (c *Client) corrupt(err error) *bff.Error {
	c.closeIdle()
	return bff.Errorf(c.name, bff.CodeBadResponse, err, "malformed response")
}

func (c *Client) statusError(status int, header http.Header) *bff.Error {
	// The message uses Go's own status text: a reason phrase is whatever
	// the service chose to write, addresses included.
	code := bff.CodeUpstreamStatus
	msg := fmt.Sprintf("upstream answered %d %s", status, http.StatusText(status))
	switch {
	case status == http.StatusNotFound:
		code, msg = bff.CodeNotFound, "not found"
	case status >= 300 && status < 400:
		msg += " (redirect not followed)"
	}
	e := bff.Errorf(c.name, code, fmt.Errorf("status %d", status), "%s", strings.TrimSpace(msg))
	e.Status = status
	if v := headerValue(header, "Retry-After"); v != "" {
		e.RetryAfter, e.HasRetryAfter = retryAfter(v, time.Now())
	}
	return e
}

// retryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 section 10.2.3); a date in the past is 0.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, 1<<31)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// check validates a 2xx body (see Normalize), its nesting depth, and, for a
// user-scoped service with an identity field, that it names the call's user.
func (c *Client) check(body []byte, call bff.Call) ([]byte, error) {
	norm, err := Normalize(body)
	if err != nil {
		return nil, bff.Errorf(c.name, bff.CodeBadResponse, err, "malformed response")
	}
	if !depthWithin(norm, c.maxDepth) {
		return nil, bff.Errorf(c.name, bff.CodeBadResponse, fmt.Errorf("JSON nested deeper than %d levels", c.maxDepth),
			"response nested too deeply")
	}
	if c.identity != "" && c.userScoped && call.UserID != "" {
		// Every occurrence must name the user: parsers differ on which of
		// two equal keys they keep.
		for _, v := range topLevelFields(norm, c.identity) {
			if !identityMatches(v, call.UserID) {
				// Never show or log the other user's value.
				return nil, bff.Errorf(c.name, bff.CodeBadResponse,
					fmt.Errorf("field %q names another user", c.identity), "answer for another user")
			}
		}
	}
	return norm, nil
}

func (c *Client) tooLarge() *bff.Error {
	return bff.Errorf(c.name, bff.CodeBadResponse, errTooLarge, "response body larger than %d bytes", c.maxBody)
}

// transportError classifies a failed round trip or body read: the context's
// end (timeout or client gone) takes precedence over what the socket said,
// and pagebff running out of its own resources is not the service's fault.
func (c *Client) transportError(ctx context.Context, err error, msg string) *bff.Error {
	// The pool sets ctx's deadline on the connection, so its read can fail
	// a moment before ctx's own timer marks ctx done: wait that moment, or
	// a timeout would read as a connection failure.
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) &&
		(errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)) {
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		return bff.ContextError(ctx, c.name, err)
	}
	if LocalExhaustion(err) {
		e := bff.Errorf(c.name, bff.CodeUnavailable, err, "pagebff is out of local resources (open files or ports)")
		e.Local = true
		return e
	}
	e := bff.Errorf(c.name, bff.CodeUnavailable, err, "%s", msg)
	e.Unanswered = unanswered(err)
	return e
}

// unanswered reports whether err came before any byte of a response: the
// pool says so (h1.ErrNoResponse); through net/http only a failed dial is
// known to be.
func unanswered(err error) bool {
	if errors.Is(err, h1.ErrNoResponse) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// LocalExhaustion reports whether err is this process or host running out
// of something — file descriptors (EMFILE, ENFILE), buffer space, memory,
// ephemeral ports (EADDRNOTAVAIL) — rather than the far side failing.
func LocalExhaustion(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.EADDRNOTAVAIL} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// initialBody is the most a body buffer starts with, whatever its claimed
// Content-Length: memory follows the bytes that arrive, not the claim.
const initialBody = 32 << 10

// readLimited reads r to EOF, failing with errTooLarge once more than max
// bytes arrive. With a known length (Content-Length, else -1) the buffer
// starts at that size when it is at most initialBody bytes, else at
// initialBody, and grows as bytes arrive.
func readLimited(r io.Reader, length, max int64) ([]byte, error) {
	size := int64(initialBody)
	if length >= 0 && length < size {
		size = length + 1 // room to see EOF without growing
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// drain reads a little of an error body so the connection can be reused;
// a larger body is abandoned and its connection closed.
func drain(r io.Reader) { _, _ = io.CopyN(io.Discard, r, 4<<10) }

// Normalize validates a 2xx body and returns it as a JSON object: an object
// as it came (surrounding whitespace trimmed), an array as {"items":[...]},
// and an empty body or null as {"items":[]}. Anything else, including a bare
// string or number, is an error. The result may alias body.
func Normalize(body []byte) ([]byte, error) {
	t := trimJSONSpace(body)
	if len(t) == 0 || string(t) == "null" {
		return emptyItems, nil
	}
	if !json.Valid(t) {
		return nil, errors.New("invalid JSON")
	}
	// json.Valid accepts invalid UTF-8 inside strings; a page must be UTF-8.
	if !utf8.Valid(t) {
		return nil, errors.New("invalid UTF-8")
	}
	switch t[0] {
	case '{':
		return t, nil
	case '[':
		out := make([]byte, 0, len(t)+10)
		out = append(out, `{"items":`...)
		out = append(out, t...)
		return append(out, '}'), nil
	default:
		return nil, fmt.Errorf("want a JSON object or array, got a JSON %s", kindOf(t[0]))
	}
}

func kindOf(b byte) string {
	switch b {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	default:
		return "number"
	}
}

func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// endSpan records a failed attempt's code on its span and ends it. An
// attempt cancelled because another answered first (a hedge's loser) is no
// error: it ends with status unset and bff.hedge.outcome=lost, so span
// error rates do not count every hedge.
func endSpan(ctx context.Context, span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		if errors.Is(context.Cause(ctx), bff.ErrHedgeLost) {
			span.SetAttributes(attribute.String("bff.hedge.outcome", "lost"))
		} else {
			span.SetAttributes(attribute.String("bff.code", bff.CodeOf(err).String()))
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}
