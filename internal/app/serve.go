package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/pagebff/pagebff/internal/httpapi"
)

// Serve serves pages on ln, and /admin/* and /metrics on adminLn when
// admin.addr is set (adminLn may be nil otherwise), until ctx ends; then it
// shuts down gracefully: /readyz turns 503 at once, requests are still
// served for server.drain_delay, then the listeners close and in-flight
// requests get server.shutdown_timeout to finish; those still running
// after it are cut off (and logged). It returns nil after shutdown, and an
// error only if serving failed. The drain delay and shutdown timeout are
// read when shutdown starts, so a reload applies; the listener settings
// (timeouts, header and connection caps) are read now.
func (a *App) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	cfg := a.Config().Server
	if (adminLn != nil) != (a.server.AdminHandler() != nil) {
		return errors.New("serve: an admin listener is needed exactly when admin.addr is set")
	}
	limit, maxConns := a.connLimit(cfg)
	ln = netutil.LimitListener(ln, maxConns)
	servers := []*http.Server{a.newHTTPServer(cfg, a.server)}
	listeners := []net.Listener{ln}
	if adminLn != nil {
		servers = append(servers, a.newHTTPServer(cfg, a.server.AdminHandler()))
		listeners = append(listeners, adminLn)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	a.server.SetReady(true)
	attrs := []any{slog.String("addr", ln.Addr().String()), slog.Int("max_conns", maxConns), slog.Uint64("open_file_limit", limit)}
	if adminLn != nil {
		attrs = append(attrs, slog.String("admin_addr", adminLn.Addr().String()))
	}
	a.log.Info("listening", attrs...)

	select {
	case err := <-errc:
		closeAll(servers)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	a.server.SetReady(false)
	cfg = a.Config().Server
	a.log.Info("shutting down", slog.String("drain_delay", cfg.DrainDelay.String()), slog.String("shutdown_timeout", cfg.ShutdownTimeout.String()))
	if cfg.DrainDelay > 0 {
		t := time.NewTimer(cfg.DrainDelay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			closeAll(servers)
			return fmt.Errorf("serve: %w", err)
		}
	}

	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	shutdown := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { shutdown <- srv.Shutdown(sctx) }()
	}
	var cut bool
	for range servers {
		if err := <-shutdown; err != nil {
			cut = true
		}
	}
	if cut {
		// The contract exits 0 after shutdown_timeout whatever is left:
		// the pages still running are cut off, and the log says so.
		closeAll(servers)
		a.log.Error("shutdown timeout: closed connections with pages still in flight",
			slog.String("shutdown_timeout", cfg.ShutdownTimeout.String()), slog.Int64("inflight", a.server.Inflight()))
	}
	for range servers {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	a.log.Info("stopped")
	return nil
}

// newHTTPServer returns a server for h with the configured limits. Each is
// deliberate: without ReadTimeout a client trickling its request holds a
// connection forever; without MaxHeaderBytes (net/http allows 1 MiB) 300
// slow connections took RSS from 25 to 433 MB.
func (a *App) newHTTPServer(cfg httpapi.Config, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// connLimit returns the process's open-file limit and the connection cap
// to apply: server.max_conns, or when it is 0, AutoMaxConns of the limit. A
// cap that leaves little of the limit for downstream connections is
// warned about. (Go raises the soft open-file limit to the hard limit when
// the process starts, so the limit read here is already the highest
// available.)
func (a *App) connLimit(cfg httpapi.Config) (limit uint64, maxConns int) {
	limit = openFileLimit()
	maxConns = cfg.MaxConns
	if maxConns == 0 {
		return limit, AutoMaxConns(limit)
	}
	if uint64(maxConns) > limit/2 {
		a.log.Warn("server.max_conns leaves less than half of the open-file limit for downstream connections; "+
			"at the limit new connections fail", slog.Int("max_conns", maxConns), slog.Uint64("open_file_limit", limit))
	}
	return limit, maxConns
}

// AutoMaxConns is the connection cap for an open-file limit: a quarter of
// it, since each page connection may hold a few downstream connections
// (three services, a hedge) besides its own.
func AutoMaxConns(limit uint64) int {
	return int(max(limit/4, 1))
}

func closeAll(servers []*http.Server) {
	for _, srv := range servers {
		_ = srv.Close()
	}
}
