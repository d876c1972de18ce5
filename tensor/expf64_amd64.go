//go:build amd64 && !purego

package tensor

// expSubF64AVX2 sets dst[i] = exp(src[i]-shift) for i < n (n a multiple of
// 4) as math.Exp computes it on a CPU with FMA, and returns nonzero if some
// argument lay outside [-708, 709] (or was NaN): those results are not
// math.Exp's and must be recomputed. c is expF64Const.
//
//go:noescape
func expSubF64AVX2(dst, src *float64, n int, shift float64, c *[16][4]uint64) int
