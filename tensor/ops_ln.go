package tensor

import "math"

// LayerNormRow normalises one row: y = (x-mean)/√(var+eps)·w + b with the
// biased variance, and returns mean and rstd = 1/√(var+eps). All slices
// have the row's length.
func LayerNormRow(y, x, w, b []float32, eps float32) (mean, rstd float32) {
	n := len(x)
	if len(y) != n || len(w) != n || len(b) != n {
		panic("tensor: LayerNormRow length mismatch")
	}
	if n == 0 {
		return 0, 0
	}
	nv := 0
	if opsAVX2 {
		nv = n &^ 7
	}
	var s float32
	if nv > 0 {
		s = opsSumAVX2(&x[0], nv)
	}
	for _, v := range x[nv:] {
		s += v
	}
	mean = s / float32(n)
	var ss float32
	if nv > 0 {
		ss = opsSumSqDevAVX2(&x[0], nv, mean)
	}
	for _, v := range x[nv:] {
		ss += (v - mean) * (v - mean)
	}
	rstd = float32(1 / math.Sqrt(float64(ss/float32(n)+eps)))
	if nv > 0 {
		opsLNRowAVX2(&y[0], &x[0], &w[0], &b[0], nv, mean, rstd)
	}
	for i := nv; i < n; i++ {
		y[i] = (x[i]-mean)*rstd*w[i] + b[i]
	}
	return mean, rstd
}

// LayerNormRowGrad is the backward pass of LayerNormRow for one row given
// the output gradient g: it adds g·x̂ to dw and g to db, and sets (or, with
// acc, adds to) gx = rstd·(g·w - mean(g·w) - x̂·mean(g·w·x̂)), where
// x̂ = (x-mean)·rstd. gx may be nil when x needs no gradient.
func LayerNormRowGrad(gx, g, x, w, dw, db []float32, mean, rstd float32, acc bool) {
	n := len(x)
	if len(g) != n || len(w) != n || len(dw) != n || len(db) != n || (gx != nil && len(gx) != n) {
		panic("tensor: LayerNormRowGrad length mismatch")
	}
	if n == 0 {
		return
	}
	nv := 0
	if opsAVX2 {
		nv = n &^ 7
	}
	var sg, sgx float32
	if nv > 0 {
		sg, sgx = opsLNBackRowAVX2(&g[0], &x[0], &w[0], &dw[0], &db[0], nv, mean, rstd)
	}
	for i := nv; i < n; i++ {
		xh := (x[i] - mean) * rstd
		gw := g[i] * w[i]
		sg += gw
		sgx += gw * xh
		dw[i] += g[i] * xh
		db[i] += g[i]
	}
	if gx == nil {
		return
	}
	sg /= float32(n)
	sgx /= float32(n)
	if nv > 0 {
		flag := 0
		if acc {
			flag = 1
		}
		opsLNGradRowAVX2(&gx[0], &g[0], &x[0], &w[0], nv, mean, rstd, sg, sgx, flag)
	}
	for i := nv; i < n; i++ {
		xh := (x[i] - mean) * rstd
		d := rstd * (g[i]*w[i] - sg - xh*sgx)
		if acc {
			gx[i] += d
		} else {
			gx[i] = d
		}
	}
}
