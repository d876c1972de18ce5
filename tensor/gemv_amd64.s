//go:build !purego

#include "textflag.h"

// y = alpha*acc + beta*y for one register of 8 columns at byte offset off of
// DX; Y1 holds beta (only reached when beta != 0).
#define UPDATE8(off, acc) \
	VFMADD231PS off(DX), Y1, acc \
	VMOVUPS acc, off(DX)

// func gemvN64(k int, x, w *float32, ldw int, y *float32, alpha, beta float32)
//
// y[0:64] = alpha * Σ_{p<k} x[p]·W[p, 0:64] + beta*y[0:64], where W[p, j] is
// w[p*ldw + j] (row stride ldw floats) and x is contiguous. Each step
// broadcasts one x value and multiplies it into eight accumulators of
// 8 columns, reading 256 contiguous bytes of one row of W. beta == 0 never
// reads y.
TEXT ·gemvN64(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ ldw+24(FP), R8
	SHLQ $2, R8
	MOVQ y+32(FP), DX

	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	// Two rows per iteration while at least two are left.
	CMPQ CX, $2
	JL   n64one

n64loop2:
	VBROADCASTSS (SI), Y0
	VBROADCASTSS 4(SI), Y2
	LEAQ (DI)(R8*1), R9
	VFMADD231PS (DI), Y0, Y8
	VFMADD231PS 32(DI), Y0, Y9
	VFMADD231PS 64(DI), Y0, Y10
	VFMADD231PS 96(DI), Y0, Y11
	VFMADD231PS 128(DI), Y0, Y12
	VFMADD231PS 160(DI), Y0, Y13
	VFMADD231PS 192(DI), Y0, Y14
	VFMADD231PS 224(DI), Y0, Y15
	VFMADD231PS (R9), Y2, Y8
	VFMADD231PS 32(R9), Y2, Y9
	VFMADD231PS 64(R9), Y2, Y10
	VFMADD231PS 96(R9), Y2, Y11
	VFMADD231PS 128(R9), Y2, Y12
	VFMADD231PS 160(R9), Y2, Y13
	VFMADD231PS 192(R9), Y2, Y14
	VFMADD231PS 224(R9), Y2, Y15
	ADDQ $8, SI
	LEAQ (DI)(R8*2), DI
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  n64loop2

n64one:
	TESTQ CX, CX
	JZ    n64done
	VBROADCASTSS (SI), Y0
	VFMADD231PS (DI), Y0, Y8
	VFMADD231PS 32(DI), Y0, Y9
	VFMADD231PS 64(DI), Y0, Y10
	VFMADD231PS 96(DI), Y0, Y11
	VFMADD231PS 128(DI), Y0, Y12
	VFMADD231PS 160(DI), Y0, Y13
	VFMADD231PS 192(DI), Y0, Y14
	VFMADD231PS 224(DI), Y0, Y15

n64done:
	VBROADCASTSS alpha+40(FP), Y0
	VMULPS Y0, Y8, Y8
	VMULPS Y0, Y9, Y9
	VMULPS Y0, Y10, Y10
	VMULPS Y0, Y11, Y11
	VMULPS Y0, Y12, Y12
	VMULPS Y0, Y13, Y13
	VMULPS Y0, Y14, Y14
	VMULPS Y0, Y15, Y15

	MOVL beta+44(FP), AX
	SHLL $1, AX // drop the sign: -0 counts as 0
	JZ   n64store

	VBROADCASTSS beta+44(FP), Y1
	UPDATE8(0, Y8)
	UPDATE8(32, Y9)
	UPDATE8(64, Y10)
	UPDATE8(96, Y11)
	UPDATE8(128, Y12)
	UPDATE8(160, Y13)
	UPDATE8(192, Y14)
	UPDATE8(224, Y15)
	VZEROUPPER
	RET

n64store:
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	VMOVUPS Y10, 64(DX)
	VMOVUPS Y11, 96(DX)
	VMOVUPS Y12, 128(DX)
	VMOVUPS Y13, 160(DX)
	VMOVUPS Y14, 192(DX)
	VMOVUPS Y15, 224(DX)
	VZEROUPPER
	RET

// func gemvN8(k int, x, w *float32, ldw int, y *float32, alpha, beta float32)
//
// gemvN64 for 8 columns: y[0:8] = alpha * Σ_{p<k} x[p]·W[p, 0:8] + beta*y[0:8].
// Four rows per step go to four accumulators (one would wait on the FMA
// latency every row), summed at the end.
TEXT ·gemvN8(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ ldw+24(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9 // 3 rows
	MOVQ y+32(FP), DX

	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	CMPQ CX, $4
	JL   n8rest

n8loop4:
	VBROADCASTSS (SI), Y0
	VBROADCASTSS 4(SI), Y2
	VBROADCASTSS 8(SI), Y3
	VBROADCASTSS 12(SI), Y4
	VFMADD231PS (DI), Y0, Y8
	VFMADD231PS (DI)(R8*1), Y2, Y9
	VFMADD231PS (DI)(R8*2), Y3, Y10
	VFMADD231PS (DI)(R9*1), Y4, Y11
	ADDQ $16, SI
	LEAQ (DI)(R8*4), DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  n8loop4

n8rest:
	TESTQ CX, CX
	JZ    n8done

n8loop1:
	VBROADCASTSS (SI), Y0
	VFMADD231PS (DI), Y0, Y8
	ADDQ $4, SI
	ADDQ R8, DI
	DECQ CX
	JNZ  n8loop1

n8done:
	VADDPS Y9, Y8, Y8
	VADDPS Y11, Y10, Y10
	VADDPS Y10, Y8, Y8
	VBROADCASTSS alpha+40(FP), Y0
	VMULPS Y0, Y8, Y8

	MOVL beta+44(FP), AX
	SHLL $1, AX
	JZ   n8store

	VBROADCASTSS beta+44(FP), Y1
	UPDATE8(0, Y8)
	VZEROUPPER
	RET

n8store:
	VMOVUPS Y8, (DX)
	VZEROUPPER
	RET

// func gemvT4(k int, x, w *float32, ldw int, out *float32)
//
// Four dot products along rows of W: out[r] = Σ_{p<k} x[p]·w[r*ldw + p] for
// r < 4, with k a multiple of 8. One 8-float load of x serves all four rows;
// two such chunks per step keep eight accumulators in flight (Y8..Y15, row r
// in Y(8+2r) and Y(9+2r)).
TEXT ·gemvT4(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ ldw+24(FP), R8
	SHLQ $2, R8
	MOVQ out+32(FP), DX
	LEAQ (DI)(R8*1), R9  // row 1
	LEAQ (DI)(R8*2), R10 // row 2
	LEAQ (R9)(R8*2), R11 // row 3

	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	XORQ AX, AX // byte offset into x and each row
	SHLQ $2, CX // k in bytes
	MOVQ CX, BX
	ANDQ $-64, BX // bytes done 16 floats at a time
	JZ   t4one

t4loop16:
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS 32(SI)(AX*1), Y1
	VFMADD231PS (DI)(AX*1), Y0, Y8
	VFMADD231PS 32(DI)(AX*1), Y1, Y9
	VFMADD231PS (R9)(AX*1), Y0, Y10
	VFMADD231PS 32(R9)(AX*1), Y1, Y11
	VFMADD231PS (R10)(AX*1), Y0, Y12
	VFMADD231PS 32(R10)(AX*1), Y1, Y13
	VFMADD231PS (R11)(AX*1), Y0, Y14
	VFMADD231PS 32(R11)(AX*1), Y1, Y15
	ADDQ $64, AX
	CMPQ AX, BX
	JL   t4loop16

t4one:
	CMPQ AX, CX
	JGE  t4sum
	VMOVUPS (SI)(AX*1), Y0
	VFMADD231PS (DI)(AX*1), Y0, Y8
	VFMADD231PS (R9)(AX*1), Y0, Y10
	VFMADD231PS (R10)(AX*1), Y0, Y12
	VFMADD231PS (R11)(AX*1), Y0, Y14

t4sum:
	// Row r's sum is the horizontal sum of Y(8+2r) + Y(9+2r).
	VADDPS Y9, Y8, Y8
	VADDPS Y11, Y10, Y10
	VADDPS Y13, Y12, Y12
	VADDPS Y15, Y14, Y14
	VHADDPS Y10, Y8, Y8   // per lane: r0 01, r0 23, r1 01, r1 23
	VHADDPS Y14, Y12, Y12 // per lane: r2 01, r2 23, r3 01, r3 23
	VHADDPS Y12, Y8, Y8   // per lane: r0, r1, r2, r3
	VEXTRACTF128 $1, Y8, X9
	VADDPS X9, X8, X8
	VMOVUPS X8, (DX)
	VZEROUPPER
	RET

// Two 8-row updates of one 8-column register: acc = acc + Σ_r x_r·W[r, cols]
// with rows 0-3 on acc and rows 4-7 on tmp (shorter dependency chains).
#define ROWS8(off, acc, tmp) \
	VMOVUPS off(DX)(AX*1), acc \
	VMULPS off(R11)(AX*1), Y4, tmp \
	VFMADD231PS off(DI)(AX*1), Y0, acc \
	VFMADD231PS off(R12)(AX*1), Y5, tmp \
	VFMADD231PS off(R8)(AX*1), Y1, acc \
	VFMADD231PS off(R13)(AX*1), Y6, tmp \
	VFMADD231PS off(R9)(AX*1), Y2, acc \
	VFMADD231PS off(R14)(AX*1), Y7, tmp \
	VFMADD231PS off(R10)(AX*1), Y3, acc \
	VADDPS tmp, acc, acc \
	VMOVUPS acc, off(DX)(AX*1)

// func gemvNR8(n int, x, w *float32, ldw int, y *float32)
//
// y[0:n] += Σ_{r<8} x[r]·W[r, 0:n] with W[r, j] = w[r*ldw + j], for n a
// multiple of 8: eight rows of W streamed front to back into y, which stays
// in L1 across calls. The rows are read sequentially, so when W comes from
// memory the prefetchers see eight plain streams.
TEXT ·gemvNR8(SB), NOSPLIT, $0-40
	MOVQ n+0(FP), CX
	SHLQ $2, CX // n in bytes
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ ldw+24(FP), BX
	SHLQ $2, BX
	MOVQ y+32(FP), DX

	VBROADCASTSS (SI), Y0
	VBROADCASTSS 4(SI), Y1
	VBROADCASTSS 8(SI), Y2
	VBROADCASTSS 12(SI), Y3
	VBROADCASTSS 16(SI), Y4
	VBROADCASTSS 20(SI), Y5
	VBROADCASTSS 24(SI), Y6
	VBROADCASTSS 28(SI), Y7
	LEAQ (DI)(BX*1), R8   // row 1
	LEAQ (R8)(BX*1), R9   // row 2
	LEAQ (R9)(BX*1), R10  // row 3
	LEAQ (R10)(BX*1), R11 // row 4
	LEAQ (R11)(BX*1), R12 // row 5
	LEAQ (R12)(BX*1), R13 // row 6
	LEAQ (R13)(BX*1), R14 // row 7

	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-64, BX // bytes done 16 columns at a time
	JZ   nr8one

nr8loop16:
	ROWS8(0, Y8, Y9)
	ROWS8(32, Y10, Y11)
	ADDQ $64, AX
	CMPQ AX, BX
	JL   nr8loop16

nr8one:
	CMPQ AX, CX
	JGE  nr8done
	ROWS8(0, Y8, Y9)

nr8done:
	VZEROUPPER
	RET
