package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemmTol is the accepted error of Gemm against gemmRef, relative to
// |alpha|·Σ_p |op(A)[i,p]·op(B)[p,j]| + |beta·C[i,j]|: both sum up to 300
// float32 products in different orders (worst case ~k·2⁻²⁴ ≈ 2e-5 for
// k = 300; random signs stay far below).
const gemmTol = 2e-5

// gemmCase is one Gemm call with padded operands.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	lda, ldb, ldc  int
	alpha, beta    float32
}

func (g gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d alpha=%g beta=%g",
		g.transA, g.transB, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.alpha, g.beta)
}

// randPadded returns a rows×cols matrix with row stride ld whose padding
// holds NaN, so that any read of padding poisons the result.
func randPadded(r *rand.Rand, rows, cols, ld int) []float32 {
	s := make([]float32, max(0, (rows-1)*ld+cols))
	for i := range s {
		if i%ld < cols {
			s[i] = float32(r.NormFloat64())
		} else {
			s[i] = float32(math.NaN())
		}
	}
	return s
}

// checkGemmCase runs one case through Gemm and gemmRef and reports mismatches.
func checkGemmCase(t testing.TB, r *rand.Rand, g gemmCase) {
	t.Helper()
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	a := randPadded(r, ar, ac, g.lda)
	b := randPadded(r, br, bc, g.ldb)
	c := randPadded(r, g.m, g.n, g.ldc)
	const sentinel = 12345.5
	for i := range c {
		if i%g.ldc >= g.n {
			c[i] = sentinel // C's padding must survive untouched
		} else if g.beta == 0 {
			c[i] = float32(math.NaN()) // must be ignored
		}
	}
	want := append([]float32(nil), c...)
	if g.beta == 0 {
		for i := range want {
			if i%g.ldc < g.n {
				want[i] = 0
			}
		}
	}
	c0 := append([]float32(nil), want...)
	gemmRef(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, want, g.ldc)
	Gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc)

	bad := 0
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.ldc && i*g.ldc+j < len(c); j++ {
			idx := i*g.ldc + j
			if j >= g.n {
				if c[idx] != sentinel {
					t.Fatalf("%v: padding C[%d,%d] overwritten with %g", g, i, j, c[idx])
				}
				continue
			}
			var scale float64
			for p := 0; p < g.k; p++ {
				var av, bv float32
				if g.transA {
					av = a[p*g.lda+i]
				} else {
					av = a[i*g.lda+p]
				}
				if g.transB {
					bv = b[j*g.ldb+p]
				} else {
					bv = b[p*g.ldb+j]
				}
				scale += math.Abs(float64(av) * float64(bv))
			}
			scale = scale*math.Abs(float64(g.alpha)) + math.Abs(float64(g.beta)*float64(c0[idx]))
			diff := math.Abs(float64(c[idx]) - float64(want[idx]))
			if !(diff <= gemmTol*scale+1e-30) {
				if bad++; bad <= 3 {
					t.Errorf("%v: C[%d,%d] = %g, want %g (scale %g)", g, i, j, c[idx], want[idx], scale)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%v: %d wrong elements", g, bad)
	}
}

// randGemmCase draws a case with shapes in 1..maxDim, padded strides and
// alpha/beta from a set that covers the special values.
func randGemmCase(r *rand.Rand, transA, transB bool, maxDim int) gemmCase {
	edges := []int{1, 2, 5, 6, 7, 15, 16, 17, 31, 143, 144, 145, 255, 256, 257}
	dim := func() int {
		if r.IntN(3) == 0 {
			if e := edges[r.IntN(len(edges))]; e <= maxDim {
				return e
			}
		}
		return 1 + r.IntN(maxDim)
	}
	g := gemmCase{transA: transA, transB: transB, m: dim(), n: dim(), k: dim()}
	alphas := []float32{1, -1, 0.5, 1.75}
	betas := []float32{0, 1, -0.5, 2}
	g.alpha, g.beta = alphas[r.IntN(len(alphas))], betas[r.IntN(len(betas))]
	ac, bc := g.k, g.n
	if transA {
		ac = g.m
	}
	if transB {
		bc = g.k
	}
	g.lda, g.ldb, g.ldc = ac+r.IntN(4), bc+r.IntN(4), g.n+r.IntN(4)
	return g
}

// withKernel runs f with the kernel of the given level, the given workers and
// a forced path through gemmNative (pathAuto for the normal choice).
func withKernel(t *testing.T, level, workers, path int, f func(t *testing.T)) {
	t.Helper()
	if level > maxLevel {
		t.Skipf("kernel %s does not run on this CPU", gemmKernels[level].name)
	}
	oldLevel, oldW, oldPath := gemmLevel, Workers, gemmForcePath
	gemmLevel, Workers, gemmForcePath = level, workers, path
	defer func() { gemmLevel, Workers, gemmForcePath = oldLevel, oldW, oldPath }()
	f(t)
}

func TestGemmRandomShapes(t *testing.T) {
	for _, kern := range []struct {
		name                 string
		level, workers, path int
		cases                int
	}{
		{"avx512/auto/workers=1", levelAVX512, 1, pathAuto, 8},
		{"avx512/auto/workers=2", levelAVX512, 2, pathAuto, 8},
		{"avx512/blocked/workers=2", levelAVX512, 2, pathBlocked, 6},
		{"avx512/direct", levelAVX512, 1, pathDirect, 6},
		{"avx2/auto/workers=2", levelAVX2, 2, pathAuto, 6},
		{"avx2/direct", levelAVX2, 1, pathDirect, 6},
		{"avx2/blocked/workers=1", levelAVX2, 1, pathBlocked, 6},
		{"go/auto/workers=1", levelGo, 1, pathAuto, 3},
		{"go/blocked/workers=2", levelGo, 2, pathBlocked, 3},
		{"small", levelGo, 1, pathSmall, 3},
	} {
		t.Run(kern.name, func(t *testing.T) {
			withKernel(t, kern.level, kern.workers, kern.path, func(t *testing.T) {
				r := rand.New(rand.NewPCG(1, uint64(kern.workers*10+kern.path)))
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					for range kern.cases {
						checkGemmCase(t, r, randGemmCase(r, tr[0], tr[1], 300))
					}
				}
			})
		})
	}
}

func TestGemmBlockEdges(t *testing.T) {
	// Shapes that cross each blocking boundary: KC, MC, NC, the small-path
	// threshold and each parallel split (rows, columns of C for few rows,
	// slivers of the shared B block for a short C).
	shapes := [][3]int{
		{6, 16, 1}, {6, 16, 256}, {7, 17, 257}, {145, 33, 513}, {289, 20, 3},
		{7, 3100, 40}, {30, 700, 100}, {128, 256, 300}, {3, 3, 3}, {16, 16, 16}, {16, 17, 15}, {1, 1, 1}, {1, 300, 1}, {300, 1, 2},
		{13, 5, 64}, {64, 64, 1},
	}
	for _, v := range []struct {
		level, path int
	}{
		{levelAVX512, pathAuto}, {levelAVX512, pathBlocked}, {levelAVX512, pathDirect},
		{levelAVX2, pathDirect}, {levelAVX2, pathBlocked}, {levelGo, pathAuto},
	} {
		t.Run(fmt.Sprintf("%s/path=%d", gemmKernels[v.level].name, v.path), func(t *testing.T) {
			withKernel(t, v.level, 2, v.path, func(t *testing.T) {
				r := rand.New(rand.NewPCG(2, 3))
				for _, s := range shapes {
					for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
						g := gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2], alpha: 0.75, beta: 1}
						g.lda, g.ldb, g.ldc = g.k+1, g.n+2, g.n+3
						if g.transA {
							g.lda = g.m + 1
						}
						if g.transB {
							g.ldb = g.k + 2
						}
						checkGemmCase(t, r, g)
						g.beta = 0
						checkGemmCase(t, r, g)
					}
				}
			})
		})
	}
}

func TestGemmConcurrentCalls(t *testing.T) {
	// Independent calls from several goroutines share the buffer pool and
	// the workers; each must still get its own right answer.
	r := rand.New(rand.NewPCG(6, 7))
	var cases []gemmCase
	for i := range 6 {
		cases = append(cases, randGemmCase(r, i%2 == 0, i%3 == 0, 200))
	}
	errs := make(chan string, len(cases))
	for i, g := range cases {
		go func() {
			rec := &recorder{}
			checkGemmCase(rec, rand.New(rand.NewPCG(uint64(i), 8)), g)
			errs <- rec.msg
		}()
	}
	for range cases {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
}

// recorder is a testing.TB for checks run off the test goroutine: it keeps
// the first failure instead of stopping the goroutine.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	if r.msg == "" {
		r.msg = fmt.Sprintf(format, args...)
	}
}
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

func TestGemmDegenerate(t *testing.T) {
	// k == 0 and alpha == 0 only scale C; beta == 0 clears NaN.
	c := []float32{1, float32(math.NaN()), 3, 4}
	Gemm(false, false, 2, 2, 0, 1, make([]float32, 2), 1, nil, 2, 0, c, 2)
	for i, v := range c {
		if v != 0 {
			t.Fatalf("k=0 beta=0: c[%d] = %g, want 0", i, v)
		}
	}
	c = []float32{1, 2, 3, 4}
	a := []float32{1, 2, 3, 4}
	Gemm(false, false, 2, 2, 2, 0, a, 2, a, 2, 2, c, 2)
	for i, v := range c {
		if v != float32(2*(i+1)) {
			t.Fatalf("alpha=0 beta=2: c[%d] = %g, want %d", i, v, 2*(i+1))
		}
	}
	Gemm(false, false, 0, 5, 5, 1, nil, 5, make([]float32, 25), 5, 0, nil, 5) // m == 0: no-op
}

func TestGemmBadArgsPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Gemm with a short C did not panic")
		}
	}()
	Gemm(false, false, 4, 4, 4, 1, make([]float32, 16), 4, make([]float32, 16), 4, 0, make([]float32, 15), 4)
}

func TestGemmBackend(t *testing.T) {
	got := GemmBackend()
	t.Logf("GemmBackend() = %s", got)
	if got == "openblas" {
		return
	}
	want := "go"
	switch {
	case hasAVX512Kernel:
		want = "avx512"
	case hasAsmKernel:
		want = "avx2-fma"
	}
	if got != want {
		t.Fatalf("GemmBackend() = %q, want %q", got, want)
	}
	for level, name := range []string{"go", "avx2-fma", "avx512"} {
		withKernel(t, level, 1, pathAuto, func(t *testing.T) {
			if got := GemmBackend(); got != name {
				t.Fatalf("GemmBackend() at level %d = %q, want %q", level, got, name)
			}
		})
	}
}

func TestGemmNoAllocs(t *testing.T) {
	if GemmBackend() == "openblas" {
		t.Skip("cgo backend")
	}
	old := Workers
	Workers = 1
	defer func() { Workers = old }()
	r := rand.New(rand.NewPCG(4, 5))
	m, n, k := 100, 70, 300
	a, b, c := randPadded(r, m, k, k), randPadded(r, k, n, n), make([]float32, m*n)
	Gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) // warm the pool
	allocs := testing.AllocsPerRun(20, func() {
		Gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
	})
	if allocs > 0 {
		t.Fatalf("steady-state blocked Gemm allocates %.1f times per call", allocs)
	}
	// A policy-sized product takes the direct path (or the Go blocked one).
	m, n, k = 16, 70, 64
	Gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
	allocs = testing.AllocsPerRun(20, func() {
		Gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
	})
	if allocs > 0 {
		t.Fatalf("steady-state small Gemm allocates %.1f times per call", allocs)
	}
}

func FuzzGemm(f *testing.F) {
	f.Add(uint16(1), uint16(1), uint16(1), uint8(0), uint8(0), uint64(1))
	f.Add(uint16(7), uint16(17), uint16(257), uint8(3), uint8(5), uint64(2))
	f.Add(uint16(145), uint16(33), uint16(6), uint8(1), uint8(0xff), uint64(3))
	f.Fuzz(func(t *testing.T, m, n, k uint16, flags, pad uint8, seed uint64) {
		g := gemmCase{
			transA: flags&1 != 0, transB: flags&2 != 0,
			m: 1 + int(m)%200, n: 1 + int(n)%200, k: 1 + int(k)%300,
		}
		g.alpha = []float32{1, -0.5, 2, 1.25}[flags>>2&3]
		g.beta = []float32{0, 1, 0.5, -1}[flags>>4&3]
		ac, bc := g.k, g.n
		if g.transA {
			ac = g.m
		}
		if g.transB {
			bc = g.k
		}
		g.lda, g.ldb, g.ldc = ac+int(pad&3), bc+int(pad>>2&3), g.n+int(pad>>4&3)
		oldLevel, oldPath := gemmLevel, gemmForcePath
		gemmLevel = min(maxLevel, int(flags>>6)) // go, avx2, avx512
		gemmForcePath = int(pad >> 6)            // auto, small, direct or blocked
		defer func() { gemmLevel, gemmForcePath = oldLevel, oldPath }()
		checkGemmCase(t, rand.New(rand.NewPCG(seed, 7)), g)
	})
}

func ExampleGemm() {
	// C (2×2) = A (2×3) · Bᵀ, with B stored as 2×3.
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{1, 0, 1, 0, 1, 0}
	c := make([]float32, 4)
	Gemm(false, true, 2, 2, 3, 1, a, 3, b, 3, 0, c, 2)
	fmt.Println(c)
	// Output: [4 2 10 5]
}

// packACols deals the rows of a transposed A out to the panels with the
// assembly block copies on an AVX2 machine; the panels are the same, bit
// for bit, as the Go loops'.
func TestPackAColsAsm(t *testing.T) {
	if maxLevel < levelAVX2 {
		t.Skip("no AVX2 on this machine: packACols has no assembly path")
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, mr := range []int{6, 12} {
		for range 50 {
			mc, kc := 1+r.IntN(80), 1+r.IntN(40)
			i0, p0 := r.IntN(5), r.IntN(5)
			ld := i0 + mc + r.IntN(9)
			a := make([]float32, (p0+kc)*ld)
			for i := range a {
				a[i] = r.Float32()*2 - 1
			}
			size := (mc + mr - 1) / mr * mr * kc
			got, want := make([]float32, size), make([]float32, size)
			for i := range got {
				got[i], want[i] = float32(math.NaN()), float32(math.NaN()) // every element must be written
			}
			packACols(a, ld, i0, mc, p0, kc, mr, got)
			old := gemmLevel
			gemmLevel = levelGo
			packACols(a, ld, i0, mc, p0, kc, mr, want)
			gemmLevel = old
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("mr %d mc %d kc %d: panel element %d is %v, want %v", mr, mc, kc, i, got[i], want[i])
				}
			}
		}
	}
}
