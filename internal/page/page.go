package page

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pagebff/pagebff/internal/bff"
)

// Section is one part of the page.
type Section struct {
	// Name is the JSON key of the section and its meta entry.
	Name string
	// Path resolves the downstream path for a user id.
	Path func(userID string) string
	// Fetcher performs the call, with every policy already wrapped around it.
	Fetcher bff.Fetcher
	// Fallback, if not nil, answers a call from what the section already
	// holds (its stale cache), without calling out; the page asks it for a
	// section still running when the page deadline passes. A Fetcher does
	// not serve stale once the page's context has ended, so this is the one
	// place that does.
	Fallback func(bff.Call) (bff.Response, bool)
}

// Outcome is how one section went.
type Outcome struct {
	Name    string
	Code    bff.Code // CodeNone on success
	Source  bff.Source
	Stale   bool          // Body is a stale value served because of Err
	Latency time.Duration // from fan-out to the section's answer
	Age     time.Duration // of a value from the cache (stale, or a fresh hit)
	Err     error         // the failure, for logs; nil on success
	// Attempts is how many requests were sent for the section, hedges
	// and retries included (0 or 1: shown as neither).
	Attempts uint8
}

// Status returns "ok", "stale" or "error".
func (o Outcome) Status() string {
	switch {
	case o.Err == nil:
		return "ok"
	case o.Stale:
		return "stale"
	default:
		return "error"
	}
}

// Page is a rendered page.
type Page struct {
	// Body is the JSON document.
	Body []byte
	// Sections has one outcome per section, in page order.
	Sections []Outcome
	// Degraded is true when any section is not ok.
	Degraded bool
}

// ServerTiming returns the Server-Timing header value: one "name;dur=ms"
// entry per section, in page order.
func (p Page) ServerTiming() string {
	b := make([]byte, 0, 24*len(p.Sections))
	for i, o := range p.Sections {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, o.Name...)
		b = append(b, ";dur="...)
		b = strconv.AppendFloat(b, float64(o.Latency.Microseconds())/1000, 'f', 1, 64)
	}
	return string(b)
}

// Assembler renders pages. It is immutable after New and safe for
// concurrent use.
type Assembler struct {
	timeout  time.Duration
	sections []Section
}

// New returns an Assembler for the given sections, in page order, bounded by
// cfg.Timeout.
func New(cfg Config, sections []Section) *Assembler {
	return &Assembler{timeout: cfg.Timeout, sections: sections}
}

type result struct {
	i       int
	resp    bff.Response
	err     error
	latency time.Duration
}

// Render fetches every section at the same time and assembles the page. It
// always returns a page: a section that fails, or is still running when the
// page deadline passes or ctx ends, is reported as an error (or as a stale
// value, when its Fetcher serves one). Render returns by the deadline even if
// a Fetcher ignores its context; such a straggler finishes on its own.
func (a *Assembler) Render(ctx context.Context, userID, requestID string) Page {
	ctx, cancel := context.WithTimeoutCause(ctx, a.timeout, bff.ErrPageDeadline)
	defer cancel()

	start := time.Now()
	n := len(a.sections)
	// Buffered so that a straggler finishing after the deadline never blocks.
	ch := make(chan result, n)
	for i := range a.sections {
		go a.fetch(ctx, ch, i, start, userID, requestID)
	}

	results := make([]result, n)
	got := make([]bool, n)
collect:
	for pending := n; pending > 0; pending-- {
		select {
		case r := <-ch:
			results[r.i], got[r.i] = a.fallback(ctx, r, userID, requestID), true
		case <-ctx.Done():
			break collect
		}
	}
	for i, ok := range got {
		if !ok {
			results[i] = a.unfinished(ctx, i, start, userID, requestID)
		}
	}
	return a.assemble(results, requestID)
}

// unfinished reports a section still running when ctx ended: a timeout at
// the page deadline, answered from the section's stale cache when it has one,
// or canceled when the client went away.
func (a *Assembler) unfinished(ctx context.Context, i int, start time.Time, userID, requestID string) result {
	r := result{i: i, err: bff.ContextError(ctx, a.sections[i].Name, nil), latency: time.Since(start)}
	return a.fallback(ctx, r, userID, requestID)
}

// fallback answers a section that timed out with the page deadline from
// its stale cache, when it has one. A Fetcher does not serve stale once the
// page's context has ended, so this is the one place that does.
func (a *Assembler) fallback(ctx context.Context, r result, userID, requestID string) result {
	if ctx.Err() == nil || r.err == nil || len(r.resp.Body) > 0 || bff.CodeOf(r.err) != bff.CodeTimeout {
		return r
	}
	s := a.sections[r.i]
	if s.Fallback != nil {
		if resp, ok := s.Fallback(a.call(s, userID, requestID)); ok {
			r.resp = resp
		}
	}
	return r
}

func (a *Assembler) call(s Section, userID, requestID string) bff.Call {
	return bff.Call{Service: s.Name, Path: s.Path(userID), RequestID: requestID, UserID: userID}
}

func (a *Assembler) fetch(ctx context.Context, ch chan<- result, i int, start time.Time, userID, requestID string) {
	s := a.sections[i]
	defer func() {
		// A panicking policy costs its section, not the process.
		if p := recover(); p != nil {
			ch <- result{i: i, err: bff.Errorf(s.Name, bff.CodeUnavailable, fmt.Errorf("panic: %v", p), "internal error"), latency: time.Since(start)}
		}
	}()
	resp, err := s.Fetcher.Fetch(ctx, a.call(s, userID, requestID))
	ch <- result{i: i, resp: resp, err: err, latency: time.Since(start)}
}

// assemble writes the page JSON.
func (a *Assembler) assemble(results []result, requestID string) Page {
	size := 256 + 96*len(results)
	for _, r := range results {
		size += len(r.resp.Body) + 64
	}
	b := make([]byte, 0, size)
	p := Page{Sections: make([]Outcome, len(results))}

	b = append(b, '{')
	for i, r := range results {
		r = a.guard(r)
		o := Outcome{Name: a.sections[i].Name, Code: bff.CodeOf(r.err), Source: r.resp.Source, Age: r.resp.Age,
			Latency: r.latency, Err: r.err, Attempts: r.resp.Attempts}
		b = appendKey(b, o.Name)
		switch {
		case r.err == nil:
			b = append(b, r.resp.Body...)
		case len(r.resp.Body) > 0:
			o.Stale, o.Age, o.Source = true, r.resp.Age, bff.SourceCache
			b = appendStale(b, r.resp.Body, publicMessage(r.err))
		default:
			b = append(b, `{"error":`...)
			b = appendString(b, publicMessage(r.err))
			b = append(b, '}')
		}
		b = append(b, ',')
		p.Degraded = p.Degraded || r.err != nil
		p.Sections[i] = o
	}
	b = append(b, `"meta":{"request_id":`...)
	b = appendString(b, requestID)
	b = append(b, `,"degraded":`...)
	b = strconv.AppendBool(b, p.Degraded)
	b = append(b, `,"sections":{`...)
	for i, o := range p.Sections {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, o.Name)
		b = appendMeta(b, o)
	}
	b = append(b, "}}}"...)
	p.Body = b
	return p
}

// guard keeps the page valid JSON whatever a Fetcher returns: a body that
// is not a JSON object is a bad_response, and a stale one is dropped. The
// HTTP client never produces one; a policy with a bug might.
func (a *Assembler) guard(r result) result {
	if isObject(r.resp.Body) {
		return r
	}
	if r.err == nil {
		r.err = bff.Errorf(a.sections[r.i].Name, bff.CodeBadResponse, errors.New("fetcher returned a body that is not a JSON object"), "malformed response")
	}
	r.resp = bff.Response{Attempts: r.resp.Attempts} // an error carries no body, but the requests were sent
	return r
}

// isObject reports whether b, trimmed, starts with { and ends with }.
func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}'
}

func appendMeta(b []byte, o Outcome) []byte {
	b = append(b, `{"status":"`...)
	b = append(b, o.Status()...)
	b = append(b, '"')
	if o.Err == nil || o.Stale {
		b = append(b, `,"source":"`...)
		b = append(b, o.Source.String()...)
		b = append(b, '"')
	}
	if o.Err != nil {
		b = append(b, `,"code":"`...)
		b = append(b, o.Code.String()...)
		b = append(b, '"')
	}
	b = append(b, `,"latency_ms":`...)
	b = appendMillis(b, int64(o.Latency))
	if o.Stale || (o.Err == nil && o.Source == bff.SourceCache) {
		b = append(b, `,"age_ms":`...)
		b = appendMillis(b, int64(o.Age))
	}
	if o.Attempts > 1 {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendUint(b, uint64(o.Attempts), 10)
	}
	return append(b, '}')
}

// appendStale appends a cached object with "stale":true and "error" added.
func appendStale(b, body []byte, msg string) []byte {
	obj := bytes.TrimSpace(body)
	obj = obj[:len(obj)-1] // drop the closing brace; guard checked it is there
	b = append(b, obj...)
	if len(bytes.TrimSpace(obj)) > 1 { // not "{"
		b = append(b, ',')
	}
	b = append(b, `"stale":true,"error":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

// publicMessage is the error text shown in a section: the human message of
// a *bff.Error, never the detail that goes to logs.
func publicMessage(err error) string {
	if e, ok := errors.AsType[*bff.Error](err); ok {
		return e.Message
	}
	return "internal error"
}
