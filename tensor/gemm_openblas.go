//go:build openblas && cgo

package tensor

import "rlhf/tensor/internal/openblas"

// GemmBackend names the implementation behind Gemm: "avx512" (AVX-512
// micro-kernel, where the CPU has it), "avx2-fma" (AVX2/FMA micro-kernel),
// "go" (portable blocked kernel) or "openblas" (-tags openblas, cgo).
func GemmBackend() string { return "openblas" }

// gemmImpl is Gemm after argument checks, handed to OpenBLAS's cblas_sgemm
// (bound in a separate package, so that this one has no cgo and keeps its
// assembly).
func gemmImpl(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	openblas.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
