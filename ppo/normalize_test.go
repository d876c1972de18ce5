package ppo

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Merging batches must give the mean and population variance of all the
// data (up to the 1e-4 prior count).
func TestRunningMeanStd(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rms := NewRunningMeanStd(2)
	var all [][2]float64
	for b := 0; b < 7; b++ {
		n := 1 + b*3
		batch := make([]float64, 2*n)
		for i := 0; i < n; i++ {
			batch[2*i] = 3 + 2*r.NormFloat64()
			batch[2*i+1] = -1 + 0.5*r.NormFloat64()
			all = append(all, [2]float64{batch[2*i], batch[2*i+1]})
		}
		rms.Update(batch)
	}
	for j := 0; j < 2; j++ {
		var m, v float64
		for _, x := range all {
			m += x[j]
		}
		m /= float64(len(all))
		for _, x := range all {
			v += (x[j] - m) * (x[j] - m)
		}
		v /= float64(len(all))
		near(t, "mean", rms.Mean[j], m, 1e-4)
		near(t, "var", rms.Var[j], v, 1e-3)
	}
	if rms.Count < float64(len(all)) || rms.Count > float64(len(all))+1e-3 {
		t.Fatalf("count %g for %d vectors", rms.Count, len(all))
	}
	dst := make([]float32, 4)
	rms.Normalize([]float64{rms.Mean[0], rms.Mean[1], 1e9, -1e9}, dst, 5)
	if dst[0] != 0 || dst[1] != 0 || dst[2] != 5 || dst[3] != -5 {
		t.Fatalf("normalised %v, want [0 0 5 -5]", dst)
	}
	if err := rms.check(2); err != nil {
		t.Fatal(err)
	}
	rms.Var[1] = math.NaN()
	if rms.check(2) == nil || rms.check(3) == nil {
		t.Fatal("check accepted bad statistics")
	}
}
