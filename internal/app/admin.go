package app

import (
	"time"

	"github.com/pagebff/pagebff/internal/cache"
	"github.com/pagebff/pagebff/internal/httpapi"
	"github.com/pagebff/pagebff/internal/resilience"
)

// admin is the App's view for /admin/*.
type admin struct{ a *App }

var _ httpapi.Admin = admin{}

// breakerView is one service in GET /admin/breakers.
type breakerView struct {
	State    string            `json:"state"`
	Forced   string            `json:"forced"`
	Counts   resilience.Counts `json:"counts"`
	Settings breakerSettings   `json:"settings"`
	Hedge    hedgeView         `json:"hedge"`
	Retry    retryView         `json:"retry"`
	Budget   budgetView        `json:"budget"`
	Cache    cacheView         `json:"cache"`
	Totals   CounterValues     `json:"totals"`
}

type breakerSettings struct {
	ConsecutiveFailures uint32  `json:"consecutive_failures"`
	FailureRatio        float64 `json:"failure_ratio"`
	MinRequests         uint32  `json:"min_requests"`
	Interval            string  `json:"interval"`
	OpenTimeout         string  `json:"open_timeout"`
	HalfOpenRequests    uint32  `json:"half_open_requests"`
}

type hedgeView struct {
	Enabled      bool   `json:"enabled"`
	Delay        string `json:"delay"`         // configured: "auto" or a duration
	CurrentDelay string `json:"current_delay"` // what the next call would wait
}

type retryView struct {
	MaxAttempts int    `json:"max_attempts"`
	Backoff     string `json:"backoff"`
}

type budgetView struct {
	Percent      float64 `json:"percent"`
	MinPerWindow int     `json:"min_per_window"`
}

type cacheView struct {
	Enabled    bool   `json:"enabled"`
	StaleTTL   string `json:"stale_ttl"`
	FreshTTL   string `json:"fresh_ttl"`
	Revalidate string `json:"revalidate"`
	MaxEntries int    `json:"max_entries"`
	MaxBytes   int64  `json:"max_bytes"`
	cache.Usage
}

// Breakers returns {"services": {"<name>": breakerView, ...}}.
func (ad admin) Breakers() any {
	st := ad.a.state.Load()
	out := make(map[string]breakerView, len(st.services))
	for _, s := range st.services {
		b, c := s.cfg.Breaker, s.cfg.Cache
		v := breakerView{
			State:  s.breaker.State().String(),
			Forced: s.breaker.Forced().String(),
			Counts: s.breaker.Counts(),
			Settings: breakerSettings{
				ConsecutiveFailures: b.ConsecutiveFailures, FailureRatio: b.FailureRatio, MinRequests: b.MinRequests,
				Interval: b.Interval.String(), OpenTimeout: b.OpenTimeout.String(), HalfOpenRequests: b.HalfOpenRequests,
			},
			Hedge:  hedgeView{Enabled: s.cfg.Hedge.Enabled, Delay: "auto"},
			Retry:  retryView{MaxAttempts: s.cfg.Retry.MaxAttempts, Backoff: s.cfg.Retry.Backoff.String()},
			Budget: budgetView{Percent: s.cfg.Budget.Percent, MinPerWindow: s.cfg.Budget.MinPerWindow},
			Cache: cacheView{Enabled: c.Enabled, StaleTTL: c.StaleTTL.String(), FreshTTL: c.FreshTTL.String(),
				Revalidate: c.Revalidate.String(), MaxEntries: c.MaxEntries, MaxBytes: c.MaxBytes},
			Totals: s.count.load(),
		}
		if d := s.cfg.Hedge.Delay; d > 0 {
			v.Hedge.Delay = d.String()
		}
		if s.hedger != nil {
			v.Hedge.CurrentDelay = s.hedger.Delay().Round(time.Microsecond).String()
		}
		if s.store != nil {
			v.Cache.Usage = s.store.Usage()
		}
		out[s.cfg.Name] = v
	}
	view := map[string]any{"services": out}
	if rs := ad.a.sharedTier(st); rs != nil {
		c := st.cfg.Redis
		view["redis"] = redisView{Stats: rs.Stats(), Timeout: c.Timeout.String(),
			WriteInterval: c.WriteInterval.String(), Prefix: c.Prefix}
	}
	return view
}

// BreakerAction forces a breaker open or closed, or resets it.
func (ad admin) BreakerAction(service, action string) error {
	s := ad.a.state.Load().service(service)
	if s == nil {
		return httpapi.ErrUnknownService
	}
	switch action {
	case "open":
		s.breaker.SetForce(resilience.ForceOpen)
	case "closed":
		s.breaker.SetForce(resilience.ForceClosed)
	case "reset":
		s.breaker.Reset()
	default:
		return httpapi.ErrUnknownAction
	}
	return nil
}
