package xla

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph ops read like the math they build
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"rlhf/ag"
	"rlhf/tensor"
)

// opRec is what tracing learnt about one op call: its signature (name,
// constant arguments and the shapes of the host data it took) and the shape
// of its output. A replay checks the signatures and reuses the shapes.
type opRec struct {
	sig string
	out []int
}

// errDiverged stops a replay whose op sequence left every cached trace.
type errDiverged struct{}

// tracer implements ag.Tracer. In build mode it emits GoMLX graph ops; in
// replay mode (g == nil) it only walks a cached trace to collect the host
// data of this call (token ids, targets, masks, constant leaves) in the
// order the graph's parameters expect, returning shape-only Vars.
type tracer struct {
	g *Graph // nil in replay mode

	nodes  map[*ag.Var]*Node          // params and traced outputs (nil nodes in replay)
	values map[*tensor.Tensor]*ag.Var // Value of every traced output, to spot Detach

	feeds   []*tensors.Tensor // host data, in parameter order
	pending strings.Builder   // signature parts of the current op
	ops     []opRec           // build mode: the record; replay: the op count so far
	cands   []*entry          // replay: cached traces still consistent with the calls
	n       int               // replay: ops seen
	index   map[*ag.Var]int   // op index of each traced output
	used    map[*Node]bool    // build mode: nodes read by ops (to find the params used)
}

func newTracer(g *Graph) *tracer {
	return &tracer{g: g, nodes: map[*ag.Var]*Node{}, values: map[*tensor.Tensor]*ag.Var{}, index: map[*ag.Var]int{}}
}

// bind registers a parameter Var with its graph node.
func (t *tracer) bind(v *ag.Var, n *Node) { t.nodes[v] = n }

// feed records host data as the next data parameter: in build mode it
// returns the parameter node, in replay mode nil.
func (t *tracer) feed(x *tensors.Tensor) *Node {
	fmt.Fprintf(&t.pending, "|%s", x.Shape())
	t.feeds = append(t.feeds, x)
	if t.g == nil {
		return nil
	}
	return Parameter(t.g, fmt.Sprintf("data%d", len(t.feeds)-1), x.Shape())
}

// feedInts feeds ids as an int32 vector.
func (t *tracer) feedInts(ids []int) *Node {
	d := make([]int32, len(ids))
	for i, v := range ids {
		d[i] = int32(v)
	}
	return t.feed(tensors.FromFlatDataAndDimensions(d, len(ids)))
}

// feedTensor feeds a host float32 tensor (a mask or a constant leaf).
func (t *tracer) feedTensor(x *tensor.Tensor) *Node {
	if x.Data == nil {
		panic(fmt.Sprintf("xla: host tensor of shape %v has no data (a traced value used as host data)", x.Shape))
	}
	return t.feed(tensors.FromFlatDataAndDimensions(slices.Clone(x.Data), x.Shape...))
}

// constant adds a constant argument to the current op's signature, so a
// changed constant selects (or builds) another executable.
func (t *tracer) constant(format string, args ...any) {
	fmt.Fprintf(&t.pending, "|"+format, args...)
}

// in returns the node of v: a parameter or traced output; a Detach of a
// traced output (its gradient stopped); any other leaf becomes host data.
func (t *tracer) in(v *ag.Var) *Node {
	if n, ok := t.nodes[v]; ok {
		if t.used != nil && n != nil {
			t.used[n] = true
		}
		return n
	}
	if src, ok := t.values[v.Value]; ok {
		t.pending.WriteString("|detach")
		n := t.nodes[src]
		if t.g != nil {
			n = StopGradient(n)
		}
		t.nodes[v] = n
		return n
	}
	n := t.feedTensor(v.Value)
	t.nodes[v] = n
	return n
}

// out finishes an op: in build mode it runs build and records the op; in
// replay mode it matches the op against the cached traces.
func (t *tracer) out(name string, build func() *Node) *ag.Var {
	sig := name + t.pending.String()
	t.pending.Reset()
	var v *ag.Var
	var n *Node
	if t.g != nil {
		n = build()
		v = ag.NewTracedVar(n.Shape().Dimensions)
		t.ops = append(t.ops, opRec{sig: sig, out: slices.Clone(n.Shape().Dimensions)})
		t.index[v] = len(t.ops) - 1
	} else {
		k := 0
		for _, e := range t.cands {
			if t.n < len(e.ops) && e.ops[t.n].sig == sig {
				t.cands[k] = e
				k++
			}
		}
		t.cands = t.cands[:k]
		if k == 0 {
			panic(errDiverged{})
		}
		v = ag.NewTracedVar(t.cands[0].ops[t.n].out)
		t.index[v] = t.n
		t.n++
	}
	t.nodes[v] = n
	t.values[v.Value] = v
	return v
}

func f32(g *Graph, x float64) *Node { return Scalar(g, dtypes.Float32, x) }

// bcast broadcasts x to dims by NumPy rules (leading axes of size 1 added).
func bcast(x *Node, dims []int) *Node {
	if x.Rank() < len(dims) {
		s := make([]int, len(dims)-x.Rank(), len(dims))
		for i := range s {
			s[i] = 1
		}
		x = Reshape(x, append(s, x.Shape().Dimensions...)...)
	}
	if !slices.Equal(x.Shape().Dimensions, dims) {
		x = BroadcastToDims(x, dims...)
	}
	return x
}

func (t *tracer) binary(name string, a, b *ag.Var, f func(x, y *Node) *Node) *ag.Var {
	x, y := t.in(a), t.in(b)
	dims, err := ag.BroadcastShape(a.Shape(), b.Shape())
	if err != nil {
		panic(fmt.Sprintf("xla: %s: %v", name, err))
	}
	return t.out(name, func() *Node { return f(bcast(x, dims), bcast(y, dims)) })
}

// Add implements ag.Tracer.
func (t *tracer) Add(a, b *ag.Var) *ag.Var { return t.binary("Add", a, b, Add) }

// Sub implements ag.Tracer.
func (t *tracer) Sub(a, b *ag.Var) *ag.Var { return t.binary("Sub", a, b, Sub) }

// Mul implements ag.Tracer.
func (t *tracer) Mul(a, b *ag.Var) *ag.Var { return t.binary("Mul", a, b, Mul) }

// Div implements ag.Tracer.
func (t *tracer) Div(a, b *ag.Var) *ag.Var { return t.binary("Div", a, b, Div) }

// Minimum implements ag.Tracer.
func (t *tracer) Minimum(a, b *ag.Var) *ag.Var { return t.binary("Minimum", a, b, Min) }

// Maximum implements ag.Tracer.
func (t *tracer) Maximum(a, b *ag.Var) *ag.Var { return t.binary("Maximum", a, b, Max) }

// Clamp implements ag.Tracer: the gradient passes strictly inside (lo, hi).
func (t *tracer) Clamp(a *ag.Var, lo, hi float32) *ag.Var {
	x := t.in(a)
	t.constant("%g,%g", lo, hi)
	return t.out("Clamp", func() *Node {
		g := x.Graph()
		inside := LogicalAnd(GreaterThan(x, f32(g, float64(lo))), LessThan(x, f32(g, float64(hi))))
		c := Min(Max(StopGradient(x), f32(g, float64(lo))), f32(g, float64(hi)))
		return Where(inside, x, c)
	})
}

// Where implements ag.Tracer.
func (t *tracer) Where(cond *tensor.Tensor, a, b *ag.Var) *ag.Var {
	c := t.feedTensor(cond)
	x, y := t.in(a), t.in(b)
	return t.out("Where", func() *Node { return Where(NotEqual(c, ZerosLike(c)), x, y) })
}

func (t *tracer) unary(name string, a *ag.Var, f func(x *Node) *Node) *ag.Var {
	x := t.in(a)
	return t.out(name, func() *Node { return f(x) })
}

// Exp implements ag.Tracer.
func (t *tracer) Exp(a *ag.Var) *ag.Var { return t.unary("Exp", a, Exp) }

// Log implements ag.Tracer.
func (t *tracer) Log(a *ag.Var) *ag.Var { return t.unary("Log", a, Log) }

// Tanh implements ag.Tracer.
func (t *tracer) Tanh(a *ag.Var) *ag.Var { return t.unary("Tanh", a, Tanh) }

// Sigmoid implements ag.Tracer.
func (t *tracer) Sigmoid(a *ag.Var) *ag.Var { return t.unary("Sigmoid", a, Logistic) }

// ReLU implements ag.Tracer (gradient 0 at 0, as the CPU engine).
func (t *tracer) ReLU(a *ag.Var) *ag.Var {
	return t.unary("ReLU", a, func(x *Node) *Node { return Where(GreaterThan(x, ZerosLike(x)), x, ZerosLike(x)) })
}

// Sqrt implements ag.Tracer.
func (t *tracer) Sqrt(a *ag.Var) *ag.Var { return t.unary("Sqrt", a, Sqrt) }

// Square implements ag.Tracer.
func (t *tracer) Square(a *ag.Var) *ag.Var {
	return t.unary("Square", a, func(x *Node) *Node { return Mul(x, x) })
}

// Abs implements ag.Tracer.
func (t *tracer) Abs(a *ag.Var) *ag.Var { return t.unary("Abs", a, Abs) }

// GELU implements ag.Tracer with GPT-2's tanh approximation.
func (t *tracer) GELU(a *ag.Var) *ag.Var {
	return t.unary("GELU", a, func(x *Node) *Node {
		inner := MulScalar(Add(x, MulScalar(Mul(Mul(x, x), x), 0.044715)), math.Sqrt(2/math.Pi))
		return Mul(MulScalar(x, 0.5), AddScalar(Tanh(inner), 1))
	})
}

// LogSigmoid implements ag.Tracer: min(x, 0) - log(1 + e^-|x|).
func (t *tracer) LogSigmoid(a *ag.Var) *ag.Var {
	return t.unary("LogSigmoid", a, func(x *Node) *Node {
		return Sub(Min(x, ZerosLike(x)), Log1p(Exp(Neg(Abs(x)))))
	})
}

// Scale implements ag.Tracer.
func (t *tracer) Scale(a *ag.Var, s float32) *ag.Var {
	x := t.in(a)
	t.constant("%g", s)
	return t.out("Scale", func() *Node { return MulScalar(x, float64(s)) })
}

// AddScalar implements ag.Tracer.
func (t *tracer) AddScalar(a *ag.Var, s float32) *ag.Var {
	x := t.in(a)
	t.constant("%g", s)
	return t.out("AddScalar", func() *Node { return AddScalar(x, float64(s)) })
}

// MatMul implements ag.Tracer with the CPU engine's batching rules.
func (t *tracer) MatMul(a, b *ag.Var, transA, transB bool) *ag.Var {
	x, y := t.in(a), t.in(b)
	t.constant("%t,%t", transA, transB)
	return t.out("MatMul", func() *Node {
		ra, rb := x.Rank(), y.Rank()
		ca, cb := ra-1, rb-2
		if transA {
			ca = ra - 2
		}
		if transB {
			cb = rb - 1
		}
		switch {
		case ra > 2 && rb > 2:
			batch := make([]int, ra-2)
			for i := range batch {
				batch[i] = i
			}
			return dot(x, []int{ca}, batch, y, []int{cb}, batch)
		case ra == 2 && rb > 2:
			// (M, batch..., N) -> (batch..., M, N)
			o := dot(x, []int{ca}, nil, y, []int{cb}, nil)
			perm := make([]int, 0, o.Rank())
			for i := 1; i < o.Rank()-1; i++ {
				perm = append(perm, i)
			}
			perm = append(perm, 0, o.Rank()-1)
			return TransposeAllAxes(o, perm...)
		default:
			return dot(x, []int{ca}, nil, y, []int{cb}, nil)
		}
	})
}

// Linear implements ag.Tracer: x (..., In) · w (In, Out) + bias (Out).
func (t *tracer) Linear(x, w, bias *ag.Var) *ag.Var {
	xn, wn := t.in(x), t.in(w)
	var bn *Node
	if bias != nil {
		bn = t.in(bias)
		t.constant("bias")
	}
	return t.out("Linear", func() *Node {
		o := dot(xn, []int{xn.Rank() - 1}, nil, wn, []int{0}, nil)
		if bn != nil {
			o = Add(o, bcast(bn, o.Shape().Dimensions))
		}
		return o
	})
}

func normAxis(axis, rank int) int {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		panic(fmt.Sprintf("xla: axis out of range for rank %d", rank))
	}
	return axis
}

func keep(x, r *Node, axis int, keepdim bool) *Node {
	if !keepdim {
		return r
	}
	d := slices.Clone(x.Shape().Dimensions)
	d[axis] = 1
	return Reshape(r, d...)
}

func (t *tracer) reduce(name string, a *ag.Var, axis int, keepdim bool, f func(x *Node, ax int) *Node) *ag.Var {
	x := t.in(a)
	ax := normAxis(axis, len(a.Shape()))
	t.constant("%d,%t", ax, keepdim)
	return t.out(name, func() *Node { return keep(x, f(x, ax), ax, keepdim) })
}

// Sum implements ag.Tracer.
func (t *tracer) Sum(a *ag.Var, axis int, keepdim bool) *ag.Var {
	return t.reduce("Sum", a, axis, keepdim, func(x *Node, ax int) *Node { return ReduceSum(x, ax) })
}

// Mean implements ag.Tracer.
func (t *tracer) Mean(a *ag.Var, axis int, keepdim bool) *ag.Var {
	return t.reduce("Mean", a, axis, keepdim, func(x *Node, ax int) *Node {
		return DivScalar(ReduceSum(x, ax), float64(x.Shape().Dimensions[ax]))
	})
}

// Max implements ag.Tracer.
func (t *tracer) Max(a *ag.Var, axis int, keepdim bool) *ag.Var {
	return t.reduce("Max", a, axis, keepdim, func(x *Node, ax int) *Node { return ReduceMax(x, ax) })
}

// logSoftmax over the last axis, stable.
func logSoftmax(x *Node) *Node {
	last := x.Rank() - 1
	m := StopGradient(ReduceAndKeep(x, ReduceMax, last))
	z := Sub(x, m)
	return Sub(z, Log(ReduceAndKeep(Exp(z), ReduceSum, last)))
}

// Softmax implements ag.Tracer (last axis).
func (t *tracer) Softmax(a *ag.Var) *ag.Var {
	return t.unary("Softmax", a, func(x *Node) *Node { return Exp(logSoftmax(x)) })
}

// LogSoftmax implements ag.Tracer (last axis).
func (t *tracer) LogSoftmax(a *ag.Var) *ag.Var { return t.unary("LogSoftmax", a, logSoftmax) }

// Reshape implements ag.Tracer; one dimension may be -1.
func (t *tracer) Reshape(a *ag.Var, shape ...int) *ag.Var {
	x := t.in(a)
	dims := slices.Clone(shape)
	n, free := 1, -1
	for i, d := range dims {
		if d == -1 {
			free = i
		} else {
			n *= d
		}
	}
	if free >= 0 && n > 0 {
		dims[free] = tensor.Numel(a.Shape()) / n
	}
	t.constant("%v", dims)
	return t.out("Reshape", func() *Node { return Reshape(x, dims...) })
}

// Permute implements ag.Tracer: output axis k is input axis perm[k].
func (t *tracer) Permute(a *ag.Var, perm ...int) *ag.Var {
	x := t.in(a)
	t.constant("%v", perm)
	return t.out("Permute", func() *Node { return TransposeAllAxes(x, perm...) })
}

// Slice implements ag.Tracer.
func (t *tracer) Slice(a *ag.Var, axis, lo, hi int) *ag.Var {
	x := t.in(a)
	ax := normAxis(axis, len(a.Shape()))
	t.constant("%d,%d,%d", ax, lo, hi)
	return t.out("Slice", func() *Node { return sliceAxis(x, ax, lo, hi) })
}

func (t *tracer) ins(vs []*ag.Var) []*Node {
	ns := make([]*Node, len(vs))
	for i, v := range vs {
		ns[i] = t.in(v)
	}
	return ns
}

// sliceAxis keeps [lo, hi) of axis. Backends without Pad (the gradient of
// a slice) get a product with a 0/1 selection matrix instead.
func sliceAxis(x *Node, axis, lo, hi int) *Node {
	if x.Graph().Backend().Capabilities().Operations[backends.OpTypePad] {
		return SliceAxis(x, axis, AxisRange(lo, hi))
	}
	n := x.Shape().Dimensions[axis]
	sel := make([]float32, (hi-lo)*n)
	for i := range hi - lo {
		sel[i*n+lo+i] = 1
	}
	s := ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(sel, hi-lo, n)) // (hi-lo, n)
	o := dot(x, []int{axis}, nil, s, []int{1}, nil)                               // (..., ..., hi-lo)
	perm := make([]int, 0, o.Rank())
	for i := range o.Rank() - 1 {
		if i == axis {
			perm = append(perm, o.Rank()-1)
		}
		perm = append(perm, i)
	}
	if axis == o.Rank()-1 {
		perm = append(perm, o.Rank()-1)
	}
	return TransposeAllAxes(o, perm...)
}

// Concat implements ag.Tracer.
func (t *tracer) Concat(axis int, vs ...*ag.Var) *ag.Var {
	ns := t.ins(vs)
	ax := normAxis(axis, len(vs[0].Shape()))
	t.constant("%d,%d", ax, len(vs))
	return t.out("Concat", func() *Node { return Concatenate(ns, ax) })
}

// Stack implements ag.Tracer.
func (t *tracer) Stack(axis int, vs ...*ag.Var) *ag.Var {
	ns := t.ins(vs)
	ax := normAxis(axis, len(vs[0].Shape())+1)
	t.constant("%d,%d", ax, len(vs))
	return t.out("Stack", func() *Node { return Stack(ns, ax) })
}

// Embedding implements ag.Tracer: rows of w for ids -> (len(ids), D).
func (t *tracer) Embedding(w *ag.Var, ids []int) *ag.Var {
	wn := t.in(w)
	in := t.feedInts(ids)
	return t.out("Embedding", func() *Node { return Gather(wn, Reshape(in, len(ids), 1)) })
}

// pick returns Σ_v x[r, v]·onehot(idx[r])[v] for x (R, V), idx (R) -> (R).
func pick(x, idx *Node) *Node {
	v := x.Shape().Dimensions[x.Rank()-1]
	return ReduceSum(Mul(x, OneHot(idx, v, dtypes.Float32)), -1)
}

// TakeAlongLast implements ag.Tracer: x (..., V), one id per row -> (...).
func (t *tracer) TakeAlongLast(x *ag.Var, idx []int) *ag.Var {
	xn := t.in(x)
	in := t.feedInts(idx)
	s := x.Shape()
	return t.out("TakeAlongLast", func() *Node {
		r := pick(Reshape(xn, len(idx), s[len(s)-1]), in)
		return Reshape(r, s[:len(s)-1]...)
	})
}

// LayerNorm implements ag.Tracer over the last axis, biased variance.
func (t *tracer) LayerNorm(x, weight, bias *ag.Var, eps float32) *ag.Var {
	xn, wn, bn := t.in(x), t.in(weight), t.in(bias)
	t.constant("%g", eps)
	return t.out("LayerNorm", func() *Node {
		last := xn.Rank() - 1
		mean := ReduceAndKeep(xn, ReduceMean, last)
		z := Sub(xn, mean)
		v := ReduceAndKeep(Mul(z, z), ReduceMean, last)
		y := Div(z, Sqrt(AddScalar(v, float64(eps))))
		d := y.Shape().Dimensions
		return Add(Mul(y, bcast(wn, d)), bcast(bn, d))
	})
}

// attend is causal multi-head attention: q (B, Tq, C), k, v (B, Tk, C) ->
// (B, Tq, C); query i sits at position i + Tk - Tq.
func attend(q, k, v *Node, heads int) *Node {
	d := q.Shape().Dimensions
	b, tq, c := d[0], d[1], d[2]
	tk := k.Shape().Dimensions[1]
	hd := c / heads
	split := func(x *Node, tt int) *Node { // (B, T, C) -> (B, H, T, hd)
		return TransposeAllAxes(Reshape(x, b, tt, heads, hd), 0, 2, 1, 3)
	}
	qh, kh, vh := split(q, tq), split(k, tk), split(v, tk)
	s := MulScalar(dot(qh, []int{3}, []int{0, 1}, kh, []int{3}, []int{0, 1}), 1/math.Sqrt(float64(hd))) // (B, H, Tq, Tk)
	g := q.Graph()
	row := Iota(g, shapes.Make(dtypes.Int32, tq, tk), 0)
	col := Iota(g, shapes.Make(dtypes.Int32, tq, tk), 1)
	allowed := LessOrEqual(col, AddScalar(row, float64(tk-tq)))
	allowed = BroadcastToDims(Reshape(allowed, 1, 1, tq, tk), b, heads, tq, tk)
	s = Where(allowed, s, BroadcastToDims(f32(g, -1e30), b, heads, tq, tk))
	p := Exp(logSoftmax(s))
	o := dot(p, []int{3}, []int{0, 1}, vh, []int{2}, []int{0, 1}) // (B, H, Tq, hd)
	return Reshape(TransposeAllAxes(o, 0, 2, 1, 3), b, tq, c)
}

// Attention implements ag.Tracer: qkv (B, T, 3C) -> (B, T, C).
func (t *tracer) Attention(qkv *ag.Var, heads int) *ag.Var {
	x := t.in(qkv)
	t.constant("%d", heads)
	return t.out("Attention", func() *Node {
		c := x.Shape().Dimensions[2] / 3
		q, k, v := sliceAxis(x, 2, 0, c), sliceAxis(x, 2, c, 2*c), sliceAxis(x, 2, 2*c, 3*c)
		return attend(q, k, v, heads)
	})
}

// AttentionQKV implements ag.Tracer.
func (t *tracer) AttentionQKV(q, k, v *ag.Var, heads int) *ag.Var {
	qn, kn, vn := t.in(q), t.in(k), t.in(v)
	t.constant("%d", heads)
	return t.out("AttentionQKV", func() *Node { return attend(qn, kn, vn, heads) })
}

// crossEntropy is the mean over counted rows of -logsoftmax(logits)[target]
// for logits (R, V), targets (R) int32; rows with target == ignore are
// skipped; no counted rows gives 0. Returns shape (1).
func crossEntropy(logits, targets *Node, ignore int) *Node {
	g := logits.Graph()
	ign := Scalar(g, dtypes.Int32, ignore)
	counted := NotEqual(targets, BroadcastToDims(ign, targets.Shape().Dimensions...))
	safe := Where(counted, targets, ZerosLike(targets))
	lp := pick(logSoftmax(logits), safe)
	m := ConvertDType(counted, dtypes.Float32)
	n := ReduceAllSum(m)
	loss := Div(Neg(ReduceAllSum(Mul(lp, m))), Max(n, OnesLike(n)))
	return Reshape(loss, 1)
}

// CrossEntropy implements ag.Tracer: logits (..., V), one target per row -> (1).
func (t *tracer) CrossEntropy(logits *ag.Var, targets []int, ignore int) *ag.Var {
	x := t.in(logits)
	tn := t.feedInts(targets)
	t.constant("%d", ignore)
	s := logits.Shape()
	return t.out("CrossEntropy", func() *Node {
		return crossEntropy(Reshape(x, len(targets), s[len(s)-1]), tn, ignore)
	})
}

// MaskedMean implements ag.Tracer: Σ x·mask / Σ mask -> (1); 0 for an empty mask.
func (t *tracer) MaskedMean(x *ag.Var, mask *tensor.Tensor) *ag.Var {
	xn := t.in(x)
	mn := t.feedTensor(mask)
	return t.out("MaskedMean", func() *Node {
		s := ReduceAllSum(mn)
		num := ReduceAllSum(Mul(xn, mn))
		nz := NotEqual(s, ZerosLike(s))
		safe := Where(nz, s, OnesLike(s))
		return Reshape(Where(nz, Div(num, safe), ZerosLike(num)), 1)
	})
}

// LinearCrossEntropy implements ag.Tracer: h (..., C), w (V, C) -> (1).
func (t *tracer) LinearCrossEntropy(h, w *ag.Var, targets []int, ignore int) *ag.Var {
	hn, wn := t.in(h), t.in(w)
	tn := t.feedInts(targets)
	t.constant("%d", ignore)
	return t.out("LinearCrossEntropy", func() *Node {
		c := hn.Shape().Dimensions[hn.Rank()-1]
		logits := dot(Reshape(hn, len(targets), c), []int{1}, nil, wn, []int{1}, nil) // (R, V)
		return crossEntropy(logits, tn, ignore)
	})
}

var _ ag.Tracer = (*tracer)(nil)
