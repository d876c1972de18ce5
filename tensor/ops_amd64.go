//go:build amd64 && !purego

package tensor

import "golang.org/x/sys/cpu"

// opsAVX2 reports whether the vector kernels of ops_amd64.s can run.
var opsAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// opsExpSubSumAVX2 sets dst[i] = exp(src[i]-shift) for i < n (n a multiple
// of 8) and returns their sum. c is opsConst.
//
//go:noescape
func opsExpSubSumAVX2(dst, src *float32, n int, shift float32, c *[17][8]float32) float32

// opsMaxAVX2 returns the maximum of x[0:n], n a positive multiple of 8.
//
//go:noescape
func opsMaxAVX2(x *float32, n int) float32

// opsScaleAVX2 multiplies x[0:n] by s, n a multiple of 8.
//
//go:noescape
func opsScaleAVX2(x *float32, n int, s float32)

// opsGeluAVX2 sets dst[i] = GELU(src[i]) for i < n, n a multiple of 8.
//
//go:noescape
func opsGeluAVX2(dst, src *float32, n int, c *[17][8]float32)

// opsGeluGradAVX2 sets gx[i] = gr[i]·GELU'(x[i]) for i < n, n a multiple
// of 8, adding to gx's old value when acc != 0.
//
//go:noescape
func opsGeluGradAVX2(gx, gr, x *float32, n int, acc int, c *[17][8]float32)

// opsAdamAVX2 is AdamStep on the first n elements (n a multiple of 8);
// p holds β1, 1-β1, β2, 1-β2, invBC2, eps, keep, step.
//
//go:noescape
func opsAdamAVX2(w, gr, m, v *float32, n int, p *[8]float32)

// LayerNorm row kernels (n a multiple of 8); see LayerNormRow and
// LayerNormRowGrad for the arithmetic.

//go:noescape
func opsSumAVX2(x *float32, n int) float32

//go:noescape
func opsSumSqDevAVX2(x *float32, n int, m float32) float32

//go:noescape
func opsLNRowAVX2(y, x, w, b *float32, n int, m, rstd float32)

//go:noescape
func opsLNBackRowAVX2(gr, x, w, dw, db *float32, n int, m, rstd float32) (sg, sgx float32)

//go:noescape
func opsLNGradRowAVX2(gx, gr, x, w *float32, n int, m, rstd, sg, sgx float32, acc int)

// opsAddAVX2 adds src[0:n] into dst[0:n], n a multiple of 8.
//
//go:noescape
func opsAddAVX2(dst, src *float32, n int)
