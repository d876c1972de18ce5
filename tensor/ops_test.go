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
		Add(y, x)
		for i := range y {
			if y[i] != 2*x[i] {
				t.Fatalf("n=%d Add[%d] = %g", n, i, y[i])
			}
		}
		copy(y, x)
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
		set := make([]float32, n)
		for i := range set {
			set[i] = float32(math.NaN())
		}
		GELUGradTo(set, g, x)
		for i, v := range x {
			if ws := float64(g[i]) * geluGradRef(float64(v)); math.Abs(float64(set[i])-ws) > 1e-6+1e-5*math.Abs(ws) {
				t.Fatalf("n=%d GELUGradTo(%g) = %g want %g", n, v, set[i], ws)
			}
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

func TestAdamStep(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 40; n++ {
		w, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := 0; i < n; i++ {
			w[i], g[i], m[i] = float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64()*0.1)
			v[i] = float32(r.Float64() * 0.01)
		}
		w0, m0, v0 := append([]float32(nil), w...), append([]float32(nil), m...), append([]float32(nil), v...)
		const b1, b2, eps, keep, step, ibc = 0.9, 0.95, 1e-8, 0.999, 0.003, 1.7
		AdamStep(w, g, m, v, b1, b2, eps, keep, step, ibc)
		for i := 0; i < n; i++ {
			gi := float64(g[i])
			mm := b1*float64(m0[i]) + (1-b1)*gi
			vv := b2*float64(v0[i]) + (1-b2)*gi*gi
			ww := float64(w0[i])*keep - step*mm/(math.Sqrt(vv*ibc)+eps)
			if math.Abs(float64(m[i])-mm) > 1e-6 || math.Abs(float64(v[i])-vv) > 1e-6*math.Max(vv, 0.01) || math.Abs(float64(w[i])-ww) > 1e-6 {
				t.Fatalf("n=%d i=%d: got w %g m %g v %g, want %g %g %g", n, i, w[i], m[i], v[i], ww, mm, vv)
			}
		}
	}
}

// LayerNorm row kernels against float64 references for every row length up
// to 40 (all vector/tail splits), accumulating and overwriting.
func TestLayerNormRow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 1; n <= 40; n++ {
		x, w, b, g := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := 0; i < n; i++ {
			x[i], w[i] = float32(r.NormFloat64()+3), float32(1+r.NormFloat64()*0.3)
			b[i], g[i] = float32(r.NormFloat64()*0.1), float32(r.NormFloat64())
		}
		y := make([]float32, n)
		mean, rstd := LayerNormRow(y, x, w, b, 1e-5)
		var m, v float64
		for _, xv := range x {
			m += float64(xv) / float64(n)
		}
		for _, xv := range x {
			v += (float64(xv) - m) * (float64(xv) - m) / float64(n)
		}
		rs := 1 / math.Sqrt(v+1e-5)
		if math.Abs(float64(mean)-m) > 1e-5 || math.Abs(float64(rstd)-rs) > 1e-4*rs {
			t.Fatalf("n=%d mean %g rstd %g want %g %g", n, mean, rstd, m, rs)
		}
		var sg, sgx float64
		xh := make([]float64, n)
		for i := range x {
			xh[i] = (float64(x[i]) - m) * rs
			if want := xh[i]*float64(w[i]) + float64(b[i]); math.Abs(float64(y[i])-want) > 1e-4 {
				t.Fatalf("n=%d y[%d] = %g want %g", n, i, y[i], want)
			}
			sg += float64(g[i]) * float64(w[i]) / float64(n)
			sgx += float64(g[i]) * float64(w[i]) * xh[i] / float64(n)
		}
		for _, acc := range []bool{false, true} {
			gx, dw, db := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range gx {
				gx[i], dw[i], db[i] = 0.5, 0.25, -0.25
				if !acc {
					gx[i] = float32(math.NaN())
				}
			}
			LayerNormRowGrad(gx, g, x, w, dw, db, mean, rstd, acc)
			for i := range x {
				want := rs * (float64(g[i])*float64(w[i]) - sg - xh[i]*sgx)
				if acc {
					want += 0.5
				}
				if math.Abs(float64(gx[i])-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("n=%d acc=%v gx[%d] = %g want %g", n, acc, i, gx[i], want)
				}
				if d := float64(dw[i]) - 0.25 - float64(g[i])*xh[i]; math.Abs(d) > 1e-4 {
					t.Fatalf("n=%d dw[%d] off by %g", n, i, d)
				}
				if d := float64(db[i]) + 0.25 - float64(g[i]); math.Abs(d) > 1e-6 {
					t.Fatalf("n=%d db[%d] off by %g", n, i, d)
				}
			}
		}
		LayerNormRowGrad(nil, g, x, w, make([]float32, n), make([]float32, n), mean, rstd, false)
	}
}
