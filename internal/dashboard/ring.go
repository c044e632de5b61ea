package dashboard

// ring keeps the last cap values pushed, oldest first. It is not safe for
// concurrent use.
type ring[T any] struct {
	buf   []T
	start int // index of the oldest value
	n     int
}

func newRing[T any](capacity int) ring[T] { return ring[T]{buf: make([]T, capacity)} }

// push adds v, dropping the oldest value when full.
func (r *ring[T]) push(v T) {
	if len(r.buf) == 0 {
		return
	}
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = v
		r.n++
		return
	}
	r.buf[r.start] = v
	r.start = (r.start + 1) % len(r.buf)
}

// len returns how many values are kept.
func (r *ring[T]) len() int { return r.n }

// back returns the value k pushes before the newest (back(0) is the
// newest); ok is false when fewer are kept.
func (r *ring[T]) back(k int) (v T, ok bool) {
	if k < 0 || k >= r.n {
		return v, false
	}
	return r.buf[(r.start+r.n-1-k)%len(r.buf)], true
}

// slice returns a copy of the values, oldest first.
func (r *ring[T]) slice() []T {
	out := make([]T, r.n)
	for i := range out {
		out[i] = r.buf[(r.start+i)%len(r.buf)]
	}
	return out
}

// reset drops every value.
func (r *ring[T]) reset() {
	clear(r.buf)
	r.start, r.n = 0, 0
}
