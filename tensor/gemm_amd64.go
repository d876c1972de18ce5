//go:build amd64 && !purego

package tensor

import "golang.org/x/sys/cpu"

// hasAsmKernel reports whether this CPU runs the AVX2/FMA micro-kernel.
var hasAsmKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

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

// hasAVX512Kernel reports whether this CPU runs the AVX-512 micro-kernel.
var hasAVX512Kernel = cpu.X86.HasAVX512F && hasAsmKernel

// kernel12x32 is the AVX-512 micro-kernel: C[0:12, 0:32] = alpha*Apanel·Bpanel
// + beta*C from a k×12 packed A panel and a k×32 packed B panel. beta == 0
// never reads C. Implemented in gemm_avx512_amd64.s.
//
//go:noescape
func kernel12x32(k int, a, b, c *float32, ldc int, alpha, beta float32)

// transpose8 transposes n consecutive 8×8 blocks: for b < n and r, c < 8,
// dst[(8b+c)*ldd + r] = src[r*lds + 8b + c] (strides in floats). It needs
// AVX, which every CPU with hasAsmKernel has. Implemented in gemm_amd64.s.
//
//go:noescape
func transpose8(n int, src *float32, lds int, dst *float32, ldd int)

// kernel6x32s is the AVX-512 kernel for unpacked operands (the direct path):
// C[0:6, 0:32] = alpha*A·B + beta*C with A[r, p] = a[r*rsA + p*csA],
// B[p, j] = b[p*ldb + j], C[r, j] = c[r*ldc + j] (strides in floats).
// Implemented in gemm_avx512s_amd64.s.
//
//go:noescape
func kernel6x32s(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

// copyBlocks16 copies n blocks of 16 floats: for i < n,
// dst[i*ldd : i*ldd+16] = src[i*lds : i*lds+16] (strides in floats). It
// needs AVX. Implemented in gemm_amd64.s.
//
//go:noescape
func copyBlocks16(n int, src *float32, lds int, dst *float32, ldd int)

// copyBlocks12 and copyBlocks6 are copyBlocks16 for blocks of 12 and 6
// floats (the A panels of the AVX-512 and AVX2 kernels). They need AVX.
// Implemented in gemm_amd64.s.
//
//go:noescape
func copyBlocks12(n int, src *float32, lds int, dst *float32, ldd int)

//go:noescape
func copyBlocks6(n int, src *float32, lds int, dst *float32, ldd int)
