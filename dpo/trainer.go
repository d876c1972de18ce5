package dpo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"rlhf/ag"
	"rlhf/model/gpt"
	"rlhf/optim"
)

// Pair is one preference in tokens: a prompt and the chosen and rejected
// completions of it. Smoothing, if above 0, is this pair's probability
// that its label is wrong (1 - a judge's confidence, say), in place of
// Config.LabelSmoothing (sigmoid loss only).
type Pair struct {
	Prompt, Chosen, Rejected []int
	Smoothing                float64
}

// seq is one prompt+completion row as the trainer runs it.
type seq struct {
	ids   []int // prompt then completion, at most the model's positions
	start int   // index of the first completion token (>= 1)
}

// prepared is a pair laid out for training, with its reference log-probs.
type prepared struct {
	w, l       seq
	refW, refL float32 // summed reference log-probs of the completions
	smoothing  float32 // the pair's label smoothing
}

// layout makes the row for a prompt and completion: an empty prompt becomes
// the end-of-text token (the first completion token needs a context) and an
// empty completion the end-of-text token alone; a completion longer than
// the model's positions allow is cut at the end, and the prompt is then cut
// from the left to fit.
func layout(cfg gpt.Config, prompt, completion []int) (seq, error) {
	for _, part := range [][]int{prompt, completion} {
		for _, id := range part {
			if id < 0 || id >= cfg.VocabSize {
				return seq{}, fmt.Errorf("token id %d outside the vocabulary of %d", id, cfg.VocabSize)
			}
		}
	}
	eos := []int{cfg.EOSTokenID}
	if len(prompt) == 0 {
		prompt = eos
	}
	if len(completion) == 0 {
		completion = eos
	}
	p := cfg.NPositions
	if len(completion) > p-1 {
		completion = completion[:p-1]
	}
	if keep := p - len(completion); len(prompt) > keep {
		prompt = prompt[len(prompt)-keep:]
	}
	ids := append(append(make([]int, 0, len(prompt)+len(completion)), prompt...), completion...)
	return seq{ids: ids, start: len(prompt)}, nil
}

// summedLogProbs returns, for each row, the policy's summed log-probability
// of its completion tokens given everything before them: (B). Rows are
// right-padded to the longest, or to padLen of it when padLen is not nil
// (padding is masked out).
func summedLogProbs(tp *ag.Tape, m *gpt.Model, rows []seq, padLen func(t, limit int) int) *ag.Var {
	raw := make([][]int, len(rows))
	for i, r := range rows {
		raw[i] = r.ids
	}
	ids, t, lens := gpt.PadRight(raw)
	if padLen != nil {
		ids, t = gpt.PadTo(ids, len(rows), t, padLen(t, m.Config.NPositions))
	}
	mask := make([]float32, len(ids)) // (B, T): 1 on completion tokens
	for i, r := range rows {
		for j := r.start; j < lens[i]; j++ {
			mask[i*t+j] = 1
		}
	}
	lp := m.LogProbs(tp, ids, len(rows), t, mask) // (B, T-1)
	return tp.Sum(lp, 1, false)                   // (B)
}

// evalChunk is the most pairs per no-grad forward pass.
const evalChunk = 16

// sequenceLogProbs returns summedLogProbs for every row without gradients,
// in chunks.
func sequenceLogProbs(m *gpt.Model, rows []seq) []float32 {
	out := make([]float32, 0, len(rows))
	tp := ag.NewNoGradTape()
	for lo := 0; lo < len(rows); lo += 2 * evalChunk {
		hi := min(lo+2*evalChunk, len(rows))
		out = append(out, summedLogProbs(tp, m, rows[lo:hi], nil).Data()...)
		tp.Reset()
	}
	return out
}

// Evaluator runs the reference's forward passes for NewTrainerOn (see
// optim.Evaluator).
type Evaluator = optim.Evaluator

// evalLogProbs is sequenceLogProbs on ev: chunks of exactly 2·evalChunk
// rows (the last one topped up with copies of its first row, whose values
// are dropped), right-padded to ev.PadLen columns, so that a compiling
// device builds one executable per length bucket.
func evalLogProbs(ev Evaluator, m *gpt.Model, rows []seq) ([]float32, error) {
	n := 2 * evalChunk
	out := make([]float32, 0, len(rows))
	for lo := 0; lo < len(rows); lo += n {
		hi := min(lo+n, len(rows))
		chunk := rows[lo:hi]
		for len(chunk) < n {
			chunk = append(chunk[:len(chunk):len(chunk)], rows[lo])
		}
		lp, err := ev.Forward(func(tp *ag.Tape) *ag.Var { return summedLogProbs(tp, m, chunk, ev.PadLen) }) // (n)
		if err != nil {
			return nil, fmt.Errorf("log-probs of rows %d to %d on the device: %w", lo, hi-1, err)
		}
		if len(lp.Data) != n {
			return nil, fmt.Errorf("log-probs of rows %d to %d on the device: %d values for %d rows", lo, hi-1, len(lp.Data), n)
		}
		out = append(out, lp.Data[:hi-lo]...)
	}
	return out, nil
}

// prepare lays pairs out and caches their reference log-probs, computed on
// ev (nil: the CPU engine).
func prepare(ref *gpt.Model, ev Evaluator, pairs []Pair, what string, c Config) ([]prepared, error) {
	out := make([]prepared, len(pairs))
	rows := make([]seq, 0, 2*len(pairs))
	for i, p := range pairs {
		out[i].smoothing = float32(c.LabelSmoothing)
		if p.Smoothing != 0 {
			if !(p.Smoothing > 0 && p.Smoothing < 0.5) || c.Loss != LossSigmoid {
				return nil, fmt.Errorf("dpo: %s pair %d: label smoothing %g, want (0, 0.5) with the %q loss", what, i, p.Smoothing, LossSigmoid)
			}
			out[i].smoothing = float32(p.Smoothing)
		}
		w, err := layout(ref.Config, p.Prompt, p.Chosen)
		if err != nil {
			return nil, fmt.Errorf("dpo: %s pair %d chosen: %w", what, i, err)
		}
		l, err := layout(ref.Config, p.Prompt, p.Rejected)
		if err != nil {
			return nil, fmt.Errorf("dpo: %s pair %d rejected: %w", what, i, err)
		}
		out[i].w, out[i].l = w, l
		rows = append(rows, w, l)
	}
	var lp []float32
	if ev == nil {
		lp = sequenceLogProbs(ref, rows)
	} else {
		var err error
		if lp, err = evalLogProbs(ev, ref, rows); err != nil {
			return nil, fmt.Errorf("dpo: reference log-probs of the %s pairs: %w", what, err)
		}
	}
	for i := range out {
		out[i].refW, out[i].refL = lp[2*i], lp[2*i+1]
	}
	return out, nil
}

// Device takes the policy's optimiser steps and forward passes somewhere
// other than the CPU engine and keeps its parameters and optimiser state
// there between steps (see optim.Device).
type Device = optim.Device

// Trainer trains a policy with DPO or IPO on a fixed set of pairs.
type Trainer struct {
	Config Config
	// Policy is the model being trained.
	Policy *gpt.Model
	// Opt is the policy's optimiser.
	Opt *optim.AdamW
	// Steps counts the optimiser steps taken.
	Steps int
	// Device, when not nil, takes the optimiser steps in place of the CPU
	// engine; build it over Opt (with Config.ClipNorm as its clipping
	// limit) after NewTrainer. The reference's log-probs are computed once,
	// by NewTrainerOn's evaluator or the CPU engine; Evaluate runs on the
	// Device too; Train leaves the trained weights in the policy's host
	// tensors.
	Device Device

	train, val []prepared
	tp         *ag.Tape
	rng        *rand.Rand
}

// NewTrainer validates c and computes, once and without gradients, the
// reference model's summed log-probs of every completion in train and val
// (held-out pairs, may be nil) on the CPU engine. ref may be policy itself:
// the cache is filled before the first update. The policy and reference
// must share a vocabulary and positions.
func NewTrainer(c Config, policy, ref *gpt.Model, train, val []Pair) (*Trainer, error) {
	return NewTrainerOn(c, policy, ref, nil, train, val)
}

// NewTrainerOn is NewTrainer with the reference's log-probs computed on
// refEval, over its own copy of ref's weights (nil: the CPU engine).
func NewTrainerOn(c Config, policy, ref *gpt.Model, refEval Evaluator, train, val []Pair) (*Trainer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(train) == 0 {
		return nil, fmt.Errorf("dpo: no training pairs")
	}
	pc, rc := policy.Config, ref.Config
	if pc.VocabSize != rc.VocabSize || pc.NPositions != rc.NPositions || pc.EOSTokenID != rc.EOSTokenID {
		return nil, fmt.Errorf("dpo: policy (vocab %d, %d positions) and reference (vocab %d, %d positions) differ",
			pc.VocabSize, pc.NPositions, rc.VocabSize, rc.NPositions)
	}
	t := &Trainer{Config: c, Policy: policy, tp: ag.NewTape(), rng: rand.New(rand.NewPCG(c.Seed, 0xd90))}
	var err error
	if t.train, err = prepare(ref, refEval, train, "training", c); err != nil {
		return nil, err
	}
	if t.val, err = prepare(ref, refEval, val, "held-out", c); err != nil {
		return nil, err
	}
	t.Opt = optim.NewAdamW(policy.Params(), optim.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		WeightDecay: float32(c.WeightDecay), NoDecay: optim.MatricesOnly})
	return t, nil
}

// StepsPerEpoch returns the number of minibatches in one pass over the
// training pairs (the last one may be smaller).
func (t *Trainer) StepsPerEpoch() int { return (len(t.train) + t.Config.Batch - 1) / t.Config.Batch }

// TotalSteps returns the optimiser steps of a whole run.
func (t *Trainer) TotalSteps() int { return t.Config.Epochs * t.StepsPerEpoch() }

// LR returns the learning rate of step (0-based): linear warm-up to
// Config.LR, then constant.
func (t *Trainer) LR(step int) float64 {
	if w := t.Config.Warmup; w > 0 && step < w {
		return t.Config.LR * float64(step+1) / float64(w)
	}
	return t.Config.LR
}

// rowsOf returns the chosen rows of batch then the rejected ones, the
// reference log-probs of each side and the pairs' label smoothing.
func rowsOf(batch []prepared) (rows []seq, refW, refL, smoothing []float32) {
	rows = make([]seq, 2*len(batch))
	refW, refL, smoothing = make([]float32, len(batch)), make([]float32, len(batch)), make([]float32, len(batch))
	for i, p := range batch {
		rows[i], rows[len(batch)+i] = p.w, p.l
		refW[i], refL[i], smoothing[i] = p.refW, p.refL, p.smoothing
	}
	return rows, refW, refL, smoothing
}

// policyLogProbs returns the policy's summed log-probs of the completions
// of rows, padded as t.Device asks: (2N) for N pairs' chosen rows then
// rejected rows.
func (t *Trainer) policyLogProbs(tp *ag.Tape, rows []seq) *ag.Var {
	var padLen func(t, limit int) int
	if t.Device != nil {
		padLen = t.Device.PadLen
	}
	return summedLogProbs(tp, t.Policy, rows, padLen)
}

// minibatchLoss returns the loss of the pairs whose chosen rows then
// rejected rows are rows, and the policy's summed log-probs of the chosen
// and rejected completions, (N) each.
func (t *Trainer) minibatchLoss(tp *ag.Tape, rows []seq, refW, refL, smoothing []float32) (loss, piW, piL *ag.Var) {
	n := len(refW)
	lp := t.policyLogProbs(tp, rows) // (2N): chosen then rejected
	piW, piL = tp.Slice(lp, 0, 0, n), tp.Slice(lp, 0, n, 2*n)
	return t.loss(tp, rows, piW, piL, refW, refL, smoothing), piW, piL
}

// loss is the configured loss of the pairs whose chosen rows then rejected
// rows are rows, given the policy's summed log-probs piW, piL (N each) and
// the pairs' label smoothing (the sigmoid loss's).
func (t *Trainer) loss(tp *ag.Tape, rows []seq, piW, piL *ag.Var, refW, refL, smoothing []float32) *ag.Var {
	switch t.Config.Loss {
	case LossSigmoid:
		return SigmoidLossEach(tp, LogRatioMargin(tp, piW, piL, refW, refL), float32(t.Config.Beta), smoothing)
	case LossIPO:
		return Loss(tp, t.Config, piW, piL, refW, refL)
	}
	lens := make([]int, len(refW))
	for i := range lens {
		lens[i] = len(rows[i].ids) - rows[i].start
	}
	return SFTLoss(tp, piW, lens)
}

// Step takes one optimiser step on the training pairs with indices idx and
// returns the loss and metrics of the batch before the update. With a
// Device the policy's host tensors are stale until SyncPolicy (which Train
// calls before it returns).
func (t *Trainer) Step(idx []int) (float64, Stats, error) {
	if len(idx) == 0 {
		return 0, Stats{}, fmt.Errorf("dpo: empty minibatch")
	}
	batch := make([]prepared, len(idx))
	for i, j := range idx {
		if j < 0 || j >= len(t.train) {
			return 0, Stats{}, fmt.Errorf("dpo: pair index %d out of range [0, %d)", j, len(t.train))
		}
		batch[i] = t.train[j]
	}
	rows, refW, refL, smoothing := rowsOf(batch)
	if t.Device != nil {
		return t.deviceStep(rows, refW, refL, smoothing)
	}
	tp := t.tp
	tp.Reset()
	loss, piW, piL := t.minibatchLoss(tp, rows, refW, refL, smoothing)
	lv := float64(loss.Item())
	if math.IsNaN(lv) || math.IsInf(lv, 0) {
		tp.Reset()
		return lv, Stats{}, t.diverged(lv)
	}
	stats := ComputeStats(append([]float32(nil), piW.Data()...), append([]float32(nil), piL.Data()...), refW, refL, t.Config.Beta)
	t.Opt.ZeroGrad()
	tp.Backward(loss)
	tp.Reset()
	if t.Config.ClipNorm > 0 {
		optim.ClipGradNorm(t.Opt.Params, t.Config.ClipNorm)
	}
	t.Opt.Step(float32(t.LR(t.Steps)))
	t.Steps++
	return lv, stats, nil
}

// deviceStep is Step on t.Device: a forward pass for the metrics, then the
// step of the same loss.
func (t *Trainer) deviceStep(rows []seq, refW, refL, smoothing []float32) (float64, Stats, error) {
	n := len(refW)
	lp, err := t.Device.Forward(func(tp *ag.Tape) *ag.Var { return t.policyLogProbs(tp, rows) }) // (2N)
	if err != nil {
		return 0, Stats{}, fmt.Errorf("dpo: step %d: %w", t.Steps, err)
	}
	stats := ComputeStats(lp.Data[:n], lp.Data[n:], refW, refL, t.Config.Beta)
	lv, _, err := t.Device.Step(t.LR(t.Steps), func(tp *ag.Tape) *ag.Var {
		loss, _, _ := t.minibatchLoss(tp, rows, refW, refL, smoothing)
		return loss
	})
	if err != nil {
		return 0, Stats{}, fmt.Errorf("dpo: step %d: %w", t.Steps, err)
	}
	if math.IsNaN(lv) || math.IsInf(lv, 0) {
		return lv, Stats{}, t.diverged(lv)
	}
	t.Steps++
	return lv, stats, nil
}

// SyncPolicy copies the policy's weights from the Device into its host
// tensors (a no-op without a Device).
func (t *Trainer) SyncPolicy() error {
	if t.Device == nil {
		return nil
	}
	if err := t.Device.Sync(nil); err != nil {
		return fmt.Errorf("dpo: copy the policy back from the device: %w", err)
	}
	return nil
}

// diverged is the error of a loss that became lv.
func (t *Trainer) diverged(lv float64) error {
	return fmt.Errorf("dpo: loss became %v at step %d (lower the learning rate?)", lv, t.Steps)
}

// Train runs Config.Epochs passes over the training pairs in shuffled
// minibatches, calling each (if not nil) after every step with the step
// number (1-based), loss and metrics. It stops early with ctx's error or
// each's. With a Device it copies the trained weights into the policy's
// host tensors before it returns, also when it stops early.
func (t *Trainer) Train(ctx context.Context, each func(step int, loss float64, s Stats) error) (err error) {
	defer func() {
		if serr := t.SyncPolicy(); serr != nil && err == nil {
			err = serr
		}
	}()
	order := make([]int, len(t.train))
	for i := range order {
		order[i] = i
	}
	for range t.Config.Epochs {
		t.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for lo := 0; lo < len(order); lo += t.Config.Batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			loss, s, err := t.Step(order[lo:min(lo+t.Config.Batch, len(order))])
			if err != nil {
				return err
			}
			if each != nil {
				if err := each(t.Steps, loss, s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Evaluate returns the loss and metrics of the current policy on the
// held-out pairs (training pairs if there are none), without gradients.
// With a Device the policy's log-probs are computed there, on the weights
// being trained (no SyncPolicy needed), in the fixed-size chunks of the
// reference's pass.
func (t *Trainer) Evaluate() (float64, Stats, error) {
	set := t.val
	if len(set) == 0 {
		set = t.train
	}
	rows, refW, refL, smoothing := rowsOf(set)
	var lp []float32
	if t.Device != nil {
		var err error
		if lp, err = evalLogProbs(t.Device, t.Policy, rows); err != nil {
			return 0, Stats{}, fmt.Errorf("dpo: evaluate: %w", err)
		}
	} else {
		lp = sequenceLogProbs(t.Policy, rows)
	}
	n := len(set)
	piW, piL := lp[:n], lp[n:]
	tp := ag.NewNoGradTape()
	loss := t.loss(tp, rows, ag.Const(tensorOf(piW)), ag.Const(tensorOf(piL)), refW, refL, smoothing).Item()
	return float64(loss), ComputeStats(piW, piL, refW, refL, t.Config.Beta), nil
}

// SampledKL estimates KL(π ‖ π_ref) per completion on the policy's own
// samples: it draws one completion of each prompt from policy at
// temperature 1 (up to maxNew tokens, stopping at end-of-text) and returns
// the mean of log π(y|x) - log π_ref(y|x) summed over the completion's tokens.
func SampledKL(ctx context.Context, policy, ref *gpt.Model, prompts [][]int, maxNew int, seed uint64) (float64, error) {
	if len(prompts) == 0 {
		return 0, fmt.Errorf("dpo: sampled KL on no prompts")
	}
	s, err := policy.Sample(ctx, prompts, gpt.SampleConfig{MaxNewTokens: maxNew, Temperature: 1, StopAtEOS: true, Seed: seed})
	if err != nil {
		return 0, fmt.Errorf("dpo: sampled KL: %w", err)
	}
	lp, err := policy.TokenLogProbs(prompts, s.Tokens)
	if err != nil {
		return 0, fmt.Errorf("dpo: sampled KL: %w", err)
	}
	lr, err := ref.TokenLogProbs(prompts, s.Tokens)
	if err != nil {
		return 0, fmt.Errorf("dpo: sampled KL: %w", err)
	}
	var kl float64
	for i := range lp {
		for j := range lp[i] {
			kl += float64(lp[i][j]) - float64(lr[i][j])
		}
	}
	return kl / float64(len(prompts)), nil
}
