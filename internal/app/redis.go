package app

import (
	"time"

	"github.com/pagebff/pagebff/internal/cache/redisstore"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/observability"
)

// redisObserver turns the Redis tier's events into metrics.
type redisObserver struct{ m *observability.Metrics }

func (o redisObserver) Command(name string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	o.m.RedisCommands.WithLabelValues(name, result).Observe(d.Seconds())
}

func (o redisObserver) WriteDropped() { o.m.RedisWritesDropped.Inc() }

func (o redisObserver) BreakerState(state string) {
	v := 0.0
	switch state {
	case "half-open":
		v = 1
	case "open":
		v = 2
	}
	o.m.RedisBreakerState.Set(v)
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
	}, a.log, redisObserver{a.metrics})
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
