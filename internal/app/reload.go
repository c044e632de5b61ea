package app

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/httpapi"
)

// ErrUnchanged is returned by Reload when the new configuration equals the
// running one.
var ErrUnchanged = errors.New("configuration unchanged")

// Reload swaps in cfg, which the caller has loaded into a fresh struct and
// validated. Every service's pipeline is built anew from cfg's values; the
// long-lived state (breaker, latency history, budget, cached values,
// connection pool, counters) is looked up in the registry by the settings
// that define it, so what a change does not touch carries on. Nothing a
// page in flight uses is changed: the swap is one pointer, and a page
// renders entirely with the old or the new configuration. The listener settings (restartOnlyKeys) cannot change
// without a restart and are kept, with a warning. It returns the changed keys.
func (a *App) Reload(cfg config.Config) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.state.Load()
	if keys := restartOnly(config.Diff(old.cfg, cfg)); len(keys) > 0 {
		a.log.Warn("config reload: these keys change only on restart; their running values stay", slog.Any("keys", keys))
		cfg.Server = keepListenerSettings(old.cfg.Server, cfg.Server)
	}
	changed := config.Diff(old.cfg, cfg)
	if len(changed) == 0 {
		a.metrics.ConfigReloads.WithLabelValues("unchanged").Inc()
		return nil, ErrUnchanged
	}
	st, err := a.build(cfg)
	if err != nil {
		a.reject(old)
		return nil, fmt.Errorf("build services: %w", err)
	}
	if err := a.applyAuth(cfg.Auth); err != nil {
		a.reject(old)
		return nil, err
	}
	a.server.Configure(cfg.Server)
	a.setLevel(cfg.LogLevel)
	a.state.Store(st)
	// State the new pipelines do not use goes: retired connection pools
	// close their idle connections, calls in flight finish.
	a.registry.prune(st)
	a.metrics.ConfigReloads.WithLabelValues("applied").Inc()
	return changed, nil
}

// RecordRejected counts a reload refused before it reached the app (the
// file did not parse or validate).
func (a *App) RecordRejected() { a.metrics.ConfigReloads.WithLabelValues("rejected").Inc() }

// restartOnlyKeys are read when pagebff starts listening.
var restartOnlyKeys = []string{
	"server.addr", "admin.addr", "server.read_header_timeout", "server.read_timeout",
	"server.write_timeout", "server.idle_timeout", "server.max_header_bytes", "server.max_conns",
}

// restartOnly returns the keys of changed that apply only on restart.
func restartOnly(changed []string) []string {
	var out []string
	for _, k := range changed {
		if slices.Contains(restartOnlyKeys, k) {
			out = append(out, k)
		}
	}
	return out
}

// keepListenerSettings returns next with running's restart-only settings.
func keepListenerSettings(running, next httpapi.Config) httpapi.Config {
	next.Addr, next.AdminAddr = running.Addr, running.AdminAddr
	next.ReadHeaderTimeout, next.ReadTimeout = running.ReadHeaderTimeout, running.ReadTimeout
	next.WriteTimeout, next.IdleTimeout = running.WriteTimeout, running.IdleTimeout
	next.MaxHeaderBytes, next.MaxConns = running.MaxHeaderBytes, running.MaxConns
	return next
}

// reject undoes a reload that failed after build: what the build made goes,
// and the running state's entries are back in the registry (build replaces
// a service's store entry when its bounds change). The running state was
// never touched.
func (a *App) reject(old *state) {
	a.registry.restore(old)
	a.registry.prune(old)
	a.metrics.ConfigReloads.WithLabelValues("rejected").Inc()
}
