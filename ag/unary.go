package ag

import (
	"math"

	"rlhf/tensor"
)

// grain is the smallest number of elements worth handing to a goroutine.
const grain = 1 << 14

// pfor runs fn over [0, n) in parallel chunks of at least grain elements.
func pfor(n int, fn func(lo, hi int)) { tensor.ParallelFor(n, grain, fn) }

// unary builds an element-wise op: f maps x to y, df gives dy/dx from (x, y).
func (tp *Tape) unary(a *Var, f func(x float32) float32, df func(x, y float32) float32) *Var {
	out := tp.newVar(a.Value.Shape, a)
	x, y := a.Value.Data, out.Value.Data
	pfor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = f(x[i])
		}
	})
	tp.record(out, func() {
		g, ga := out.Grad.Data, tp.grad(a)
		pfor(len(x), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				ga[i] += g[i] * df(x[i], y[i])
			}
		})
	})
	return out
}

// Exp returns e**a element-wise. Shape unchanged.
func (tp *Tape) Exp(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Exp(a)
	}
	return tp.unary(a, tensor.Exp, func(_, y float32) float32 { return y })
}

// Log returns the natural logarithm element-wise. Shape unchanged.
func (tp *Tape) Log(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Log(a)
	}
	return tp.unary(a, func(x float32) float32 { return float32(math.Log(float64(x))) },
		func(x, _ float32) float32 { return 1 / x })
}

// Tanh returns tanh(a) element-wise. Shape unchanged.
func (tp *Tape) Tanh(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Tanh(a)
	}
	return tp.unary(a, tensor.Tanh, func(_, y float32) float32 { return 1 - y*y })
}

// Sigmoid returns 1/(1+e**-a) element-wise. Shape unchanged.
func (tp *Tape) Sigmoid(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Sigmoid(a)
	}
	return tp.unary(a, tensor.Sigmoid, func(_, y float32) float32 { return y * (1 - y) })
}

// ReLU returns max(a, 0) element-wise (gradient 0 at 0). Shape unchanged.
func (tp *Tape) ReLU(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.ReLU(a)
	}
	out := tp.newVar(a.Value.Shape, a)
	x, y := a.Value.Data, out.Value.Data
	pfor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = max(x[i], 0)
		}
	})
	tp.record(out, func() {
		g, ga := out.Grad.Data, tp.grad(a)
		pfor(len(x), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				var d float32
				if x[i] > 0 {
					d = 1
				}
				ga[i] += g[i] * d
			}
		})
	})
	return out
}

// LeakyReLU returns max(a, slope·a) for 0 <= slope < 1, computed as
// (1-slope)·ReLU(a) + slope·a in one pass (the same float32 operations, in
// the same order, as that composition of ReLU, Scale and Add, so results are
// identical to it). Shape unchanged.
func (tp *Tape) LeakyReLU(a *Var, slope float32) *Var {
	if tp.tracer != nil {
		return tp.Add(tp.Scale(tp.ReLU(a), 1-slope), tp.Scale(a, slope))
	}
	c := 1 - slope
	out := tp.newVar(a.Value.Shape, a)
	x, y := a.Value.Data, out.Value.Data
	pfor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			pos := float32(c * max(x[i], 0))
			y[i] = pos + float32(slope*x[i])
		}
	})
	tp.record(out, func() {
		g, ga := out.Grad.Data, tp.grad(a)
		pfor(len(x), func(lo, hi int) {
			var zero float32
			for i := lo; i < hi; i++ {
				// As the composition's backward: the slope branch first, then
				// the ReLU branch with its gradient (0 + c·g)·[x > 0].
				ga[i] += float32(slope * g[i])
				var d float32
				if x[i] > 0 {
					d = 1
				}
				ga[i] += float32(zero+float32(c*g[i])) * d
			}
		})
	})
	return out
}

// Sqrt returns the square root element-wise. Shape unchanged.
func (tp *Tape) Sqrt(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Sqrt(a)
	}
	return tp.unary(a, func(x float32) float32 { return float32(math.Sqrt(float64(x))) },
		func(_, y float32) float32 { return 0.5 / y })
}

// Square returns a² element-wise. Shape unchanged.
func (tp *Tape) Square(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Square(a)
	}
	return tp.unary(a, func(x float32) float32 { return x * x }, func(x, _ float32) float32 { return 2 * x })
}

// Neg returns -a. Shape unchanged.
func (tp *Tape) Neg(a *Var) *Var { return tp.Scale(a, -1) }

// Abs returns |a| element-wise (gradient 0 at 0). Shape unchanged.
func (tp *Tape) Abs(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.Abs(a)
	}
	return tp.unary(a, func(x float32) float32 { return float32(math.Abs(float64(x))) },
		func(x, _ float32) float32 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return 0
		})
}

// Scale returns s*a. Shape unchanged.
func (tp *Tape) Scale(a *Var, s float32) *Var {
	if tp.tracer != nil {
		return tp.tracer.Scale(a, s)
	}
	out := tp.newVar(a.Value.Shape, a)
	x, y := a.Value.Data, out.Value.Data
	pfor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = s * x[i]
		}
	})
	tp.record(out, func() {
		g, ga := out.Grad.Data, tp.grad(a)
		pfor(len(x), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				ga[i] += s * g[i]
			}
		})
	})
	return out
}

// AddScalar returns a+s. Shape unchanged.
func (tp *Tape) AddScalar(a *Var, s float32) *Var {
	if tp.tracer != nil {
		return tp.tracer.AddScalar(a, s)
	}
	out := tp.newVar(a.Value.Shape, a)
	x, y := a.Value.Data, out.Value.Data
	pfor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = x[i] + s
		}
	})
	tp.record(out, func() { tp.accumulate(a, out.Grad.Data) })
	return out
}

// addTo computes dst += src in parallel.
func addTo(dst, src []float32) {
	pfor(len(dst), func(lo, hi int) { tensor.Add(dst[lo:hi], src[lo:hi]) })
}

// GELU returns the tanh approximation of the Gaussian error linear unit,
// 0.5·x·(1+tanh(√(2/π)·(x+0.044715·x³))), as GPT-2 uses. Shape unchanged.
func (tp *Tape) GELU(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.GELU(a)
	}
	out := tp.newVar(a.Value.Shape, a)
	x, y := a.Value.Data, out.Value.Data
	pfor(len(x), func(lo, hi int) { tensor.GELU(y[lo:hi], x[lo:hi]) })
	tp.record(out, func() {
		g := out.Grad.Data
		ga, fresh := tp.gradOut(a)
		pfor(len(x), func(lo, hi int) {
			if fresh {
				tensor.GELUGradTo(ga[lo:hi], g[lo:hi], x[lo:hi])
			} else {
				tensor.GELUGrad(ga[lo:hi], g[lo:hi], x[lo:hi])
			}
		})
	})
	return out
}

// LogSigmoid returns log σ(a) = min(a, 0) - log(1 + e**-|a|) element-wise,
// stable for large |a| (Bradley-Terry and DPO losses are -LogSigmoid of a
// margin). Shape unchanged.
func (tp *Tape) LogSigmoid(a *Var) *Var {
	if tp.tracer != nil {
		return tp.tracer.LogSigmoid(a)
	}
	return tp.unary(a, func(x float32) float32 {
		return min(x, 0) - float32(math.Log1p(float64(tensor.Exp(-abs32(x)))))
	}, func(x, _ float32) float32 { return tensor.Sigmoid(-x) })
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
