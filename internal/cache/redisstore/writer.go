package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/pagebff/pagebff/internal/cache"
)

// writeLoop is the writer goroutine: it sends what is queued in
// pipelines of up to maxBatch commands, one at a time, until Close; then
// it flushes the queue and returns.
func (s *Store) writeLoop() {
	defer close(s.done)
	batch := make([]op, 0, maxBatch)
	for {
		select {
		case <-s.quit:
			s.flush(batch)
			return
		case o := <-s.ops:
			batch = s.fill(append(batch[:0], o))
			s.write(context.Background(), batch)
			clear(batch) // let go of the bodies
		}
	}
}

// fill adds to batch what is queued, up to maxBatch, without waiting.
func (s *Store) fill(batch []op) []op {
	for len(batch) < maxBatch {
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// flush sends what is queued at Close, all of it within one Timeout;
// what is left then is dropped.
func (s *Store) flush(batch []op) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	for {
		batch = s.fill(batch[:0])
		if len(batch) == 0 {
			return
		}
		if ctx.Err() != nil {
			for _, o := range batch {
				s.drop(o)
			}
			continue
		}
		s.write(ctx, batch)
	}
}

// write sends batch through the breaker; while it is open, batch is
// dropped.
func (s *Store) write(ctx context.Context, batch []op) {
	_, err := s.cb.Execute(func() ([]byte, error) { return nil, s.pipeline(ctx, batch) })
	s.report()
	if isOpen(err) {
		for _, o := range batch {
			s.drop(o)
		}
	}
}

// pipeline sends batch as one pipeline bounded by Timeout (and ctx),
// counting each command written or dropped, and returns the pipeline's
// error. An entry that expired while queued is not sent.
func (s *Store) pipeline(ctx context.Context, batch []op) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	now := time.Now()
	pipe := s.client.Pipeline()
	sent := make([]op, 0, len(batch))
	for _, o := range batch {
		key := s.redisKey(o.key)
		if o.del {
			pipe.Del(ctx, key)
			sent = append(sent, o)
			continue
		}
		exp := o.entry.Expires()
		if !exp.After(now) {
			continue
		}
		// PXAT rounded up, so the key outlives the entry's use, not the
		// other way round.
		ms := (exp.UnixNano() + int64(time.Millisecond) - 1) / int64(time.Millisecond)
		pipe.Do(ctx, "set", key, encode(o.entry), "pxat", ms)
		sent = append(sent, o)
	}
	if len(sent) == 0 {
		return nil
	}
	start := time.Now()
	cmds, err := pipe.Exec(ctx)
	d := time.Since(start)
	if err != nil {
		err = s.failed("pipeline", err)
	}
	s.obs.Command("pipeline", d, err)
	for i, o := range sent {
		if i < len(cmds) && cmds[i].Err() == nil {
			s.written.Add(1)
		} else {
			s.drop(o)
		}
	}
	return err
}

// hashSeed is the seed of hashEntry, fixed for the process.
var hashSeed = maphash.MakeSeed()

// hashEntry hashes what makes a value different for the rate limit: the
// body and the lifetimes, not StoredAt (the same answer fetched again is
// not a change worth a write before WriteInterval).
func hashEntry(e cache.Entry) uint64 {
	var h maphash.Hash
	h.SetSeed(hashSeed)
	_, _ = h.Write(e.Body)
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], uint64(e.Fresh))
	binary.BigEndian.PutUint64(b[8:], uint64(e.Revalidate))
	binary.BigEndian.PutUint64(b[16:], uint64(e.StaleFor))
	_, _ = h.Write(b[:])
	return h.Sum64()
}

// go-redis logs on its own (a line per failed dial, for one) through a
// process-wide logger. The Store reports Redis's state itself, once per
// change, so go-redis's lines go to slog.Default at debug level, with
// every password any Store was given scrubbed.
func init() { redis.SetLogger(debugLogger{}) }

var (
	secretsMu  sync.Mutex
	allSecrets []string // guarded by secretsMu; only grows, one entry per distinct password form
)

func rememberSecrets(secrets []string) {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	for _, s := range secrets {
		if !containsString(allSecrets, s) {
			allSecrets = append(allSecrets, s)
		}
	}
}

type debugLogger struct{}

func (debugLogger) Printf(ctx context.Context, format string, v ...any) {
	if !slog.Default().Enabled(ctx, slog.LevelDebug) {
		return
	}
	secretsMu.Lock()
	secrets := allSecrets
	secretsMu.Unlock()
	slog.Default().DebugContext(ctx, scrub(fmt.Sprintf(format, v...), secrets), "component", "go-redis")
}

// isOpen reports whether err is the breaker's refusal.
func isOpen(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}
