package tensor

// gemmDirect multiplies operands that fit in cache without packing them:
// the strided assembly kernel reads op(A) in place for either transpose and
// op(B) in place when it is not transposed. Only a transposed B (copied into
// column panels) and the zero-padded edge rows of A and edge columns of B are
// copied. The caller checks that the AVX2 kernel runs here; the AVX-512
// one is used where it runs.
func gemmDirect(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	buf := gemmPool.Get().(*gemmBuf)
	defer gemmPool.Put(buf)

	rsA, csA := lda, 1 // op(A)[i, p] = a[i*rsA + p*csA]
	if transA {
		rsA, csA = 1, lda
	}
	mFull := m / gemmMR * gemmMR
	if mFull < m {
		buf.a = growFloats(buf.a, gemmMR*k)
		packA(transA, a, lda, mFull, m-mFull, 0, k, gemmMR, buf.a)
	}
	// Column slivers of nr: 32 with the AVX-512 kernel when n is wide
	// enough, else 16 with the AVX2 one.
	nr := gemmNR
	if gemmLevel >= levelAVX512 && n >= 32 {
		nr = 32
	}
	nFull := n / nr * nr
	if transB {
		// Column panels of op(B), each (k, nr) row-major and zero-padded.
		buf.b = growFloats(buf.b, ceilDiv(n, nr)*nr*k)
		packB(true, b, ldb, 0, k, 0, n, nr, buf.b)
	} else if nFull < n {
		buf.b = growFloats(buf.b, nr*k)
		packB(false, b, ldb, 0, k, nFull, n-nFull, nr, buf.b)
	}

	// Workers split the row panels; each walks all column slivers so that
	// a sliver of B is reused across its panels while it is in L1.
	d := directArgs{k: k, nr: nr, nFull: nFull, transB: transB, a: a, rsA: rsA, csA: csA,
		b: b, ldb: ldb, apad: buf.a, bpad: buf.b, alpha: alpha, beta: beta, c: c, ldc: ldc, m: m, n: n}
	mp := ceilDiv(m, gemmMR)
	if Workers <= 1 || m*n*k < gemmParallelMin || mp < 2 {
		d.panels(0, mp)
		return
	}
	dp := new(directArgs) // a heap copy, so that d itself stays on the stack
	*dp = d
	ParallelFor(mp, max(1, gemmParallelMin/(gemmMR*n*k)), dp.panels)
}

// directArgs carries one gemmDirect call to its workers.
type directArgs struct {
	k, nr, nFull int
	transB       bool
	a            []float32
	rsA, csA     int
	b            []float32
	ldb          int
	apad, bpad   []float32 // packed edge rows of A; packed (transposed or edge) B
	alpha, beta  float32
	c            []float32
	ldc, m, n    int
}

// panels computes the row panels [lo, hi) of C over all column slivers.
func (d *directArgs) panels(lo, hi int) {
	var tmp [gemmTileMax]float32
	k, nr, m := d.k, d.nr, d.m
	for jr := 0; jr < d.n; jr += nr {
		nv := min(nr, d.n-jr)
		var bp *float32
		var bs int
		switch {
		case d.transB:
			bp, bs = &d.bpad[jr*k], nr
		case jr < d.nFull:
			bp, bs = &d.b[jr], d.ldb
		default:
			bp, bs = &d.bpad[0], nr
		}
		for ir := lo * gemmMR; ir < min(hi*gemmMR, m); ir += gemmMR {
			mv := min(gemmMR, m-ir)
			var ap *float32
			var rs, cs int
			if mv == gemmMR {
				ap, rs, cs = &d.a[ir*d.rsA], d.rsA, d.csA
			} else {
				ap, rs, cs = &d.apad[0], 1, gemmMR
			}
			if mv == gemmMR && nv == nr {
				directKernel(nr, k, ap, rs, cs, bp, bs, &d.c[ir*d.ldc+jr], d.ldc, d.alpha, d.beta)
				continue
			}
			directKernel(nr, k, ap, rs, cs, bp, bs, &tmp[0], nr, d.alpha, 0)
			mergeTile(&tmp, nr, mv, nv, d.beta, d.c[ir*d.ldc+jr:], d.ldc)
		}
	}
}

// directKernel calls the strided kernel for slivers of nr columns (16 or 32).
func directKernel(nr, k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32) {
	if nr == 32 {
		kernel6x32s(k, a, rsA, csA, b, ldb, c, ldc, alpha, beta)
		return
	}
	kernel6x16s(k, a, rsA, csA, b, ldb, c, ldc, alpha, beta)
}

// mergeTile sets C[0:mr, 0:nr] = tmp + beta*C, where tmp has row stride
// tstride, ignoring C when beta == 0.
func mergeTile(tmp *[gemmTileMax]float32, tstride, mr, nr int, beta float32, c []float32, ldc int) {
	for i := 0; i < mr; i++ {
		row := c[i*ldc:][:nr]
		t := tmp[i*tstride:][:nr]
		if beta == 0 {
			copy(row, t)
			continue
		}
		for j := range row {
			row[j] = t[j] + beta*row[j]
		}
	}
}
