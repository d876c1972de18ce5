//go:build amd64 && !purego

#include "textflag.h"

// Offsets into opsConst (32 bytes per entry).
#define HI 0
#define LO 32
#define LOG2E 64
#define C1 96
#define C2 128
#define P0 160
#define P1 192
#define P2 224
#define P3 256
#define P4 288
#define P5 320
#define ONE 352
#define BIAS 384
#define GK 416
#define GM2C 448
#define G3KC 480
#define GC 512

// EXP sets X = e**X in each lane (table in R8); N, R, P, M are clobbered.
// x = n·ln2 + r, e**r by a degree-7 polynomial, 2**n built in the exponent
// bits; lanes below LO give 0, lanes above HI are clamped to HI.
#define EXP(X, N, R, P, M) \
	VMINPS HI(R8), X, X \
	VCMPPS $13, LO(R8), X, M \
	VMAXPS LO(R8), X, X \
	VMULPS LOG2E(R8), X, N \
	VROUNDPS $0, N, N \
	VMOVAPS X, R \
	VFNMADD231PS C1(R8), N, R \
	VFNMADD231PS C2(R8), N, R \
	VMOVUPS P0(R8), P \
	VFMADD213PS P1(R8), R, P \
	VFMADD213PS P2(R8), R, P \
	VFMADD213PS P3(R8), R, P \
	VFMADD213PS P4(R8), R, P \
	VFMADD213PS P5(R8), R, P \
	VMULPS R, R, X \
	VFMADD213PS R, X, P \
	VADDPS ONE(R8), P, P \
	VCVTPS2DQ N, N \
	VPADDD BIAS(R8), N, N \
	VPSLLD $23, N, N \
	VMULPS N, P, X \
	VANDPS M, X, X

// func opsExpSubSumAVX2(dst, src *float32, n int, shift float32, c *[17][8]float32) float32
TEXT ·opsExpSubSumAVX2(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y9
	MOVQ c+32(FP), R8
	VXORPS Y10, Y10, Y10

exploop:
	CMPQ CX, $8
	JL   expdone
	VMOVUPS (SI), Y0
	VSUBPS Y9, Y0, Y0
	EXP(Y0, Y1, Y2, Y3, Y4)
	VMOVUPS Y0, (DI)
	VADDPS Y0, Y10, Y10
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  exploop

expdone:
	VEXTRACTF128 $1, Y10, X11
	VADDPS X11, X10, X10
	VPERMILPS $0x4E, X10, X11
	VADDPS X11, X10, X10
	VPERMILPS $0xB1, X10, X11
	VADDPS X11, X10, X10
	VZEROUPPER
	MOVSS X10, ret+40(FP)
	RET

// func opsMaxAVX2(x *float32, n int) float32
TEXT ·opsMaxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	ADDQ $32, SI
	SUBQ $8, CX

maxloop:
	CMPQ CX, $8
	JL   maxdone
	VMAXPS (SI), Y0, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  maxloop

maxdone:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4E, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xB1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// func opsScaleAVX2(x *float32, n int, s float32)
TEXT ·opsScaleAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Y1

scaleloop:
	CMPQ CX, $8
	JL   scaledone
	VMULPS (SI), Y1, Y0
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  scaleloop

scaledone:
	VZEROUPPER
	RET

// func opsGeluAVX2(dst, src *float32, n int, c *[17][8]float32)
TEXT ·opsGeluAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ c+24(FP), R8

geluloop:
	CMPQ CX, $8
	JL   geludone
	VMOVUPS (SI), Y5
	VMULPS Y5, Y5, Y0
	VMOVUPS GK(R8), Y6
	VFMADD213PS ONE(R8), Y6, Y0
	VMULPS Y5, Y0, Y0
	VMULPS GM2C(R8), Y0, Y0
	EXP(Y0, Y1, Y2, Y3, Y4)
	VADDPS ONE(R8), Y0, Y0
	VDIVPS Y0, Y5, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  geluloop

geludone:
	VZEROUPPER
	RET

// func opsGeluGradAVX2(gx, gr, x *float32, n int, acc int, c *[17][8]float32)
TEXT ·opsGeluGradAVX2(SB), NOSPLIT, $0-48
	MOVQ gx+0(FP), DI
	MOVQ gr+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	MOVQ acc+32(FP), R9
	MOVQ c+40(FP), R8

gradloop:
	CMPQ CX, $8
	JL   graddone
	VMOVUPS (SI), Y5
	VMULPS Y5, Y5, Y6
	VMOVUPS GK(R8), Y0
	VFMADD213PS ONE(R8), Y6, Y0
	VMULPS Y5, Y0, Y0
	VMULPS GM2C(R8), Y0, Y0
	EXP(Y0, Y1, Y2, Y3, Y4)
	VADDPS ONE(R8), Y0, Y0
	VMOVUPS ONE(R8), Y7
	VDIVPS Y0, Y7, Y7
	VMOVUPS ONE(R8), Y1
	VSUBPS Y7, Y1, Y1
	VMULPS Y7, Y1, Y1
	VMOVUPS G3KC(R8), Y2
	VFMADD213PS GC(R8), Y6, Y2
	VMULPS Y2, Y1, Y1
	VMULPS Y5, Y1, Y1
	VADDPS Y1, Y1, Y1
	VADDPS Y7, Y1, Y1
	VMOVUPS (DX), Y2
	VXORPS Y3, Y3, Y3
	TESTQ R9, R9
	JZ   gradstore
	VMOVUPS (DI), Y3

gradstore:
	VFMADD231PS Y2, Y1, Y3
	VMOVUPS Y3, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  gradloop

graddone:
	VZEROUPPER
	RET

// func opsAdamAVX2(w, gr, m, v *float32, n int, p *[8]float32)
TEXT ·opsAdamAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ gr+8(FP), DX
	MOVQ m+16(FP), SI
	MOVQ v+24(FP), BX
	MOVQ n+32(FP), CX
	MOVQ p+40(FP), R8
	VBROADCASTSS 0(R8), Y8
	VBROADCASTSS 4(R8), Y9
	VBROADCASTSS 8(R8), Y10
	VBROADCASTSS 12(R8), Y11
	VBROADCASTSS 16(R8), Y12
	VBROADCASTSS 20(R8), Y13
	VBROADCASTSS 24(R8), Y14
	VBROADCASTSS 28(R8), Y15

adamloop:
	CMPQ CX, $8
	JL   adamdone
	VMOVUPS (DX), Y0
	VMULPS (SI), Y8, Y1
	VFMADD231PS Y9, Y0, Y1
	VMULPS Y0, Y0, Y4
	VMULPS (BX), Y10, Y2
	VFMADD231PS Y11, Y4, Y2
	VMOVUPS Y1, (SI)
	VMOVUPS Y2, (BX)
	VMULPS Y12, Y2, Y5
	VSQRTPS Y5, Y5
	VADDPS Y13, Y5, Y5
	VDIVPS Y5, Y1, Y6
	VMULPS (DI), Y14, Y3
	VFNMADD231PS Y15, Y6, Y3
	VMOVUPS Y3, (DI)
	ADDQ $32, DI
	ADDQ $32, DX
	ADDQ $32, SI
	ADDQ $32, BX
	SUBQ $8, CX
	JMP  adamloop

adamdone:
	VZEROUPPER
	RET

// HSUM leaves the sum of the eight lanes of Y in the low lane of X (X is
// Y's lower half); T is clobbered.
#define HSUM(Y, X, T) \
	VEXTRACTF128 $1, Y, T \
	VADDPS T, X, X \
	VPERMILPS $0x4E, X, T \
	VADDPS T, X, X \
	VPERMILPS $0xB1, X, T \
	VADDPS T, X, X

// func opsSumAVX2(x *float32, n int) float32
TEXT ·opsSumAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Y0, Y0, Y0

sumloop:
	CMPQ CX, $8
	JL   sumdone
	VADDPS (SI), Y0, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  sumloop

sumdone:
	HSUM(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// func opsSumSqDevAVX2(x *float32, n int, m float32) float32
TEXT ·opsSumSqDevAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y2
	VXORPS Y0, Y0, Y0

ssdloop:
	CMPQ CX, $8
	JL   ssddone
	VMOVUPS (SI), Y1
	VSUBPS Y2, Y1, Y1
	VFMADD231PS Y1, Y1, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  ssdloop

ssddone:
	HSUM(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func opsLNRowAVX2(y, x, w, b *float32, n int, m, rstd float32)
TEXT ·opsLNRowAVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ b+24(FP), BX
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y8
	VBROADCASTSS rstd+44(FP), Y9

lnloop:
	CMPQ CX, $8
	JL   lndone
	VMOVUPS (SI), Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	VMULPS (DX), Y0, Y0
	VADDPS (BX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, BX
	SUBQ $8, CX
	JMP  lnloop

lndone:
	VZEROUPPER
	RET

// func opsLNBackRowAVX2(gr, x, w, dw, db *float32, n int, m, rstd float32) (sg, sgx float32)
TEXT ·opsLNBackRowAVX2(SB), NOSPLIT, $0-64
	MOVQ gr+0(FP), DX
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), R10
	MOVQ dw+24(FP), R11
	MOVQ db+32(FP), R12
	MOVQ n+40(FP), CX
	VBROADCASTSS m+48(FP), Y8
	VBROADCASTSS rstd+52(FP), Y9
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

lnbloop:
	CMPQ CX, $8
	JL   lnbdone
	VMOVUPS (SI), Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	VMOVUPS (DX), Y1
	VMULPS (R10), Y1, Y2
	VADDPS Y2, Y6, Y6
	VFMADD231PS Y2, Y0, Y7
	VMOVUPS (R11), Y3
	VFMADD231PS Y1, Y0, Y3
	VMOVUPS Y3, (R11)
	VADDPS (R12), Y1, Y4
	VMOVUPS Y4, (R12)
	ADDQ $32, DX
	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	SUBQ $8, CX
	JMP  lnbloop

lnbdone:
	HSUM(Y6, X6, X5)
	HSUM(Y7, X7, X5)
	VZEROUPPER
	MOVSS X6, sg+56(FP)
	MOVSS X7, sgx+60(FP)
	RET

// func opsLNGradRowAVX2(gx, gr, x, w *float32, n int, m, rstd, sg, sgx float32, acc int)
TEXT ·opsLNGradRowAVX2(SB), NOSPLIT, $0-64
	MOVQ gx+0(FP), DI
	MOVQ gr+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ w+24(FP), R10
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y8
	VBROADCASTSS rstd+44(FP), Y9
	VBROADCASTSS sg+48(FP), Y10
	VBROADCASTSS sgx+52(FP), Y11
	MOVQ acc+56(FP), R9

lngloop:
	CMPQ CX, $8
	JL   lngdone
	VMOVUPS (SI), Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	VMOVUPS (DX), Y1
	VMULPS (R10), Y1, Y1
	VSUBPS Y10, Y1, Y1
	VFNMADD231PS Y11, Y0, Y1
	VMULPS Y9, Y1, Y1
	TESTQ R9, R9
	JZ   lngstore
	VADDPS (DI), Y1, Y1

lngstore:
	VMOVUPS Y1, (DI)
	ADDQ $32, DI
	ADDQ $32, DX
	ADDQ $32, SI
	ADDQ $32, R10
	SUBQ $8, CX
	JMP  lngloop

lngdone:
	VZEROUPPER
	RET

// func opsAddAVX2(dst, src *float32, n int)
TEXT ·opsAddAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

addloop:
	CMPQ CX, $16
	JL   addtail
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $64, DI
	ADDQ $64, SI
	SUBQ $16, CX
	JMP  addloop

addtail:
	CMPQ CX, $8
	JL   adddone
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)

adddone:
	VZEROUPPER
	RET
