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
