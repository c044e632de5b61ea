// Command fakesvc plays one of pagebff's downstream services — User, Catalog
// or Activity — with realistic data, and takes faults at run time over
// HTTP at /_chaos, for chaos drills. See docs/chaos.md.
//
//	fakesvc --kind user --addr 127.0.0.1:9001
//	curl -X PUT localhost:9001/_chaos -d '{"latency": {"delay": "400ms"}, "error": {"rate": 0.2, "status": 503, "duration": "30s"}}'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pagebff/pagebff/internal/fakesvc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakesvc:", err)
		os.Exit(1)
	}
}

// run serves one fake service until ctx ends. Start-up problems are returned;
// logs go to stdout as JSON lines, the first being {"msg":"listening",...}
// with the address.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakesvc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", getenv("FAKESVC_KIND"), "service to play: user, catalog or activity (env FAKESVC_KIND)")
	addr := fs.String("addr", envOr(getenv, "FAKESVC_ADDR", "127.0.0.1:0"), "listen address; port 0 picks a free one (env FAKESVC_ADDR)")
	minLatency := fs.Duration("min-latency", 5*time.Millisecond, "least latency of a healthy answer")
	maxLatency := fs.Duration("max-latency", 20*time.Millisecond, "most latency of a healthy answer")
	echo := fs.Bool("echo-request-id", true, "echo a request's X-Request-Id on the answer, as real services commonly do")
	faults := fs.String("faults", "", `faults to start with, as the JSON body of PUT /_chaos (e.g. '{"tail": {"rate": 0.02, "delay": "1s"}}')`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *maxLatency < *minLatency {
		return fmt.Errorf("--max-latency %v is below --min-latency %v", *maxLatency, *minLatency)
	}
	svc, err := fakesvc.New(*kind, fakesvc.Options{MinLatency: *minLatency, MaxLatency: *maxLatency, NoRequestID: !*echo})
	if err != nil {
		return fmt.Errorf("--kind: %w", err)
	}
	if *faults != "" {
		var f fakesvc.Faults
		dec := json.NewDecoder(strings.NewReader(*faults))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return fmt.Errorf("--faults: %w", err)
		}
		if err := svc.Set(f); err != nil {
			return fmt.Errorf("--faults: %w", err)
		}
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil)).With(slog.String("kind", *kind))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{
		Handler:           logControl(svc, log),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("control", "http://"+ln.Addr().String()+fakesvc.ControlPath))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Release hanging and sleeping requests first, or Shutdown would wait
	// for them.
	svc.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped", slog.Int64("requests", svc.Status().Requests))
	return nil
}

// logControl logs every change of faults made over the control API.
func logControl(svc *fakesvc.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != fakesvc.ControlPath || (r.Method != http.MethodPut && r.Method != http.MethodDelete) {
			svc.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		svc.ServeHTTP(sw, r)
		if sw.status != http.StatusOK {
			return
		}
		f, _ := svc.Faults()
		b, _ := json.Marshal(f)
		log.Info("faults set", slog.String("method", r.Method), slog.String("faults", string(b)))
	})
}

// statusWriter records the status of a control API answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
