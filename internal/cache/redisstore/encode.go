package redisstore

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/pagebff/pagebff/internal/cache"
)

// The value format, version 1: a version byte, then StoredAt (Unix
// nanoseconds), Fresh, Revalidate and StaleFor (nanoseconds), each a
// big-endian int64, then the body as is. A change of format bumps both
// formatVersion and keyVersion, so instances of two versions sharing a
// Redis never read each other's values.
const (
	formatVersion byte = 1
	keyVersion         = "v1:"
	headerLen          = 1 + 4*8
)

var errBadValue = errors.New("redis value does not decode")

// encode returns e as a Redis value.
func encode(e cache.Entry) []byte {
	b := make([]byte, headerLen, headerLen+len(e.Body))
	b[0] = formatVersion
	binary.BigEndian.PutUint64(b[1:], uint64(e.StoredAt.UnixNano()))
	binary.BigEndian.PutUint64(b[9:], uint64(e.Fresh))
	binary.BigEndian.PutUint64(b[17:], uint64(e.Revalidate))
	binary.BigEndian.PutUint64(b[25:], uint64(e.StaleFor))
	return append(b, e.Body...)
}

// decode returns the entry encoded in b, which it keeps (the body is a
// slice of b). A value of another version, too short, or with a negative
// duration is refused.
func decode(b []byte) (cache.Entry, error) {
	if len(b) < headerLen || b[0] != formatVersion {
		return cache.Entry{}, errBadValue
	}
	e := cache.Entry{
		StoredAt:   time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))),
		Fresh:      time.Duration(binary.BigEndian.Uint64(b[9:])),
		Revalidate: time.Duration(binary.BigEndian.Uint64(b[17:])),
		StaleFor:   time.Duration(binary.BigEndian.Uint64(b[25:])),
		Body:       b[headerLen:],
	}
	if e.Fresh < 0 || e.Revalidate < 0 || e.StaleFor < 0 {
		return cache.Entry{}, errBadValue
	}
	return e, nil
}
