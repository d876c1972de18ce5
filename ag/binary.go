package ag

import (
	"fmt"

	"rlhf/tensor"
)

// broadcast describes how two shapes combine under NumPy broadcasting and
// maps each output index to an index of each input.
type broadcast struct {
	shape  []int
	na, nb int     // element counts of the inputs
	ia, ib []int32 // explicit index maps; nil when the input is the output shape or repeats as a suffix
}

// BroadcastShape returns the NumPy broadcast of shapes a and b, or an error
// if they are incompatible.
func BroadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("ag: shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// isSuffix reports whether shape s, without its leading 1s, is a suffix of out,
// so that an input of shape s repeats with period numel(s) over out.
func isSuffix(s, out []int) bool {
	for len(s) > 0 && s[0] == 1 {
		s = s[1:]
	}
	if len(s) > len(out) {
		return false
	}
	return tensor.SameShape(s, out[len(out)-len(s):])
}

func newBroadcast(a, b []int) *broadcast {
	shape, err := BroadcastShape(a, b)
	if err != nil {
		panic(err.Error())
	}
	bc := &broadcast{shape: shape, na: tensor.Numel(a), nb: tensor.Numel(b)}
	if !isSuffix(a, shape) {
		bc.ia = indexMap(a, shape)
	}
	if !isSuffix(b, shape) {
		bc.ib = indexMap(b, shape)
	}
	return bc
}

// indexMap gives, for each element of out, the index into a tensor of shape
// s broadcast to out.
func indexMap(s, out []int) []int32 {
	n := tensor.Numel(out)
	r := len(out)
	strides := make([]int, r)
	st := 1
	for i := r - 1; i >= 0; i-- {
		j := len(s) - r + i
		if j >= 0 && s[j] != 1 {
			strides[i] = st
			st *= s[j]
		}
	}
	idx := make([]int32, n)
	ctr := make([]int, r)
	off := 0
	for k := 0; k < n; k++ {
		idx[k] = int32(off)
		for d := r - 1; d >= 0; d-- {
			ctr[d]++
			off += strides[d]
			if ctr[d] < out[d] {
				break
			}
			off -= strides[d] * ctr[d]
			ctr[d] = 0
		}
	}
	return idx
}

func (bc *broadcast) a(i int) int {
	if bc.ia != nil {
		return int(bc.ia[i])
	}
	return i % bc.na
}

func (bc *broadcast) b(i int) int {
	if bc.ib != nil {
		return int(bc.ib[i])
	}
	return i % bc.nb
}

// binary builds a broadcasting element-wise op. f computes the output;
// da and db give ∂out/∂a and ∂out/∂b from (x, y, out).
func (tp *Tape) binary(a, b *Var, f func(x, y float32) float32, da, db func(x, y, o float32) float32) *Var {
	bc := newBroadcast(a.Value.Shape, b.Value.Shape)
	out := tp.newVar(bc.shape, a, b)
	x, y, o := a.Value.Data, b.Value.Data, out.Value.Data
	n := len(o)
	if len(x) == n && len(y) == n {
		pfor(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				o[i] = f(x[i], y[i])
			}
		})
	} else {
		pfor(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				o[i] = f(x[bc.a(i)], y[bc.b(i)])
			}
		})
	}
	tp.record(out, func() {
		g := out.Grad.Data
		if a.requires {
			ga := tp.grad(a)
			if len(x) == n {
				pfor(n, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						ga[i] += g[i] * da(x[i], y[bc.b(i)], o[i])
					}
				})
			} else {
				for i := 0; i < n; i++ {
					ia := bc.a(i)
					ga[ia] += g[i] * da(x[ia], y[bc.b(i)], o[i])
				}
			}
		}
		if b.requires {
			gb := tp.grad(b)
			if len(y) == n {
				pfor(n, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						gb[i] += g[i] * db(x[bc.a(i)], y[i], o[i])
					}
				})
			} else {
				for i := 0; i < n; i++ {
					ib := bc.b(i)
					gb[ib] += g[i] * db(x[bc.a(i)], y[ib], o[i])
				}
			}
		}
	})
	return out
}

func one(_, _, _ float32) float32      { return 1 }
func minusOne(_, _, _ float32) float32 { return -1 }

// Add returns a+b with NumPy broadcasting; the output has the broadcast shape.
func (tp *Tape) Add(a, b *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Add(a, b)
	}
	if tensor.SameShape(a.Value.Shape, b.Value.Shape) {
		return tp.addSame(a, b)
	}
	if tensor.SameShape(a.Value.Shape, mustBroadcast(a, b)) && isSuffix(b.Value.Shape, a.Value.Shape) {
		return tp.addRepeat(a, b)
	}
	return tp.binary(a, b, func(x, y float32) float32 { return x + y }, one, one)
}

func mustBroadcast(a, b *Var) []int {
	s, err := BroadcastShape(a.Value.Shape, b.Value.Shape)
	if err != nil {
		panic(err.Error())
	}
	return s
}

// addSame is Add for equal shapes (residual connections).
func (tp *Tape) addSame(a, b *Var) *Var {
	out := tp.newVar(a.Value.Shape, a, b)
	x, y, o := a.Value.Data, b.Value.Data, out.Value.Data
	pfor(len(o), func(lo, hi int) {
		xs, ys, os := x[lo:hi], y[lo:hi], o[lo:hi]
		for i := range os {
			os[i] = xs[i] + ys[i]
		}
	})
	tp.record(out, func() {
		if a.requires {
			tp.accumulate(a, out.Grad.Data)
		}
		if b.requires {
			tp.accumulate(b, out.Grad.Data)
		}
	})
	return out
}

// addRepeat is Add where b repeats over a's leading dimensions (bias and
// position-embedding adds): a (..., S...), b (S...).
func (tp *Tape) addRepeat(a, b *Var) *Var {
	out := tp.newVar(a.Value.Shape, a, b)
	x, y, o := a.Value.Data, b.Value.Data, out.Value.Data
	nb := len(y)
	rows := len(o) / max(nb, 1)
	tensor.ParallelFor(rows, max(1, grain/max(nb, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xs, os := x[r*nb:(r+1)*nb], o[r*nb:(r+1)*nb]
			for i := range os {
				os[i] = xs[i] + y[i]
			}
		}
	})
	tp.record(out, func() {
		g := out.Grad.Data
		if a.requires {
			tp.accumulate(a, g)
		}
		if b.requires {
			gb := tp.grad(b)
			for r := 0; r < rows; r++ {
				tensor.Add(gb, g[r*nb:(r+1)*nb])
			}
		}
	})
	return out
}

// Sub returns a-b with NumPy broadcasting.
func (tp *Tape) Sub(a, b *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Sub(a, b)
	}
	return tp.binary(a, b, func(x, y float32) float32 { return x - y }, one, minusOne)
}

// Mul returns a*b element-wise with NumPy broadcasting.
func (tp *Tape) Mul(a, b *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Mul(a, b)
	}
	return tp.binary(a, b, func(x, y float32) float32 { return x * y },
		func(_, y, _ float32) float32 { return y }, func(x, _, _ float32) float32 { return x })
}

// Div returns a/b element-wise with NumPy broadcasting.
func (tp *Tape) Div(a, b *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Div(a, b)
	}
	return tp.binary(a, b, func(x, y float32) float32 { return x / y },
		func(_, y, _ float32) float32 { return 1 / y }, func(_, y, o float32) float32 { return -o / y })
}

// Minimum returns min(a, b) element-wise with NumPy broadcasting; on ties
// the gradient goes to a.
func (tp *Tape) Minimum(a, b *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Minimum(a, b)
	}
	return tp.binary(a, b, func(x, y float32) float32 { return min(x, y) },
		func(x, y, _ float32) float32 { return b2f(x <= y) }, func(x, y, _ float32) float32 { return b2f(y < x) })
}

// Maximum returns max(a, b) element-wise with NumPy broadcasting; on ties
// the gradient goes to a.
func (tp *Tape) Maximum(a, b *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Maximum(a, b)
	}
	return tp.binary(a, b, func(x, y float32) float32 { return max(x, y) },
		func(x, y, _ float32) float32 { return b2f(x >= y) }, func(x, y, _ float32) float32 { return b2f(y > x) })
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// Clamp limits a to [lo, hi] element-wise; the gradient passes where
// lo < a < hi (and is 0 where clamped). Shape unchanged.
func (tp *Tape) Clamp(a *Var, lo, hi float32) *Var {
	if tp.tracer != nil {
		return tp.tracer.Clamp(a, lo, hi)
	}
	return tp.unary(a, func(x float32) float32 { return min(max(x, lo), hi) },
		func(x, _ float32) float32 { return b2f(x > lo && x < hi) })
}

// Where returns a where cond is non-zero and b elsewhere. cond, a and b
// share one shape; gradients flow to the selected side only.
func (tp *Tape) Where(cond *tensor.Tensor, a, b *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Where(cond, a, b)
	}
	if !tensor.SameShape(cond.Shape, a.Value.Shape) || !tensor.SameShape(a.Value.Shape, b.Value.Shape) {
		panic(fmt.Sprintf("ag: Where shapes cond %v a %v b %v", cond.Shape, a.Value.Shape, b.Value.Shape))
	}
	out := tp.newVar(a.Value.Shape, a, b)
	c, x, y, o := cond.Data, a.Value.Data, b.Value.Data, out.Value.Data
	for i := range o {
		if c[i] != 0 {
			o[i] = x[i]
		} else {
			o[i] = y[i]
		}
	}
	tp.record(out, func() {
		g := out.Grad.Data
		if a.requires {
			ga := tp.grad(a)
			for i, v := range c {
				if v != 0 {
					ga[i] += g[i]
				}
			}
		}
		if b.requires {
			gb := tp.grad(b)
			for i, v := range c {
				if v == 0 {
					gb[i] += g[i]
				}
			}
		}
	})
	return out
}
