package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemvLevels are the kernel levels the GEMV path has code for (the AVX-512
// level runs the AVX2 GEMV kernels).
var gemvLevels = []int{levelGo, levelAVX2, levelAVX512}

func TestGemvShapes(t *testing.T) {
	// Every column and row edge of the kernels: 64- and 8-column blocks of
	// y with a Go tail, 4-row groups of Bᵀ with Go rows left over, k around
	// the 16- and 8-float chunks of the dot products and the 8-row groups
	// of the streamed B; m up to 4 row by row.
	ns := []int{1, 3, 4, 5, 7, 8, 9, 15, 63, 64, 65, 72, 127, 129}
	ks := []int{1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 33, 100}
	for _, v := range []struct {
		level  int
		stream bool // op(B) = B streams B's rows (as for a large B)
	}{{levelGo, false}, {levelAVX2, false}, {levelAVX2, true}, {levelAVX512, false}} {
		level := v.level
		t.Run(fmt.Sprintf("%s/stream=%v", gemmKernels[level].name, v.stream), func(t *testing.T) {
			withKernel(t, level, 1, pathGemv, func(t *testing.T) {
				if v.stream {
					old := gemvStreamMin
					gemvStreamMin = 0
					defer func() { gemvStreamMin = old }()
				}
				r := rand.New(rand.NewPCG(11, uint64(level)))
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					for _, m := range []int{1, 2, 4} {
						for _, n := range ns {
							for _, k := range ks {
								g := gemmCase{transA: tr[0], transB: tr[1], m: m, n: n, k: k}
								g.alpha = []float32{1, -0.5, 1.75}[r.IntN(3)]
								g.beta = []float32{0, 1, -0.5}[r.IntN(3)]
								ac, bc := k, n
								if g.transA {
									ac = m
								}
								if g.transB {
									bc = k
								}
								g.lda, g.ldb, g.ldc = ac+r.IntN(3), bc+r.IntN(3), n+r.IntN(3)
								checkGemmCase(t, r, g)
							}
						}
					}
				}
			})
		})
	}
}

func TestGemvAutoAndParallel(t *testing.T) {
	// m == 1 (and a few rows times a large B) through the automatic choice,
	// on one worker and split over two (n·k above gemmParallelMin), the
	// shapes of a decoding step: a Linear (in, out) weight and a tied LM head
	// read transposed.
	shapes := []struct {
		transB  bool
		m, n, k int
	}{
		{false, 1, 384, 128}, {false, 1, 1000, 600}, {false, 1, 1031, 517}, {false, 1, 100, 5300},
		{true, 1, 4096, 128}, {true, 1, 1001, 600}, {true, 1, 2003, 263}, {true, 1, 7, 100000},
		{false, 3, 1100, 1000}, {false, 2, 1500, 701},
	}
	for _, level := range gemvLevels {
		for _, workers := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/workers=%d", gemmKernels[level].name, workers), func(t *testing.T) {
				withKernel(t, level, workers, pathAuto, func(t *testing.T) {
					r := rand.New(rand.NewPCG(12, uint64(workers)))
					for _, s := range shapes {
						for _, transA := range []bool{false, true} {
							g := gemmCase{transA: transA, transB: s.transB, m: s.m, n: s.n, k: s.k, alpha: 1}
							g.lda, g.ldb, g.ldc = s.k, s.n+1, s.n
							if transA {
								g.lda = s.m + 2
							}
							if s.transB {
								g.ldb = s.k + 5
							}
							if transA {
								g.alpha, g.beta = -0.5, 1
							}
							checkGemmCase(t, r, g)
						}
					}
				})
			})
		}
	}
}

func TestGemvAlignment(t *testing.T) {
	// The kernels use unaligned loads: operands starting at every float
	// offset within a 32-byte line give the reference's answer.
	const n, k = 77, 45
	for _, level := range gemvLevels {
		for _, transB := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/transB=%v", gemmKernels[level].name, transB), func(t *testing.T) {
				withKernel(t, level, 1, pathGemv, func(t *testing.T) {
					oldStream := gemvStreamMin
					defer func() { gemvStreamMin = oldStream }()
					r := rand.New(rand.NewPCG(13, 14))
					ldb := n
					if transB {
						ldb = k
					}
					rows := k
					if transB {
						rows = n
					}
					for off := range 16 {
						gemvStreamMin = 1 << 30 // offsets 8..15: rows streamed (op(B) = B)
						if off >= 8 {
							gemvStreamMin = 0
						}
						off := off % 8
						a := Randn(r, 1, k+off).Data[off:]
						b := Randn(r, 1, rows*ldb+off).Data[off:]
						c := Randn(r, 1, n+off).Data[off:]
						want := append([]float32(nil), c...)
						gemmRef(false, transB, 1, n, k, 1.5, a, k, b, ldb, 0.5, want, n)
						Gemm(false, transB, 1, n, k, 1.5, a, k, b, ldb, 0.5, c, n)
						for j := range want {
							if d := math.Abs(float64(c[j] - want[j])); d > 1e-4*(1+math.Abs(float64(want[j]))) {
								t.Fatalf("offset %d: C[%d] = %g, want %g", off, j, c[j], want[j])
							}
						}
					}
				})
			})
		}
	}
}

func TestGemvIgnoresCWhenBetaZero(t *testing.T) {
	// beta == 0 must not read C (NaN there stays out) on every kernel path,
	// and beta == -0 counts as 0.
	const n, k = 200, 40
	r := rand.New(rand.NewPCG(15, 16))
	for _, level := range gemvLevels {
		for _, transB := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/transB=%v", gemmKernels[level].name, transB), func(t *testing.T) {
				withKernel(t, level, 1, pathGemv, func(t *testing.T) {
					a := Randn(r, 1, k).Data
					b := Randn(r, 1, n*k).Data
					ldb := n
					if transB {
						ldb = k
					}
					for _, beta := range []float32{0, float32(math.Copysign(0, -1))} {
						c := make([]float32, n)
						for j := range c {
							c[j] = float32(math.NaN())
						}
						Gemm(false, transB, 1, n, k, 1, a, k, b, ldb, beta, c, n)
						for j, v := range c {
							if math.IsNaN(float64(v)) {
								t.Fatalf("beta=%g: C[%d] is NaN", beta, j)
							}
						}
					}
				})
			})
		}
	}
}

func TestGemvUse(t *testing.T) {
	oldLevel, oldMax := gemmLevel, gemvMaxM
	defer func() { gemmLevel, gemvMaxM = oldLevel, oldMax }()
	gemmLevel = levelAVX2 // gemvUse only reads the level; no kernel runs
	for _, c := range []struct {
		transB  bool
		m, n, k int
		want    bool
	}{
		{false, 1, 384, 128, true}, {false, 1, 1, 128, true}, {true, 1, 50257, 768, true},
		{false, 2, 384, 128, false}, {false, 4, 4096, 128, false}, {false, 4, 3072, 768, true},
		{true, 4, 3072, 768, false}, {false, 5, 3072, 768, false}, {false, 64, 384, 128, false},
	} {
		if got := gemvUse(c.transB, c.m, c.n, c.k); got != c.want {
			t.Errorf("gemvUse(%v, %d, %d, %d) = %v, want %v", c.transB, c.m, c.n, c.k, got, c.want)
		}
	}
	gemmLevel = levelGo
	if !gemvUse(true, 4, 384, 128) || gemvUse(false, 5, 384, 128) {
		t.Error("the Go kernel level: gemvUse should take m <= 4 for any B, and only those")
	}
	gemvMaxM = 0
	if gemvUse(false, 1, 384, 128) {
		t.Error("gemvUse with gemvMaxM = 0 took the GEMV path")
	}
}
