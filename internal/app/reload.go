package app

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/pagebff/pagebff/internal/config"
)

// ErrUnchanged is returned by Reload when the new configuration equals the
// running one.
var ErrUnchanged = errors.New("configuration unchanged")

// Reload swaps in cfg, which the caller has loaded into a fresh struct and
// validated. Services whose settings did not change keep their running
// pipeline — breaker state, stale cache, connections; the others are
// rebuilt. The swap is atomic: a page renders entirely with the old or the
// new configuration. server.addr cannot change without a restart and is
// kept. It returns the changed keys.
func (a *App) Reload(cfg config.Config) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.state.Load()
	if cfg.Server.Addr != old.cfg.Server.Addr {
		a.log.Warn("config reload: server.addr changes only on restart", slog.String("running", old.cfg.Server.Addr), slog.String("new", cfg.Server.Addr))
		cfg.Server.Addr = old.cfg.Server.Addr
	}
	changed := config.Diff(old.cfg, cfg)
	if len(changed) == 0 {
		a.metrics.ConfigReloads.WithLabelValues("unchanged").Inc()
		return nil, ErrUnchanged
	}
	st, err := a.build(cfg, old)
	if err != nil {
		a.metrics.ConfigReloads.WithLabelValues("rejected").Inc()
		return nil, fmt.Errorf("build services: %w", err)
	}
	a.server.Configure(cfg.Server)
	a.setLevel(cfg.LogLevel)
	a.state.Store(st)
	// Retired connection pools: idle connections go now, calls in flight
	// finish.
	for _, s := range old.services {
		if s2 := st.service(s.cfg.Name); s2 != s {
			retire(s, s2)
		}
	}
	a.metrics.ConfigReloads.WithLabelValues("applied").Inc()
	return changed, nil
}

// RecordRejected counts a reload refused before it reached the app (the
// file did not parse or validate).
func (a *App) RecordRejected() { a.metrics.ConfigReloads.WithLabelValues("rejected").Inc() }
