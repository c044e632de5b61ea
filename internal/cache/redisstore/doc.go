// Package redisstore is the shared cache tier: a cache.Store on Redis, so
// a fleet of pagebff instances shares cached answers (cache.backend:
// redis).
//
// It never stands in a page's way. Get is one GET bounded by
// Config.Timeout and by a circuit breaker of its own (three consecutive
// failures open it for two seconds, then one probe decides); while it is
// open, Get fails at once and the cache goes on with its memory tier. Put
// and Delete only enqueue: one writer goroutine sends what is queued in
// pipelines (SET … PXAT, DEL), each bounded by Config.Timeout, drops and
// counts what does not fit in the bounded queue or cannot be written, and
// writes a key at most once per Config.WriteInterval unless its value
// changed.
//
// Keys are Config.Prefix + "v1:" + the cache key ("service path"). Values
// are a compact binary encoding (see encode.go) carrying Entry.StoredAt,
// so ages agree across instances; a key expires in Redis when its entry
// is no use any more (cache.Entry.Expires). PXAT needs Redis 6.2 or later.
//
// The password of Config.URL never appears in an error, a log line or
// Stats: see Redact. go-redis's own log lines (it logs failed dials, for
// one) go to slog.Default at debug level, scrubbed of the passwords of
// every Store made: importing this package sets go-redis's process-wide
// logger.
package redisstore
