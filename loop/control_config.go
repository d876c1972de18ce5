package loop

import (
	"errors"
	"fmt"

	"rlhf/env"
	"rlhf/ppo"
	"rlhf/reward"
)

// What the policy of a control run optimises (ControlConfig.Reward).
const (
	// RewardTrue trains PPO on the environment's own reward: the baseline.
	RewardTrue = "true"
	// RewardLearned trains PPO on the reward ensemble's normalised prediction,
	// learned from the labeler's comparisons.
	RewardLearned = "learned"
)

// How queries are chosen among candidate pairs (ControlConfig.Queries).
const (
	// QueriesRandom asks about candidate pairs drawn uniformly.
	QueriesRandom = "random"
	// QueriesActive asks about the candidates on which the ensemble's members
	// disagree most (Christiano et al. 2017).
	QueriesActive = "active"
)

// RewardSources and QuerySelections list the valid values, for messages.
var (
	RewardSources   = []string{RewardTrue, RewardLearned}
	QuerySelections = []string{QueriesRandom, QueriesActive}
)

// ControlConfig describes one run of the control loop. Start from
// DefaultControl.
type ControlConfig struct {
	// Env is the environment name, as env.Make accepts it.
	Env string `json:"env"`
	// Seed fixes the policy, the environments, the reward model, the segment
	// sampling and the synthetic labelers built from it.
	Seed uint64 `json:"seed"`
	// Steps is the training budget in environment steps (all copies together).
	Steps int `json:"steps"`
	// Reward is RewardTrue or RewardLearned.
	Reward string `json:"reward"`
	// Labels is the total label budget of a learned-reward run.
	Labels int `json:"labels"`
	// Queries is QueriesRandom or QueriesActive.
	Queries string `json:"queries"`
	// Offline collects every label up front from the initial policy and never
	// asks again (Christiano et al. 2017 found that this fails).
	Offline bool `json:"offline"`
	// InitialFraction is the share of the budget asked about before training
	// starts, from the initial policy (paper: 0.25).
	InitialFraction float64 `json:"initial_fraction"`
	// ScheduleScale is c of the label rate c/(t+c) as a fraction of Steps.
	// The paper's c = 2e6 over MuJoCo runs of about 1e7 steps gives 0.2.
	ScheduleScale float64 `json:"schedule_scale"`
	// SegmentLen is the number of steps in a compared segment; 0 means the
	// environment's Spec.SegmentLen.
	SegmentLen int `json:"segment_len"`
	// Candidates is the number of candidate pairs sampled per query asked
	// with active selection.
	Candidates int `json:"candidates"`
	// PoolSteps bounds the recorded steps of the recent episodes that
	// candidate segments are cut from.
	PoolSteps int `json:"pool_steps"`
	// RMInitSteps is the number of reward-model steps after the initial batch
	// of labels (offline: after all labels).
	RMInitSteps int `json:"rm_init_steps"`
	// RMStepsPerLabel is the number of reward-model steps per newly arrived
	// label, taken whenever RetrainEvery new labels have arrived.
	RMStepsPerLabel float64 `json:"rm_steps_per_label"`
	// RetrainEvery is the number of new labels that triggers retraining the
	// reward model between PPO iterations; 0 means max(Labels/10, 1).
	RetrainEvery int `json:"retrain_every"`
	// LabelWorkers is the number of queries the labeler may work on at once.
	LabelWorkers int `json:"label_workers"`
	// WaitLabels makes every PPO iteration wait until each posted query is
	// answered, and take the answers in the order they were asked, so that a
	// run with an instant synthetic labeler is reproducible under its seed.
	// Without it (people, or a labeler with a delay) training goes on while
	// queries wait, as in Christiano et al. 2017, and which labels are in by a
	// given iteration depends on timing.
	WaitLabels bool `json:"wait_labels"`
	// EvalEpisodes is the number of episodes of the final evaluation.
	EvalEpisodes int `json:"eval_episodes"`
	// CheckpointEvery is the number of PPO iterations between checkpoints
	// (one is always written at the end).
	CheckpointEvery int `json:"checkpoint_every"`
	// PPO is the policy optimiser's configuration; its Env, Seed and
	// TotalSteps follow the fields above.
	PPO ppo.Config `json:"ppo"`
	// RM is the reward ensemble's configuration; its dimensions and Seed
	// follow the environment and Seed.
	RM reward.Config `json:"rm"`
}

// DefaultControl returns the defaults for an environment: PPO from
// ppo.Default, the reward ensemble from reward.DefaultConfig (with
// minibatches of 16 comparisons), 700 labels, active queries, 25% of the
// labels up front and the schedule of Christiano et al. 2017 scaled to the
// run length.
func DefaultControl(envName string) (ControlConfig, error) {
	spec, err := env.SpecOf(envName)
	if err != nil {
		return ControlConfig{}, fmt.Errorf("loop: %w", err)
	}
	pc, err := ppo.Default(envName)
	if err != nil {
		return ControlConfig{}, fmt.Errorf("loop: %w", err)
	}
	actDim := 0
	if !spec.Act.IsDiscrete() {
		actDim = spec.ActDim
	}
	rc := reward.DefaultConfig(spec.ObsDim, spec.Act.Discrete, actDim)
	rc.BatchSize = 16
	return ControlConfig{
		Env: envName, Seed: 1, Steps: pc.TotalSteps,
		Reward: RewardLearned, Labels: 700, Queries: QueriesActive,
		InitialFraction: 0.25, ScheduleScale: 0.2,
		Candidates: 10, PoolSteps: 20000,
		RMInitSteps: 200, RMStepsPerLabel: 1, LabelWorkers: 1,
		EvalEpisodes: 20, CheckpointEvery: 10,
		PPO: pc, RM: rc,
	}, nil
}

// resolved returns c with the derived fields filled in: PPO's Env, Seed and
// TotalSteps, RM's Seed, SegmentLen and RetrainEvery.
func (c ControlConfig) resolved() ControlConfig {
	c.PPO.Env, c.PPO.Seed, c.PPO.TotalSteps = c.Env, c.Seed, c.Steps
	c.RM.Seed = c.Seed
	if c.SegmentLen <= 0 {
		if spec, err := env.SpecOf(c.Env); err == nil {
			c.SegmentLen = spec.SegmentLen
		}
	}
	if c.RetrainEvery <= 0 {
		c.RetrainEvery = max(c.Labels/10, 1)
	}
	c.PPO.Hidden = append([]int(nil), c.PPO.Hidden...)
	c.RM.Hidden = append([]int(nil), c.RM.Hidden...)
	return c
}

// Learned reports whether the policy learns from the reward model.
func (c ControlConfig) Learned() bool { return c.Reward == RewardLearned }

// Validate reports every invalid field, joined into one error.
func (c ControlConfig) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	spec, err := env.SpecOf(c.Env)
	if err != nil {
		bad("%v", err)
	}
	switch c.Reward {
	case RewardTrue, RewardLearned:
	default:
		bad("reward %q: want one of %v", c.Reward, RewardSources)
	}
	switch c.Queries {
	case QueriesRandom, QueriesActive:
	default:
		bad("queries %q: want one of %v", c.Queries, QuerySelections)
	}
	if err == nil && c.Reward == RewardTrue && !spec.TrueReward {
		bad("reward %q: %s hides its goal from the agent (%s); it can only be learned from preferences", RewardTrue, c.Env, spec.HiddenGoal)
	}
	if c.Steps < 1 {
		bad("steps must be >= 1, got %d", c.Steps)
	}
	if c.Learned() && c.Labels < 2 {
		bad("labels must be >= 2 with a learned reward, got %d", c.Labels)
	}
	if c.Labels < 0 {
		bad("labels must be >= 0, got %d", c.Labels)
	}
	if !(c.InitialFraction >= 0 && c.InitialFraction <= 1) {
		bad("initial_fraction %v not in [0, 1]", c.InitialFraction)
	}
	if !(c.ScheduleScale > 0) {
		bad("schedule_scale must be > 0, got %v", c.ScheduleScale)
	}
	if c.SegmentLen < 0 {
		bad("segment_len must be >= 0, got %d", c.SegmentLen)
	}
	if c.Candidates < 1 {
		bad("candidates must be >= 1, got %d", c.Candidates)
	}
	if c.PoolSteps < 1 {
		bad("pool_steps must be >= 1, got %d", c.PoolSteps)
	}
	if c.RMInitSteps < 1 {
		bad("rm_init_steps must be >= 1, got %d", c.RMInitSteps)
	}
	if !(c.RMStepsPerLabel >= 0) {
		bad("rm_steps_per_label must be >= 0, got %v", c.RMStepsPerLabel)
	}
	if c.RetrainEvery < 0 {
		bad("retrain_every must be >= 0, got %d", c.RetrainEvery)
	}
	if c.LabelWorkers < 1 {
		bad("label_workers must be >= 1, got %d", c.LabelWorkers)
	}
	if c.EvalEpisodes < 1 {
		bad("eval_episodes must be >= 1, got %d", c.EvalEpisodes)
	}
	if c.CheckpointEvery < 1 {
		bad("checkpoint_every must be >= 1, got %d", c.CheckpointEvery)
	}
	r := c.resolved()
	if err == nil {
		if e := r.PPO.Validate(); e != nil {
			errs = append(errs, e)
		}
		if e := r.RM.Validate(); e != nil {
			errs = append(errs, e)
		}
		wantAct := 0
		if !spec.Act.IsDiscrete() {
			wantAct = spec.ActDim
		}
		if r.RM.ObsDim != spec.ObsDim || r.RM.Discrete != spec.Act.Discrete || r.RM.ActDim != wantAct {
			bad("rm dimensions obs %d, discrete %d, act %d do not match %s", r.RM.ObsDim, r.RM.Discrete, r.RM.ActDim, c.Env)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("loop: invalid control config: %w", errors.Join(errs...))
}
