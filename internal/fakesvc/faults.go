package fakesvc

import (
	"encoding/json"
	"errors"
	"fmt"
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
// (their delays add up), error, then the answer's body — empty or
// malformed, sent by trickle, cut short by truncate.
type Faults struct {
	// Latency delays answers (see Latency).
	Latency *Latency `json:"latency,omitempty"`
	// Tail delays a share of answers on top of Latency: the slow tail.
	Tail *Latency `json:"tail,omitempty"`
	// Error answers an error status instead of data.
	Error *ErrorFault `json:"error,omitempty"`
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
}

// faultNames lists the faults in the order they apply.
var faultNames = []string{"reset", "hang", "latency", "tail", "error", "empty", "malformed", "trickle", "truncate"}

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
