package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"rlhf/bon"
	"rlhf/feedback"
	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/report"
	"rlhf/reward"
	"rlhf/text"
)

// bonRun holds the settings of `rlhf bon`.
type bonRun struct {
	Policy      string
	Reward      string // the proxy: a goal spec or a reward model directory (see proxySpec); "" uses the goal
	Goal        string
	Letter      string
	Ns          []int
	Prompts     int
	MaxNew      int
	Temperature float64
	Seed        uint64
	Split       string
	Device      string // where the policy samples (see -device)
	Pairs       string // if set, the best and worst of the largest n per prompt go here as TRL pairs
}

// runBoN is `rlhf bon`: best-of-n sampling with a reward model, scored by
// the gold goal, beside the analytic KL.
func runBoN(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bon", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rlhf bon [flags]\n\nBest-of-n sampling: draw n completions of each prompt from the policy, keep the one the reward\nmodel (-reward; the goal itself if empty) scores highest, and report its mean proxy score and\ngold score (the labeler's goal) beside the analytic KL(best-of-n || policy) = log n - (n-1)/n.\nSample j of a prompt is the same for every n, so the table compares like with like.\n\nFlags:")
		fs.PrintDefaults()
	}
	r := bonRun{}
	ns := fs.String("n", "1,2,4,8,16", "values of n, comma-separated")
	fs.StringVar(&r.Policy, "policy", defaultPolicy, "policy checkpoint to sample from")
	fs.StringVar(&r.Reward, "reward", "", "the proxy: a reward model directory (rlhf rm -out) or rm:DIR, an ensemble ens:MODE:DIR1,DIR2,...\n(MODE mean, min or uwo=λ), sentiment or lipogram; empty: the gold goal itself")
	fs.StringVar(&r.Goal, "goal", "sentiment", "gold goal: sentiment (VADER), lipogram or rm:DIR (a gold reward model)")
	fs.StringVar(&r.Letter, "letter", "e", "the letter a lipogram avoids")
	fs.IntVar(&r.Prompts, "prompts", 64, "prompts to sample")
	fs.IntVar(&r.MaxNew, "max-new-tokens", 24, "new tokens per completion")
	fs.Float64Var(&r.Temperature, "temperature", 1, "sampling temperature")
	fs.Uint64Var(&r.Seed, "seed", 1, "seed of the prompt choice and the samples")
	fs.StringVar(&r.Split, "split", "val", "prompt split: train or val")
	fs.StringVar(&r.Pairs, "pairs", "", "write each prompt's best and worst of the largest n completions under the proxy as a preference\npair {prompt, chosen, rejected} to this JSONL file: rejection-sampling data (rlhf dpo -loss sft\n-data FILE fine-tunes on the best; rlhf dpo -data FILE optimises best against worst)")
	fs.StringVar(&r.Device, "device", deviceCPU, strings.Replace(deviceHelp, "where training steps run", "where the policy samples", 1)+"\na reward model (-reward) scores there too, over its own copy; the gold goal scores on the CPU engine")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bon: unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	var errs []error
	for _, f := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("bon: -n %q: want positive integers separated by commas", *ns))
			break
		}
		r.Ns = append(r.Ns, n)
	}
	if err := checkTextGoal(r.Goal, r.Letter); err != nil {
		errs = append(errs, fmt.Errorf("bon: %w", err))
	}
	if r.Reward != "" {
		if err := checkTextGoal(proxySpec(r.Reward), r.Letter); err != nil {
			errs = append(errs, fmt.Errorf("bon: -reward: %w", err))
		}
	}
	if r.Prompts <= 0 || r.MaxNew <= 0 || !(r.Temperature > 0) {
		errs = append(errs, errors.New("bon: -prompts, -max-new-tokens and -temperature must be positive"))
	}
	if r.Split != "train" && r.Split != "val" {
		errs = append(errs, fmt.Errorf("bon: -split %q: want train or val", r.Split))
	}
	if err := checkDevice(r.Device); err != nil {
		errs = append(errs, fmt.Errorf("bon: %w", err))
	}
	if r.Pairs != "" && len(r.Ns) > 0 && slices.Max(r.Ns) < 2 {
		errs = append(errs, fmt.Errorf("bon: -pairs needs an n of at least 2 (have -n %s)", *ns))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return bestOfN(ctx, r, os.Stderr)
}

// proxySpec is the goal spec of -reward: a goal spec as it is (rm:DIR,
// ens:..., sentiment, lipogram), a bare directory as rm:DIR.
func proxySpec(reward string) string {
	if reward == loop.GoalSentiment || reward == loop.GoalLipogram ||
		strings.HasPrefix(reward, loop.GoalRM) || strings.HasPrefix(reward, loop.GoalEnsemble) {
		return reward
	}
	return loop.GoalRM + reward
}

// bonRow is one line of the best-of-n table.
type bonRow struct {
	N                     int
	KL, Proxy, Gold, Base float64
}

func bestOfN(ctx context.Context, r bonRun, w io.Writer) error {
	policy, tok, err := loadPolicy(r.Policy)
	if err != nil {
		return fmt.Errorf("bon: policy: %w", err)
	}
	goal, err := textGoal(r.Goal, r.Letter)
	if err != nil {
		return fmt.Errorf("bon: %w", err)
	}
	gold := bon.TextScorer{Scorer: goal, Tok: tok}
	var proxy bon.Scorer = gold
	var rmScorer reward.TextScorer // the reward models behind the proxy, if any
	if r.Reward != "" {
		// Scored as the text PPO optimises (a text loop's reward model
		// with its end-of-text token after each completion).
		ts, err := textGoal(proxySpec(r.Reward), r.Letter)
		if err != nil {
			return fmt.Errorf("bon: -reward: %w", err)
		}
		proxy, rmScorer = bon.TextScorer{Scorer: ts, Tok: tok}, ts
	}
	texts, err := pickPrompts(r.Split, r.Prompts, r.Seed)
	if err != nil {
		return fmt.Errorf("bon: %w", err)
	}
	prompts := make([][]int, len(texts))
	for i, p := range texts {
		prompts[i] = encodePrompt(tok, policy.Config, p, r.MaxNew)
	}
	nmax := slices.Max(r.Ns)
	dev, err := openDevice(r.Device)
	if err != nil {
		return fmt.Errorf("bon: %w", err)
	}
	fmt.Fprintf(w, "bon: %d prompts x %d samples from %s on %s; proxy %s, gold %s\n", len(prompts), nmax, r.Policy, dev.name,
		map[bool]string{true: r.Reward, false: "the gold goal"}[r.Reward != ""], goalLabel(r.Goal, r.Letter))
	sc := gpt.SampleConfig{MaxNewTokens: r.MaxNew, Temperature: r.Temperature, StopAtEOS: true, Seed: r.Seed}
	var res *bon.Result
	if dev.onCPU() {
		res, err = bon.Sample(ctx, policy, prompts, nmax, sc, proxy)
	} else {
		smp, serr := newDeviceSampler(dev, policy, nil)
		if serr != nil {
			return fmt.Errorf("bon: %w", serr)
		}
		defer smp.Close()
		// each reward model (each of an ensemble's) scores on the device
		rmDevs, serr := scoreAllOnDevice(dev, rmScorer, 0)
		if serr != nil {
			return fmt.Errorf("bon: %w", serr)
		}
		res, err = bon.Sample(ctx, smp, prompts, nmax, sc, proxy)
		fmt.Fprintln(w, samplerSummary(smp))
		for _, rmDev := range rmDevs {
			fmt.Fprintln(w, scoringSummary(rmDev))
		}
	}
	if err != nil {
		return err
	}
	rows, err := bonTable(res, prompts, gold, r.Ns)
	if err != nil {
		return err
	}
	if r.Pairs != "" {
		recs := bonPairs(res, texts, tok, r)
		if _, err := feedback.WriteFile(r.Pairs, slices.Values(recs)); err != nil {
			return fmt.Errorf("bon: %w", err)
		}
		fmt.Fprintf(w, "bon: %d best/worst pairs of %d completions each written to %s (%d prompts whose completions scored alike left out)\n",
			len(recs), res.N, r.Pairs, len(texts)-len(recs))
	}
	table := make([][]string, len(rows))
	for i, row := range rows {
		table[i] = []string{strconv.Itoa(row.N), fmt.Sprintf("%.3f", row.KL), fmt.Sprintf("%.3f", row.Proxy),
			fmt.Sprintf("%.3f", row.Gold), fmt.Sprintf("%.3f", row.Base)}
	}
	fmt.Fprint(w, report.MarkdownTable([]string{"n", "KL (nats)", "proxy score", "gold score", "gold, mean of all n samples"}, table))
	return nil
}

// bonPairs returns, for each prompt, the completion of res the proxy scored
// highest as chosen and the one it scored lowest as rejected; prompts whose
// completions all scored alike give none.
func bonPairs(res *bon.Result, texts []string, tok *text.Tokenizer, r bonRun) []feedback.PairRecord {
	proxy := "goal " + r.Goal
	if r.Reward != "" {
		proxy = proxySpec(r.Reward)
	}
	labeler := fmt.Sprintf("best-of-%d(%s)", res.N, proxy)
	now := time.Now().UTC()
	best, _ := bon.Best(res.Scores, res.N) // res holds groups of res.N
	worst, _ := bon.Worst(res.Scores, res.N)
	var out []feedback.PairRecord
	for i, p := range texts {
		hi, lo := best[i], worst[i]
		if res.Scores[i*res.N+hi] == res.Scores[i*res.N+lo] {
			continue
		}
		out = append(out, feedback.PairRecord{Prompt: p,
			Chosen:   ppo.DecodeCompletion(tok, res.All[i*res.N+hi]),
			Rejected: ppo.DecodeCompletion(tok, res.All[i*res.N+lo]),
			Provenance: feedback.Provenance{QueryID: fmt.Sprintf("bon-%d", i), Labeler: labeler, Source: feedback.SourceAI,
				Time: now, PolicyVersion: r.Policy}})
	}
	return out
}

// bonTable evaluates best-of-n for each n from the first n samples of each
// prompt of a best-of-max result (sample j of a prompt is the same for
// every n).
func bonTable(res *bon.Result, prompts [][]int, gold bon.Scorer, ns []int) ([]bonRow, error) {
	N := res.N
	sub := func(n int) *bon.Result {
		s := &bon.Result{N: n, KL: bon.KL(n)}
		for i := range prompts {
			s.All = append(s.All, res.All[i*N:i*N+n]...)
			s.Scores = append(s.Scores, res.Scores[i*N:i*N+n]...)
		}
		idx, _ := bon.Best(s.Scores, n)
		for i, b := range idx {
			s.Best = append(s.Best, s.All[i*n+b])
			s.BestScores = append(s.BestScores, s.Scores[i*n+b])
		}
		return s
	}
	var out []bonRow
	for _, n := range ns {
		s := sub(n)
		g, base, err := bon.Gold(s, prompts, gold)
		if err != nil {
			return nil, err
		}
		out = append(out, bonRow{N: n, KL: s.KL, Proxy: s.MeanBest(), Gold: g, Base: base})
	}
	return out, nil
}
