// Command ppo-control trains PPO on a control environment's true reward for
// several seeds and summarises the runs: final return (mean ± std over
// seeds), environment steps per second and wall-clock time, plus a learning
// curve (mean ± std band) as SVG. It is the sanity experiment behind
// docs/results/ppo-control.md.
//
//	go run ./ppo/cmd/ppo-control -env CartPole-v1 -seeds 1,2,3 -steps 200000 -out runs/ppo-cartpole
//
// Each seed writes <out>/seed-<s>/metrics.jsonl and a checkpoint; the
// summary goes to <out>/summary.md and the plot to <out>/return.svg.
// sanity.sh, beside this file, runs the four experiments of the results page.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"rlhf/ppo"
	"rlhf/report"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ppo-control:", err)
		os.Exit(1)
	}
}

type result struct {
	seed       uint64
	evalMean   float64 // mean return of the final policy over evaluation episodes
	trainFinal float64 // mean training episodic return over the last tenth of the run
	reached    float64 // first step at which the last 100 training episodes averaged >= threshold (NaN: never)
	sps        float64
	wall       time.Duration
	metrics    *report.Metrics
}

func run() error {
	envName := flag.String("env", "CartPole-v1", "environment name")
	seedsFlag := flag.String("seeds", "1,2,3", "comma-separated seeds")
	steps := flag.Int("steps", 0, "environment steps per seed (0: the config default)")
	out := flag.String("out", "runs/ppo-control", "output directory")
	parallel := flag.Int("parallel", 1, "seeds trained at the same time")
	evalEps := flag.Int("eval-episodes", 20, "episodes for the final evaluation")
	numEnvs := flag.Int("num-envs", 0, "override num_envs")
	numSteps := flag.Int("num-steps", 0, "override num_steps")
	minibatches := flag.Int("minibatches", 0, "override num_minibatches")
	epochs := flag.Int("epochs", 0, "override update_epochs")
	lr := flag.Float64("lr", 0, "override the learning rate")
	gamma := flag.Float64("gamma", 0, "override gamma")
	ent := flag.Float64("ent-coef", -1, "override ent_coef")
	normObs := flag.String("norm-obs", "", "override norm_obs (true/false)")
	normRew := flag.String("norm-reward", "", "override norm_reward (true/false)")
	quiet := flag.Bool("q", false, "no progress bars")
	threshold := flag.Float64("threshold", math.NaN(), "report the first step at which the mean return of the last 100 training episodes reaches this value")
	flag.Parse()

	base, err := ppo.Default(*envName)
	if err != nil {
		return err
	}
	if *steps > 0 {
		base.TotalSteps = *steps
	}
	if *numEnvs > 0 {
		base.NumEnvs = *numEnvs
	}
	if *numSteps > 0 {
		base.NumSteps = *numSteps
	}
	if *minibatches > 0 {
		base.NumMinibatches = *minibatches
	}
	if *epochs > 0 {
		base.Epochs = *epochs
	}
	if *lr > 0 {
		base.LR = *lr
	}
	if *gamma > 0 {
		base.Gamma = *gamma
	}
	if *ent >= 0 {
		base.EntCoef = *ent
	}
	for _, b := range []struct {
		s   string
		dst *bool
	}{{*normObs, &base.NormObs}, {*normRew, &base.NormReward}} {
		if b.s != "" {
			v, err := strconv.ParseBool(b.s)
			if err != nil {
				return fmt.Errorf("bad boolean %q: %w", b.s, err)
			}
			*b.dst = v
		}
	}
	var seeds []uint64
	for _, s := range strings.Split(*seedsFlag, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("bad seed %q: %w", s, err)
		}
		seeds = append(seeds, v)
	}
	if err := base.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	results := make([]result, len(seeds))
	errs := make([]error, len(seeds))
	sem := make(chan struct{}, max(*parallel, 1))
	var wg sync.WaitGroup
	for i, seed := range seeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cfg := base
			cfg.Seed = seed
			results[i], errs[i] = trainSeed(ctx, cfg, filepath.Join(*out, fmt.Sprintf("seed-%d", seed)), *evalEps, *quiet, *threshold)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return summarise(base, results, *out, os.Args[1:], *threshold)
}

func trainSeed(ctx context.Context, cfg ppo.Config, dir string, evalEps int, quiet bool, threshold float64) (result, error) {
	if err := os.RemoveAll(dir); err != nil {
		return result{}, err
	}
	t, err := ppo.NewTrainer(cfg)
	if err != nil {
		return result{}, err
	}
	lg, err := report.NewLogger(dir)
	if err != nil {
		return result{}, err
	}
	defer lg.Close()
	// Gym's criterion for "solved": the mean return of 100 consecutive episodes.
	var window []float64
	reached := math.NaN()
	o := ppo.TrainOptions{Logger: lg, CheckpointDir: filepath.Join(dir, "checkpoint"), OnIteration: func(s ppo.Stats) error {
		for _, e := range s.Episodes {
			window = append(window, e.Return)
		}
		if len(window) > 100 {
			window = window[len(window)-100:]
		}
		if math.IsNaN(reached) && len(window) == 100 && meanOf(window) >= threshold {
			reached = float64(s.GlobalStep)
		}
		return nil
	}}
	if !quiet {
		o.Progress = os.Stderr
	}
	start := time.Now()
	if err := t.Train(ctx, o); err != nil {
		return result{}, err
	}
	wall := time.Since(start)
	if err := lg.Sync(); err != nil {
		return result{}, err
	}
	m, err := report.LoadMetrics(dir)
	if err != nil {
		return result{}, err
	}
	rets, _, err := t.Evaluate(ctx, evalEps, min(evalEps, 8), cfg.Seed+1_000_000, false)
	if err != nil {
		return result{}, err
	}
	steps, vals := m.Series("charts/episodic_return")
	var s float64
	var k int
	for i := range steps {
		if steps[i] > 0.9*float64(t.GlobalStep) {
			s += vals[i]
			k++
		}
	}
	return result{
		seed: cfg.Seed, evalMean: meanOf(rets), trainFinal: s / float64(max(k, 1)), reached: reached,
		sps: float64(t.GlobalStep) / wall.Seconds(), wall: wall, metrics: m,
	}, nil
}

func meanOf(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func summarise(cfg ppo.Config, rs []result, out string, args []string, threshold float64) error {
	var evals, trains, sps, walls, reached []float64
	var rows [][]string
	var runs []*report.Metrics
	for _, r := range rs {
		evals = append(evals, r.evalMean)
		trains = append(trains, r.trainFinal)
		sps = append(sps, r.sps)
		walls = append(walls, r.wall.Seconds())
		runs = append(runs, r.metrics)
		reached = append(reached, r.reached)
		rows = append(rows, []string{
			strconv.FormatUint(r.seed, 10), fmt.Sprintf("%.1f", r.evalMean), fmt.Sprintf("%.1f", r.trainFinal),
			fmt.Sprintf("%.0f", r.reached), fmt.Sprintf("%.0f", r.sps), fmt.Sprintf("%.0f", r.wall.Seconds()),
		})
	}
	f := func(x []float64, prec int) string {
		m, s := report.Spread(x)
		return fmt.Sprintf("%.*f ± %.*f", prec, m, prec, s)
	}
	var hit []float64
	for _, r := range reached {
		if !math.IsNaN(r) {
			hit = append(hit, r)
		}
	}
	reachCell := "never"
	if len(hit) > 0 {
		reachCell = f(hit, 0)
		if len(hit) < len(reached) {
			reachCell += fmt.Sprintf(" (%d of %d seeds)", len(hit), len(reached))
		}
	}
	rows = append(rows, []string{"mean ± std", f(evals, 1), f(trains, 1), reachCell, f(sps, 0), f(walls, 0)})
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %d steps per seed, config: %+v\n\ncommand: go run ./ppo/cmd/ppo-control %s\n\n",
		cfg.Env, cfg.TotalSteps, cfg, strings.Join(args, " "))
	reachCol := "steps until 100-episode mean >= " + strconv.FormatFloat(threshold, 'g', -1, 64)
	b.WriteString(report.MarkdownTable([]string{"seed", "final return (eval)", "return, last 10% of training", reachCol, "env steps/s", "wall s"}, rows))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "summary.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(b.String())
	p := &report.Plot{
		Title: fmt.Sprintf("PPO %s, %d seeds (mean ± std)", cfg.Env, len(rs)), XLabel: "environment steps", YLabel: "episodic return",
		Series: []report.Series{report.MeanStd(cfg.Env, runs, "charts/episodic_return")},
	}
	return os.WriteFile(filepath.Join(out, "return.svg"), p.SVG(), 0o644)
}
