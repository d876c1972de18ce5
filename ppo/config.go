// Package ppo is Proximal Policy Optimization (Schulman et al. 2017).
//
// The step-level trainer (Trainer) trains a control agent on an env.VecEnv
// the way cleanrl's ppo.py and ppo_continuous_action.py do: a rollout of
// NumSteps steps from NumEnvs environments, GAE(λ), then Epochs passes of
// shuffled minibatches over the clipped surrogate, clipped value loss and
// entropy bonus, with the documented implementation details (orthogonal
// init, Adam eps 1e-5, advantage normalisation, learning-rate annealing,
// global gradient-norm clipping, observation and reward normalisation).
// The reward the agent learns from may be replaced by a RewardFunc over
// (obs, action, next obs) batches, e.g. a reward model trained from
// human preferences (Christiano et al. 2017).
//
// Checkpoints (Trainer.Save, Resume) hold the parameters, AdamW state,
// normalisation statistics, generator state, counters and the environments'
// own state (env.VecEnv.State: simulator state, episode counters, generator
// state), so a resumed run continues exactly as an uninterrupted one.
//
// loss.go holds the pure pieces shared with the token-level trainer:
// PolicyLoss, ValueLoss, EntropyBonus, ApproxKL, ClipFrac,
// ExplainedVariance; gae.go holds GAE.
package ppo

import (
	"errors"
	"fmt"

	"rlhf/env"
)

// Config holds every hyper-parameter of a step-level PPO run. The zero value
// is not useful; start from DefaultClassic, DefaultContinuous or Default.
type Config struct {
	// Env is the environment name, as env.Make accepts it.
	Env string `json:"env"`
	// Seed fixes the initial parameters, the environments' episodes, action
	// sampling and minibatch shuffling.
	Seed uint64 `json:"seed"`
	// TotalSteps is the training budget in environment steps, all copies together.
	TotalSteps int `json:"total_steps"`
	// NumEnvs is the number of environment copies stepped in lockstep.
	NumEnvs int `json:"num_envs"`
	// NumSteps is the rollout length per copy and iteration; a batch holds
	// NumEnvs·NumSteps transitions.
	NumSteps int `json:"num_steps"`
	// Hidden are the widths of the tanh hidden layers of actor and critic.
	Hidden []int `json:"hidden"`
	// LR is Adam's learning rate (the peak, when annealed).
	LR float64 `json:"lr"`
	// AnnealLR decays the learning rate linearly to 0 over the run.
	AnnealLR bool `json:"anneal_lr"`
	// AdamEps is Adam's denominator guard (1e-5 in cleanrl, not PyTorch's 1e-8).
	AdamEps float64 `json:"adam_eps"`
	// Gamma is the discount factor.
	Gamma float64 `json:"gamma"`
	// Lambda is GAE's λ.
	Lambda float64 `json:"gae_lambda"`
	// NumMinibatches is the number of minibatches a batch is split into per epoch.
	NumMinibatches int `json:"num_minibatches"`
	// Epochs is the number of passes over each batch.
	Epochs int `json:"update_epochs"`
	// NormAdv normalises advantages to mean 0, std 1 within each minibatch.
	NormAdv bool `json:"norm_adv"`
	// ClipCoef is the surrogate clipping ε.
	ClipCoef float64 `json:"clip_coef"`
	// ClipVLoss uses the clipped value loss, with ClipCoef as its range.
	ClipVLoss bool `json:"clip_vloss"`
	// EntCoef weighs the entropy bonus.
	EntCoef float64 `json:"ent_coef"`
	// VFCoef weighs the value loss.
	VFCoef float64 `json:"vf_coef"`
	// MaxGradNorm caps the global L2 norm of the gradient.
	MaxGradNorm float64 `json:"max_grad_norm"`
	// TargetKL, if > 0, ends an update's epochs early once the mean approximate
	// KL of an epoch exceeds it.
	TargetKL float64 `json:"target_kl"`
	// NormObs normalises observations by a running mean and variance
	// (saved with checkpoints), then clips them to ±ObsClip.
	NormObs bool `json:"norm_obs"`
	// ObsClip bounds normalised observations.
	ObsClip float64 `json:"obs_clip"`
	// NormReward divides rewards by the running standard deviation of the
	// discounted return (gym's NormalizeReward), then clips them to ±RewardClip.
	NormReward bool `json:"norm_reward"`
	// RewardClip bounds normalised rewards.
	RewardClip float64 `json:"reward_clip"`
}

// DefaultClassic returns cleanrl ppo.py's settings for classic control with
// discrete actions (CartPole-v1, Acrobot-v1): 4 envs × 128 steps, 4
// minibatches, 4 epochs, lr 2.5e-4 annealed, γ 0.99, λ 0.95, ε 0.2, clipped
// value loss, entropy 0.01, value 0.5, grad norm 0.5, 64-64 tanh, 500k steps.
func DefaultClassic(envName string) Config {
	return Config{
		Env: envName, Seed: 1, TotalSteps: 500_000,
		NumEnvs: 4, NumSteps: 128, Hidden: []int{64, 64},
		LR: 2.5e-4, AnnealLR: true, AdamEps: 1e-5,
		Gamma: 0.99, Lambda: 0.95,
		NumMinibatches: 4, Epochs: 4, NormAdv: true,
		ClipCoef: 0.2, ClipVLoss: true, EntCoef: 0.01, VFCoef: 0.5, MaxGradNorm: 0.5,
		ObsClip: 10, RewardClip: 10,
	}
}

// DefaultContinuous returns cleanrl ppo_continuous_action.py's settings for
// continuous control (the MuJoCo settings of the PPO paper): 1 env × 2048
// steps, 32 minibatches, 10 epochs, lr 3e-4 annealed, γ 0.99, λ 0.95, ε 0.2,
// clipped value loss, no entropy bonus, observation and reward
// normalisation clipped at 10, 64-64 tanh, 1M steps.
func DefaultContinuous(envName string) Config {
	return Config{
		Env: envName, Seed: 1, TotalSteps: 1_000_000,
		NumEnvs: 1, NumSteps: 2048, Hidden: []int{64, 64},
		LR: 3e-4, AnnealLR: true, AdamEps: 1e-5,
		Gamma: 0.99, Lambda: 0.95,
		NumMinibatches: 32, Epochs: 10, NormAdv: true,
		ClipCoef: 0.2, ClipVLoss: true, EntCoef: 0, VFCoef: 0.5, MaxGradNorm: 0.5,
		NormObs: true, ObsClip: 10, NormReward: true, RewardClip: 10,
	}
}

// Default returns DefaultClassic for environments with discrete actions and
// DefaultContinuous for the others.
func Default(envName string) (Config, error) {
	spec, err := env.SpecOf(envName)
	if err != nil {
		return Config{}, fmt.Errorf("ppo: default config: %w", err)
	}
	if spec.Act.IsDiscrete() {
		return DefaultClassic(envName), nil
	}
	return DefaultContinuous(envName), nil
}

// BatchSize is NumEnvs·NumSteps, the transitions per iteration.
func (c Config) BatchSize() int { return c.NumEnvs * c.NumSteps }

// MinibatchSize is BatchSize/NumMinibatches.
func (c Config) MinibatchSize() int { return c.BatchSize() / max(c.NumMinibatches, 1) }

// Iterations is the number of rollout+update iterations TotalSteps allows.
func (c Config) Iterations() int { return c.TotalSteps / max(c.BatchSize(), 1) }

// Validate reports every invalid field, joined into one error.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, err := env.SpecOf(c.Env); err != nil {
		bad("env: %v", err)
	}
	if c.NumEnvs < 1 {
		bad("num_envs must be >= 1, got %d", c.NumEnvs)
	}
	if c.NumSteps < 1 {
		bad("num_steps must be >= 1, got %d", c.NumSteps)
	}
	if c.NumMinibatches < 1 {
		bad("num_minibatches must be >= 1, got %d", c.NumMinibatches)
	} else if c.NumEnvs >= 1 && c.NumSteps >= 1 && c.BatchSize()%c.NumMinibatches != 0 {
		bad("batch size num_envs*num_steps = %d is not divisible by num_minibatches %d", c.BatchSize(), c.NumMinibatches)
	}
	if c.NumEnvs >= 1 && c.NumSteps >= 1 && c.TotalSteps < c.BatchSize() {
		bad("total_steps %d is less than one batch (num_envs*num_steps = %d)", c.TotalSteps, c.BatchSize())
	}
	if len(c.Hidden) == 0 {
		bad("hidden needs at least one layer width")
	}
	for _, h := range c.Hidden {
		if h < 1 {
			bad("hidden layer widths must be >= 1, got %v", c.Hidden)
			break
		}
	}
	if !(c.LR > 0) {
		bad("lr must be > 0, got %g", c.LR)
	}
	if !(c.AdamEps > 0) {
		bad("adam_eps must be > 0, got %g", c.AdamEps)
	}
	if !(c.Gamma >= 0 && c.Gamma <= 1) {
		bad("gamma must be in [0, 1], got %g", c.Gamma)
	}
	if !(c.Lambda >= 0 && c.Lambda <= 1) {
		bad("gae_lambda must be in [0, 1], got %g", c.Lambda)
	}
	if c.Epochs < 1 {
		bad("update_epochs must be >= 1, got %d", c.Epochs)
	}
	if !(c.ClipCoef > 0) {
		bad("clip_coef must be > 0, got %g", c.ClipCoef)
	}
	if !(c.EntCoef >= 0) {
		bad("ent_coef must be >= 0, got %g", c.EntCoef)
	}
	if !(c.VFCoef >= 0) {
		bad("vf_coef must be >= 0, got %g", c.VFCoef)
	}
	if !(c.MaxGradNorm > 0) {
		bad("max_grad_norm must be > 0, got %g", c.MaxGradNorm)
	}
	if !(c.TargetKL >= 0) {
		bad("target_kl must be >= 0 (0 disables it), got %g", c.TargetKL)
	}
	if c.NormObs && !(c.ObsClip > 0) {
		bad("obs_clip must be > 0 with norm_obs, got %g", c.ObsClip)
	}
	if c.NormReward && !(c.RewardClip > 0) {
		bad("reward_clip must be > 0 with norm_reward, got %g", c.RewardClip)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("ppo: invalid config: %w", errors.Join(errs...))
}
