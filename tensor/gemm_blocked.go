package tensor

import "sync"

// Blocking of the native GEMM (Goto/BLIS scheme). The micro-kernel computes
// a gemmMR×gemmNR tile of C from a packed gemmKC×gemmNR sliver of B, which
// stays in L1 (16 KiB), and a packed gemmMC×gemmKC block of A, which stays in
// L2 (144 KiB); a gemmKC×gemmNC block of B lives in L3.
const (
	gemmMR = 6
	gemmNR = 16
	gemmKC = 256
	gemmMC = 144
	gemmNC = 3072

	// gemmSmallMax is the largest m*n*k done by plain loops without packing.
	gemmSmallMax = 4096
	// gemmParallelMin is the smallest m*n*k split over several workers.
	gemmParallelMin = 1 << 17
)

// gemmDirectMaxFloats bounds the operand size (floats of A plus B) that
// gemmDirect reads in place: it should stay within L2.
const gemmDirectMaxFloats = 64 << 10

// Paths through gemmNative; gemmForcePath pins one for tests.
const (
	pathAuto = iota
	pathSmall
	pathDirect
	pathBlocked
)

// gemmForcePath, when not pathAuto, makes gemmNative take that path
// (pathDirect only where the assembly kernel is in use).
var gemmForcePath = pathAuto

// useAsmKernel selects the assembly micro-kernel. It starts as hasAsmKernel;
// tests clear it to exercise the pure-Go kernel on any machine.
var useAsmKernel = hasAsmKernel

// gemmBuf holds one worker's packing buffers; they are pooled so that
// steady-state calls do not allocate.
type gemmBuf struct {
	a   []float32 // packed A block, (MC/MR) panels of (KC, MR)
	b   []float32 // packed B block, (NC/NR) panels of (KC, NR)
	tmp [gemmMR * gemmNR]float32
}

var gemmPool = sync.Pool{New: func() any { return new(gemmBuf) }}

// nativeBackend names the native implementation in use.
func nativeBackend() string {
	if useAsmKernel {
		return asmBackend
	}
	return "go"
}

// gemmNative is the native Gemm on checked arguments.
func gemmNative(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	work := m * n * k
	switch {
	case gemmForcePath == pathSmall || gemmForcePath == pathAuto && work <= gemmSmallMax:
		gemmSmall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	case useAsmKernel && (gemmForcePath == pathDirect ||
		gemmForcePath == pathAuto && work < gemmParallelMin && m*k+k*n <= gemmDirectMaxFloats):
		gemmDirect(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	w := Workers
	if work < gemmParallelMin || w <= 1 {
		gemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Each worker runs the whole blocked algorithm on its own slice of C
	// (whole micro-tiles, so no two workers write one cache line of a tile
	// edge except at the single seam). Splitting rows repacks all of B in
	// every worker, splitting columns repacks all of A: split the dimension
	// that makes the repacked operand the smaller one, as long as it has
	// enough tiles to share.
	mp, np := ceilDiv(m, gemmMR), ceilDiv(n, gemmNR)
	splitRows := n <= m
	if splitRows && mp < 2*w && np >= 2*w {
		splitRows = false
	} else if !splitRows && np < 2*w && mp >= 2*w {
		splitRows = true
	}
	if splitRows && gemmShareB {
		gemmRowsSharedB(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if splitRows {
		grain := max(1, gemmParallelMin/(gemmMR*n*k))
		ParallelFor(mp, grain, func(lo, hi int) {
			i0, i1 := lo*gemmMR, min(hi*gemmMR, m)
			var as []float32
			if transA {
				as = a[i0:]
			} else {
				as = a[i0*lda:]
			}
			gemmSerial(transA, transB, i1-i0, n, k, alpha, as, lda, b, ldb, beta, c[i0*ldc:], ldc)
		})
		return
	}
	grain := max(1, gemmParallelMin/(gemmNR*m*k))
	ParallelFor(np, grain, func(lo, hi int) {
		j0, j1 := lo*gemmNR, min(hi*gemmNR, n)
		var bs []float32
		if transB {
			bs = b[j0*ldb:]
		} else {
			bs = b[j0:]
		}
		gemmSerial(transA, transB, m, j1-j0, k, alpha, a, lda, bs, ldb, beta, c[j0:], ldc)
	})
}

var gemmShareB = true

// gemmRowsSharedB runs the blocked algorithm with the workers splitting the
// rows of C: for each (KC, NC) block of B, all workers first pack a share of
// it into one buffer, then each packs its own rows of A and multiplies them
// by the whole packed block. B is packed once instead of once per worker.
func gemmRowsSharedB(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	shared := gemmPool.Get().(*gemmBuf)
	defer gemmPool.Put(shared)
	kc := blockSize(k, gemmKC, 1)
	nc := blockSize(n, gemmNC, gemmNR)
	shared.b = growFloats(shared.b, nc*kc)
	bp := shared.b
	mp := ceilDiv(m, gemmMR)
	rowGrain := max(1, gemmParallelMin/(gemmMR*min(n, nc)*kc))
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			ParallelFor(ceilDiv(nb, gemmNR), 8, func(lo, hi int) {
				j0, j1 := lo*gemmNR, min(hi*gemmNR, nb)
				packB(transB, b, ldb, pc, kb, jc+j0, j1-j0, bp[j0*kb:])
			})
			ParallelFor(mp, rowGrain, func(lo, hi int) {
				buf := gemmPool.Get().(*gemmBuf)
				defer gemmPool.Put(buf)
				i0, i1 := lo*gemmMR, min(hi*gemmMR, m)
				mc := blockSize(i1-i0, gemmMC, gemmMR)
				buf.a = growFloats(buf.a, mc*kb)
				for ic := i0; ic < i1; ic += mc {
					mb := min(mc, i1-ic)
					packA(transA, a, lda, ic, mb, pc, kb, buf.a)
					macroKernel(mb, nb, kb, alpha, buf.a, bp, bet, c[ic*ldc+jc:], ldc, &buf.tmp)
				}
			})
		}
	}
}

// gemmSerial runs the blocked algorithm on the calling goroutine.
func gemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	buf := gemmPool.Get().(*gemmBuf)
	defer gemmPool.Put(buf)
	kc := blockSize(k, gemmKC, 1)
	mc := blockSize(m, gemmMC, gemmMR)
	nc := blockSize(n, gemmNC, gemmNR)
	buf.a = growFloats(buf.a, mc*kc)
	buf.b = growFloats(buf.b, nc*kc)
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			packB(transB, b, ldb, pc, kb, jc, nb, buf.b)
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(transA, a, lda, ic, mb, pc, kb, buf.a)
				macroKernel(mb, nb, kb, alpha, buf.a, buf.b, bet, c[ic*ldc+jc:], ldc, &buf.tmp)
			}
		}
	}
}

// macroKernel multiplies a packed (mc, kc) block of A by a packed (kc, nc)
// block of B into C (row stride ldc), tile by tile.
func macroKernel(mc, nc, kc int, alpha float32, ap, bp []float32, beta float32, c []float32, ldc int, tmp *[gemmMR * gemmNR]float32) {
	asm := useAsmKernel
	for jr := 0; jr < nc; jr += gemmNR {
		nr := min(gemmNR, nc-jr)
		bs := bp[jr*kc : (jr+gemmNR)*kc]
		for ir := 0; ir < mc; ir += gemmMR {
			mr := min(gemmMR, mc-ir)
			as := ap[ir*kc : (ir+gemmMR)*kc]
			if mr == gemmMR && nr == gemmNR {
				if asm {
					kernel6x16(kc, &as[0], &bs[0], &c[ir*ldc+jr], ldc, alpha, beta)
				} else {
					goKernel(kc, as, bs, c[ir*ldc+jr:], ldc, alpha, beta)
				}
				continue
			}
			// Edge tile: compute the full tile aside, then merge its valid part.
			if asm {
				kernel6x16(kc, &as[0], &bs[0], &tmp[0], gemmNR, alpha, 0)
			} else {
				goKernel(kc, as, bs, tmp[:], gemmNR, alpha, 0)
			}
			mergeTile(tmp, mr, nr, beta, c[ir*ldc+jr:], ldc)
		}
	}
}

// goKernel is the portable micro-kernel: C[0:MR, 0:NR] = alpha*ap·bp + beta*C
// on packed panels ap (kc, MR) and bp (kc, NR). It walks the tile in 3×4
// sub-tiles so that twelve accumulators stay in registers.
func goKernel(kc int, ap, bp []float32, c []float32, ldc int, alpha, beta float32) {
	ap = ap[:kc*gemmMR]
	bp = bp[:kc*gemmNR]
	for r := 0; r < gemmMR; r += 3 {
		for j := 0; j < gemmNR; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23 float32
			for p := 0; p < kc; p++ {
				a := ap[p*gemmMR+r:][:3]
				b := bp[p*gemmNR+j:][:4]
				a0, a1, a2 := a[0], a[1], a[2]
				b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
				c20 += a2 * b0
				c21 += a2 * b1
				c22 += a2 * b2
				c23 += a2 * b3
			}
			storeRow4(c[r*ldc+j:][:4], alpha, beta, c00, c01, c02, c03)
			storeRow4(c[(r+1)*ldc+j:][:4], alpha, beta, c10, c11, c12, c13)
			storeRow4(c[(r+2)*ldc+j:][:4], alpha, beta, c20, c21, c22, c23)
		}
	}
}

// storeRow4 sets row = alpha*(v0..v3) + beta*row, never reading row when beta == 0.
func storeRow4(row []float32, alpha, beta, v0, v1, v2, v3 float32) {
	row = row[:4]
	if beta == 0 {
		row[0], row[1], row[2], row[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
		return
	}
	row[0] = alpha*v0 + beta*row[0]
	row[1] = alpha*v1 + beta*row[1]
	row[2] = alpha*v2 + beta*row[2]
	row[3] = alpha*v3 + beta*row[3]
}

// packA copies op(A)[i0:i0+mc, p0:p0+kc] into dst as panels of gemmMR rows:
// panel q holds, for each p, the gemmMR values op(A)[i0+q*MR+r, p0+p]; rows
// past mc are zero.
func packA(transA bool, a []float32, lda, i0, mc, p0, kc int, dst []float32) {
	for ir := 0; ir < mc; ir += gemmMR {
		mr := min(gemmMR, mc-ir)
		d := dst[ir*kc : (ir+gemmMR)*kc]
		if transA {
			// op(A)[i, p] = a[p*lda + i]: each p is a contiguous run of rows.
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+i0+ir:][:mr]
				dd := d[p*gemmMR:][:gemmMR]
				if mr == gemmMR {
					*(*[gemmMR]float32)(dd) = *(*[gemmMR]float32)(src)
					continue
				}
				copy(dd, src)
				clear(dd[mr:])
			}
			continue
		}
		// op(A)[i, p] = a[i*lda + p]: interleave mr rows.
		base := (i0+ir)*lda + p0
		if mr == gemmMR {
			r0 := a[base:][:kc]
			r1 := a[base+lda:][:kc]
			r2 := a[base+2*lda:][:kc]
			r3 := a[base+3*lda:][:kc]
			r4 := a[base+4*lda:][:kc]
			r5 := a[base+5*lda:][:kc]
			for p := range r0 {
				dd := (*[gemmMR]float32)(d[p*gemmMR:])
				dd[0], dd[1], dd[2], dd[3], dd[4], dd[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
			}
			continue
		}
		clear(d)
		for r := 0; r < mr; r++ {
			row := a[base+r*lda:][:kc]
			for p, v := range row {
				d[p*gemmMR+r] = v
			}
		}
	}
}

// packB copies op(B)[p0:p0+kc, j0:j0+nc] into dst as panels of gemmNR
// columns: panel q holds, for each p, the gemmNR values op(B)[p0+p, j0+q*NR+j];
// columns past nc are zero.
func packB(transB bool, b []float32, ldb, p0, kc, j0, nc int, dst []float32) {
	for jr := 0; jr < nc; jr += gemmNR {
		nr := min(gemmNR, nc-jr)
		d := dst[jr*kc : (jr+gemmNR)*kc]
		if !transB {
			// op(B)[p, j] = b[p*ldb + j]: each p is a contiguous run.
			for p := 0; p < kc; p++ {
				src := b[(p0+p)*ldb+j0+jr:][:nr]
				dd := d[p*gemmNR:][:gemmNR]
				if nr == gemmNR {
					*(*[gemmNR]float32)(dd) = *(*[gemmNR]float32)(src)
					continue
				}
				copy(dd, src)
				clear(dd[nr:])
			}
			continue
		}
		// op(B)[p, j] = b[j*ldb + p]: transpose 4 columns at a time.
		if nr < gemmNR {
			clear(d)
		}
		base := (j0+jr)*ldb + p0
		j := 0
		for ; j+4 <= nr; j += 4 {
			s0 := b[base+j*ldb:][:kc]
			s1 := b[base+(j+1)*ldb:][:kc]
			s2 := b[base+(j+2)*ldb:][:kc]
			s3 := b[base+(j+3)*ldb:][:kc]
			for p := range s0 {
				dd := (*[4]float32)(d[p*gemmNR+j:])
				dd[0], dd[1], dd[2], dd[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; j < nr; j++ {
			s := b[base+j*ldb:][:kc]
			for p, v := range s {
				d[p*gemmNR+j] = v
			}
		}
	}
}

// gemmSmall does tiny products with plain loops: packing would cost more
// than the arithmetic.
func gemmSmall(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc:][:n]
		if !transB {
			// row = beta*row + alpha * Σ_p A[i,p]·B[p,:]
			scaleRow(row, beta)
			for p := 0; p < k; p++ {
				var av float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				av *= alpha
				br := b[p*ldb:][:n]
				for j, bv := range br {
					row[j] += av * bv
				}
			}
			continue
		}
		// op(B)[p, j] = b[j*ldb + p]: dot products along contiguous rows of b.
		for j := range row {
			br := b[j*ldb:][:k]
			var s float32
			if transA {
				for p, bv := range br {
					s += a[p*lda+i] * bv
				}
			} else {
				ar := a[i*lda:][:k]
				for p, bv := range br {
					s += ar[p] * bv
				}
			}
			if beta == 0 {
				row[j] = alpha * s
			} else {
				row[j] = alpha*s + beta*row[j]
			}
		}
	}
}

// scaleC sets C = beta*C, writing zeros (not beta*NaN) when beta == 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		scaleRow(c[i*ldc:][:n], beta)
	}
}

// scaleRow sets row = beta*row, writing zeros when beta == 0.
func scaleRow(row []float32, beta float32) {
	switch beta {
	case 1:
	case 0:
		clear(row)
	default:
		for j := range row {
			row[j] *= beta
		}
	}
}

// blockSize splits total into the fewest blocks of at most block and returns
// a balanced block size, rounded up to a multiple of unit.
func blockSize(total, block, unit int) int {
	nb := max(1, ceilDiv(total, block))
	return ceilDiv(ceilDiv(total, nb), unit) * unit
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// growFloats returns s resliced to n, reallocating only when too small.
func growFloats(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
