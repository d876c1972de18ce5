package ag

import (
	"fmt"

	"rlhf/tensor"
)

// MatMul returns op(a)·op(b), where op transposes the last two axes when the
// matching flag is set. Shapes (without transposes):
//
//	a (M, K)      · b (K, N)      -> (M, N)
//	a (..., M, K) · b (K, N)      -> (..., M, N)   (b shared by every batch)
//	a (M, K)      · b (..., K, N) -> (..., M, N)   (a shared by every batch)
//	a (..., M, K) · b (..., K, N) -> (..., M, N)   (same batch dims)
func (tp *Tape) MatMul(a, b *Var, transA, transB bool) *Var {
	if tp.tracer != nil {
		return tp.tracer.MatMul(a, b, transA, transB)
	}
	as, bs := a.Value.Shape, b.Value.Shape
	if len(as) < 2 || len(bs) < 2 {
		panic(fmt.Sprintf("ag: MatMul needs rank >= 2, got %v and %v", as, bs))
	}
	m, k := as[len(as)-2], as[len(as)-1]
	if transA {
		m, k = k, m
	}
	kb, n := bs[len(bs)-2], bs[len(bs)-1]
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		panic(fmt.Sprintf("ag: MatMul inner dims differ: %v (transA=%v) and %v (transB=%v)", as, transA, bs, transB))
	}
	batchA, batchB := as[:len(as)-2], bs[:len(bs)-2]
	var batch []int
	switch {
	case len(batchB) == 0:
		batch = batchA
	case len(batchA) == 0:
		batch = batchB
	case tensor.SameShape(batchA, batchB):
		batch = batchA
	default:
		panic(fmt.Sprintf("ag: MatMul batch dims differ: %v and %v", as, bs))
	}
	nb := tensor.Numel(batch)
	shape := append(append([]int(nil), batch...), m, n)
	out := tp.newVar(shape, a, b)
	A, B, C := a.Value.Data, b.Value.Data, out.Value.Data
	lda, ldb := as[len(as)-1], bs[len(bs)-1]

	// Fold the batch into rows when b is shared and a is not transposed.
	if len(batchB) == 0 && !transA {
		mm := m * nb
		tensor.Gemm(false, transB, mm, n, k, 1, A, lda, B, ldb, 0, C, n)
		tp.record(out, func() {
			dC := out.Grad.Data
			if a.requires {
				ga, fresh := tp.gradOut(a)
				tensor.Gemm(false, !transB, mm, k, n, 1, dC, n, B, ldb, gemmBeta(fresh), ga, lda)
			}
			if b.requires {
				if transB {
					tensor.Gemm(true, false, n, k, mm, 1, dC, n, A, lda, 1, tp.grad(b), ldb)
				} else {
					tensor.Gemm(true, false, k, n, mm, 1, A, lda, dC, n, 1, tp.grad(b), ldb)
				}
			}
		})
		return out
	}

	sa, sb := m*k, k*n
	if len(batchA) == 0 {
		sa = 0
	}
	if len(batchB) == 0 {
		sb = 0
	}
	sc := m * n
	for i := 0; i < nb; i++ {
		tensor.Gemm(transA, transB, m, n, k, 1, A[i*sa:], lda, B[i*sb:], ldb, 0, C[i*sc:], n)
	}
	tp.record(out, func() {
		dC := out.Grad.Data
		var dA, dB []float32
		if a.requires {
			dA = tp.grad(a)
		}
		if b.requires {
			dB = tp.grad(b)
		}
		for i := 0; i < nb; i++ {
			a, b, c := A[i*sa:], B[i*sb:], dC[i*sc:]
			if dA != nil {
				if transA { // A stored (K, M): dA = op(B)·dCᵀ
					tensor.Gemm(transB, true, k, m, n, 1, b, ldb, c, n, 1, dA[i*sa:], lda)
				} else { // dA = dC·op(B)ᵀ
					tensor.Gemm(false, !transB, m, k, n, 1, c, n, b, ldb, 1, dA[i*sa:], lda)
				}
			}
			if dB != nil {
				if transB { // B stored (N, K): dB = dCᵀ·op(A)
					tensor.Gemm(true, transA, n, k, m, 1, c, n, a, lda, 1, dB[i*sb:], ldb)
				} else { // dB = op(A)ᵀ·dC
					tensor.Gemm(!transA, false, k, n, m, 1, a, lda, c, n, 1, dB[i*sb:], ldb)
				}
			}
		}
	})
	return out
}

// Linear returns x·w + bias, the affine map with GPT-2's Conv1D layout:
// x (..., In), w (In, Out), bias (Out) or nil -> (..., Out).
func (tp *Tape) Linear(x, w, bias *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Linear(x, w, bias)
	}
	xs, ws := x.Value.Shape, w.Value.Shape
	if len(ws) != 2 || len(xs) < 1 || xs[len(xs)-1] != ws[0] {
		panic(fmt.Sprintf("ag: Linear of x %v with w %v", xs, ws))
	}
	in, on := ws[0], ws[1]
	if bias != nil && (len(bias.Value.Shape) != 1 || bias.Value.Shape[0] != on) {
		panic(fmt.Sprintf("ag: Linear bias %v for w %v", bias.Value.Shape, ws))
	}
	rows := len(x.Value.Data) / in
	shape := append(append([]int(nil), xs[:len(xs)-1]...), on)
	var out *Var
	if bias != nil {
		out = tp.newVar(shape, x, w, bias)
	} else {
		out = tp.newVar(shape, x, w)
	}
	X, W, Y := x.Value.Data, w.Value.Data, out.Value.Data
	beta := float32(0)
	if bias != nil {
		bv := bias.Value.Data
		tensor.ParallelFor(rows, 64, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				copy(Y[r*on:(r+1)*on], bv)
			}
		})
		beta = 1
	}
	tensor.Gemm(false, false, rows, on, in, 1, X, in, W, on, beta, Y, on)
	tp.record(out, func() {
		dY := out.Grad.Data
		if x.requires {
			gx, fresh := tp.gradOut(x)
			tensor.Gemm(false, true, rows, in, on, 1, dY, on, W, on, gemmBeta(fresh), gx, in)
		}
		if w.requires {
			tensor.Gemm(true, false, in, on, rows, 1, X, in, dY, on, 1, tp.grad(w), on)
		}
		if bias != nil && bias.requires {
			colSum(tp.grad(bias), dY, rows, on)
		}
	})
	return out
}

// gemmBeta is the Gemm beta that overwrites a fresh gradient or accumulates.
func gemmBeta(fresh bool) float32 {
	if fresh {
		return 0
	}
	return 1
}

// colSum adds the column sums of the (rows, n) matrix g into dst (n),
// splitting the rows over workers with private partial sums.
func colSum(dst, g []float32, rows, n int) {
	w := min(tensor.Workers, max(1, rows*n/grain))
	if w <= 1 {
		for r := 0; r < rows; r++ {
			tensor.Add(dst, g[r*n:(r+1)*n])
		}
		return
	}
	parts := make([][]float32, w)
	tensor.ParallelFor(w, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			acc := make([]float32, n)
			for r := p * rows / w; r < (p+1)*rows/w; r++ {
				tensor.Add(acc, g[r*n:(r+1)*n])
			}
			parts[p] = acc
		}
	})
	for _, acc := range parts {
		tensor.Add(dst, acc)
	}
}
