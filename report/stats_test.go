package report

import (
	"math"
	"testing"
)

func TestSpread(t *testing.T) {
	for _, c := range []struct {
		x         []float64
		mean, std float64
	}{
		{[]float64{2}, 2, 0},
		{[]float64{1, 3}, 2, 1},
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, 2},
		{[]float64{-1, -1, -1}, -1, 0},
	} {
		m, s := Spread(c.x)
		if math.Abs(m-c.mean) > 1e-12 || math.Abs(s-c.std) > 1e-12 {
			t.Errorf("Spread(%v) = %v, %v; want %v, %v", c.x, m, s, c.mean, c.std)
		}
	}
	if m, s := Spread(nil); !math.IsNaN(m) || !math.IsNaN(s) {
		t.Errorf("Spread(nil) = %v, %v; want NaN, NaN", m, s)
	}
}
