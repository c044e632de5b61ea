package fakesvc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("250ms", "1.5s"). A bare number is refused rather than read as
// nanoseconds.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string; negative durations are errors.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s is not a duration; want a Go duration string such as \"250ms\"", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration; want a Go duration string such as \"250ms\"", s)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// Scope says which requests a fault hits and for how long. Every fault has
// one.
type Scope struct {
	// Rate is the share of requests the fault hits, each request drawn
	// independently: 0.05 hits about one in twenty. Omitted or 0 means
	// every request.
	Rate float64 `json:"rate,omitempty"`
	// Duration, when set, clears the fault by itself this long after it
	// was set. Omitted or 0 keeps it until DELETE /_chaos or the next PUT.
	Duration Duration `json:"duration,omitempty"`
}

func (s Scope) validate(key string) error {
	if s.Rate < 0 || s.Rate > 1 {
		return fmt.Errorf("%s.rate: %g is not allowed; want a share from 0 (every request) to 1", key, s.Rate)
	}
	return nil
}

// Latency delays answers by Delay, plus or minus up to Jitter drawn
// uniformly (never below zero). As "latency" with no rate it slows every
// request; as "tail" with a small rate it is a slow tail.
type Latency struct {
	Scope
	Delay  Duration `json:"delay"`
	Jitter Duration `json:"jitter,omitempty"`
}

// ErrorFault answers Status (default 500) with a JSON error body.
type ErrorFault struct {
	Scope
	Status int `json:"status,omitempty"`
}

// Redirect answers Status (default 302) with a Location header: Target, or,
// when Target is empty, the request's own path and query — a redirect
// loop for any client that follows it.
type Redirect struct {
	Scope
	Status int    `json:"status,omitempty"`
	Target string `json:"target,omitempty"`
}

// Desync answers the request as usual and then writes a whole second
// HTTP/1.1 response on the same connection, one nobody asked for: the user
// record of "intruder-<n>" (whatever the kind), with an X-Request-Id
// ("desync-<n>") that is not the request's. It is a response desync: a
// client that reads the stray answer as the answer to its next request on
// that connection shows one user another user's data. The connection is
// hijacked (http.Hijacker) for it, held open until the client closes it
// or a second passes, then closed; a request sent on it meanwhile is read
// by nobody.
type Desync struct {
	Scope
	// Delay, when set, writes the stray answer this long after the real
	// one instead of in the same write: the connection then sits in the
	// client's pool with the stray answer still to come, and the next
	// request sent on it reads it.
	Delay Duration `json:"delay,omitempty"`
	// Bare leaves X-Request-Id off the stray answer, so only its body
	// names another user.
	Bare bool `json:"bare,omitempty"`
}

// Trickle sends the body Chunk bytes (default 16) at a time, one chunk
// every Every (default 50ms), flushing each: a body that arrives slowly.
type Trickle struct {
	Scope
	Chunk int      `json:"chunk,omitempty"`
	Every Duration `json:"every,omitempty"`
}

// Malformed forms.
const (
	MalformedJSON   = "json"   // cut-off JSON with garbage appended (the default)
	MalformedHTML   = "html"   // an HTML error page sent as 200 application/json
	MalformedScalar = "scalar" // a bare JSON string, valid JSON but not an object or array
	MalformedUTF8   = "utf8"   // the real body with an invalid UTF-8 byte in a string
)

// Malformed answers 200 with a body that is not a usable JSON document.
type Malformed struct {
	Scope
	Form string `json:"form,omitempty"`
}

// Empty forms.
const (
	EmptyItems     = "items"      // {"items":[]} (the default)
	EmptyArray     = "array"      // []
	EmptyNull      = "null"       // null
	EmptyBlank     = "blank"      // 200 with a zero-length body
	EmptyNoContent = "no_content" // 204 No Content
)

// Empty answers success with no data.
type Empty struct {
	Scope
	Form string `json:"form,omitempty"`
}

// Faults is the set of faults a Service applies; a nil field is off. The
// zero Faults is a healthy service.
//
// Per request they apply in this order: reset, hang, latency and tail
// (their delays add up), error, redirect, then the answer's body — empty
// or malformed, followed by a stray answer (desync), or sent by trickle
// and cut short by truncate. A request desync hits is neither trickled
// nor truncated.
type Faults struct {
	// Latency delays answers (see Latency).
	Latency *Latency `json:"latency,omitempty"`
	// Tail delays a share of answers on top of Latency: the slow tail.
	Tail *Latency `json:"tail,omitempty"`
	// Error answers an error status instead of data.
	Error *ErrorFault `json:"error,omitempty"`
	// Redirect answers a 3xx instead of data.
	Redirect *Redirect `json:"redirect,omitempty"`
	// Hang never answers: the request is held until the client gives up
	// (or the service closes, which cuts the connection).
	Hang *Scope `json:"hang,omitempty"`
	// Trickle sends the body slowly.
	Trickle *Trickle `json:"trickle,omitempty"`
	// Truncate declares the full Content-Length, sends half the body and
	// closes the connection.
	Truncate *Scope `json:"truncate,omitempty"`
	// Malformed sends a body that is not a usable JSON document.
	Malformed *Malformed `json:"malformed,omitempty"`
	// Empty sends success with no data.
	Empty *Empty `json:"empty,omitempty"`
	// Reset resets the TCP connection (RST) without answering.
	Reset *Scope `json:"reset,omitempty"`
	// Desync follows the answer with a stray second answer for another
	// user on the same connection.
	Desync *Desync `json:"desync,omitempty"`
}

// faultNames lists the faults in the order they apply.
var faultNames = []string{"reset", "hang", "latency", "tail", "error", "redirect", "empty", "malformed", "desync", "trickle", "truncate"}

// scopes returns the Scope of every fault that is on, by name.
func (f *Faults) scopes() map[string]*Scope {
	m := make(map[string]*Scope)
	if f.Reset != nil {
		m["reset"] = f.Reset
	}
	if f.Hang != nil {
		m["hang"] = f.Hang
	}
	if f.Latency != nil {
		m["latency"] = &f.Latency.Scope
	}
	if f.Tail != nil {
		m["tail"] = &f.Tail.Scope
	}
	if f.Error != nil {
		m["error"] = &f.Error.Scope
	}
	if f.Redirect != nil {
		m["redirect"] = &f.Redirect.Scope
	}
	if f.Empty != nil {
		m["empty"] = &f.Empty.Scope
	}
	if f.Malformed != nil {
		m["malformed"] = &f.Malformed.Scope
	}
	if f.Trickle != nil {
		m["trickle"] = &f.Trickle.Scope
	}
	if f.Truncate != nil {
		m["truncate"] = f.Truncate
	}
	if f.Desync != nil {
		m["desync"] = &f.Desync.Scope
	}
	return m
}

// without returns f with the named fault off.
func (f Faults) without(name string) Faults {
	switch name {
	case "reset":
		f.Reset = nil
	case "hang":
		f.Hang = nil
	case "latency":
		f.Latency = nil
	case "tail":
		f.Tail = nil
	case "error":
		f.Error = nil
	case "redirect":
		f.Redirect = nil
	case "desync":
		f.Desync = nil
	case "empty":
		f.Empty = nil
	case "malformed":
		f.Malformed = nil
	case "trickle":
		f.Trickle = nil
	case "truncate":
		f.Truncate = nil
	}
	return f
}

// IsZero reports whether no fault is on.
func (f Faults) IsZero() bool { return len(f.scopes()) == 0 }

// Validate reports every problem at once, each naming its key.
func (f Faults) Validate() error {
	var errs []error
	scopes := f.scopes()
	for _, name := range faultNames {
		if s, ok := scopes[name]; ok {
			errs = append(errs, s.validate(name))
		}
	}
	if f.Latency != nil && f.Latency.Delay == 0 && f.Latency.Jitter == 0 {
		errs = append(errs, errors.New(`latency.delay: missing; want a Go duration such as "200ms"`))
	}
	if f.Tail != nil && f.Tail.Delay == 0 && f.Tail.Jitter == 0 {
		errs = append(errs, errors.New(`tail.delay: missing; want a Go duration such as "1s"`))
	}
	if f.Error != nil && f.Error.Status != 0 && (f.Error.Status < 400 || f.Error.Status > 599) {
		errs = append(errs, fmt.Errorf("error.status: %d is not allowed; want 400 to 599 (default 500)", f.Error.Status))
	}
	if f.Redirect != nil {
		switch f.Redirect.Status {
		case 0, 301, 302, 303, 307, 308:
		default:
			errs = append(errs, fmt.Errorf("redirect.status: %d is not allowed; want 301, 302, 303, 307 or 308 (default 302)", f.Redirect.Status))
		}
		if t := f.Redirect.Target; t != "" && !validTarget(t) {
			errs = append(errs, fmt.Errorf("redirect.target: %q is not allowed; want an absolute http:// or https:// URL or a path starting with /", t))
		}
	}
	if f.Trickle != nil && f.Trickle.Chunk < 0 {
		errs = append(errs, fmt.Errorf("trickle.chunk: %d is not allowed; want a number of bytes ≥ 1 (default 16)", f.Trickle.Chunk))
	}
	if f.Malformed != nil {
		switch f.Malformed.Form {
		case "", MalformedJSON, MalformedHTML, MalformedScalar, MalformedUTF8:
		default:
			errs = append(errs, fmt.Errorf("malformed.form: %q is not allowed; want json, html, scalar or utf8", f.Malformed.Form))
		}
	}
	if f.Empty != nil {
		switch f.Empty.Form {
		case "", EmptyItems, EmptyArray, EmptyNull, EmptyBlank, EmptyNoContent:
		default:
			errs = append(errs, fmt.Errorf("empty.form: %q is not allowed; want items, array, null, blank or no_content", f.Empty.Form))
		}
	}
	return errors.Join(errs...)
}

// validTarget reports whether t is an absolute http(s) URL or a path.
func validTarget(t string) bool {
	u, err := url.Parse(t)
	if err != nil {
		return false
	}
	if u.Scheme == "" && u.Host == "" {
		return strings.HasPrefix(t, "/") && !strings.HasPrefix(t, "//")
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
