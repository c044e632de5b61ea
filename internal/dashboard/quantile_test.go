package dashboard

import (
	"math"
	"slices"
	"testing"
)

// bounds are a few of pagebff's latency buckets, in seconds.
var bounds = []float64{.01, .02, .05, .1, .5}

func hist(counts ...uint64) Histogram {
	return Histogram{Bounds: bounds, Counts: counts[:len(bounds)], Count: counts[len(bounds)]}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name string
		q    float64
		h    Histogram
		want float64
	}{
		{"no observations", 0.5, hist(0, 0, 0, 0, 0, 0), math.NaN()},
		{"no buckets", 0.5, Histogram{Count: 3}, math.NaN()},
		{"malformed", 0.5, Histogram{Bounds: bounds, Counts: []uint64{1}, Count: 1}, math.NaN()},
		{"first bucket starts at zero", 0.5, hist(10, 10, 10, 10, 10, 10), 0.005},
		{"interpolated within its bucket", 0.5, hist(0, 0, 100, 100, 100, 100), 0.02 + 0.03*0.5},
		{"p99 in the slow bucket", 0.99, hist(90, 90, 90, 90, 100, 100), 0.1 + 0.4*0.9},
		{"above the last bound is the last bound", 0.99, hist(50, 50, 50, 50, 50, 100), 0.5},
		{"q 1 is the top of the last bucket used", 1, hist(0, 4, 4, 4, 4, 4), 0.02},
		{"q out of range", 1.5, hist(1, 1, 1, 1, 1, 1), math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Quantile(tt.q, tt.h)
			if math.IsNaN(tt.want) != math.IsNaN(got) || !math.IsNaN(got) && math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

// TestWindowedQuantile is the point of Sub: an hour of fast pages and ten
// seconds of slow ones give a windowed p50 that is slow, where the
// cumulative one would still say fast.
func TestWindowedQuantile(t *testing.T) {
	then := hist(36000, 36000, 36000, 36000, 36000, 36000) // an hour at 10/s, all under 10ms
	now := hist(36000, 36000, 36000, 36000, 36100, 36100)  // then 100 between 100ms and 500ms
	if p := Quantile(0.5, now); p > 0.01 {
		t.Fatalf("cumulative p50 = %v, expected the hour of fast pages to dominate", p)
	}
	w := now.Sub(then)
	if w.Count != 100 {
		t.Fatalf("window count = %d, want 100", w.Count)
	}
	if p := Quantile(0.5, w); math.Abs(p-0.3) > 1e-9 {
		t.Errorf("windowed p50 = %v, want 0.3", p)
	}
}

func TestHistogramSub(t *testing.T) {
	tests := []struct {
		name      string
		now, then Histogram
		want      Histogram
	}{
		{"difference", hist(5, 7, 9, 9, 9, 10), hist(1, 2, 3, 3, 3, 3), hist(4, 5, 6, 6, 6, 7)},
		{"then empty (a service added since)", hist(5, 7, 9, 9, 9, 10), Histogram{}, hist(5, 7, 9, 9, 9, 10)},
		{"recreated series: then above now", hist(1, 1, 1, 1, 1, 1), hist(5, 7, 9, 9, 9, 10), hist(1, 1, 1, 1, 1, 1)},
		{"a bucket above now", hist(5, 5, 5, 5, 5, 5), hist(6, 6, 6, 6, 6, 5), hist(5, 5, 5, 5, 5, 5)},
		{"other bounds", hist(5, 7, 9, 9, 9, 10), Histogram{Bounds: []float64{1}, Counts: []uint64{1}, Count: 1}, hist(5, 7, 9, 9, 9, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.now.Sub(tt.then)
			if got.Count != tt.want.Count || !slices.Equal(got.Counts, tt.want.Counts) {
				t.Errorf("Sub = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		name      string
		now, then uint64
		dt, want  float64
	}{
		{"per second", 150, 100, 2, 25},
		{"no time", 150, 100, 0, 0},
		{"reset counter counts from zero", 10, 100, 1, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rate(tt.now, tt.then, tt.dt); got != tt.want {
				t.Errorf("rate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMillisJSON(t *testing.T) {
	tests := []struct {
		in   Millis
		want string
	}{
		{Millis(math.NaN()), "null"},
		{Millis(12.34567), "12.346"},
		{Millis(0), "0"},
	}
	for _, tt := range tests {
		b, err := tt.in.MarshalJSON()
		if err != nil || string(b) != tt.want {
			t.Errorf("MarshalJSON(%v) = %s, %v; want %s", float64(tt.in), b, err, tt.want)
		}
	}
}
