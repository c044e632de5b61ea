// Package baseline holds what the load benchmarks' baseline BFFs
// (bench/naive, bench/plain) share besides their page handler: reading the
// environment pagebff reads, and serving until told to stop.
package baseline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// CallTimeout bounds each downstream call, as pagebff's default does, so a
// comparison is about the architecture, not a missing timeout.
const CallTimeout = 300 * time.Millisecond

// URLs returns the user, catalog and activity base URLs from getenv, or an
// error naming the first variable that is not set.
func URLs(getenv func(string) string) ([3]string, error) {
	var urls [3]string
	for i, name := range []string{"USER_SERVICE_URL", "CATALOG_SERVICE_URL", "ACTIVITY_SERVICE_URL"} {
		if urls[i] = getenv(name); urls[i] == "" {
			return urls, fmt.Errorf("%s is not set", name)
		}
	}
	return urls, nil
}

// Serve serves page on GET /v1/pages/home, and /healthz and /readyz, on
// BFF_ADDR (default :8080) until ctx ends, then shuts down. Its first log
// line on stdout is {"msg":"listening","addr":...}, which the benchmarks
// wait for.
func Serve(ctx context.Context, getenv func(string) string, stdout io.Writer, page http.HandlerFunc) error {
	addr := getenv("BFF_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, `{"status":"ok"}`) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, `{"status":"ok"}`) })
	mux.HandleFunc("GET /v1/pages/home", page)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	slog.New(slog.NewJSONHandler(stdout, nil)).Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// Main runs run until SIGINT or SIGTERM, and exits 1 with "name: error" on
// stderr if it fails.
func Main(name string, run func(ctx context.Context, getenv func(string) string, stdout io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		stop()
		os.Exit(1)
	}
}
