//go:build !amd64 || purego

package tensor

// opsAVX2 is false: the vector kernels run in Go on this platform.
const opsAVX2 = false

func opsExpSubSumAVX2(dst, src *float32, n int, shift float32, c *[17][8]float32) float32 {
	panic("unreachable")
}
func opsMaxAVX2(x *float32, n int) float32                                  { panic("unreachable") }
func opsScaleAVX2(x *float32, n int, s float32)                             { panic("unreachable") }
func opsGeluAVX2(dst, src *float32, n int, c *[17][8]float32)               { panic("unreachable") }
func opsGeluGradAVX2(gx, gr, x *float32, n int, acc int, c *[17][8]float32) { panic("unreachable") }

func opsAdamAVX2(w, gr, m, v *float32, n int, p *[8]float32) { panic("unreachable") }

func opsSumAVX2(x *float32, n int) float32                     { panic("unreachable") }
func opsSumSqDevAVX2(x *float32, n int, m float32) float32     { panic("unreachable") }
func opsLNRowAVX2(y, x, w, b *float32, n int, m, rstd float32) { panic("unreachable") }
func opsLNBackRowAVX2(gr, x, w, dw, db *float32, n int, m, rstd float32) (sg, sgx float32) {
	panic("unreachable")
}
func opsLNGradRowAVX2(gx, gr, x, w *float32, n int, m, rstd, sg, sgx float32, acc int) {
	panic("unreachable")
}

func opsAddAVX2(dst, src *float32, n int) { panic("unreachable") }

func expSubF64AVX2(dst, src *float64, n int, shift float64, c *[16][4]uint64) int {
	panic("unreachable")
}
