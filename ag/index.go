package ag

import (
	"fmt"

	"rlhf/tensor"
)

// Embedding gathers rows of the table w (V, D) for the ids: -> (len(ids), D).
// The backward pass scatter-adds into w's gradient. Ids must be in [0, V)
// and may repeat. w can be any 2-D Var, so this also picks rows out of
// activations (e.g. the hidden state at each sequence's last token).
func (tp *Tape) Embedding(w *Var, ids []int) *Var {
	if tp.tracer != nil {
		return tp.tracer.Embedding(w, ids)
	}
	ws := w.Value.Shape
	if len(ws) != 2 {
		panic(fmt.Sprintf("ag: Embedding table must be 2-D, got %v", ws))
	}
	v, d := ws[0], ws[1]
	for _, id := range ids {
		if id < 0 || id >= v {
			panic(fmt.Sprintf("ag: Embedding id %d out of range [0, %d)", id, v))
		}
	}
	out := tp.newVar([]int{len(ids), d}, w)
	W, Y := w.Value.Data, out.Value.Data
	tensor.ParallelFor(len(ids), rowGrain(d), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			copy(Y[i*d:(i+1)*d], W[ids[i]*d:(ids[i]+1)*d])
		}
	})
	tp.record(out, func() {
		g, gw := out.Grad.Data, tp.grad(w)
		// Split the columns over workers so that repeated ids never race.
		tensor.ParallelFor(d, 16, func(lo, hi int) {
			for i, id := range ids {
				tensor.Add(gw[id*d+lo:id*d+hi], g[i*d+lo:i*d+hi])
			}
		})
	})
	return out
}

// TakeAlongLast picks one element per row of the last axis:
// x (..., V), idx with one id per row -> (...). Typical use: the
// log-probability of each sampled token from log-softmax output.
func (tp *Tape) TakeAlongLast(x *Var, idx []int) *Var {
	if tp.tracer != nil {
		return tp.tracer.TakeAlongLast(x, idx)
	}
	rows, n := rowsOf(x.Value.Shape)
	if len(idx) != rows {
		panic(fmt.Sprintf("ag: TakeAlongLast with %d ids for %d rows of %v", len(idx), rows, x.Value.Shape))
	}
	for _, id := range idx {
		if id < 0 || id >= n {
			panic(fmt.Sprintf("ag: TakeAlongLast id %d out of range [0, %d)", id, n))
		}
	}
	shape := x.Value.Shape[:len(x.Value.Shape)-1]
	out := tp.newVar(shape, x)
	X, Y := x.Value.Data, out.Value.Data
	for r, id := range idx {
		Y[r] = X[r*n+id]
	}
	tp.record(out, func() {
		g, gx := out.Grad.Data, tp.grad(x)
		for r, id := range idx {
			gx[r*n+id] += g[r]
		}
	})
	return out
}
