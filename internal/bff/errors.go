package bff

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Code is the machine-readable reason a section failed, reported as
// meta.sections.<name>.code.
type Code uint8

// The section failure codes of the contract. CodeNone is the zero value and
// means "no failure".
const (
	CodeNone           Code = iota
	CodeTimeout             // the service or page deadline passed
	CodeUpstreamStatus      // the service answered a non-2xx status other than 404
	CodeUnavailable         // connecting or talking to the service failed
	CodeBadResponse         // malformed JSON or a body over max_body
	CodeCircuitOpen         // the breaker refused the call
	CodeNotFound            // the service answered 404
	CodeCanceled            // the page's client went away
)

// String returns the JSON spelling of c.
func (c Code) String() string {
	switch c {
	case CodeNone:
		return ""
	case CodeTimeout:
		return "timeout"
	case CodeUpstreamStatus:
		return "upstream_status"
	case CodeUnavailable:
		return "unavailable"
	case CodeBadResponse:
		return "bad_response"
	case CodeCircuitOpen:
		return "circuit_open"
	case CodeNotFound:
		return "not_found"
	case CodeCanceled:
		return "canceled"
	default:
		return fmt.Sprintf("code(%d)", uint8(c))
	}
}

// Error is a failed section call.
//
// Message is safe to show to the page's client (it never contains addresses or
// internal detail); Err, when set, carries the detail for logs.
type Error struct {
	Service string
	Code    Code
	// Status is the downstream HTTP status for CodeUpstreamStatus and
	// CodeNotFound, else 0.
	Status int
	// Local is true when the call failed for want of pagebff's own
	// resources (open files, ephemeral ports, memory): not the service's
	// fault, so it never counts against the service's breaker.
	Local bool
	// Unanswered is true when no byte of a response arrived: the
	// connection was refused, or reset or closed before the status line.
	// The service did not answer, so the call may be tried again.
	Unanswered bool
	// RetryAfter is the service's Retry-After, when HasRetryAfter.
	RetryAfter    time.Duration
	HasRetryAfter bool
	Message       string
	Err           error
}

// Error returns the human message followed by the detail, for logs.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + ": " + e.Err.Error()
}

// Unwrap returns the underlying detail error.
func (e *Error) Unwrap() error { return e.Err }

// Fault says whose fault a failed call is; Classify decides it, and the
// breaker, the stale cache and the retry rules all follow it.
type Fault uint8

// The faults.
const (
	// FaultService is the service's own failure: 5xx, 429 (overload),
	// timeouts, connection failures, bad responses, an open breaker. It
	// counts against the breaker and may be hidden by a stale value.
	FaultService Fault = iota
	// FaultRequest is the request's: a 4xx other than 429. The data may
	// truly be gone or forbidden: never counted, never hidden.
	FaultRequest
	// FaultCanceled is a call whose page's client went away: nobody reads
	// the answer. Never counted, never hidden.
	FaultCanceled
	// FaultNeither is neither the service's nor the request's: pagebff ran
	// out of local resources, or the service redirected and redirects are
	// not followed. Never counted against the breaker, but the page is
	// better served by a stale value than by an error.
	FaultNeither
)

// Classify returns whose fault err is. An error without a *Error in its
// chain is taken as the service's, as is nil (callers check for nil first).
func Classify(err error) Fault {
	e, ok := errors.AsType[*Error](err)
	if !ok {
		return FaultService
	}
	switch {
	case e.Code == CodeCanceled:
		return FaultCanceled
	case e.Local, e.Status >= 300 && e.Status < 400:
		return FaultNeither
	case e.Status == 429:
		return FaultService
	case e.Status >= 400 && e.Status < 500:
		return FaultRequest
	}
	return FaultService
}

// Retryable reports whether a failed call may be sent again, as the
// contract's retry rules say: a connection refused or reset before any
// response byte, or a 502, 503 or 504. Never a timeout (hedging handles
// slowness), another status, a bad response, an open breaker, a client that
// went away, or pagebff short of its own resources. The caller still checks
// the time left against the answer's Retry-After (see Error).
func Retryable(err error) bool {
	e, ok := errors.AsType[*Error](err)
	if !ok || e.Local {
		return false
	}
	switch e.Code {
	case CodeUnavailable:
		return e.Unanswered
	case CodeUpstreamStatus:
		return e.Status == 502 || e.Status == 503 || e.Status == 504
	}
	return false
}

// Gone reports whether err says the data no longer exists (404 or 410), so a
// cached copy must be forgotten.
func Gone(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && (e.Status == 404 || e.Status == 410)
}

// Errorf builds an *Error for service with a formatted human message.
func Errorf(service string, code Code, detail error, format string, args ...any) *Error {
	return &Error{Service: service, Code: code, Message: service + ": " + fmt.Sprintf(format, args...), Err: detail}
}

// CodeOf returns the Code carried by err, CodeNone for nil, and
// CodeUnavailable for an error that carries no code.
func CodeOf(err error) Code {
	if err == nil {
		return CodeNone
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeUnavailable
}

// ErrHedgeLost is the cancellation cause of an attempt cancelled because
// another attempt of the same call answered first: nobody failed.
var ErrHedgeLost = errors.New("another attempt answered first")

// ErrPageDeadline is the cancellation cause of a page context whose overall
// deadline (page.timeout) passed.
var ErrPageDeadline = errors.New("page deadline exceeded")

// ContextError turns a done context into a section *Error: a timeout when the
// deadline (the service's or the page's) passed, canceled when the page's
// client went away. detail, if not nil, is kept for the log.
func ContextError(ctx context.Context, service string, detail error) *Error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, ErrPageDeadline):
		return Errorf(service, CodeTimeout, detail, "page deadline reached before the service answered")
	case errors.Is(cause, ErrHedgeLost):
		return Errorf(service, CodeCanceled, detail, "another attempt answered first")
	case errors.Is(cause, context.Canceled):
		return Errorf(service, CodeCanceled, detail, "request canceled by the client")
	}
	if te, ok := errors.AsType[*TimeoutError](cause); ok {
		return Errorf(service, CodeTimeout, detail, "timed out after %s", te.After)
	}
	return Errorf(service, CodeTimeout, detail, "timed out")
}

// TimeoutError is the cancellation cause of a context bounded by a service's
// own timeout (services.<name>.timeout).
type TimeoutError struct {
	Service string
	After   time.Duration
}

// Error names the service and the timeout.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: timeout of %s exceeded", e.Service, e.After)
}
