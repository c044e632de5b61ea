package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"net/http"
	"path"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// Defaults of a Handler.
const (
	// DefaultLinger is how long the Sampler keeps running after the last
	// watcher left, so a reload of the page keeps its history.
	DefaultLinger = 30 * time.Second
	// writeWait bounds writing one event: a client that stops reading is
	// dropped after it (the server's write_timeout is moved per event).
	writeWait = 10 * time.Second
	// firstWait is how long a poll waits for the first sample of a
	// Sampler it started.
	firstWait = 2 * time.Second
)

// Options change a Handler; the zero value is the defaults.
type Options struct {
	// Interval is the sampling interval (0: DefaultInterval).
	Interval time.Duration
	// Linger is how long sampling goes on after the last watcher (0:
	// DefaultLinger).
	Linger time.Duration
}

// Handler serves the dashboard and runs its Sampler while someone
// watches. Create it with New and Close it when done; it is safe for
// concurrent use. It does not check the admin token: mount ServeStream and
// ServeJSON behind it, and ServePage and ServeAsset (no data) outside it so
// the page can ask for it.
type Handler struct {
	sampler *Sampler
	linger  time.Duration
	closed  chan struct{} // closed by Close: ends every stream

	mu       sync.Mutex
	watchers int                // streams open, and polls being answered; guarded by mu
	stop     context.CancelFunc // ends the running Sampler; nil while stopped; guarded by mu
	done     <-chan struct{}    // closed when the running Sampler returned; guarded by mu
	idle     *time.Timer        // stops the Sampler after Linger; guarded by mu
	isClosed bool               // guarded by mu
}

// New returns a Handler of src. Nothing runs until the first stream or
// poll.
func New(src Source, o Options) *Handler {
	if o.Linger <= 0 {
		o.Linger = DefaultLinger
	}
	return &Handler{sampler: NewSampler(src, o.Interval), linger: o.Linger, closed: make(chan struct{})}
}

// Sampler returns the Handler's Sampler.
func (h *Handler) Sampler() *Sampler { return h.sampler }

// Running reports whether the Sampler runs.
func (h *Handler) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stop != nil
}

// acquire counts a watcher in, starting the Sampler if it is stopped. ok is
// false once the Handler is closed.
func (h *Handler) acquire() (ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isClosed {
		return false
	}
	h.watchers++
	if h.idle != nil {
		h.idle.Stop()
		h.idle = nil
	}
	if h.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.done, h.stop = h.sampler.Start(ctx), cancel
	}
	return true
}

// release counts a watcher out; after the last one, the Sampler stops
// Linger later unless another comes.
func (h *Handler) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchers--
	if h.watchers > 0 || h.isClosed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(h.linger, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.idle != t { // a watcher came, or Close ran
			return
		}
		h.idle = nil
		h.halt()
	})
	h.idle = t
}

// halt stops the Sampler and waits for it. Caller holds mu.
func (h *Handler) halt() {
	if h.stop == nil {
		return
	}
	h.stop()
	<-h.done
	h.stop, h.done = nil, nil
}

// Close stops the Sampler, waiting for its goroutine, and ends every
// stream. It is idempotent, and does nothing on a nil Handler; afterwards
// streams and polls answer 503.
func (h *Handler) Close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isClosed {
		return
	}
	h.isClosed = true
	close(h.closed)
	if h.idle != nil {
		h.idle.Stop()
		h.idle = nil
	}
	h.halt()
}

// ServePage serves the dashboard's HTML. It holds no data, so it may be
// served without the admin token: the page asks for it.
func (h *Handler) ServePage(w http.ResponseWriter, r *http.Request) {
	h.serveAsset(w, r, "dashboard.html")
}

// ServeAsset serves the page's script or style, named by the last element
// of the request path ("dashboard.js", "dashboard.css"); anything else is
// 404.
func (h *Handler) ServeAsset(w http.ResponseWriter, r *http.Request) {
	switch name := path.Base(r.URL.Path); name {
	case "dashboard.js", "dashboard.css":
		h.serveAsset(w, r, name)
	default:
		http.NotFound(w, r)
	}
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// contentSecurityPolicy lets the page load only what pagebff serves: its
// own script and style, and fetches to its own origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", contentTypes[path.Ext(name)])
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// ServeJSON answers the latest Snapshot with the whole history (a Frame),
// for clients that poll. A poll counts as a watcher: the Sampler starts if
// it is stopped (the first answer then waits for its first sample) and
// runs on for Linger.
func (h *Handler) ServeJSON(w http.ResponseWriter, r *http.Request) {
	if !h.acquire() {
		http.Error(w, "dashboard closed", http.StatusServiceUnavailable)
		return
	}
	defer h.release()
	if snap, next := h.sampler.Latest(); snap == nil {
		t := time.NewTimer(firstWait)
		select {
		case <-next:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(h.sampler.Frame())
}

// ServeStream answers text/event-stream: an event "data: <Frame JSON>" each
// time the Sampler samples, about once a second, the first with the whole
// history and the next ones with their Point. It ends when the client goes,
// when r's context ends, or at Close. The server's write timeout would cut
// it after write_timeout: the write deadline is moved forward at every
// event instead, so a client that stops reading is still dropped.
func (h *Handler) ServeStream(w http.ResponseWriter, r *http.Request) {
	if !h.acquire() {
		http.Error(w, "dashboard closed", http.StatusServiceUnavailable)
		return
	}
	defer h.release()
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // a proxy in front must not hold events back
	w.WriteHeader(http.StatusOK)
	_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil || rc.Flush() != nil {
		return
	}

	ctx := r.Context()
	full := true // the first event carries the history
	var buf []byte
	for {
		f, next := h.sampler.frame(full)
		if f.Latest != nil {
			full = false
			var err error
			if buf, err = appendEvent(buf[:0], f); err != nil {
				return
			}
			_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
			if _, err := w.Write(buf); err != nil || rc.Flush() != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-h.closed:
			return
		case <-next:
		}
	}
}

// appendEvent appends f as one server-sent event. JSON has no raw
// newlines, so it fits one data line.
func appendEvent(b []byte, f Frame) ([]byte, error) {
	j, err := json.Marshal(f)
	if err != nil {
		return b, err
	}
	b = append(b, "data: "...)
	b = append(b, j...)
	return append(b, '\n', '\n'), nil
}
