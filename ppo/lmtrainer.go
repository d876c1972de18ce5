package ppo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"rlhf/ag"
	"rlhf/model/gpt"
	"rlhf/optim"
	"rlhf/report"
	"rlhf/tensor"
	"rlhf/text"
)

// TextScorer scores completions of prompts, one score per pair, higher
// better: a reward model trained from preferences, or a programmatic goal.
// A reward model's ScoreText satisfies it.
type TextScorer interface {
	ScoreText(prompts, completions []string) ([]float32, error)
}

// TextScoreFunc adapts a plain Go function of (prompt, completion) to a
// TextScorer, e.g. a sentiment score of the completion.
type TextScoreFunc func(prompt, completion string) float64

// ScoreText scores each pair with f.
func (f TextScoreFunc) ScoreText(prompts, completions []string) ([]float32, error) {
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("ppo: score %d prompts with %d completions", len(prompts), len(completions))
	}
	out := make([]float32, len(prompts))
	for i := range prompts {
		out[i] = float32(f(prompts[i], completions[i]))
	}
	return out, nil
}

// LMSample is one prompt with a completion of the policy and its score.
type LMSample struct {
	Prompt     string  `json:"prompt"`
	Completion string  `json:"completion"`
	Score      float64 `json:"score"`
	KL         float64 `json:"kl"` // Σ_t log π - log π_ref over the completion, nats
}

// LMStats reports one PPO step.
type LMStats struct {
	Step         int     // PPO steps done, this one included
	Episodes     int     // completions trained on so far
	Score        float64 // mean raw score of the batch (objective/scores)
	ScoreStd     float64 // its standard deviation
	KL           float64 // mean Σ_t log π_old - log π_ref per completion (objective/kl)
	Entropy      float64 // mean -Σ_t log π_old per completion (objective/entropy)
	NonScore     float64 // mean -β·KL (objective/non_score_reward)
	RLHFReward   float64 // mean normalised score - β·KL (objective/rlhf_reward)
	KLCoef       float64 // β used for this batch (objective/kl_coef)
	KLCoefSlow   float64 // its slow part β_I under a controller gain, else 0 (objective/kl_coef_slow, logged only then)
	ApproxKL     float64 // mean approximate KL(π_old ‖ π) over minibatches (policy/approxkl)
	ClipFrac     float64 // mean fraction of clipped ratios (policy/clipfrac)
	PolicyLoss   float64 // mean clipped surrogate loss (loss/policy_avg)
	ValueLoss    float64 // mean value loss (loss/value_avg)
	ExplainedVar float64 // of the values against the returns (val/explained_variance)
	GradNorm     float64 // mean global gradient norm before clipping
	KLPenalty    float64 // GRPO: mean per-token KL penalty of the loss, before β, over minibatches (loss/kl_avg, logged only then)
	ResponseLen  float64 // mean completion length in tokens
	Samples      []LMSample

	klInLoss bool // KLPenalty is set
}

// Metrics returns the statistics under TRL's names.
func (s LMStats) Metrics() map[string]float64 {
	m := map[string]float64{
		"objective/scores":           s.Score,
		"objective/scores_std":       s.ScoreStd,
		"objective/kl":               s.KL,
		"objective/entropy":          s.Entropy,
		"objective/non_score_reward": s.NonScore,
		"objective/rlhf_reward":      s.RLHFReward,
		"objective/kl_coef":          s.KLCoef,
		"policy/approxkl":            s.ApproxKL,
		"policy/clipfrac":            s.ClipFrac,
		"loss/policy_avg":            s.PolicyLoss,
		"loss/value_avg":             s.ValueLoss,
		"val/explained_variance":     s.ExplainedVar,
		"train/grad_norm":            s.GradNorm,
		"val/num_tokens":             s.ResponseLen,
		"episode":                    float64(s.Episodes),
	}
	if s.KLCoefSlow > 0 {
		m["objective/kl_coef_slow"] = s.KLCoefSlow
	}
	if s.klInLoss {
		m["loss/kl_avg"] = s.KLPenalty
	}
	return m
}

// Evaluator runs forward passes over its own copy of a model's weights
// somewhere other than the CPU engine, e.g. the reference's (see
// optim.Evaluator). A Device is an Evaluator.
type Evaluator = optim.Evaluator

// Device runs the policy's optimiser steps and forward passes somewhere
// other than the CPU engine and keeps the policy's parameters and optimiser
// state there between steps (see optim.Device).
type Device = optim.Device

// Sampler draws completions of token prompts from the policy somewhere
// other than the CPU engine, e.g. an xla.Sampler on a GPU that reads the
// weights a Device trains. It follows gpt.Model.Sample's contract: the same
// SampleConfig (Seeds, one per prompt) and the same Samples.
type Sampler interface {
	Sample(ctx context.Context, prompts [][]int, cfg gpt.SampleConfig) (*gpt.Samples, error)
}

// LMTrainer trains a GPT policy with token-level PPO against a TextScorer,
// with a KL penalty towards a frozen copy of the initial policy.
type LMTrainer struct {
	Config LMConfig
	// Policy is trained; it carries the value head.
	Policy *gpt.Model
	// Ref is the frozen reference (the policy as it was given).
	Ref *gpt.Model
	// Tok encodes prompts and decodes completions.
	Tok *text.Tokenizer
	// Scorer scores completions; it is not saved with checkpoints.
	Scorer TextScorer
	// Prompts are drawn uniformly (with the trainer's generator) for each batch.
	Prompts []string
	// KL is the controller of β.
	KL KLController
	// Opt is the policy's optimiser.
	Opt *optim.AdamW
	// Steps counts the PPO steps done.
	Steps int
	// ScoreMean and ScoreStd standardise scores when Config.NormScores is
	// set; ScoreNormSet says whether they have been measured yet.
	ScoreMean, ScoreStd float64
	ScoreNormSet        bool
	// Device, when not nil, holds the policy's weights and optimiser state
	// and takes the minibatch updates and the forward pass for the
	// rollout's log-probs and values in place of the CPU engine; build it
	// over Opt (with Config.MaxGradNorm as its clipping limit) after
	// NewLMTrainer or ResumeLM. The policy's host tensors then fall behind:
	// Step copies the weights back only when Sampler is nil (the CPU engine
	// samples the rollouts), Save copies the weights and optimiser state
	// back first, and SyncPolicy must be called before the policy is used
	// on the host after the last Step. Scoring stays on the CPU engine.
	Device Device
	// RefDevice, when not nil, computes the reference's log-probs of the
	// rollouts in place of the CPU engine, over its own copy of Ref's
	// weights (e.g. an xla.Trainer over Ref.Params() that takes no
	// optimiser steps). Ref is frozen, so that copy never needs syncing;
	// nil computes them from Ref's host tensors on the CPU engine.
	RefDevice Evaluator
	// Sampler, when not nil, draws the rollouts' completions in place of
	// Policy.Sample on the CPU engine; it must sample the policy's current
	// weights at each Step (e.g. read them from the Device's state). With a
	// Device and a Sampler, a Step copies nothing back to the host.
	Sampler Sampler

	pcg  *rand.PCG
	rng  *rand.Rand
	tape *ag.Tape
}

// NewLMTrainer prepares PPO of policy against scorer on prompts. The
// reference model is a copy of policy as given. policy gets a value head
// (drawn from cfg.Seed) if it has none; its other parameters are trained in
// place.
func NewLMTrainer(cfg LMConfig, policy *gpt.Model, tok *text.Tokenizer, scorer TextScorer, prompts []string) (*LMTrainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if policy == nil || tok == nil || scorer == nil {
		return nil, fmt.Errorf("ppo: a language-model trainer needs a policy, a tokenizer and a scorer")
	}
	if tok.VocabSize() != policy.Config.VocabSize {
		return nil, fmt.Errorf("ppo: tokenizer has %d ids, the policy %d", tok.VocabSize(), policy.Config.VocabSize)
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("ppo: no prompts")
	}
	if cfg.MaxNewTokens+2 > policy.Config.NPositions {
		return nil, fmt.Errorf("ppo: %d new tokens leave no room for a prompt in %d positions", cfg.MaxNewTokens, policy.Config.NPositions)
	}
	ref, err := CloneGPT(policy)
	if err != nil {
		return nil, err
	}
	policy.AddValueHead(cfg.Seed)
	t := &LMTrainer{Config: cfg, Policy: policy, Ref: ref, Tok: tok, Scorer: scorer, Prompts: prompts,
		KL:   KLController{Value: cfg.KLCoef, Target: cfg.KLTarget, Horizon: cfg.KLHorizon, Min: cfg.KLMinCoef, Gain: cfg.KLGain},
		pcg:  rand.NewPCG(cfg.Seed, 0x5eed),
		tape: ag.NewTape()}
	t.rng = rand.New(t.pcg)
	t.Opt = optim.NewAdamW(policy.Params(), optim.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: float32(cfg.AdamEps)})
	return t, nil
}

// CloneGPT returns a deep copy of m (same config, parameters copied).
func CloneGPT(m *gpt.Model) (*gpt.Model, error) {
	c, err := gpt.New(m.Config, 0)
	if err != nil {
		return nil, fmt.Errorf("ppo: copy model: %w", err)
	}
	src, dst := m.Params(), c.Params()
	if len(src) != len(dst) {
		return nil, fmt.Errorf("ppo: copy model: %d parameters, copy has %d", len(src), len(dst))
	}
	for i := range src {
		copy(dst[i].P.Value.Data, src[i].P.Value.Data)
	}
	return c, nil
}

// EncodePrompt returns the token ids a prompt is given to the model as:
// the prompt's tokens, after the end-of-text token when PromptEOS is set,
// cut from the left to leave room for MaxNewTokens.
func EncodePrompt(tok *text.Tokenizer, prompt string, eos bool, positions, maxNew int) []int {
	ids := tok.Encode(prompt)
	if eos {
		ids = append([]int{tok.EndOfText()}, ids...)
	}
	if room := positions - maxNew; len(ids) > room {
		ids = ids[len(ids)-room:]
	}
	if len(ids) == 0 {
		ids = []int{tok.EndOfText()}
	}
	return ids
}

// DecodeCompletion returns the text of completion tokens, without a final
// end-of-text token.
func DecodeCompletion(tok *text.Tokenizer, ids []int) string {
	if n := len(ids); n > 0 && ids[n-1] == tok.EndOfText() {
		ids = ids[:n-1]
	}
	return tok.Decode(ids)
}

// lmRollout is one batch of episodes with everything the update needs.
type lmRollout struct {
	prompts      []string
	promptIDs    [][]int
	completions  [][]int
	texts        []string
	scores       []float64 // raw
	logp, refLP  [][]float32
	values       [][]float32
	adv, returns [][]float32
	kl           []float64
}

// SyncPolicy copies the policy's weights from the Device into its host
// tensors (a no-op without a Device).
func (t *LMTrainer) SyncPolicy() error {
	if t.Device == nil {
		return nil
	}
	if err := t.Device.Sync(nil); err != nil {
		return fmt.Errorf("ppo: copy the policy back from the device: %w", err)
	}
	return nil
}

// Step runs one PPO step: a batch of rollouts, then the update.
func (t *LMTrainer) Step(ctx context.Context) (LMStats, error) {
	c := t.Config
	if t.Sampler == nil { // the CPU engine samples from the host weights
		if err := t.SyncPolicy(); err != nil {
			return LMStats{}, err
		}
	}
	prompts := make([]string, c.BatchSize)
	group := 1 // completions per prompt
	if c.grouped() {
		group = c.GroupSize
	}
	for i := 0; i < len(prompts); i += group {
		p := t.Prompts[t.rng.IntN(len(t.Prompts))]
		for j := range group {
			prompts[i+j] = p
		}
	}
	ro, err := t.collectLM(ctx, prompts)
	if err != nil {
		return LMStats{}, err
	}
	st := LMStats{KLCoef: t.KL.Value, klInLoss: c.grpo()}
	if t.KL.Gain > 0 && t.KL.Target > 0 {
		st.KLCoefSlow = t.KL.Slow()
	}
	// Scores: standardise with the first batch's statistics.
	if c.NormScores && !t.ScoreNormSet {
		m, s := report.Spread(ro.scores)
		t.ScoreMean, t.ScoreStd, t.ScoreNormSet = m, max(s, 1e-6), true
	}
	rewards := make([][]float32, len(prompts))
	entropy := 0.0
	rewardBeta := t.KL.Value // GRPO's penalty is in the loss, not in the rewards
	if c.grpo() {
		rewardBeta = 0
	}
	scores := make([]float64, len(prompts)) // normalised when NormScores
	for i := range prompts {
		score := ro.scores[i]
		if c.NormScores {
			score = (score - t.ScoreMean) / t.ScoreStd
		}
		scores[i] = score
		rewards[i], ro.kl[i] = TokenRewards(ro.logp[i], ro.refLP[i], score, rewardBeta)
		st.RLHFReward += score - t.KL.Value*ro.kl[i]
		for _, lp := range ro.logp[i] {
			entropy -= float64(lp)
		}
		st.ResponseLen += float64(len(ro.completions[i]))
	}
	n := float64(len(prompts))
	st.Score, st.ScoreStd = report.Spread(ro.scores)
	st.KL, _ = report.Spread(ro.kl)
	st.Entropy = entropy / n
	st.NonScore = -t.KL.Value * st.KL
	st.RLHFReward /= n
	st.ResponseLen /= n
	switch {
	case c.grouped():
		// The value head is not trained: its loss is left out of the
		// minibatch loss, and returns are the rollout's values. Nothing
		// predicts the returns, so their explained variance is NaN.
		if c.rloo() {
			ro.adv = LeaveOneOut(rewards, c.GroupSize)
		} else {
			n := make([]int, len(prompts))
			for i := range n {
				n[i] = len(ro.completions[i])
			}
			ro.adv = GroupNormalized(scores, n, c.GroupSize, c.GroupMeanOnly)
		}
		ro.returns = ro.values
		st.ExplainedVar = math.NaN()
	default:
		ro.adv, ro.returns = TokenGAE(rewards, ro.values, c.Gamma, c.Lambda)
		var flatV, flatR []float32
		for i := range ro.values {
			flatV = append(flatV, ro.values[i]...)
			flatR = append(flatR, ro.returns[i]...)
		}
		st.ExplainedVar = ExplainedVariance(flatV, flatR)
	}
	if c.WhitenAdvantages && !c.grpo() {
		WhitenRows(ro.adv)
	}
	if err := t.updateLM(ctx, ro, &st); err != nil {
		return LMStats{}, err
	}
	t.KL.Update(st.KL, len(prompts))
	t.Steps++
	st.Step = t.Steps
	st.Episodes = t.Steps * c.BatchSize
	for i := range prompts {
		st.Samples = append(st.Samples, LMSample{Prompt: prompts[i], Completion: ro.texts[i], Score: ro.scores[i], KL: ro.kl[i]})
	}
	return st, nil
}

// collect samples a completion of every prompt from the policy, scores it
// and records the policy's and the reference's log-probabilities and the
// values of its tokens.
func (t *LMTrainer) collectLM(ctx context.Context, prompts []string) (*lmRollout, error) {
	c := t.Config
	B := len(prompts)
	ro := &lmRollout{prompts: prompts, promptIDs: make([][]int, B), texts: make([]string, B), kl: make([]float64, B)}
	seeds := make([]uint64, B)
	for i, p := range prompts {
		ro.promptIDs[i] = EncodePrompt(t.Tok, p, c.PromptEOS, t.Policy.Config.NPositions, c.MaxNewTokens)
		seeds[i] = t.rng.Uint64()
	}
	sample := t.Policy.Sample
	if t.Sampler != nil {
		sample = t.Sampler.Sample
	}
	s, err := sample(ctx, ro.promptIDs, gpt.SampleConfig{MaxNewTokens: c.MaxNewTokens,
		Temperature: c.Temperature, StopAtEOS: c.StopAtEOS, Seeds: seeds})
	if err != nil {
		return nil, fmt.Errorf("ppo: sample: %w", err)
	}
	if len(s.Tokens) != B {
		return nil, fmt.Errorf("ppo: sampler returned %d completions for %d prompts", len(s.Tokens), B)
	}
	ro.completions = s.Tokens
	for i, comp := range ro.completions {
		ro.texts[i] = DecodeCompletion(t.Tok, comp)
	}
	sc, err := t.Scorer.ScoreText(prompts, ro.texts)
	if err != nil {
		return nil, fmt.Errorf("ppo: score: %w", err)
	}
	if len(sc) != B {
		return nil, fmt.Errorf("ppo: scorer returned %d scores for %d completions", len(sc), B)
	}
	ro.scores = make([]float64, B)
	for i, v := range sc {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("ppo: score %d of %q is %v", i, ro.texts[i], v)
		}
		ro.scores[i] = float64(v)
	}
	var pol, ref Evaluator // nil: the CPU engine
	if t.Device != nil {
		pol = t.Device
	}
	if t.RefDevice != nil {
		ref = t.RefDevice
	}
	if ro.logp, ro.values, err = evalOn(pol, t.Policy, ro.promptIDs, ro.completions); err != nil {
		return nil, fmt.Errorf("ppo: the rollout's log-probs and values: %w", err)
	}
	if ro.refLP, _, err = evalOn(ref, t.Ref, ro.promptIDs, ro.completions); err != nil {
		return nil, fmt.Errorf("ppo: the reference's log-probs: %w", err)
	}
	return ro, nil
}

// lmRows joins prompts and completions into right-padded (B, T) ids with a
// mask (B·T) that marks the completion tokens. T is the longest row, or
// padLen of it when padLen is not nil.
func lmRows(promptIDs, completions [][]int, padLen func(t int) int) (ids []int, T int, mask []float32) {
	r := make([][]int, len(promptIDs))
	for i := range r {
		r[i] = append(append([]int(nil), promptIDs[i]...), completions[i]...)
	}
	ids, T, _ = gpt.PadRight(r)
	if padLen != nil {
		ids, T = gpt.PadTo(ids, len(r), T, padLen(T))
	}
	mask = make([]float32, len(ids))
	for i := range r {
		p := len(promptIDs[i])
		for j := range completions[i] {
			mask[i*T+p+j] = 1
		}
	}
	return ids, T, mask
}

// policyEval returns, without gradients, the log-probability of every
// completion token and the value of the prefix before it (nil values for a
// model without a value head), on the CPU engine.
func policyEval(m *gpt.Model, promptIDs, completions [][]int) (logp, values [][]float32) {
	logp, values, _ = evalOn(nil, m, promptIDs, completions) // the CPU engine does not fail
	return logp, values
}

// evalOn is policyEval on ev over its copy of m's weights, on rows
// right-padded to ev.PadLen; nil ev is the CPU engine over m's host
// tensors, unpadded. Attention is causal, so the filler after a row changes
// none of the values read: the completion's log-probs and values.
func evalOn(ev Evaluator, m *gpt.Model, promptIDs, completions [][]int) (logp, values [][]float32, err error) {
	var padLen func(int) int
	if ev != nil {
		padLen = func(n int) int { return ev.PadLen(n, m.Config.NPositions) }
	}
	ids, T, _ := lmRows(promptIDs, completions, padLen)
	B := len(promptIDs)
	nLP, nV := B*(T-1), 0
	if m.VHead != nil {
		nV = B * T
	}
	// f returns the log-probs (B, T-1) and the values (B, T), flattened
	// and joined: (B·(T-1) + B·T), or the log-probs alone without a value
	// head.
	f := func(tp *ag.Tape) *ag.Var {
		h := m.Hidden(tp, ids, B, T)                         // (B, T, C)
		lp, _ := m.LogProbsOf(tp, m.Logits(tp, h), ids, nil) // (B, T-1)
		out := tp.Reshape(lp, nLP)
		if nV > 0 {
			out = tp.Concat(0, out, tp.Reshape(m.ValuesOf(tp, h), nV))
		}
		return out
	}
	var out *tensor.Tensor
	if ev == nil {
		out = f(ag.NewNoGradTape()).Value
	} else if out, err = ev.Forward(f); err != nil {
		return nil, nil, err
	}
	if len(out.Data) != nLP+nV {
		return nil, nil, fmt.Errorf("ppo: forward pass returned %d values, want %d", len(out.Data), nLP+nV)
	}
	lp, v := out.Data[:nLP], out.Data[nLP:]
	logp = make([][]float32, B)
	if nV > 0 {
		values = make([][]float32, B)
	}
	for i := range B {
		// Column start of row i is the last prompt token: its log-prob
		// column predicts the first completion token, its value is the
		// value of the prefix before it.
		start, n := len(promptIDs[i])-1, len(completions[i])
		logp[i] = append([]float32{}, lp[i*(T-1)+start:i*(T-1)+start+n]...)
		if nV > 0 {
			values[i] = append([]float32{}, v[i*T+start:i*T+start+n]...)
		}
	}
	return logp, values, nil
}

// update runs the PPO epochs over the lmRollout.
func (t *LMTrainer) updateLM(ctx context.Context, ro *lmRollout, st *LMStats) error {
	c := t.Config
	B := len(ro.prompts)
	perm := make([]int, B)
	for i := range perm {
		perm[i] = i
	}
	var nmb float64
	for range c.Epochs {
		t.rng.Shuffle(B, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		for mb := range c.MiniBatches {
			if err := ctx.Err(); err != nil {
				return err
			}
			lo, hi := mb*B/c.MiniBatches, (mb+1)*B/c.MiniBatches
			if lo == hi {
				continue
			}
			m, err := t.minibatch(ro, perm[lo:hi])
			if err != nil {
				return err
			}
			st.ApproxKL += m.approxKL
			st.ClipFrac += m.clipFrac
			st.PolicyLoss += m.pgLoss
			st.ValueLoss += m.vLoss
			st.GradNorm += m.gradNorm
			st.KLPenalty += m.klPen
			nmb++
		}
	}
	if nmb > 0 {
		st.ApproxKL /= nmb
		st.ClipFrac /= nmb
		st.PolicyLoss /= nmb
		st.ValueLoss /= nmb
		st.GradNorm /= nmb
		st.KLPenalty /= nmb
	}
	return nil
}

type mbStats struct {
	approxKL, clipFrac, pgLoss, vLoss, gradNorm, klPen float64
}

// minibatch takes one optimiser step on the episodes idx of ro, on the
// CPU engine or on t.Device, and returns the minibatch's statistics before
// the update.
func (t *LMTrainer) minibatch(ro *lmRollout, idx []int) (mbStats, error) {
	c := t.Config
	pIDs := make([][]int, len(idx))
	comps := make([][]int, len(idx))
	for k, i := range idx {
		pIDs[k], comps[k] = ro.promptIDs[i], ro.completions[i]
	}
	var padLen func(int) int
	if t.Device != nil {
		padLen = func(n int) int { return t.Device.PadLen(n, t.Policy.Config.NPositions) }
	}
	ids, T, tokMask := lmRows(pIDs, comps, padLen)
	B := len(idx)
	// Per-action tensors (B, T-1): column j is the token at position j+1.
	oldLP, oldV := tensor.New(B, T-1), tensor.New(B, T-1)
	adv, ret, mask := tensor.New(B, T-1), tensor.New(B, T-1), tensor.New(B, T-1)
	var refLP, beta *tensor.Tensor // GRPO's penalty: the reference's log-probs, β
	if c.grpo() {
		refLP, beta = tensor.New(B, T-1), tensor.New(1)
		beta.Data[0] = float32(t.KL.Value) // data, not a constant of the traced step
	}
	for k, i := range idx {
		start := len(pIDs[k]) - 1
		for j := range comps[k] {
			a := k*(T-1) + start + j
			if refLP != nil {
				refLP.Data[a] = ro.refLP[i][j]
			}
			oldLP.Data[a] = ro.logp[i][j]
			oldV.Data[a] = ro.values[i][j]
			adv.Data[a] = ro.adv[i][j]
			ret.Data[a] = ro.returns[i][j]
			mask.Data[a] = 1
		}
	}
	// losses builds the minibatch loss and its parts: the clipped surrogate
	// pg (1), the clipped value loss vl (1), GRPO's KL penalty kl (1; nil
	// otherwise) and the policy's log-probs logp (B, T-1).
	losses := func(tp *ag.Tape) (loss, pg, vl, kl, logp *ag.Var) {
		h := t.Policy.Hidden(tp, ids, B, T)                                        // (B, T, C)
		logp, lsm := t.Policy.LogProbsOf(tp, t.Policy.Logits(tp, h), ids, tokMask) // (B, T-1)
		v := tp.Slice(t.Policy.ValuesOf(tp, h), 1, 0, T-1)                         // (B, T-1)
		pg = PolicyLoss(tp, logp, oldLP, adv, float32(c.ClipRange), mask)
		vl = ValueLoss(tp, v, oldV, ret, float32(c.ClipRangeValue), mask)
		loss = pg
		if !c.grouped() {
			loss = tp.Add(pg, tp.Scale(vl, float32(c.VFCoef)))
		}
		if c.grpo() {
			kl = KLPenalty(tp, logp, refLP, mask)
			loss = tp.Add(loss, tp.Mul(kl, ag.Const(beta)))
		}
		if c.EntCoef > 0 {
			ent := tp.Slice(gpt.EntropyOf(tp, lsm), 1, 0, T-1)
			loss = tp.Sub(loss, tp.Scale(EntropyBonus(tp, ent, mask), float32(c.EntCoef)))
		}
		return loss, pg, vl, kl, logp
	}
	var m mbStats
	var lp []float32 // (B·(T-1)) log-probs before the update
	if t.Device != nil {
		// One forward pass for the statistics: the log-probs, then the
		// policy and value losses; then the step.
		parts, err := t.Device.Forward(func(tp *ag.Tape) *ag.Var {
			_, pg, vl, kl, logp := losses(tp)
			parts := []*ag.Var{tp.Reshape(logp, B*(T-1)), tp.Reshape(pg, 1), tp.Reshape(vl, 1)}
			if kl != nil {
				parts = append(parts, tp.Reshape(kl, 1))
			}
			return tp.Concat(0, parts...)
		})
		if err != nil {
			return mbStats{}, fmt.Errorf("ppo: minibatch: %w", err)
		}
		_, norm, err := t.Device.Step(c.LR, func(tp *ag.Tape) *ag.Var {
			loss, _, _, _, _ := losses(tp)
			return loss
		})
		if err != nil {
			return mbStats{}, fmt.Errorf("ppo: minibatch: %w", err)
		}
		lp = parts.Data[:B*(T-1)]
		m.pgLoss, m.vLoss, m.gradNorm = float64(parts.Data[B*(T-1)]), float64(parts.Data[B*(T-1)+1]), norm
		if c.grpo() {
			m.klPen = float64(parts.Data[B*(T-1)+2])
		}
	} else {
		tp := t.tape
		defer tp.Reset()
		loss, pg, vl, kl, logp := losses(tp)
		t.Opt.ZeroGrad()
		tp.Backward(loss)
		m.pgLoss, m.vLoss = float64(pg.Value.Data[0]), float64(vl.Value.Data[0])
		if kl != nil {
			m.klPen = float64(kl.Value.Data[0])
		}
		lp = logp.Value.Data
		if c.MaxGradNorm > 0 {
			m.gradNorm = optim.ClipGradNorm(t.Opt.Params, c.MaxGradNorm)
		} else {
			m.gradNorm = optim.ClipGradNorm(t.Opt.Params, math.Inf(1))
		}
		t.Opt.Step(float32(c.LR))
	}
	if c.grouped() {
		m.vLoss = 0 // not trained
	}
	m.approxKL = ApproxKL(lp, oldLP.Data, mask.Data)
	m.clipFrac = ClipFrac(lp, oldLP.Data, float32(c.ClipRange), mask.Data)
	return m, nil
}

// Generate samples one completion per prompt from m with the trainer's
// prompt encoding, at the given temperature and seed, and returns the
// completion texts, the prompts' token ids and the completions' token ids.
func Generate(ctx context.Context, m *gpt.Model, tok *text.Tokenizer, prompts []string, cfg LMConfig, temperature float64, seed uint64) ([]string, [][]int, [][]int, error) {
	return GenerateWith(ctx, nil, m, tok, prompts, cfg, temperature, seed)
}

// GenerateWith is Generate with the completions drawn by s, a sampler of m
// (nil: m.Sample on the CPU engine); m gives the prompt encoding its
// context length.
func GenerateWith(ctx context.Context, s Sampler, m *gpt.Model, tok *text.Tokenizer, prompts []string, cfg LMConfig, temperature float64, seed uint64) ([]string, [][]int, [][]int, error) {
	pIDs := make([][]int, len(prompts))
	seeds := make([]uint64, len(prompts))
	for i, p := range prompts {
		pIDs[i] = EncodePrompt(tok, p, cfg.PromptEOS, m.Config.NPositions, cfg.MaxNewTokens)
		seeds[i] = seed + uint64(i)
	}
	if len(prompts) == 0 {
		return nil, nil, nil, nil
	}
	sample := m.Sample
	if s != nil {
		sample = s.Sample
	}
	out, err := sample(ctx, pIDs, gpt.SampleConfig{MaxNewTokens: cfg.MaxNewTokens, Temperature: temperature,
		StopAtEOS: cfg.StopAtEOS, Seeds: seeds})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ppo: sample: %w", err)
	}
	if len(out.Tokens) != len(prompts) {
		return nil, nil, nil, fmt.Errorf("ppo: sampler returned %d completions for %d prompts", len(out.Tokens), len(prompts))
	}
	texts := make([]string, len(prompts))
	for i, comp := range out.Tokens {
		texts[i] = DecodeCompletion(tok, comp)
	}
	return texts, pIDs, out.Tokens, nil
}

// SequenceKL returns, for each (prompt, completion) sampled from policy,
// Σ_t log π(y_t) - log π_ref(y_t) over the completion tokens: a sample of
// KL(π ‖ π_ref) for the prompt, in nats.
func SequenceKL(policy, ref *gpt.Model, promptIDs, completions [][]int) []float64 {
	out, _ := SequenceKLOn(nil, nil, policy, ref, promptIDs, completions) // the CPU engine does not fail
	return out
}

// SequenceKLOn is SequenceKL with the policy's log-probs computed on pol
// and the reference's on refEv (nil: the CPU engine), each over its own
// copy of the model's weights, on rows right-padded to its buckets.
func SequenceKLOn(pol, refEv Evaluator, policy, ref *gpt.Model, promptIDs, completions [][]int) ([]float64, error) {
	if len(promptIDs) == 0 {
		return nil, nil
	}
	lp, _, err := evalOn(pol, policy, promptIDs, completions)
	if err != nil {
		return nil, fmt.Errorf("ppo: the policy's log-probs: %w", err)
	}
	rlp, _, err := evalOn(refEv, ref, promptIDs, completions)
	if err != nil {
		return nil, fmt.Errorf("ppo: the reference's log-probs: %w", err)
	}
	out := make([]float64, len(lp))
	for i := range lp {
		for j := range lp[i] {
			out[i] += float64(lp[i][j]) - float64(rlp[i][j])
		}
	}
	return out, nil
}

// OneLine replaces newlines and tabs with spaces, for printing samples.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
