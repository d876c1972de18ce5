package gpt

import (
	"math"
	"math/rand/v2"
	"testing"
)

// drawFloat64Max is draw's full-distribution path as it was written with the
// maximum taken over the float64 logits; draw must match it bit for bit, so
// that seeded samples do not change.
func drawFloat64Max(logits []float32, temp float64, r *rand.Rand, z, e []float64) (int, float32) {
	z, e = z[:len(logits)], e[:len(logits)]
	inv := 1 / temp
	zmax := math.Inf(-1)
	for i, v := range logits {
		z[i] = float64(v) * inv
		zmax = max(zmax, z[i])
	}
	var sum float64
	for i, v := range z {
		e[i] = math.Exp(v - zmax)
		sum += e[i]
	}
	u := r.Float64() * sum
	pick := len(z) - 1
	for i, ei := range e {
		u -= ei
		if u < 0 {
			pick = i
			break
		}
	}
	return pick, float32(z[pick] - zmax - math.Log(sum))
}

func TestDrawMatchesFloat64Max(t *testing.T) {
	src := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		v := []int{1, 7, 8, 9, 4096}[trial%5]
		logits := make([]float32, v)
		for i := range logits {
			logits[i] = float32(src.NormFloat64() * 4)
			if src.IntN(50) == 0 {
				logits[i] = float32(math.Inf(-1)) // a masked token
			}
		}
		logits[src.IntN(v)] = float32(src.NormFloat64()*4 + 3) // some finite maximum
		temp := []float64{1, 0.7, 1.3, 1e-3}[trial%4]
		s := newSampler(v)
		seed := uint64(trial)
		gotR, wantR := rand.New(rand.NewPCG(seed, 0)), rand.New(rand.NewPCG(seed, 0))
		for range 20 {
			gp, gl := s.draw(logits, SampleConfig{Temperature: temp}, gotR)
			wp, wl := drawFloat64Max(logits, temp, wantR, make([]float64, v), make([]float64, v))
			if gp != wp || math.Float32bits(gl) != math.Float32bits(wl) {
				t.Fatalf("trial %d (V %d, T %g): draw = %d, %v; float64 max = %d, %v", trial, v, temp, gp, gl, wp, wl)
			}
		}
	}
}

func BenchmarkDraw(b *testing.B) {
	src := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 4096)
	for i := range logits {
		logits[i] = float32(src.NormFloat64() * 4)
	}
	s := newSampler(len(logits))
	r := rand.New(rand.NewPCG(3, 4))
	for b.Loop() {
		s.draw(logits, SampleConfig{Temperature: 1}, r)
	}
}

func BenchmarkDrawFloat64Max(b *testing.B) {
	src := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 4096)
	for i := range logits {
		logits[i] = float32(src.NormFloat64() * 4)
	}
	r := rand.New(rand.NewPCG(3, 4))
	z, e := make([]float64, len(logits)), make([]float64, len(logits))
	for b.Loop() {
		drawFloat64Max(logits, 1, r, z, e)
	}
}
