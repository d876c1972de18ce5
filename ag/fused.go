package ag

import (
	"fmt"
	"math"

	"rlhf/tensor"
)

// chunks splits [0, n) into at most tensor.Workers contiguous parts and runs
// fn(part, lo, hi) for each in parallel; parts index private accumulators.
func chunks(n, minPer int, fn func(part, lo, hi int)) int {
	w := min(tensor.Workers, max(1, n/max(minPer, 1)))
	tensor.ParallelFor(w, 1, func(plo, phi int) {
		for p := plo; p < phi; p++ {
			fn(p, p*n/w, (p+1)*n/w)
		}
	})
	return w
}

// LayerNorm normalises x over its last axis and applies the affine map:
// x (..., C), weight (C), bias (C) -> (..., C);
// y = (x - mean)/sqrt(var + eps)·weight + bias with the biased variance.
func (tp *Tape) LayerNorm(x, weight, bias *Var, eps float32) *Var {
	if tp.tracer != nil {
		return tp.tracer.LayerNorm(x, weight, bias, eps)
	}
	rows, c := rowsOf(x.Value.Shape)
	if !tensor.SameShape(weight.Value.Shape, []int{c}) || !tensor.SameShape(bias.Value.Shape, []int{c}) {
		panic(fmt.Sprintf("ag: LayerNorm of %v with weight %v bias %v", x.Value.Shape, weight.Value.Shape, bias.Value.Shape))
	}
	out := tp.newVar(x.Value.Shape, x, weight, bias)
	X, W, B, Y := x.Value.Data, weight.Value.Data, bias.Value.Data, out.Value.Data
	var stats []float32 // mean, rstd per row
	if out.requires {
		stats = tp.buf(2 * rows)
	}
	tensor.ParallelFor(rows, rowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			m, rstd := tensor.LayerNormRow(Y[r*c:(r+1)*c], X[r*c:(r+1)*c], W, B, eps)
			if stats != nil {
				stats[2*r], stats[2*r+1] = m, rstd
			}
		}
	})
	tp.record(out, func() {
		G := out.Grad.Data
		var GX []float32
		fresh := false
		if x.requires {
			GX, fresh = tp.gradOut(x)
		}
		parts := make([][]float32, tensor.Workers)
		w := chunks(rows, rowGrain(c), func(p, lo, hi int) {
			acc := make([]float32, 2*c) // dweight, dbias
			for r := lo; r < hi; r++ {
				var gx []float32
				if GX != nil {
					gx = GX[r*c : (r+1)*c]
				}
				tensor.LayerNormRowGrad(gx, G[r*c:(r+1)*c], X[r*c:(r+1)*c], W, acc[:c], acc[c:], stats[2*r], stats[2*r+1], !fresh)
			}
			parts[p] = acc
		})
		var GW, GB []float32
		if weight.requires {
			GW = tp.grad(weight)
		}
		if bias.requires {
			GB = tp.grad(bias)
		}
		for _, acc := range parts[:w] {
			for i := 0; i < c; i++ {
				if GW != nil {
					GW[i] += acc[i]
				}
				if GB != nil {
					GB[i] += acc[c+i]
				}
			}
		}
	})
	return out
}

// attnArgs locates q, k and v inside their buffers: head h of batch b, row t
// starts at off + (b*T + t)*stride + h*hd.
type attnArgs struct {
	q, k, v             *Var
	qOff, kOff, vOff    int
	qStr, kStr, vStr    int
	batch, tq, tk, c, h int
}

// Attention is fused causal multi-head self-attention on packed projections:
// qkv (B, T, 3C) holding q | k | v along the last axis, heads H dividing C
// -> (B, T, C), softmax(q·kᵀ/√(C/H) with causal mask)·v per head, heads
// concatenated along the last axis.
func (tp *Tape) Attention(qkv *Var, heads int) *Var {
	if tp.tracer != nil {
		return tp.tracer.Attention(qkv, heads)
	}
	s := qkv.Value.Shape
	if len(s) != 3 || s[2]%3 != 0 || heads <= 0 || (s[2]/3)%heads != 0 {
		panic(fmt.Sprintf("ag: Attention of %v with %d heads", s, heads))
	}
	c := s[2] / 3
	return tp.attention(attnArgs{q: qkv, k: qkv, v: qkv, qOff: 0, kOff: c, vOff: 2 * c,
		qStr: 3 * c, kStr: 3 * c, vStr: 3 * c, batch: s[0], tq: s[1], tk: s[1], c: c, h: heads})
}

// AttentionQKV is Attention on separate projections: q (B, Tq, C),
// k and v (B, Tk, C) with Tk >= Tq -> (B, Tq, C). Query i sits at absolute
// position i + Tk - Tq and attends keys up to that position (the layout of
// a key/value cache).
func (tp *Tape) AttentionQKV(q, k, v *Var, heads int) *Var {
	if tp.tracer != nil {
		return tp.tracer.AttentionQKV(q, k, v, heads)
	}
	qs, ks, vs := q.Value.Shape, k.Value.Shape, v.Value.Shape
	if len(qs) != 3 || !tensor.SameShape(ks, vs) || len(ks) != 3 || ks[0] != qs[0] || ks[2] != qs[2] ||
		ks[1] < qs[1] || heads <= 0 || qs[2]%heads != 0 {
		panic(fmt.Sprintf("ag: AttentionQKV of q %v k %v v %v with %d heads", qs, ks, vs, heads))
	}
	c := qs[2]
	return tp.attention(attnArgs{q: q, k: k, v: v, qStr: c, kStr: c, vStr: c,
		batch: qs[0], tq: qs[1], tk: ks[1], c: c, h: heads})
}

// attendRows computes query rows [r0, r1) of one sequence and head: their
// weights s (rows tk apart) = softmax of scale·q·Kᵀ over the keys each row
// reaches (row i the first i+shift+1; zeros after), then y = s·V (rows yStr
// apart). q, k and v start at the head's first row; their rows are qStr,
// kStr and vStr apart. Only the keys the block can reach are multiplied.
func attendRows(q []float32, qStr int, k []float32, kStr int, v []float32, vStr int, s []float32, tk int, y []float32, yStr int,
	r0, r1, hd, shift int, scale float32) {
	lim := min(tk, r1+shift) // keys reachable from rows [r0, r1)
	sb := s[r0*tk:]
	// s[r0:r1, :lim] = scale·q[r0:r1]·k[:lim]ᵀ
	tensor.Gemm(false, true, r1-r0, lim, hd, scale, q[r0*qStr:], qStr, k, kStr, 0, sb, tk)
	for i := r0; i < r1; i++ {
		row := s[i*tk : (i+1)*tk]
		valid := i + shift + 1
		softmaxRow(row[:valid], row[:valid])
		clear(row[valid:])
	}
	// y[r0:r1] = s[r0:r1, :lim]·v[:lim]
	tensor.Gemm(false, false, r1-r0, hd, lim, 1, sb, tk, v, vStr, 0, y[r0*yStr:], yStr)
}

// attnBlock is the number of query rows processed together: a block of rows
// only multiplies against the keys its causal mask can reach, so the masked
// upper triangle is mostly never computed.
var attnBlock = 32

func (tp *Tape) attention(a attnArgs) *Var {
	B, Tq, Tk, C, H := a.batch, a.tq, a.tk, a.c, a.h
	hd := C / H
	scale := float32(1 / math.Sqrt(float64(hd)))
	shift := Tk - Tq
	blk := attnBlock
	if blk <= 0 {
		blk = Tq
	}
	out := tp.newVar([]int{B, Tq, C}, a.q, a.k, a.v)
	Q, K, V, Y := a.q.Value.Data, a.k.Value.Data, a.v.Value.Data, out.Value.Data
	P := tp.buf(B * H * Tq * Tk) // attention weights (B, H, Tq, Tk), kept for backward
	tensor.ParallelFor(B*H, 1, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/H, bh%H
			qo := a.qOff + b*Tq*a.qStr + h*hd
			ko := a.kOff + b*Tk*a.kStr + h*hd
			vo := a.vOff + b*Tk*a.vStr + h*hd
			S := P[bh*Tq*Tk : (bh+1)*Tq*Tk]
			for r0 := 0; r0 < Tq; r0 += blk {
				attendRows(Q[qo:], a.qStr, K[ko:], a.kStr, V[vo:], a.vStr, S, Tk, Y[b*Tq*C+h*hd:], C, r0, min(r0+blk, Tq), hd, shift, scale)
			}
		}
	})
	tp.record(out, func() {
		dY := out.Grad.Data
		var dQ, dK, dV []float32
		if a.q.requires {
			dQ = tp.grad(a.q)
		}
		if a.k.requires {
			dK = tp.grad(a.k)
		}
		if a.v.requires {
			dV = tp.grad(a.v)
		}
		dP := tp.buf(B * H * Tq * Tk)
		tensor.ParallelFor(B*H, 1, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				b, h := bh/H, bh%H
				qo := a.qOff + b*Tq*a.qStr + h*hd
				ko := a.kOff + b*Tk*a.kStr + h*hd
				vo := a.vOff + b*Tk*a.vStr + h*hd
				dy := dY[b*Tq*C+h*hd:]
				S := P[bh*Tq*Tk : (bh+1)*Tq*Tk]
				D := dP[bh*Tq*Tk : (bh+1)*Tq*Tk]
				for r0 := 0; r0 < Tq; r0 += blk {
					r1 := min(r0+blk, Tq)
					lim := min(Tk, r1+shift)
					rb := r1 - r0
					Sb, Db, dyb := S[r0*Tk:], D[r0*Tk:], dy[r0*C:]
					if dV != nil { // dV[:lim] += S[r0:r1, :lim]ᵀ·dY[r0:r1]
						tensor.Gemm(true, false, lim, hd, rb, 1, Sb, Tk, dyb, C, 1, dV[vo:], a.vStr)
					}
					if dQ == nil && dK == nil {
						continue
					}
					// dP = dY·Vᵀ, then dS = P∘(dP - rowsum(dP∘P)).
					tensor.Gemm(false, true, rb, lim, hd, 1, dyb, C, V[vo:], a.vStr, 0, Db, Tk)
					for i := r0; i < r1; i++ {
						valid := i + shift + 1
						ps, ds := S[i*Tk:i*Tk+valid], D[i*Tk:i*Tk+valid]
						var dot float32
						for j, p := range ps {
							dot += p * ds[j]
						}
						for j, p := range ps {
							ds[j] = p * (ds[j] - dot)
						}
						clear(D[i*Tk+valid : i*Tk+lim])
					}
					if dQ != nil { // dQ[r0:r1] += scale·dS[r0:r1, :lim]·K[:lim]
						tensor.Gemm(false, false, rb, hd, lim, scale, Db, Tk, K[ko:], a.kStr, 1, dQ[qo+r0*a.qStr:], a.qStr)
					}
					if dK != nil { // dK[:lim] += scale·dS[r0:r1, :lim]ᵀ·Q[r0:r1]
						tensor.Gemm(true, false, lim, hd, rb, scale, Db, Tk, Q[qo+r0*a.qStr:], a.qStr, 1, dK[ko:], a.kStr)
					}
				}
			}
		})
		tp.release(dP)
	})
	return out
}

// AttentionDecode computes, without a tape, what AttentionQKV computes for a
// single query position per sequence, as sampling with a key/value cache
// needs it: for each b, query row q[b·qStride:] (C values) attends over the
// first n[b] rows of its keys and values, which start at b·kvStride in k and
// v with rows C apart, across heads heads; y[b·C:(b+1)·C] gets the result.
// It runs AttentionQKV's own block (attendRows) for the one query row, so
// its output is the same to the bit; what it saves is the tape and one
// parallel pass per sequence (every sequence and head go in one pass).
func AttentionDecode(y, q []float32, qStride int, k, v []float32, kvStride int, n []int, c, heads int) {
	if heads <= 0 || c%heads != 0 || len(y) < len(n)*c {
		panic(fmt.Sprintf("ag: AttentionDecode of %d sequences of width %d with %d heads into %d values", len(n), c, heads, len(y)))
	}
	hd := c / heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	tensor.ParallelFor(len(n)*heads, 1, func(lo, hi int) {
		var s []float32
		for bh := lo; bh < hi; bh++ {
			b, h := bh/heads, bh%heads
			t := n[b]
			if cap(s) < t {
				s = make([]float32, t)
			}
			// One query row that reaches all t keys (shift t-1); its rows'
			// stride is c, as a (1, 1, C) query's is in AttentionQKV.
			attendRows(q[b*qStride+h*hd:], c, k[b*kvStride+h*hd:], c, v[b*kvStride+h*hd:], c, s[:t], t, y[b*c+h*hd:], c, 0, 1, hd, t-1, scale)
		}
	})
}
