package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagebff/pagebff/internal/cache/redisstore"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/observability"
)

// redisObserver turns the Redis tier's events into metrics, its series
// resolved once (Command runs on a page's goroutine after every Get).
type redisObserver struct {
	m        *observability.Metrics
	commands map[[2]string]prometheus.Observer // by command, result
}

func newRedisObserver(m *observability.Metrics) redisObserver {
	o := redisObserver{m: m, commands: map[[2]string]prometheus.Observer{}}
	for _, cmd := range []string{"get", "pipeline"} {
		for _, result := range []string{"ok", "error"} {
			o.commands[[2]string{cmd, result}] = m.RedisCommands.WithLabelValues(cmd, result)
		}
	}
	return o
}

func (o redisObserver) Command(name string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	if obs, ok := o.commands[[2]string{name, result}]; ok {
		obs.Observe(d.Seconds())
	}
}

func (o redisObserver) WriteDropped() { o.m.RedisWritesDropped.Inc() }

func (o redisObserver) BreakerState(state string) { o.m.RedisBreakerState.Set(breakerGauge(state)) }

// breakerGauge is bff_redis_breaker_state's value for a state.
func breakerGauge(state string) float64 {
	switch state {
	case "half-open":
		return 1
	case "open":
		return 2
	}
	return 0
}

// redis returns the shared tier for cfg's cache.redis_* settings, one per
// set of settings, shared by every service (their keys differ), or nil
// for the memory backend. A store whose settings a reload changed is
// closed by prune, after the swap.
func (a *App) redis(cfg config.Config) (*redisstore.Store, error) {
	if cfg.CacheBackend != "redis" {
		return nil, nil
	}
	r := a.registry
	if s, ok := r.redis[cfg.Redis]; ok {
		return s, nil
	}
	s, err := redisstore.New(redisstore.Config{
		URL: cfg.Redis.URL, Timeout: cfg.Redis.Timeout, WriteInterval: cfg.Redis.WriteInterval, Prefix: cfg.Redis.Prefix,
	}, a.log, newRedisObserver(a.metrics))
	if err != nil {
		return nil, err
	}
	r.redis[cfg.Redis] = s
	return s, nil
}

// redisView is the Redis tier in GET /admin/breakers.
type redisView struct {
	redisstore.Stats
	Timeout       string `json:"timeout"`
	WriteInterval string `json:"write_interval"`
	Prefix        string `json:"prefix"`
}

// sharedTier is the Redis store st's services use, or nil.
func (a *App) sharedTier(st *state) *redisstore.Store {
	for _, s := range st.services {
		if s.redis != nil {
			return s.redis
		}
	}
	return nil
}
