// Package gpt is the GPT-2 language model of rlhf: the architecture exactly
// as GPT-2 has it (learned positions, pre-LN blocks, tanh-GELU MLPs,
// LayerNorm eps 1e-5, an LM head tied to the token embedding), optional
// scalar value and reward heads for RLHF, batched KV-cache sampling, and
// checkpoints in Hugging Face GPT-2's safetensors names with a config.json
// beside them, so that a published GPT-2 checkpoint loads.
//
// # Padding
//
// GPT-2 has no padding token and no attention mask. Batches of sequences of
// different lengths are right-padded: row b holds its Lens[b] real tokens at
// positions 0..Lens[b]-1 and filler after them (any valid id; PadID is used
// by the helpers here). Attention is causal, so a real token never attends
// to the filler that follows it, and its hidden state, logits, log-probs and
// value equal those of the unpadded sequence run alone. Results at filler
// positions are meaningless: mask them (LogProbs takes a mask; Rewards reads
// each row at its last real token).
package gpt

import (
	"fmt"
	"math"
	"math/rand/v2"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/tensor"
)

// Config describes a model. The JSON keys of the architecture are those of
// Hugging Face's GPT-2 config.json, so such a file loads as it is.
type Config struct {
	VocabSize        int     `json:"vocab_size"`         // token ids 0..VocabSize-1
	NPositions       int     `json:"n_positions"`        // longest sequence (learned positions)
	NEmbd            int     `json:"n_embd"`             // residual stream width C
	NLayer           int     `json:"n_layer"`            // transformer blocks
	NHead            int     `json:"n_head"`             // attention heads; must divide NEmbd
	LayerNormEpsilon float64 `json:"layer_norm_epsilon"` // 1e-5 in GPT-2
	// NInner is the MLP width; HF writes null for the default 4·NEmbd, the
	// only width supported.
	NInner *int `json:"n_inner"`
	// ActivationFunction is "gelu_new" (tanh approximation) in GPT-2, the
	// only activation supported.
	ActivationFunction string `json:"activation_function"`
	ModelType          string `json:"model_type"`   // "gpt2"
	BOSTokenID         int    `json:"bos_token_id"` // GPT-2 uses <|endoftext|> for both
	EOSTokenID         int    `json:"eos_token_id"` // end of text; sampling stops here

	// Tokenizer names the tokenizer the model was trained with: "default" is
	// text.DefaultTokenizer (4096 ids); anything else is a directory with
	// encoder.json and vocab.bpe, relative to the model directory.
	Tokenizer string `json:"tokenizer,omitempty"`
	// ValueHead and RewardHead say whether the model carries the scalar
	// value head (v_head.*) and reward head (score.*).
	ValueHead  bool `json:"value_head,omitempty"`
	RewardHead bool `json:"reward_head,omitempty"`
}

// TinyConfig returns the project's reference size: d=128, 4 layers, 4 heads,
// 128 positions, the default 4096-id tokenizer (<|endoftext|> = 4095);
// 1.33M parameters.
func TinyConfig() Config {
	return Config{VocabSize: 4096, NPositions: 128, NEmbd: 128, NLayer: 4, NHead: 4,
		LayerNormEpsilon: 1e-5, ActivationFunction: "gelu_new", ModelType: "gpt2",
		BOSTokenID: 4095, EOSTokenID: 4095, Tokenizer: "default"}
}

// Validate reports a configuration that cannot build a model.
func (c Config) Validate() error {
	if c.VocabSize <= 0 || c.NPositions <= 0 || c.NEmbd <= 0 || c.NLayer <= 0 || c.NHead <= 0 {
		return fmt.Errorf("gpt: config needs positive vocab_size, n_positions, n_embd, n_layer, n_head; got %d, %d, %d, %d, %d",
			c.VocabSize, c.NPositions, c.NEmbd, c.NLayer, c.NHead)
	}
	if c.NEmbd%c.NHead != 0 {
		return fmt.Errorf("gpt: n_embd %d is not a multiple of n_head %d", c.NEmbd, c.NHead)
	}
	if !(c.LayerNormEpsilon > 0 && c.LayerNormEpsilon < 1) {
		return fmt.Errorf("gpt: layer_norm_epsilon %g out of (0, 1)", c.LayerNormEpsilon)
	}
	if c.NInner != nil && *c.NInner != 4*c.NEmbd {
		return fmt.Errorf("gpt: n_inner %d unsupported (only 4·n_embd = %d)", *c.NInner, 4*c.NEmbd)
	}
	switch c.ActivationFunction {
	case "", "gelu_new", "gelu_pytorch_tanh":
	default:
		return fmt.Errorf("gpt: activation_function %q unsupported (only gelu_new)", c.ActivationFunction)
	}
	if c.EOSTokenID < 0 || c.EOSTokenID >= c.VocabSize {
		return fmt.Errorf("gpt: eos_token_id %d outside the vocabulary of %d", c.EOSTokenID, c.VocabSize)
	}
	return nil
}

// NumParams returns the number of parameters the config gives (heads included).
func (c Config) NumParams() int {
	C := c.NEmbd
	n := c.VocabSize*C + c.NPositions*C + 2*C
	n += c.NLayer * (4*C + C*3*C + 3*C + C*C + C + C*4*C + 4*C + 4*C*C + C)
	if c.ValueHead {
		n += C + 1
	}
	if c.RewardHead {
		n += C + 1
	}
	return n
}

// Model is a GPT-2 with optional value and reward heads.
type Model struct {
	Config Config
	// GPT is the transformer with its tied LM head: wte (V, C), wpe (P, C),
	// blocks h.0..h.{L-1}, ln_f.
	GPT *nn.GPT
	// VHead maps the final hidden state to a value, (C, 1); nil without one.
	VHead *nn.Linear
	// RHead maps the final hidden state to a reward, (C, 1); nil without one.
	RHead *nn.Linear
}

// New builds a model with GPT-2's initialisation drawn from a PCG seeded
// with seed: weights N(0, 0.02²), residual projections N(0, 0.02²/(2·L)),
// biases 0, LayerNorm weights 1; heads N(0, 0.02²) with zero bias.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	g, err := nn.NewGPT(nn.GPTConfig{Vocab: cfg.VocabSize, Ctx: cfg.NPositions, Layers: cfg.NLayer,
		Heads: cfg.NHead, Dim: cfg.NEmbd}, r)
	if err != nil {
		return nil, fmt.Errorf("gpt: %w", err)
	}
	eps := float32(cfg.LayerNormEpsilon)
	for _, b := range g.H {
		b.Ln1.Eps, b.Ln2.Eps = eps, eps
	}
	g.LnF.Eps = eps
	m := &Model{Config: cfg, GPT: g}
	if cfg.ValueHead {
		m.VHead = nn.NewLinear(r, cfg.NEmbd, 1, 0.02, true)
	}
	if cfg.RewardHead {
		m.RHead = nn.NewLinear(r, cfg.NEmbd, 1, 0.02, true)
	}
	return m, nil
}

// AddValueHead gives the model a fresh value head drawn from seed (a no-op
// if it has one).
func (m *Model) AddValueHead(seed uint64) {
	if m.VHead == nil {
		m.VHead = nn.NewLinear(rand.New(rand.NewPCG(seed, 1)), m.Config.NEmbd, 1, 0.02, true)
		m.Config.ValueHead = true
	}
}

// AddRewardHead gives the model a fresh reward head drawn from seed (a no-op
// if it has one).
func (m *Model) AddRewardHead(seed uint64) {
	if m.RHead == nil {
		m.RHead = nn.NewLinear(rand.New(rand.NewPCG(seed, 2)), m.Config.NEmbd, 1, 0.02, true)
		m.Config.RewardHead = true
	}
}

// Params returns every parameter with its checkpoint name, in a fixed order:
// the transformer (wte, wpe, h.*, ln_f), then v_head.*, then score.*.
func (m *Model) Params() []nn.NamedParam {
	ps := m.GPT.Params()
	if m.VHead != nil {
		ps = append(ps, m.VHead.Params("v_head")...)
	}
	if m.RHead != nil {
		ps = append(ps, m.RHead.Params("score")...)
	}
	return ps
}

// PadID is the filler id the helpers of this package put after the real
// tokens of a right-padded row (see the package comment); it is never
// attended to.
const PadID = 0

// checkIDs panics on a malformed batch: that is a programming error inside
// the caller; user input is validated before it reaches the model.
func (m *Model) checkIDs(ids []int, b, t int) {
	if b <= 0 || t <= 0 || len(ids) != b*t || t > m.Config.NPositions {
		panic(fmt.Sprintf("gpt: %d ids as (%d, %d) with %d positions", len(ids), b, t, m.Config.NPositions))
	}
}

// Hidden runs the transformer on ids ((B, T) row-major) and returns the
// final LayerNorm's output (B, T, C).
func (m *Model) Hidden(tp *ag.Tape, ids []int, b, t int) *ag.Var {
	m.checkIDs(ids, b, t)
	return m.GPT.Hidden(tp, ids, b, t)
}

// Logits applies the tied LM head to hidden states (B, T, C) -> (B, T, V).
func (m *Model) Logits(tp *ag.Tape, h *ag.Var) *ag.Var {
	return tp.MatMul(h, m.GPT.Wte.W, false, true)
}

// Forward returns next-token logits (B, T, V) for ids ((B, T) row-major).
func (m *Model) Forward(tp *ag.Tape, ids []int, b, t int) *ag.Var {
	return m.Logits(tp, m.Hidden(tp, ids, b, t))
}

// Loss returns the mean next-token cross-entropy (1) of ids against targets
// (both (B, T) row-major); targets equal to ignore are skipped.
func (m *Model) Loss(tp *ag.Tape, ids, targets []int, b, t, ignore int) *ag.Var {
	return tp.CrossEntropy(m.Forward(tp, ids, b, t), targets, ignore)
}

// ValuesOf applies the value head to hidden states (B, T, C) -> (B, T).
// It panics if the model has no value head.
func (m *Model) ValuesOf(tp *ag.Tape, h *ag.Var) *ag.Var {
	if m.VHead == nil {
		panic("gpt: ValuesOf on a model without a value head")
	}
	s := h.Value.Shape
	return tp.Reshape(m.VHead.Forward(tp, h), s[0], s[1])
}

// Values returns the value head's output at every position (B, T).
func (m *Model) Values(tp *ag.Tape, ids []int, b, t int) *ag.Var {
	return m.ValuesOf(tp, m.Hidden(tp, ids, b, t))
}

// RewardsOf applies the reward head to hidden states (B, T, C) and reads
// row b at its last real token lens[b]-1 -> (B). A nil lens means every row
// is T long. It panics if the model has no reward head.
func (m *Model) RewardsOf(tp *ag.Tape, h *ag.Var, lens []int) *ag.Var {
	if m.RHead == nil {
		panic("gpt: RewardsOf on a model without a reward head")
	}
	s := h.Value.Shape
	b, t := s[0], s[1]
	last := make([]int, b)
	for i := range last {
		last[i] = t - 1
		if lens != nil {
			if lens[i] < 1 || lens[i] > t {
				panic(fmt.Sprintf("gpt: row %d length %d outside [1, %d]", i, lens[i], t))
			}
			last[i] = lens[i] - 1
		}
	}
	per := tp.Reshape(m.RHead.Forward(tp, h), b, t) // (B, T)
	return tp.TakeAlongLast(per, last)              // (B)
}

// Rewards returns the reward of each right-padded sequence of ids ((B, T),
// row b with lens[b] real tokens; nil lens: all T) -> (B).
func (m *Model) Rewards(tp *ag.Tape, ids []int, b, t int, lens []int) *ag.Var {
	return m.RewardsOf(tp, m.Hidden(tp, ids, b, t), lens)
}

// LogProbsOf returns, from logits (B, T, V) of ids ((B, T) row-major), the
// log-probability of each next token: out[b, t] = log p(ids[b, t+1] |
// ids[b, ≤t]), shape (B, T-1). If mask (B·T, 0/1 per token of ids) is not
// nil, out[b, t] is multiplied by mask[b, t+1], so that only the tokens the
// mask marks (a completion, say) count. It also returns the log-softmax
// (B, T, V) for callers that need the whole distribution (see EntropyOf).
func (m *Model) LogProbsOf(tp *ag.Tape, logits *ag.Var, ids []int, mask []float32) (logp, logSoftmax *ag.Var) {
	s := logits.Value.Shape
	b, t := s[0], s[1]
	if len(ids) != b*t || t < 2 || (mask != nil && len(mask) != b*t) {
		panic(fmt.Sprintf("gpt: LogProbsOf logits %v with %d ids and %d mask values", s, len(ids), len(mask)))
	}
	next := make([]int, b*t) // ids shifted left; the last column is unused
	for i := range b {
		copy(next[i*t:i*t+t-1], ids[i*t+1:(i+1)*t])
	}
	lsm := tp.LogSoftmax(logits)                           // (B, T, V)
	lp := tp.Slice(tp.TakeAlongLast(lsm, next), 1, 0, t-1) // (B, T-1)
	if mask != nil {
		mk := tensor.New(b, t-1)
		for i := range b {
			copy(mk.Data[i*(t-1):(i+1)*(t-1)], mask[i*t+1:(i+1)*t])
		}
		lp = tp.Mul(lp, ag.Const(mk))
	}
	return lp, lsm
}

// LogProbs returns the log-probability of each next token of ids ((B, T)
// row-major) under the model, (B, T-1); see LogProbsOf for the mask.
func (m *Model) LogProbs(tp *ag.Tape, ids []int, b, t int, mask []float32) *ag.Var {
	lp, _ := m.LogProbsOf(tp, m.Forward(tp, ids, b, t), ids, mask)
	return lp
}

// EntropyOf returns the entropy -Σ p·log p of each distribution from its
// log-softmax (..., V) -> (...).
func EntropyOf(tp *ag.Tape, logSoftmax *ag.Var) *ag.Var {
	return tp.Neg(tp.Sum(tp.Mul(tp.Exp(logSoftmax), logSoftmax), -1, false))
}

// Entropy returns the entropy of the next-token distribution at every
// position of ids, (B, T).
func (m *Model) Entropy(tp *ag.Tape, ids []int, b, t int) *ag.Var {
	return EntropyOf(tp, tp.LogSoftmax(m.Forward(tp, ids, b, t)))
}

// PadRight lays rows out as a right-padded (B, T) batch with T the longest
// row, filler PadID, and returns the ids, T and each row's length.
func PadRight(rows [][]int) (ids []int, t int, lens []int) {
	for _, r := range rows {
		t = max(t, len(r))
	}
	ids = make([]int, len(rows)*t)
	lens = make([]int, len(rows))
	for i, r := range rows {
		copy(ids[i*t:], r)
		for j := len(r); j < t; j++ {
			ids[i*t+j] = PadID
		}
		lens[i] = len(r)
	}
	return ids, t, lens
}

// PadTo returns the right-padded (b, t) batch ids widened to (b, to) with
// filler PadID, and to; ids and t themselves when to <= t. A compiling
// device pads batches to a few length buckets this way.
func PadTo(ids []int, b, t, to int) ([]int, int) {
	if to <= t {
		return ids, t
	}
	out := make([]int, b*to)
	for i := range b {
		row := out[i*to : (i+1)*to]
		copy(row, ids[i*t:(i+1)*t])
		for j := t; j < to; j++ {
			row[j] = PadID
		}
	}
	return out, to
}

// TokenLogProbs returns the log-probability under the model (temperature 1)
// of each completion token given its prompt and the completion tokens before
// it: out[i][j] = log p(completions[i][j] | prompts[i], completions[i][:j]).
// It runs without gradients, in one right-padded batch.
func (m *Model) TokenLogProbs(prompts, completions [][]int) ([][]float32, error) {
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("gpt: %d prompts for %d completions", len(prompts), len(completions))
	}
	if len(prompts) == 0 {
		return nil, nil
	}
	rows := make([][]int, len(prompts))
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("gpt: prompt %d is empty", i)
		}
		rows[i] = append(append([]int(nil), p...), completions[i]...)
		if err := m.checkTokens(rows[i]); err != nil {
			return nil, fmt.Errorf("gpt: row %d: %w", i, err)
		}
	}
	ids, t, _ := PadRight(rows)
	out := make([][]float32, len(rows))
	if t < 2 {
		for i := range out {
			out[i] = []float32{}
		}
		return out, nil
	}
	tp := ag.NewNoGradTape()
	lp := m.LogProbs(tp, ids, len(rows), t, nil).Value.Data // (B, T-1)
	for i, p := range prompts {
		n := len(completions[i])
		start := i*(t-1) + len(p) - 1
		out[i] = append([]float32{}, lp[start:start+n]...)
	}
	return out, nil
}

// checkTokens reports ids that the model cannot take.
func (m *Model) checkTokens(ids []int) error {
	if len(ids) > m.Config.NPositions {
		return fmt.Errorf("%d tokens exceed the model's %d positions", len(ids), m.Config.NPositions)
	}
	for _, id := range ids {
		if id < 0 || id >= m.Config.VocabSize {
			return fmt.Errorf("token id %d outside the vocabulary of %d", id, m.Config.VocabSize)
		}
	}
	return nil
}

// Perplexity is exp(loss) for a loss in nats per token.
func Perplexity(loss float64) float64 { return math.Exp(loss) }
