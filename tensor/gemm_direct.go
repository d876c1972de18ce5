package tensor

// gemmDirect multiplies operands that fit in cache without packing them:
// the strided assembly kernel reads op(A) in place for either transpose and
// op(B) in place when it is not transposed. Only a transposed B (copied into
// column panels) and the zero-padded edge rows of A and edge columns of B are
// copied. The caller checks that the AVX2 kernel runs here.
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
	nFull := n / gemmNR * gemmNR
	if transB {
		// Column panels of op(B), each (k, NR) row-major and zero-padded.
		buf.b = growFloats(buf.b, ceilDiv(n, gemmNR)*gemmNR*k)
		packB(true, b, ldb, 0, k, 0, n, gemmNR, buf.b)
	} else if nFull < n {
		buf.b = growFloats(buf.b, gemmNR*k)
		packB(false, b, ldb, 0, k, nFull, n-nFull, gemmNR, buf.b)
	}

	tmp := &buf.tmp
	for jr := 0; jr < n; jr += gemmNR {
		nr := min(gemmNR, n-jr)
		var bp *float32
		var bs int
		switch {
		case transB:
			bp, bs = &buf.b[jr*k], gemmNR
		case jr < nFull:
			bp, bs = &b[jr], ldb
		default:
			bp, bs = &buf.b[0], gemmNR
		}
		for ir := 0; ir < m; ir += gemmMR {
			mr := min(gemmMR, m-ir)
			var ap *float32
			var rs, cs int
			if mr == gemmMR {
				ap, rs, cs = &a[ir*rsA], rsA, csA
			} else {
				ap, rs, cs = &buf.a[0], 1, gemmMR
			}
			if mr == gemmMR && nr == gemmNR {
				kernel6x16s(k, ap, rs, cs, bp, bs, &c[ir*ldc+jr], ldc, alpha, beta)
				continue
			}
			kernel6x16s(k, ap, rs, cs, bp, bs, &tmp[0], gemmNR, alpha, 0)
			mergeTile(tmp, gemmNR, mr, nr, beta, c[ir*ldc+jr:], ldc)
		}
	}
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
