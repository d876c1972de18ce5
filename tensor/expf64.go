package tensor

import "math"

// ExpSubF64 sets dst[i] = math.Exp(src[i] - shift) for every i of src, bit
// for bit as math.Exp returns it, so that code which must reproduce its
// results exactly (a seeded sampler) can use it in place of a loop over
// math.Exp. Where the CPU has AVX2 and FMA it evaluates four arguments at a
// time with the operations of math.Exp's own assembly, in the same order
// (arguments outside [-708, 709], whose results are 0, subnormal, infinite
// or NaN, go through math.Exp); elsewhere it is that loop. dst must be at
// least as long as src.
func ExpSubF64(dst, src []float64, shift float64) {
	dst = dst[:len(src)]
	n := 0
	if expF64Vector && len(src) >= 4 {
		n = len(src) &^ 3
		if expSubF64AVX2(&dst[0], &src[0], n, shift, &expF64Const) != 0 {
			for i, v := range src[:n] {
				if x := v - shift; !(x >= expF64Lo && x <= expF64Hi) {
					dst[i] = math.Exp(x)
				}
			}
		}
	}
	for i := n; i < len(src); i++ {
		dst[i] = math.Exp(src[i] - shift)
	}
}

// The arguments the vector kernel takes through math.Exp's main path: for
// them 2**round(x·log2 e) is a normal number and the result neither
// overflows nor underflows.
const expF64Lo, expF64Hi = -708.0, 709.0

// expF64Const holds the kernel's constants, each four times: those of
// math.Exp's assembly (ln 2 split in two parts, the Taylor coefficients),
// the range of exact arguments and the exponent bias.
var expF64Const = func() (c [16][4]uint64) {
	vals := [...]float64{
		1.4426950408889634073599246810018920,                  // log2(e)
		0.69314718055966295651160180568695068359375,           // ln 2, upper part
		0.28235290563031577122588448175013436025525412068e-12, // ln 2, lower part
		0.0625,
		2.4801587301587301587e-5,
		1.9841269841269841270e-4,
		1.3888888888888888889e-3,
		8.3333333333333333333e-3,
		4.1666666666666666667e-2,
		1.6666666666666666667e-1,
		0.5,
		1.0,
		2.0,
		expF64Lo,
		expF64Hi,
	}
	for i, v := range vals {
		for j := range c[i] {
			c[i][j] = math.Float64bits(v)
		}
	}
	for j := range c[15] {
		c[15][j] = 1023 // exponent bias, as int64 lanes
	}
	return c
}()

// expF64Vector reports whether the vector kernel runs and matches math.Exp
// here: math.Exp takes its FMA path on the CPUs where the kernel runs, but
// a runtime setting (GODEBUG=cpu.fma=off) can turn that path off, so the
// kernel is checked against math.Exp once before it is trusted.
var expF64Vector = opsAVX2 && expF64SelfCheck()

func expF64SelfCheck() bool {
	src := make([]float64, 256)
	for i := range src {
		// spread over the whole exact range and densely near 0, where
		// sampling spends its time
		src[i] = -700 + 1400*float64(i)/255
		if i%2 == 1 {
			src[i] = -30 + 30*math.Sin(float64(i))
		}
	}
	dst := make([]float64, len(src))
	if expSubF64AVX2(&dst[0], &src[0], len(src), 0, &expF64Const) != 0 {
		return false
	}
	for i, x := range src {
		if math.Float64bits(dst[i]) != math.Float64bits(math.Exp(x)) {
			return false
		}
	}
	return true
}
