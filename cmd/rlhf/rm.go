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

	"rlhf/ag"
	"rlhf/feedback"
	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/progress"
	"rlhf/report"
	"rlhf/reward"
)

// rmConfig is everything that determines a reward-model run.
type rmConfig struct {
	Data     string  `json:"data"`      // preference JSONL (pairs or best-of-k)
	Init     string  `json:"init"`      // policy checkpoint the trunk starts from
	Out      string  `json:"out"`       // reward model directory
	Epochs   int     `json:"epochs"`    // passes over the training comparisons
	LR       float64 `json:"lr"`        // Adam learning rate
	Batch    int     `json:"batch"`     // comparisons per step
	ValFrac  float64 `json:"val_frac"`  // share of prompts held out
	Eps      float64 `json:"eps"`       // random-answer probability of the choice model
	L2       float64 `json:"l2"`        // L2 penalty on weight matrices
	WD       float64 `json:"wd"`        // AdamW weight decay
	Clip     float64 `json:"clip"`      // global gradient-norm limit
	Seed     uint64  `json:"seed"`      // head initialisation, split, order and bootstrap resample
	SkipBad  bool    `json:"skip_bad"`  // skip malformed lines instead of failing
	LogEvery int     `json:"log_every"` // steps between train/loss lines
	MaxSteps int     `json:"max_steps"` // stop after this many steps (0: all epochs)
	NormSets string  `json:"normalise"` // "data" (all completions in the file) or "none"
	Gold     string  `json:"gold"`      // goal to measure held-out agreement with ("" for none)
	Letter   string  `json:"letter"`    // the lipogram's letter for -gold lipogram
	Device   string  `json:"device"`    // where the training steps run (see -device)
	// Bootstrap replaces the training comparisons, after the held-out split,
	// by as many draws with replacement from them (seeded by Seed); the
	// held-out set is untouched.
	Bootstrap bool `json:"bootstrap"`
	// Soft trains toward each record's confidence (the probability of its
	// chosen completion) where it states one, instead of a hard label.
	Soft bool `json:"soft,omitempty"`
	// Aggregate is how the records of several people that share a query id
	// train: aggregateAll (each record; saved as "") or aggregateVote (the
	// group's consensus, once).
	Aggregate string `json:"aggregate,omitempty"`
}

func (c rmConfig) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("rm: "+format, args...))
		}
	}
	check(c.Data != "", "-data names no preference file")
	check(c.Init != "", "-init names no policy checkpoint")
	check(c.Out != "", "-out names no directory")
	check(c.Epochs >= 0, "-epochs %d must be >= 0", c.Epochs)
	check(c.LR > 0 && !math.IsInf(c.LR, 0), "-lr %g must be positive", c.LR)
	check(c.Batch > 0, "-batch %d must be positive", c.Batch)
	check(c.ValFrac > 0 && c.ValFrac < 1, "-val-frac %g must be in (0, 1)", c.ValFrac)
	check(c.Eps >= 0 && c.Eps < 1, "-eps %g must be in [0, 1)", c.Eps)
	check(c.L2 >= 0 && c.WD >= 0 && c.Clip >= 0, "-l2, -wd and -clip must be >= 0")
	check(c.LogEvery > 0, "-log-every %d must be positive", c.LogEvery)
	check(c.MaxSteps >= 0, "-max-steps %d must be >= 0", c.MaxSteps)
	check(c.NormSets == "data" || c.NormSets == "none", "-normalise %q: want data or none", c.NormSets)
	check(c.Aggregate == "" || c.Aggregate == aggregateAll || c.Aggregate == aggregateVote, "-aggregate %q: want %s or %s", c.Aggregate, aggregateAll, aggregateVote)
	if err := checkDevice(c.Device); err != nil {
		errs = append(errs, fmt.Errorf("rm: %w", err))
	}
	if c.Gold != "" {
		err := checkTextGoal(c.Gold, c.Letter)
		check(err == nil, "-gold: %v", err)
	}
	return errors.Join(errs...)
}

// runRM is `rlhf rm`: train a GPT reward model on a preference file.
func runRM(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rlhf rm -data prefs.jsonl [flags]\n\nTrain a GPT reward model (Ziegler et al. 2019): the trunk starts from a policy checkpoint, a\nscalar head reads the last token of prompt+completion, and the loss is Bradley-Terry on pairs\nor the k-way softmax on best-of-k records (the format is detected). Prompts are split into\ntraining and held-out sets; held-out accuracy is printed and logged as rm/accuracy. The\nrewards are then normalised to mean 0, std 1 on the file's completions (samples of the\nreference policy when the file came from rlhf prefs). -out gets the model (model.safetensors,\nconfig.json, reward.json), metrics.jsonl and summary.json; load it with reward.LoadGPT. With -soft,\nrecords that state a \"confidence\" (rlhf judge writes its own) train toward it instead of a hard label.\nWith -aggregate vote, the records of several people that share a query_id (rlhf serve's export,\nrlhf prefs -overlap) train once, on their consensus.\n\nFlags:")
		fs.PrintDefaults()
	}
	c := rmConfig{}
	fs.StringVar(&c.Data, "data", "", "preference JSONL: TRL pairs or best-of-k records")
	fs.StringVar(&c.Init, "init", defaultPolicy, "policy checkpoint to start the trunk from")
	fs.StringVar(&c.Out, "out", "runs/rm", "directory for the reward model and its metrics")
	fs.IntVar(&c.Epochs, "epochs", 1, "passes over the training comparisons (0: only evaluate -init, which may be a reward model)")
	fs.Float64Var(&c.LR, "lr", 3e-4, "Adam learning rate")
	fs.IntVar(&c.Batch, "batch", 16, "comparisons per optimiser step")
	fs.Float64Var(&c.ValFrac, "val-frac", 0.2, "share of prompts held out for evaluation")
	fs.Float64Var(&c.Eps, "eps", 0, "random-answer probability in the choice model (Christiano et al. use 0.1)")
	fs.Float64Var(&c.L2, "l2", 0, "L2 penalty coefficient on weight matrices")
	fs.Float64Var(&c.WD, "wd", 0, "AdamW weight decay on weight matrices")
	fs.Float64Var(&c.Clip, "clip", 1, "clip the global gradient norm to this (0: no clipping)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the head initialisation, the split and the minibatch order")
	fs.BoolVar(&c.SkipBad, "skip-bad", false, "skip malformed lines (counted) instead of failing on the first")
	fs.IntVar(&c.LogEvery, "log-every", 10, "steps between train/loss lines in metrics.jsonl")
	fs.IntVar(&c.MaxSteps, "max-steps", 0, "stop after this many optimiser steps (0: run every epoch)")
	fs.StringVar(&c.NormSets, "normalise", "data", "fit the reward normaliser on: data (every completion in -data) or none")
	fs.StringVar(&c.Gold, "gold", "", "also report held-out agreement with this goal's own ordering (sentiment, lipogram or rm:DIR): how well the model recovers the truth behind noisy labels")
	fs.StringVar(&c.Letter, "letter", "e", "the letter of -gold lipogram")
	fs.StringVar(&c.Device, "device", deviceCPU, deviceHelp)
	fs.StringVar(&c.Aggregate, "aggregate", aggregateAll, "how the records of several people that share a query_id train: all (each record) or vote\n(once, on the consensus pick of a model of each person's accuracy fitted to how often they agree;\nits probability is the confidence -soft trains toward)")
	fs.BoolVar(&c.Soft, "soft", false, "train toward each record's \"confidence\" (the probability of its chosen completion, as rlhf judge\nwrites it) instead of a hard label; records without one stay hard, held-out metrics stay hard")
	fs.BoolVar(&c.Bootstrap, "bootstrap", false, "train on a bootstrap resample of the training comparisons (as many, drawn with replacement by -seed after the held-out split; the held-out set is unchanged): members of an ensemble that see different labels")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("rm: unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.Aggregate == aggregateAll {
		c.Aggregate = "" // as summary.json held it before answers could be combined
	}
	return trainRM(ctx, c, os.Stderr)
}

// rmSummary is summary.json of a reward-model run.
type rmSummary struct {
	Format        string            `json:"format"`
	Train         int               `json:"train_comparisons"`
	TrainDistinct int               `json:"train_distinct_comparisons,omitempty"` // distinct ones in a -bootstrap resample
	Val           int               `json:"val_comparisons"`
	Skipped       int               `json:"skipped_lines"`
	Steps         int               `json:"steps"`
	ValAccuracy   float64           `json:"val_accuracy"`
	ValLoss       float64           `json:"val_loss"`
	ValMargin     float64           `json:"val_margin"`
	Before        float64           `json:"val_accuracy_before"`
	GoldAcc       *float64          `json:"val_gold_accuracy,omitempty"`
	GoldN         int               `json:"val_gold_comparisons,omitempty"`
	Norm          reward.Normaliser `json:"normaliser"`
	Config        rmConfig          `json:"config"`
	// HostCopies counts the copies of the weights from a device to the host
	// (scoring runs on the device; the weights come back to be saved).
	HostCopies int `json:"host_copies,omitempty"`
}

// tokenComparisons tokenises text comparisons for the reward model.
func tokenComparisons(r *reward.GPTReward, cs []textComparison, eos, soft bool) []reward.TokenComparison {
	out := make([]reward.TokenComparison, len(cs))
	for i, c := range cs {
		tc := reward.TokenComparison{Prompt: r.Tok.Encode(c.Prompt), Choice: feedback.Choice(c.Choice)}
		if soft && c.Confidence != nil {
			tc.Confidence = *c.Confidence
		}
		for _, comp := range c.Completions {
			ids := r.Tok.Encode(comp)
			if eos {
				ids = append(ids, r.Tok.EndOfText())
			}
			tc.Completions = append(tc.Completions, ids)
		}
		out[i] = tc
	}
	return out
}

// trainRM runs one reward-model training and reports to w.
func trainRM(ctx context.Context, c rmConfig, w io.Writer) error {
	if _, err := os.Stat(c.Data); err != nil {
		return fmt.Errorf("rm: read preferences: %w", err)
	}
	dev, err := openDevice(c.Device)
	if err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	r, err := reward.InitGPT(c.Init, c.Seed)
	if err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	cs, format, skipped, err := readPrefs(c.Data, c.SkipBad)
	if err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	if c.Aggregate == aggregateVote {
		if cs, err = voteComparisons(cs, format, "rm", w); err != nil {
			return fmt.Errorf("rm: -aggregate vote: %w", err)
		}
	}
	trainText, valText := splitByPrompt(cs, c.ValFrac, c.Seed)
	if len(trainText) == 0 || len(valText) == 0 {
		return fmt.Errorf("rm: %d comparisons split into %d training and %d held-out; need both (more data or another -val-frac)",
			len(cs), len(trainText), len(valText))
	}
	// A text loop's reward model (rlhf demo's) reads each completion with
	// an end-of-text token after it; training and scoring keep that, and
	// the saved model says so.
	_, err = os.Stat(filepath.Join(c.Init, loop.TextRMEOSFile))
	eos := err == nil
	if c.Soft {
		n := 0
		for i, tc := range trainText {
			if tc.Confidence == nil {
				continue
			}
			if k := len(tc.Completions); *tc.Confidence < 1/float64(k) {
				return fmt.Errorf("rm: -soft: training comparison %d (of those left after the held-out split) states confidence %g in its chosen completion, below 1/%d: it would train toward another", i+1, *tc.Confidence, k)
			}
			n++
		}
		fmt.Fprintf(w, "rm: -soft: %d of %d training comparisons train toward their confidence, the rest toward their choice\n", n, len(trainText))
	}
	trainAll, val := tokenComparisons(r, trainText, eos, c.Soft), tokenComparisons(r, valText, eos, false)
	train, distinct := trainAll, 0
	if c.Bootstrap {
		train, distinct = bootstrapSample(trainAll, c.Seed)
	}
	logger, err := report.NewLogger(c.Out)
	if err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	defer logger.Close()
	if skipped > 0 {
		fmt.Fprintf(w, "rm: skipped %d malformed lines of %s\n", skipped, c.Data)
	}
	fmt.Fprintf(w, "rm: %d %s comparisons (%d training, %d held-out), trunk from %s (%d params) -> %s\n",
		len(cs), format, len(train), len(val), c.Init, r.Model.Config.NumParams(), c.Out)
	if c.Bootstrap {
		fmt.Fprintf(w, "rm: bootstrap resample (seed %d): %d training comparisons drawn with replacement, %d distinct (%.1f%%)\n",
			c.Seed, len(train), distinct, 100*float64(distinct)/float64(len(train)))
	}
	if eos {
		fmt.Fprintf(w, "rm: %s is a text loop's reward model: completions end with the end-of-text token, as it was trained\n", c.Init)
	}

	opt := r.NewOptimizer(float32(c.WD))
	s, err := newStepper(dev, opt, c.Clip)
	if err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	// On a device, scoring (the held-out evaluation after each epoch, the
	// normaliser's pass over every completion, the gold metrics) runs there
	// too, on the weights being trained: the host copy is refreshed only to
	// save the model.
	if !dev.onCPU() {
		r.Device = policyDevice{s}
	}
	eval := func(step int) (reward.Metrics, error) {
		m, err := r.Evaluate(val, c.Eps)
		if err != nil {
			return m, fmt.Errorf("rm: %w", err)
		}
		return m, logger.Log(step, m.Map("rm"))
	}
	before, err := eval(0)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "rm: before training: held-out accuracy %.3f, loss %.4f\n", before.Accuracy, before.Loss)

	sc := reward.StepConfig{LR: float32(c.LR), Eps: float32(c.Eps), L2: float32(c.L2), ClipNorm: c.Clip}
	tp := ag.NewTape()
	rng := rand.New(rand.NewPCG(c.Seed, 0x77))
	steps := c.Epochs * ((len(train) + c.Batch - 1) / c.Batch)
	if c.MaxSteps > 0 {
		steps = min(steps, c.MaxSteps)
	}
	bar := progress.New(w, steps, "rm")
	step := 0
	var lossSum float64
	var lossN int
	var last reward.Metrics
train:
	for epoch := range c.Epochs {
		rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
		for lo := 0; lo < len(train); lo += c.Batch {
			if err := ctx.Err(); err != nil {
				bar.Finish()
				return fmt.Errorf("rm: interrupted at step %d: %w", step, err)
			}
			if step >= steps {
				break train
			}
			batch := train[lo:min(lo+c.Batch, len(train))]
			var loss float64
			if dev.onCPU() {
				loss, err = r.TrainStep(tp, opt, batch, sc)
			} else {
				loss, err = rmDeviceStep(s, r, batch, sc)
			}
			if err != nil {
				return fmt.Errorf("rm: %w", err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return fmt.Errorf("rm: loss became %v at step %d (lower -lr?)", loss, step)
			}
			step++
			lossSum += loss
			lossN++
			bar.SetStatus(fmt.Sprintf("epoch %d loss %.4f", epoch+1, loss))
			bar.Add(1)
			if step%c.LogEvery == 0 {
				if err := logger.Log(step, map[string]float64{"train/loss": lossSum / float64(lossN), "train/epoch": float64(epoch + 1)}); err != nil {
					return err
				}
				lossSum, lossN = 0, 0
			}
		}
		if last, err = eval(step); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nrm: epoch %d: held-out accuracy %.3f, loss %.4f, margin %.3f\n", epoch+1, last.Accuracy, last.Loss, last.Margin)
	}
	bar.Finish()
	if c.Epochs == 0 {
		last = before
	} else if step < c.Epochs*((len(train)+c.Batch-1)/c.Batch) { // stopped by -max-steps inside an epoch
		if last, err = eval(step); err != nil {
			return err
		}
	}
	if err := s.syncParams(); err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	if c.NormSets == "data" {
		var ps, comps [][]int
		// The file's completions, each once: a bootstrap resample's repeats
		// do not weigh the normaliser.
		for _, set := range [][]reward.TokenComparison{trainAll, val} {
			for _, tc := range set {
				for _, comp := range tc.Completions {
					ps = append(ps, tc.Prompt)
					comps = append(comps, comp)
				}
			}
		}
		if err := r.Normalise(ps, comps); err != nil {
			return fmt.Errorf("rm: %w", err)
		}
	}
	save := r.Save
	if eos {
		save = func(dir string) error { return loop.SaveTextRM(loop.TextRM{GPTReward: r}, dir) }
	}
	if err := save(c.Out); err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	sum := rmSummary{Format: format, Train: len(train), TrainDistinct: distinct, Val: len(val), Skipped: skipped, Steps: step,
		ValAccuracy: last.Accuracy, ValLoss: last.Loss, ValMargin: last.Margin, Before: before.Accuracy, Norm: r.Norm, Config: c,
		HostCopies: s.syncs}
	if c.Gold != "" {
		goal, err := textGoal(c.Gold, c.Letter)
		if err != nil {
			return fmt.Errorf("rm: -gold: %w", err)
		}
		gm, err := goldMetrics(r, valText, val, goal)
		if err != nil {
			return fmt.Errorf("rm: %w", err)
		}
		if err := logger.Log(step, map[string]float64{"rm/gold_accuracy": gm.Accuracy}); err != nil {
			return err
		}
		sum.GoldAcc, sum.GoldN = &gm.Accuracy, gm.Decided
		fmt.Fprintf(w, "rm: held-out agreement with the %s goal's own ordering: %.3f (%d comparisons without a goal tie)\n", goalLabel(c.Gold, c.Letter), gm.Accuracy, gm.Decided)
	}
	js, _ := json.MarshalIndent(sum, "", "  ")
	if err := os.WriteFile(filepath.Join(c.Out, "summary.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	fmt.Fprintf(w, "rm: held-out accuracy %.3f (%d comparisons; %.3f before training), loss %.4f; normaliser gain %.4g bias %.4g on %d completions; saved to %s\n",
		last.Accuracy, len(val), before.Accuracy, last.Loss, r.Norm.Gain, r.Norm.Bias, r.Norm.Samples, c.Out)
	return nil
}

// bootstrapSample returns len(train) draws with replacement from train, by
// a generator seeded with seed (a stream of its own: the minibatch order's
// generator is not disturbed), and how many distinct elements it holds.
// The same seed gives the same draws.
func bootstrapSample[T any](train []T, seed uint64) (sample []T, distinct int) {
	rng := rand.New(rand.NewPCG(seed, 0xb0075)) // stream 0xb0075: bootstrap
	seen := make([]bool, len(train))
	sample = make([]T, len(train))
	for i := range sample {
		k := rng.IntN(len(train))
		sample[i] = train[k]
		if !seen[k] {
			seen[k] = true
			distinct++
		}
	}
	return sample, distinct
}

// rmDeviceStep takes one reward-model step on a device: the loss of
// reward.TrainStep (the comparison-weighted mean preference loss over the
// groups, plus the L2 penalty) through s. Sequences are padded to a bucket
// length so that a device compiles one step per bucket. The loss it returns
// includes the L2 penalty when sc.L2 > 0 (reward.TrainStep's does not).
func rmDeviceStep(s *stepper, r *reward.GPTReward, cs []reward.TokenComparison, sc reward.StepConfig) (float64, error) {
	groups, err := r.Groups(cs)
	if err != nil {
		return 0, err
	}
	total := 0
	for i, g := range groups {
		total += g.Targets.Shape[0]
		groups[i].Batch = padTokenBatch(g.Batch, bucketLen(g.Batch.T, r.Model.Config.NPositions))
	}
	net := r.Net()
	loss := func(tp *ag.Tape) *ag.Var {
		var loss *ag.Var
		for _, g := range groups {
			l, _ := reward.ComparisonLoss(tp, net, g.Batch, g.Targets, sc.Eps)
			l = tp.Scale(l, float32(g.Targets.Shape[0])/float32(total))
			if loss == nil {
				loss = l
			} else {
				loss = tp.Add(loss, l)
			}
		}
		if sc.L2 > 0 {
			loss = tp.Add(loss, reward.L2Penalty(tp, net.Params(), sc.L2))
		}
		return loss // (1)
	}
	l, _, err := s.step(float64(sc.LR), loss)
	return l, err
}

// padTokenBatch returns b right-padded to t >= b.T columns; the rows'
// lengths are unchanged, so every score is the same.
func padTokenBatch(b reward.TokenBatch, t int) reward.TokenBatch {
	b.IDs, b.T = gpt.PadTo(b.IDs, b.N, b.T, t)
	return b
}

// goldMetrics evaluates the reward model against the goal's own choice on
// each comparison (its best-scoring completion), skipping comparisons where
// the goal ties for the best.
func goldMetrics(r *reward.GPTReward, text []textComparison, toks []reward.TokenComparison, goal reward.TextScorer) (reward.Metrics, error) {
	var cs []reward.TokenComparison
	for i, c := range text {
		best, tie := 0, false
		prompts := make([]string, len(c.Completions))
		for j := range prompts {
			prompts[j] = c.Prompt
		}
		scores, err := loop.GoalScores(goal, prompts, c.Completions)
		if err != nil {
			return reward.Metrics{}, fmt.Errorf("gold of comparison %d: %w", i, err)
		}
		for j := range c.Completions {
			if scores[j] > scores[best] {
				best = j
			}
		}
		for j, v := range scores {
			if j != best && v == scores[best] {
				tie = true
			}
		}
		if !tie {
			tc := toks[i]
			tc.Choice = feedback.Choice(best)
			cs = append(cs, tc)
		}
	}
	return r.Evaluate(cs, 0)
}
