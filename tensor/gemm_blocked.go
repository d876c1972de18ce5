package tensor

import "sync"

// The native GEMM takes one of four paths:
//   - a single row of op(A), or up to four times a large B: matrix-vector
//     products, gemv (gemv.go);
//   - tiny products (and single rows where tiles would be mostly padding):
//     plain loops, gemmSmall;
//   - operands that fit in L2: gemmDirect, a strided assembly kernel that
//     reads A and a non-transposed B in place, no packing;
//   - the rest: the Goto/BLIS scheme. A micro-kernel computes an mr×nr tile
//     of C from a packed kc×nr sliver of B, which stays in L1, and a packed
//     mr×kc panel of A streamed from an mc×kc block that stays in L2; a kc×nc
//     block of B lives in L3. Packing handles the transposes, so one kernel
//     serves all four cases.
//
// gemmMR×gemmNR is the tile of the AVX2 and Go kernels; the direct path uses
// 6×16 (AVX2) or 6×32 (AVX-512) tiles.
const (
	gemmMR = 6
	gemmNR = 16

	// gemmSmallMax is the largest m*n*k done by plain loops without packing
	// (gemmSmallMaxGo without an assembly kernel); gemmSmallRowMax the
	// largest n*k done so when m == 1 and the kernels' tiles would be mostly
	// padding (B transposed, or n < 16).
	gemmSmallMax    = 64
	gemmSmallMaxGo  = 4096
	gemmSmallRowMax = 1 << 14
	// gemmParallelMin is the smallest m*n*k split over several workers
	// (about 4 µs of one core at the AVX-512 rate; handing work to another
	// goroutine costs a few µs).
	gemmParallelMin = 1 << 19
	// gemmDirectMaxFloats bounds the operand size (floats of A plus B) that
	// gemmDirect reads in place: it should stay within L2.
	gemmDirectMaxFloats = 64 << 10
	// gemmTileMax is the largest mr*nr of any kernel.
	gemmTileMax = 12 * 32
)

// gemmKernel is one micro-kernel with the blocking that suits it.
type gemmKernel struct {
	name       string
	mr, nr     int // tile of C per call
	kc, mc, nc int // cache blocks: kc×nr B sliver in L1, mc×kc A block in L2
	// fn computes C[0:mr, 0:nr] = alpha*Apanel·Bpanel + beta*C from packed
	// panels, never reading C when beta == 0; nil means goKernel.
	fn func(k int, a, b, c *float32, ldc int, alpha, beta float32)
}

// Kernel levels, from the most portable up.
const (
	levelGo = iota
	levelAVX2
	levelAVX512
)

// gemmKernels is indexed by level. The AVX2 kernel keeps a 16 KiB B sliver
// and a 144 KiB A block (Zen 3: L1 32 KiB, L2 512 KiB); the AVX-512 one a
// 32 KiB sliver and a 240 KiB block (Zen 4/5: L1 32-48 KiB, L2 1 MiB).
var gemmKernels = [...]gemmKernel{
	levelGo:     {name: "go", mr: gemmMR, nr: gemmNR, kc: 256, mc: 144, nc: 3072},
	levelAVX2:   {name: "avx2-fma", mr: gemmMR, nr: gemmNR, kc: 256, mc: 144, nc: 3072, fn: kernel6x16},
	levelAVX512: {name: "avx512", mr: 12, nr: 32, kc: 256, mc: 240, nc: 3072, fn: kernel12x32},
}

// maxLevel is the best kernel this CPU runs.
var maxLevel = func() int {
	switch {
	case hasAVX512Kernel:
		return levelAVX512
	case hasAsmKernel:
		return levelAVX2
	}
	return levelGo
}()

// gemmLevel selects the kernel; it starts at maxLevel and tests lower it to
// exercise the other kernels on any machine.
var gemmLevel = maxLevel

// Paths through gemmNative; gemmForcePath pins one for tests.
const (
	pathAuto = iota
	pathSmall
	pathDirect
	pathBlocked
	pathGemv
)

// gemmForcePath, when not pathAuto, makes gemmNative take that path
// (pathDirect only where an assembly kernel is in use).
var gemmForcePath = pathAuto

// gemmBuf holds one worker's packing buffers; they are pooled so that
// steady-state calls do not allocate.
type gemmBuf struct {
	a   []float32 // packed A block, (mc/mr) panels of (kc, mr)
	b   []float32 // packed B block, (nc/nr) panels of (kc, nr)
	tmp [gemmTileMax]float32
}

var gemmPool = sync.Pool{New: func() any { return new(gemmBuf) }}

// nativeBackend names the native implementation in use.
func nativeBackend() string { return gemmKernels[gemmLevel].name }

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
	smallMax := gemmSmallMax
	if gemmLevel < levelAVX2 {
		smallMax = gemmSmallMaxGo
	}
	if gemmForcePath == pathGemv || gemmForcePath == pathAuto && work > smallMax && gemvUse(transB, m, n, k) {
		gemv(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	switch {
	case gemmForcePath == pathSmall ||
		gemmForcePath == pathAuto && (work <= smallMax || m == 1 && (transB || n < gemmNR) && work <= gemmSmallRowMax):
		gemmSmall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	case gemmLevel >= levelAVX2 && (gemmForcePath == pathDirect ||
		gemmForcePath == pathAuto && m*k+k*n <= gemmDirectMaxFloats):
		gemmDirect(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	kern := &gemmKernels[gemmLevel]
	w := Workers
	if work < gemmParallelMin || w <= 1 {
		gemmSerial(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Workers split the rows of C in whole tiles and share each packed
	// block of B. Too few rows to share: each worker takes whole tiles of
	// columns and runs the serial algorithm (repacking A, which is small).
	if ceilDiv(m, kern.mr) >= 2*w || ceilDiv(n, kern.nr) < 2*w {
		gemmRowsSharedB(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	grain := max(1, gemmParallelMin/(kern.nr*m*k))
	ParallelFor(ceilDiv(n, kern.nr), grain, func(lo, hi int) {
		j0, j1 := lo*kern.nr, min(hi*kern.nr, n)
		var bs []float32
		if transB {
			bs = b[j0*ldb:]
		} else {
			bs = b[j0:]
		}
		gemmSerial(kern, transA, transB, m, j1-j0, k, alpha, a, lda, bs, ldb, beta, c[j0:], ldc)
	})
}

// gemmRowsSharedB runs the blocked algorithm with the workers splitting the
// rows of C: for each (kc, nc) block of B, all workers first pack a share of
// it into one buffer, then each packs its own rows of A and multiplies them
// by the whole packed block. B is packed once instead of once per worker.
func gemmRowsSharedB(kern *gemmKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	shared := gemmPool.Get().(*gemmBuf)
	defer gemmPool.Put(shared)
	kc := blockSize(k, kern.kc, 1)
	nc := blockSize(n, kern.nc, kern.nr)
	shared.b = growFloats(shared.b, nc*kc)
	bp := shared.b
	mp := ceilDiv(m, kern.mr)
	rowGrain := max(1, gemmParallelMin/(kern.mr*min(n, nc)*kc))
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			ParallelFor(ceilDiv(nb, kern.nr), 4, func(lo, hi int) {
				j0, j1 := lo*kern.nr, min(hi*kern.nr, nb)
				packB(transB, b, ldb, pc, kb, jc+j0, j1-j0, kern.nr, bp[j0*kb:])
			})
			// Split the rows of C, or, when there are too few row panels to
			// share evenly, the column slivers of the packed B block (each
			// worker then packs all of the small A block itself).
			ns := ceilDiv(nb, kern.nr)
			if splitLoss(ns, Workers) < splitLoss(mp, Workers) {
				ParallelFor(ns, 1, func(lo, hi int) {
					buf := gemmPool.Get().(*gemmBuf)
					defer gemmPool.Put(buf)
					j0, j1 := lo*kern.nr, min(hi*kern.nr, nb)
					mc := blockSize(m, kern.mc, kern.mr)
					buf.a = growFloats(buf.a, mc*kb)
					for ic := 0; ic < m; ic += mc {
						mb := min(mc, m-ic)
						packA(transA, a, lda, ic, mb, pc, kb, kern.mr, buf.a)
						macroKernel(kern, mb, j1-j0, kb, alpha, buf.a, bp[j0*kb:], bet, c[ic*ldc+jc+j0:], ldc, &buf.tmp)
					}
				})
				continue
			}
			ParallelFor(mp, rowGrain, func(lo, hi int) {
				buf := gemmPool.Get().(*gemmBuf)
				defer gemmPool.Put(buf)
				i0, i1 := lo*kern.mr, min(hi*kern.mr, m)
				mc := blockSize(i1-i0, kern.mc, kern.mr)
				buf.a = growFloats(buf.a, mc*kb)
				for ic := i0; ic < i1; ic += mc {
					mb := min(mc, i1-ic)
					packA(transA, a, lda, ic, mb, pc, kb, kern.mr, buf.a)
					macroKernel(kern, mb, nb, kb, alpha, buf.a, bp, bet, c[ic*ldc+jc:], ldc, &buf.tmp)
				}
			})
		}
	}
}

// splitLoss is the share of time lost to imbalance when units equal pieces
// of work are dealt to w workers in contiguous chunks: the busiest worker
// has ceil(units/w), the average units/w.
func splitLoss(units, w int) float64 {
	if w <= 1 || units <= 0 {
		return 0
	}
	return float64(ceilDiv(units, w)*w)/float64(units) - 1
}

// gemmSerial runs the blocked algorithm on the calling goroutine.
func gemmSerial(kern *gemmKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	buf := gemmPool.Get().(*gemmBuf)
	defer gemmPool.Put(buf)
	kc := blockSize(k, kern.kc, 1)
	mc := blockSize(m, kern.mc, kern.mr)
	nc := blockSize(n, kern.nc, kern.nr)
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
			packB(transB, b, ldb, pc, kb, jc, nb, kern.nr, buf.b)
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(transA, a, lda, ic, mb, pc, kb, kern.mr, buf.a)
				macroKernel(kern, mb, nb, kb, alpha, buf.a, buf.b, bet, c[ic*ldc+jc:], ldc, &buf.tmp)
			}
		}
	}
}

// macroKernel multiplies a packed (mc, kc) block of A by a packed (kc, nc)
// block of B into C (row stride ldc), tile by tile.
func macroKernel(kern *gemmKernel, mc, nc, kc int, alpha float32, ap, bp []float32, beta float32, c []float32, ldc int, tmp *[gemmTileMax]float32) {
	fn, mr, nr := kern.fn, kern.mr, kern.nr
	for jr := 0; jr < nc; jr += nr {
		nv := min(nr, nc-jr)
		bs := bp[jr*kc : (jr+nr)*kc]
		for ir := 0; ir < mc; ir += mr {
			mv := min(mr, mc-ir)
			as := ap[ir*kc : (ir+mr)*kc]
			if mv == mr && nv == nr {
				if fn != nil {
					fn(kc, &as[0], &bs[0], &c[ir*ldc+jr], ldc, alpha, beta)
				} else {
					goKernel(kc, as, bs, c[ir*ldc+jr:], ldc, alpha, beta)
				}
				continue
			}
			// Edge tile: compute the full tile aside, then merge its valid part.
			if fn != nil {
				fn(kc, &as[0], &bs[0], &tmp[0], nr, alpha, 0)
			} else {
				goKernel(kc, as, bs, tmp[:], nr, alpha, 0)
			}
			mergeTile(tmp, nr, mv, nv, beta, c[ir*ldc+jr:], ldc)
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

// packA copies op(A)[i0:i0+mc, p0:p0+kc] into dst as panels of mr rows:
// panel q holds, for each p, the mr values op(A)[i0+q*mr+r, p0+p]; rows past
// mc are zero.
func packA(transA bool, a []float32, lda, i0, mc, p0, kc, mr int, dst []float32) {
	if transA {
		packACols(a, lda, i0, mc, p0, kc, mr, dst)
		return
	}
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		d := dst[ir*kc : (ir+mr)*kc]
		// op(A)[i, p] = a[i*lda + p]: interleave the rows, six at a time.
		if rows < mr {
			clear(d)
		}
		base := (i0+ir)*lda + p0
		if gemmLevel >= levelAVX2 && rows == mr && mr >= 8 && kc >= 8 {
			// 8×8 blocks in assembly (groups of 8 rows, the last one
			// overlapping the previous when mr is not a multiple of 8),
			// then the last kc%8 steps.
			for r0 := 0; r0 < mr; r0 += 8 {
				r := min(r0, mr-8)
				transpose8(kc/8, &a[base+r*lda], lda, &d[r], mr)
			}
			for r := 0; r < mr; r++ {
				for p := kc / 8 * 8; p < kc; p++ {
					d[p*mr+r] = a[base+r*lda+p]
				}
			}
			continue
		}
		r := 0
		for ; r+6 <= rows; r += 6 {
			interleave6(d[r:], mr, a, base+r*lda, lda, kc)
		}
		for ; r < rows; r++ {
			row := a[base+r*lda:][:kc]
			for p, v := range row {
				d[p*mr+r] = v
			}
		}
	}
}

// packACols is packA for a transposed A: op(A)[i, p] = a[p*lda + i]. It reads
// A row by row, sequentially, and deals each row out to the panels.
func packACols(a []float32, lda, i0, mc, p0, kc, mr int, dst []float32) {
	full := mc / mr * mr
	asm := gemmLevel >= levelAVX2 && full > 0
	for p := 0; p < kc; p++ {
		src := a[(p0+p)*lda+i0:][:mc]
		ir := 0
		switch {
		case asm && mr == 12:
			copyBlocks12(full/12, &src[0], 12, &dst[p*12], kc*12)
			ir = full
		case asm && mr == 6:
			copyBlocks6(full/6, &src[0], 6, &dst[p*6], kc*6)
			ir = full
		}
		switch mr {
		case 6:
			for ; ir < full; ir += 6 {
				*(*[6]float32)(dst[ir*kc+p*6:]) = *(*[6]float32)(src[ir:])
			}
		case 12:
			for ; ir < full; ir += 12 {
				*(*[12]float32)(dst[ir*kc+p*12:]) = *(*[12]float32)(src[ir:])
			}
		default:
			for ; ir < full; ir += mr {
				copy(dst[ir*kc+p*mr:][:mr], src[ir:ir+mr])
			}
		}
		if full < mc {
			d := dst[full*kc+p*mr:][:mr]
			copy(d, src[full:])
			clear(d[mc-full:])
		}
	}
}

// interleave6 writes d[p*stride+r] = a[base + r*lda + p] for r < 6, p < kc.
func interleave6(d []float32, stride int, a []float32, base, lda, kc int) {
	r0 := a[base:][:kc]
	r1 := a[base+lda:][:kc]
	r2 := a[base+2*lda:][:kc]
	r3 := a[base+3*lda:][:kc]
	r4 := a[base+4*lda:][:kc]
	r5 := a[base+5*lda:][:kc]
	for p := range r0 {
		dd := (*[6]float32)(d[p*stride:])
		dd[0], dd[1], dd[2], dd[3], dd[4], dd[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
}

// packB copies op(B)[p0:p0+kc, j0:j0+nc] into dst as panels of nr columns:
// panel q holds, for each p, the nr values op(B)[p0+p, j0+q*nr+j]; columns
// past nc are zero.
func packB(transB bool, b []float32, ldb, p0, kc, j0, nc, nr int, dst []float32) {
	if !transB {
		packBRows(b, ldb, p0, kc, j0, nc, nr, dst)
		return
	}
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		d := dst[jr*kc : (jr+nr)*kc]
		// op(B)[p, j] = b[j*ldb + p]: transpose 4 columns at a time.
		if cols < nr {
			clear(d)
		}
		base := (j0+jr)*ldb + p0
		j := 0
		if gemmLevel >= levelAVX2 && kc >= 8 {
			// 8×8 blocks in assembly, the last kc%8 steps below.
			k8 := kc / 8 * 8
			for ; j+8 <= cols; j += 8 {
				transpose8(kc/8, &b[base+j*ldb], ldb, &d[j], nr)
				for jj := j; jj < j+8; jj++ {
					s := b[base+jj*ldb+k8:][:kc-k8]
					for p, v := range s {
						d[(k8+p)*nr+jj] = v
					}
				}
			}
		}
		for ; j+4 <= cols; j += 4 {
			s0 := b[base+j*ldb:][:kc]
			s1 := b[base+(j+1)*ldb:][:kc]
			s2 := b[base+(j+2)*ldb:][:kc]
			s3 := b[base+(j+3)*ldb:][:kc]
			for p := range s0 {
				dd := (*[4]float32)(d[p*nr+j:])
				dd[0], dd[1], dd[2], dd[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; j < cols; j++ {
			s := b[base+j*ldb:][:kc]
			for p, v := range s {
				d[p*nr+j] = v
			}
		}
	}
}

// packBRows is packB for a B that is not transposed: op(B)[p, j] = b[p*ldb + j].
// It reads B row by row, sequentially, and deals each row out to the panels.
func packBRows(b []float32, ldb, p0, kc, j0, nc, nr int, dst []float32) {
	full := nc / nr * nr
	asm := gemmLevel >= levelAVX2 && nr%16 == 0
	for p := 0; p < kc; p++ {
		src := b[(p0+p)*ldb+j0:][:nc]
		jr := 0
		if asm && full > 0 {
			// Sliver s gets src[s*nr : (s+1)*nr], in blocks of 16.
			for h := 0; h < nr; h += 16 {
				copyBlocks16(full/nr, &src[h], nr, &dst[p*nr+h], kc*nr)
			}
			jr = full
		}
		switch nr {
		case 16:
			for ; jr < full; jr += 16 {
				*(*[16]float32)(dst[jr*kc+p*16:]) = *(*[16]float32)(src[jr:])
			}
		case 32:
			for ; jr < full; jr += 32 {
				d := dst[jr*kc+p*32:][:32]
				*(*[16]float32)(d) = *(*[16]float32)(src[jr:])
				*(*[16]float32)(d[16:]) = *(*[16]float32)(src[jr+16:])
			}
		default:
			for ; jr < full; jr += nr {
				copy(dst[jr*kc+p*nr:][:nr], src[jr:jr+nr])
			}
		}
		if full < nc {
			d := dst[full*kc+p*nr:][:nr]
			copy(d, src[full:])
			clear(d[nc-full:])
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
