package ag

import (
	"math"
	"math/rand/v2"
	"testing"

	"rlhf/tensor"
)

// Finite-difference checks. Ops run in float32; each check perturbs one
// input element by ±eps (eps = 1e-2), evaluates the objective Σ R∘f(x) in
// float64 for a fixed random R, and compares the central difference with the
// analytic gradient from BackwardWith(out, R):
//
//	|analytic - numeric| <= atol + rtol·max|numeric|, atol = 3e-3, rtol = 1e-2.
//
// float32 round-off in the objective is ~1e-6 relative, i.e. ~1e-4 after
// dividing by 2·eps, and the O(eps²) truncation error stays below 1e-3 for
// the smooth inputs used, so the bound has headroom yet fails on any wrong
// term of a gradient (those are O(1) off).
const (
	fdEps  = 1e-2
	fdAtol = 3e-3
	fdRtol = 1e-2
)

type opFn func(tp *Tape, in []*Var) *Var

func randT(r *rand.Rand, shape ...int) *tensor.Tensor { return tensor.Randn(r, 1, shape...) }

// objective evaluates Σ R∘f(inputs) in float64 without recording.
func objective(f opFn, ins []*tensor.Tensor, R *tensor.Tensor) float64 {
	tp := NewNoGradTape()
	vs := make([]*Var, len(ins))
	for i, t := range ins {
		vs[i] = Const(t)
	}
	out := f(tp, vs)
	s := 0.0
	for i, v := range out.Value.Data {
		s += float64(v) * float64(R.Data[i])
	}
	return s
}

func checkGrad(t *testing.T, name string, f opFn, ins ...*tensor.Tensor) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	tp := NewTape()
	vs := make([]*Var, len(ins))
	for i, in := range ins {
		vs[i] = NewParam(in.Clone())
	}
	out := f(tp, vs)
	R := randT(r, out.Value.Shape...)
	tp.BackwardWith(out, R)
	for i, in := range ins {
		x := in.Clone()
		maxNum := 0.0
		num := make([]float64, len(x.Data))
		for j := range x.Data {
			old := x.Data[j]
			cp := append([]*tensor.Tensor(nil), ins...)
			cp[i] = x
			x.Data[j] = old + fdEps
			fp := objective(f, cp, R)
			x.Data[j] = old - fdEps
			fm := objective(f, cp, R)
			x.Data[j] = old
			num[j] = (fp - fm) / (2 * fdEps)
			maxNum = math.Max(maxNum, math.Abs(num[j]))
		}
		g := vs[i].Grad
		if g == nil {
			if maxNum > fdAtol {
				t.Errorf("%s: input %d got no gradient, numeric max %g", name, i, maxNum)
			}
			continue
		}
		bad := 0
		for j := range num {
			if d := math.Abs(float64(g.Data[j]) - num[j]); d > fdAtol+fdRtol*maxNum {
				if bad < 3 {
					t.Errorf("%s: input %d element %d: analytic %g numeric %g", name, i, j, g.Data[j], num[j])
				}
				bad++
			}
		}
	}
}

// awayFrom returns a random tensor whose elements keep at least 3·eps from
// each of the kinks, so finite differences never straddle one.
func awayFrom(r *rand.Rand, kinks []float32, shape ...int) *tensor.Tensor {
	t := randT(r, shape...)
	for i := range t.Data {
		for _, k := range kinks {
			if d := t.Data[i] - k; d > -3*fdEps && d < 3*fdEps {
				t.Data[i] = k + 0.1
			}
		}
	}
	return t
}

func positive(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := randT(r, shape...)
	for i, v := range t.Data {
		t.Data[i] = float32(math.Abs(float64(v))) + 0.5
	}
	return t
}

func TestGradUnary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randT(r, 3, 5)
	un := map[string]func(tp *Tape, a *Var) *Var{
		"Exp": (*Tape).Exp, "Tanh": (*Tape).Tanh, "Sigmoid": (*Tape).Sigmoid, "GELU": (*Tape).GELU,
		"Square": (*Tape).Square, "Neg": (*Tape).Neg, "LogSigmoid": (*Tape).LogSigmoid,
		"Scale":     func(tp *Tape, a *Var) *Var { return tp.Scale(a, -1.7) },
		"AddScalar": func(tp *Tape, a *Var) *Var { return tp.AddScalar(a, 0.3) },
	}
	for name, f := range un {
		checkGrad(t, name, func(tp *Tape, in []*Var) *Var { return f(tp, in[0]) }, x)
	}
	checkGrad(t, "Log", func(tp *Tape, in []*Var) *Var { return tp.Log(in[0]) }, positive(r, 4, 3))
	checkGrad(t, "Sqrt", func(tp *Tape, in []*Var) *Var { return tp.Sqrt(in[0]) }, positive(r, 4, 3))
	k := awayFrom(r, []float32{0}, 4, 6)
	checkGrad(t, "ReLU", func(tp *Tape, in []*Var) *Var { return tp.ReLU(in[0]) }, k)
	checkGrad(t, "LeakyReLU", func(tp *Tape, in []*Var) *Var { return tp.LeakyReLU(in[0], 0.01) }, k)
	checkGrad(t, "Abs", func(tp *Tape, in []*Var) *Var { return tp.Abs(in[0]) }, k)
	c := awayFrom(r, []float32{-0.5, 0.8}, 4, 6)
	checkGrad(t, "Clamp", func(tp *Tape, in []*Var) *Var { return tp.Clamp(in[0], -0.5, 0.8) }, c)
	// Large arguments exercise the saturated branches of the fast kernels.
	big := randT(r, 2, 8)
	for i := range big.Data {
		big.Data[i] *= 4
	}
	checkGrad(t, "GELU-wide", func(tp *Tape, in []*Var) *Var { return tp.GELU(in[0]) }, big)
	checkGrad(t, "Tanh-wide", func(tp *Tape, in []*Var) *Var { return tp.Tanh(in[0]) }, big)
	checkGrad(t, "LogSigmoid-wide", func(tp *Tape, in []*Var) *Var { return tp.LogSigmoid(in[0]) }, big)
	tp := NewNoGradTape()
	ls := tp.LogSigmoid(Const(tensor.FromSlice([]float32{-100, 0, 100, -5}, 4))).Value.Data
	want := []float64{-100, -math.Log(2), 0, -math.Log1p(math.Exp(5))}
	for i, w := range want {
		if math.Abs(float64(ls[i])-w) > 1e-5 {
			t.Errorf("LogSigmoid[%d] = %g want %g", i, ls[i], w)
		}
	}
}

var bcastCases = [][2][]int{
	{{2, 3, 4}, {2, 3, 4}}, // same shape
	{{2, 3, 4}, {4}},       // bias-like suffix
	{{2, 3, 4}, {3, 4}},    // suffix
	{{4}, {2, 3, 4}},       // left operand repeats
	{{2, 3, 4}, {3, 1}},    // middle broadcast
	{{3, 1}, {1, 4}},       // both broadcast (outer product)
	{{2, 1, 4}, {1, 3, 1}}, // both, rank 3
	{{2, 3}, {1}},          // scalar
	{{1}, {2, 3}},          // scalar on the left
	{{5, 1, 2}, {2}},       // size-1 axis in the middle
}

func TestGradBroadcast(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ops := map[string]func(tp *Tape, a, b *Var) *Var{
		"Add": (*Tape).Add, "Sub": (*Tape).Sub, "Mul": (*Tape).Mul, "Div": (*Tape).Div,
		"Minimum": (*Tape).Minimum, "Maximum": (*Tape).Maximum,
	}
	for _, c := range bcastCases {
		a, b := randT(r, c[0]...), randT(r, c[1]...)
		for name, f := range ops {
			bb := b
			if name == "Div" {
				bb = positive(r, c[1]...)
			}
			if name == "Minimum" || name == "Maximum" {
				// keep a and b apart so that no perturbation flips the choice
				bb = b.Clone()
				for i := range bb.Data {
					bb.Data[i] = float32(math.Round(float64(bb.Data[i]))) + 0.5
				}
				a = a.Clone()
				for i := range a.Data {
					a.Data[i] = float32(math.Round(float64(a.Data[i])))
				}
			}
			checkGrad(t, name+shapeName(c), func(tp *Tape, in []*Var) *Var { return f(tp, in[0], in[1]) }, a, bb)
		}
	}
	// The same Var on both sides accumulates both contributions.
	x := randT(r, 3, 4)
	checkGrad(t, "Mul(x,x)", func(tp *Tape, in []*Var) *Var { return tp.Mul(in[0], in[0]) }, x)
	checkGrad(t, "Add(x,x)", func(tp *Tape, in []*Var) *Var { return tp.Add(in[0], in[0]) }, x)
}

func shapeName(c [2][]int) string {
	s := "("
	for _, d := range c[0] {
		s += string(rune('0' + d))
	}
	s += ","
	for _, d := range c[1] {
		s += string(rune('0' + d))
	}
	return s + ")"
}

func TestBroadcastForward(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tp := NewNoGradTape()
	for _, c := range bcastCases {
		a, b := randT(r, c[0]...), randT(r, c[1]...)
		out := tp.Sub(Const(a), Const(b))
		shape, _ := BroadcastShape(c[0], c[1])
		if !tensor.SameShape(out.Value.Shape, shape) {
			t.Fatalf("%v-%v: shape %v want %v", c[0], c[1], out.Value.Shape, shape)
		}
		// Reference: expand both with explicit index arithmetic.
		n := tensor.Numel(shape)
		for i := 0; i < n; i++ {
			want := a.Data[bcastIndex(i, shape, c[0])] - b.Data[bcastIndex(i, shape, c[1])]
			if out.Value.Data[i] != want {
				t.Fatalf("%v-%v: element %d = %g want %g", c[0], c[1], i, out.Value.Data[i], want)
			}
		}
	}
	if _, err := BroadcastShape([]int{2, 3}, []int{4}); err == nil {
		t.Error("BroadcastShape(2x3, 4) gave no error")
	}
}

// bcastIndex maps flat index i of out to the flat index of s broadcast to out.
func bcastIndex(i int, out, s []int) int {
	idx := make([]int, len(out))
	for d := len(out) - 1; d >= 0; d-- {
		idx[d] = i % out[d]
		i /= out[d]
	}
	off, st := 0, 1
	for d := len(s) - 1; d >= 0; d-- {
		od := len(out) - len(s) + d
		if s[d] != 1 {
			off += idx[od] * st
		}
		st *= s[d]
	}
	return off
}

func TestGradWhere(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 9))
	cond := tensor.New(3, 4)
	for i := range cond.Data {
		cond.Data[i] = float32(i % 2)
	}
	checkGrad(t, "Where", func(tp *Tape, in []*Var) *Var { return tp.Where(cond, in[0], in[1]) }, randT(r, 3, 4), randT(r, 3, 4))
}

func TestGradMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	type mc struct {
		a, b   []int
		ta, tb bool
	}
	cases := []mc{
		{[]int{3, 4}, []int{4, 5}, false, false},
		{[]int{4, 3}, []int{4, 5}, true, false},
		{[]int{3, 4}, []int{5, 4}, false, true},
		{[]int{4, 3}, []int{5, 4}, true, true},
		{[]int{2, 3, 4}, []int{4, 5}, false, false},
		{[]int{2, 3, 4}, []int{5, 4}, false, true},
		{[]int{2, 4, 3}, []int{4, 5}, true, false},
		{[]int{3, 4}, []int{2, 4, 5}, false, false},
		{[]int{2, 2, 3, 4}, []int{2, 2, 4, 5}, false, false},
		{[]int{2, 4, 3}, []int{2, 5, 4}, true, true},
	}
	for _, c := range cases {
		checkGrad(t, "MatMul", func(tp *Tape, in []*Var) *Var { return tp.MatMul(in[0], in[1], c.ta, c.tb) },
			randT(r, c.a...), randT(r, c.b...))
		// Forward against a naive product.
		tp := NewNoGradTape()
		A, B := randT(r, c.a...), randT(r, c.b...)
		out := tp.MatMul(Const(A), Const(B), c.ta, c.tb)
		m, n := out.Value.Shape[len(out.Value.Shape)-2], out.Value.Shape[len(out.Value.Shape)-1]
		k := c.a[len(c.a)-1]
		if c.ta {
			k = c.a[len(c.a)-2]
		}
		nbat := len(out.Value.Data) / (m * n)
		for bi := 0; bi < nbat; bi++ {
			sa, sb := bi*m*k, bi*k*n
			if len(c.a) == 2 {
				sa = 0
			}
			if len(c.b) == 2 {
				sb = 0
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for p := 0; p < k; p++ {
						ai := sa + i*k + p
						if c.ta {
							ai = sa + p*m + i
						}
						bj := sb + p*n + j
						if c.tb {
							bj = sb + j*k + p
						}
						s += float64(A.Data[ai]) * float64(B.Data[bj])
					}
					if got := out.Value.Data[bi*m*n+i*n+j]; math.Abs(float64(got)-s) > 1e-4 {
						t.Fatalf("MatMul %v %v: [%d,%d,%d] = %g want %g", c.a, c.b, bi, i, j, got, s)
					}
				}
			}
		}
	}
	for _, bias := range []bool{true, false} {
		checkGrad(t, "Linear", func(tp *Tape, in []*Var) *Var {
			if bias {
				return tp.Linear(in[0], in[1], in[2])
			}
			return tp.Linear(in[0], in[1], nil)
		}, randT(r, 2, 3, 4), randT(r, 4, 5), randT(r, 5))
	}
}

func TestGradReduce(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	x := randT(r, 2, 3, 4)
	// Distinct values 0.1 apart, so no perturbation changes which is largest.
	spread := tensor.New(2, 3, 4)
	for i, p := range r.Perm(24) {
		spread.Data[i] = float32(p)*0.1 - 1
	}
	for _, axis := range []int{0, 1, 2, -1} {
		for _, keep := range []bool{true, false} {
			checkGrad(t, "Sum", func(tp *Tape, in []*Var) *Var { return tp.Sum(in[0], axis, keep) }, x)
			checkGrad(t, "Mean", func(tp *Tape, in []*Var) *Var { return tp.Mean(in[0], axis, keep) }, x)
			checkGrad(t, "Max", func(tp *Tape, in []*Var) *Var { return tp.Max(in[0], axis, keep) }, spread)
		}
	}
	checkGrad(t, "SumAll", func(tp *Tape, in []*Var) *Var { return tp.SumAll(in[0]) }, x)
	checkGrad(t, "MeanAll", func(tp *Tape, in []*Var) *Var { return tp.MeanAll(in[0]) }, x)
	checkGrad(t, "MaxAll", func(tp *Tape, in []*Var) *Var { return tp.MaxAll(in[0]) }, spread)
	checkGrad(t, "Softmax", func(tp *Tape, in []*Var) *Var { return tp.Softmax(in[0]) }, x)
	checkGrad(t, "LogSoftmax", func(tp *Tape, in []*Var) *Var { return tp.LogSoftmax(in[0]) }, x)

	tp := NewNoGradTape()
	s := tp.Sum(Const(x), 1, false)
	if !tensor.SameShape(s.Value.Shape, []int{2, 4}) {
		t.Fatalf("Sum shape %v", s.Value.Shape)
	}
	if want := x.Data[0] + x.Data[4] + x.Data[8]; math.Abs(float64(s.Value.Data[0]-want)) > 1e-6 {
		t.Errorf("Sum[0,0] = %g want %g", s.Value.Data[0], want)
	}
	m := tp.Max(Const(x), -1, true)
	if !tensor.SameShape(m.Value.Shape, []int{2, 3, 1}) || m.Value.Data[0] != max(x.Data[0], x.Data[1], x.Data[2], x.Data[3]) {
		t.Errorf("Max: %v %v", m.Value.Shape, m.Value.Data[0])
	}
	sm := tp.Softmax(Const(x))
	ls := tp.LogSoftmax(Const(x))
	for row := 0; row < 6; row++ {
		var sum float64
		for i := 0; i < 4; i++ {
			p := sm.Value.Data[row*4+i]
			sum += float64(p)
			if d := math.Abs(math.Log(float64(p)) - float64(ls.Value.Data[row*4+i])); d > 1e-5 {
				t.Errorf("log(softmax) and LogSoftmax differ by %g", d)
			}
		}
		if math.Abs(sum-1) > 1e-6 {
			t.Errorf("softmax row %d sums to %g", row, sum)
		}
	}
}

func TestGradShape(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	x := randT(r, 2, 3, 4)
	checkGrad(t, "Reshape", func(tp *Tape, in []*Var) *Var { return tp.Square(tp.Reshape(in[0], 4, -1)) }, x)
	checkGrad(t, "Transpose", func(tp *Tape, in []*Var) *Var { return tp.Transpose(in[0], 0, 2) }, x)
	checkGrad(t, "Transpose-last", func(tp *Tape, in []*Var) *Var { return tp.Transpose(in[0], -1, -2) }, x)
	checkGrad(t, "Permute", func(tp *Tape, in []*Var) *Var { return tp.Permute(in[0], 1, 0, 2) }, x)
	checkGrad(t, "Slice", func(tp *Tape, in []*Var) *Var { return tp.Slice(in[0], 1, 1, 3) }, x)
	checkGrad(t, "Slice-last", func(tp *Tape, in []*Var) *Var { return tp.Slice(in[0], -1, 0, 1) }, x)
	y := randT(r, 2, 5, 4)
	checkGrad(t, "Concat", func(tp *Tape, in []*Var) *Var { return tp.Concat(1, in[0], in[1], in[0]) }, x, y)
	checkGrad(t, "Stack", func(tp *Tape, in []*Var) *Var { return tp.Stack(1, in[0], in[1]) }, x, randT(r, 2, 3, 4))

	tp := NewNoGradTape()
	p := tp.Permute(Const(x), 2, 0, 1)
	if !tensor.SameShape(p.Value.Shape, []int{4, 2, 3}) {
		t.Fatalf("Permute shape %v", p.Value.Shape)
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 4; k++ {
				if p.Value.Data[k*6+i*3+j] != x.Data[i*12+j*4+k] {
					t.Fatalf("Permute value at %d,%d,%d", i, j, k)
				}
			}
		}
	}
	st := tp.Stack(0, Const(x), Const(x))
	if !tensor.SameShape(st.Value.Shape, []int{2, 2, 3, 4}) || st.Value.Data[24] != x.Data[0] {
		t.Errorf("Stack: shape %v", st.Value.Shape)
	}
	sl := tp.Slice(Const(x), 2, 1, 3)
	if !tensor.SameShape(sl.Value.Shape, []int{2, 3, 2}) || sl.Value.Data[0] != x.Data[1] || sl.Value.Data[2] != x.Data[5] {
		t.Errorf("Slice values wrong")
	}
}

func TestGradIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 7))
	ids := []int{2, 0, 2, 4, 1, 2}
	checkGrad(t, "Embedding", func(tp *Tape, in []*Var) *Var { return tp.Embedding(in[0], ids) }, randT(r, 5, 3))
	checkGrad(t, "Embedding-of-activation", func(tp *Tape, in []*Var) *Var {
		return tp.Embedding(tp.Reshape(tp.Tanh(in[0]), 5, 3), ids)
	}, randT(r, 15))
	checkGrad(t, "TakeAlongLast", func(tp *Tape, in []*Var) *Var {
		return tp.TakeAlongLast(tp.LogSoftmax(in[0]), []int{1, 0, 3, 3, 2, 0})
	}, randT(r, 2, 3, 4))
	checkGrad(t, "CrossEntropy", func(tp *Tape, in []*Var) *Var {
		return tp.CrossEntropy(in[0], []int{1, -1, 3, 3, 2, 0}, -1)
	}, randT(r, 2, 3, 4))
	for _, chunk := range []int{512, 4, 5} {
		old := lmChunk
		lmChunk = chunk
		checkGrad(t, "LinearCrossEntropy", func(tp *Tape, in []*Var) *Var {
			return tp.LinearCrossEntropy(in[0], in[1], []int{1, -1, 6, 3, 2, 0}, -1)
		}, randT(r, 2, 3, 4), randT(r, 7, 4))
		// Same value as the unfused ops.
		tp := NewNoGradTape()
		h, w := Const(randT(r, 2, 3, 4)), Const(randT(r, 7, 4))
		tg := []int{1, -1, 6, 3, 2, 0}
		a := tp.LinearCrossEntropy(h, w, tg, -1).Item()
		b := tp.CrossEntropy(tp.MatMul(h, w, false, true), tg, -1).Item()
		if math.Abs(float64(a-b)) > 1e-5 {
			t.Errorf("LinearCrossEntropy %g, CrossEntropy of MatMul %g", a, b)
		}
		lmChunk = old
	}
	mask := tensor.FromSlice([]float32{1, 0, 1, 1, 0, 1}, 2, 3)
	checkGrad(t, "MaskedMean", func(tp *Tape, in []*Var) *Var { return tp.MaskedMean(tp.Square(in[0]), mask) }, randT(r, 2, 3))

	// CrossEntropy equals the mean of -log_softmax at the targets.
	tp := NewNoGradTape()
	x := randT(r, 3, 5)
	tg := []int{4, 7, 0}
	ce := tp.CrossEntropy(Const(x), tg, 7).Item()
	ls := tp.LogSoftmax(Const(x)).Value.Data
	want := -(ls[4] + ls[10]) / 2
	if math.Abs(float64(ce-want)) > 1e-6 {
		t.Errorf("CrossEntropy = %g want %g", ce, want)
	}
	if v := tp.CrossEntropy(Const(x), []int{-1, -1, -1}, -1).Item(); v != 0 {
		t.Errorf("all-ignored CrossEntropy = %g", v)
	}
	if v := tp.MaskedMean(Const(x), tensor.New(3, 5)).Item(); v != 0 {
		t.Errorf("MaskedMean with empty mask = %g", v)
	}
}

func TestGradLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 1))
	checkGrad(t, "LayerNorm", func(tp *Tape, in []*Var) *Var { return tp.LayerNorm(in[0], in[1], in[2], 1e-5) },
		randT(r, 2, 3, 8), randT(r, 8), randT(r, 8))
	tp := NewNoGradTape()
	x := randT(r, 4, 6)
	y := tp.LayerNorm(Const(x), Const(tensor.Full(1, 6)), Const(tensor.New(6)), 1e-5).Value.Data
	for row := 0; row < 4; row++ {
		var m, v float64
		for i := 0; i < 6; i++ {
			m += float64(y[row*6+i]) / 6
		}
		for i := 0; i < 6; i++ {
			v += (float64(y[row*6+i]) - m) * (float64(y[row*6+i]) - m) / 6
		}
		if math.Abs(m) > 1e-5 || math.Abs(v-1) > 1e-3 {
			t.Errorf("LayerNorm row %d: mean %g var %g", row, m, v)
		}
	}
}

// naiveAttention computes causal attention with explicit loops in float64:
// q (B,Tq,C), k, v (B,Tk,C).
func naiveAttention(q, k, v []float32, B, Tq, Tk, C, H int) []float64 {
	hd := C / H
	out := make([]float64, B*Tq*C)
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for i := 0; i < Tq; i++ {
				lim := i + Tk - Tq
				w := make([]float64, lim+1)
				mx := math.Inf(-1)
				for j := 0; j <= lim; j++ {
					for d := 0; d < hd; d++ {
						w[j] += float64(q[(b*Tq+i)*C+h*hd+d]) * float64(k[(b*Tk+j)*C+h*hd+d])
					}
					w[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, w[j])
				}
				s := 0.0
				for j := range w {
					w[j] = math.Exp(w[j] - mx)
					s += w[j]
				}
				for j := range w {
					for d := 0; d < hd; d++ {
						out[(b*Tq+i)*C+h*hd+d] += w[j] / s * float64(v[(b*Tk+j)*C+h*hd+d])
					}
				}
			}
		}
	}
	return out
}

func TestAttention(t *testing.T) {
	for _, blk := range []int{0, 2, 3, 32} {
		old := attnBlock
		attnBlock = blk
		testAttention(t)
		attnBlock = old
	}
}

func testAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	B, T, C, H := 2, 5, 8, 2
	qkv := randT(r, B, T, 3*C)
	checkGrad(t, "Attention", func(tp *Tape, in []*Var) *Var { return tp.Attention(in[0], H) }, qkv)
	q, k, v := randT(r, B, 3, C), randT(r, B, 5, C), randT(r, B, 5, C)
	checkGrad(t, "AttentionQKV", func(tp *Tape, in []*Var) *Var { return tp.AttentionQKV(in[0], in[1], in[2], H) }, q, k, v)
	x := randT(r, B, T, C)
	checkGrad(t, "AttentionQKV-self", func(tp *Tape, in []*Var) *Var { return tp.AttentionQKV(in[0], in[0], in[0], H) }, x)
	checkGrad(t, "AttentionQKV-7of9", func(tp *Tape, in []*Var) *Var { return tp.AttentionQKV(in[0], in[1], in[2], H) },
		randT(r, 1, 7, C), randT(r, 1, 9, C), randT(r, 1, 9, C))

	tp := NewNoGradTape()
	got := tp.AttentionQKV(Const(q), Const(k), Const(v), H).Value.Data
	want := naiveAttention(q.Data, k.Data, v.Data, B, 3, 5, C, H)
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5 {
			t.Fatalf("AttentionQKV[%d] = %g want %g", i, got[i], want[i])
		}
	}
	// Packed qkv gives the same as separate projections.
	Q, K, V := tensor.New(B, T, C), tensor.New(B, T, C), tensor.New(B, T, C)
	for row := 0; row < B*T; row++ {
		copy(Q.Data[row*C:], qkv.Data[row*3*C:row*3*C+C])
		copy(K.Data[row*C:], qkv.Data[row*3*C+C:row*3*C+2*C])
		copy(V.Data[row*C:], qkv.Data[row*3*C+2*C:row*3*C+3*C])
	}
	got = tp.Attention(Const(qkv), H).Value.Data
	want = naiveAttention(Q.Data, K.Data, V.Data, B, T, T, C, H)
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5 {
			t.Fatalf("Attention[%d] = %g want %g", i, got[i], want[i])
		}
	}
}

// A small two-layer network exercises accumulation through shared inputs.
func TestGradComposite(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	checkGrad(t, "MLP", func(tp *Tape, in []*Var) *Var {
		h := tp.GELU(tp.Linear(in[0], in[1], in[2]))
		y := tp.Add(tp.MatMul(h, in[3], false, false), in[0])
		return tp.LayerNorm(y, in[4], in[5], 1e-5)
	}, randT(r, 2, 3, 4), randT(r, 4, 6), randT(r, 6), randT(r, 6, 4), randT(r, 4), randT(r, 4))
}

func TestNoGradRecordsNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	w := NewParam(randT(r, 4, 3))
	tp := NewNoGradTape()
	x := Const(randT(r, 2, 4))
	y := tp.Softmax(tp.Linear(x, w, nil))
	loss := tp.SumAll(y)
	if tp.Len() != 0 || y.RequiresGrad() || loss.RequiresGrad() {
		t.Fatalf("NoGrad tape recorded %d ops, requires=%v", tp.Len(), y.RequiresGrad())
	}
	tp.Backward(loss)
	if w.Grad != nil {
		t.Error("NoGrad Backward produced a parameter gradient")
	}
	g := NewTape()
	g.Backward(g.SumAll(g.Linear(x, w, nil)))
	if w.Grad == nil {
		t.Error("recording tape produced no gradient")
	}
}

func TestResetReusesBuffers(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	w := NewParam(randT(r, 8, 8))
	x := Const(randT(r, 4, 8))
	tp := NewTape()
	step := func() float32 {
		loss := tp.MeanAll(tp.Square(tp.GELU(tp.Linear(x, w, nil))))
		tp.Backward(loss)
		v := loss.Item()
		tp.Reset()
		return v
	}
	first := step()
	g1 := w.Grad.Clone()
	w.ZeroGrad()
	allocs := testing.AllocsPerRun(5, func() { step(); w.ZeroGrad() })
	if v := step(); v != first {
		t.Errorf("loss changed across Reset: %g then %g", first, v)
	}
	if d := tensor.MaxAbsDiff(g1, w.Grad); d != 0 {
		t.Errorf("gradient changed across Reset by %g", d)
	}
	if len(tp.free) == 0 {
		t.Error("Reset pooled no buffers")
	}
	if allocs > 100 {
		t.Errorf("%v allocations per pooled step", allocs)
	}
	t.Logf("allocations per step after warm-up: %v", allocs)
}

// Buffers unused for a whole cycle leave the pool, so changing shapes (a
// growing sequence while sampling) cannot grow it without bound.
func TestPoolForgetsStaleBuffers(t *testing.T) {
	tp := NewNoGradTape()
	pooledFloats := func() int {
		n := 0
		for c, l := range tp.free {
			n += c * len(l)
		}
		return n
	}
	r := rand.New(rand.NewPCG(3, 3))
	for T := 100; T < 2000; T += 37 {
		x := Const(randT(r, T, 8))
		tp.Softmax(tp.GELU(x))
		tp.Reset()
		if p := pooledFloats(); p > 4*(T*8*9/8+256) {
			t.Fatalf("T=%d: pool holds %d floats for a working set of %d", T, p, 2*T*8)
		}
	}
	if sizeClass(1000) < 1000 || sizeClass(1000) > 1125 || sizeClass(1<<20) != 1<<20 || sizeClass(1) != 256 {
		t.Errorf("size classes: %d %d %d", sizeClass(1000), sizeClass(1<<20), sizeClass(1))
	}
}

// TestLeakyReLUIsComposition: the fused LeakyReLU gives bit for bit the
// values and gradients of (1-slope)·ReLU(a) + slope·a, which it replaces.
func TestLeakyReLUIsComposition(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := randT(r, 64, 97) // more than one parallel chunk
	x.Data[0], x.Data[1] = 0, float32(math.Copysign(0, -1))
	g := randT(r, 64, 97)
	for _, slope := range []float32{0.01, 0.2, 0} {
		run := func(f func(tp *Tape, a *Var) *Var) ([]float32, []float32) {
			tp := NewTape()
			a := NewParam(x.Clone())
			y := f(tp, a)
			tp.BackwardWith(y, g)
			return append([]float32(nil), y.Value.Data...), append([]float32(nil), a.Grad.Data...)
		}
		fy, fg := run(func(tp *Tape, a *Var) *Var { return tp.LeakyReLU(a, slope) })
		cy, cg := run(func(tp *Tape, a *Var) *Var {
			return tp.Add(tp.Scale(tp.ReLU(a), 1-slope), tp.Scale(a, slope))
		})
		for i := range fy {
			if math.Float32bits(fy[i]) != math.Float32bits(cy[i]) || math.Float32bits(fg[i]) != math.Float32bits(cg[i]) {
				t.Fatalf("slope %v, element %d (x=%v): fused %v/%v, composed %v/%v", slope, i, x.Data[i], fy[i], fg[i], cy[i], cg[i])
			}
		}
	}
}

// TestResetTwiceKeepsPool: a Reset with nothing recorded since the last one
// keeps the pooled buffers, so code that resets at both ends of a step still
// reuses the previous step's memory.
func TestResetTwiceKeepsPool(t *testing.T) {
	tp := NewTape()
	a := NewParam(tensor.New(256))
	first := &tp.Scale(a, 2).Value.Data[0]
	tp.Reset()
	tp.Reset()
	if again := &tp.Scale(a, 2).Value.Data[0]; again != first {
		t.Error("a second Reset dropped the pooled buffer")
	}
}

// TestPoolServesShorterBatches: after a step over a longer batch, a large
// request of a slightly smaller size takes the larger free buffer instead
// of allocating (batches padded to lengths that vary step to step); a
// small one, or one far smaller, keeps to its own size class.
func TestPoolServesShorterBatches(t *testing.T) {
	tp := NewTape()
	long := tp.buf(40 * 1024)
	small := tp.buf(1000)
	tp.Reset()
	if got := tp.buf(36 * 1024); &got[0] != &long[0] || len(got) != 36*1024 {
		t.Error("a request 10% smaller than a free large buffer allocated a new one")
	}
	if got := tp.buf(900); len(small) > 0 && &got[0] == &small[0] && sizeClass(900) != sizeClass(1000) {
		t.Error("a small request took a buffer of a larger class")
	}
	tp.Reset()
	// Given back, the borrowed buffer returns to its own class.
	if l := tp.free[cap(long)]; len(l) != 1 || &l[0].b[0] != &long[0] {
		t.Errorf("the large buffer is not back in its class %d: %d buffers there", cap(long), len(l))
	}
	if got := tp.buf(10 * 1024); &got[0] == &long[0] {
		t.Error("a request of a quarter the size took the large buffer")
	}
}
