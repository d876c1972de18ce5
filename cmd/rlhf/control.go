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
	"slices"
	"strings"
	"time"

	"rlhf/env"
	"rlhf/feedback"
	"rlhf/loop"
	"rlhf/store"
)

// controlLabelerFile records the synthetic labeler of a control run, so that
// --resume asks the same one.
const controlLabelerFile = "labeler.json"

// controlLabeler is controlLabelerFile's content.
type controlLabeler struct {
	Kind      string        `json:"kind"`
	Beta      float64       `json:"beta"`
	EpsRandom float64       `json:"eps_random"`
	Seed      uint64        `json:"seed"`
	Delay     time.Duration `json:"delay"`
	// DB is the label store of a human-labelled run (Kind loop.LabelerHuman).
	DB string `json:"db,omitempty"`
}

func (l controlLabeler) build() (feedback.Labeler, error) {
	lab, err := loop.SyntheticLabeler(l.Kind, l.Beta, l.EpsRandom, l.Seed)
	if err != nil {
		return nil, err
	}
	if l.Delay > 0 {
		lab = loop.Delayed{Labeler: lab, Delay: l.Delay}
	}
	return lab, nil
}

// runControl is `rlhf control`: PPO on a control task, learning its reward
// from synthetic preferences (or, as a baseline, from the true reward).
func runControl(ctx context.Context, args []string) error {
	return controlMain(ctx, args, os.Stdout, os.Stderr)
}

func controlMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("control", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envName := fs.String("env", "CartPole-v1", "environment: "+strings.Join(env.Names(), ", "))
	rewardSrc := fs.String("reward", loop.RewardLearned, "what PPO optimises: "+strings.Join(loop.RewardSources, " or "))
	labels := fs.Int("labels", 700, "total label budget (learned reward)")
	queries := fs.String("queries", loop.QueriesActive, "query selection: "+strings.Join(loop.QuerySelections, " or "))
	labelerKind := fs.String("labeler", loop.LabelerOracle, "labeler: "+strings.Join(loop.LabelerKinds, ", ")+", or "+loop.LabelerHuman+" (people, through `rlhf serve` on -db)")
	labelPoll := fs.Duration("label-poll", time.Second, "how often a -labeler human run looks for new labels")
	dbURL := fs.String("db", "", "label store of -labeler human: sqlite:///path/labels.db, a file path, or postgres://... (default: SQLite labels.db in the run directory)")
	beta := fs.Float64("beta", 1, "Boltzmann labeler temperature, in units of segment return")
	epsRandom := fs.Float64("eps-random", 0, "probability that the labeler answers uniformly at random (the paper's human model: 0.1)")
	labelDelay := fs.Duration("label-delay", 0, "make the synthetic labeler take this long per answer, like a person")
	workers := fs.Int("label-workers", 1, "queries the labeler works on at once")
	waitLabels := fs.String("wait-labels", "auto", "wait before each PPO iteration until every query asked so far is answered: on, off, or auto (on for an instant synthetic labeler, which makes runs reproducible; off for people and -label-delay, so training goes on while they answer)")
	steps := fs.Int("steps", 100_000, "environment steps of PPO training")
	seed := fs.Uint64("seed", 1, "seed of the policy, environments, reward model, sampling and labeler")
	out := fs.String("out", "", "run directory (default runs/control-<env>-<reward>-s<seed>)")
	offline := fs.Bool("offline", false, "collect every label up front from the initial policy (no online labels)")
	resume := fs.Bool("resume", false, "continue the run in --out from its last checkpoint")
	rmSteps := fs.Float64("rm-steps-per-label", 1, "reward-model training steps per new label")
	rmInit := fs.Int("rm-init-steps", 200, "reward-model training steps on the labels collected before training")
	retrainEvery := fs.Int("retrain-every", 0, "new labels that trigger retraining the reward model (0: a tenth of -labels)")
	initialFraction := fs.Float64("initial-fraction", 0.25, "share of -labels asked about the initial policy before training starts, in [0, 1]")
	evalEps := fs.Int("eval-episodes", 20, "episodes of the final evaluation")
	ckpt := fs.Int("checkpoint-every", 10, "PPO iterations between checkpoints")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("control: unexpected arguments %q", fs.Args())
	}
	if !slices.Contains([]string{"auto", "on", "off"}, *waitLabels) {
		return fmt.Errorf("control: -wait-labels %q: want on, off or auto", *waitLabels)
	}
	if *out == "" {
		*out = filepath.Join("runs", fmt.Sprintf("control-%s-%s-s%d", *envName, *rewardSrc, *seed))
	}

	var c *loop.Control
	var human *loop.HumanLabeler
	if *resume {
		lab, err := readControlLabeler(*out)
		if err != nil {
			return err
		}
		var l feedback.Labeler
		if lab != nil && lab.Kind == loop.LabelerHuman {
			if *dbURL != "" {
				lab.DB = *dbURL
			}
			h, closeDB, err := openHumanLabeler(ctx, "control", lab.DB, *out, "", stdout)
			if err != nil {
				return err
			}
			defer closeDB()
			h.Poll = *labelPoll
			l, human = h, h
		} else if lab != nil {
			if l, err = lab.build(); err != nil {
				return fmt.Errorf("control: %w", err)
			}
		}
		if c, err = loop.ResumeControl(*out, l); err != nil {
			return fmt.Errorf("control: %w", err)
		}
		if *waitLabels != "auto" {
			c.Config.WaitLabels = *waitLabels == "on"
		}
	} else {
		if !slices.Contains(env.Names(), *envName) {
			return fmt.Errorf("control: unknown environment %q (valid: %s)", *envName, strings.Join(env.Names(), ", "))
		}
		if !slices.Contains(loop.RewardSources, *rewardSrc) {
			return fmt.Errorf("control: -reward %q: want one of %s", *rewardSrc, strings.Join(loop.RewardSources, ", "))
		}
		if !slices.Contains(loop.QuerySelections, *queries) {
			return fmt.Errorf("control: -queries %q: want one of %s", *queries, strings.Join(loop.QuerySelections, ", "))
		}
		if !slices.Contains(loop.LabelerKinds, *labelerKind) && *labelerKind != loop.LabelerHuman {
			return fmt.Errorf("control: -labeler %q: want one of %s or %s", *labelerKind, strings.Join(loop.LabelerKinds, ", "), loop.LabelerHuman)
		}
		if *dbURL != "" && *labelerKind != loop.LabelerHuman {
			return fmt.Errorf("control: -db is only used with -labeler %s", loop.LabelerHuman)
		}
		if *labelDelay < 0 {
			return fmt.Errorf("control: -label-delay %v must be >= 0", *labelDelay)
		}
		if *retrainEvery < 0 {
			return fmt.Errorf("control: -retrain-every %d must be >= 0", *retrainEvery)
		}
		if !(*initialFraction >= 0 && *initialFraction <= 1) {
			return fmt.Errorf("control: -initial-fraction %v must be in [0, 1]", *initialFraction)
		}
		if *rmSteps < 0 {
			return fmt.Errorf("control: -rm-steps-per-label %v must be >= 0", *rmSteps)
		}
		cfg, err := loop.DefaultControl(*envName)
		if err != nil {
			return fmt.Errorf("control: %w", err)
		}
		cfg.Seed, cfg.Steps, cfg.Reward, cfg.Labels = *seed, *steps, *rewardSrc, *labels
		cfg.Queries, cfg.Offline, cfg.RMStepsPerLabel = *queries, *offline, *rmSteps
		cfg.LabelWorkers, cfg.EvalEpisodes, cfg.CheckpointEvery = *workers, *evalEps, *ckpt
		cfg.RMInitSteps, cfg.RetrainEvery, cfg.InitialFraction = *rmInit, *retrainEvery, *initialFraction
		// An instant synthetic labeler: wait for its answers each iteration,
		// so that the run is reproducible under its seed.
		cfg.WaitLabels = *labelerKind != loop.LabelerHuman && *labelDelay == 0
		if *waitLabels != "auto" {
			cfg.WaitLabels = *waitLabels == "on"
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("control: %w", err)
		}
		var l feedback.Labeler
		if cfg.Learned() {
			lab := controlLabeler{Kind: *labelerKind, Beta: *beta, EpsRandom: *epsRandom, Seed: *seed, Delay: *labelDelay}
			if *labelerKind == loop.LabelerHuman {
				lab = controlLabeler{Kind: loop.LabelerHuman, Seed: *seed, DB: *dbURL}
				h, closeDB, err := openHumanLabeler(ctx, "control", *dbURL, *out, humanInstructions(cfg.Env), stdout)
				if err != nil {
					return err
				}
				defer closeDB()
				h.Poll = *labelPoll
				l, human = h, h
			} else if l, err = lab.build(); err != nil {
				return fmt.Errorf("control: %w", err)
			}
			if c, err = loop.NewControl(cfg, *out, l); err != nil {
				return fmt.Errorf("control: %w", err)
			}
			if err := writeControlLabeler(*out, lab); err != nil {
				return err
			}
		} else if c, err = loop.NewControl(cfg, *out, nil); err != nil {
			return fmt.Errorf("control: %w", err)
		}
	}
	if !*quiet {
		c.Progress = stderr
	}
	var res loop.ControlResult
	var err error
	if human != nil {
		res, err = human.RunLive(ctx, c)
		if errors.Is(err, loop.ErrStopped) {
			fmt.Fprintf(stdout, "run %s stopped by an admin at PPO iteration %d (checkpoint written); continue with: rlhf control -resume -out %s\n",
				human.RunID, c.Trainer.Iteration, *out)
			return nil
		}
	} else {
		res, err = c.Run(ctx)
	}
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	printControlSummary(stdout, c.Config, res, *out)
	return nil
}

func writeControlLabeler(dir string, l controlLabeler) error {
	buf, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, controlLabelerFile), append(buf, '\n'), 0o644); err != nil {
		return fmt.Errorf("control: save labeler settings: %w", err)
	}
	return nil
}

// readControlLabeler returns the saved labeler settings, nil for a
// true-reward run (which has none).
func readControlLabeler(dir string) (*controlLabeler, error) {
	buf, err := os.ReadFile(filepath.Join(dir, controlLabelerFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("control: resume: %w", err)
	}
	var l controlLabeler
	if err := json.Unmarshal(buf, &l); err != nil {
		return nil, fmt.Errorf("control: resume: parse %s: %w", controlLabelerFile, err)
	}
	return &l, nil
}

func printControlSummary(w io.Writer, cfg loop.ControlConfig, r loop.ControlResult, dir string) {
	what := "true reward"
	if cfg.Learned() {
		mode := "online"
		if cfg.Offline {
			mode = "offline"
		}
		what = fmt.Sprintf("learned reward (%d labels, %s queries, %s)", cfg.Labels, cfg.Queries, mode)
	}
	fmt.Fprintf(w, "%s, PPO on the %s, seed %d, %d steps\n", r.Env, what, r.Seed, r.Steps)
	fmt.Fprintf(w, "  final %s: %.1f ± %.1f over %d evaluation episodes (last-tenth training mean %.1f)\n",
		r.Metric, r.FinalReturn, r.FinalReturnStd, cfg.EvalEpisodes, r.TrainReturn)
	if cfg.Learned() {
		fmt.Fprintf(w, "  labels: %d requested, %d received, %d used; rm accuracy %.3f, segment-return correlation %.3f\n",
			r.LabelsRequested, r.LabelsReceived, r.LabelsUsed, r.RMAccuracy, r.SegmentCorr)
	}
	fmt.Fprintf(w, "  wall %.1f s (reward model %.1f s), %.0f env steps/s, CPU %.1f s\n", r.WallSeconds, r.RMSeconds, r.SPS, r.CPUSeconds)
	fmt.Fprintf(w, "  report: %s\n", filepath.Join(dir, loop.ReportFile))
}

// humanInstructions is what labelers of a control run are told.
func humanInstructions(envName string) string {
	spec, err := env.SpecOf(envName)
	if err != nil {
		return ""
	}
	goal := spec.Description
	if spec.HiddenGoal != "" {
		goal = spec.HiddenGoal
	}
	return "Pick the clip that shows more progress towards the goal: " + goal
}

// openHumanLabeler opens the label store of a human-labelled run of command
// cmd (default: labels.db in the run directory), registers the run and
// prints the command the labelers' server should run. closeDB closes the
// store.
func openHumanLabeler(ctx context.Context, cmd, dbURL, dir, instructions string, stdout io.Writer) (h *loop.HumanLabeler, closeDB func(), err error) {
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(dir, "labels.db")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("%s: create run directory: %w", cmd, err)
	}
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: -db: %w", cmd, err)
	}
	runID := filepath.Base(dir)
	h, err = loop.NewHumanLabeler(ctx, s, runID, cmd+" "+runID, instructions)
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("%s: %w", cmd, err)
	}
	fmt.Fprintf(stdout, "run %s asks people for labels; serve them with:\n  rlhf serve -db %s\n", runID, redactURL(dbURL))
	return h, func() { s.Close() }, nil
}
