//go:build amd64 && !purego

package tensor

// gemvN64 computes y[0:64] = alpha * Σ_{p<k} x[p]·W[p, 0:64] + beta*y[0:64]
// with W[p, j] = w[p*ldw + j] (strides in floats) and x contiguous: 64
// columns of a row vector times a row-major matrix. beta == 0 never reads y.
// Implemented in gemv_amd64.s with AVX2 and FMA.
//
//go:noescape
func gemvN64(k int, x, w *float32, ldw int, y *float32, alpha, beta float32)

// gemvN8 is gemvN64 for 8 columns. Implemented in gemv_amd64.s.
//
//go:noescape
func gemvN8(k int, x, w *float32, ldw int, y *float32, alpha, beta float32)

// gemvT4 computes four dot products out[r] = Σ_{p<k} x[p]·w[r*ldw + p],
// r < 4, for k a multiple of 8: a row vector times four rows of a
// row-major matrix read as its transpose. Implemented in gemv_amd64.s.
//
//go:noescape
func gemvT4(k int, x, w *float32, ldw int, out *float32)

// gemvNR8 computes y[0:n] += Σ_{r<8} x[r]·w[r*ldw : r*ldw+n] for n a
// multiple of 8: eight rows of a row-major matrix streamed into y.
// Implemented in gemv_amd64.s.
//
//go:noescape
func gemvNR8(n int, x, w *float32, ldw int, y *float32)

// gemvN128 is gemvN64 for 128 columns with AVX-512. Implemented in
// gemv_avx512_amd64.s.
//
//go:noescape
func gemvN128(k int, x, w *float32, ldw int, y *float32, alpha, beta float32)

// gemvT4x16 is gemvT4 with AVX-512, for k a multiple of 16. Implemented in
// gemv_avx512_amd64.s.
//
//go:noescape
func gemvT4x16(k int, x, w *float32, ldw int, out *float32)
