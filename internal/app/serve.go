package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Serve serves on ln until ctx ends, then shuts down gracefully: /readyz
// turns 503 at once, requests are still served for server.drain_delay, then
// the listener closes and in-flight requests get server.shutdown_timeout to
// finish; those still running after it are cut off (and logged). It returns
// nil after shutdown, and an error only if serving failed. The drain delay
// and shutdown timeout are read when shutdown starts, so a reload applies.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.server,
		ReadHeaderTimeout: 5 * time.Second,
		// A client too slow to read its page must not hold an in-flight
		// slot for long; pages are small and written in one go.
		WriteTimeout: a.Config().Page.Timeout + 10*time.Second,
		IdleTimeout:  120 * time.Second,
		ErrorLog:     slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.server.SetReady(true)
	a.log.Info("listening", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	a.server.SetReady(false)
	cfg := a.Config().Server
	a.log.Info("shutting down", slog.String("drain_delay", cfg.DrainDelay.String()), slog.String("shutdown_timeout", cfg.ShutdownTimeout.String()))
	if cfg.DrainDelay > 0 {
		t := time.NewTimer(cfg.DrainDelay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return fmt.Errorf("serve: %w", err)
		}
	}

	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// The contract exits 0 after shutdown_timeout whatever is left:
		// the pages still running are cut off, and the log says so.
		_ = srv.Close()
		a.log.Error("shutdown timeout: closed connections with pages still in flight",
			slog.String("shutdown_timeout", cfg.ShutdownTimeout.String()), slog.Int64("inflight", a.server.Inflight()))
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	a.log.Info("stopped")
	return nil
}
