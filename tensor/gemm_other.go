//go:build !amd64 || purego

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
