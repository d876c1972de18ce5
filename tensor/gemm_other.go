//go:build !amd64 || purego

package tensor

// No assembly micro-kernels on this platform or build.
var (
	hasAsmKernel    = false
	hasAVX512Kernel = false
)

// kernel6x16 exists only so the driver compiles everywhere; it is never
// called when hasAsmKernel is false.
func kernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32) {
	panic("tensor: no assembly GEMM kernel on this platform")
}

// kernel6x16s exists only so the driver compiles everywhere.
func kernel6x16s(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32) {
	panic("tensor: no assembly GEMM kernel on this platform")
}

// kernel12x32 exists only so the driver compiles everywhere.
func kernel12x32(k int, a, b, c *float32, ldc int, alpha, beta float32) {
	panic("tensor: no assembly GEMM kernel on this platform")
}

// transpose8 exists only so the driver compiles everywhere.
func transpose8(n int, src *float32, lds int, dst *float32, ldd int) {
	panic("tensor: no assembly transpose on this platform")
}

// kernel6x32s exists only so the driver compiles everywhere.
func kernel6x32s(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32) {
	panic("tensor: no assembly GEMM kernel on this platform")
}

// copyBlocks16 exists only so the driver compiles everywhere.
func copyBlocks16(n int, src *float32, lds int, dst *float32, ldd int) {
	panic("tensor: no assembly copy on this platform")
}

// copyBlocks12 exists only so the driver compiles everywhere.
func copyBlocks12(n int, src *float32, lds int, dst *float32, ldd int) {
	panic("tensor: no assembly copy on this platform")
}

// copyBlocks6 exists only so the driver compiles everywhere.
func copyBlocks6(n int, src *float32, lds int, dst *float32, ldd int) {
	panic("tensor: no assembly copy on this platform")
}

// gemvN64 exists only so the driver compiles everywhere.
func gemvN64(k int, x, w *float32, ldw int, y *float32, alpha, beta float32) {
	panic("tensor: no assembly GEMV kernel on this platform")
}

// gemvN8 exists only so the driver compiles everywhere.
func gemvN8(k int, x, w *float32, ldw int, y *float32, alpha, beta float32) {
	panic("tensor: no assembly GEMV kernel on this platform")
}

// gemvT4 exists only so the driver compiles everywhere.
func gemvT4(k int, x, w *float32, ldw int, out *float32) {
	panic("tensor: no assembly GEMV kernel on this platform")
}

// gemvNR8 exists only so the driver compiles everywhere.
func gemvNR8(n int, x, w *float32, ldw int, y *float32) {
	panic("tensor: no assembly GEMV kernel on this platform")
}

// gemvN128 exists only so the driver compiles everywhere.
func gemvN128(k int, x, w *float32, ldw int, y *float32, alpha, beta float32) {
	panic("tensor: no assembly GEMV kernel on this platform")
}

// gemvT4x16 exists only so the driver compiles everywhere.
func gemvT4x16(k int, x, w *float32, ldw int, out *float32) {
	panic("tensor: no assembly GEMV kernel on this platform")
}
