package fakesvc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ControlPath is where a Service takes its faults.
const ControlPath = "/_chaos"

// Options tune a Service. The zero Options is a service answering at once.
type Options struct {
	// MinLatency and MaxLatency bound the latency of every healthy answer,
	// drawn uniformly; faults add to it.
	MinLatency, MaxLatency time.Duration
	// Now is the clock for fault durations; nil means time.Now.
	Now func() time.Time
	// Rand draws in [0, 1) for rates and jitter; nil means math/rand/v2.
	// It is called from many goroutines at once.
	Rand func() float64
	// NoRequestID stops the service echoing a request's X-Request-Id on
	// its answers. The zero value echoes it, as real services commonly
	// do (and as pagebff checks when they do).
	NoRequestID bool
}

// Service plays one downstream service with realistic data and takes faults
// at run time over its control API (ControlPath):
//
//	GET    /_chaos   current faults, when they expire, request counts
//	PUT    /_chaos   replace the faults with the JSON Faults in the body
//	DELETE /_chaos   clear every fault (counts are kept)
//
// Every other request is served as the service would, with the faults
// applied. A Service is safe for concurrent use; Close releases requests
// held by the hang fault.
type Service struct {
	kind   string
	data   http.Handler
	now    func() time.Time
	rand   func() float64
	noEcho bool          // Options.NoRequestID
	done   chan struct{} // closed by Close: releases hanging requests
	once   sync.Once

	mu     sync.Mutex
	faults Faults    // guarded by mu
	setAt  time.Time // when faults were set; guarded by mu

	requests  atomic.Int64
	inflight  atomic.Int64
	intruders atomic.Int64             // stray answers written by desync, numbering them
	hits      map[string]*atomic.Int64 // by fault name; the map is fixed at New
}

var _ http.Handler = (*Service)(nil)

// New returns a Service playing kind ("user", "catalog" or "activity").
func New(kind string, opt Options) (*Service, error) {
	data, err := Handler(kind, opt.MinLatency, opt.MaxLatency)
	if err != nil {
		return nil, err
	}
	s := &Service{kind: kind, data: data, now: opt.Now, rand: opt.Rand, noEcho: opt.NoRequestID, done: make(chan struct{}), hits: make(map[string]*atomic.Int64, len(faultNames))}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Float64
	}
	for _, n := range faultNames {
		s.hits[n] = new(atomic.Int64)
	}
	return s, nil
}

// Kind returns the service the fake plays.
func (s *Service) Kind() string { return s.kind }

// Set replaces the faults; the durations of the new faults run from now. It
// returns the error of f.Validate and changes nothing then.
func (s *Service) Set(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults, s.setAt = f, s.now()
	s.mu.Unlock()
	return nil
}

// Clear turns every fault off.
func (s *Service) Clear() {
	s.mu.Lock()
	s.faults = Faults{}
	s.mu.Unlock()
}

// Faults returns the faults now in force (expired ones are dropped) and how
// long each one with a duration has left.
func (s *Service) Faults() (Faults, map[string]Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.expireLocked()
	left := make(map[string]Duration)
	for name, sc := range f.scopes() {
		if sc.Duration > 0 {
			left[name] = Duration(s.setAt.Add(time.Duration(sc.Duration)).Sub(s.now()))
		}
	}
	return f, left
}

// expireLocked drops faults whose duration has passed and returns the rest.
// The caller holds mu.
func (s *Service) expireLocked() Faults {
	now := s.now()
	for name, sc := range s.faults.scopes() {
		if sc.Duration > 0 && !now.Before(s.setAt.Add(time.Duration(sc.Duration))) {
			s.faults = s.faults.without(name)
		}
	}
	return s.faults
}

// Status is what GET /_chaos answers.
type Status struct {
	Kind string `json:"kind"`
	// Faults are those in force; ExpiresIn has the time left of each one
	// set with a duration.
	Faults    Faults              `json:"faults"`
	ExpiresIn map[string]Duration `json:"expires_in"`
	// Requests counts the requests served (the control API not included)
	// since the service started; Inflight those being served now.
	Requests int64 `json:"requests"`
	Inflight int64 `json:"inflight"`
	// Faulted counts, by fault name, the requests each fault hit.
	Faulted map[string]int64 `json:"faulted"`
}

// Status returns the current faults and counts.
func (s *Service) Status() Status {
	f, left := s.Faults()
	st := Status{Kind: s.kind, Faults: f, ExpiresIn: left, Requests: s.requests.Load(), Inflight: s.inflight.Load(), Faulted: make(map[string]int64, len(s.hits))}
	for name, n := range s.hits {
		st.Faulted[name] = n.Load()
	}
	return st
}

// Close releases requests held by the hang fault: their connections are
// cut. The service still answers afterwards.
func (s *Service) Close() { s.once.Do(func() { close(s.done) }) }

// ServeHTTP serves the control API at ControlPath and the service's data,
// faults applied, everywhere else.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == ControlPath {
		s.control(w, r)
		return
	}
	s.requests.Add(1)
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	s.serve(w, r)
}

func (s *Service) control(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPut:
		var f Faults
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeError(w, http.StatusBadRequest, "faults: "+err.Error())
			return
		}
		if err := s.Set(f); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	case http.MethodDelete:
		s.Clear()
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, s.Status())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// hit draws whether a fault with scope sc hits this request, and counts it.
func (s *Service) hit(name string, sc *Scope) bool {
	if sc == nil || (sc.Rate > 0 && sc.Rate < 1 && s.rand() >= sc.Rate) {
		return false
	}
	s.hits[name].Add(1)
	return true
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.expireLocked()
	s.mu.Unlock()
	// f's fields point at values nobody changes after Set: read freely.

	if s.hit("reset", f.Reset) {
		reset(w)
		return
	}
	if s.hit("hang", f.Hang) {
		select {
		case <-r.Context().Done():
		case <-s.done:
			panic(http.ErrAbortHandler) // cut the connection: never an answer
		}
		return
	}
	var delay time.Duration
	if f.Latency != nil && s.hit("latency", &f.Latency.Scope) {
		delay += s.jittered(f.Latency)
	}
	if f.Tail != nil && s.hit("tail", &f.Tail.Scope) {
		delay += s.jittered(f.Tail)
	}
	if !s.sleep(r, delay) {
		return
	}
	if id := r.Header.Get("X-Request-Id"); id != "" && !s.noEcho {
		w.Header().Set("X-Request-Id", id)
	}
	if f.Error != nil && s.hit("error", &f.Error.Scope) {
		status := f.Error.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		writeError(w, status, fmt.Sprintf("%s: injected fault: %d %s", s.kind, status, http.StatusText(status)))
		return
	}
	if f.Redirect != nil && s.hit("redirect", &f.Redirect.Scope) {
		status, loc := f.Redirect.Status, f.Redirect.Target
		if status == 0 {
			status = http.StatusFound
		}
		if loc == "" {
			loc = r.URL.RequestURI() // itself: a loop
		}
		w.Header().Set("Location", loc)
		writeError(w, status, fmt.Sprintf("%s: injected fault: %d %s", s.kind, status, http.StatusText(status)))
		return
	}

	rec := &recorder{header: make(http.Header)}
	s.data.ServeHTTP(rec, r)
	if rec.status == 0 {
		return // the request ended during the base latency
	}
	status, body := rec.status, rec.body.Bytes()
	if status >= 200 && status < 300 {
		if f.Empty != nil && s.hit("empty", &f.Empty.Scope) {
			status, body = empty(f.Empty.Form)
		}
		if f.Malformed != nil && s.hit("malformed", &f.Malformed.Scope) {
			body = malformed(f.Malformed.Form, body)
		}
	}
	h := w.Header()
	for k, v := range rec.header {
		h[k] = v
	}
	if f.Desync != nil && s.hit("desync", &f.Desync.Scope) {
		s.desync(w, r, status, body, f.Desync)
		return
	}
	if status == http.StatusNoContent {
		h.Del("Content-Type")
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)

	send := body
	truncate := s.hit("truncate", f.Truncate)
	if truncate {
		send = body[:len(body)/2]
	}
	if f.Trickle != nil && s.hit("trickle", &f.Trickle.Scope) {
		if !s.trickle(w, r, send, f.Trickle) {
			return
		}
	} else {
		_, _ = w.Write(send)
	}
	if truncate {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		// The client was promised len(body) bytes: end the connection
		// mid-body, as a crashed process or a cut cable would.
		panic(http.ErrAbortHandler)
	}
}

// jittered returns l.Delay plus or minus up to l.Jitter, never below zero.
func (s *Service) jittered(l *Latency) time.Duration {
	d := time.Duration(l.Delay)
	if l.Jitter > 0 {
		d += time.Duration((2*s.rand() - 1) * float64(l.Jitter))
	}
	return max(d, 0)
}

// sleep waits d; false means the request ended first. When the service
// closes first, the connection is cut: a sleeping request must not turn
// into an empty 200.
func (s *Service) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		panic(http.ErrAbortHandler)
	}
}

// trickle writes body in chunks, flushing each; false means the request
// ended first.
func (s *Service) trickle(w http.ResponseWriter, r *http.Request, body []byte, t *Trickle) bool {
	chunk, every := t.Chunk, time.Duration(t.Every)
	if chunk <= 0 {
		chunk = 16
	}
	if every <= 0 {
		every = 50 * time.Millisecond
	}
	fl, _ := w.(http.Flusher)
	for len(body) > 0 {
		n := min(chunk, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		body = body[n:]
		if len(body) > 0 && !s.sleep(r, every) {
			return false
		}
	}
	return true
}

// desync writes the answer (status, w's headers, body) and then a stray
// second answer itself, on the hijacked connection: in one write, or the
// stray one d.Delay later. It then holds the connection until the client
// closes it, a second passes or the service closes.
func (s *Service) desync(w http.ResponseWriter, r *http.Request, status int, body []byte, d *Desync) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	h := w.Header().Clone()
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	// Close cuts the connection wherever the handler waits.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-s.done:
			_ = conn.Close()
		case <-stop:
		}
	}()

	var out bytes.Buffer
	if status == http.StatusNoContent {
		h.Del("Content-Length")
		h.Del("Content-Type")
		body = nil
	} else {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	if r.Method == http.MethodHead {
		body = nil
	}
	writeResponse(&out, status, h, body)
	stray := s.stray(d.Bare)
	if d.Delay == 0 {
		out.Write(stray) // the same write: both answers in one segment
	}
	if _, err := conn.Write(out.Bytes()); err != nil {
		return
	}
	if d.Delay > 0 {
		t := time.NewTimer(time.Duration(d.Delay))
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		if _, err := conn.Write(stray); err != nil {
			return
		}
	}
	// Hold the connection as a server that thinks all is well would; a
	// request sent on it is read and dropped.
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, conn)
}

// stray returns a whole HTTP/1.1 answer nobody asked for: the record of
// user "intruder-<n>", with X-Request-Id "desync-<n>" unless bare.
func (s *Service) stray(bare bool) []byte {
	n := s.intruders.Add(1)
	body, _ := json.Marshal(user(fmt.Sprintf("intruder-%d", n)))
	body = append(body, '\n')
	h := http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(body))}}
	if !bare {
		h.Set("X-Request-Id", fmt.Sprintf("desync-%d", n))
	}
	var out bytes.Buffer
	writeResponse(&out, http.StatusOK, h, body)
	return out.Bytes()
}

// writeResponse writes an HTTP/1.1 response in wire format.
func writeResponse(out *bytes.Buffer, status int, h http.Header, body []byte) {
	fmt.Fprintf(out, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	_ = h.Write(out)
	out.WriteString("\r\n")
	out.Write(body)
}

// reset closes the connection with a TCP RST: the client reads "connection
// reset by peer" and no answer.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST instead of FIN
	}
	_ = conn.Close()
}

func empty(form string) (int, []byte) {
	switch form {
	case EmptyArray:
		return http.StatusOK, []byte("[]\n")
	case EmptyNull:
		return http.StatusOK, []byte("null\n")
	case EmptyBlank:
		return http.StatusOK, nil
	case EmptyNoContent:
		return http.StatusNoContent, nil
	default:
		return http.StatusOK, []byte(`{"items":[]}` + "\n")
	}
}

func malformed(form string, body []byte) []byte {
	switch form {
	case MalformedHTML:
		return []byte("<html><body><h1>502 Bad Gateway</h1></body></html>\n")
	case MalformedScalar:
		return []byte(`"ok"` + "\n")
	case MalformedUTF8:
		// Replace the first byte inside the first string with 0xff: still
		// well-formed JSON syntax, but not UTF-8.
		out := bytes.Clone(body)
		if i := bytes.IndexByte(out, '"'); i >= 0 && i+1 < len(out) {
			out[i+1] = 0xff
			return out
		}
		return []byte("[\"\xff\"]\n")
	default:
		return append(bytes.Clone(body[:len(body)/2]), `,"oops":`...)
	}
}

// recorder captures a handler's answer so faults can rework it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
