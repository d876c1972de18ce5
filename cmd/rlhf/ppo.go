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
	"strings"
	"time"

	"rlhf/ag"
	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/progress"
	"rlhf/report"
	"rlhf/reward"
	"rlhf/tensor"
	"rlhf/text"
)

// ppoOptions are the settings of `rlhf ppo`, saved as run.json.
type ppoOptions struct {
	Policy    string       `json:"policy"` // pretrained policy directory
	Reward    string       `json:"reward"` // sentiment | lipogram | rm:DIR
	Gold      string       `json:"gold"`   // goal logged as objective/gold ("" for none)
	Letter    string       `json:"letter"` // lipogram letter
	Steps     int          `json:"steps"`  // PPO steps in the whole run
	CkptEvery int          `json:"ckpt_every"`
	Samples   int          `json:"samples"` // completions per step written to samples.jsonl
	Out       string       `json:"-"`
	Resume    bool         `json:"-"`
	Device    string       `json:"-"` // where the PPO updates run (see -device)
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
policy and value losses, adaptive or fixed KL coefficient β. The reward is a trained reward
model (-reward rm:DIR, from rlhf rm or rlhf demo) or a programmatic goal (sentiment, lipogram).
The run directory gets run.json, metrics.jsonl (TRL's metric names), samples.jsonl,
checkpoint/ (resumable with -resume), policy/ and report.html.

Flags:`)
		fs.PrintDefaults()
	}
	c := ppo.DefaultLMConfig()
	o := ppoOptions{}
	fs.StringVar(&o.Policy, "policy", "models/tiny-gpt", "pretrained policy directory (config.json + model.safetensors)")
	fs.StringVar(&o.Reward, "reward", "sentiment", "reward: rm:DIR (a GPT reward model), sentiment (VADER) or lipogram")
	fs.StringVar(&o.Gold, "gold", "", "gold goal logged as objective/gold each step: sentiment, lipogram or none (default: sentiment for rm:, else the reward)")
	fs.StringVar(&o.Letter, "letter", "e", "the letter a lipogram avoids")
	fs.StringVar(&o.Out, "out", "", "run directory (default runs/ppo-<time>)")
	fs.BoolVar(&o.Resume, "resume", false, "continue the run in -out from its checkpoint (up to -steps)")
	fs.StringVar(&o.Device, "device", deviceCPU, deviceHelp+"\non a device only the PPO updates run there; sampling and scoring stay on the CPU engine")
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
	fs.IntVar(&c.MaxNewTokens, "max-new-tokens", c.MaxNewTokens, "tokens per completion")
	fs.Float64Var(&c.VFCoef, "vf-coef", c.VFCoef, "value loss weight")
	fs.Float64Var(&c.EntCoef, "ent-coef", c.EntCoef, "entropy bonus weight")
	fs.BoolVar(&c.NormScores, "norm-scores", c.NormScores, "standardise scores by the first batch's mean and std")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the value head, prompts, sampling and minibatches")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
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
		if strings.HasPrefix(o.Reward, "rm:") {
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
	if _, err := goldGoal(o.Gold, o.Letter); err != nil {
		errs = append(errs, err)
	}
	if !strings.HasPrefix(o.Reward, "rm:") {
		if _, err := loop.TextGoal(o.Reward, firstRune(o.Letter)); err != nil {
			errs = append(errs, fmt.Errorf("ppo: -reward %q: want rm:DIR, sentiment or lipogram", o.Reward))
		}
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
func goldGoal(name, letter string) (func(string) float64, error) {
	if name == "none" {
		return nil, nil
	}
	g, err := loop.TextGoal(name, firstRune(letter))
	if err != nil {
		return nil, fmt.Errorf("ppo: -gold: %w", err)
	}
	return g, nil
}

// textScorer returns the reward named by spec.
func textScorer(spec, letter string) (ppo.TextScorer, error) {
	if dir, ok := strings.CutPrefix(spec, "rm:"); ok {
		return loop.LoadTextRM(dir)
	}
	goal, err := loop.TextGoal(spec, firstRune(letter))
	if err != nil {
		return nil, err
	}
	return reward.GoalScorer{Goal: goal}, nil
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
	scorer, err := textScorer(o.Reward, o.Letter)
	if err != nil {
		return fmt.Errorf("ppo: reward: %w", err)
	}
	gold, _ := goldGoal(o.Gold, o.Letter)
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
	step, save, syncPolicy := tr.Step, tr.Save, func() error { return nil }
	if !dev.onCPU() {
		from := ""
		if o.Resume {
			from = ckpt
		}
		d, err := newPPODevice(dev, tr, from)
		if err != nil {
			return err
		}
		step, save, syncPolicy = d.Step, d.Save, d.s.syncParams
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
	fmt.Fprintf(w, "PPO of %s against %s: %d steps of %d episodes, β₀ %g, KL target %g, updates on %s -> %s\n", o.Policy, o.Reward, o.Steps, c.BatchSize, c.KLCoef, c.KLTarget, dev.name, o.Out)
	bar := progress.New(w, o.Steps, "ppo")
	bar.Set(tr.Steps)
	for tr.Steps < o.Steps {
		st, err := step(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				if serr := save(ckpt); serr != nil {
					return errors.Join(err, serr)
				}
				fmt.Fprintf(w, "\ninterrupted; checkpoint at step %d in %s\n", tr.Steps, ckpt)
			}
			return err
		}
		m := st.Metrics()
		goldScores := make([]float64, len(st.Samples))
		if gold != nil {
			for i, s := range st.Samples {
				goldScores[i] = gold(s.Completion)
			}
			m["objective/gold"], _ = meanStdF(goldScores)
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
			if err := save(ckpt); err != nil {
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
	if err := syncPolicy(); err != nil {
		return fmt.Errorf("ppo: %w", err)
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
	r.AddParagraph(fmt.Sprintf("Policy %s, reward %s, %d steps of %d episodes, lr %g, β₀ %g, KL target %g, seed %d.",
		o.Policy, o.Reward, o.Steps, o.Config.BatchSize, o.Config.LR, o.Config.KLCoef, o.Config.KLTarget, o.Config.Seed))
	keys := []string{"objective/scores"}
	if o.Gold != "none" {
		keys = append(keys, "objective/gold")
	}
	p := m.Plot("Scores of the PPO batches", keys...)
	p.XLabel = "PPO step"
	r.AddPlot(p)
	p = m.Plot("KL to the reference (nats per completion)", "objective/kl")
	p.XLabel = "PPO step"
	r.AddPlot(p)
	p = m.Plot("KL coefficient β", "objective/kl_coef")
	p.XLabel = "PPO step"
	r.AddPlot(p)
	p = m.Plot("PPO diagnostics", "policy/approxkl", "policy/clipfrac", "val/explained_variance")
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

// meanStdF returns the mean and population standard deviation of x.
func meanStdF(x []float64) (float64, float64) {
	if len(x) == 0 {
		return 0, 0
	}
	m := 0.0
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	s := 0.0
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return m, math.Sqrt(s / float64(len(x)))
}

// ppoDevice is token-level PPO with the update on a device. Everything but
// the optimiser steps runs as in ppo.LMTrainer.Step, on the CPU engine:
// sampling (after copying the device's weights back at the start of each
// step), scoring, the policy's and reference's log-probs and values, the
// per-token rewards, GAE and whitening. Each minibatch's loss (the clipped
// surrogate, the clipped value loss and the entropy bonus of package ppo)
// and its AdamW step run on the device. The trainer's exported state (KL
// controller, score statistics, step count, optimiser) is kept in tr, so
// checkpoints are tr's; the prompt and minibatch generator follows the same
// stream as ppo.LMTrainer's and is saved in its place in the checkpoint.
type ppoDevice struct {
	tr  *ppo.LMTrainer
	s   *stepper
	pcg *rand.PCG
	rng *rand.Rand
}

// ppoRNGField is the checkpoint state's field that holds the generator.
const ppoRNGField = "rng"

// newPPODevice moves tr's update step to dev. ckpt is the checkpoint tr was
// resumed from ("" for a new run), whose generator state it continues.
func newPPODevice(dev *trainDevice, tr *ppo.LMTrainer, ckpt string) (*ppoDevice, error) {
	d := &ppoDevice{tr: tr, pcg: rand.NewPCG(tr.Config.Seed, 0x5eed)} // ppo.NewLMTrainer's stream
	if ckpt != "" {
		buf, err := os.ReadFile(filepath.Join(ckpt, ppo.LMStateFile))
		if err != nil {
			return nil, fmt.Errorf("ppo: resume: %w", err)
		}
		var st map[string]json.RawMessage
		var rng []byte
		if err := json.Unmarshal(buf, &st); err != nil {
			return nil, fmt.Errorf("ppo: resume: %s: %w", ppo.LMStateFile, err)
		}
		if err := json.Unmarshal(st[ppoRNGField], &rng); err != nil {
			return nil, fmt.Errorf("ppo: resume: %s: generator state: %w", ppo.LMStateFile, err)
		}
		if err := d.pcg.UnmarshalBinary(rng); err != nil {
			return nil, fmt.Errorf("ppo: resume: generator state: %w", err)
		}
	}
	d.rng = rand.New(d.pcg)
	var err error
	if d.s, err = newStepper(dev, tr.Opt, tr.Config.MaxGradNorm); err != nil {
		return nil, fmt.Errorf("ppo: %w", err)
	}
	return d, nil
}

// Save syncs the device's weights and optimiser state into tr and writes
// tr's checkpoint with this run's generator state.
func (d *ppoDevice) Save(dir string) error {
	if err := d.s.sync(); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if err := d.tr.Save(dir); err != nil {
		return err
	}
	path := filepath.Join(dir, ppo.LMStateFile)
	buf, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	var st map[string]json.RawMessage
	if err := json.Unmarshal(buf, &st); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if _, ok := st[ppoRNGField]; !ok {
		return fmt.Errorf("ppo: save checkpoint: %s has no %q field", path, ppoRNGField)
	}
	rng, err := d.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("ppo: save checkpoint: generator state: %w", err)
	}
	if st[ppoRNGField], err = json.Marshal(rng); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if buf, err = json.MarshalIndent(st, "", "  "); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(buf, '\n'), 0o644); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	return nil
}

// ppoRollout is one batch of episodes with everything the update needs.
type ppoRollout struct {
	promptIDs, completions [][]int
	texts                  []string
	scores                 []float64
	logp, refLP, values    [][]float32
	adv, returns           [][]float32
	kl                     []float64
}

// ppoRows joins prompts and completions into right-padded (B, T) ids, T a
// bucket length (at most limit), with a mask (B·T) on the completion tokens.
func ppoRows(promptIDs, completions [][]int, limit int) (ids []int, t int, mask []float32) {
	rows := make([][]int, len(promptIDs))
	for i := range rows {
		rows[i] = slices.Concat(promptIDs[i], completions[i])
	}
	ids, t, lens := gpt.PadRight(rows)
	if bt := bucketLen(t, limit); bt > t {
		ids, t = padTokenBatch(reward.TokenBatch{IDs: ids, N: len(rows), T: t, Lens: lens}, bt).IDs, bt
	}
	mask = make([]float32, len(ids))
	for i := range rows {
		p := len(promptIDs[i])
		for j := range completions[i] {
			mask[i*t+p+j] = 1
		}
	}
	return ids, t, mask
}

// ppoEval returns, on the CPU engine without gradients, each completion
// token's log-probability under m and the value of the prefix before it
// (nil values for a model without a value head).
func ppoEval(m *gpt.Model, promptIDs, completions [][]int) (logp, values [][]float32) {
	ids, T, _ := ppoRows(promptIDs, completions, m.Config.NPositions)
	B := len(promptIDs)
	tp := ag.NewNoGradTape()
	h := m.Hidden(tp, ids, B, T)                         // (B, T, C)
	lp, _ := m.LogProbsOf(tp, m.Logits(tp, h), ids, nil) // (B, T-1)
	var v []float32
	if m.VHead != nil {
		v = m.ValuesOf(tp, h).Value.Data // (B, T)
		values = make([][]float32, B)
	}
	logp = make([][]float32, B)
	for i := range B {
		start, n := len(promptIDs[i])-1, len(completions[i])
		logp[i] = slices.Clone(lp.Value.Data[i*(T-1)+start : i*(T-1)+start+n])
		if v != nil {
			values[i] = slices.Clone(v[i*T+start : i*T+start+n])
		}
	}
	return logp, values
}

// Step runs one PPO step as ppo.LMTrainer.Step does, the optimiser steps on
// the device.
func (d *ppoDevice) Step(ctx context.Context) (ppo.LMStats, error) {
	t, c := d.tr, d.tr.Config
	if err := d.s.syncParams(); err != nil { // the policy samples on the CPU engine
		return ppo.LMStats{}, fmt.Errorf("ppo: %w", err)
	}
	prompts := make([]string, c.BatchSize)
	for i := range prompts {
		prompts[i] = t.Prompts[d.rng.IntN(len(t.Prompts))]
	}
	ro, err := d.collect(ctx, prompts)
	if err != nil {
		return ppo.LMStats{}, err
	}
	st := ppo.LMStats{KLCoef: t.KL.Value}
	if c.NormScores && !t.ScoreNormSet {
		m, s := meanStdF(ro.scores)
		t.ScoreMean, t.ScoreStd, t.ScoreNormSet = m, max(s, 1e-6), true
	}
	rewards := make([][]float32, len(prompts))
	entropy := 0.0
	for i := range prompts {
		score := ro.scores[i]
		if c.NormScores {
			score = (score - t.ScoreMean) / t.ScoreStd
		}
		rewards[i], ro.kl[i] = ppo.TokenRewards(ro.logp[i], ro.refLP[i], score, t.KL.Value)
		st.RLHFReward += score - t.KL.Value*ro.kl[i]
		for _, lp := range ro.logp[i] {
			entropy -= float64(lp)
		}
		st.ResponseLen += float64(len(ro.completions[i]))
	}
	n := float64(len(prompts))
	st.Score, st.ScoreStd = meanStdF(ro.scores)
	st.KL, _ = meanStdF(ro.kl)
	st.Entropy = entropy / n
	st.NonScore = -t.KL.Value * st.KL
	st.RLHFReward /= n
	st.ResponseLen /= n
	ro.adv, ro.returns = ppo.TokenGAE(rewards, ro.values, c.Gamma, c.Lambda)
	var flatV, flatR []float32
	for i := range ro.values {
		flatV = append(flatV, ro.values[i]...)
		flatR = append(flatR, ro.returns[i]...)
	}
	st.ExplainedVar = ppo.ExplainedVariance(flatV, flatR)
	if c.WhitenAdvantages {
		ppo.WhitenRows(ro.adv)
	}
	if err := d.update(ctx, ro, &st); err != nil {
		return ppo.LMStats{}, err
	}
	t.KL.Update(st.KL, len(prompts))
	t.Steps++
	st.Step = t.Steps
	st.Episodes = t.Steps * c.BatchSize
	for i := range prompts {
		st.Samples = append(st.Samples, ppo.LMSample{Prompt: prompts[i], Completion: ro.texts[i], Score: ro.scores[i], KL: ro.kl[i]})
	}
	return st, nil
}

// collect samples and scores a completion of every prompt and records the
// policy's and reference's log-probs and the values of its tokens.
func (d *ppoDevice) collect(ctx context.Context, prompts []string) (*ppoRollout, error) {
	t, c := d.tr, d.tr.Config
	B := len(prompts)
	ro := &ppoRollout{promptIDs: make([][]int, B), texts: make([]string, B), kl: make([]float64, B), scores: make([]float64, B)}
	seeds := make([]uint64, B)
	for i, p := range prompts {
		ro.promptIDs[i] = ppo.EncodePrompt(t.Tok, p, c.PromptEOS, t.Policy.Config.NPositions, c.MaxNewTokens)
		seeds[i] = d.rng.Uint64()
	}
	s, err := t.Policy.Sample(ctx, ro.promptIDs, gpt.SampleConfig{MaxNewTokens: c.MaxNewTokens,
		Temperature: c.Temperature, StopAtEOS: c.StopAtEOS, Seeds: seeds})
	if err != nil {
		return nil, fmt.Errorf("ppo: sample: %w", err)
	}
	ro.completions = s.Tokens
	for i, comp := range ro.completions {
		ro.texts[i] = ppo.DecodeCompletion(t.Tok, comp)
	}
	sc, err := t.Scorer.ScoreText(prompts, ro.texts)
	if err != nil {
		return nil, fmt.Errorf("ppo: score: %w", err)
	}
	if len(sc) != B {
		return nil, fmt.Errorf("ppo: scorer returned %d scores for %d completions", len(sc), B)
	}
	for i, v := range sc {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("ppo: score %d of %q is %v", i, ro.texts[i], v)
		}
		ro.scores[i] = float64(v)
	}
	ro.logp, ro.values = ppoEval(t.Policy, ro.promptIDs, ro.completions)
	ro.refLP, _ = ppoEval(t.Ref, ro.promptIDs, ro.completions)
	return ro, nil
}

// update runs the PPO epochs over ro in shuffled minibatches.
func (d *ppoDevice) update(ctx context.Context, ro *ppoRollout, st *ppo.LMStats) error {
	c := d.tr.Config
	B := len(ro.promptIDs)
	perm := make([]int, B)
	for i := range perm {
		perm[i] = i
	}
	var nmb float64
	for range c.Epochs {
		d.rng.Shuffle(B, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		for mb := range c.MiniBatches {
			if err := ctx.Err(); err != nil {
				return err
			}
			lo, hi := mb*B/c.MiniBatches, (mb+1)*B/c.MiniBatches
			if lo == hi {
				continue
			}
			if err := d.minibatch(ro, perm[lo:hi], st); err != nil {
				return err
			}
			nmb++
		}
	}
	if nmb > 0 {
		st.ApproxKL /= nmb
		st.ClipFrac /= nmb
		st.PolicyLoss /= nmb
		st.ValueLoss /= nmb
		st.GradNorm /= nmb
	}
	return nil
}

// minibatch takes one optimiser step on the device on episodes idx of ro
// and adds its statistics (before the update) to st.
func (d *ppoDevice) minibatch(ro *ppoRollout, idx []int, st *ppo.LMStats) error {
	c, policy := d.tr.Config, d.tr.Policy
	pIDs := make([][]int, len(idx))
	comps := make([][]int, len(idx))
	for k, i := range idx {
		pIDs[k], comps[k] = ro.promptIDs[i], ro.completions[i]
	}
	ids, T, tokMask := ppoRows(pIDs, comps, policy.Config.NPositions)
	B := len(idx)
	// Per-action tensors (B, T-1): column j is the token at position j+1.
	oldLP, oldV := tensor.New(B, T-1), tensor.New(B, T-1)
	adv, ret, mask := tensor.New(B, T-1), tensor.New(B, T-1), tensor.New(B, T-1)
	for k, i := range idx {
		start := len(pIDs[k]) - 1
		for j := range comps[k] {
			a := k*(T-1) + start + j
			oldLP.Data[a] = ro.logp[i][j]
			oldV.Data[a] = ro.values[i][j]
			adv.Data[a] = ro.adv[i][j]
			ret.Data[a] = ro.returns[i][j]
			mask.Data[a] = 1
		}
	}
	// losses builds the minibatch loss of ppo.LMTrainer and its parts.
	losses := func(tp *ag.Tape) (loss, pg, vl, logp *ag.Var) {
		h := policy.Hidden(tp, ids, B, T)                                      // (B, T, C)
		logp, lsm := policy.LogProbsOf(tp, policy.Logits(tp, h), ids, tokMask) // (B, T-1)
		v := tp.Slice(policy.ValuesOf(tp, h), 1, 0, T-1)                       // (B, T-1)
		pg = ppo.PolicyLoss(tp, logp, oldLP, adv, float32(c.ClipRange), mask)
		vl = ppo.ValueLoss(tp, v, oldV, ret, float32(c.ClipRangeValue), mask)
		loss = tp.Add(pg, tp.Scale(vl, float32(c.VFCoef)))
		if c.EntCoef > 0 {
			ent := tp.Slice(gpt.EntropyOf(tp, lsm), 1, 0, T-1)
			loss = tp.Sub(loss, tp.Scale(ppo.EntropyBonus(tp, ent, mask), float32(c.EntCoef)))
		}
		return loss, pg, vl, logp
	}
	// One forward pass for the statistics: log-probs (B·(T-1)), then the
	// policy and value losses.
	parts, err := d.s.forward(func(tp *ag.Tape) *ag.Var {
		_, pg, vl, logp := losses(tp)
		return tp.Concat(0, tp.Reshape(logp, B*(T-1)), tp.Reshape(pg, 1), tp.Reshape(vl, 1))
	})
	if err != nil {
		return fmt.Errorf("ppo: %w", err)
	}
	lp := parts.Data[:B*(T-1)]
	_, norm, err := d.s.step(c.LR, func(tp *ag.Tape) *ag.Var {
		loss, _, _, _ := losses(tp)
		return loss
	})
	if err != nil {
		return fmt.Errorf("ppo: %w", err)
	}
	st.PolicyLoss += float64(parts.Data[B*(T-1)])
	st.ValueLoss += float64(parts.Data[B*(T-1)+1])
	st.ApproxKL += ppo.ApproxKL(lp, oldLP.Data, mask.Data)
	st.ClipFrac += ppo.ClipFrac(lp, oldLP.Data, float32(c.ClipRange), mask.Data)
	st.GradNorm += norm
	return nil
}
