package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/progress"
	"rlhf/report"
	"rlhf/reward"
	"rlhf/text"
	"rlhf/xla"
)

// ppoOptions are the settings of `rlhf ppo`, saved as run.json.
type ppoOptions struct {
	Policy    string       `json:"policy"` // pretrained policy directory
	Reward    string       `json:"reward"` // sentiment | lipogram | rm:DIR | ens:MODE:DIRS
	Gold      string       `json:"gold"`   // goal logged as objective/gold ("" for none)
	Letter    string       `json:"letter"` // lipogram letter
	Steps     int          `json:"steps"`  // PPO steps in the whole run
	CkptEvery int          `json:"ckpt_every"`
	Samples   int          `json:"samples"` // completions per step written to samples.jsonl
	Out       string       `json:"-"`
	Resume    bool         `json:"-"`
	Device    string       `json:"-"` // where the PPO updates and the sampling run (see -device)
	Config    ppo.LMConfig `json:"ppo"`
}

// runPPO is `rlhf ppo`: fine-tune a GPT policy with token-level PPO against
// a reward model or a programmatic goal, under a KL penalty.
func runPPO(ctx context.Context, args []string) error {
	o, err := parsePPO(args, os.Stderr)
	if err != nil {
		return err
	}
	return trainPPO(ctx, o, os.Stderr)
}

func parsePPO(args []string, stderr io.Writer) (ppoOptions, error) {
	fs := flag.NewFlagSet("ppo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: rlhf ppo [flags]

Fine-tune a GPT policy with token-level PPO (Ziegler et al. 2019): per-token rewards
-β·(log π - log π_ref) plus the score of the completion at its last token, GAE, clipped
policy and value losses, adaptive or fixed KL coefficient β; with -advantage rloo, leave-one-out
advantages over -group completions of each prompt instead of GAE and the value head; with
-advantage grpo (Shao et al. 2024), each score minus its group's mean over the group's standard
deviation, and β times a per-token KL estimate added to the loss instead of the reward. The reward
is a trained reward model (-reward rm:DIR, from rlhf rm or rlhf demo), an ensemble of them
(-reward ens:min:DIR1,DIR2,DIR3) or a programmatic goal (sentiment, lipogram).
The run directory gets run.json, metrics.jsonl (TRL's metric names), samples.jsonl,
checkpoint/ (resumable with -resume), policy/ and report.html.

Flags:`)
		fs.PrintDefaults()
	}
	c := ppo.DefaultLMConfig()
	o := ppoOptions{}
	fs.StringVar(&o.Policy, "policy", "models/tiny-gpt", "pretrained policy directory (config.json + model.safetensors)")
	fs.StringVar(&o.Reward, "reward", "sentiment", "reward: rm:DIR (a GPT reward model), ens:MODE:DIR1,DIR2,... (an ensemble of them, combined by\nMODE mean, min or uwo=λ: mean minus λ times their variance), sentiment (VADER) or lipogram")
	fs.StringVar(&o.Gold, "gold", "", "gold goal logged as objective/gold each step: sentiment, lipogram, rm:DIR (a gold reward model) or none (default: sentiment for rm: and ens:, else the reward)")
	fs.StringVar(&o.Letter, "letter", "e", "the letter a lipogram avoids")
	fs.StringVar(&o.Out, "out", "", "run directory (default runs/ppo-<time>)")
	fs.BoolVar(&o.Resume, "resume", false, "continue the run in -out from its checkpoint (up to -steps)")
	fs.StringVar(&o.Device, "device", deviceCPU, deviceHelp+"\non a device the PPO updates, the rollouts' sampling and their policy and reference log-probs and values run there, and the policy's weights come back to the host only for checkpoints; a reward model (-reward rm:DIR, or each of an ensemble's) scores there too, over its own copy, and a goal scores on the CPU engine")
	fs.IntVar(&o.Steps, "steps", 50, "PPO steps (batches)")
	fs.IntVar(&o.CkptEvery, "ckpt-every", 10, "steps between checkpoints")
	fs.IntVar(&o.Samples, "samples", 4, "completions per step written to samples.jsonl")
	fs.IntVar(&c.BatchSize, "batch", c.BatchSize, "episodes (prompts) per step")
	fs.IntVar(&c.MiniBatches, "minibatches", c.MiniBatches, "minibatches per epoch")
	fs.IntVar(&c.Epochs, "epochs", c.Epochs, "PPO epochs per batch")
	fs.Float64Var(&c.LR, "lr", c.LR, "learning rate")
	fs.Float64Var(&c.KLTarget, "kl-target", c.KLTarget, "KL target in nats per completion for the adaptive controller (0: fixed -kl-coef)")
	fs.Float64Var(&c.KLCoef, "kl-coef", c.KLCoef, "initial (or fixed) KL coefficient β")
	fs.Float64Var(&c.KLHorizon, "kl-horizon", c.KLHorizon, "adaptive controller horizon in episodes")
	fs.Float64Var(&c.KLMinCoef, "kl-min-coef", 0, "lowest β the adaptive controller may set (0: none; a floor keeps a policy that starts\nmoving late from overshooting the target)")
	fs.Float64Var(&c.KLGain, "kl-gain", 0, "exponent of the KL controller's immediate term: β is scaled by (KL/target)^gain\nof the latest batch (0: none; 1 doubles β after a batch at twice the target)")
	fs.StringVar(&c.Advantage, "advantage", ppo.AdvantageGAE, "advantage estimator: gae (the value head), rloo (leave-one-out over -group completions\nof each prompt, no value head) or grpo (scores normalised within each group, KL penalty in the loss)")
	fs.IntVar(&c.GroupSize, "group", 0, "completions per prompt with -advantage rloo or grpo (-batch must be a multiple; default 4)")
	fs.BoolVar(&c.GroupMeanOnly, "group-mean-only", false, "with -advantage grpo: advantages are scores minus their group's mean, not divided by\nthe group's standard deviation (Liu et al. 2025)")
	fs.IntVar(&c.MaxNewTokens, "max-new-tokens", c.MaxNewTokens, "tokens per completion")
	fs.Float64Var(&c.VFCoef, "vf-coef", c.VFCoef, "value loss weight")
	fs.Float64Var(&c.EntCoef, "ent-coef", c.EntCoef, "entropy bonus weight")
	fs.BoolVar(&c.NormScores, "norm-scores", c.NormScores, "standardise scores by the first batch's mean and std")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the value head, prompts, sampling and minibatches")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	c.Advantage, c.GroupSize = advantageFlags(c.Advantage, c.GroupSize)
	if fs.NArg() > 0 {
		return o, fmt.Errorf("ppo: unexpected arguments %q", fs.Args())
	}
	o.Config = c
	if o.Out == "" {
		if o.Resume {
			return o, errors.New("ppo: -resume needs -out")
		}
		o.Out = filepath.Join("runs", "ppo-"+time.Now().UTC().Format("20060102-150405"))
	}
	if o.Gold == "" {
		o.Gold = o.Reward
		if strings.HasPrefix(o.Reward, loop.GoalRM) || strings.HasPrefix(o.Reward, loop.GoalEnsemble) {
			o.Gold = loop.GoalSentiment
		}
	}
	var errs []error
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := checkDevice(o.Device); err != nil {
		errs = append(errs, fmt.Errorf("ppo: %w", err))
	}
	if o.Steps <= 0 || o.CkptEvery <= 0 || o.Samples < 0 {
		errs = append(errs, fmt.Errorf("ppo: -steps %d and -ckpt-every %d must be positive, -samples %d >= 0", o.Steps, o.CkptEvery, o.Samples))
	}
	if o.Gold != "none" {
		if err := checkTextGoal(o.Gold, o.Letter); err != nil {
			errs = append(errs, fmt.Errorf("ppo: -gold: %w", err))
		}
	}
	if err := checkTextGoal(o.Reward, o.Letter); err != nil {
		errs = append(errs, fmt.Errorf("ppo: -reward: %w", err))
	}
	return o, errors.Join(errs...)
}

func firstRune(s string) rune {
	for _, r := range s {
		return r
	}
	return 0
}

// goldGoal returns the goal named by -gold, nil for "none".
func goldGoal(name, letter string) (reward.TextScorer, error) {
	if name == "none" {
		return nil, nil
	}
	g, err := textGoal(name, letter)
	if err != nil {
		return nil, fmt.Errorf("ppo: -gold: %w", err)
	}
	return g, nil
}

// policyDir returns dir, or dir/policy when dir is a run directory.
func policyDir(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, gpt.ConfigFile)); err != nil {
		if _, err := os.Stat(filepath.Join(dir, loop.TextPolicyDir, gpt.ConfigFile)); err == nil {
			return filepath.Join(dir, loop.TextPolicyDir)
		}
	}
	return dir
}

func trainPPO(ctx context.Context, o ppoOptions, w io.Writer) error {
	ckpt := filepath.Join(o.Out, loop.TextCheckpointDir)
	dev, err := openDevice(o.Device)
	if err != nil {
		return fmt.Errorf("ppo: %w", err)
	}
	if o.Resume {
		buf, err := os.ReadFile(filepath.Join(o.Out, loop.TextRunFile))
		if err != nil {
			return fmt.Errorf("ppo: resume: %w", err)
		}
		var saved ppoOptions
		if err := json.Unmarshal(buf, &saved); err != nil {
			return fmt.Errorf("ppo: resume: %s: %w", loop.TextRunFile, err)
		}
		saved.Steps, saved.Out, saved.Resume, saved.Device = o.Steps, o.Out, true, o.Device
		o = saved
	} else if _, err := os.Stat(filepath.Join(ckpt, ppo.LMStateFile)); err == nil {
		return fmt.Errorf("ppo: %s already holds a run; pass -resume to continue it or choose another -out", o.Out)
	}
	scorer, err := textGoal(o.Reward, o.Letter)
	if err != nil {
		return fmt.Errorf("ppo: reward: %w", err)
	}
	gold, err := goldGoal(o.Gold, o.Letter)
	if err != nil {
		return err
	}
	prompts, err := text.Prompts("train")
	if err != nil {
		return fmt.Errorf("ppo: prompts: %w", err)
	}
	var tr *ppo.LMTrainer
	if o.Resume {
		if tr, err = ppo.ResumeLM(ckpt, nil, scorer, prompts); err != nil {
			return err
		}
		fmt.Fprintf(w, "resuming %s at step %d of %d\n", o.Out, tr.Steps, o.Steps)
	} else {
		dir := policyDir(o.Policy)
		policy, err := gpt.Load(dir)
		if err != nil {
			return fmt.Errorf("ppo: policy: %w", err)
		}
		tok, err := gpt.LoadTokenizer(dir, policy.Config)
		if err != nil {
			return fmt.Errorf("ppo: policy: %w", err)
		}
		policy.VHead, policy.Config.ValueHead = nil, false // a fresh value head for this reward
		policy.RHead, policy.Config.RewardHead = nil, false
		if tr, err = ppo.NewLMTrainer(o.Config, policy, tok, scorer, prompts); err != nil {
			return err
		}
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return fmt.Errorf("ppo: %w", err)
		}
		buf, _ := json.MarshalIndent(o, "", "  ")
		if err := os.WriteFile(filepath.Join(o.Out, loop.TextRunFile), append(buf, '\n'), 0o644); err != nil {
			return fmt.Errorf("ppo: %w", err)
		}
	}
	var smp *xla.Sampler
	var pol *stepper // the policy's device stepper; nil on the CPU engine
	var ref frozenDevice
	var rmDevs []frozenDevice // the reward model's, or each ensemble member's
	if !dev.onCPU() {
		// The minibatch updates, the sampling and the rollouts' forward
		// passes run on the device; the checkpoint's optimiser state goes
		// up with the weights, the sampler reads the weights the updates
		// train, and the frozen reference gets its own copy, uploaded
		// once. The policy's host weights are stale until a sync.
		s, err := newStepper(dev, tr.Opt, tr.Config.MaxGradNorm)
		if err != nil {
			return fmt.Errorf("ppo: %w", err)
		}
		pol = s
		tr.Device = policyDevice{s}
		if ref, err = newFrozenDevice(dev, tr.Ref); err != nil {
			return fmt.Errorf("ppo: reference: %w", err)
		}
		tr.RefDevice = ref
		if smp, err = newDeviceSampler(dev, tr.Policy, s); err != nil {
			return fmt.Errorf("ppo: %w", err)
		}
		defer smp.Close()
		tr.Sampler = smp
		// A reward model (each of an ensemble's) scores each step's
		// completions on the device, over its own copy, uploaded once, in
		// batches of at most one step's episodes.
		if rmDevs, err = scoreAllOnDevice(dev, scorer, tr.Config.BatchSize); err != nil {
			return fmt.Errorf("ppo: %w", err)
		}
	}
	logger, err := report.NewLogger(o.Out)
	if err != nil {
		return err
	}
	defer logger.Close()
	samples, err := os.OpenFile(filepath.Join(o.Out, loop.TextSamplesFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("ppo: samples: %w", err)
	}
	defer samples.Close()
	c := tr.Config
	where := "updates, sampling and log-probs"
	if len(rmDevs) > 0 {
		where = "updates, sampling, log-probs and scores"
	}
	fmt.Fprintf(w, "PPO of %s against %s: %d steps of %d episodes, %s, %s, %s on %s -> %s\n", o.Policy, o.Reward, o.Steps, c.BatchSize, c.Estimator(), c.KLControl(), where, dev.name, o.Out)
	bar := progress.New(w, o.Steps, "ppo")
	bar.Set(tr.Steps)
	for tr.Steps < o.Steps {
		st, err := tr.Step(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				if serr := tr.Save(ckpt); serr != nil {
					return errors.Join(err, serr)
				}
				fmt.Fprintf(w, "\ninterrupted; checkpoint at step %d in %s\n", tr.Steps, ckpt)
			}
			return err
		}
		m := st.Metrics()
		goldScores := make([]float64, len(st.Samples))
		if gold != nil {
			if goldScores, err = loop.SampleGold(gold, st.Samples); err != nil {
				return fmt.Errorf("ppo: gold: %w", err)
			}
			m["objective/gold"], _ = report.Spread(goldScores)
		}
		if err := logger.Log(st.Step, m); err != nil {
			return err
		}
		for i := 0; i < o.Samples && i < len(st.Samples); i++ {
			s := st.Samples[i]
			line, _ := json.Marshal(map[string]any{"step": st.Step, "prompt": s.Prompt, "completion": s.Completion, "score": s.Score, "gold": goldScores[i], "kl": s.KL})
			if _, err := samples.Write(append(line, '\n')); err != nil {
				return fmt.Errorf("ppo: samples: %w", err)
			}
		}
		bar.Add(1)
		status := fmt.Sprintf("score %+.3f kl %.2f β %.3f", st.Score, st.KL, st.KLCoef)
		if gold != nil {
			status += fmt.Sprintf(" gold %+.3f", m["objective/gold"])
		}
		bar.SetStatus(status)
		if tr.Steps%o.CkptEvery == 0 || tr.Steps == o.Steps {
			if err := tr.Save(ckpt); err != nil {
				return err
			}
		}
		if tr.Steps == o.Steps && len(st.Samples) > 0 {
			bar.Finish()
			s := st.Samples[0]
			fmt.Fprintf(w, "sample: %s|%s (score %+.2f)\n", s.Prompt, ppo.OneLine(s.Completion), s.Score)
		}
	}
	bar.Finish()
	if err := tr.SyncPolicy(); err != nil {
		return err
	}
	if smp != nil {
		fmt.Fprintln(w, samplerSummary(smp))
	}
	if pol != nil {
		fmt.Fprintf(w, "device: %d forward passes of the reference; the policy's weights copied to the host %d times (checkpoints and the end of the run)\n",
			ref.tr.Timings().Calls, pol.syncs)
	}
	for _, rmDev := range rmDevs {
		fmt.Fprintln(w, scoringSummary(rmDev))
	}
	if err := tr.Policy.Save(filepath.Join(o.Out, loop.TextPolicyDir)); err != nil {
		return err
	}
	if err := logger.Sync(); err != nil {
		return err
	}
	return writePPOReport(o)
}

// writePPOReport writes report.html: score, gold, KL and β over training,
// and the last step's samples.
func writePPOReport(o ppoOptions) error {
	m, err := report.LoadMetrics(filepath.Join(o.Out, report.MetricsFile))
	if err != nil {
		return err
	}
	r := &report.HTMLReport{Title: "PPO: " + o.Reward}
	r.AddParagraph(fmt.Sprintf("Policy %s, reward %s, %d steps of %d episodes, advantages by %s, lr %g, %s, seed %d.",
		o.Policy, o.Reward, o.Steps, o.Config.BatchSize, o.Config.Estimator(), o.Config.LR, o.Config.KLControl(), o.Config.Seed))
	keys := []string{"objective/scores"}
	if o.Gold != "none" {
		keys = append(keys, "objective/gold")
	}
	p := m.Plot("Scores of the PPO batches", keys...)
	p.XLabel = "PPO step"
	r.AddPlot(p)
	kl, beta := loop.KLPlots(m, o.Config)
	r.AddPlot(kl)
	r.AddPlot(beta)
	diag := []string{"policy/approxkl", "policy/clipfrac", "val/explained_variance"}
	if o.Config.Advantage == ppo.AdvantageGRPO {
		diag = append(diag, "loss/kl_avg") // the per-token KL penalty of its loss, before β
	}
	p = m.Plot("PPO diagnostics", diag...)
	p.XLabel = "PPO step"
	r.AddPlot(p)
	if last, err := lastSamples(filepath.Join(o.Out, loop.TextSamplesFile)); err == nil {
		r.AddHeading("Samples of the last step")
		for _, s := range last {
			r.AddSample(fmt.Sprintf("step %d, score %+.2f", s.Step, s.Score), s.Prompt+" | "+s.Completion)
		}
	}
	return r.WriteFile(filepath.Join(o.Out, loop.TextReportFile))
}

type sampleLine struct {
	Step       int     `json:"step"`
	Prompt     string  `json:"prompt"`
	Completion string  `json:"completion"`
	Score      float64 `json:"score"`
}

// lastSamples returns the samples of the last step in a samples.jsonl file.
func lastSamples(path string) ([]sampleLine, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var all []sampleLine
	for line := range strings.SplitSeq(strings.TrimSpace(string(buf)), "\n") {
		var s sampleLine
		if json.Unmarshal([]byte(line), &s) == nil {
			all = append(all, s)
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	last := all[len(all)-1].Step
	var out []sampleLine
	for _, s := range all {
		if s.Step == last {
			out = append(out, s)
		}
	}
	return out, nil
}

// advantageFlags returns the LMConfig fields of -advantage and -group: the
// default estimator stays unnamed in saved configurations (as before it had
// a name), and rloo or grpo without -group samples 4 completions per prompt.
// Anything else is left for LMConfig.Validate to judge.
func advantageFlags(adv string, group int) (string, int) {
	switch {
	case adv == ppo.AdvantageGAE:
		return "", group
	case (adv == ppo.AdvantageRLOO || adv == ppo.AdvantageGRPO) && group == 0:
		return adv, 4
	}
	return adv, group
}
