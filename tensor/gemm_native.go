//go:build !openblas || !cgo

package tensor

// GemmBackend names the implementation behind Gemm: "avx512" (AVX-512
// micro-kernel, where the CPU has it), "avx2-fma" (AVX2/FMA micro-kernel),
// "go" (portable blocked kernel) or "openblas" (-tags openblas, cgo).
func GemmBackend() string { return nativeBackend() }

// gemmImpl is Gemm after argument checks.
func gemmImpl(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmNative(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
