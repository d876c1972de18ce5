// Command language compares policy optimisers on one label budget: PPO
// against the learned reward model (several KL targets), DPO on the same
// labelled pairs (several β) and best-of-n sampling with the reward model
// (several n); on request also RLOO, GRPO, fine-tuning on the chosen
// completions (SFT), rejection-sampling fine-tuning (RSFT) and online DPO,
// the last two sampling from the policy they train, round by round. Each
// point is a policy's gold score (VADER sentiment of its completions of
// held-out prompts) against its KL to the pretrained model, the frontier of
// Gao et al. 2022 and Stiennon et al. 2020.
//
// It starts from run directories of `rlhf demo`, one per seed (each one's
// comparisons.jsonl is that seed's label budget, its rm/ the reward model),
// runs every method on each, and writes frontier.json (per-seed values and
// their mean and std over seeds), frontier.svg (means with error bars over
// seeds) and frontier.md (a markdown table) to -out, rewriting them after
// each seed:
//
//	go run ./cmd/rlhf demo -seed 1 -out runs/lang-seed1   # and 2, 3
//	go run ./experiments/language -from runs/lang-seed1,runs/lang-seed2,runs/lang-seed3 -out docs/results/language
//
// experiments/language/frontier_seeds.sh runs both steps.
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
	"rlhf/text"
)

// options are the experiment's settings, shared by every seed.
type options struct {
	targets, betas, ns []float64
	rlooTargets        []float64 // KL targets of PPO with leave-one-out advantages
	grpoTargets        []float64 // KL targets of GRPO (group-normalised scores, KL in the loss)
	grpoBetas          []float64 // fixed β of GRPO runs without a KL target
	grpoMeanOnly       bool      // GRPO's advantages: not divided by the group's std
	rlooGroup          int       // completions per prompt of RLOO and GRPO
	rlooEpochs         int       // their passes over each batch (0: PPO's)
	ppoEpochs          int       // PPO's passes over each batch (0: the default)
	klHorizon          float64   // the KL controller's horizon of PPO, RLOO and GRPO (0: the demo's)
	klMin              float64   // its floor on β (0: none)
	klGain             float64   // its immediate term's exponent (0: none)
	sftEpochs          []float64 // epochs of fine-tuning on the chosen completions (method SFT)
	rsftN              []float64 // best-of-n of rejection-sampling fine-tuning (method RSFT)
	rsftPrompts        int       // train prompts it samples per round
	rsftRounds         int       // its rounds: each samples from the last one's policy
	odpoBetas          []float64 // β of online DPO (method "online DPO")
	odpoN              int       // its completions per prompt: best against worst under the reward model
	odpoPrompts        int       // train prompts it samples per round
	odpoRounds         int       // its rounds
	odpoFollow         bool      // its reference: the policy as each round began, not the pretrained model
	steps, dpoEpochs   int
	dpoLR              float64
	evalPrompts        int
	seed               uint64 // 0: each demo run's own seed
}

func main() {
	from := flag.String("from", "", "comma-separated run directories of rlhf demo, one per seed (comparisons.jsonl, rm/, run.json)")
	out := flag.String("out", "docs/results/language", "output directory")
	targets := flag.String("ppo-kl", "1,3,6", "PPO KL targets (nats per completion)")
	betas := flag.String("dpo-beta", "0.03,0.1,0.3", "DPO β values")
	ns := flag.String("bon-n", "1,2,4,8,16", "best-of-n values")
	rlooTargets := flag.String("rloo-kl", "", "KL targets of PPO with leave-one-out advantages (method RLOO; none by default)")
	grpoTargets := flag.String("grpo-kl", "", "KL targets of GRPO: scores normalised within each group, β times a per-token KL\nestimate in the loss (method GRPO; none by default)")
	sftEpochs := flag.String("sft-epochs", "", "epochs of fine-tuning on the chosen completions alone (method SFT, Rafailov et al.'s Preferred-FT,\nat -dpo-lr; none by default)")
	rsftN := flag.String("rsft-n", "", "n of rejection-sampling fine-tuning (method RSFT): one epoch of fine-tuning on the best of n\ncompletions of each of -rsft-prompts train prompts under the reward model, at -dpo-lr; none by default")
	rsftPrompts := flag.Int("rsft-prompts", 2000, "train prompts that RSFT samples in each round")
	rsftRounds := flag.Int("rsft-rounds", 1, "rounds of RSFT (expert iteration): round r+1 samples fresh completions of the next\n-rsft-prompts train prompts from round r's policy, keeps the best under the same reward model\nand fine-tunes that policy one more epoch; each round is evaluated as its own setting")
	grpoBetas := flag.String("grpo-beta", "", "fixed β of GRPO runs without a KL target (Shao et al. use 0.04; none by default)")
	grpoMeanOnly := flag.Bool("grpo-mean-only", false, "GRPO's advantages are scores minus their group's mean, not divided by its standard deviation")
	odpoBetas := flag.String("odpo-beta", "", "β of online DPO (method \"online DPO\"): each round samples -odpo-n completions of each of\n-odpo-prompts fresh train prompts from the policy being trained, pairs the best with the worst\nunder the reward model and trains one epoch of DPO on the pairs (the pretrained model the\nreference throughout); none by default")
	odpoN := flag.Int("odpo-n", 4, "completions per prompt of online DPO")
	odpoPrompts := flag.Int("odpo-prompts", 1000, "train prompts that online DPO samples in each round")
	odpoRounds := flag.Int("odpo-rounds", 1, "rounds of online DPO; each round is evaluated as its own setting")
	odpoFollow := flag.Bool("odpo-follow", false, "online DPO's reference is the policy as each round began, not the pretrained model")
	rlooEpochs := flag.Int("rloo-epochs", 0, "passes of RLOO and GRPO over each batch (0: PPO's)")
	ppoEpochs := flag.Int("ppo-epochs", 0, "passes of PPO over each batch (0: the default, 4)")
	klHorizon := flag.Float64("kl-horizon", 0, "horizon in episodes of the adaptive KL controller of PPO, RLOO and GRPO (0: the demo's, 128)")
	klMin := flag.Float64("kl-min-coef", 0, "floor on β of the adaptive KL controller of PPO, RLOO and GRPO (0: none)")
	klGain := flag.Float64("kl-gain", 0, "exponent of the immediate term of the KL controller of PPO, RLOO and GRPO (0: none)")
	rlooGroup := flag.Int("rloo-group", 4, "completions per prompt of RLOO and GRPO (the batch of 32 episodes holds 32/k prompts)")
	steps := flag.Int("ppo-steps", 40, "PPO steps per run")
	dpoEpochs := flag.Int("dpo-epochs", 2, "DPO epochs")
	dpoLR := flag.Float64("dpo-lr", 1e-4, "DPO learning rate")
	evalPrompts := flag.Int("eval-prompts", 128, "held-out prompts per evaluation")
	seed := flag.Uint64("seed", 0, "seed of training and sampling (0: the seed of each -from run's demo)")
	curves := flag.String("curves", "", "instead: comma-separated demo run directories (one per seed) to plot gold score and KL over PPO steps into -out")
	replot := flag.String("replot", "", "instead: rewrite frontier.svg and frontier.md of this results directory from its frontier.json")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *replot != "" {
		if err := replotDir(*replot); err != nil {
			fmt.Fprintln(os.Stderr, "language:", err)
			os.Exit(1)
		}
		return
	}
	if *curves != "" {
		if err := plotCurves(strings.Split(*curves, ","), *out); err != nil {
			fmt.Fprintln(os.Stderr, "language:", err)
			os.Exit(1)
		}
		return
	}
	o := options{steps: *steps, dpoEpochs: *dpoEpochs, dpoLR: *dpoLR, evalPrompts: *evalPrompts, seed: *seed, rlooGroup: *rlooGroup, grpoMeanOnly: *grpoMeanOnly, rlooEpochs: *rlooEpochs, ppoEpochs: *ppoEpochs, klHorizon: *klHorizon, klMin: *klMin, klGain: *klGain,
		rsftPrompts: *rsftPrompts, rsftRounds: *rsftRounds, odpoN: *odpoN, odpoPrompts: *odpoPrompts, odpoRounds: *odpoRounds, odpoFollow: *odpoFollow}
	var err error
	if o.targets, err = floats(*targets); err != nil {
		err = fmt.Errorf("-ppo-kl: %w", err)
	} else if o.betas, err = floats(*betas); err != nil {
		err = fmt.Errorf("-dpo-beta: %w", err)
	} else if o.ns, err = floats(*ns); err != nil {
		err = fmt.Errorf("-bon-n: %w", err)
	} else if o.rlooTargets, err = floats(*rlooTargets); err != nil {
		err = fmt.Errorf("-rloo-kl: %w", err)
	} else if o.grpoTargets, err = floats(*grpoTargets); err != nil {
		err = fmt.Errorf("-grpo-kl: %w", err)
	} else if o.grpoBetas, err = floats(*grpoBetas); err != nil {
		err = fmt.Errorf("-grpo-beta: %w", err)
	} else if o.sftEpochs, err = floats(*sftEpochs); err != nil {
		err = fmt.Errorf("-sft-epochs: %w", err)
	} else if o.rsftN, err = floats(*rsftN); err != nil {
		err = fmt.Errorf("-rsft-n: %w", err)
	} else if o.odpoBetas, err = floats(*odpoBetas); err != nil {
		err = fmt.Errorf("-odpo-beta: %w", err)
	} else {
		err = run(ctx, dirs(*from), *out, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "language:", err)
		os.Exit(1)
	}
}

// dirs splits a comma-separated list, dropping empty entries.
func dirs(s string) []string {
	var out []string
	for d := range strings.SplitSeq(s, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// floats parses a comma-separated list of numbers; "" is none.
func floats(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
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

// run draws the frontier from each run directory in turn and rewrites the
// aggregated outputs after each one, so that an interrupted run keeps the
// seeds it finished.
func run(ctx context.Context, froms []string, out string, o options) error {
	if len(froms) == 0 {
		return fmt.Errorf("-from names no run directory")
	}
	for _, n := range o.ns {
		if n < 1 || n != math.Trunc(n) {
			return fmt.Errorf("-bon-n: %g is not a positive integer", n)
		}
	}
	for _, e := range o.sftEpochs {
		if e < 1 || e != math.Trunc(e) {
			return fmt.Errorf("-sft-epochs: %g is not a positive integer", e)
		}
	}
	for _, n := range o.rsftN {
		if n < 2 || n != math.Trunc(n) {
			return fmt.Errorf("-rsft-n: %g is not an integer of at least 2", n)
		}
	}
	if o.rlooEpochs < 0 || o.ppoEpochs < 0 || o.klHorizon < 0 || o.klMin < 0 || o.klGain < 0 {
		return fmt.Errorf("-rloo-epochs, -ppo-epochs, -kl-horizon, -kl-min-coef and -kl-gain must be >= 0")
	}
	if len(o.rsftN) > 0 && o.rsftPrompts < 1 {
		return fmt.Errorf("-rsft-prompts must be positive")
	}
	if o.rsftRounds < 1 {
		return fmt.Errorf("-rsft-rounds: %d is not a positive number of rounds", o.rsftRounds)
	}
	if len(o.odpoBetas) > 0 && (o.odpoN < 2 || o.odpoPrompts < 1 || o.odpoRounds < 1) {
		return fmt.Errorf("online DPO needs -odpo-n >= 2 and positive -odpo-prompts and -odpo-rounds")
	}
	for _, f := range []struct {
		name string
		vs   []float64
	}{{"-odpo-beta", o.odpoBetas}, {"-grpo-beta", o.grpoBetas}, {"-ppo-kl", o.targets}, {"-rloo-kl", o.rlooTargets}, {"-grpo-kl", o.grpoTargets}} {
		for _, v := range f.vs {
			if !(v > 0) {
				return fmt.Errorf("%s: %g is not positive", f.name, v)
			}
		}
	}
	if o.steps < 1 || o.dpoEpochs < 1 || o.evalPrompts < 1 {
		return fmt.Errorf("-ppo-steps, -dpo-epochs and -eval-prompts must be positive")
	}
	start := time.Now()
	var runs []seedRun
	for i, from := range froms {
		logf := func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "[%d/%d %s %4.0fs] ", i+1, len(froms), filepath.Base(from), time.Since(start).Seconds())
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
		r, err := runSeed(ctx, from, o, logf)
		if err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
		if len(runs) > 0 && r.Labels != runs[0].Labels {
			return fmt.Errorf("%s has %d labels, %s %d: the seeds must share one label budget", from, r.Labels, runs[0].From, runs[0].Labels)
		}
		runs = append(runs, r)
		if err := write(out, runs, o.steps, o.dpoEpochs); err != nil {
			return err
		}
		logf("wrote %s (%d seed(s) so far)", out, len(runs))
	}
	return nil
}

// runSeed runs best-of-n, DPO and PPO on one demo run directory.
func runSeed(ctx context.Context, from string, o options, logf func(string, ...any)) (seedRun, error) {
	var cfg loop.TextConfig
	buf, err := os.ReadFile(filepath.Join(from, loop.TextRunFile))
	if err != nil {
		return seedRun{}, err
	}
	if err := json.Unmarshal(buf, &cfg); err != nil {
		return seedRun{}, fmt.Errorf("%s: %w", loop.TextRunFile, err)
	}
	seed := o.seed
	if seed == 0 {
		seed = cfg.Seed
	}
	r := seedRun{From: from, Seed: seed, DemoSeed: cfg.Seed, Labels: cfg.Queries}
	var ev struct {
		RM struct {
			Accuracy float64 `json:"accuracy"`
		} `json:"rm"`
	}
	if buf, err := os.ReadFile(filepath.Join(from, loop.TextEvalFile)); err == nil && json.Unmarshal(buf, &ev) == nil {
		r.RMAccuracy = ev.RM.Accuracy
	}
	logf("demo seed %d, %d labels, reward model held-out accuracy %.1f%%; training and sampling seed %d", cfg.Seed, cfg.Queries, 100*r.RMAccuracy, seed)
	goal, err := loop.TextGoal(cfg.Goal, []rune(cfg.Letter + "e")[0])
	if err != nil {
		return seedRun{}, err
	}
	base, err := gpt.Load(cfg.Policy)
	if err != nil {
		return seedRun{}, err
	}
	tok, err := gpt.LoadTokenizer(cfg.Policy, base.Config)
	if err != nil {
		return seedRun{}, err
	}
	rm, err := loop.LoadTextRM(filepath.Join(from, loop.TextRMDir))
	if err != nil {
		return seedRun{}, err
	}
	trainPrompts, err := text.Prompts("train")
	if err != nil {
		return seedRun{}, err
	}
	valPrompts, err := text.Prompts("val")
	if err != nil {
		return seedRun{}, err
	}
	valPrompts = valPrompts[:min(o.evalPrompts, len(valPrompts))]
	s := cfg.Sampling
	evalSeed := seed*7919 + 17
	rmMean := func(samples []ppo.LMSample) (float64, error) {
		ps, cs := make([]string, len(samples)), make([]string, len(samples))
		for i, x := range samples {
			ps[i], cs[i] = x.Prompt, x.Completion
		}
		sc, err := rm.ScoreText(ps, cs)
		if err != nil {
			return 0, fmt.Errorf("score with the reward model: %w", err)
		}
		m := 0.0
		for _, v := range sc {
			m += float64(v)
		}
		return m / float64(len(sc)), nil
	}
	evalPoint := func(method, setting string, policy *gpt.Model, t0 time.Time) (point, error) {
		ev, err := loop.EvalText(ctx, policy, base, tok, valPrompts, goal, s, evalSeed)
		if err != nil {
			return point{}, err
		}
		rmv, err := rmMean(ev.Samples)
		if err != nil {
			return point{}, err
		}
		p := point{Method: method, Setting: setting, Gold: ev.Gold, GoldStd: ev.GoldStd, KL: ev.KL, KLStd: ev.KLStd,
			RM: rmv, Seconds: time.Since(t0).Seconds()}
		logf("%-10s %-8s gold %+.3f ± %.3f  KL %6.2f ± %.2f  rm %+.2f  (%.0fs)", method, setting, p.Gold, p.GoldStd, p.KL, p.KLStd, p.RM, p.Seconds)
		return p, nil
	}

	// Best-of-n with the reward model, from the pretrained policy.
	pIDs := make([][]int, len(valPrompts))
	for i, p := range valPrompts {
		pIDs[i] = ppo.EncodePrompt(tok, p, s.PromptEOS, base.Config.NPositions, s.MaxNewTokens)
	}
	for _, nf := range o.ns {
		t0 := time.Now()
		n := int(nf)
		res, err := bon.Sample(ctx, base, pIDs, n, gpt.SampleConfig{MaxNewTokens: s.MaxNewTokens, Temperature: 1, StopAtEOS: s.StopAtEOS, Seed: evalSeed},
			bon.TextScorer{Scorer: rm, Tok: tok})
		if err != nil {
			return seedRun{}, err
		}
		comps := make([]string, len(res.Best))
		for i, b := range res.Best {
			comps[i] = ppo.DecodeCompletion(tok, b)
		}
		golds, err := loop.GoalScores(goal, valPrompts[:len(comps)], comps)
		if err != nil {
			return seedRun{}, err
		}
		m, sd := report.Spread(golds)
		p := point{Method: "best-of-n", Setting: fmt.Sprintf("n=%d", n), Gold: m, GoldStd: sd, KL: bon.KL(n), RM: res.MeanBest(), Seconds: time.Since(t0).Seconds()}
		logf("%-10s %-8s gold %+.3f ± %.3f  KL %6.2f (analytic)  rm %+.2f  (%.0fs)", p.Method, p.Setting, p.Gold, p.GoldStd, p.KL, p.RM, p.Seconds)
		r.Points = append(r.Points, p)
	}

	// DPO on the labelled pairs.
	pairs, err := readPairs(filepath.Join(from, loop.TextComparisonsFile), tok, s, base.Config.NPositions)
	if err != nil {
		return seedRun{}, err
	}
	nVal := int(float64(len(pairs)) * cfg.ValFrac)
	train, val := pairs[:len(pairs)-nVal], pairs[len(pairs)-nVal:] // held out as the demo held them out
	// fit trains policy (nil: a copy of the pretrained one) on train (held
	// out: val) with dc against the reference ref (nil: the pretrained
	// policy), and evaluates it as method, setting; t0 is when the method
	// started, detail ends its log line.
	fit := func(policy, ref *gpt.Model, method, setting, detail string, dc dpo.Config, train, val []dpo.Pair, t0 time.Time) error {
		logf("%s %s: %d epoch(s) on %d pairs%s", method, setting, dc.Epochs, len(train), detail)
		if policy == nil {
			var err error
			if policy, err = ppo.CloneGPT(base); err != nil {
				return err
			}
		}
		if ref == nil {
			ref = base
		}
		tr, err := dpo.NewTrainer(dc, policy, ref, train, val)
		if err != nil {
			return err
		}
		if err := tr.Train(ctx, nil); err != nil {
			return err
		}
		p, err := evalPoint(method, setting, policy, t0)
		if err != nil {
			return err
		}
		r.Points = append(r.Points, p)
		return nil
	}
	for _, beta := range o.betas {
		dc := dpo.DefaultConfig()
		dc.Beta, dc.Epochs, dc.LR, dc.Seed = beta, o.dpoEpochs, o.dpoLR, seed
		if err := fit(nil, nil, "DPO", fmt.Sprintf("β=%g", beta), "", dc, train, val, time.Now()); err != nil {
			return seedRun{}, err
		}
	}
	// Fine-tuning on the chosen completions alone.
	for _, e := range o.sftEpochs {
		dc := dpo.DefaultConfig()
		dc.Loss, dc.Epochs, dc.LR, dc.Seed = dpo.LossSFT, int(e), o.dpoLR, seed
		if err := fit(nil, nil, "SFT", epochs(int(e)), "", dc, train, val, time.Now()); err != nil {
			return seedRun{}, err
		}
	}
	// iterate trains a copy of the pretrained policy for rounds rounds on
	// completions it samples itself: each round samples n of each of
	// perRound train prompts (the next ones after the earlier rounds') from
	// the policy as the round before left it, pairs the best with the worst
	// under the reward model, and trains one epoch of dc(trainSeed) on the
	// pairs, with fresh optimiser state; the reference is the pretrained
	// model, or with follow the policy as the round began (a copy), and KL
	// is to the pretrained model throughout. Each round is evaluated as
	// method, setting(round).
	iterate := func(method string, n, rounds, perRound int, follow bool, dc func(trainSeed uint64) dpo.Config, setting func(round int) string) error {
		t0 := time.Now()
		policy, err := ppo.CloneGPT(base)
		if err != nil {
			return err
		}
		for round := 1; round <= rounds; round++ {
			var ids [][]int
			for _, i := range rsftPromptIndices(round, perRound, len(trainPrompts)) {
				ids = append(ids, ppo.EncodePrompt(tok, trainPrompts[i], s.PromptEOS, base.Config.NPositions, s.MaxNewTokens))
			}
			sampleSeed, trainSeed := rsftSeeds(seed, round)
			res, err := bon.Sample(ctx, policy, ids, n, gpt.SampleConfig{MaxNewTokens: s.MaxNewTokens, Temperature: 1, StopAtEOS: s.StopAtEOS, Seed: sampleSeed},
				bon.TextScorer{Scorer: rm, Tok: tok})
			if err != nil {
				return err
			}
			best, _ := bon.Best(res.Scores, n) // res holds groups of n
			worst, _ := bon.Worst(res.Scores, n)
			enc := func(c []int) []int { return tok.Encode(ppo.DecodeCompletion(tok, c)) }
			pairs := make([]dpo.Pair, len(ids))
			for i := range ids {
				pairs[i] = dpo.Pair{Prompt: ids[i], Chosen: enc(res.All[i*n+best[i]]), Rejected: enc(res.All[i*n+worst[i]])}
			}
			var ref *gpt.Model // nil: the pretrained model
			if follow {
				if ref, err = ppo.CloneGPT(policy); err != nil {
					return err
				}
			}
			// Seconds count from the first round: the cost of this policy.
			if err := fit(policy, ref, method, setting(round), fmt.Sprintf(" (best sample mean rm %+.2f)", res.MeanBest()), dc(trainSeed), pairs, nil, t0); err != nil {
				return err
			}
		}
		return nil
	}
	// Rejection-sampling fine-tuning: one epoch on the best of n samples
	// of each of rsftPrompts train prompts under the reward model (each
	// paired with the worst, which only the metrics see), for rsftRounds
	// rounds (expert iteration).
	for _, nf := range o.rsftN {
		n := int(nf)
		sft := func(trainSeed uint64) dpo.Config {
			dc := dpo.DefaultConfig()
			dc.Loss, dc.Epochs, dc.LR, dc.Seed = dpo.LossSFT, 1, o.dpoLR, trainSeed
			return dc
		}
		if err := iterate("RSFT", n, o.rsftRounds, o.rsftPrompts, false, sft, func(round int) string { return rsftSetting(n, round) }); err != nil {
			return seedRun{}, err
		}
	}
	// Online DPO: one epoch of DPO on the best against the worst of odpoN
	// samples of each of odpoPrompts train prompts, for odpoRounds rounds.
	for _, beta := range o.odpoBetas {
		d := func(trainSeed uint64) dpo.Config {
			dc := dpo.DefaultConfig()
			dc.Beta, dc.Epochs, dc.LR, dc.Seed = beta, 1, o.dpoLR, trainSeed
			return dc
		}
		setting := func(round int) string {
			s := odpoSetting(beta, o.odpoN, round)
			if o.odpoFollow {
				s += ", moving reference"
			}
			return s
		}
		if err := iterate("online DPO", o.odpoN, o.odpoRounds, o.odpoPrompts, o.odpoFollow, d, setting); err != nil {
			return seedRun{}, err
		}
	}

	// PPO against the reward model, with GAE (method PPO), with
	// leave-one-out advantages (method RLOO) and as GRPO.
	// A run has a KL target (the adaptive controller) or, with target 0,
	// a fixed β.
	type klRun struct{ target, beta float64 }
	runs := func(targets, betas []float64) []klRun {
		var out []klRun
		for _, t := range targets {
			out = append(out, klRun{target: t})
		}
		for _, b := range betas {
			out = append(out, klRun{beta: b})
		}
		return out
	}
	for _, m := range []struct {
		name string
		runs []klRun
		adv  string // ppo.LMConfig.Advantage
	}{{"PPO", runs(o.targets, nil), ""}, {"RLOO", runs(o.rlooTargets, nil), ppo.AdvantageRLOO}, {"GRPO", runs(o.grpoTargets, o.grpoBetas), ppo.AdvantageGRPO}} {
		for _, kr := range m.runs {
			t0 := time.Now()
			policy, err := ppo.CloneGPT(base)
			if err != nil {
				return seedRun{}, err
			}
			pc := loop.DefaultTextConfig().PPO
			pc.Seed, pc.KLTarget, pc.MaxNewTokens = seed, kr.target, cfg.Sampling.MaxNewTokens
			setting := fmt.Sprintf("KL→%g", kr.target)
			if kr.target == 0 {
				pc.KLCoef, pc.KLMinCoef = kr.beta, 0
				setting = fmt.Sprintf("β=%g", kr.beta)
			}
			if o.klHorizon > 0 && kr.target > 0 {
				pc.KLHorizon = o.klHorizon
				setting += fmt.Sprintf(", horizon %g", o.klHorizon)
			}
			if o.klMin > 0 && kr.target > 0 {
				pc.KLMinCoef = o.klMin
				setting += fmt.Sprintf(", β ≥ %g", o.klMin)
			}
			if o.klGain > 0 && kr.target > 0 {
				pc.KLGain = o.klGain
				setting += fmt.Sprintf(", gain %g", o.klGain)
			}
			if m.adv == "" && o.ppoEpochs > 0 {
				pc.Epochs = o.ppoEpochs
				setting += ", " + epochs(pc.Epochs)
			}
			if m.adv == ppo.AdvantageGRPO && o.grpoMeanOnly {
				pc.GroupMeanOnly = true
				setting += ", mean only"
			}
			if m.adv != "" {
				pc.Advantage, pc.GroupSize = m.adv, o.rlooGroup
				if o.rlooEpochs > 0 {
					pc.Epochs = o.rlooEpochs
					setting += ", " + epochs(pc.Epochs)
				}
			}
			tr, err := ppo.NewLMTrainer(pc, policy, tok, rm, trainPrompts)
			if err != nil {
				return seedRun{}, err
			}
			for i := range o.steps {
				st, err := tr.Step(ctx)
				if err != nil {
					return seedRun{}, err
				}
				if (i+1)%10 == 0 || i+1 == o.steps {
					logf("%s %s step %d/%d: batch KL %.2f, β %.3f, score %+.2f (%.0fs)", m.name, setting, i+1, o.steps, st.KL, st.KLCoef, st.Score, time.Since(t0).Seconds())
				}
			}
			p, err := evalPoint(m.name, setting, tr.Policy, t0)
			if err != nil {
				return seedRun{}, err
			}
			r.Points = append(r.Points, p)
		}
	}
	return r, nil
}

// rsftSetting names round (1-based) of RSFT with best of n: the first round
// is "best of 16" (as before rounds existed), later ones "best of 16, round 2".
func rsftSetting(n, round int) string {
	if round == 1 {
		return fmt.Sprintf("best of %d", n)
	}
	return fmt.Sprintf("best of %d, round %d", n, round)
}

// odpoSetting names round (1-based) of online DPO at β with best against
// worst of n: "β=0.1, best/worst of 4", later rounds ", round 2" added.
func odpoSetting(beta float64, n, round int) string {
	s := fmt.Sprintf("β=%g, best/worst of %d", beta, n)
	if round > 1 {
		s += fmt.Sprintf(", round %d", round)
	}
	return s
}

// rsftPromptIndices are the train prompts that round (1-based) of RSFT
// samples: the next perRound of the total after the earlier rounds' ones,
// wrapping around to the first when the rounds run past the end.
func rsftPromptIndices(round, perRound, total int) []int {
	k := min(perRound, total)
	out := make([]int, k)
	for i := range out {
		out[i] = ((round-1)*perRound + i) % total
	}
	return out
}

// rsftSeeds are the seeds of round (1-based) of RSFT's sampling and
// fine-tuning; the first round's are those of the one-round method, later
// rounds draw other ones.
func rsftSeeds(seed uint64, round int) (sample, train uint64) {
	if round == 1 {
		return seed*1000 + 3, seed
	}
	r := uint64(round - 1)
	return seed*1000 + 3 + 104729*r, seed + 7919*r
}

// epochs names a number of epochs as a setting does: "1 epoch", "3 epochs".
func epochs(n int) string {
	if n == 1 {
		return "1 epoch"
	}
	return fmt.Sprintf("%d epochs", n)
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
	if target > 0 {
		kl.AddLevel("target", target)
	}
	if err := report.WriteSVGFile(filepath.Join(out, "demo-gold.svg"), gold.SVG()); err != nil {
		return err
	}
	return report.WriteSVGFile(filepath.Join(out, "demo-kl.svg"), kl.SVG())
}
