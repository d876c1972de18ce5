//go:build amd64 && !purego

#include "textflag.h"

// Offsets into expF64Const (32 bytes, four lanes, per entry).
#define E_LOG2E 0
#define E_LN2U 32
#define E_LN2L 64
#define E_SIXTEENTH 96
#define E_C8 128
#define E_C7 160
#define E_C6 192
#define E_C5 224
#define E_C4 256
#define E_C3 288
#define E_HALF 320
#define E_ONE 352
#define E_TWO 384
#define E_LO 416
#define E_HI 448
#define E_BIAS 480

// func expSubF64AVX2(dst, src *float64, n int, shift float64, c *[16][4]uint64) int
//
// dst[i] = exp(src[i]-shift) for i < n (n a multiple of 4), four lanes at a
// time, by the operations of the Go runtime's math.Exp on a CPU with FMA
// (math/exp_amd64.s, its avxfma path), in the same order, so that each lane
// rounds as math.Exp does. That path is exact only for arguments in
// [E_LO, E_HI]; the result has a bit set for each group of four with a lane
// outside (or NaN), whose values the caller recomputes.
TEXT ·expSubF64AVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD shift+24(FP), Y15
	MOVQ c+32(FP), R8
	XORQ AX, AX
	VMOVUPD E_LOG2E(R8), Y14
	VMOVUPD E_LO(R8), Y13
	VMOVUPD E_HI(R8), Y12
	VMOVUPD E_TWO(R8), Y11
	VMOVUPD E_ONE(R8), Y10
	VMOVUPD E_BIAS(R8), Y9

loop:
	CMPQ CX, $4
	JL   done
	VMOVUPD (SI), Y0
	VSUBPD  Y15, Y0, Y0 // x = src - shift

	// lanes math.Exp would not take through its main path
	VCMPPD    $0x19, Y13, Y0, Y5 // !(x >= lo), or NaN
	VCMPPD    $0x16, Y12, Y0, Y6 // !(x <= hi), or NaN
	VORPD     Y6, Y5, Y5
	VMOVMSKPD Y5, BX
	ORQ       BX, AX

	// k = round(x·log2(e)); x -= k·ln2 in two parts
	VMULPD       Y14, Y0, Y1
	VCVTPD2DQY   Y1, X2
	VCVTDQ2PD    X2, Y1
	VMOVUPD      E_LN2U(R8), Y3
	VFNMADD231PD Y3, Y1, Y0
	VMOVUPD      E_LN2L(R8), Y3
	VFNMADD231PD Y3, Y1, Y0

	// x /= 16; Taylor series of e**x - 1, then squared four times
	VMULPD      E_SIXTEENTH(R8), Y0, Y0
	VMOVUPD     E_C8(R8), Y1
	VFMADD213PD E_C7(R8), Y0, Y1
	VFMADD213PD E_C6(R8), Y0, Y1
	VFMADD213PD E_C5(R8), Y0, Y1
	VFMADD213PD E_C4(R8), Y0, Y1
	VFMADD213PD E_C3(R8), Y0, Y1
	VFMADD213PD E_HALF(R8), Y0, Y1
	VFMADD213PD Y10, Y0, Y1
	VMULPD      Y1, Y0, Y0
	VADDPD      Y11, Y0, Y1
	VMULPD      Y1, Y0, Y0
	VADDPD      Y11, Y0, Y1
	VMULPD      Y1, Y0, Y0
	VADDPD      Y11, Y0, Y1
	VMULPD      Y1, Y0, Y0
	VADDPD      Y11, Y0, Y1
	VFMADD213PD Y10, Y1, Y0

	// times 2**k, built in the exponent bits
	VPMOVSXDQ X2, Y3
	VPADDQ    Y9, Y3, Y3
	VPSLLQ    $52, Y3, Y3
	VMULPD    Y3, Y0, Y0

	VMOVUPD Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $4, CX
	JMP     loop

done:
	VZEROUPPER
	MOVQ AX, ret+40(FP)
	RET
