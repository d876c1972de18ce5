//go:build !purego

#include "textflag.h"

// One step of the 6x16 rank-1 update: Y0,Y1 hold 16 floats of packed B,
// Y2/Y3 alternate as the broadcast of one packed A value, Y4..Y15 are the
// twelve accumulators (row r uses Y(4+2r) for columns 0-7, Y(5+2r) for 8-15).
#define STEP(aoff, boff) \
	VMOVUPS boff(DI), Y0 \
	VMOVUPS (boff+32)(DI), Y1 \
	VBROADCASTSS (aoff)(SI), Y2 \
	VFMADD231PS Y0, Y2, Y4 \
	VFMADD231PS Y1, Y2, Y5 \
	VBROADCASTSS (aoff+4)(SI), Y3 \
	VFMADD231PS Y0, Y3, Y6 \
	VFMADD231PS Y1, Y3, Y7 \
	VBROADCASTSS (aoff+8)(SI), Y2 \
	VFMADD231PS Y0, Y2, Y8 \
	VFMADD231PS Y1, Y2, Y9 \
	VBROADCASTSS (aoff+12)(SI), Y3 \
	VFMADD231PS Y0, Y3, Y10 \
	VFMADD231PS Y1, Y3, Y11 \
	VBROADCASTSS (aoff+16)(SI), Y2 \
	VFMADD231PS Y0, Y2, Y12 \
	VFMADD231PS Y1, Y2, Y13 \
	VBROADCASTSS (aoff+20)(SI), Y3 \
	VFMADD231PS Y0, Y3, Y14 \
	VFMADD231PS Y1, Y3, Y15

// Store one row of the tile: C[0:16] = acc (beta == 0).
#define STOREROW(lo, hi) \
	VMOVUPS lo, (DX) \
	VMOVUPS hi, 32(DX) \
	ADDQ R8, DX

// One row with beta: C[0:16] = acc + beta*C[0:16]; Y1 holds beta.
#define UPDATEROW(lo, hi) \
	VMOVUPS (DX), Y2 \
	VMOVUPS 32(DX), Y3 \
	VFMADD231PS Y1, Y2, lo \
	VFMADD231PS Y1, Y3, hi \
	VMOVUPS lo, (DX) \
	VMOVUPS hi, 32(DX) \
	ADDQ R8, DX

// func kernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)
//
// C[0:6, 0:16] = alpha * Apanel·Bpanel + beta*C, where Apanel is k×6 packed
// (6 values per k step), Bpanel is k×16 packed (16 values per k step) and C
// has row stride ldc floats. beta == 0 never reads C.
TEXT ·kernel6x16(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	// Touch the C tile so its lines are on their way during the loop.
	MOVQ DX, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)

	MOVQ CX, BX
	SHRQ $2, BX
	JZ   tail

loop4:
	STEP(0, 0)
	STEP(24, 64)
	STEP(48, 128)
	STEP(72, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ BX
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   scale

loop1:
	STEP(0, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop1

scale:
	VBROADCASTSS alpha+40(FP), Y0
	VMULPS Y0, Y4, Y4
	VMULPS Y0, Y5, Y5
	VMULPS Y0, Y6, Y6
	VMULPS Y0, Y7, Y7
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
	JZ   store

	VBROADCASTSS beta+44(FP), Y1
	UPDATEROW(Y4, Y5)
	UPDATEROW(Y6, Y7)
	UPDATEROW(Y8, Y9)
	UPDATEROW(Y10, Y11)
	UPDATEROW(Y12, Y13)
	UPDATEROW(Y14, Y15)
	VZEROUPPER
	RET

store:
	STOREROW(Y4, Y5)
	STOREROW(Y6, Y7)
	STOREROW(Y8, Y9)
	STOREROW(Y10, Y11)
	STOREROW(Y12, Y13)
	STOREROW(Y14, Y15)
	VZEROUPPER
	RET

// One step of the strided 6x16 kernel: B row at DI (16 floats), the six A
// values at SI, SI+rsA, SI+2rsA, R13, R13+rsA, R13+2rsA (R13 = SI+3rsA,
// R12 = rsA in bytes); then SI, R13 advance by csA (R14) and DI by ldb (R10).
#define STEPS \
	VMOVUPS (DI), Y0 \
	VMOVUPS 32(DI), Y1 \
	VBROADCASTSS (SI), Y2 \
	VFMADD231PS Y0, Y2, Y4 \
	VFMADD231PS Y1, Y2, Y5 \
	VBROADCASTSS (SI)(R12*1), Y3 \
	VFMADD231PS Y0, Y3, Y6 \
	VFMADD231PS Y1, Y3, Y7 \
	VBROADCASTSS (SI)(R12*2), Y2 \
	VFMADD231PS Y0, Y2, Y8 \
	VFMADD231PS Y1, Y2, Y9 \
	VBROADCASTSS (R13), Y3 \
	VFMADD231PS Y0, Y3, Y10 \
	VFMADD231PS Y1, Y3, Y11 \
	VBROADCASTSS (R13)(R12*1), Y2 \
	VFMADD231PS Y0, Y2, Y12 \
	VFMADD231PS Y1, Y2, Y13 \
	VBROADCASTSS (R13)(R12*2), Y3 \
	VFMADD231PS Y0, Y3, Y14 \
	VFMADD231PS Y1, Y3, Y15 \
	ADDQ R14, SI \
	ADDQ R14, R13 \
	ADDQ R10, DI

// func kernel6x16s(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)
//
// C[0:6, 0:16] = alpha * A·B + beta*C on unpacked operands: A[r, p] is at
// a[r*rsA + p*csA], B[p, j] at b[p*ldb + j], C[r, j] at c[r*ldc + j]
// (strides in floats). beta == 0 never reads C.
TEXT ·kernel6x16s(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R12
	SHLQ $2, R12
	MOVQ csA+24(FP), R14
	SHLQ $2, R14
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R10
	SHLQ $2, R10
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R8
	SHLQ $2, R8
	LEAQ (R12)(R12*2), R13
	ADDQ SI, R13

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, BX
	SHRQ $2, BX
	JZ   stail

sloop4:
	STEPS
	STEPS
	STEPS
	STEPS
	DECQ BX
	JNZ  sloop4

stail:
	ANDQ $3, CX
	JZ   sscale

sloop1:
	STEPS
	DECQ CX
	JNZ  sloop1

sscale:
	VBROADCASTSS alpha+64(FP), Y0
	VMULPS Y0, Y4, Y4
	VMULPS Y0, Y5, Y5
	VMULPS Y0, Y6, Y6
	VMULPS Y0, Y7, Y7
	VMULPS Y0, Y8, Y8
	VMULPS Y0, Y9, Y9
	VMULPS Y0, Y10, Y10
	VMULPS Y0, Y11, Y11
	VMULPS Y0, Y12, Y12
	VMULPS Y0, Y13, Y13
	VMULPS Y0, Y14, Y14
	VMULPS Y0, Y15, Y15

	MOVL beta+68(FP), AX
	SHLL $1, AX
	JZ   sstore

	VBROADCASTSS beta+68(FP), Y1
	UPDATEROW(Y4, Y5)
	UPDATEROW(Y6, Y7)
	UPDATEROW(Y8, Y9)
	UPDATEROW(Y10, Y11)
	UPDATEROW(Y12, Y13)
	UPDATEROW(Y14, Y15)
	VZEROUPPER
	RET

sstore:
	STOREROW(Y4, Y5)
	STOREROW(Y6, Y7)
	STOREROW(Y8, Y9)
	STOREROW(Y10, Y11)
	STOREROW(Y12, Y13)
	STOREROW(Y14, Y15)
	VZEROUPPER
	RET

// func transpose8(n int, src *float32, lds int, dst *float32, ldd int)
//
// Transposes n consecutive 8×8 blocks: for b < n, r, c < 8,
// dst[(8b+c)*ldd + r] = src[r*lds + 8b + c] (strides in floats). AVX only.
TEXT ·transpose8(SB), NOSPLIT, $0-40
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	SHLQ $2, R8
	MOVQ dst+24(FP), DI
	MOVQ ldd+32(FP), R9
	SHLQ $2, R9
	LEAQ (R8)(R8*2), R10 // 3*lds
	LEAQ (R9)(R9*2), R11 // 3*ldd
	TESTQ CX, CX
	JZ   tdone

tloop:
	LEAQ (SI)(R8*4), DX // row 4
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R10*1), Y3
	VMOVUPS (DX), Y4
	VMOVUPS (DX)(R8*1), Y5
	VMOVUPS (DX)(R8*2), Y6
	VMOVUPS (DX)(R10*1), Y7

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	LEAQ (DI)(R9*4), DX // output row 4
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R9*1)
	VMOVUPS Y10, (DI)(R9*2)
	VMOVUPS Y11, (DI)(R11*1)
	VMOVUPS Y12, (DX)
	VMOVUPS Y13, (DX)(R9*1)
	VMOVUPS Y14, (DX)(R9*2)
	VMOVUPS Y15, (DX)(R11*1)

	ADDQ $32, SI
	LEAQ (DI)(R9*8), DI
	DECQ CX
	JNZ  tloop

tdone:
	VZEROUPPER
	RET

// func copyBlocks16(n int, src *float32, lds int, dst *float32, ldd int)
//
// For i < n: dst[i*ldd : i*ldd+16] = src[i*lds : i*lds+16] (strides in
// floats). AVX only.
TEXT ·copyBlocks16(SB), NOSPLIT, $0-40
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	SHLQ $2, R8
	MOVQ dst+24(FP), DI
	MOVQ ldd+32(FP), R9
	SHLQ $2, R9
	TESTQ CX, CX
	JZ   cdone

cloop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ  cloop

cdone:
	VZEROUPPER
	RET

// func copyBlocks12(n int, src *float32, lds int, dst *float32, ldd int)
//
// For i < n: dst[i*ldd : i*ldd+12] = src[i*lds : i*lds+12] (strides in
// floats). AVX only.
TEXT ·copyBlocks12(SB), NOSPLIT, $0-40
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	SHLQ $2, R8
	MOVQ dst+24(FP), DI
	MOVQ ldd+32(FP), R9
	SHLQ $2, R9
	TESTQ CX, CX
	JZ   c12done

c12loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), X1
	VMOVUPS Y0, (DI)
	VMOVUPS X1, 32(DI)
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ  c12loop

c12done:
	VZEROUPPER
	RET

// func copyBlocks6(n int, src *float32, lds int, dst *float32, ldd int)
//
// For i < n: dst[i*ldd : i*ldd+6] = src[i*lds : i*lds+6] (strides in
// floats). AVX only.
TEXT ·copyBlocks6(SB), NOSPLIT, $0-40
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	SHLQ $2, R8
	MOVQ dst+24(FP), DI
	MOVQ ldd+32(FP), R9
	SHLQ $2, R9
	TESTQ CX, CX
	JZ   c6done

c6loop:
	VMOVUPS (SI), X0
	MOVQ    16(SI), AX
	VMOVUPS X0, (DI)
	MOVQ    AX, 16(DI)
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ  c6loop

c6done:
	VZEROUPPER
	RET
