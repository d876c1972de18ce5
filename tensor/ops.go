package tensor

import "math"

// Vector kernels over float32 slices. On amd64 with AVX2 and FMA they run
// eight lanes at a time in assembly (ops_amd64.s); elsewhere, and for the
// tails, in Go. The assembly exp is the same polynomial as Exp.

// opsConst is the constant table the assembly reads: each entry 8 copies.
var opsConst = func() (t [17][8]float32) {
	vals := [17]float32{
		88.3, -87, 1.44269504088896341, 0.693359375, -2.12194440e-4,
		1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
		1, math.Float32frombits(127), // 127 as an int32 lane
		geluK, -2 * geluC, 3 * geluK * geluC, geluC,
	}
	for i, v := range vals {
		for j := range t[i] {
			t[i][j] = v
		}
	}
	return t
}()

const (
	geluC = 0.7978845608028654 // √(2/π)
	geluK = 0.044715
)

// ExpSub sets dst[i] = e**(src[i]-shift) and returns the sum of dst.
// dst and src have equal length and may be the same slice.
func ExpSub(dst, src []float32, shift float32) float32 {
	if len(dst) != len(src) {
		panic("tensor: ExpSub length mismatch")
	}
	var s float32
	n := 0
	if opsAVX2 && len(src) >= 8 {
		n = len(src) &^ 7
		s = opsExpSubSumAVX2(&dst[0], &src[0], n, shift, &opsConst)
	}
	for i := n; i < len(src); i++ {
		e := Exp(src[i] - shift)
		dst[i] = e
		s += e
	}
	return s
}

// MaxOf returns the largest element of x (-Inf for an empty slice).
func MaxOf(x []float32) float32 {
	m := float32(math.Inf(-1))
	n := 0
	if opsAVX2 && len(x) >= 8 {
		n = len(x) &^ 7
		m = opsMaxAVX2(&x[0], n)
	}
	for _, v := range x[n:] {
		m = max(m, v)
	}
	return m
}

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) {
	n := 0
	if opsAVX2 && len(x) >= 8 {
		n = len(x) &^ 7
		opsScaleAVX2(&x[0], n, s)
	}
	for i := n; i < len(x); i++ {
		x[i] *= s
	}
}

// GELU sets dst[i] = 0.5·x·(1+tanh(√(2/π)·(x+0.044715·x³))) for x = src[i],
// computed as x·σ(2u), which is the same function.
func GELU(dst, src []float32) {
	if len(dst) != len(src) {
		panic("tensor: GELU length mismatch")
	}
	n := 0
	if opsAVX2 && len(src) >= 8 {
		n = len(src) &^ 7
		opsGeluAVX2(&dst[0], &src[0], n, &opsConst)
	}
	for i := n; i < len(src); i++ {
		x := src[i]
		dst[i] = x / (1 + Exp(-2*geluC*x*(1+geluK*x*x)))
	}
}

// GELUGrad accumulates gx[i] += g[i]·GELU'(x[i]) for the tanh approximation.
func GELUGrad(gx, g, x []float32) { geluGrad(gx, g, x, true) }

// GELUGradTo sets gx[i] = g[i]·GELU'(x[i]); gx's old contents are ignored.
func GELUGradTo(gx, g, x []float32) { geluGrad(gx, g, x, false) }

func geluGrad(gx, g, x []float32, acc bool) {
	if len(gx) != len(g) || len(g) != len(x) {
		panic("tensor: GELUGrad length mismatch")
	}
	n := 0
	if opsAVX2 && len(x) >= 8 {
		n = len(x) &^ 7
		flag := 0
		if acc {
			flag = 1
		}
		opsGeluGradAVX2(&gx[0], &g[0], &x[0], n, flag, &opsConst)
	}
	for i := n; i < len(x); i++ {
		v := x[i]
		s := 1 / (1 + Exp(-2*geluC*v*(1+geluK*v*v)))
		d := s + 2*v*s*(1-s)*(geluC+3*geluK*geluC*v*v)
		if acc {
			gx[i] += g[i] * d
		} else {
			gx[i] = g[i] * d
		}
	}
}

// AdamStep applies one Adam update in place over equal-length slices:
//
//	m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²
//	w ← w·keep - step·m / (√(v·invBC2) + eps)
//
// where keep = 1 - lr·weightDecay, step = lr/(1-β1ᵗ), invBC2 = 1/(1-β2ᵗ).
func AdamStep(w, g, m, v []float32, beta1, beta2, eps, keep, step, invBC2 float32) {
	if len(g) != len(w) || len(m) != len(w) || len(v) != len(w) {
		panic("tensor: AdamStep length mismatch")
	}
	n := 0
	if opsAVX2 && len(w) >= 8 {
		n = len(w) &^ 7
		p := [8]float32{beta1, 1 - beta1, beta2, 1 - beta2, invBC2, eps, keep, step}
		opsAdamAVX2(&w[0], &g[0], &m[0], &v[0], n, &p)
	}
	for j := n; j < len(w); j++ {
		gj := g[j]
		mj := beta1*m[j] + (1-beta1)*gj
		vj := beta2*v[j] + (1-beta2)*gj*gj
		m[j], v[j] = mj, vj
		den := float32(math.Sqrt(float64(vj*invBC2))) + eps
		w[j] = w[j]*keep - step*mj/den
	}
}

// Add computes dst[i] += src[i] over equal-length slices.
func Add(dst, src []float32) {
	if len(dst) != len(src) {
		panic("tensor: Add length mismatch")
	}
	n := 0
	if opsAVX2 && len(dst) >= 8 {
		n = len(dst) &^ 7
		opsAddAVX2(&dst[0], &src[0], n)
	}
	for i := n; i < len(dst); i++ {
		dst[i] += src[i]
	}
}
