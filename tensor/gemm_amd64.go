//go:build amd64 && !purego && !openblas

package tensor

import "golang.org/x/sys/cpu"

// hasAsmKernel reports whether this CPU runs the AVX2/FMA micro-kernel.
var hasAsmKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// asmBackend names the assembly micro-kernel for GemmBackend.
const asmBackend = "avx2-fma"

// kernel6x16 computes C[0:6, 0:16] = alpha*Apanel·Bpanel + beta*C from a
// k×6 packed A panel and a k×16 packed B panel; C has row stride ldc floats.
// beta == 0 never reads C. Implemented in gemm_amd64.s with AVX2 and FMA.
//
//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)

// kernel6x16s is kernel6x16 on unpacked operands: A[r, p] = a[r*rsA + p*csA],
// B[p, j] = b[p*ldb + j], C[r, j] = c[r*ldc + j] (strides in floats).
// Implemented in gemm_amd64.s.
//
//go:noescape
func kernel6x16s(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)
