// Package nn holds the layers rlhf's models are built from — Linear,
// Embedding, LayerNorm, MLP, causal self-attention, the pre-LN transformer
// block — and a small GPT-2 assembled from them. Layers own named parameters
// (*ag.Var leaves) whose names follow Hugging Face GPT-2 checkpoints, and
// compute through an *ag.Tape.
package nn

import (
	"math/rand/v2"

	"rlhf/ag"
	"rlhf/tensor"
)

// NamedParam is a trainable tensor with its checkpoint name, e.g.
// "h.0.attn.c_attn.weight".
type NamedParam struct {
	Name string
	P    *ag.Var
}

// NumParams returns the total number of scalars in ps.
func NumParams(ps []NamedParam) int {
	n := 0
	for _, p := range ps {
		n += len(p.P.Value.Data)
	}
	return n
}

// ZeroGrad clears the gradients of ps.
func ZeroGrad(ps []NamedParam) {
	for _, p := range ps {
		p.P.ZeroGrad()
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Linear is the affine map y = x·W + b in GPT-2's Conv1D layout.
type Linear struct {
	W *ag.Var // (In, Out)
	B *ag.Var // (Out), nil without bias
}

// NewLinear returns a Linear with weights drawn from N(0, std²) and zero bias.
func NewLinear(r *rand.Rand, in, out int, std float32, bias bool) *Linear {
	l := &Linear{W: ag.NewParam(tensor.Randn(r, std, in, out))}
	if bias {
		l.B = ag.NewParam(tensor.New(out))
	}
	return l
}

// Forward maps x (..., In) to (..., Out).
func (l *Linear) Forward(tp *ag.Tape, x *ag.Var) *ag.Var { return tp.Linear(x, l.W, l.B) }

// Params returns prefix.weight and, with a bias, prefix.bias.
func (l *Linear) Params(prefix string) []NamedParam {
	ps := []NamedParam{{join(prefix, "weight"), l.W}}
	if l.B != nil {
		ps = append(ps, NamedParam{join(prefix, "bias"), l.B})
	}
	return ps
}

// Embedding is a lookup table of vectors.
type Embedding struct {
	W *ag.Var // (Num, Dim)
}

// NewEmbedding returns a table of num vectors of size dim drawn from N(0, std²).
func NewEmbedding(r *rand.Rand, num, dim int, std float32) *Embedding {
	return &Embedding{W: ag.NewParam(tensor.Randn(r, std, num, dim))}
}

// Forward gathers the rows for ids: -> (len(ids), Dim).
func (e *Embedding) Forward(tp *ag.Tape, ids []int) *ag.Var { return tp.Embedding(e.W, ids) }

// Params returns prefix.weight.
func (e *Embedding) Params(prefix string) []NamedParam {
	return []NamedParam{{join(prefix, "weight"), e.W}}
}

// LayerNorm normalises over the last axis with a learned scale and shift.
type LayerNorm struct {
	W, B *ag.Var // (Dim) each
	Eps  float32
}

// NewLayerNorm returns a LayerNorm with weight 1, bias 0 and eps 1e-5 (GPT-2's).
func NewLayerNorm(dim int) *LayerNorm {
	return &LayerNorm{W: ag.NewParam(tensor.Full(1, dim)), B: ag.NewParam(tensor.New(dim)), Eps: 1e-5}
}

// Forward maps x (..., Dim) to (..., Dim).
func (l *LayerNorm) Forward(tp *ag.Tape, x *ag.Var) *ag.Var { return tp.LayerNorm(x, l.W, l.B, l.Eps) }

// Params returns prefix.weight and prefix.bias.
func (l *LayerNorm) Params(prefix string) []NamedParam {
	return []NamedParam{{join(prefix, "weight"), l.W}, {join(prefix, "bias"), l.B}}
}

// MLP is the transformer feed-forward layer: c_proj(GELU(c_fc(x))).
type MLP struct {
	CFc   *Linear // (Dim, 4·Dim)
	CProj *Linear // (4·Dim, Dim)
}

// NewMLP returns an MLP of width 4·dim; c_fc draws N(0, std²), c_proj N(0, projStd²).
func NewMLP(r *rand.Rand, dim int, std, projStd float32) *MLP {
	return &MLP{CFc: NewLinear(r, dim, 4*dim, std, true), CProj: NewLinear(r, 4*dim, dim, projStd, true)}
}

// Forward maps x (..., Dim) to (..., Dim).
func (m *MLP) Forward(tp *ag.Tape, x *ag.Var) *ag.Var {
	return m.CProj.Forward(tp, tp.GELU(m.CFc.Forward(tp, x)))
}

// Params returns prefix.c_fc.* then prefix.c_proj.*.
func (m *MLP) Params(prefix string) []NamedParam {
	return append(m.CFc.Params(join(prefix, "c_fc")), m.CProj.Params(join(prefix, "c_proj"))...)
}

// SelfAttention is causal multi-head self-attention with packed q|k|v
// projection (c_attn) and output projection (c_proj).
type SelfAttention struct {
	CAttn *Linear // (Dim, 3·Dim)
	CProj *Linear // (Dim, Dim)
	Heads int
}

// NewSelfAttention returns attention over dim channels split in heads.
func NewSelfAttention(r *rand.Rand, dim, heads int, std, projStd float32) *SelfAttention {
	return &SelfAttention{CAttn: NewLinear(r, dim, 3*dim, std, true), CProj: NewLinear(r, dim, dim, projStd, true), Heads: heads}
}

// Forward maps x (B, T, Dim) to (B, T, Dim).
func (a *SelfAttention) Forward(tp *ag.Tape, x *ag.Var) *ag.Var {
	qkv := a.CAttn.Forward(tp, x) // (B, T, 3·Dim)
	return a.CProj.Forward(tp, tp.Attention(qkv, a.Heads))
}

// Params returns prefix.c_attn.* then prefix.c_proj.*.
func (a *SelfAttention) Params(prefix string) []NamedParam {
	return append(a.CAttn.Params(join(prefix, "c_attn")), a.CProj.Params(join(prefix, "c_proj"))...)
}

// Block is a pre-LN transformer block:
// x += attn(ln_1(x)); x += mlp(ln_2(x)).
type Block struct {
	Ln1  *LayerNorm
	Attn *SelfAttention
	Ln2  *LayerNorm
	MLP  *MLP
}

// NewBlock returns a block with GPT-2 initialisation: weights N(0, std²),
// residual projections N(0, projStd²).
func NewBlock(r *rand.Rand, dim, heads int, std, projStd float32) *Block {
	return &Block{
		Ln1:  NewLayerNorm(dim),
		Attn: NewSelfAttention(r, dim, heads, std, projStd),
		Ln2:  NewLayerNorm(dim),
		MLP:  NewMLP(r, dim, std, projStd),
	}
}

// Forward maps x (B, T, Dim) to (B, T, Dim).
func (b *Block) Forward(tp *ag.Tape, x *ag.Var) *ag.Var {
	x = tp.Add(x, b.Attn.Forward(tp, b.Ln1.Forward(tp, x)))
	return tp.Add(x, b.MLP.Forward(tp, b.Ln2.Forward(tp, x)))
}

// Params returns the block's parameters in Hugging Face GPT-2 order:
// ln_1, attn, ln_2, mlp.
func (b *Block) Params(prefix string) []NamedParam {
	ps := b.Ln1.Params(join(prefix, "ln_1"))
	ps = append(ps, b.Attn.Params(join(prefix, "attn"))...)
	ps = append(ps, b.Ln2.Params(join(prefix, "ln_2"))...)
	return append(ps, b.MLP.Params(join(prefix, "mlp"))...)
}
