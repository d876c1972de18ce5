package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func geluRef(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(geluC*(x+geluK*x*x*x)))
}

func geluGradRef(x float64) float64 {
	t := math.Tanh(geluC * (x + geluK*x*x*x))
	return 0.5*(1+t) + 0.5*x*(1-t*t)*geluC*(1+3*geluK*x*x)
}

// Vector kernels against float64 references on every length from 0 to 40
// (all tail cases) and on values spanning the saturated ranges.
func TestVectorKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 40; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 6)
		}
		if n > 3 {
			x[1], x[2] = -95, 30
		}
		dst := make([]float32, n)
		shift := float32(2.5)
		s := ExpSub(dst, x, shift)
		var want float64
		for i, v := range x {
			e := math.Exp(float64(v - shift))
			if float64(v-shift) < -87 {
				e = 0
			}
			want += e
			if math.Abs(float64(dst[i])-e) > 1e-6*e {
				t.Fatalf("n=%d ExpSub[%d](%g) = %g want %g", n, i, v, dst[i], e)
			}
		}
		if math.Abs(float64(s)-want) > 1e-5*want {
			t.Fatalf("n=%d ExpSub sum %g want %g", n, s, want)
		}
		m := math.Inf(-1)
		for _, v := range x {
			m = math.Max(m, float64(v))
		}
		if got := MaxOf(x); float64(got) != m {
			t.Fatalf("n=%d MaxOf = %g want %g", n, got, m)
		}
		y := append([]float32(nil), x...)
		Scale(y, -0.5)
		for i := range y {
			if y[i] != -0.5*x[i] {
				t.Fatalf("n=%d Scale[%d] = %g", n, i, y[i])
			}
		}
		GELU(dst, x)
		g := make([]float32, n)
		gx := make([]float32, n)
		for i := range g {
			g[i] = float32(r.NormFloat64())
			gx[i] = 0.25
		}
		GELUGrad(gx, g, x)
		for i, v := range x {
			w := geluRef(float64(v))
			if math.Abs(float64(dst[i])-w) > 1e-6+1e-6*math.Abs(w) {
				t.Fatalf("n=%d GELU(%g) = %g want %g", n, v, dst[i], w)
			}
			wg := 0.25 + float64(g[i])*geluGradRef(float64(v))
			if math.Abs(float64(gx[i])-wg) > 1e-6+1e-5*math.Abs(wg) {
				t.Fatalf("n=%d GELUGrad(%g) = %g want %g", n, v, gx[i], wg)
			}
		}
	}
}

func BenchmarkExpSub(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%100)/10 - 5
	}
	b.SetBytes(4 * 4096)
	for i := 0; i < b.N; i++ {
		ExpSub(x[:], x[:], 0.001)
	}
}

func BenchmarkGELU(b *testing.B) {
	x := make([]float32, 4096)
	y := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%100)/10 - 5
	}
	b.SetBytes(4 * 4096)
	for i := 0; i < b.N; i++ {
		GELU(y, x)
	}
}
