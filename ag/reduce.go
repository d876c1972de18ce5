package ag

import (
	"fmt"
	"math"

	"rlhf/tensor"
)

// axisSplit views shape as (outer, n, inner) around axis (negative counts
// from the end) and returns the normalised axis.
func axisSplit(shape []int, axis int) (outer, n, inner, ax int) {
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis >= len(shape) {
		panic(fmt.Sprintf("ag: axis %d out of range for shape %v", axis, shape))
	}
	return tensor.Numel(shape[:axis]), shape[axis], tensor.Numel(shape[axis+1:]), axis
}

func reducedShape(shape []int, axis int, keepdim bool) []int {
	out := append([]int(nil), shape[:axis]...)
	if keepdim {
		out = append(out, 1)
	}
	return append(out, shape[axis+1:]...)
}

// Sum sums a over axis: (..., N, ...) -> (..., 1, ...) with keepdim, else
// the axis is dropped.
func (tp *Tape) Sum(a *Var, axis int, keepdim bool) *Var {
	if tp.tracer != nil {
		return tp.tracer.Sum(a, axis, keepdim)
	}
	return tp.sumScaled(a, axis, keepdim, 1)
}

// Mean averages a over axis; shapes as Sum.
func (tp *Tape) Mean(a *Var, axis int, keepdim bool) *Var {
	if tp.tracer != nil {
		return tp.tracer.Mean(a, axis, keepdim)
	}
	_, n, _, _ := axisSplit(a.Value.Shape, axis)
	return tp.sumScaled(a, axis, keepdim, 1/float32(n))
}

func (tp *Tape) sumScaled(a *Var, axis int, keepdim bool, s float32) *Var {
	outer, n, inner, ax := axisSplit(a.Value.Shape, axis)
	out := tp.newVar(reducedShape(a.Value.Shape, ax, keepdim), a)
	x, y := a.Value.Data, out.Value.Data
	clear(y)
	tensor.ParallelFor(outer, 1, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			ys := y[o*inner : (o+1)*inner]
			for j := 0; j < n; j++ {
				xs := x[(o*n+j)*inner : (o*n+j+1)*inner]
				for i := range ys {
					ys[i] += xs[i]
				}
			}
			for i := range ys {
				ys[i] *= s
			}
		}
	})
	tp.record(out, func() {
		g, ga := out.Grad.Data, tp.grad(a)
		tensor.ParallelFor(outer, 1, func(lo, hi int) {
			for o := lo; o < hi; o++ {
				gs := g[o*inner : (o+1)*inner]
				for j := 0; j < n; j++ {
					gas := ga[(o*n+j)*inner : (o*n+j+1)*inner]
					for i := range gas {
						gas[i] += s * gs[i]
					}
				}
			}
		})
	})
	return out
}

// SumAll returns the sum of all elements, shape (1).
func (tp *Tape) SumAll(a *Var) *Var {
	return tp.Sum(tp.Reshape(a, -1), 0, true)
}

// MeanAll returns the mean of all elements, shape (1).
func (tp *Tape) MeanAll(a *Var) *Var {
	return tp.Mean(tp.Reshape(a, -1), 0, true)
}

// Max takes the maximum over axis; shapes as Sum. The gradient goes to the
// first maximal element.
func (tp *Tape) Max(a *Var, axis int, keepdim bool) *Var {
	if tp.tracer != nil {
		return tp.tracer.Max(a, axis, keepdim)
	}
	outer, n, inner, ax := axisSplit(a.Value.Shape, axis)
	out := tp.newVar(reducedShape(a.Value.Shape, ax, keepdim), a)
	x, y := a.Value.Data, out.Value.Data
	arg := make([]int32, outer*inner)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			best, bj := float32(math.Inf(-1)), 0
			for j := 0; j < n; j++ {
				if v := x[(o*n+j)*inner+i]; v > best || (j == 0 && v != v) {
					best, bj = v, j
				}
			}
			y[o*inner+i] = best
			arg[o*inner+i] = int32(bj)
		}
	}
	tp.record(out, func() {
		g, ga := out.Grad.Data, tp.grad(a)
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				ga[(o*n+int(arg[o*inner+i]))*inner+i] += g[o*inner+i]
			}
		}
	})
	return out
}

// MaxAll returns the maximum over all elements, shape (1).
func (tp *Tape) MaxAll(a *Var) *Var { return tp.Max(tp.Reshape(a, -1), 0, true) }

// rowsOf returns the number of rows and the row length of a tensor viewed
// as (rows, last axis).
func rowsOf(shape []int) (rows, n int) {
	if len(shape) == 0 {
		return 1, 1
	}
	n = shape[len(shape)-1]
	if n == 0 {
		return 0, 0
	}
	return tensor.Numel(shape) / n, n
}

// rowGrain picks a row grain so that a parallel chunk holds enough work.
func rowGrain(n int) int { return max(1, grain/max(n, 1)) }

// Softmax normalises exp(a) over the last axis. Shape unchanged.
func (tp *Tape) Softmax(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Softmax(a)
	}
	rows, n := rowsOf(a.Value.Shape)
	out := tp.newVar(a.Value.Shape, a)
	x, y := a.Value.Data, out.Value.Data
	tensor.ParallelFor(rows, rowGrain(n), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxRow(y[r*n:(r+1)*n], x[r*n:(r+1)*n])
		}
	})
	tp.record(out, func() {
		g, ga := out.Grad.Data, tp.grad(a)
		tensor.ParallelFor(rows, rowGrain(n), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				ys, gs, gas := y[r*n:(r+1)*n], g[r*n:(r+1)*n], ga[r*n:(r+1)*n]
				var dot float32
				for i, v := range ys {
					dot += v * gs[i]
				}
				for i, v := range ys {
					gas[i] += v * (gs[i] - dot)
				}
			}
		})
	})
	return out
}

// softmaxRow writes softmax(x) into y (same length; may alias x).
func softmaxRow(y, x []float32) {
	m := tensor.MaxOf(x)
	s := tensor.ExpSub(y, x, m)
	tensor.Scale(y, 1/s)
}

// logSumExp returns log Σ exp(x), using scratch (len(x)) for the exponentials.
func logSumExp(x, scratch []float32) float32 {
	m := tensor.MaxOf(x)
	if math.IsInf(float64(m), -1) {
		return m
	}
	return m + float32(math.Log(float64(tensor.ExpSub(scratch, x, m))))
}

// LogSoftmax returns a - log Σ exp(a) over the last axis. Shape unchanged.
func (tp *Tape) LogSoftmax(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.LogSoftmax(a)
	}
	rows, n := rowsOf(a.Value.Shape)
	out := tp.newVar(a.Value.Shape, a)
	x, y := a.Value.Data, out.Value.Data
	tensor.ParallelFor(rows, rowGrain(n), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xs, ys := x[r*n:(r+1)*n], y[r*n:(r+1)*n]
			l := logSumExp(xs, ys)
			for i, v := range xs {
				ys[i] = v - l
			}
		}
	})
	tp.record(out, func() {
		g, ga := out.Grad.Data, tp.grad(a)
		tensor.ParallelFor(rows, rowGrain(n), func(lo, hi int) {
			p := make([]float32, n)
			for r := lo; r < hi; r++ {
				ys, gs, gas := y[r*n:(r+1)*n], g[r*n:(r+1)*n], ga[r*n:(r+1)*n]
				var s float32
				for _, v := range gs {
					s += v
				}
				tensor.ExpSub(p, ys, 0)
				for i, v := range p {
					gas[i] += gs[i] - v*s
				}
			}
		})
	})
	return out
}
