// Package ag is reverse-mode automatic differentiation over float32 tensors:
// the op vocabulary every model and loss in rlhf is written in.
//
// A Tape records operations as they run. Ops are methods on the tape and
// return a new *Var; Backward walks the record in reverse and accumulates
// gradients into each input's Grad. Parameters are leaves made with NewParam;
// their Grad persists (and accumulates) until ZeroGrad, so gradient
// accumulation over micro-batches is: forward, Backward, Reset, repeat, then
// step the optimiser. Backward consumes the record; sum several losses into
// one before calling it.
//
// Ops (shapes in each method's comment):
//
//	element-wise   Exp Log Tanh Sigmoid LogSigmoid GELU ReLU LeakyReLU Sqrt Square Neg Abs
//	               Scale AddScalar Clamp
//	broadcasting   Add Sub Mul Div Minimum Maximum (NumPy rules); Where (mask)
//	products       MatMul (2-D, batched, transpose flags), Linear (x·W + b)
//	reductions     Sum Mean Max (axis, keepdim), SumAll MeanAll MaxAll,
//	               Softmax LogSoftmax (last axis)
//	shape          Reshape Transpose Permute Slice Concat Stack
//	indexing       Embedding (gather rows), TakeAlongLast (one id per row)
//	fused          LayerNorm, Attention / AttentionQKV (causal multi-head),
//	               CrossEntropy, LinearCrossEntropy (LM head + loss), MaskedMean
//
// Memory: every value and gradient a tape creates comes from the tape's
// buffer pool. Reset hands all of them back for reuse by the next step, so a
// training loop allocates its activations once. After Reset, Vars produced
// by the tape must not be used (copy what you need with Clone first).
// Gradients of intermediate results are recycled during Backward; only leaf
// gradients survive it.
//
// A tape with NoGrad set records nothing (for sampling and evaluation); it
// still pools buffers, so call Reset between steps there too.
// Tapes are not safe for concurrent use; kernels inside ops run in parallel
// over tensor.Workers goroutines.
package ag

import (
	"fmt"
	"math/bits"

	"rlhf/tensor"
)

// Var is a node of the computation: a value and, once Backward has reached
// it, the gradient of the loss with respect to that value (same shape).
type Var struct {
	Value *tensor.Tensor
	Grad  *tensor.Tensor

	requires bool  // gradient flows to this Var
	tape     *Tape // owning tape for temporaries; nil for leaves
}

// NewParam wraps t as a trainable leaf: gradients accumulate into its Grad,
// which is allocated on first use and kept until ZeroGrad.
func NewParam(t *tensor.Tensor) *Var { return &Var{Value: t, requires: true} }

// Const wraps t as a leaf that takes no gradient.
func Const(t *tensor.Tensor) *Var { return &Var{Value: t} }

// RequiresGrad reports whether gradients flow into v.
func (v *Var) RequiresGrad() bool { return v.requires }

// Shape returns the shape of v's value.
func (v *Var) Shape() []int { return v.Value.Shape }

// Data returns v's values, row-major.
func (v *Var) Data() []float32 { return v.Value.Data }

// Item returns the only element of a one-element Var.
func (v *Var) Item() float32 {
	if len(v.Value.Data) != 1 {
		panic(fmt.Sprintf("ag: Item of shape %v", v.Value.Shape))
	}
	return v.Value.Data[0]
}

// ZeroGrad clears v's accumulated gradient (keeping the buffer).
func (v *Var) ZeroGrad() {
	if v.Grad != nil {
		v.Grad.Zero()
	}
}

type node struct {
	out  *Var
	back func()
}

// Tape records operations for Backward and owns a pool of buffers that is
// reused across Reset calls.
type Tape struct {
	// NoGrad, when true, makes ops compute values only: nothing is recorded
	// and outputs do not require gradients.
	NoGrad bool

	tracer Tracer // set by NewTracingTape: ops go to the tracer

	nodes []node
	free  map[int][]pooled // available buffers by capacity (size class)
	used  [][]float32      // buffers handed out since the last Reset, full capacity
}

// pooled is a free buffer; touched marks one given back during the current
// cycle (between two Resets), which keeps it in the pool at the next Reset.
type pooled struct {
	b       []float32
	touched bool
}

// NewTape returns an empty tape that records gradients.
func NewTape() *Tape { return &Tape{free: map[int][]pooled{}} }

// NewNoGradTape returns a tape that computes values only.
func NewNoGradTape() *Tape { t := NewTape(); t.NoGrad = true; return t }

// Len returns the number of recorded ops.
func (tp *Tape) Len() int { return len(tp.nodes) }

// Reset forgets the record and returns every buffer the tape handed out to
// its pool. Vars created by the tape before Reset become invalid. Pooled
// buffers that went unused for a whole cycle are dropped, so the pool holds
// at most one cycle's working set even when shapes change from step to step;
// a Reset with nothing recorded or handed out since the last one changes
// nothing (so resetting at both ends of a step keeps the pool).
func (tp *Tape) Reset() {
	if len(tp.nodes) == 0 && len(tp.used) == 0 {
		return // nothing since the last Reset: keep the pool as it is
	}
	clear(tp.nodes)
	tp.nodes = tp.nodes[:0]
	for c, l := range tp.free {
		k := 0
		for _, e := range l {
			if e.touched {
				l[k] = pooled{b: e.b}
				k++
			}
		}
		clear(l[k:])
		if k == 0 {
			delete(tp.free, c)
		} else {
			tp.free[c] = l[:k]
		}
	}
	for _, b := range tp.used {
		tp.free[cap(b)] = append(tp.free[cap(b)], pooled{b: b})
	}
	clear(tp.used)
	tp.used = tp.used[:0]
}

// sizeClass rounds n up to a pool size class: at most 1/8 larger than n.
func sizeClass(n int) int {
	if n <= 256 {
		return 256
	}
	k := max(bits.Len(uint(n-1))-4, 0)
	return ((n-1)>>k + 1) << k
}

// buf returns a pooled buffer of n floats with undefined contents.
func (tp *Tape) buf(n int) []float32 {
	if n == 0 {
		return []float32{}
	}
	if tp.free == nil {
		tp.free = map[int][]pooled{}
	}
	c := sizeClass(n)
	b := tp.take(c)
	// Batches whose lengths vary from step to step ask for sizes the last
	// step did not free: a large request also takes a free buffer of one of
	// the next few classes (at most about 1.6 times n) before it allocates.
	for i, d := 0, c; b == nil && n >= largeBuf && i < 4; i++ {
		d = sizeClass(d + 1)
		b = tp.take(d)
	}
	if b == nil {
		b = make([]float32, c)
	}
	tp.used = append(tp.used, b)
	return b[:n:n]
}

// largeBuf is the size from which buf looks beyond a request's own class.
const largeBuf = 1 << 14

// take removes a free buffer of size class c from the pool, or returns nil.
func (tp *Tape) take(c int) []float32 {
	l := tp.free[c]
	if len(l) == 0 {
		return nil
	}
	b := l[len(l)-1].b
	l[len(l)-1] = pooled{}
	tp.free[c] = l[:len(l)-1]
	return b
}

// zbuf returns a zeroed pooled buffer of n floats.
func (tp *Tape) zbuf(n int) []float32 {
	b := tp.buf(n)
	clear(b)
	return b
}

// release hands b back to the pool before Reset. b must have come from buf
// and must not be used again.
func (tp *Tape) release(b []float32) {
	if len(b) == 0 {
		return
	}
	for i := len(tp.used) - 1; i >= 0; i-- {
		if &tp.used[i][0] == &b[0] {
			full := tp.used[i]
			last := len(tp.used) - 1
			tp.used[i] = tp.used[last]
			tp.used[last] = nil
			tp.used = tp.used[:last]
			tp.free[cap(full)] = append(tp.free[cap(full)], pooled{b: full, touched: true})
			return
		}
	}
}

// newVar returns a temporary with an uninitialised value of the given shape;
// requires is true when grad is recorded and any input requires it.
func (tp *Tape) newVar(shape []int, inputs ...*Var) *Var {
	n := tensor.Numel(shape)
	v := &Var{Value: &tensor.Tensor{Data: tp.buf(n), Shape: append([]int(nil), shape...)}, tape: tp}
	if !tp.NoGrad {
		for _, in := range inputs {
			if in.requires {
				v.requires = true
				break
			}
		}
	}
	return v
}

// record registers the backward function of out when out requires grad.
func (tp *Tape) record(out *Var, back func()) {
	if out.requires {
		tp.nodes = append(tp.nodes, node{out: out, back: back})
	}
}

// grad returns v's gradient buffer, allocating a zeroed one on first use:
// from the pool for temporaries, from the heap for leaves.
func (tp *Tape) grad(v *Var) []float32 {
	if v.Grad == nil {
		if v.tape != nil {
			v.Grad = &tensor.Tensor{Data: v.tape.zbuf(len(v.Value.Data)), Shape: v.Value.Shape}
		} else {
			v.Grad = tensor.New(v.Value.Shape...)
		}
	}
	return v.Grad.Data
}

// gradOut returns v's gradient buffer for an op that can either overwrite or
// accumulate; fresh reports that the buffer holds no gradient yet and has
// undefined contents, so the op must overwrite every element (saving the
// zeroing pass and the reads of an accumulation).
func (tp *Tape) gradOut(v *Var) (g []float32, fresh bool) {
	if v.Grad != nil {
		return v.Grad.Data, false
	}
	if v.tape != nil {
		v.Grad = &tensor.Tensor{Data: v.tape.buf(len(v.Value.Data)), Shape: v.Value.Shape}
	} else {
		v.Grad = tensor.New(v.Value.Shape...)
	}
	return v.Grad.Data, true
}

// accumulate adds src into v's gradient, or copies it when fresh.
func (tp *Tape) accumulate(v *Var, src []float32) {
	g, fresh := tp.gradOut(v)
	if fresh {
		copy(g, src)
		return
	}
	addTo(g, src)
}

// Backward seeds d loss/d loss = 1 for a one-element loss and propagates
// gradients to every Var recorded on the tape, accumulating into leaf Grads.
func (tp *Tape) Backward(loss *Var) {
	if len(loss.Value.Data) != 1 {
		panic(fmt.Sprintf("ag: Backward of non-scalar shape %v; use BackwardWith", loss.Value.Shape))
	}
	tp.BackwardWith(loss, tensor.Full(1, loss.Value.Shape...))
}

// BackwardWith propagates the gradient seed (shaped like out) from out
// through the recorded ops. Intermediate gradients are recycled as soon as
// they have been consumed, so after the call only leaves hold a Grad.
func (tp *Tape) BackwardWith(out *Var, seed *tensor.Tensor) {
	if !tensor.SameShape(out.Value.Shape, seed.Shape) {
		panic(fmt.Sprintf("ag: BackwardWith seed %v for output %v", seed.Shape, out.Value.Shape))
	}
	if !out.requires {
		return
	}
	g := tp.grad(out)
	for i, s := range seed.Data {
		g[i] += s
	}
	for i := len(tp.nodes) - 1; i >= 0; i-- {
		n := tp.nodes[i]
		if n.out.Grad == nil {
			continue
		}
		n.back()
		if n.out.tape == tp {
			tp.release(n.out.Grad.Data)
			n.out.Grad = nil
		}
	}
	clear(tp.nodes)
	tp.nodes = tp.nodes[:0]
}

// Detach returns a leaf sharing v's value that takes no gradient: a constant
// for losses that must not differentiate through v (e.g. PPO's old
// log-probabilities).
func Detach(v *Var) *Var { return &Var{Value: v.Value} }
