package downstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
type Client struct {
	name       string
	spanName   string
	tracer     trace.Tracer
	base       string // base URL without trailing slash
	baseURL    *url.URL
	maxBody    int64
	maxDepth   int
	identity   string          // top-level field naming the user; "" = no check
	userScoped bool            // the path template holds {user_id}
	tr         *http.Transport // the pool, when it is an *http.Transport (nil for a test RoundTripper)
	ownsTr     bool            // tr was made here (Config.Transport was nil): Close closes it
	hc         *http.Client
	spanAttrs  []attribute.KeyValue // the same on every attempt's span
}

var _ bff.Fetcher = (*Client)(nil)

// New returns a Client for the service described by cfg, with its own
// connection pool unless cfg.Transport brings one (the app shares one pool
// per service across the clients that reloads build). Each attempt is a
// client span from tracer (nil means no spans), and carries its
// traceparent downstream. Call Close when the client is retired.
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
		hc:         &http.Client{Transport: cfg.Transport, CheckRedirect: noRedirects},
	}
	if c.maxDepth <= 0 {
		c.maxDepth = DefaultMaxJSONDepth
	}
	if u, err := url.Parse(c.base); err == nil {
		c.baseURL = u
	}
	c.spanAttrs = []attribute.KeyValue{attribute.String("bff.service", c.name), attribute.String("http.request.method", http.MethodGet)}
	if c.baseURL != nil {
		c.spanAttrs = append(c.spanAttrs, attribute.String("server.address", c.baseURL.Hostname()))
		if port, err := strconv.Atoi(c.baseURL.Port()); err == nil {
			c.spanAttrs = append(c.spanAttrs, attribute.Int("server.port", port))
		}
	}
	if cfg.FollowRedirects {
		c.hc.CheckRedirect = c.sameHostRedirects
	}
	if cfg.Transport == nil {
		c.tr, c.ownsTr = NewTransport(cfg.Timeout), true
		c.hc.Transport = c.tr
	} else if tr, ok := cfg.Transport.(*http.Transport); ok {
		c.tr = tr // shared: closing its idle connections on an anomaly still helps
	}
	return c
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

// NewTransport returns a transport tuned for many concurrent calls to one
// host: a deep idle pool, keep-alives, and connect and TLS handshakes bounded
// by timeout.
func NewTransport(timeout time.Duration) *http.Transport {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           0, // no global cap; the per-host cap below applies
		MaxIdleConnsPerHost:    1024,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// Close releases the idle connections of the client's own pool; a pool
// given in Config.Transport belongs to the caller.
func (c *Client) Close() {
	if c.ownsTr {
		c.tr.CloseIdleConnections()
	}
}

// Fetch performs GET base+call.Path. On success the Response holds a JSON
// object; on failure the error is a *bff.Error whose Code says why:
// CodeTimeout or CodeCanceled when ctx ended (see bff.ContextError),
// CodeUnavailable when the connection failed, CodeNotFound for 404,
// CodeUpstreamStatus for any other non-2xx status, and CodeBadResponse for
// malformed JSON or a body over MaxBody.
func (c *Client) Fetch(ctx context.Context, call bff.Call) (resp bff.Response, err error) {
	ctx, span := c.tracer.Start(ctx, c.spanName, trace.WithSpanKind(trace.SpanKindClient))
	// Attributes cost allocations; an unsampled span would drop them.
	if span.IsRecording() {
		span.SetAttributes(c.spanAttrs...)
		span.SetAttributes(attribute.Bool("bff.hedge", bff.IsHedge(ctx)),
			attribute.String("url.path", call.Path), attribute.String("bff.request_id", call.RequestID))
	}
	defer func() { endSpan(ctx, span, err) }()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+call.Path, nil)
	if err != nil {
		return bff.Response{}, bff.Errorf(c.name, bff.CodeUnavailable, err, "invalid request URL")
	}
	// Header keys are already canonical; assigning the map skips Set's work.
	req.Header = http.Header{
		"Accept":       {"application/json"},
		"X-Request-Id": {call.RequestID},
	}
	traceContext.Inject(ctx, propagation.HeaderCarrier(req.Header))
	hr, err := c.hc.Do(req)
	if err != nil {
		return bff.Response{}, c.transportError(ctx, err, "connection failed")
	}
	// Closing a body before its end closes the connection rather than
	// returning it to the pool: what every path that stops reading early
	// (an anomaly, a body too large) relies on.
	defer hr.Body.Close()
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("http.response.status_code", hr.StatusCode))
	}
	// A service that echoes X-Request-Id must echo ours. Another id means
	// this answer belongs to another request — the connection is out of
	// step with its requests (a response desync; golang/go#31259) — so it
	// is refused, never cached, and its connection closed unread.
	if echoed := hr.Header.Get("X-Request-Id"); echoed != "" && echoed != call.RequestID {
		return bff.Response{}, bff.Errorf(c.name, bff.CodeBadResponse,
			fmt.Errorf("response X-Request-Id %q, sent %q", echoed, call.RequestID), "answer for another request")
	}
	return c.answer(ctx, hr, call)
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

// answer turns a response into a section or an error.
func (c *Client) answer(ctx context.Context, resp *http.Response, call bff.Call) (bff.Response, error) {
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return bff.Response{Body: emptyItems}, nil
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return c.readBody(ctx, resp, call)
	default:
		drain(resp.Body)
		return bff.Response{}, c.statusError(resp)
	}
}

func (c *Client) statusError(resp *http.Response) *bff.Error {
	// The message uses Go's own status text: a reason phrase is whatever
	// the service chose to write, addresses included, and stays in the log.
	code := bff.CodeUpstreamStatus
	msg := fmt.Sprintf("upstream answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		code, msg = bff.CodeNotFound, "not found"
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		msg += " (redirect not followed)"
	}
	e := bff.Errorf(c.name, code, fmt.Errorf("status %q", resp.Status), "%s", strings.TrimSpace(msg))
	e.Status = resp.StatusCode
	return e
}

func (c *Client) readBody(ctx context.Context, resp *http.Response, call bff.Call) (bff.Response, error) {
	if resp.ContentLength > c.maxBody {
		return bff.Response{}, c.tooLarge()
	}
	body, err := readLimited(resp.Body, resp.ContentLength, c.maxBody)
	if errors.Is(err, errTooLarge) {
		return bff.Response{}, c.tooLarge()
	}
	if err != nil {
		return bff.Response{}, c.transportError(ctx, err, "connection failed while reading the body")
	}
	norm, err := c.check(body, call)
	if err != nil {
		// The connection this came on may be out of step with its
		// requests, and it is already back in the pool: net/http returns
		// io.EOF with the last byte of a body, Content-Length or chunked,
		// and pools the connection then (a refused answer used to leave
		// it there, and the next call on it waited for an answer that
		// never came). The pool's idle connections go, that one with them.
		if c.tr != nil {
			c.tr.CloseIdleConnections()
		}
		return bff.Response{}, err
	}
	// Read on to EOF so the connection goes back to the pool (when the
	// last byte did not already bring EOF); net/http never returns bytes
	// past Content-Length.
	if resp.ContentLength >= 0 {
		if _, err := resp.Body.Read(make([]byte, 1)); err != nil && err != io.EOF {
			return bff.Response{}, c.transportError(ctx, err, "connection failed while reading the body")
		}
	}
	return bff.Response{Body: norm}, nil
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
	if ctx.Err() != nil {
		return bff.ContextError(ctx, c.name, err)
	}
	if LocalExhaustion(err) {
		e := bff.Errorf(c.name, bff.CodeUnavailable, err, "pagebff is out of local resources (open files or ports)")
		e.Local = true
		return e
	}
	return bff.Errorf(c.name, bff.CodeUnavailable, err, "%s", msg)
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

// readLimited reads r, failing with errTooLarge once more than max bytes
// arrive. With a known length (Content-Length, else -1) it reads exactly
// that many bytes and stops short of EOF, so that the caller decides
// whether the connection is reused; the buffer starts at most initialBody
// bytes and grows as bytes arrive.
func readLimited(r io.Reader, length, max int64) ([]byte, error) {
	if length < 0 {
		body, err := io.ReadAll(io.LimitReader(r, max+1))
		if err == nil && int64(len(body)) > max {
			return nil, errTooLarge
		}
		return body, err
	}
	if length <= initialBody {
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, initialBody))
	n, err := buf.ReadFrom(io.LimitReader(r, length))
	if err == nil && n < length {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
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
