// Command language compares policy optimisers on one label budget: PPO
// against the learned reward model (several KL targets), DPO on the same
// labelled pairs (several β) and best-of-n sampling with the reward model
// (several n). Each point is a policy's gold score (VADER sentiment of its
// completions of held-out prompts) against its KL to the pretrained model,
// the frontier of Gao et al. 2022 and Stiennon et al. 2020.
//
// It starts from a run directory of `rlhf demo` (its comparisons.jsonl is
// the label budget, its rm/ the reward model) and writes results.json,
// frontier.svg and a markdown table to -out:
//
//	go run ./cmd/rlhf demo -out runs/lang-base
//	go run ./experiments/language -from runs/lang-base -out docs/results/language
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"rlhf/bon"
	"rlhf/dpo"
	"rlhf/feedback"
	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/report"
	"rlhf/reward"
	"rlhf/text"
)

// point is one trained (or sampled) policy on the frontier.
type point struct {
	Method  string  `json:"method"`
	Setting string  `json:"setting"`
	Gold    float64 `json:"gold_mean"`
	GoldStd float64 `json:"gold_std"`
	KL      float64 `json:"kl_mean"` // nats per completion; analytic for best-of-n
	KLStd   float64 `json:"kl_std"`
	RM      float64 `json:"rm_mean"` // mean reward-model score (normalised)
	Seconds float64 `json:"seconds"`
}

func main() {
	from := flag.String("from", "", "run directory of rlhf demo (comparisons.jsonl, rm/, run.json)")
	out := flag.String("out", "docs/results/language", "output directory")
	targets := flag.String("ppo-kl", "1,3,6", "PPO KL targets (nats per completion)")
	betas := flag.String("dpo-beta", "0.03,0.1,0.3", "DPO β values")
	ns := flag.String("bon-n", "1,2,4,8,16", "best-of-n values")
	steps := flag.Int("ppo-steps", 40, "PPO steps per run")
	dpoEpochs := flag.Int("dpo-epochs", 2, "DPO epochs")
	dpoLR := flag.Float64("dpo-lr", 1e-4, "DPO learning rate")
	evalPrompts := flag.Int("eval-prompts", 128, "held-out prompts per evaluation")
	seed := flag.Uint64("seed", 1, "seed of training and sampling")
	curves := flag.String("curves", "", "instead: comma-separated demo run directories (one per seed) to plot gold score and KL over PPO steps into -out")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *curves != "" {
		if err := plotCurves(strings.Split(*curves, ","), *out); err != nil {
			fmt.Fprintln(os.Stderr, "language:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *from, *out, *targets, *betas, *ns, *steps, *dpoEpochs, *dpoLR, *evalPrompts, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "language:", err)
		os.Exit(1)
	}
}

func floats(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q: %w", f, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func run(ctx context.Context, from, out, targetsS, betasS, nsS string, steps, dpoEpochs int, dpoLR float64, evalPrompts int, seed uint64) error {
	if from == "" {
		return fmt.Errorf("-from names no run directory")
	}
	targets, err := floats(targetsS)
	if err != nil {
		return fmt.Errorf("-ppo-kl: %w", err)
	}
	betas, err := floats(betasS)
	if err != nil {
		return fmt.Errorf("-dpo-beta: %w", err)
	}
	nsF, err := floats(nsS)
	if err != nil {
		return fmt.Errorf("-bon-n: %w", err)
	}
	var cfg loop.TextConfig
	buf, err := os.ReadFile(filepath.Join(from, loop.TextRunFile))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(buf, &cfg); err != nil {
		return fmt.Errorf("%s: %w", loop.TextRunFile, err)
	}
	goal, err := loop.TextGoal(cfg.Goal, []rune(cfg.Letter + "e")[0])
	if err != nil {
		return err
	}
	base, err := gpt.Load(cfg.Policy)
	if err != nil {
		return err
	}
	tok, err := gpt.LoadTokenizer(cfg.Policy, base.Config)
	if err != nil {
		return err
	}
	rm, err := loop.LoadTextRM(filepath.Join(from, loop.TextRMDir))
	if err != nil {
		return err
	}
	trainPrompts, err := text.Prompts("train")
	if err != nil {
		return err
	}
	valPrompts, err := text.Prompts("val")
	if err != nil {
		return err
	}
	valPrompts = valPrompts[:min(evalPrompts, len(valPrompts))]
	s := cfg.Sampling
	evalSeed := seed*7919 + 17
	rmMean := func(samples []ppo.LMSample) float64 {
		ps, cs := make([]string, len(samples)), make([]string, len(samples))
		for i, x := range samples {
			ps[i], cs[i] = x.Prompt, x.Completion
		}
		sc, err := rm.ScoreText(ps, cs)
		if err != nil {
			return math.NaN()
		}
		m := 0.0
		for _, v := range sc {
			m += float64(v)
		}
		return m / float64(len(sc))
	}
	evalPoint := func(method, setting string, policy *gpt.Model, t0 time.Time) (point, error) {
		ev, err := loop.EvalText(ctx, policy, base, tok, valPrompts, goal, s, evalSeed)
		if err != nil {
			return point{}, err
		}
		p := point{Method: method, Setting: setting, Gold: ev.Gold, GoldStd: ev.GoldStd, KL: ev.KL, KLStd: ev.KLStd,
			RM: rmMean(ev.Samples), Seconds: time.Since(t0).Seconds()}
		fmt.Fprintf(os.Stderr, "%-12s %-10s gold %+.3f ± %.3f  KL %6.2f ± %.2f  rm %+.2f  (%.0fs)\n", method, setting, p.Gold, p.GoldStd, p.KL, p.KLStd, p.RM, p.Seconds)
		return p, nil
	}
	var points []point

	// Best-of-n with the reward model, from the pretrained policy.
	for _, nf := range nsF {
		t0 := time.Now()
		n := int(nf)
		pIDs := make([][]int, len(valPrompts))
		for i, p := range valPrompts {
			pIDs[i] = ppo.EncodePrompt(tok, p, s.PromptEOS, base.Config.NPositions, s.MaxNewTokens)
		}
		res, err := bon.Sample(ctx, base, pIDs, n, gpt.SampleConfig{MaxNewTokens: s.MaxNewTokens, Temperature: 1, StopAtEOS: s.StopAtEOS, Seed: evalSeed},
			tokenScorer{rm, tok})
		if err != nil {
			return err
		}
		var golds []float64
		for _, b := range res.Best {
			golds = append(golds, goal(ppo.DecodeCompletion(tok, b)))
		}
		m, sd := report.Spread(golds)
		p := point{Method: "best-of-n", Setting: fmt.Sprintf("n=%d", n), Gold: m, GoldStd: sd, KL: bon.KL(n), RM: res.MeanBest(), Seconds: time.Since(t0).Seconds()}
		fmt.Fprintf(os.Stderr, "%-12s %-10s gold %+.3f ± %.3f  KL %6.2f (analytic)  rm %+.2f  (%.0fs)\n", p.Method, p.Setting, p.Gold, p.GoldStd, p.KL, p.RM, p.Seconds)
		points = append(points, p)
	}

	// DPO on the labelled pairs.
	pairs, err := readPairs(filepath.Join(from, loop.TextComparisonsFile), tok, s, base.Config.NPositions)
	if err != nil {
		return err
	}
	nVal := int(float64(len(pairs)) * cfg.ValFrac)
	for _, beta := range betas {
		t0 := time.Now()
		policy, err := ppo.CloneGPT(base)
		if err != nil {
			return err
		}
		dc := dpo.DefaultConfig()
		dc.Beta, dc.Epochs, dc.LR, dc.Seed = beta, dpoEpochs, dpoLR, seed
		tr, err := dpo.NewTrainer(dc, policy, base, pairs[:len(pairs)-nVal], pairs[len(pairs)-nVal:])
		if err != nil {
			return err
		}
		if err := tr.Train(ctx, nil); err != nil {
			return err
		}
		p, err := evalPoint("DPO", fmt.Sprintf("β=%g", beta), policy, t0)
		if err != nil {
			return err
		}
		points = append(points, p)
	}

	// PPO against the reward model.
	for _, target := range targets {
		t0 := time.Now()
		policy, err := ppo.CloneGPT(base)
		if err != nil {
			return err
		}
		pc := loop.DefaultTextConfig().PPO
		pc.Seed, pc.KLTarget, pc.MaxNewTokens = seed, target, cfg.Sampling.MaxNewTokens
		tr, err := ppo.NewLMTrainer(pc, policy, tok, rm, trainPrompts)
		if err != nil {
			return err
		}
		for range steps {
			if _, err := tr.Step(ctx); err != nil {
				return err
			}
		}
		p, err := evalPoint("PPO", fmt.Sprintf("KL→%g", target), tr.Policy, t0)
		if err != nil {
			return err
		}
		points = append(points, p)
	}
	return write(out, from, cfg, points, steps)
}

// tokenScorer scores token completions with a text scorer, decoding the
// prompt without its leading end-of-text token and the completion without
// its final one, as the reward model saw them in training.
type tokenScorer struct {
	sc  reward.TextScorer
	tok *text.Tokenizer
}

func (t tokenScorer) Score(prompts, completions [][]int) ([]float32, error) {
	ps, cs := make([]string, len(prompts)), make([]string, len(completions))
	eot := t.tok.EndOfText()
	for i, p := range prompts {
		if len(p) > 0 && p[0] == eot {
			p = p[1:]
		}
		ps[i] = t.tok.Decode(p)
	}
	for i, c := range completions {
		cs[i] = ppo.DecodeCompletion(t.tok, c)
	}
	return t.sc.ScoreText(ps, cs)
}

// readPairs reads the labelled comparisons as DPO pairs (every completion
// the labeler did not choose is a rejected one), encoding prompts as the
// policy was prompted when the completions were sampled.
func readPairs(path string, tok *text.Tokenizer, s loop.TextSampling, positions int) ([]dpo.Pair, error) {
	var pairs []dpo.Pair
	for r, err := range feedback.ReadBestOfFile(path, nil) {
		if err != nil {
			return nil, err
		}
		p := ppo.EncodePrompt(tok, r.Prompt, s.PromptEOS, positions, s.MaxNewTokens)
		for i, c := range r.Completions {
			if i != r.Choice {
				pairs = append(pairs, dpo.Pair{Prompt: p, Chosen: tok.Encode(r.Completions[r.Choice]), Rejected: tok.Encode(c)})
			}
		}
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%s holds no decided comparisons", path)
	}
	return pairs, nil
}

func write(out, from string, cfg loop.TextConfig, points []point, steps int) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	buf, _ := json.MarshalIndent(map[string]any{"from": from, "labels": cfg.Queries, "k": cfg.K, "ppo_steps": steps, "points": points}, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "frontier.json"), append(buf, '\n'), 0o644); err != nil {
		return err
	}
	plot := &report.Plot{Title: fmt.Sprintf("Gold sentiment against KL, %d labels", cfg.Queries), XLabel: "KL to the pretrained model (nats per completion)", YLabel: "gold VADER sentiment (held-out prompts)"}
	var rows [][]string
	for _, method := range []string{"best-of-n", "DPO", "PPO"} {
		ser := report.Series{Name: method, Scatter: true}
		for _, p := range points {
			if p.Method != method {
				continue
			}
			ser.X, ser.Y = append(ser.X, p.KL), append(ser.Y, p.Gold)
			ser.PointLabels = append(ser.PointLabels, p.Setting)
			rows = append(rows, []string{p.Method, p.Setting, fmt.Sprintf("%+.3f ± %.3f", p.Gold, p.GoldStd), fmt.Sprintf("%.2f", p.KL), fmt.Sprintf("%+.2f", p.RM), fmt.Sprintf("%.0f", p.Seconds)})
		}
		plot.Series = append(plot.Series, ser)
	}
	if err := report.WriteSVGFile(filepath.Join(out, "frontier.svg"), plot.SVG()); err != nil {
		return err
	}
	table := report.MarkdownTable([]string{"method", "setting", "gold sentiment (mean ± std)", "KL (nats)", "reward model", "seconds"}, rows)
	fmt.Print(table)
	return os.WriteFile(filepath.Join(out, "frontier.md"), []byte(table), 0o644)
}

// plotCurves writes demo-gold.svg and demo-kl.svg: the gold score of the PPO
// batches and their KL to the reference over PPO steps, mean ± std over the
// given runs (seeds).
func plotCurves(dirs []string, out string) error {
	var runs []*report.Metrics
	target := 0.0
	for _, d := range dirs {
		m, err := report.LoadMetrics(filepath.Join(d, report.MetricsFile))
		if err != nil {
			return err
		}
		runs = append(runs, m)
		var cfg loop.TextConfig
		if buf, err := os.ReadFile(filepath.Join(d, loop.TextRunFile)); err == nil && json.Unmarshal(buf, &cfg) == nil {
			target = cfg.PPO.KLTarget
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	n := fmt.Sprintf("mean ± std over %d seeds", len(runs))
	gold := &report.Plot{Title: "Gold sentiment of the PPO batches (" + n + ")", XLabel: "PPO step (32 episodes)", YLabel: "VADER sentiment",
		Series: []report.Series{report.MeanStd("gold (VADER)", runs, "objective/gold")}}
	kl := &report.Plot{Title: "KL to the reference (" + n + ")", XLabel: "PPO step (32 episodes)", YLabel: "nats per completion",
		Series: []report.Series{report.MeanStd("KL", runs, "objective/kl")}}
	if s := kl.Series[0]; target > 0 && len(s.X) > 0 {
		kl.Series = append(kl.Series, report.Series{Name: "target", X: []float64{s.X[0], s.X[len(s.X)-1]}, Y: []float64{target, target}})
	}
	if err := report.WriteSVGFile(filepath.Join(out, "demo-gold.svg"), gold.SVG()); err != nil {
		return err
	}
	return report.WriteSVGFile(filepath.Join(out, "demo-kl.svg"), kl.SVG())
}
