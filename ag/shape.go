package ag

import (
	"fmt"

	"rlhf/tensor"
)

// Reshape returns a with a new shape of the same size (one dimension may be
// -1). The value shares a's storage.
func (tp *Tape) Reshape(a *Var, shape ...int) *Var {
	if tp.tracer != nil {
		return tp.tracer.Reshape(a, shape...)
	}
	view := a.Value.Reshape(shape...)
	out := &Var{Value: view, tape: tp, requires: a.requires && !tp.NoGrad}
	tp.record(out, func() { tp.accumulate(a, out.Grad.Data) })
	return out
}

// Transpose swaps axes i and j (negative counts from the end).
func (tp *Tape) Transpose(a *Var, i, j int) *Var {
	r := len(a.Value.Shape)
	if i < 0 {
		i += r
	}
	if j < 0 {
		j += r
	}
	perm := make([]int, r)
	for k := range perm {
		perm[k] = k
	}
	perm[i], perm[j] = perm[j], perm[i]
	return tp.Permute(a, perm...)
}

// Permute reorders axes: output axis k is input axis perm[k].
func (tp *Tape) Permute(a *Var, perm ...int) *Var {
	if tp.tracer != nil {
		return tp.tracer.Permute(a, perm...)
	}
	in := a.Value.Shape
	if len(perm) != len(in) {
		panic(fmt.Sprintf("ag: Permute %v of shape %v", perm, in))
	}
	seen := make([]bool, len(in))
	shape := make([]int, len(in))
	for k, p := range perm {
		if p < 0 || p >= len(in) || seen[p] {
			panic(fmt.Sprintf("ag: Permute %v is not a permutation", perm))
		}
		seen[p] = true
		shape[k] = in[p]
	}
	out := tp.newVar(shape, a)
	x, y := a.Value.Data, out.Value.Data
	walkPermute(in, perm, func(o, i, n int) { copy(y[o:o+n], x[i:i+n]) })
	tp.record(out, func() {
		g, ga := out.Grad.Data, tp.grad(a)
		walkPermute(in, perm, func(o, i, n int) {
			gs, gas := g[o:o+n], ga[i:i+n]
			for k := range gs {
				gas[k] += gs[k]
			}
		})
	})
	return out
}

// walkPermute calls fn(outOffset, inOffset, n) for runs of n elements that
// are contiguous in both the input (shape in) and the permuted output.
func walkPermute(in []int, perm []int, fn func(o, i, n int)) {
	r := len(in)
	total := tensor.Numel(in)
	if total == 0 {
		return
	}
	inStride := make([]int, r)
	s := 1
	for k := r - 1; k >= 0; k-- {
		inStride[k] = s
		s *= in[k]
	}
	shape := make([]int, r)
	stride := make([]int, r) // input stride of each output axis
	for k, p := range perm {
		shape[k] = in[p]
		stride[k] = inStride[p]
	}
	run := 1
	if r > 0 && stride[r-1] == 1 {
		run = shape[r-1]
		shape = shape[:r-1]
		stride = stride[:r-1]
	}
	ctr := make([]int, len(shape))
	off := 0
	for o := 0; o < total; o += run {
		if run == 1 {
			fn(o, off, 1)
		} else {
			fn(o, off, run)
		}
		for d := len(shape) - 1; d >= 0; d-- {
			ctr[d]++
			off += stride[d]
			if ctr[d] < shape[d] {
				break
			}
			off -= stride[d] * ctr[d]
			ctr[d] = 0
		}
	}
}

// Slice keeps indices [lo, hi) of axis: (..., N, ...) -> (..., hi-lo, ...).
func (tp *Tape) Slice(a *Var, axis, lo, hi int) *Var {
	if tp.tracer != nil {
		return tp.tracer.Slice(a, axis, lo, hi)
	}
	outer, n, inner, ax := axisSplit(a.Value.Shape, axis)
	if lo < 0 || hi > n || lo > hi {
		panic(fmt.Sprintf("ag: Slice [%d, %d) of axis %d with size %d", lo, hi, ax, n))
	}
	shape := append([]int(nil), a.Value.Shape...)
	shape[ax] = hi - lo
	out := tp.newVar(shape, a)
	x, y := a.Value.Data, out.Value.Data
	m := (hi - lo) * inner
	for o := 0; o < outer; o++ {
		copy(y[o*m:(o+1)*m], x[(o*n+lo)*inner:])
	}
	tp.record(out, func() {
		g, ga := out.Grad.Data, tp.grad(a)
		for o := 0; o < outer; o++ {
			gs, gas := g[o*m:(o+1)*m], ga[(o*n+lo)*inner:]
			for k := range gs {
				gas[k] += gs[k]
			}
		}
	})
	return out
}

// Concat joins vs along axis; all other dimensions must agree.
func (tp *Tape) Concat(axis int, vs ...*Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Concat(axis, vs...)
	}
	if len(vs) == 0 {
		panic("ag: Concat of nothing")
	}
	first := vs[0].Value.Shape
	outer, _, inner, ax := axisSplit(first, axis)
	shape := append([]int(nil), first...)
	shape[ax] = 0
	for _, v := range vs {
		s := v.Value.Shape
		if len(s) != len(first) {
			panic(fmt.Sprintf("ag: Concat of shapes %v and %v", first, s))
		}
		for d := range s {
			if d != ax && s[d] != first[d] {
				panic(fmt.Sprintf("ag: Concat of shapes %v and %v on axis %d", first, s, ax))
			}
		}
		shape[ax] += s[ax]
	}
	out := tp.newVar(shape, vs...)
	y := out.Value.Data
	total := shape[ax] * inner
	off := 0
	offs := make([]int, len(vs))
	for k, v := range vs {
		offs[k] = off
		m := v.Value.Shape[ax] * inner
		for o := 0; o < outer; o++ {
			copy(y[o*total+off:o*total+off+m], v.Value.Data[o*m:(o+1)*m])
		}
		off += m
	}
	tp.record(out, func() {
		g := out.Grad.Data
		for k, v := range vs {
			if !v.requires {
				continue
			}
			gv := tp.grad(v)
			m := v.Value.Shape[ax] * inner
			for o := 0; o < outer; o++ {
				gs, gvs := g[o*total+offs[k]:o*total+offs[k]+m], gv[o*m:(o+1)*m]
				for i := range gs {
					gvs[i] += gs[i]
				}
			}
		}
	})
	return out
}

// Stack joins equally shaped vs along a new axis placed at axis.
func (tp *Tape) Stack(axis int, vs ...*Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Stack(axis, vs...)
	}
	if len(vs) == 0 {
		panic("ag: Stack of nothing")
	}
	r := len(vs[0].Value.Shape)
	if axis < 0 {
		axis += r + 1
	}
	if axis < 0 || axis > r {
		panic(fmt.Sprintf("ag: Stack axis %d for rank %d", axis, r))
	}
	ex := make([]*Var, len(vs))
	for k, v := range vs {
		if !tensor.SameShape(v.Value.Shape, vs[0].Value.Shape) {
			panic(fmt.Sprintf("ag: Stack of shapes %v and %v", vs[0].Value.Shape, v.Value.Shape))
		}
		s := append(append(append([]int(nil), v.Value.Shape[:axis]...), 1), v.Value.Shape[axis:]...)
		ex[k] = tp.Reshape(v, s...)
	}
	return tp.Concat(axis, ex...)
}
