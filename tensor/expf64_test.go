package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestExpSubF64MatchesMathExp(t *testing.T) {
	if opsAVX2 && !expF64Vector {
		t.Fatal("the vector exp kernel failed its check against math.Exp on this CPU")
	}
	t.Logf("vector kernel: %v", expF64Vector)
	r := rand.New(rand.NewPCG(7, 8))
	special := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(),
		expF64Lo, expF64Hi, math.Nextafter(expF64Lo, -1000), math.Nextafter(expF64Hi, 1000),
		-745.2, -745.1, -740, -720, 709.7, 709.79, 710, 800, -1e300, 1e300, 5e-324, -5e-324,
		math.Ln2 / 2, -math.Ln2 / 2, 0.5 * math.Log2E}
	var src []float64
	for range 200000 {
		var x float64
		switch r.IntN(4) {
		case 0: // where sampling spends its time: logits minus their maximum
			x = -40 * r.Float64()
		case 1:
			x = (r.Float64()*2 - 1) * 1e-6
		case 2:
			x = (r.Float64()*2 - 1) * 750
		default:
			x = math.Float64frombits(r.Uint64()) // any bit pattern
		}
		src = append(src, x)
	}
	src = append(src, special...)
	for _, shift := range []float64{0, 3.25, -17.5} {
		dst := make([]float64, len(src))
		ExpSubF64(dst, src, shift)
		for i, v := range src {
			want := math.Exp(v - shift)
			if math.Float64bits(dst[i]) != math.Float64bits(want) && !(math.IsNaN(dst[i]) && math.IsNaN(want)) {
				t.Fatalf("shift %g: ExpSubF64 at %v (%#x) = %v (%#x), math.Exp %v (%#x)",
					shift, v, math.Float64bits(v), dst[i], math.Float64bits(dst[i]), want, math.Float64bits(want))
			}
		}
	}
	// every length, so that each tail size meets the vector part
	for n := range 13 {
		s, d := src[:n], make([]float64, n+1)
		d[n] = 42
		ExpSubF64(d, s, 1)
		for i := range n {
			if want := math.Exp(s[i] - 1); math.Float64bits(d[i]) != math.Float64bits(want) && !math.IsNaN(want) {
				t.Fatalf("length %d, element %d: %v, want %v", n, i, d[i], want)
			}
		}
		if d[n] != 42 {
			t.Fatalf("length %d: wrote past the end", n)
		}
	}
}

func BenchmarkExpSubF64(b *testing.B) {
	src, dst := make([]float64, 4096), make([]float64, 4096)
	for i := range src {
		src[i] = -20 * float64(i%97) / 97
	}
	b.Run("vector", func(b *testing.B) {
		for b.Loop() {
			ExpSubF64(dst, src, 0.5)
		}
	})
	b.Run("math.Exp", func(b *testing.B) {
		for b.Loop() {
			for i, v := range src {
				dst[i] = math.Exp(v - 0.5)
			}
		}
	})
}
