package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"rlhf/ag"
	"rlhf/dpo"
	"rlhf/model/gpt"
	"rlhf/optim"
	"rlhf/progress"
	"rlhf/report"
	"rlhf/reward"
	"rlhf/tensor"
)

// dpoRun holds the command's settings beside dpo.Config.
type dpoRun struct {
	Data      string     `json:"data"`       // preference JSONL
	Policy    string     `json:"policy"`     // starting (and reference) checkpoint
	Out       string     `json:"out"`        // directory for the new checkpoint
	ValFrac   float64    `json:"val_frac"`   // share of prompts held out
	SkipBad   bool       `json:"skip_bad"`   // skip malformed lines
	KLPrompts int        `json:"kl_prompts"` // held-out prompts for the sampled KL (0: none)
	KLTokens  int        `json:"kl_tokens"`  // new tokens per KL sample
	LogEvery  int        `json:"log_every"`  // steps between metrics lines
	Device    string     `json:"device"`     // where the training steps run (see -device)
	Config    dpo.Config `json:"config"`
}

// runDPO is `rlhf dpo`: fine-tune a policy on preference pairs with DPO or IPO.
func runDPO(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dpo", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rlhf dpo -data prefs.jsonl [flags]\n\nFine-tune a policy directly on preferences with DPO (Rafailov et al. 2023) or IPO (Azar et al.\n2023), the starting checkpoint serving as the frozen reference. Best-of-k records give the\nchosen completion against each other one. -out gets the new checkpoint (model.safetensors,\nconfig.json), metrics.jsonl (TRL names: rewards/chosen, rewards/rejected, rewards/accuracies,\nrewards/margins, and eval/ on held-out prompts) and summary.json.\n\nFlags:")
		fs.PrintDefaults()
	}
	c := dpo.DefaultConfig()
	run := dpoRun{}
	fs.StringVar(&run.Data, "data", "", "preference JSONL: TRL pairs or best-of-k records")
	fs.StringVar(&run.Policy, "policy", defaultPolicy, "policy checkpoint to start from; also the reference model")
	fs.StringVar(&run.Out, "out", "runs/dpo", "directory for the fine-tuned checkpoint and metrics")
	fs.Float64Var(&run.ValFrac, "val-frac", 0.1, "share of prompts held out for evaluation (0: none)")
	fs.BoolVar(&run.SkipBad, "skip-bad", false, "skip malformed lines (counted) instead of failing on the first")
	fs.IntVar(&run.KLPrompts, "kl-prompts", 32, "held-out prompts on which to estimate KL(policy || reference) from samples at the end (0: skip)")
	fs.IntVar(&run.KLTokens, "kl-tokens", 24, "new tokens per KL sample")
	fs.IntVar(&run.LogEvery, "log-every", 5, "steps between metrics lines")
	fs.StringVar(&run.Device, "device", deviceCPU, deviceHelp)
	fs.StringVar(&c.Loss, "loss", c.Loss, "loss: sigmoid (DPO) or ipo")
	fs.Float64Var(&c.Beta, "beta", c.Beta, "DPO's beta (KL strength); IPO's tau")
	fs.Float64Var(&c.LabelSmoothing, "label-smoothing", c.LabelSmoothing, "probability that a label is flipped (conservative DPO)")
	fs.Float64Var(&c.LR, "lr", c.LR, "Adam learning rate after warm-up")
	fs.IntVar(&c.Warmup, "warmup", c.Warmup, "linear learning-rate warm-up steps")
	fs.IntVar(&c.Batch, "batch", c.Batch, "pairs per optimiser step")
	fs.IntVar(&c.Epochs, "epochs", c.Epochs, "passes over the training pairs")
	fs.Float64Var(&c.ClipNorm, "clip", c.ClipNorm, "clip the global gradient norm to this (0: no clipping)")
	fs.Float64Var(&c.WeightDecay, "wd", c.WeightDecay, "AdamW weight decay on weight matrices")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the split, the minibatch order and the KL samples")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dpo: unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	run.Config = c
	var errs []error
	if run.Data == "" {
		errs = append(errs, errors.New("dpo: -data names no preference file"))
	}
	if run.Out == "" {
		errs = append(errs, errors.New("dpo: -out names no directory"))
	}
	if !(run.ValFrac >= 0 && run.ValFrac < 1) {
		errs = append(errs, fmt.Errorf("dpo: -val-frac %g must be in [0, 1)", run.ValFrac))
	}
	if run.KLPrompts < 0 || run.KLTokens <= 0 || run.LogEvery <= 0 {
		errs = append(errs, errors.New("dpo: -kl-prompts must be >= 0, -kl-tokens and -log-every positive"))
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := checkDevice(run.Device); err != nil {
		errs = append(errs, fmt.Errorf("dpo: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return trainDPO(ctx, run, os.Stderr)
}

// pairsOf turns text comparisons into token pairs: the chosen completion
// against each other one.
func pairsOf(tokenize func(string) []int, cs []textComparison) []dpo.Pair {
	var out []dpo.Pair
	for _, c := range cs {
		p := tokenize(c.Prompt)
		w := tokenize(c.Completions[c.Choice])
		for i, comp := range c.Completions {
			if i != c.Choice {
				out = append(out, dpo.Pair{Prompt: p, Chosen: w, Rejected: tokenize(comp)})
			}
		}
	}
	return out
}

// trainDPO runs DPO training and reports to w.
func trainDPO(ctx context.Context, run dpoRun, w io.Writer) error {
	dev, err := openDevice(run.Device)
	if err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	cs, format, skipped, err := readPrefs(run.Data, run.SkipBad)
	if err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	trainText, valText := cs, []textComparison(nil)
	if run.ValFrac > 0 {
		trainText, valText = splitByPrompt(cs, run.ValFrac, run.Config.Seed)
	}
	if len(trainText) == 0 {
		return fmt.Errorf("dpo: no training comparisons left after holding out %g of %d", run.ValFrac, len(cs))
	}
	policy, tok, err := loadPolicy(run.Policy)
	if err != nil {
		return fmt.Errorf("dpo: policy: %w", err)
	}
	ref, _, err := loadPolicy(run.Policy)
	if err != nil {
		return fmt.Errorf("dpo: reference: %w", err)
	}
	train, val := pairsOf(tok.Encode, trainText), pairsOf(tok.Encode, valText)
	fmt.Fprintf(w, "dpo: %d %s records -> %d training and %d held-out pairs; %s loss, beta %g, lr %g, batch %d, %d epochs; policy %s -> %s\n",
		len(cs), format, len(train), len(val), run.Config.Loss, run.Config.Beta, run.Config.LR, run.Config.Batch, run.Config.Epochs, run.Policy, run.Out)
	if skipped > 0 {
		fmt.Fprintf(w, "dpo: skipped %d malformed lines of %s\n", skipped, run.Data)
	}
	// On a device, the reference's log-probs are computed once on the CPU
	// engine and the policy's steps run on the device.
	var tr interface {
		TotalSteps() int
		LR(step int) float64
		Train(ctx context.Context, each func(step int, loss float64, s dpo.Stats) error) error
		Evaluate() (float64, dpo.Stats)
	}
	if dev.onCPU() {
		tr, err = dpo.NewTrainer(run.Config, policy, ref, train, val)
	} else {
		tr, err = newDPODevice(dev, run.Config, policy, ref, train, val)
	}
	if err != nil {
		return err
	}
	steps := 0 // optimiser steps taken
	logger, err := report.NewLogger(run.Out)
	if err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	defer logger.Close()
	bar := progress.New(w, tr.TotalSteps(), "dpo")
	var acc dpo.Stats
	var lossSum float64
	n := 0
	err = tr.Train(ctx, func(step int, loss float64, s dpo.Stats) error {
		steps = step
		bar.SetStatus(fmt.Sprintf("loss %.4f acc %.2f margin %.3f", loss, s.Accuracy, s.Margin))
		bar.Add(1)
		lossSum += loss
		acc.Chosen += s.Chosen
		acc.Rejected += s.Rejected
		acc.Accuracy += s.Accuracy
		acc.Margin += s.Margin
		acc.LogPChosen += s.LogPChosen
		acc.LogPReject += s.LogPReject
		acc.KL += s.KL
		n++
		if step%run.LogEvery == 0 || step == tr.TotalSteps() {
			k := float64(n)
			mean := dpo.Stats{Chosen: acc.Chosen / k, Rejected: acc.Rejected / k, Accuracy: acc.Accuracy / k, Margin: acc.Margin / k,
				LogPChosen: acc.LogPChosen / k, LogPReject: acc.LogPReject / k, KL: acc.KL / k}
			m := mean.Map("")
			m["loss"] = lossSum / k
			m["lr"] = tr.LR(step - 1)
			acc, lossSum, n = dpo.Stats{}, 0, 0
			return logger.Log(step, m)
		}
		return nil
	})
	bar.Finish()
	if err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	evalLoss, ev := tr.Evaluate()
	m := ev.Map("eval/")
	m["eval/loss"] = evalLoss
	summary := map[string]any{"steps": steps, "train_pairs": len(train), "val_pairs": len(val), "eval_loss": evalLoss,
		"eval_accuracy": ev.Accuracy, "eval_margin": ev.Margin, "eval_kl_implicit": ev.KL, "run": run}
	if run.KLPrompts > 0 {
		var prompts [][]int
		src := valText
		if len(src) == 0 {
			src = trainText
		}
		for i := 0; i < len(src) && len(prompts) < run.KLPrompts; i++ {
			prompts = append(prompts, encodePrompt(tok, policy.Config, src[i].Prompt, run.KLTokens))
		}
		kl, err := dpo.SampledKL(ctx, policy, ref, prompts, run.KLTokens, run.Config.Seed)
		if err != nil {
			return fmt.Errorf("dpo: %w", err)
		}
		m["objective/kl"] = kl
		summary["sampled_kl"] = kl
	}
	if err := logger.Log(steps, m); err != nil {
		return err
	}
	if err := policy.Save(run.Out); err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	js, _ := json.MarshalIndent(summary, "", "  ")
	if err := os.WriteFile(filepath.Join(run.Out, "summary.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	fmt.Fprintf(w, "dpo: %d steps; held-out (%d pairs) loss %.4f, reward accuracy %.3f, margin %.4f, implicit KL %.3f",
		steps, len(val), evalLoss, ev.Accuracy, ev.Margin, ev.KL)
	if kl, ok := m["objective/kl"]; ok {
		fmt.Fprintf(w, ", sampled KL %.3f nats", kl)
	}
	fmt.Fprintf(w, "; checkpoint in %s\n", run.Out)
	return nil
}

// dpoDevice is DPO or IPO training with the optimiser step on a device: the
// same loss (dpo.Loss of the policy's summed completion log-probs against the
// reference's) traced through an xla.Trainer. The frozen reference's
// log-probs are computed once on the CPU engine and passed to each step as
// data. Pairs are laid out and shuffled as dpo.Trainer does, so that a run
// on a device follows the CPU run's batches. It has dpo.Trainer's methods
// that trainDPO uses.
type dpoDevice struct {
	cfg        dpo.Config
	policy     *gpt.Model
	s          *stepper
	train, val []dpoPair
	rng        *rand.Rand
	steps      int
}

// dpoRow is one prompt+completion row: ids, and the index of the first
// completion token.
type dpoRow struct {
	ids   []int
	start int
}

// dpoPair is a pair laid out for training with the reference's summed
// log-probs of its two completions.
type dpoPair struct {
	w, l       dpoRow
	refW, refL float32
}

// dpoLayout lays out a prompt and completion as dpo.Trainer does: an empty
// prompt or completion becomes the end-of-text token, a completion is cut to
// the positions less one, then the prompt from the left to fit.
func dpoLayout(cfg gpt.Config, prompt, completion []int) (dpoRow, error) {
	for _, part := range [][]int{prompt, completion} {
		for _, id := range part {
			if id < 0 || id >= cfg.VocabSize {
				return dpoRow{}, fmt.Errorf("token id %d outside the vocabulary of %d", id, cfg.VocabSize)
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
	completion = completion[:min(len(completion), p-1)]
	if keep := p - len(completion); len(prompt) > keep {
		prompt = prompt[len(prompt)-keep:]
	}
	return dpoRow{ids: slices.Concat(prompt, completion), start: len(prompt)}, nil
}

// dpoLogProbs returns each row's summed log-probability of its completion
// under m: (B). Rows are right-padded to a bucket length (padding is masked
// out), so that a device compiles one executable per bucket.
func dpoLogProbs(tp *ag.Tape, m *gpt.Model, rows []dpoRow) *ag.Var {
	raw := make([][]int, len(rows))
	for i, r := range rows {
		raw[i] = r.ids
	}
	ids, t, lens := gpt.PadRight(raw)
	if bt := bucketLen(t, m.Config.NPositions); bt > t {
		ids, t = padTokenBatch(reward.TokenBatch{IDs: ids, N: len(rows), T: t, Lens: lens}, bt).IDs, bt
	}
	mask := make([]float32, len(ids)) // (B, T): 1 on completion tokens
	for i, r := range rows {
		for j := r.start; j < lens[i]; j++ {
			mask[i*t+j] = 1
		}
	}
	return tp.Sum(m.LogProbs(tp, ids, len(rows), t, mask), 1, false) // (B)
}

// dpoCPULogProbs evaluates dpoLogProbs on the CPU engine without gradients,
// in chunks of 32 rows.
func dpoCPULogProbs(m *gpt.Model, rows []dpoRow) []float32 {
	out := make([]float32, 0, len(rows))
	tp := ag.NewNoGradTape()
	for lo := 0; lo < len(rows); lo += 32 {
		out = append(out, dpoLogProbs(tp, m, rows[lo:min(lo+32, len(rows))]).Data()...)
		tp.Reset()
	}
	return out
}

// dpoPrepare lays pairs out and computes the reference's log-probs.
func dpoPrepare(ref *gpt.Model, pairs []dpo.Pair, what string) ([]dpoPair, error) {
	out := make([]dpoPair, len(pairs))
	rows := make([]dpoRow, 0, 2*len(pairs))
	for i, p := range pairs {
		w, err := dpoLayout(ref.Config, p.Prompt, p.Chosen)
		if err != nil {
			return nil, fmt.Errorf("dpo: %s pair %d chosen: %w", what, i, err)
		}
		l, err := dpoLayout(ref.Config, p.Prompt, p.Rejected)
		if err != nil {
			return nil, fmt.Errorf("dpo: %s pair %d rejected: %w", what, i, err)
		}
		out[i].w, out[i].l = w, l
		rows = append(rows, w, l)
	}
	lp := dpoCPULogProbs(ref, rows)
	for i := range out {
		out[i].refW, out[i].refL = lp[2*i], lp[2*i+1]
	}
	return out, nil
}

// newDPODevice prepares DPO of policy against ref on dev.
func newDPODevice(dev *trainDevice, c dpo.Config, policy, ref *gpt.Model, train, val []dpo.Pair) (*dpoDevice, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(train) == 0 {
		return nil, errors.New("dpo: no training pairs")
	}
	t := &dpoDevice{cfg: c, policy: policy, rng: rand.New(rand.NewPCG(c.Seed, 0xd90))} // dpo.Trainer's stream
	var err error
	if t.train, err = dpoPrepare(ref, train, "training"); err != nil {
		return nil, err
	}
	if t.val, err = dpoPrepare(ref, val, "held-out"); err != nil {
		return nil, err
	}
	opt := optim.NewAdamW(policy.Params(), optim.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		WeightDecay: float32(c.WeightDecay), NoDecay: optim.MatricesOnly})
	if t.s, err = newStepper(dev, opt, c.ClipNorm); err != nil {
		return nil, fmt.Errorf("dpo: %w", err)
	}
	return t, nil
}

// TotalSteps returns the optimiser steps of the whole run.
func (t *dpoDevice) TotalSteps() int {
	return t.cfg.Epochs * ((len(t.train) + t.cfg.Batch - 1) / t.cfg.Batch)
}

// LR returns the learning rate of step (0-based): linear warm-up, then
// constant, as in dpo.Trainer.
func (t *dpoDevice) LR(step int) float64 {
	if w := t.cfg.Warmup; w > 0 && step < w {
		return t.cfg.LR * float64(step+1) / float64(w)
	}
	return t.cfg.LR
}

// rows returns the chosen rows of batch then the rejected ones, and the
// reference log-probs of each side.
func dpoRowsOf(batch []dpoPair) (rows []dpoRow, refW, refL []float32) {
	n := len(batch)
	rows = make([]dpoRow, 2*n)
	refW, refL = make([]float32, n), make([]float32, n)
	for i, p := range batch {
		rows[i], rows[n+i] = p.w, p.l
		refW[i], refL[i] = p.refW, p.refL
	}
	return rows, refW, refL
}

// step takes one optimiser step on batch and returns its loss and the
// metrics of the policy before the update.
func (t *dpoDevice) step(batch []dpoPair) (float64, dpo.Stats, error) {
	rows, refW, refL := dpoRowsOf(batch)
	n := len(batch)
	lp, err := t.s.forward(func(tp *ag.Tape) *ag.Var { return dpoLogProbs(tp, t.policy, rows) })
	if err != nil {
		return 0, dpo.Stats{}, err
	}
	stats := dpo.ComputeStats(lp.Data[:n], lp.Data[n:], refW, refL, t.cfg.Beta)
	loss, _, err := t.s.step(t.LR(t.steps), func(tp *ag.Tape) *ag.Var {
		lp := dpoLogProbs(tp, t.policy, rows) // (2N): chosen then rejected
		return dpo.Loss(tp, t.cfg, tp.Slice(lp, 0, 0, n), tp.Slice(lp, 0, n, 2*n), refW, refL)
	})
	if err != nil {
		return 0, dpo.Stats{}, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, dpo.Stats{}, fmt.Errorf("dpo: loss became %v at step %d (lower the learning rate?)", loss, t.steps)
	}
	t.steps++
	return loss, stats, nil
}

// Train runs the epochs as dpo.Trainer.Train does and leaves the trained
// weights in the policy's host tensors (also when it stops early).
func (t *dpoDevice) Train(ctx context.Context, each func(step int, loss float64, s dpo.Stats) error) (err error) {
	defer func() {
		if serr := t.s.syncParams(); serr != nil && err == nil {
			err = serr
		}
	}()
	order := make([]int, len(t.train))
	for i := range order {
		order[i] = i
	}
	batch := make([]dpoPair, 0, t.cfg.Batch)
	for range t.cfg.Epochs {
		t.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for lo := 0; lo < len(order); lo += t.cfg.Batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			batch = batch[:0]
			for _, j := range order[lo:min(lo+t.cfg.Batch, len(order))] {
				batch = append(batch, t.train[j])
			}
			loss, s, err := t.step(batch)
			if err != nil {
				return err
			}
			if each != nil {
				if err := each(t.steps, loss, s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Evaluate returns the loss and metrics of the policy on the held-out pairs
// (training pairs if there are none) on the CPU engine; call it after Train.
func (t *dpoDevice) Evaluate() (float64, dpo.Stats) {
	set := t.val
	if len(set) == 0 {
		set = t.train
	}
	rows, refW, refL := dpoRowsOf(set)
	lp := dpoCPULogProbs(t.policy, rows)
	n := len(set)
	tp := ag.NewNoGradTape()
	piW, piL := lp[:n], lp[n:]
	loss := dpo.Loss(tp, t.cfg, ag.Const(tensor.FromSlice(piW, n)), ag.Const(tensor.FromSlice(piL, n)), refW, refL).Item()
	return float64(loss), dpo.ComputeStats(piW, piL, refW, refL, t.cfg.Beta)
}
