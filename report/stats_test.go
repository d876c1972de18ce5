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

func TestSmooth(t *testing.T) {
	s := Series{Name: "r", X: []float64{0, 1, 2, 3, 4}, Y: []float64{0, 10, 0, 10, 0},
		Band: &Band{Lower: []float64{-1, 9, -1, 9, -1}, Upper: []float64{1, 11, 1, 11, 1}}}
	got := Smooth(s, 3)
	want := []float64{5, 10.0 / 3, 20.0 / 3, 10.0 / 3, 5}
	for i := range want {
		if math.Abs(got.Y[i]-want[i]) > 1e-12 {
			t.Fatalf("Smooth Y = %v, want %v", got.Y, want)
		}
		if math.Abs(got.Band.Upper[i]-got.Band.Lower[i]-2) > 1e-12 {
			t.Fatalf("band width at %d: %v..%v", i, got.Band.Lower[i], got.Band.Upper[i])
		}
	}
	if s.Y[1] != 10 || len(got.X) != 5 || got.Name != "r" {
		t.Errorf("Smooth changed its input or lost X/name: %v %v %q", s.Y, got.X, got.Name)
	}
	if same := Smooth(s, 1); &same.Y[0] != &s.Y[0] {
		t.Error("window 1 should return the series unchanged")
	}
	// NaN points are skipped, not spread.
	n := Smooth(Series{X: []float64{0, 1, 2}, Y: []float64{1, math.NaN(), 3}}, 3)
	if n.Y[1] != 2 || n.Y[0] != 1 {
		t.Errorf("NaN handling: %v", n.Y)
	}
}
