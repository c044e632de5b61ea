package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagebff/pagebff/internal/auth"
	"github.com/pagebff/pagebff/internal/observability"
)

// authObserver counts token checks and key set fetches, its series
// resolved once (Verified runs for every page in auth.mode jwt).
type authObserver struct {
	results map[string]prometheus.Counter // by result
	fetched map[bool]prometheus.Counter   // by ok
}

func newAuthObserver(m *observability.Metrics) authObserver {
	o := authObserver{results: map[string]prometheus.Counter{}, fetched: map[bool]prometheus.Counter{
		true: m.JWKSRefreshes.WithLabelValues("ok"), false: m.JWKSRefreshes.WithLabelValues("failed"),
	}}
	for _, r := range []string{auth.ResultOK, auth.ResultMissing, auth.ResultInvalid, auth.ResultMismatch} {
		o.results[r] = m.AuthResults.WithLabelValues(r)
	}
	return o
}

func (o authObserver) Verified(result string) {
	if c, ok := o.results[result]; ok {
		c.Inc()
	}
}

func (o authObserver) JWKSRefresh(ok bool) { o.fetched[ok].Inc() }

// applyAuth puts cfg's authentication in front of the page routes: a new
// verifier when the settings differ from the running ones (with
// auth.jwks_url, fetched now: an unreachable key set refuses the start or
// the reload, and the running settings stay), none for auth.mode none.
// The verifier it replaces stops refreshing. Caller holds a.mu (or is New).
func (a *App) applyAuth(cfg auth.Config) error {
	if a.authCfg == cfg && (a.verifier != nil || cfg.Mode != auth.ModeJWT) {
		return nil
	}
	var v *auth.Verifier
	if cfg.Mode == auth.ModeJWT {
		var err error
		if v, err = auth.New(context.Background(), cfg, a.log, newAuthObserver(a.metrics)); err != nil {
			return err // it names the key: "auth.jwks_url: ..."
		}
		for _, w := range cfg.Warnings() {
			a.log.Warn(w)
		}
	}
	a.server.SetAuth(v, cfg.ForwardToken)
	if a.verifier != nil {
		a.verifier.Close()
	}
	a.verifier, a.authCfg = v, cfg
	return nil
}
