package reward

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"rlhf/ag"
	"rlhf/feedback"
	"rlhf/model/gpt"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/text"
)

// The GPT reward model of Ziegler et al. 2019: a GPT-2 trunk initialised
// from the policy, a scalar head read at the last token of prompt +
// completion, trained on pairs (Bradley-Terry) or best-of-k choices (the
// k-way softmax loss) and normalised so that the policy it was trained from
// scores mean 0, standard deviation 1.

// GPTNormFile is the normaliser file of a GPT reward model directory, beside
// gpt.WeightsFile and gpt.ConfigFile.
const GPTNormFile = "reward.json"

// TokenBatch is N right-padded token sequences: IDs (N, T) row-major, row i
// holding its Lens[i] real tokens first (see model/gpt's Padding). It is the
// batch type of [GPTNet].
type TokenBatch struct {
	IDs  []int // (N, T)
	N, T int
	Lens []int // (N), each in [1, T]
}

// NewTokenBatch lays rows (each non-empty) out as a right-padded batch.
func NewTokenBatch(rows [][]int) TokenBatch {
	ids, t, lens := gpt.PadRight(rows)
	return TokenBatch{IDs: ids, N: len(rows), T: t, Lens: lens}
}

// GPTNet is a GPT with a reward head seen as a [Model] of token batches: it
// scores each row by the raw (unnormalised) reward head output at the row's
// last real token. It is what [TrainStep] and [ComparisonLoss] train.
type GPTNet struct{ GPT *gpt.Model }

// Score returns the raw reward of each row of b: (N).
func (n GPTNet) Score(tp *ag.Tape, b TokenBatch) *ag.Var {
	return n.GPT.Rewards(tp, b.IDs, b.N, b.T, b.Lens)
}

// Params returns every parameter of the GPT, trunk and reward head.
func (n GPTNet) Params() []nn.NamedParam { return n.GPT.Params() }

// Normaliser maps a raw reward r to Gain·r + Bias. Ziegler et al. 2019 fit
// the two so that samples of the reference policy score mean 0 and variance
// 1, and keep them with the model (their reward_gain and reward_bias).
type Normaliser struct {
	Gain float64 `json:"gain"`
	Bias float64 `json:"bias"`
	// Samples counts the reference completions the gain and bias were fit on
	// (0: not fit; the identity).
	Samples int `json:"samples"`
	// RawMean and RawStd are the raw rewards' mean and standard deviation on
	// those completions.
	RawMean float64 `json:"raw_mean"`
	RawStd  float64 `json:"raw_std"`
}

// Apply returns the normalised reward of raw reward r.
func (n Normaliser) Apply(r float64) float64 { return n.Gain*r + n.Bias }

// GPTReward is a GPT reward model with its tokenizer and normaliser.
type GPTReward struct {
	// Model is the GPT-2 with its reward head (score.*); the value head, if
	// the policy it came from had one, is dropped.
	Model *gpt.Model
	// Tok turns text into the model's tokens for ScoreText; nil makes
	// ScoreText an error.
	Tok *text.Tokenizer
	// Norm maps raw rewards to the normalised ones Score returns.
	Norm Normaliser
	// Batch is the most rows per forward pass when scoring; 0 means 32.
	Batch int
	// Device, when set, runs the scoring forward passes of RawScore (and so
	// Score, ScoreText, Normalise and Evaluate) instead of the CPU engine,
	// e.g. on a GPU over its own copy of Model's weights. Every pass is
	// Batch rows of PadLen(T, NPositions) columns, so that a compiling
	// device builds one executable per length bucket. Nil: the CPU engine.
	Device Evaluator
}

// Evaluator runs the scoring forward passes of a GPTReward with a Device
// (see optim.Evaluator).
type Evaluator = optim.Evaluator

// NewGPT turns policy into a reward model with a fresh reward head drawn
// from seed and an identity normaliser. It takes ownership of policy (load a
// separate copy for the policy itself); tok may be nil.
func NewGPT(policy *gpt.Model, tok *text.Tokenizer, seed uint64) *GPTReward {
	policy.VHead = nil
	policy.Config.ValueHead = false
	policy.AddRewardHead(seed)
	return &GPTReward{Model: policy, Tok: tok, Norm: Normaliser{Gain: 1}}
}

// InitGPT loads the policy checkpoint in dir (model.safetensors +
// config.json) with its tokenizer and makes it a reward model (see NewGPT).
// A reward head already in the checkpoint is kept.
func InitGPT(dir string, seed uint64) (*GPTReward, error) {
	m, err := gpt.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("reward: init from policy %s: %w", dir, err)
	}
	tok, err := gpt.LoadTokenizer(dir, m.Config)
	if err != nil {
		return nil, fmt.Errorf("reward: init from policy %s: %w", dir, err)
	}
	return NewGPT(m, tok, seed), nil
}

// LoadGPT reads a reward model saved by [GPTReward.Save]: the GPT with its
// reward head, its tokenizer and the normaliser in reward.json (the identity
// when that file is absent, as in a plain GPT-2 checkpoint with a score head).
func LoadGPT(dir string) (*GPTReward, error) {
	m, err := gpt.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("reward: load %s: %w", dir, err)
	}
	if m.RHead == nil {
		return nil, fmt.Errorf("reward: load %s: the model has no reward head (reward_head in %s); is it a policy? train one with rlhf rm", dir, gpt.ConfigFile)
	}
	tok, err := gpt.LoadTokenizer(dir, m.Config)
	if err != nil {
		return nil, fmt.Errorf("reward: load %s: %w", dir, err)
	}
	r := &GPTReward{Model: m, Tok: tok, Norm: Normaliser{Gain: 1}}
	raw, err := os.ReadFile(filepath.Join(dir, GPTNormFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reward: load %s: %w", dir, err)
	default:
		if err := json.Unmarshal(raw, &r.Norm); err != nil {
			return nil, fmt.Errorf("reward: load %s: parse %s: %w", dir, GPTNormFile, err)
		}
		if !(r.Norm.Gain > 0) || math.IsInf(r.Norm.Gain, 0) || math.IsNaN(r.Norm.Bias) || math.IsInf(r.Norm.Bias, 0) {
			return nil, fmt.Errorf("reward: load %s: %s has gain %v and bias %v; want a finite positive gain and a finite bias",
				dir, GPTNormFile, r.Norm.Gain, r.Norm.Bias)
		}
	}
	return r, nil
}

// Save writes the reward model to dir: the GPT (model.safetensors with the
// score.* head, config.json with reward_head) and the normaliser
// (reward.json). The tokenizer is the one config.json names.
func (r *GPTReward) Save(dir string) error {
	if err := r.Model.Save(dir); err != nil {
		return fmt.Errorf("reward: save %s: %w", dir, err)
	}
	js, err := json.MarshalIndent(r.Norm, "", "  ")
	if err != nil {
		return fmt.Errorf("reward: save %s: %w", dir, err)
	}
	tmp := filepath.Join(dir, "."+GPTNormFile+".tmp")
	if err := os.WriteFile(tmp, append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("reward: save %s: %w", dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, GPTNormFile)); err != nil {
		return fmt.Errorf("reward: save %s: %w", dir, err)
	}
	return nil
}

// Net returns the model as a [Model] of token batches, for [TrainStep].
func (r *GPTReward) Net() GPTNet { return GPTNet{GPT: r.Model} }

// Row returns the token sequence the model scores for a prompt and a
// completion: their concatenation, cut from the left to the model's
// positions so that the completion's end is always seen; an empty sequence
// becomes the lone end-of-text token. Ids outside the vocabulary are an error.
func (r *GPTReward) Row(prompt, completion []int) ([]int, error) {
	v := r.Model.Config.VocabSize
	row := make([]int, 0, len(prompt)+len(completion))
	for _, part := range [][]int{prompt, completion} {
		for _, id := range part {
			if id < 0 || id >= v {
				return nil, fmt.Errorf("reward: token id %d outside the vocabulary of %d", id, v)
			}
		}
		row = append(row, part...)
	}
	if len(row) == 0 {
		row = append(row, r.Model.Config.EOSTokenID)
	}
	if p := r.Model.Config.NPositions; len(row) > p {
		row = row[len(row)-p:]
	}
	return row, nil
}

func (r *GPTReward) batch() int {
	if r.Batch > 0 {
		return r.Batch
	}
	return 32
}

// RawScore returns the unnormalised reward of each (prompts[i],
// completions[i]), without gradients, in batches of r.Batch rows.
func (r *GPTReward) RawScore(prompts, completions [][]int) ([]float32, error) {
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("reward: score %d prompts with %d completions", len(prompts), len(completions))
	}
	rows := make([][]int, len(prompts))
	for i := range prompts {
		row, err := r.Row(prompts[i], completions[i])
		if err != nil {
			return nil, fmt.Errorf("reward: score row %d: %w", i, err)
		}
		rows[i] = row
	}
	if r.Device != nil {
		return r.rawScoreOn(r.Device, rows)
	}
	out := make([]float32, 0, len(rows))
	tp := ag.NewNoGradTape()
	net := r.Net()
	for lo := 0; lo < len(rows); lo += r.batch() {
		hi := min(lo+r.batch(), len(rows))
		out = append(out, net.Score(tp, NewTokenBatch(rows[lo:hi])).Data()...)
		tp.Reset()
	}
	return out, nil
}

// rawScoreOn scores rows (each within the model's positions) on d, in
// passes of exactly r.batch() rows: each pass's rows right-padded to
// d.PadLen columns and the last pass topped up with one-token filler rows,
// whose scores are dropped. Padding changes no row's length, so each score
// is the CPU engine's up to float32 rounding.
func (r *GPTReward) rawScoreOn(d Evaluator, rows [][]int) ([]float32, error) {
	n := r.batch()
	limit := r.Model.Config.NPositions
	net := r.Net()
	out := make([]float32, 0, len(rows))
	for lo := 0; lo < len(rows); lo += n {
		hi := min(lo+n, len(rows))
		b := padBatch(rows[lo:hi], n, limit, d)
		s, err := d.Forward(func(tp *ag.Tape) *ag.Var { return net.Score(tp, b) }) // (n)
		if err != nil {
			return nil, fmt.Errorf("reward: score rows %d to %d on the device: %w", lo, hi-1, err)
		}
		if s == nil || len(s.Data) != n {
			got := -1
			if s != nil {
				got = len(s.Data)
			}
			return nil, fmt.Errorf("reward: score rows %d to %d on the device: %d scores for a batch of %d rows", lo, hi-1, got, n)
		}
		out = append(out, s.Data[:hi-lo]...)
	}
	return out, nil
}

// padBatch lays rows (at most n, each 1 to limit tokens) out as a batch of
// exactly n rows of d.PadLen(T, limit) columns, T the longest row: the
// rows right-padded with gpt.PadID, then filler rows of one PadID token
// each (IDs (n, T'), Lens (n)).
func padBatch(rows [][]int, n, limit int, d Evaluator) TokenBatch {
	all := rows[:len(rows):len(rows)]
	for len(all) < n {
		all = append(all, []int{gpt.PadID})
	}
	b := NewTokenBatch(all)
	if p := d.PadLen(b.T, limit); p <= limit {
		b.IDs, b.T = gpt.PadTo(b.IDs, b.N, b.T, p)
	}
	return b
}

// Score returns the normalised reward of each (prompts[i], completions[i]):
// Norm applied to RawScore. It runs without gradients and is what a policy
// optimiser maximises.
func (r *GPTReward) Score(prompts, completions [][]int) ([]float32, error) {
	raw, err := r.RawScore(prompts, completions)
	if err != nil {
		return nil, err
	}
	for i, v := range raw {
		raw[i] = float32(r.Norm.Apply(float64(v)))
	}
	return raw, nil
}

// ScoreText is Score on text, tokenised with r.Tok; it makes GPTReward a
// [TextScorer].
func (r *GPTReward) ScoreText(prompts, completions []string) ([]float32, error) {
	if r.Tok == nil {
		return nil, errors.New("reward: score text: the reward model has no tokenizer")
	}
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("reward: score %d prompts with %d completions", len(prompts), len(completions))
	}
	ps, cs := make([][]int, len(prompts)), make([][]int, len(prompts))
	for i := range prompts {
		ps[i], cs[i] = r.Tok.Encode(prompts[i]), r.Tok.Encode(completions[i])
	}
	return r.Score(ps, cs)
}

// Normalise fits the normaliser on reference completions (samples of the
// policy that will be optimised against this reward): afterwards Score has
// mean 0 and standard deviation 1 on them. A constant raw reward gets gain 1.
func (r *GPTReward) Normalise(prompts, completions [][]int) error {
	if len(prompts) == 0 {
		return errors.New("reward: normalise on no completions")
	}
	raw, err := r.RawScore(prompts, completions)
	if err != nil {
		return fmt.Errorf("reward: normalise: %w", err)
	}
	var s float64
	for _, v := range raw {
		s += float64(v)
	}
	mu := s / float64(len(raw))
	var ss float64
	for _, v := range raw {
		d := float64(v) - mu
		ss += d * d
	}
	sd := math.Sqrt(ss / float64(len(raw)))
	if math.IsNaN(mu) || math.IsInf(mu, 0) {
		return fmt.Errorf("reward: normalise: raw rewards are not finite (mean %v)", mu)
	}
	gain := 1.0
	if sd > 1e-8 {
		gain = 1 / sd
	}
	r.Norm = Normaliser{Gain: gain, Bias: -mu * gain, Samples: len(raw), RawMean: mu, RawStd: sd}
	return nil
}

// TokenComparison is one labelled text comparison in tokens: K >= 2
// completions of one prompt and the labeler's choice (an index or
// feedback.Tie).
type TokenComparison struct {
	Prompt      []int
	Completions [][]int
	Choice      feedback.Choice
	// Confidence, if above 0, makes the target soft: Confidence on the
	// chosen completion and the rest shared evenly by the others (a judge's
	// probability that its pick is best). 0 keeps the choice's target.
	Confidence float64
}

// Groups lays comparisons out for [TrainStep]: one [Group] per number of
// completions K (in order of first appearance), each a token batch of its
// N·K rows, comparison-major, and targets (N, K): the choice's, or soft
// where a comparison states a Confidence. Comparisons whose choice gives no
// target (CantTell, Skip) are an error; drop them first.
func (r *GPTReward) Groups(cs []TokenComparison) ([]Group[TokenBatch], error) {
	var order []int
	byK := map[int][]int{}
	for i, c := range cs {
		k := len(c.Completions)
		if _, ok := feedback.SoftTarget(c.Choice, k); !ok {
			return nil, fmt.Errorf("reward: comparison %d: choice %s gives no target for %d completions", i, c.Choice, k)
		}
		if _, seen := byK[k]; !seen {
			order = append(order, k)
		}
		byK[k] = append(byK[k], i)
	}
	groups := make([]Group[TokenBatch], 0, len(order))
	for _, k := range order {
		idx := byK[k]
		rows := make([][]int, 0, len(idx)*k)
		choices := make([]feedback.Choice, len(idx))
		for j, i := range idx {
			for _, comp := range cs[i].Completions {
				row, err := r.Row(cs[i].Prompt, comp)
				if err != nil {
					return nil, fmt.Errorf("reward: comparison %d: %w", i, err)
				}
				rows = append(rows, row)
			}
			choices[j] = cs[i].Choice
		}
		t, err := Targets(choices, k)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			c := cs[i].Confidence
			if c == 0 {
				continue
			}
			if !(c > 0 && c <= 1) || cs[i].Choice < 0 {
				return nil, fmt.Errorf("reward: comparison %d: confidence %v with choice %s: want (0, 1] on a chosen completion", i, c, cs[i].Choice)
			}
			row := t.Data[j*k : (j+1)*k]
			for m := range row {
				row[m] = float32((1 - c) / float64(k-1))
			}
			row[cs[i].Choice] = float32(c)
		}
		groups = append(groups, Group[TokenBatch]{Batch: NewTokenBatch(rows), Targets: t})
	}
	return groups, nil
}

// TrainStep takes one optimisation step on the comparisons cs (one
// minibatch) with [TrainStep] and returns the mean preference loss.
func (r *GPTReward) TrainStep(tp *ag.Tape, opt *optim.AdamW, cs []TokenComparison, c StepConfig) (float64, error) {
	groups, err := r.Groups(cs)
	if err != nil {
		return 0, err
	}
	return TrainStep[TokenBatch](tp, r.Net(), opt, groups, c), nil
}

// Evaluate returns the metrics of the raw rewards on comparisons cs (loss
// under the choice model with eps, accuracy, margin in raw units).
// Comparisons without a target are skipped, as in [Evaluate].
func (r *GPTReward) Evaluate(cs []TokenComparison, eps float64) (Metrics, error) {
	var ps, comps [][]int
	for _, c := range cs {
		for _, comp := range c.Completions {
			ps = append(ps, c.Prompt)
			comps = append(comps, comp)
		}
	}
	raw, err := r.RawScore(ps, comps)
	if err != nil {
		return Metrics{}, fmt.Errorf("reward: evaluate: %w", err)
	}
	scores := make([][]float64, len(cs))
	choices := make([]feedback.Choice, len(cs))
	at := 0
	for i, c := range cs {
		scores[i] = make([]float64, len(c.Completions))
		for j := range c.Completions {
			scores[i][j] = float64(raw[at])
			at++
		}
		choices[i] = c.Choice
	}
	return Evaluate(scores, choices, eps), nil
}

// NewGPTOptimizer returns the AdamW optimiser of a reward model's
// parameters: β=(0.9, 0.999), weight decay wd on weight matrices only.
func (r *GPTReward) NewOptimizer(wd float32) *optim.AdamW {
	return optim.NewAdamW(r.Model.Params(), optim.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		WeightDecay: wd, NoDecay: optim.MatricesOnly})
}
