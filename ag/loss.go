package ag

import (
	"fmt"
	"math"

	"rlhf/tensor"
)

// CrossEntropy is the mean over rows of -log softmax(logits)[target], fused:
// logits (..., V), targets with one id per row (rows whose target equals
// ignore are skipped) -> (1). With no counted rows the loss is 0.
// The gradient (softmax - onehot)/count is formed during the forward pass,
// so the V-wide rows are read once per direction.
func (tp *Tape) CrossEntropy(logits *Var, targets []int, ignore int) *Var {
	if tp.tracer != nil {
		return tp.tracer.CrossEntropy(logits, targets, ignore)
	}
	rows, n := rowsOf(logits.Value.Shape)
	if len(targets) != rows {
		panic(fmt.Sprintf("ag: CrossEntropy with %d targets for %d rows of %v", len(targets), rows, logits.Value.Shape))
	}
	count := 0
	for _, t := range targets {
		if t == ignore {
			continue
		}
		if t < 0 || t >= n {
			panic(fmt.Sprintf("ag: CrossEntropy target %d out of range [0, %d)", t, n))
		}
		count++
	}
	out := tp.newVar([]int{1}, logits)
	X := logits.Value.Data
	var dl []float32
	if out.requires {
		dl = tp.buf(len(X))
	}
	inv := 1 / float32(max(count, 1))
	per := make([]float64, rows)
	tensor.ParallelFor(rows, rowGrain(n), func(lo, hi int) {
		var scratch []float32
		for r := lo; r < hi; r++ {
			t := targets[r]
			xs := X[r*n : (r+1)*n]
			var ds []float32
			if dl != nil {
				ds = dl[r*n : (r+1)*n]
			}
			if t == ignore {
				clear(ds)
				continue
			}
			if ds == nil {
				if scratch == nil {
					scratch = make([]float32, n)
				}
				ds = scratch
			}
			m := tensor.MaxOf(xs)
			s := tensor.ExpSub(ds, xs, m)
			per[r] = float64(m) + math.Log(float64(s)) - float64(xs[t])
			if dl != nil {
				tensor.Scale(ds, inv/s)
				ds[t] -= inv
			}
		}
	})
	var s float64
	for _, v := range per {
		s += v
	}
	out.Value.Data[0] = float32(s) * inv
	tp.record(out, func() {
		g := out.Grad.Data[0]
		if g == 1 && logits.Grad == nil && logits.tape == tp {
			logits.Grad = &tensor.Tensor{Data: dl, Shape: logits.Value.Shape}
			return
		}
		gx := tp.grad(logits)
		pfor(len(gx), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				gx[i] += g * dl[i]
			}
		})
	})
	return out
}

// MaskedMean returns Σ x·mask / Σ mask over all elements, shape (1); mask
// has x's shape (typically 0/1 per token). An all-zero mask gives 0.
func (tp *Tape) MaskedMean(x *Var, mask *tensor.Tensor) *Var {
	if tp.tracer != nil {
		return tp.tracer.MaskedMean(x, mask)
	}
	if !tensor.SameShape(x.Value.Shape, mask.Shape) {
		panic(fmt.Sprintf("ag: MaskedMean of %v with mask %v", x.Value.Shape, mask.Shape))
	}
	var den float64
	for _, m := range mask.Data {
		den += float64(m)
	}
	inv := float32(0)
	if den != 0 {
		inv = float32(1 / den)
	}
	out := tp.newVar([]int{1}, x)
	var s float64
	for i, v := range x.Value.Data {
		s += float64(v) * float64(mask.Data[i])
	}
	out.Value.Data[0] = float32(s) * inv
	tp.record(out, func() {
		g, gx := out.Grad.Data[0]*inv, tp.grad(x)
		for i, m := range mask.Data {
			gx[i] += g * m
		}
	})
	return out
}

// lmChunk is the number of rows LinearCrossEntropy processes at a time.
var lmChunk = 512

// LinearCrossEntropy is CrossEntropy(MatMul(h, w, false, true), targets,
// ignore) without materialising the logits: h (..., C), w (V, C) (e.g. a
// tied embedding table), one target per row of h -> (1). Rows are handled in
// chunks whose logits live in one reused buffer; the gradients with respect
// to h and w are formed in the same pass and scaled in backward.
func (tp *Tape) LinearCrossEntropy(h, w *Var, targets []int, ignore int) *Var {
	if tp.tracer != nil {
		return tp.tracer.LinearCrossEntropy(h, w, targets, ignore)
	}
	hs, ws := h.Value.Shape, w.Value.Shape
	if len(ws) != 2 || len(hs) < 1 || hs[len(hs)-1] != ws[1] {
		panic(fmt.Sprintf("ag: LinearCrossEntropy of h %v with w %v", hs, ws))
	}
	rows, c := rowsOf(hs)
	v := ws[0]
	if len(targets) != rows {
		panic(fmt.Sprintf("ag: LinearCrossEntropy with %d targets for %d rows", len(targets), rows))
	}
	count := 0
	for _, t := range targets {
		if t == ignore {
			continue
		}
		if t < 0 || t >= v {
			panic(fmt.Sprintf("ag: LinearCrossEntropy target %d out of range [0, %d)", t, v))
		}
		count++
	}
	out := tp.newVar([]int{1}, h, w)
	H, W := h.Value.Data, w.Value.Data
	inv := 1 / float32(max(count, 1))
	var dH, dW []float32
	if out.requires {
		if h.requires {
			dH = tp.zbuf(len(H))
		}
		if w.requires {
			dW = tp.zbuf(len(W))
		}
	}
	chunk := min(lmChunk, rows)
	logits := tp.buf(chunk * v)
	per := make([]float64, rows)
	for r0 := 0; r0 < rows; r0 += chunk {
		r1 := min(r0+chunk, rows)
		n := r1 - r0
		L := logits[:n*v]
		tensor.Gemm(false, true, n, v, c, 1, H[r0*c:], c, W, c, 0, L, v)
		tensor.ParallelFor(n, rowGrain(v), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				t := targets[r0+r]
				ls := L[r*v : (r+1)*v]
				if t == ignore {
					clear(ls)
					continue
				}
				m := tensor.MaxOf(ls)
				x := ls[t]
				s := tensor.ExpSub(ls, ls, m)
				per[r0+r] = float64(m) + math.Log(float64(s)) - float64(x)
				tensor.Scale(ls, inv/s)
				ls[t] -= inv
			}
		})
		if dH != nil { // dH[r0:r1] = dL·W
			tensor.Gemm(false, false, n, c, v, 1, L, v, W, c, 0, dH[r0*c:], c)
		}
		if dW != nil { // dW += dLᵀ·H[r0:r1]
			tensor.Gemm(true, false, v, c, n, 1, L, v, H[r0*c:], c, 1, dW, c)
		}
	}
	tp.release(logits)
	var s float64
	for _, x := range per {
		s += x
	}
	out.Value.Data[0] = float32(s) * inv
	tp.record(out, func() {
		g := out.Grad.Data[0]
		if dH != nil {
			gh, fresh := tp.gradOut(h)
			pfor(len(gh), func(lo, hi int) {
				if fresh {
					for i := lo; i < hi; i++ {
						gh[i] = g * dH[i]
					}
					return
				}
				for i := lo; i < hi; i++ {
					gh[i] += g * dH[i]
				}
			})
		}
		if dW != nil {
			gw := tp.grad(w)
			pfor(len(gw), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					gw[i] += g * dW[i]
				}
			})
		}
	})
	return out
}
