package ag

import "rlhf/tensor"

// Tracer receives the ops of a tracing tape instead of the CPU engine: one
// method per op, with the arguments and shape rules of the Tape method of the
// same name. A second backend (package xla) implements it to turn model and
// loss code into a compiled graph, so that code runs unchanged on it.
//
// Ops that the tape composes from others (Neg, SumAll, MeanAll, MaxAll,
// Transpose) reach the tracer as their parts.
//
// Vars a tracer returns are shape-only (see NewTracedVar); their Value.Data is
// nil and they must not be read on the host.
type Tracer interface {
	Add(a, b *Var) *Var
	Sub(a, b *Var) *Var
	Mul(a, b *Var) *Var
	Div(a, b *Var) *Var
	Minimum(a, b *Var) *Var
	Maximum(a, b *Var) *Var
	Clamp(a *Var, lo, hi float32) *Var
	Where(cond *tensor.Tensor, a, b *Var) *Var

	Exp(a *Var) *Var
	Log(a *Var) *Var
	Tanh(a *Var) *Var
	Sigmoid(a *Var) *Var
	ReLU(a *Var) *Var
	Sqrt(a *Var) *Var
	Square(a *Var) *Var
	Abs(a *Var) *Var
	GELU(a *Var) *Var
	LogSigmoid(a *Var) *Var
	Scale(a *Var, s float32) *Var
	AddScalar(a *Var, s float32) *Var

	MatMul(a, b *Var, transA, transB bool) *Var
	Linear(x, w, bias *Var) *Var

	Sum(a *Var, axis int, keepdim bool) *Var
	Mean(a *Var, axis int, keepdim bool) *Var
	Max(a *Var, axis int, keepdim bool) *Var
	Softmax(a *Var) *Var
	LogSoftmax(a *Var) *Var

	Reshape(a *Var, shape ...int) *Var
	Permute(a *Var, perm ...int) *Var
	Slice(a *Var, axis, lo, hi int) *Var
	Concat(axis int, vs ...*Var) *Var
	Stack(axis int, vs ...*Var) *Var

	Embedding(w *Var, ids []int) *Var
	TakeAlongLast(x *Var, idx []int) *Var

	LayerNorm(x, weight, bias *Var, eps float32) *Var
	Attention(qkv *Var, heads int) *Var
	AttentionQKV(q, k, v *Var, heads int) *Var
	CrossEntropy(logits *Var, targets []int, ignore int) *Var
	MaskedMean(x *Var, mask *tensor.Tensor) *Var
	LinearCrossEntropy(h, w *Var, targets []int, ignore int) *Var
}

// NewTracingTape returns a tape that hands every op to tr instead of running
// it. Backward, BackwardWith and the buffer pool are not used by such a tape:
// the tracer's backend differentiates the traced graph itself.
func NewTracingTape(tr Tracer) *Tape {
	t := NewTape()
	t.tracer = tr
	return t
}

// Tracer returns the tape's tracer, or nil for a tape that computes on the CPU.
func (tp *Tape) Tracer() Tracer { return tp.tracer }

// NewTracedVar returns a shape-only Var for a tracer's output: Value holds
// the shape and no data, and the Var counts as requiring gradients.
func NewTracedVar(shape []int) *Var {
	return &Var{Value: &tensor.Tensor{Shape: append([]int(nil), shape...)}, requires: true}
}
