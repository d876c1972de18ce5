package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"rlhf/dpo"
	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/progress"
	"rlhf/report"
)

// dpoRun holds the command's settings beside dpo.Config.
type dpoRun struct {
	Data      string     `json:"data"`          // preference JSONL
	Policy    string     `json:"policy"`        // starting checkpoint (and the reference without Ref)
	Ref       string     `json:"ref,omitempty"` // reference checkpoint ("": Policy)
	Out       string     `json:"out"`           // directory for the new checkpoint
	ValFrac   float64    `json:"val_frac"`      // share of prompts held out
	SkipBad   bool       `json:"skip_bad"`      // skip malformed lines
	KLPrompts int        `json:"kl_prompts"`    // held-out prompts for the sampled KL (0: none)
	KLTokens  int        `json:"kl_tokens"`     // new tokens per KL sample
	LogEvery  int        `json:"log_every"`     // steps between metrics lines
	Device    string     `json:"device"`        // where the training steps run (see -device)
	Config    dpo.Config `json:"config"`
	Online    onlineDPO  `json:"online,omitzero"`
	// Soft trains each pair that states a confidence c (an AI judge's)
	// toward it: label smoothing 1 - c for that pair.
	Soft bool `json:"soft,omitempty"`
	// Aggregate is how several people's answers to a group train:
	// aggregateAll (each answer; saved as "" so that earlier runs continue)
	// or aggregateVote (the group's consensus, once): on -data's records
	// that share a query id, or on each online round's answers.
	Aggregate string `json:"aggregate,omitempty"`
}

// onlineDPO holds the settings of `rlhf dpo -online`: rounds of
// preferences on the policy being trained's own samples, each followed by
// DPO on them. The preferences come from a reward model (best against
// worst, as rlhf bon -pairs) or from people through the label store,
// helped by an AI judge that answers what it is sure of.
type onlineDPO struct {
	Rounds  int    `json:"rounds,omitempty"`  // 0: offline, on -data
	Reward  string `json:"reward,omitempty"`  // what picks best and worst (a goal spec or reward model directory)
	Goal    string `json:"goal,omitempty"`    // the gold goal reported beside it
	N       int    `json:"n,omitempty"`       // completions per prompt
	Prompts int    `json:"prompts,omitempty"` // train prompts per round
	// People: with Labeler loop.LabelerHuman, people answer through the
	// label store DB (password hidden in online.json), Overlap of them per
	// group, polled every Poll; with a judge, it answers the groups it is
	// sure of and people the rest.
	Labeler      string        `json:"labeler,omitempty"`
	DB           string        `json:"db,omitempty"`
	Instructions string        `json:"instructions,omitempty"`
	Overlap      int           `json:"overlap,omitempty"`
	Poll         time.Duration `json:"-"`
	judgeSpec
}

// refDir is the reference checkpoint: -ref, else the starting one.
func (r dpoRun) refDir() string {
	if r.Ref != "" {
		return r.Ref
	}
	return r.Policy
}

// runDPO is `rlhf dpo`: fine-tune a policy on preference pairs with DPO or IPO.
func runDPO(ctx context.Context, args []string) error {
	return dpoMain(ctx, args, os.Stderr)
}

// dpoMain is runDPO reporting to stderr.
func dpoMain(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("dpo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rlhf dpo -data prefs.jsonl [flags]\n       rlhf dpo -online ROUNDS -reward RM_DIR [flags]\n       rlhf dpo -online ROUNDS -labeler human [-judge RM_DIR] [flags]\n\nFine-tune a policy directly on preferences with DPO (Rafailov et al. 2023) or IPO (Azar et al.\n2023), the starting checkpoint (or -ref) serving as the frozen reference. Best-of-k records give the\nchosen completion against each other one. -out gets the new checkpoint (model.safetensors,\nconfig.json), metrics.jsonl (TRL names: rewards/chosen, rewards/rejected, rewards/accuracies,\nrewards/margins, and eval/ on held-out prompts) and summary.json.\n\nWith -online R, the preferences come from the policy being trained (online DPO): each of R rounds\nsamples -online-n completions of -online-prompts train prompts from the latest policy, pairs the\nbest with the worst under -reward (as rlhf bon -pairs) and trains -epochs of DPO on the pairs\nagainst the starting checkpoint; round r writes its pairs, checkpoint and metrics to -out/round<r>.\nRunning the command again with the same flags (-online may grow) continues after the last\nfinished round.\n\nWith -labeler human instead of -reward, people compare each round's samples through the labeling\napp (rlhf serve -db ...; one store run for all rounds, named after -out) and every answer trains\n(ties and can't-tell are counted, not trained on); the round trains when all groups are answered.\nWith -overlap K >= 2, K people answer each group and each round fits each person's accuracy from how\noften they agree (round<r>/people.json); -aggregate vote trains each group once, on their consensus.\nWith -judge, an AI judge (a reward model, as rlhf judge -model) answers the groups it is sure of\n(-abstain) and people only the rest; -audit F sends a share F of its answers to people too and\nreports how often they agree, and -judge-recalibrate refits its temperature before each round on\npeople's earlier answers (-people-error: how often people themselves are wrong). Interrupt at any\ntime: the same command asks nothing twice.\n\nFlags:")
		fs.PrintDefaults()
	}
	c := dpo.DefaultConfig()
	run := dpoRun{}
	fs.StringVar(&run.Data, "data", "", "preference JSONL: TRL pairs or best-of-k records")
	fs.StringVar(&run.Policy, "policy", defaultPolicy, "policy checkpoint to start from; also the reference model unless -ref names one")
	fs.StringVar(&run.Ref, "ref", "", "reference checkpoint (default: -policy), e.g. the pretrained model when -policy continues\nan earlier round of online DPO (rlhf bon -pairs on the policy's own samples, then rlhf dpo)")
	fs.StringVar(&run.Out, "out", "runs/dpo", "directory for the fine-tuned checkpoint and metrics")
	fs.Float64Var(&run.ValFrac, "val-frac", 0.1, "share of prompts held out for evaluation (0: none)")
	fs.BoolVar(&run.SkipBad, "skip-bad", false, "skip malformed lines (counted) instead of failing on the first")
	fs.IntVar(&run.KLPrompts, "kl-prompts", 32, "held-out prompts on which to estimate KL(policy || reference) from samples at the end (0: skip)")
	fs.IntVar(&run.KLTokens, "kl-tokens", 24, "new tokens per KL sample (with -online also per sampled completion)")
	fs.IntVar(&run.LogEvery, "log-every", 5, "steps between metrics lines")
	fs.StringVar(&run.Device, "device", deviceCPU, deviceHelp)
	fs.StringVar(&c.Loss, "loss", c.Loss, "loss: sigmoid (DPO), ipo, or sft (fine-tuning on the chosen completions alone, the\nPreferred-FT baseline; -beta then only scales the reported implicit rewards)")
	fs.Float64Var(&c.Beta, "beta", c.Beta, "DPO's beta (KL strength); IPO's tau")
	fs.Float64Var(&c.LabelSmoothing, "label-smoothing", c.LabelSmoothing, "probability that a label is flipped (conservative DPO)")
	fs.BoolVar(&run.Soft, "soft", false, "train each pair that states a \"confidence\" c (an AI judge's, as rlhf judge and the online judge\nwrite it) toward it: label smoothing 1 - c for that pair; held-out metrics stay hard")
	fs.Float64Var(&c.LR, "lr", c.LR, "Adam learning rate after warm-up")
	fs.IntVar(&c.Warmup, "warmup", c.Warmup, "linear learning-rate warm-up steps")
	fs.IntVar(&c.Batch, "batch", c.Batch, "pairs per optimiser step")
	fs.IntVar(&c.Epochs, "epochs", c.Epochs, "passes over the training pairs")
	fs.Float64Var(&c.ClipNorm, "clip", c.ClipNorm, "clip the global gradient norm to this (0: no clipping)")
	fs.Float64Var(&c.WeightDecay, "wd", c.WeightDecay, "AdamW weight decay on weight matrices")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the split, the minibatch order and the KL samples")
	fs.IntVar(&run.Online.Rounds, "online", 0, "rounds of online DPO on the policy's own samples instead of -data (0: offline)")
	fs.StringVar(&run.Online.Reward, "reward", "", "with -online: what picks the best and the worst sample, a reward model directory (rlhf rm -out)\nor rm:DIR, an ensemble ens:MODE:DIR1,DIR2,..., sentiment or lipogram")
	fs.StringVar(&run.Online.Goal, "goal", "sentiment", "with -online: the gold goal reported beside the reward each round (sentiment, lipogram or rm:DIR)")
	fs.IntVar(&run.Online.N, "online-n", 4, "with -online: completions sampled per prompt")
	fs.IntVar(&run.Online.Prompts, "online-prompts", 1000, "with -online: train prompts sampled per round")
	fs.StringVar(&run.Online.Labeler, "labeler", "", "with -online, instead of -reward: human, people compare each round's samples through rlhf serve on -db")
	fs.StringVar(&run.Online.DB, "db", "", "label store of -labeler human: sqlite:///path/labels.db, a file path, or postgres://... (default: labels.db in -out)")
	fs.StringVar(&run.Online.Instructions, "instructions", defaultTextInstructions, "what people labelling with -labeler human are told to prefer")
	fs.IntVar(&run.Online.Overlap, "overlap", 1, "how many different people answer each group with -labeler human; with 2 or more each round\nestimates people's accuracy from how often they agree (round<r>/people.json)")
	fs.StringVar(&run.Aggregate, "aggregate", aggregateAll, "how several people's answers to a group train (records of -data with one query_id, or\n-labeler human with -overlap >= 2): all (each answer) or vote (once, on the consensus pick of a\nmodel of each person's accuracy; its probability is the confidence -soft trains toward)")
	fs.DurationVar(&run.Online.Poll, "label-poll", time.Second, "how often -labeler human looks for new labels")
	run.Online.judgeSpec.flags(fs, "groups")
	run.Online.judgeSpec.recalFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dpo: unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	run.Config = c
	set := flagsSet(fs)
	var errs []error
	switch {
	case run.Online.Rounds < 0:
		errs = append(errs, fmt.Errorf("dpo: -online %d must be >= 0", run.Online.Rounds))
	case run.Online.Rounds > 0:
		if run.Data != "" {
			errs = append(errs, errors.New("dpo: -online samples its own preferences: drop -data"))
		}
		errs = append(errs, checkOnlineLabeler(set, &run.Online)...)
		if run.Online.N < 2 || run.Online.Prompts < 1 {
			errs = append(errs, errors.New("dpo: -online-n must be at least 2 and -online-prompts positive"))
		}
	case run.Data == "":
		errs = append(errs, errors.New("dpo: -data names no preference file"))
	}
	if run.Online.Rounds == 0 {
		var misplaced []string
		for _, name := range onlineOnlyFlags {
			if set[name] {
				misplaced = append(misplaced, "-"+name)
			}
		}
		if len(misplaced) > 0 {
			slices.Sort(misplaced) // as flag.Visit orders them
			errs = append(errs, fmt.Errorf("dpo: %s only with -online", strings.Join(misplaced, ", ")))
		}
		run.Online = onlineDPO{}
	}
	switch {
	case run.Aggregate != aggregateAll && run.Aggregate != aggregateVote:
		errs = append(errs, fmt.Errorf("dpo: -aggregate %q: want %s or %s", run.Aggregate, aggregateAll, aggregateVote))
	case run.Online.Rounds > 0 && run.Online.Labeler != loop.LabelerHuman && set["aggregate"]:
		errs = append(errs, errors.New("dpo: -aggregate only with -data or -labeler human: a reward model's pairs have one answer each"))
	case run.Online.Rounds > 0 && run.Aggregate == aggregateVote && run.Online.Overlap < 2:
		errs = append(errs, errors.New("dpo: -aggregate vote needs -overlap >= 2: with one answer a group there is nothing to combine"))
	}
	if run.Aggregate == aggregateAll {
		run.Aggregate = "" // as online.json and summary.json held it before answers could be combined
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
	if run.Online.Rounds > 0 {
		err := onlineRounds(ctx, run, stderr)
		if errors.Is(err, loop.ErrStopped) {
			return nil // an admin's stop: onlineRounds said how to continue
		}
		return err
	}
	return trainDPO(ctx, run, stderr)
}

// onlineRounds runs `rlhf dpo -online`: round r samples from the latest
// policy (the starting checkpoint in round 1), writes its preferences to
// -out/round<r>/pairs.jsonl, and trains DPO on them from that policy
// against the reference (-ref, else the starting checkpoint) into
// -out/round<r>. With -reward the pairs are the best against the worst
// sample under it (rlhf bon's machinery); with -labeler human they are
// people's answers, and the judge's (peopleRound). A round whose
// summary.json exists is finished (trainDPO writes it last) and is kept; an
// unfinished one is done again from the start, which the seeds make the
// same, except for people's answers, which are kept and not asked again.
// An admin's stop in the labeling app is an error wrapping loop.ErrStopped.
func onlineRounds(ctx context.Context, run dpoRun, w io.Writer) (err error) {
	o := run.Online
	ref := run.refDir()
	if err := os.MkdirAll(run.Out, 0o755); err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	var people *onlinePeople
	if o.Labeler == loop.LabelerHuman {
		p, closePeople, err := openOnlinePeople(ctx, run, w)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, closePeople(context.WithoutCancel(ctx))) }()
		people, run.Online.DB = p, p.db
	}
	// online.json keeps every setting but the number of rounds: a run
	// continues only with the settings it began with.
	settings := run
	settings.Online.Rounds = 0
	want, err := json.Marshal(settings)
	if err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	path := filepath.Join(run.Out, "online.json")
	switch have, err := os.ReadFile(path); {
	case err == nil && !bytes.Equal(bytes.TrimSpace(have), want):
		return fmt.Errorf("dpo: %s holds an online run with other settings (%s); use the same flags to continue it, or another -out", run.Out, path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("dpo: %w", err)
	case err != nil:
		if err := os.WriteFile(path, append(want, '\n'), 0o644); err != nil {
			return fmt.Errorf("dpo: %w", err)
		}
	}
	cur := run.Policy
	for r := 1; r <= o.Rounds; r++ {
		dir := filepath.Join(run.Out, fmt.Sprintf("round%d", r))
		if _, err := os.Stat(filepath.Join(dir, "summary.json")); err == nil {
			fmt.Fprintf(w, "dpo: online round %d/%d already finished in %s\n", r, o.Rounds, dir)
			cur = dir
			continue
		}
		pairs := filepath.Join(dir, roundPairsFile)
		if people != nil {
			if err := clearTraining(dir); err != nil {
				return fmt.Errorf("dpo: online round %d: %w", r, err)
			}
		} else if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("dpo: online round %d: %w", r, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("dpo: online round %d: %w", r, err)
		}
		if people != nil {
			fmt.Fprintf(w, "dpo: online round %d/%d: %d samples of %d train prompts from %s, compared by people%s\n",
				r, o.Rounds, o.N, o.Prompts, cur, map[bool]string{true: " and the judge " + o.Judge, false: ""}[o.Judge != ""])
			if _, err := peopleRound(ctx, run, r, cur, dir, people, w); err != nil {
				if errors.Is(err, loop.ErrStopped) {
					fmt.Fprintf(w, "dpo: stopped by an admin in round %d/%d; people's answers are kept; run the same command again to continue\n", r, o.Rounds)
				} else if ctx.Err() != nil {
					return fmt.Errorf("dpo: online round %d interrupted; people's answers are kept; run the same command again to continue: %w", r, ctx.Err())
				}
				return fmt.Errorf("dpo: online round %d: %w", r, err)
			}
		} else {
			fmt.Fprintf(w, "dpo: online round %d/%d: %d samples of %d train prompts from %s, best against worst under %s\n",
				r, o.Rounds, o.N, o.Prompts, cur, o.Reward)
			br := bonRun{Policy: cur, Reward: o.Reward, Goal: o.Goal, Letter: "e", Ns: []int{o.N}, Prompts: o.Prompts,
				MaxNew: run.KLTokens, Temperature: 1, Seed: run.Config.Seed*1000 + uint64(r), Split: "train", Device: run.Device, Pairs: pairs}
			if err := bestOfN(ctx, br, w); err != nil {
				return fmt.Errorf("dpo: online round %d: %w", r, err)
			}
		}
		rr := run
		rr.Data, rr.Policy, rr.Ref, rr.Out = pairs, cur, ref, dir
		rr.Config.Seed = run.Config.Seed + uint64(r)
		if err := trainDPO(ctx, rr, w); err != nil {
			return fmt.Errorf("dpo: online round %d: %w", r, err)
		}
		cur = dir
	}
	fmt.Fprintf(w, "dpo: %d online rounds done; the final policy is %s\n", o.Rounds, cur)
	return nil
}

// pairsOf turns text comparisons into token pairs: the chosen completion
// against each other one.
func pairsOf(tokenize func(string) []int, cs []textComparison, soft bool) ([]dpo.Pair, error) {
	var out []dpo.Pair
	for i, c := range cs {
		p := tokenize(c.Prompt)
		w := tokenize(c.Completions[c.Choice])
		var smoothing float64
		if soft && c.Confidence != nil {
			if len(c.Completions) != 2 || !(*c.Confidence > 0.5) {
				return nil, fmt.Errorf("dpo: -soft: training record %d (of the records left after the held-out split) states confidence %g in its choice of %d completions: want a pair and above 0.5", i+1, *c.Confidence, len(c.Completions))
			}
			smoothing = 1 - *c.Confidence
		}
		for j, comp := range c.Completions {
			if j != c.Choice {
				out = append(out, dpo.Pair{Prompt: p, Chosen: w, Rejected: tokenize(comp), Smoothing: smoothing})
			}
		}
	}
	return out, nil
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
	if run.Aggregate == aggregateVote && run.Online.Rounds == 0 { // an online round's file holds its consensus already
		if cs, err = voteComparisons(cs, format, "dpo", w); err != nil {
			return fmt.Errorf("dpo: -aggregate vote: %w", err)
		}
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
	refDir := run.refDir()
	ref, refTok, err := loadPolicy(refDir)
	if err != nil {
		return fmt.Errorf("dpo: reference: %w", err)
	}
	if refTok.VocabSize() != tok.VocabSize() {
		return fmt.Errorf("dpo: the reference %s has a vocabulary of %d tokens, the policy %s %d", refDir, refTok.VocabSize(), run.Policy, tok.VocabSize())
	}
	train, err := pairsOf(tok.Encode, trainText, run.Soft)
	if err != nil {
		return err
	}
	val, err := pairsOf(tok.Encode, valText, false)
	if err != nil {
		return err
	}
	if run.Soft {
		n := 0
		for _, p := range train {
			if p.Smoothing > 0 {
				n++
			}
		}
		fmt.Fprintf(w, "dpo: -soft: %d of %d training pairs train toward their confidence (smoothing 1 - c), the rest toward their label\n", n, len(train))
	}
	fmt.Fprintf(w, "dpo: %d %s records -> %d training and %d held-out pairs; %s loss, beta %g, lr %g, batch %d, %d epochs; policy %s (reference %s) -> %s\n",
		len(cs), format, len(train), len(val), run.Config.Loss, run.Config.Beta, run.Config.LR, run.Config.Batch, run.Config.Epochs, run.Policy, refDir, run.Out)
	if skipped > 0 {
		fmt.Fprintf(w, "dpo: skipped %d malformed lines of %s\n", skipped, run.Data)
	}
	// On a device, the reference's log-probs are computed once there, over
	// its own copy of the reference's weights, and the policy's steps run
	// there too.
	var refEval dpo.Evaluator
	var refDev frozenDevice
	if !dev.onCPU() {
		if refDev, err = newFrozenDevice(dev, ref); err != nil {
			return fmt.Errorf("dpo: reference: %w", err)
		}
		refEval = refDev
	}
	tr, err := dpo.NewTrainerOn(run.Config, policy, ref, refEval, train, val)
	if err != nil {
		return err
	}
	if refEval != nil {
		tm := refDev.tr.Timings()
		fmt.Fprintf(w, "dpo: reference log-probs on %s: %d forward passes, %d executables built\n", dev.name, tm.Calls, tm.Builds)
	}
	var pol *stepper // the policy's device stepper; nil on the CPU engine
	if !dev.onCPU() {
		if pol, err = newStepper(dev, tr.Opt, run.Config.ClipNorm); err != nil {
			return fmt.Errorf("dpo: %w", err)
		}
		tr.Device = policyDevice{pol}
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
	evalLoss, ev, err := tr.Evaluate()
	if err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
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
		var kl float64
		if pol == nil {
			kl, err = dpo.SampledKL(ctx, policy, ref, prompts, run.KLTokens, run.Config.Seed)
		} else {
			kl, err = deviceSampledKL(ctx, dev, pol, refDev, policy, ref, prompts, run.KLTokens, run.Config.Seed, w)
		}
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

// deviceSampledKL is dpo.SampledKL on a device: the trained policy samples
// there (a device sampler over the stepper's weights) and both models'
// log-probs of the samples come from their device copies, so nothing of the
// policy runs on the CPU engine.
func deviceSampledKL(ctx context.Context, dev *trainDevice, pol *stepper, refDev frozenDevice, policy, ref *gpt.Model,
	prompts [][]int, maxNew int, seed uint64, w io.Writer) (float64, error) {
	if len(prompts) == 0 {
		return 0, errors.New("sampled KL on no prompts")
	}
	smp, err := newDeviceSampler(dev, policy, pol)
	if err != nil {
		return 0, fmt.Errorf("sampled KL: %w", err)
	}
	defer smp.Close()
	s, err := smp.Sample(ctx, prompts, gpt.SampleConfig{MaxNewTokens: maxNew, Temperature: 1, StopAtEOS: true, Seed: seed})
	if err != nil {
		return 0, fmt.Errorf("sampled KL: %w", err)
	}
	fmt.Fprintln(w, samplerSummary(smp))
	kls, err := ppo.SequenceKLOn(policyDevice{pol}, refDev, policy, ref, prompts, s.Tokens)
	if err != nil {
		return 0, fmt.Errorf("sampled KL: %w", err)
	}
	var sum float64
	for _, v := range kls {
		sum += v
	}
	return sum / float64(len(kls)), nil
}
