package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"rlhf/ag"
)

// GPTConfig sizes a GPT.
type GPTConfig struct {
	Vocab  int // token vocabulary size
	Ctx    int // maximum sequence length (learned positions)
	Layers int // transformer blocks
	Heads  int // attention heads per block; must divide Dim
	Dim    int // residual stream width
}

// Validate reports a configuration that cannot build a model.
func (c GPTConfig) Validate() error {
	if c.Vocab <= 0 || c.Ctx <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Dim <= 0 {
		return fmt.Errorf("nn: GPT config needs positive sizes, got %+v", c)
	}
	if c.Dim%c.Heads != 0 {
		return fmt.Errorf("nn: GPT dim %d is not a multiple of heads %d", c.Dim, c.Heads)
	}
	return nil
}

// GPT is a small GPT-2: token and learned position embeddings, pre-LN
// blocks with tanh-GELU MLPs, a final LayerNorm and an LM head tied to the
// token embedding (logits = h·wteᵀ).
type GPT struct {
	Config GPTConfig
	Wte    *Embedding // (Vocab, Dim)
	Wpe    *Embedding // (Ctx, Dim)
	H      []*Block
	LnF    *LayerNorm
}

// NewGPT builds a GPT with GPT-2 initialisation drawn from r: weights and
// embeddings N(0, 0.02²), residual projections N(0, (0.02/√(2·Layers))²),
// biases 0, LayerNorm weights 1.
func NewGPT(cfg GPTConfig, r *rand.Rand) (*GPT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	const std = 0.02
	projStd := float32(std / math.Sqrt(2*float64(cfg.Layers)))
	m := &GPT{
		Config: cfg,
		Wte:    NewEmbedding(r, cfg.Vocab, cfg.Dim, std),
		Wpe:    NewEmbedding(r, cfg.Ctx, cfg.Dim, std),
		LnF:    NewLayerNorm(cfg.Dim),
	}
	for i := 0; i < cfg.Layers; i++ {
		m.H = append(m.H, NewBlock(r, cfg.Dim, cfg.Heads, std, projStd))
	}
	return m, nil
}

// Hidden runs the transformer on ids (B·T token ids, row-major (B, T)) and
// returns the final normalised hidden states (B, T, Dim).
func (m *GPT) Hidden(tp *ag.Tape, ids []int, b, t int) *ag.Var {
	if len(ids) != b*t || t > m.Config.Ctx || t <= 0 {
		panic(fmt.Sprintf("nn: GPT input of %d ids as (%d, %d) with context %d", len(ids), b, t, m.Config.Ctx))
	}
	pos := make([]int, t)
	for i := range pos {
		pos[i] = i
	}
	tok := tp.Reshape(m.Wte.Forward(tp, ids), b, t, m.Config.Dim) // (B, T, C)
	x := tp.Add(tok, m.Wpe.Forward(tp, pos))                      // + (T, C)
	for _, blk := range m.H {
		x = blk.Forward(tp, x)
	}
	return m.LnF.Forward(tp, x)
}

// Forward returns next-token logits (B, T, Vocab) for ids (B·T, row-major).
func (m *GPT) Forward(tp *ag.Tape, ids []int, b, t int) *ag.Var {
	return tp.MatMul(m.Hidden(tp, ids, b, t), m.Wte.W, false, true)
}

// Loss returns the mean next-token cross-entropy (1) of ids against targets
// (both B·T, row-major); targets equal to ignore are skipped. The logits are
// never materialised whole (see ag.LinearCrossEntropy).
func (m *GPT) Loss(tp *ag.Tape, ids, targets []int, b, t, ignore int) *ag.Var {
	return tp.LinearCrossEntropy(m.Hidden(tp, ids, b, t), m.Wte.W, targets, ignore)
}

// Params returns all parameters with Hugging Face GPT-2 names in a fixed
// order: wte, wpe, h.0 ... h.{L-1}, ln_f.
func (m *GPT) Params() []NamedParam {
	ps := append(m.Wte.Params("wte"), m.Wpe.Params("wpe")...)
	for i, blk := range m.H {
		ps = append(ps, blk.Params(fmt.Sprintf("h.%d", i))...)
	}
	return append(ps, m.LnF.Params("ln_f")...)
}
