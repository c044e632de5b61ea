package dashboard

import (
	"slices"
	"testing"
)

func TestRing(t *testing.T) {
	r := newRing[int](3)
	if _, ok := r.back(0); ok || r.len() != 0 {
		t.Fatal("empty ring has values")
	}
	for i := 1; i <= 5; i++ {
		r.push(i)
	}
	if got := r.slice(); !slices.Equal(got, []int{3, 4, 5}) {
		t.Errorf("slice = %v, want the last three oldest first", got)
	}
	for k, want := range []int{5, 4, 3} {
		if v, ok := r.back(k); !ok || v != want {
			t.Errorf("back(%d) = %d, %v; want %d", k, v, ok, want)
		}
	}
	if _, ok := r.back(3); ok {
		t.Error("back(3) found a value beyond the capacity")
	}
	r.reset()
	if r.len() != 0 || len(r.slice()) != 0 {
		t.Error("reset kept values")
	}
	r.push(9)
	if v, _ := r.back(0); v != 9 || r.len() != 1 {
		t.Errorf("after reset and push: back(0) = %d, len %d", v, r.len())
	}
}
