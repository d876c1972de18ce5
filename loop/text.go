package loop

// The language side of the loop (Ziegler et al. 2019's offline variant):
// sample completions of prompts from the pretrained policy, ask a labeler
// to compare them, train a GPT reward model on the labels, optimise the
// policy against it with token-level PPO and a KL penalty, and measure the
// result with the hidden goal the synthetic labeler compared by.
//
// text.go holds the pieces: goals, comparisons, reward-model training and
// evaluation. text_loop.go wires them into one run (RunText).

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"rlhf/ag"
	"rlhf/feedback"
	"rlhf/feedback/textscore"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/report"
	"rlhf/reward"
	"rlhf/text"
)

// Text goals accepted by TextGoal.
const (
	GoalSentiment = "sentiment"
	GoalLipogram  = "lipogram"
	// GoalRM prefixes a goal that is a trained reward model: "rm:DIR".
	GoalRM = "rm:"
	// GoalEnsemble prefixes an ensemble of reward models,
	// "ens:MODE:DIR1,DIR2,...", MODE one of reward.ParseEnsembleMode's.
	GoalEnsemble = "ens:"
)

// TextGoals lists the goal names, for messages.
var TextGoals = []string{GoalSentiment, GoalLipogram, GoalRM + "DIR", GoalEnsemble + "mean|min|uwo=λ:DIR1,DIR2,..."}

// TextGoal returns the hidden goal named by spec as a scorer of (prompt,
// completion) pairs: "sentiment" (VADER compound of the completion, in
// [-1, 1]), "lipogram" (avoid letter; textscore.Lipogram) or "rm:DIR", a
// reward model saved by `rlhf rm` or the demo (LoadTextRM). A reward model
// as the goal is Gao et al. (2022)'s gold reward model: synthetic labels
// come from it, and a proxy trained on them is measured against it, on a
// scale that does not saturate as VADER's does. "ens:MODE:DIR1,DIR2,..."
// is an ensemble of such reward models (reward.TextEnsemble), combined by
// MODE: mean, min (worst case) or uwo=λ (mean minus λ times the members'
// variance), Coste et al. (2023)'s ways of optimising an ensemble.
func TextGoal(spec string, letter rune) (reward.TextScorer, error) {
	if err := CheckTextGoal(spec, letter); err != nil {
		return nil, err
	}
	switch spec {
	case GoalSentiment:
		return reward.GoalScorer{Goal: textscore.Sentiment}, nil
	case GoalLipogram:
		return reward.GoalScorer{Goal: textscore.Lipogram{Letter: letter}.Score}, nil
	}
	if strings.HasPrefix(spec, GoalEnsemble) {
		mode, lambda, dirs, err := ensembleGoal(spec)
		if err != nil {
			return nil, err
		}
		e := reward.TextEnsemble{Mode: mode, Lambda: lambda}
		for _, d := range dirs {
			rm, err := LoadTextRM(d)
			if err != nil {
				return nil, fmt.Errorf("loop: goal %s: %w", spec, err)
			}
			e.Members = append(e.Members, rm)
		}
		return e, nil
	}
	rm, err := LoadTextRM(strings.TrimPrefix(spec, GoalRM))
	if err != nil {
		return nil, fmt.Errorf("loop: goal %s: %w", spec, err)
	}
	return rm, nil
}

// CheckTextGoal reports whether spec names a goal TextGoal can build
// without loading a reward model's weights: for "rm:DIR" it reads DIR's
// config and checks that the model has a reward head. Flag checks use it,
// so that a run loads its goal once.
func CheckTextGoal(spec string, letter rune) error {
	switch {
	case spec == GoalSentiment:
		return nil
	case spec == GoalLipogram:
		if letter == 0 {
			return fmt.Errorf("loop: lipogram goal needs a letter")
		}
		return nil
	case strings.HasPrefix(spec, GoalRM):
		dir := strings.TrimPrefix(spec, GoalRM)
		if dir == "" {
			return fmt.Errorf("loop: goal %q names no reward model directory", spec)
		}
		return checkRewardDir(spec, dir)
	case strings.HasPrefix(spec, GoalEnsemble):
		_, _, dirs, err := ensembleGoal(spec)
		if err != nil {
			return err
		}
		for _, d := range dirs {
			if err := checkRewardDir(spec, d); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("loop: unknown goal %q (valid: %s)", spec, strings.Join(TextGoals, ", "))
}

// checkRewardDir reports whether dir, named in goal spec, holds a model
// with a reward head (its config only).
func checkRewardDir(spec, dir string) error {
	cfg, err := gpt.ReadConfig(dir)
	if err != nil {
		return fmt.Errorf("loop: goal %s: %w", spec, err)
	}
	if !cfg.RewardHead {
		return fmt.Errorf("loop: goal %s: the model in %s has no reward head (reward_head in %s); is it a policy? train one with rlhf rm", spec, dir, gpt.ConfigFile)
	}
	return nil
}

// ensembleGoal splits an "ens:MODE:DIR1,DIR2,..." goal into its mode (as
// reward.ParseEnsembleMode returns it) and its directories, at least two,
// none empty. It reads no directory.
func ensembleGoal(spec string) (mode string, lambda float64, dirs []string, err error) {
	m, list, _ := strings.Cut(strings.TrimPrefix(spec, GoalEnsemble), ":")
	if mode, lambda, err = reward.ParseEnsembleMode(m); err != nil {
		return "", 0, nil, fmt.Errorf("loop: goal %q: %w", spec, err)
	}
	dirs = strings.Split(list, ",")
	if len(dirs) < 2 || slices.Contains(dirs, "") {
		return "", 0, nil, fmt.Errorf("loop: goal %q: an ensemble needs at least two reward model directories, comma-separated after the mode", spec)
	}
	return mode, lambda, dirs, nil
}

// GoalScores returns goal's score of each (prompt, completion) pair. A
// programmatic goal (reward.GoalScorer) is evaluated in float64, so its
// scores are exactly the goal function's; any other scorer (a reward
// model) through ScoreText. A non-finite score is an error.
func GoalScores(goal reward.TextScorer, prompts, completions []string) ([]float64, error) {
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("loop: goal of %d prompts with %d completions", len(prompts), len(completions))
	}
	if g, ok := goal.(reward.GoalScorer); ok {
		out, err := g.Scores(prompts, completions)
		if err != nil {
			return nil, fmt.Errorf("loop: goal: %w", err)
		}
		return out, nil
	}
	s, err := goal.ScoreText(prompts, completions)
	if err != nil {
		return nil, fmt.Errorf("loop: goal: %w", err)
	}
	out := make([]float64, len(s))
	for i, v := range s {
		if out[i] = float64(v); math.IsNaN(out[i]) || math.IsInf(out[i], 0) {
			return nil, fmt.Errorf("loop: goal of completion %d is %v", i, v)
		}
	}
	return out, nil
}

// GoalItems returns goal as the score a synthetic labeler compares a text
// item by (the item's prompt and completion); a scoring error gives NaN,
// which the labelers reject.
func GoalItems(goal reward.TextScorer) feedback.ScoreFunc {
	if g, ok := goal.(reward.GoalScorer); ok && g.Goal != nil {
		if g.WithPrompt {
			return feedback.PromptAndCompletion(g.Goal)
		}
		return feedback.Completion(g.Goal)
	}
	return func(it feedback.Item) float64 {
		s, err := GoalScores(goal, []string{it.Prompt}, []string{it.Completion})
		if err != nil {
			return math.NaN()
		}
		return s[0]
	}
}

// GoalItemsOf is GoalItems with every item of qs scored up front, in
// batches: a reward model as the goal then scores many rows per forward pass
// instead of one. Items outside qs are scored one at a time. A batch can
// differ from single rows in the last bits of float32, which moves a
// Boltzmann label only when its draw falls within that of the boundary.
func GoalItemsOf(goal reward.TextScorer, qs []feedback.Query) (feedback.ScoreFunc, error) {
	one := GoalItems(goal)
	if g, ok := goal.(reward.GoalScorer); ok && g.Goal != nil {
		return one, nil // already cheap and exact
	}
	var ps, cs []string
	for _, q := range qs {
		for _, it := range q.Items {
			ps, cs = append(ps, it.Prompt), append(cs, it.Completion)
		}
	}
	s, err := GoalScores(goal, ps, cs)
	if err != nil {
		return nil, err
	}
	type key struct{ prompt, completion string }
	known := make(map[key]float64, len(s))
	for i, v := range s {
		known[key{ps[i], cs[i]}] = v
	}
	return func(it feedback.Item) float64 {
		if v, ok := known[key{it.Prompt, it.Completion}]; ok {
			return v
		}
		return one(it)
	}, nil
}

// TextLabeler returns the synthetic text labeler: Boltzmann-rational over
// the goal's score of each item (GoalItems) with temperature beta (0: the
// perfect oracle), answering uniformly at random with probability
// epsRandom. Completions whose goal scores lie within tie of each other are
// called a tie.
func TextLabeler(goal reward.TextScorer, beta, tie, epsRandom float64, seed uint64) (feedback.Labeler, error) {
	if goal == nil {
		return nil, fmt.Errorf("loop: labeler has no goal")
	}
	return TextLabelerOf(GoalItems(goal), beta, tie, epsRandom, seed)
}

// TextLabelerOf is TextLabeler over an item score (e.g. GoalItemsOf).
func TextLabelerOf(score feedback.ScoreFunc, beta, tie, epsRandom float64, seed uint64) (feedback.Labeler, error) {
	if !(beta >= 0) || math.IsInf(beta, 0) {
		return nil, fmt.Errorf("loop: labeler temperature %v, want a finite value >= 0", beta)
	}
	if !(epsRandom >= 0 && epsRandom <= 1) {
		return nil, fmt.Errorf("loop: random-answer probability %v not in [0, 1]", epsRandom)
	}
	if score == nil {
		return nil, fmt.Errorf("loop: labeler has no score")
	}
	var lab feedback.Labeler = feedback.Boltzmann{Score: score, Beta: beta, TieMargin: tie, Seed: seed}
	if beta == 0 {
		lab = feedback.Oracle{Score: score, TieMargin: tie}
	}
	if epsRandom > 0 {
		lab = feedback.Noisy{Labeler: lab, Epsilon: epsRandom, Seed: seed}
	}
	return lab, nil
}

// TextSampling says how completions are drawn from a policy.
type TextSampling struct {
	MaxNewTokens int     `json:"max_new_tokens"` // most tokens per completion
	Temperature  float64 `json:"temperature"`    // 1 samples the policy itself
	StopAtEOS    bool    `json:"stop_at_eos"`    // end a completion at the end-of-text token
	PromptEOS    bool    `json:"prompt_eos"`     // prefix prompts with the end-of-text token
}

// lmConfig returns a ppo.LMConfig carrying the sampling settings, for the
// helpers of package ppo.
func (s TextSampling) lmConfig() ppo.LMConfig {
	c := ppo.DefaultLMConfig()
	c.MaxNewTokens, c.Temperature, c.StopAtEOS, c.PromptEOS = s.MaxNewTokens, s.Temperature, s.StopAtEOS, s.PromptEOS
	return c
}

// TextQueries samples k completions of each prompt from m and returns one
// k-way text query per prompt, with ids prefix-0, prefix-1, ... Completion j
// of prompt i is seeded by seed, i and j alone.
func TextQueries(ctx context.Context, m *gpt.Model, tok *text.Tokenizer, prompts []string, k int, s TextSampling, seed uint64, prefix string) ([]feedback.Query, error) {
	if k < 2 || k > feedback.MaxItems {
		return nil, fmt.Errorf("loop: %d completions per query, want 2..%d", k, feedback.MaxItems)
	}
	const chunk = 64
	var rowsP []string
	for _, p := range prompts {
		for range k {
			rowsP = append(rowsP, p)
		}
	}
	texts := make([]string, 0, len(rowsP))
	for lo := 0; lo < len(rowsP); lo += chunk {
		hi := min(lo+chunk, len(rowsP))
		t, _, _, err := ppo.Generate(ctx, m, tok, rowsP[lo:hi], s.lmConfig(), s.Temperature, seed*0x9e3779b97f4a7c15+uint64(lo))
		if err != nil {
			return nil, fmt.Errorf("loop: sample comparisons: %w", err)
		}
		texts = append(texts, t...)
	}
	qs := make([]feedback.Query, len(prompts))
	for i, p := range prompts {
		qs[i] = feedback.TextQuery(fmt.Sprintf("%s-%d", prefix, i), p, texts[i*k:(i+1)*k]...)
		qs[i].Sampler = map[string]any{"temperature": s.Temperature, "max_new_tokens": s.MaxNewTokens, "seed": seed}
	}
	return qs, nil
}

// TextRM is a GPT reward model as the text loop trains and uses it: every
// completion is followed by the end-of-text token, so that the reward head
// reads the model's state at a fixed end marker, which has attended to the
// whole completion, rather than at whatever word happens to come last (the
// reward models of Stiennon et al. 2020 read their score at an end token
// too). On the demo's sentiment labels this lifts held-out accuracy by a few
// points over reading at the last word.
type TextRM struct{ *reward.GPTReward }

// TextRMEOSFile marks a reward-model directory whose completions end with
// the end-of-text token (see TextRM); LoadTextRM honours it.
const TextRMEOSFile = "append_eos"

// ScoreText returns the normalised reward of each prompt and completion,
// with the end-of-text token after the completion.
func (r TextRM) ScoreText(prompts, completions []string) ([]float32, error) {
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("loop: score %d prompts with %d completions", len(prompts), len(completions))
	}
	ps, cs := make([][]int, len(prompts)), make([][]int, len(prompts))
	for i := range prompts {
		ps[i] = r.Tok.Encode(prompts[i])
		cs[i] = append(r.Tok.Encode(completions[i]), r.Tok.EndOfText())
	}
	return r.Score(ps, cs)
}

// SaveTextRM saves r to dir with the TextRMEOSFile marker.
func SaveTextRM(r TextRM, dir string) error {
	if err := r.Save(dir); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, TextRMEOSFile), []byte("completions end with <|endoftext|>\n"), 0o644); err != nil {
		return fmt.Errorf("loop: save reward model: %w", err)
	}
	return nil
}

// LoadTextRM loads the GPT reward model in dir as a text scorer: a TextRM
// when dir carries the TextRMEOSFile marker, the plain reward.GPTReward
// otherwise.
func LoadTextRM(dir string) (reward.TextScorer, error) {
	rm, err := reward.LoadGPT(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, TextRMEOSFile)); err == nil {
		return TextRM{rm}, nil
	}
	return rm, nil
}

// TokenComparisons turns labelled text queries into the reward model's
// token comparisons, encoding prompts and completions the way
// reward.GPTReward.ScoreText does, with the end-of-text token after each
// completion when eos is set (as TextRM scores them). Labels without a
// target (can't tell, skip) are dropped.
func TokenComparisons(tok *text.Tokenizer, qs []feedback.Query, labels []feedback.Label, eos bool) ([]reward.TokenComparison, error) {
	if len(qs) != len(labels) {
		return nil, fmt.Errorf("loop: %d queries with %d labels", len(qs), len(labels))
	}
	var out []reward.TokenComparison
	for i, q := range qs {
		if _, ok := feedback.SoftTarget(labels[i].Choice, len(q.Items)); !ok {
			continue
		}
		c := reward.TokenComparison{Prompt: tok.Encode(q.Items[0].Prompt), Choice: labels[i].Choice}
		for _, it := range q.Items {
			comp := tok.Encode(it.Completion)
			if eos {
				comp = append(comp, tok.EndOfText())
			}
			c.Completions = append(c.Completions, comp)
		}
		out = append(out, c)
	}
	return out, nil
}

// TextRMConfig holds the reward model's training settings.
type TextRMConfig struct {
	Epochs      int     `json:"epochs"`       // passes over the training comparisons
	Batch       int     `json:"batch"`        // comparisons per step
	LR          float64 `json:"lr"`           // Adam learning rate (constant)
	WeightDecay float64 `json:"weight_decay"` // on weight matrices
	Eps         float64 `json:"eps"`          // random-answer probability of the choice model
	ClipNorm    float64 `json:"clip_norm"`    // global gradient-norm limit
	Seed        uint64  `json:"seed"`         // reward head and minibatch order
}

// Steps is the number of optimiser steps of c.Epochs passes over n
// comparisons in minibatches of c.Batch, the last of a pass possibly short
// (0 for a batch size below 1).
func (c TextRMConfig) Steps(n int) int {
	if c.Batch <= 0 {
		return 0
	}
	return c.Epochs * ((n + c.Batch - 1) / c.Batch)
}

// DefaultTextRMConfig returns the defaults for the tiny GPT: 2 epochs of
// batches of 16 comparisons at lr 3e-4 (Ziegler et al. train their reward
// models for one epoch; on a few thousand labels a second one still helps
// held-out accuracy a little, a third only overfits).
func DefaultTextRMConfig() TextRMConfig {
	return TextRMConfig{Epochs: 2, Batch: 16, LR: 3e-4, WeightDecay: 0.01, Eps: 0, ClipNorm: 1, Seed: 1}
}

// TrainTextRM trains rm on train for c.Epochs epochs and returns its
// metrics on val (the zero Metrics for an empty val). each, if not nil, is
// called after every step with the step number, the total and the loss.
func TrainTextRM(ctx context.Context, rm *reward.GPTReward, train, val []reward.TokenComparison, c TextRMConfig, each func(step, total int, loss float64)) (reward.Metrics, error) {
	if c.Epochs <= 0 || c.Batch <= 0 || !(c.LR > 0) {
		return reward.Metrics{}, fmt.Errorf("loop: reward training needs positive epochs, batch and lr (got %d, %d, %g)", c.Epochs, c.Batch, c.LR)
	}
	if len(train) == 0 { // checked here too: no steps would be the error otherwise
		return reward.Metrics{}, fmt.Errorf("loop: no comparisons to train the reward model on")
	}
	return trainTextRMSteps(ctx, rm, train, val, c, c.Steps(len(train)), each)
}

// trainTextRMSteps is TrainTextRM for a given number of steps: minibatches
// of c.Batch in a fresh random order of train on every pass, the last of a
// pass possibly short, until steps steps have run (c.Epochs is not read).
func trainTextRMSteps(ctx context.Context, rm *reward.GPTReward, train, val []reward.TokenComparison, c TextRMConfig, steps int, each func(step, total int, loss float64)) (reward.Metrics, error) {
	if steps <= 0 || c.Batch <= 0 || !(c.LR > 0) {
		return reward.Metrics{}, fmt.Errorf("loop: reward training needs positive steps, batch and lr (got %d, %d, %g)", steps, c.Batch, c.LR)
	}
	if len(train) == 0 {
		return reward.Metrics{}, fmt.Errorf("loop: no comparisons to train the reward model on")
	}
	opt := rm.NewOptimizer(float32(c.WeightDecay))
	tp := ag.NewTape()
	r := rand.New(rand.NewPCG(c.Seed, 0xc0ffee))
	perm := make([]int, len(train))
	for i := range perm {
		perm[i] = i
	}
	sc := reward.StepConfig{LR: float32(c.LR), Eps: float32(c.Eps), ClipNorm: c.ClipNorm}
	for step := 0; step < steps; {
		r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		for lo := 0; lo < len(perm) && step < steps; lo += c.Batch {
			if err := ctx.Err(); err != nil {
				return reward.Metrics{}, err
			}
			hi := min(lo+c.Batch, len(perm))
			mb := make([]reward.TokenComparison, 0, hi-lo)
			for _, i := range perm[lo:hi] {
				mb = append(mb, train[i])
			}
			loss, err := rm.TrainStep(tp, opt, mb, sc)
			if err != nil {
				return reward.Metrics{}, fmt.Errorf("loop: reward model step %d: %w", step, err)
			}
			step++
			if each != nil {
				each(step, steps, loss)
			}
		}
	}
	if len(val) == 0 {
		return reward.Metrics{}, nil
	}
	m, err := rm.Evaluate(val, c.Eps)
	if err != nil {
		return reward.Metrics{}, fmt.Errorf("loop: evaluate reward model: %w", err)
	}
	return m, nil
}

// PairAccuracy is the share of pairs of completions of one prompt, over
// the comparisons cs, whose order under score agrees with their order under
// goal; pairs the goal scores within tie of each other are skipped. It
// measures a reward model against the hidden goal itself rather than
// against noisy labels.
func PairAccuracy(tok *text.Tokenizer, cs []reward.TokenComparison, score, goal reward.TextScorer, tie float64) (acc float64, n int, err error) {
	var ps, comps []string
	for _, c := range cs {
		p := tok.Decode(c.Prompt)
		for _, comp := range c.Completions {
			ps = append(ps, p)
			comps = append(comps, ppo.DecodeCompletion(tok, comp))
		}
	}
	s, err := score.ScoreText(ps, comps)
	if err != nil {
		return 0, 0, fmt.Errorf("loop: pair accuracy: %w", err)
	}
	g, err := GoalScores(goal, ps, comps)
	if err != nil {
		return 0, 0, fmt.Errorf("loop: pair accuracy: %w", err)
	}
	at := 0
	right := 0.0
	for _, c := range cs {
		k := len(c.Completions)
		for a := range k {
			for b := a + 1; b < k; b++ {
				ga, gb := g[at+a], g[at+b]
				if math.Abs(ga-gb) <= tie {
					continue
				}
				n++
				sa, sb := s[at+a], s[at+b]
				switch {
				case sa == sb:
					right += 0.5
				case (sa > sb) == (ga > gb):
					right++
				}
			}
		}
		at += k
	}
	if n == 0 {
		return math.NaN(), 0, nil
	}
	return right / float64(n), n, nil
}

// TextEval is a policy's score on held-out prompts.
type TextEval struct {
	N       int     // completions scored
	Gold    float64 // mean goal score
	GoldStd float64 // its standard deviation over completions
	KL      float64 // mean Σ_t log π - log π_ref per completion, nats
	KLStd   float64
	Samples []ppo.LMSample
}

// EvalText samples one completion of each prompt from policy (seeded by
// seed and the prompt's index) and reports the goal's mean and spread and
// the sampled KL to ref (0 when ref is nil).
func EvalText(ctx context.Context, policy, ref *gpt.Model, tok *text.Tokenizer, prompts []string, goal reward.TextScorer, s TextSampling, seed uint64) (TextEval, error) {
	return EvalTextWith(ctx, nil, policy, ref, tok, prompts, goal, s, seed)
}

// EvalTextWith is EvalText with the completions drawn by smp, a sampler of
// policy (e.g. xla.Sampler on a device; nil: policy.Sample on the CPU
// engine). The KL to ref runs on the CPU engine.
func EvalTextWith(ctx context.Context, smp ppo.Sampler, policy, ref *gpt.Model, tok *text.Tokenizer, prompts []string, goal reward.TextScorer, s TextSampling, seed uint64) (TextEval, error) {
	if len(prompts) == 0 {
		return TextEval{}, fmt.Errorf("loop: evaluate on no prompts")
	}
	const chunk = 64
	var ev TextEval
	var golds, kls []float64
	for lo := 0; lo < len(prompts); lo += chunk {
		hi := min(lo+chunk, len(prompts))
		texts, pIDs, comps, err := ppo.GenerateWith(ctx, smp, policy, tok, prompts[lo:hi], s.lmConfig(), s.Temperature, seed+uint64(lo))
		if err != nil {
			return TextEval{}, fmt.Errorf("loop: evaluate: %w", err)
		}
		kl := make([]float64, len(texts))
		if ref != nil {
			kl = ppo.SequenceKL(policy, ref, pIDs, comps)
		}
		g, err := GoalScores(goal, prompts[lo:hi], texts)
		if err != nil {
			return TextEval{}, fmt.Errorf("loop: evaluate: %w", err)
		}
		for i, t := range texts {
			golds = append(golds, g[i])
			kls = append(kls, kl[i])
			ev.Samples = append(ev.Samples, ppo.LMSample{Prompt: prompts[lo+i], Completion: t, Score: g[i], KL: kl[i]})
		}
	}
	ev.N = len(golds)
	ev.Gold, ev.GoldStd = report.Spread(golds)
	ev.KL, ev.KLStd = report.Spread(kls)
	return ev, nil
}

// newTextRand returns a PCG generator seeded by seed.
func newTextRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x7e47)) }
