package httpapi

import (
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
)

// pprofHandler serves Go's profiles under /admin/debug/pprof/ (net/http/pprof
// expects them under /debug/pprof/, hence the stripped prefix). Importing
// net/http/pprof also registers them on http.DefaultServeMux, which pagebff
// never serves.
var pprofHandler = http.StripPrefix("/admin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r) // the index, and every named profile (heap, goroutine, ...)
	}
}))

// handlePprof serves GET /admin/debug/pprof/*, so an operator can take the
// same profiles as a benchmark does: the admin token is required (the
// route refuses it while none is configured). A CPU profile or trace runs
// for ?seconds= (default 30), longer than server.write_timeout, so its
// write deadline is moved past it.
func handlePprof(c *echo.Context) error {
	r := c.Request()
	secs, _ := strconv.Atoi(r.URL.Query().Get("seconds"))
	if secs <= 0 {
		secs = 30
	}
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(time.Duration(secs+10) * time.Second))
	pprofHandler.ServeHTTP(c.Response(), r)
	return nil
}
