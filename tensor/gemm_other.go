//go:build !amd64 || purego || openblas

package tensor

// hasAsmKernel is false where no assembly micro-kernel exists.
var hasAsmKernel = false

// asmBackend names the (absent) assembly micro-kernel.
const asmBackend = "go"

// kernel6x16 exists only so the driver compiles everywhere; the driver never
// calls it when hasAsmKernel is false.
func kernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32) {
	panic("tensor: no assembly GEMM kernel on this platform")
}

// kernel6x16s exists only so the driver compiles everywhere.
func kernel6x16s(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32) {
	panic("tensor: no assembly GEMM kernel on this platform")
}
