package tensor

// Matrix-vector products. With a single row of op(A) (m = 1, as when a
// language model decodes one token with a KV cache) the GEMM micro-kernels
// waste most of their 6- or 12-row tile and packing B costs as much as the
// product itself, so gemmNative sends such products here. Each row
// x = op(A)[i, :] (k floats) gives one row y = C[i, :] (n floats):
//
//   - op(B) = B, B stored k×n (nn.Linear's (in, out) weight): y = x·B in
//     blocks of 128 columns (gemvN128, AVX-512), 64 (gemvN64), then 8
//     (gemvN8), reading B's rows in place: each of the k steps multiplies
//     one broadcast x[p] into 64 or 128 contiguous floats of row p;
//   - op(B) = Bᵀ, B stored n×k (a tied LM head's (vocab, C) embedding):
//     y[j] = x·B[j, :], dot products along B's contiguous rows, four rows per
//     call (gemvT4, or gemvT4x16 with AVX-512) so that each load of x serves
//     four rows.
//
// When B is larger than the caches, op(B) = B instead streams B's rows front
// to back, eight at a time, into y (gemvStreamN, gemvNR8). Column blocks (or
// groups of rows of B) are split over the workers. Without the assembly
// kernels the same loops run in Go. m > 1 runs row by row: with the
// assembly kernels only for a large, untransposed B (gemvUse).

// gemvMaxM is the largest m for which gemmNative takes the GEMV path; 0
// turns it off (the benchmarks compare both paths this way). Rows after the
// first each read B again, which beats the assembly GEMM only while B is too
// large for the caches: gemvUse decides.
var gemvMaxM = 4

// gemvRowsMin is the size of B (floats) from which m = 2..gemvMaxM rows of
// op(A) times op(B) = B take the GEMV path where the assembly kernels run.
// Measured on Zen 5 (BenchmarkGemv, one core): with B in L2 the GEMM is
// faster (0.46x for four rows), with B of 0.5M floats (2 MiB) about even,
// with 1.8-2.4M floats the GEMV path is 2.5-5 times faster. For op(B) = Bᵀ
// the GEMM reads a large B once where row-by-row dot products read it m
// times (four rows times GPT-2's LM head: 0.65x), so only m = 1 takes the
// GEMV path there.
const gemvRowsMin = 1 << 20

// gemvUse reports whether gemmNative should run an m×n×k product through
// gemv (once tiny products have gone to gemmSmall).
func gemvUse(transB bool, m, n, k int) bool {
	switch {
	case m == 1:
		return gemvMaxM >= 1
	case m > gemvMaxM:
		return false
	case gemmLevel < levelAVX2:
		// The portable GEMM kernel fills a tile of 6 rows: a few rows
		// run 2.8-7 times faster through gemv's loops, for any B.
		return true
	}
	return !transB && n*k >= gemvRowsMin
}

// Units of work the workers split: 64 columns of y for op(B) = B, 4 for
// op(B) = Bᵀ.
const (
	gemvNB = 64
	gemvTB = 4
)

// gemvNC is the column chunk of y that gemvStreamN keeps in L1 (8 KiB).
const gemvNC = 2048

// gemvStreamMin is the size (floats of B one call reads) above which
// op(B) = B streams B's rows (gemvStreamN) instead of walking it in blocks of
// 64 or 128 columns with the sums in registers (gemvN64, gemvN128), which is
// faster while B is in L2 but reads B with a row stride. Measured on Zen 5
// (BenchmarkGemv, one core): streaming is 1.3-2 times faster than 64-column
// blocks for B in L3 or memory, and about even with 128-column blocks.
var gemvStreamMin = 64 << 10

// gemv computes C = alpha*op(A)*op(B) + beta*C one row of C at a time, on
// checked arguments with m, n, k > 0 and alpha != 0.
func gemv(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	var buf *gemmBuf
	for i := 0; i < m; i++ {
		var x []float32 // op(A)[i, :], (k)
		switch {
		case !transA:
			x = a[i*lda:][:k]
		case lda == 1:
			x = a[i:][:k]
		default:
			// A column with stride lda: gather it so that the kernels
			// read x contiguously.
			if buf == nil {
				buf = gemmPool.Get().(*gemmBuf)
				defer gemmPool.Put(buf)
				buf.a = growFloats(buf.a, k)
			}
			x = buf.a[:k]
			for p := range x {
				x[p] = a[p*lda+i]
			}
		}
		gemvRow(transB, n, k, alpha, x, b, ldb, beta, c[i*ldc:][:n])
	}
}

// gemvRow computes y = alpha*x·op(B) + beta*y for one row: x is (k), y is (n).
func gemvRow(transB bool, n, k int, alpha float32, x, b []float32, ldb int, beta float32, y []float32) {
	unit := gemvNB
	if transB {
		unit = gemvTB
	}
	units := ceilDiv(n, unit)
	if Workers <= 1 || n*k < gemmParallelMin || units < 2 {
		gemvCols(transB, 0, n, k, alpha, x, b, ldb, beta, y)
		return
	}
	ParallelFor(units, max(1, gemmParallelMin/(unit*k)), func(lo, hi int) {
		gemvCols(transB, lo*unit, min(hi*unit, n), k, alpha, x, b, ldb, beta, y)
	})
}

// gemvCols computes y[j0:j1] of gemvRow.
func gemvCols(transB bool, j0, j1, k int, alpha float32, x, b []float32, ldb int, beta float32, y []float32) {
	if gemmLevel < levelAVX2 {
		if transB {
			gemvColsTGo(j0, j1, k, alpha, x, b, ldb, beta, y)
		} else {
			gemvColsNGo(j0, j1, k, alpha, x, b, ldb, beta, y)
		}
		return
	}
	if !transB && k*(j1-j0) > gemvStreamMin {
		gemvStreamN(j0, j1, k, alpha, x, b, ldb, beta, y)
		return
	}
	if !transB {
		j := j0
		if gemmLevel >= levelAVX512 {
			for ; j+2*gemvNB <= j1; j += 2 * gemvNB {
				gemvN128(k, &x[0], &b[j], ldb, &y[j], alpha, beta)
			}
		}
		for ; j+gemvNB <= j1; j += gemvNB {
			gemvN64(k, &x[0], &b[j], ldb, &y[j], alpha, beta)
		}
		for ; j+8 <= j1; j += 8 {
			gemvN8(k, &x[0], &b[j], ldb, &y[j], alpha, beta)
		}
		if j < j1 {
			gemvColsNGo(j, j1, k, alpha, x, b, ldb, beta, y)
		}
		return
	}
	// The kernels take the first kv elements of each dot product (a
	// multiple of their vector width), Go the rest.
	kv, dot4 := k&^7, gemvT4
	if gemmLevel >= levelAVX512 {
		kv, dot4 = k&^15, gemvT4x16
	}
	var s [gemvTB]float32
	j := j0
	for ; j+gemvTB <= j1; j += gemvTB {
		if kv > 0 {
			dot4(kv, &x[0], &b[j*ldb], ldb, &s[0])
		} else {
			s = [gemvTB]float32{}
		}
		for q, t := range s {
			row := b[(j+q)*ldb:][:k]
			for p := kv; p < k; p++ {
				t += x[p] * row[p]
			}
			y[j+q] = axpby(alpha, t, beta, y[j+q])
		}
	}
	if j < j1 {
		gemvColsTGo(j, j1, k, alpha, x, b, ldb, beta, y)
	}
}

// axpby returns alpha*s + beta*y, ignoring y when beta == 0.
func axpby(alpha, s, beta, y float32) float32 {
	if beta == 0 {
		return alpha * s
	}
	return alpha*s + beta*y
}

// gemvColsNGo is gemvCols for op(B) = B in Go.
func gemvColsNGo(j0, j1, k int, alpha float32, x, b []float32, ldb int, beta float32, y []float32) {
	scaleRow(y[j0:j1], beta)
	gemvAccNGo(0, k, j0, j1, alpha, x, b, ldb, y)
}

// gemvAccNGo adds alpha * Σ_{p0<=p<p1} x[p]·B[p, j0:j1] to y[j0:j1], four
// rows of B at a time.
func gemvAccNGo(p0, p1, j0, j1 int, alpha float32, x, b []float32, ldb int, y []float32) {
	yy := y[j0:j1]
	w := len(yy)
	p := p0
	for ; p+4 <= p1; p += 4 {
		x0, x1, x2, x3 := alpha*x[p], alpha*x[p+1], alpha*x[p+2], alpha*x[p+3]
		b0 := b[p*ldb+j0:][:w]
		b1 := b[(p+1)*ldb+j0:][:w]
		b2 := b[(p+2)*ldb+j0:][:w]
		b3 := b[(p+3)*ldb+j0:][:w]
		for j := range yy {
			yy[j] += x0*b0[j] + x1*b1[j] + x2*b2[j] + x3*b3[j]
		}
	}
	for ; p < p1; p++ {
		xp := alpha * x[p]
		bp := b[p*ldb+j0:][:w]
		for j := range yy {
			yy[j] += xp * bp[j]
		}
	}
}

// gemvStreamN is gemvCols for op(B) = B when B is too large for cache:
// y[j0:j1] is cleared or scaled first, then B's rows stream into it eight at
// a time (gemvNR8), in column chunks of gemvNC that keep y's chunk in L1.
func gemvStreamN(j0, j1, k int, alpha float32, x, b []float32, ldb int, beta float32, y []float32) {
	e := j0 + (j1-j0)&^7
	if e < j1 {
		gemvColsNGo(e, j1, k, alpha, x, b, ldb, beta, y)
	}
	scaleRow(y[j0:e], beta)
	k8 := k &^ 7
	var xs [8]float32
	for c0 := j0; c0 < e; c0 += gemvNC {
		c1 := min(c0+gemvNC, e)
		for p := 0; p < k8; p += 8 {
			for r := range xs {
				xs[r] = alpha * x[p+r]
			}
			gemvNR8(c1-c0, &xs[0], &b[p*ldb+c0], ldb, &y[c0])
		}
		gemvAccNGo(k8, k, c0, c1, alpha, x, b, ldb, y)
	}
}

// gemvColsTGo is gemvCols for op(B) = Bᵀ in Go: one dot product per row of B.
func gemvColsTGo(j0, j1, k int, alpha float32, x, b []float32, ldb int, beta float32, y []float32) {
	for j := j0; j < j1; j++ {
		y[j] = axpby(alpha, dotGo(x[:k], b[j*ldb:][:k]), beta, y[j])
	}
}

// dotGo returns Σ x[p]·w[p] with four partial sums; len(w) >= len(x).
func dotGo(x, w []float32) float32 {
	w = w[:len(x)]
	var s0, s1, s2, s3 float32
	p := 0
	for ; p+4 <= len(x); p += 4 {
		s0 += x[p] * w[p]
		s1 += x[p+1] * w[p+1]
		s2 += x[p+2] * w[p+2]
		s3 += x[p+3] * w[p+3]
	}
	for ; p < len(x); p++ {
		s0 += x[p] * w[p]
	}
	return (s0 + s1) + (s2 + s3)
}
