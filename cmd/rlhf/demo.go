package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"rlhf/loop"
	"rlhf/ppo"
	"rlhf/report"
	"rlhf/store"
)

// demoOptions are the settings of `rlhf demo`.
type demoOptions struct {
	Out    string
	Config loop.TextConfig
	// People: with Labeler loop.LabelerHuman, people label through the
	// label store DB (default labels.db in Out) instead of the synthetic
	// labeler, Overlap of them per comparison, polled every Poll.
	Labeler, DB, Instructions string
	Overlap                   int
	Poll                      time.Duration
	// With people, an AI judge that answers the comparisons it is sure of
	// before people see the rest.
	judgeSpec
}

// runDemo is `rlhf demo`: the whole language RLHF loop on the shipped model
// with a synthetic sentiment labeler, in a few minutes on a laptop.
func runDemo(ctx context.Context, args []string) error {
	o, err := parseDemo(args, os.Stderr)
	if err != nil {
		return err
	}
	return demo(ctx, o, os.Stdout, os.Stderr)
}

func parseDemo(args []string, stderr io.Writer) (demoOptions, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: rlhf demo [flags]

Run RLHF end to end on the shipped tiny GPT: sample completions of prompts, have a synthetic
labeler (Boltzmann-rational over VADER sentiment) compare them, train a GPT reward model on
the labels, optimise the policy with PPO against it under an adaptive KL penalty, and measure
the gold sentiment before and after on held-out prompts. Writes metrics.jsonl, samples.jsonl,
comparisons.jsonl, eval.json, the reward model, the policy and report.html to -out.

With -rounds N the labels come in N rounds: each round after the first samples its comparisons
from the policy as PPO has trained it so far, and the reward model is retrained on every label
before PPO goes on (online collection; -rm-warm continues the previous round's reward model
instead). With -labeler human people give the labels through the labeling app (rlhf serve -db
...), and each round waits for their answers; rerun the same command with the same -out to
continue after an interruption (nothing is asked twice). With -judge as well, an AI judge (a
reward model, as rlhf judge -model) answers the comparisons it is sure of and people the rest
(-audit F: people answer a share F of its answers too, and the run reports how often they agree).

Flags:`)
		fs.PrintDefaults()
	}
	c := loop.DefaultTextConfig()
	o := demoOptions{}
	fs.StringVar(&o.Out, "out", "", "run directory (default runs/demo-<time>)")
	fs.StringVar(&c.Policy, "policy", c.Policy, "pretrained policy directory")
	fs.StringVar(&c.Goal, "goal", c.Goal, "hidden goal of the synthetic labeler: sentiment, lipogram or rm:DIR (a gold reward model)")
	fs.StringVar(&c.Letter, "letter", c.Letter, "the letter a lipogram avoids")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the whole run")
	fs.IntVar(&c.Queries, "queries", c.Queries, "label budget: comparisons asked of the labeler")
	fs.IntVar(&c.K, "k", c.K, "completions per comparison (2: pairs, 4: best-of-4)")
	fs.Float64Var(&c.LabelerBeta, "labeler-beta", c.LabelerBeta, "Boltzmann temperature of the labeler in goal units (0: perfect)")
	fs.Float64Var(&c.LabelerEps, "labeler-eps", c.LabelerEps, "probability that the labeler answers at random")
	fs.IntVar(&c.RM.Epochs, "rm-epochs", c.RM.Epochs, "reward model epochs")
	fs.Float64Var(&c.RM.LR, "rm-lr", c.RM.LR, "reward model learning rate")
	fs.IntVar(&c.RM.Batch, "rm-batch", c.RM.Batch, "comparisons per reward model step")
	fs.BoolVar(&c.RMWarm, "rm-warm", false, "with -rounds > 1, each later round continues training the previous round's reward model for\n-rm-epochs passes over its new labels (minibatches drawn from all labels so far) instead of\nretraining it from the start on every label")
	fs.IntVar(&c.PPOSteps, "steps", c.PPOSteps, "PPO steps")
	fs.StringVar(&c.Select, "select", "", "with -rounds > 1, how each later comparison is chosen from -pool candidates per prompt:\nmargin (the one the current reward model is least sure of) or disagree (the one an ensemble of\n-members reward models disputes most; PPO's reward stays the first member); default: every sampled one")
	fs.IntVar(&c.Members, "members", 3, "reward models in the ensemble of -select disagree")
	fs.IntVar(&c.Pool, "pool", 4, "candidate comparisons per prompt with -select")
	fs.IntVar(&c.Rounds, "rounds", 1, "labelling rounds: the label budget and the PPO steps split into this many; each round after\nthe first samples its comparisons from the policy as PPO has trained it, and the reward model is\nretrained on every label so far (1: offline, all labels from the initial policy)")
	fs.IntVar(&c.PPO.BatchSize, "batch", c.PPO.BatchSize, "PPO episodes per step")
	fs.Float64Var(&c.PPO.LR, "lr", c.PPO.LR, "PPO learning rate")
	fs.IntVar(&c.PPO.Epochs, "epochs", c.PPO.Epochs, "PPO passes over each batch (RLOO does best with 1; docs/results/language.md)")
	fs.Float64Var(&c.PPO.KLTarget, "kl-target", c.PPO.KLTarget, "KL target in nats per completion (0: fixed -kl-coef)")
	fs.Float64Var(&c.PPO.KLCoef, "kl-coef", c.PPO.KLCoef, "initial (or fixed) KL coefficient β")
	fs.Float64Var(&c.PPO.KLHorizon, "kl-horizon", c.PPO.KLHorizon, "adaptive KL controller horizon in episodes")
	fs.Float64Var(&c.PPO.KLMinCoef, "kl-min-coef", 0, "lowest β the adaptive controller may set (0: none; a floor keeps a policy that starts\nmoving late from overshooting the target)")
	fs.Float64Var(&c.PPO.KLGain, "kl-gain", 0, "exponent of the KL controller's immediate term: β is scaled by (KL/target)^gain\nof the latest batch (0: none; 1 doubles β after a batch at twice the target)")
	fs.StringVar(&c.PPO.Advantage, "advantage", ppo.AdvantageGAE, "advantage estimator: gae (the value head), rloo (leave-one-out over -group completions\nof each prompt, no value head) or grpo (scores normalised within each group, KL penalty in the loss)")
	fs.IntVar(&c.PPO.GroupSize, "group", 0, "completions per prompt with -advantage rloo or grpo (-batch must be a multiple; default 4)")
	fs.BoolVar(&c.PPO.GroupMeanOnly, "group-mean-only", false, "with -advantage grpo: advantages are scores minus their group's mean, not divided by\nthe group's standard deviation (Liu et al. 2025)")
	maxNew := fs.Int("max-new-tokens", c.Sampling.MaxNewTokens, "tokens per completion")
	fs.IntVar(&c.EvalPrompts, "eval-prompts", c.EvalPrompts, "held-out prompts to evaluate on")
	fs.StringVar(&o.Labeler, "labeler", labelerSynthetic, "who labels: synthetic (Boltzmann over -goal) or human (people, through rlhf serve on -db;\nthe goal then only measures); with -rounds, each round waits for people's answers")
	fs.StringVar(&o.DB, "db", "", "label store of -labeler human: sqlite:///path/labels.db, a file path, or postgres://... (default: labels.db in -out)")
	fs.StringVar(&o.Instructions, "instructions", defaultTextInstructions, "what people labelling with -labeler human are told to prefer")
	fs.IntVar(&o.Overlap, "overlap", 1, "how many different people label each comparison with -labeler human (each answer trains the reward model)")
	fs.DurationVar(&o.Poll, "label-poll", time.Second, "how often -labeler human looks for new labels")
	o.judgeSpec.flags(fs, "comparisons")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	c.PPO.Advantage, c.PPO.GroupSize = advantageFlags(c.PPO.Advantage, c.PPO.GroupSize)
	if fs.NArg() > 0 {
		return o, fmt.Errorf("demo: unexpected arguments %q", fs.Args())
	}
	c.Sampling.MaxNewTokens, c.PPO.MaxNewTokens = *maxNew, *maxNew
	if o.Labeler != labelerSynthetic && o.Labeler != loop.LabelerHuman {
		return o, fmt.Errorf("demo: -labeler %q: want %s or %s", o.Labeler, labelerSynthetic, loop.LabelerHuman)
	}
	if err := errors.Join(o.judgeSpec.check("demo", flagsSet(fs))...); err != nil {
		return o, err
	}
	if o.Overlap < 1 || o.Overlap > 100 || o.Poll <= 0 {
		return o, fmt.Errorf("demo: -overlap %d must be in 1..100 and -label-poll %v positive", o.Overlap, o.Poll)
	}
	if misplaced := misplacedLabelerFlags(fs, o.Labeler, []string{"labeler-beta", "labeler-eps"}); len(misplaced) > 0 {
		return o, fmt.Errorf("demo: %s not used with -labeler %s", strings.Join(misplaced, ", "), o.Labeler)
	}
	if fs.Lookup("pool").Value.String() != fs.Lookup("pool").DefValue && c.Select == "" {
		return o, fmt.Errorf("demo: -pool %d needs -select %s or %s", c.Pool, loop.SelectMargin, loop.SelectDisagree)
	}
	if fs.Lookup("members").Value.String() != fs.Lookup("members").DefValue && c.Select != loop.SelectDisagree {
		return o, fmt.Errorf("demo: -members %d needs -select %s", c.Members, loop.SelectDisagree)
	}
	if err := c.Validate(); err != nil {
		return o, fmt.Errorf("demo: %w", err)
	}
	if _, err := os.Stat(filepath.Join(c.Policy, "config.json")); err != nil {
		return o, fmt.Errorf("demo: no policy at %s (-policy names a directory with config.json and model.safetensors): %w", c.Policy, err)
	}
	if o.Out == "" {
		o.Out = filepath.Join("runs", "demo-"+time.Now().UTC().Format("20060102-150405"))
	}
	o.Config = c
	return o, nil
}

func demo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	start := time.Now()
	var people *loop.HumanLabeler
	if o.Labeler == loop.LabelerHuman {
		h, closeDB, err := openHumanLabeler(ctx, "demo", o.DB, o.Out, o.Instructions, stderr)
		if err != nil {
			return err
		}
		defer closeDB()
		h.Overlap, h.Poll = o.Overlap, o.Poll
		if o.Judge != "" {
			m, err := o.judgeSpec.load(ctx, stderr)
			if err != nil {
				closeDB()
				return fmt.Errorf("demo: %w", err)
			}
			h.Judge, h.Audit = m, o.Audit
		}
		people = h
	}
	res, err := loop.RunTextWith(ctx, o.Config, o.Out, stderr, people)
	if people != nil {
		if serr := people.Store.SetRunState(context.WithoutCancel(ctx), people.RunID, store.RunStopped); serr != nil {
			err = errors.Join(err, fmt.Errorf("mark run %s stopped: %w", people.RunID, serr))
		}
		switch {
		case errors.Is(err, loop.ErrStopped):
			fmt.Fprintf(stderr, "demo: run %s stopped by an admin in the labeling app; people's answers stay in the label store; "+
				"run the same command (same -out) again to continue\n", people.RunID)
			return nil
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("demo: interrupted; people's answers stay in the label store; run the same command (same -out) again to continue: %w", ctx.Err())
		}
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	printTextResult(stdout, o.Config, res)
	fmt.Fprintf(stdout, "\nwall clock %s; run directory %s (open %s)\n", time.Since(start).Round(time.Second), o.Out, filepath.Join(o.Out, loop.TextReportFile))
	return nil
}

// printTextResult prints before/after samples and the summary table of a run.
func printTextResult(w io.Writer, c loop.TextConfig, res *loop.TextResult) {
	fmt.Fprintln(w, "\nSamples on held-out prompts (same prompt and seed before and after):")
	for i := 0; i < 4 && i < len(res.Before.Samples) && i < len(res.After.Samples); i++ {
		b, a := res.Before.Samples[i], res.After.Samples[i]
		fmt.Fprintf(w, "\n  %s\n    before (%+.2f): %s\n    after  (%+.2f): %s\n", b.Prompt, b.Score, clip(ppo.OneLine(b.Completion), 100), a.Score, clip(ppo.OneLine(a.Completion), 100))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, report.MarkdownTable([]string{"", "gold " + c.Goal + " (mean ± std)", "KL to reference (nats)"}, [][]string{
		{"before PPO", fmt.Sprintf("%+.3f ± %.3f", res.Before.Gold, res.Before.GoldStd), "0"},
		{"after PPO", fmt.Sprintf("%+.3f ± %.3f", res.After.Gold, res.After.GoldStd), fmt.Sprintf("%.2f ± %.2f (target %g)", res.After.KL, res.After.KLStd, c.PPO.KLTarget)},
	}))
	if res.JudgeLabels > 0 {
		fmt.Fprintf(w, "\nlabels: %d, of which the AI judge gave %d and people %d\n", res.Labels, res.JudgeLabels, res.Labels-res.JudgeLabels)
	}
	if res.JudgeAudit.Queries > 0 {
		fmt.Fprintf(w, "audit of the judge: %s\n", res.JudgeAudit)
	}
	fmt.Fprintf(w, "\nreward model: %.1f%% held-out accuracy (%d comparisons), %.1f%% pairwise agreement with the gold goal\n",
		100*res.RM.Accuracy, res.RM.Decided, 100*res.RMGoldAcc)
	var stages []string
	for _, s := range []string{"load", "sample+label", "reward model", "eval before", "ppo", "eval after"} {
		stages = append(stages, fmt.Sprintf("%s %s", s, res.Stages[s].Round(time.Second)))
	}
	fmt.Fprintf(w, "time: %s\n", strings.Join(stages, ", "))
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
