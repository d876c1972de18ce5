package ppo

import (
	"errors"
	"fmt"
	"math"
)

// LMConfig holds every hyper-parameter of a token-level PPO run on a GPT
// language model (Ziegler et al. 2019; Stiennon et al. 2020). The names
// follow TRL's PPOConfig where one exists. Start from DefaultLMConfig.
//
// One PPO step samples a completion of BatchSize prompts from the policy,
// scores each (prompt, completion), forms per-token rewards
//
//	r_t = -β·(log π(y_t|·) - log π_ref(y_t|·))   at every completion token
//	r_T += score(x, y)                            at the last one
//
// runs GAE(γ, λ) over the completion tokens with the value head, whitens
// the advantages over the batch, then takes Epochs passes of MiniBatches
// shuffled minibatches over PPO's clipped surrogate and clipped value loss.
// β is fixed (KLTarget = 0) or follows the adaptive controller of Ziegler
// et al. (see KLController).
//
// With Advantage = AdvantageRLOO the value head is not used: each prompt is
// sampled GroupSize times, a completion's reward is its score minus β times
// its KL, and its advantage, the same at each of its tokens, is that reward
// minus the mean of the other GroupSize-1 rewards of its prompt
// (REINFORCE leave-one-out, Kool et al. 2019, as Ahmadian et al. 2024 use
// it for RLHF); the clipped surrogate and the epochs stay PPO's.
//
// With Advantage = AdvantageGRPO (Group Relative Policy Optimization, Shao
// et al. 2024) the value head is not used either and prompts are sampled
// GroupSize times, but the KL penalty leaves the reward: a completion's
// reward is its score alone, its advantage at every token is that score
// minus the mean score of its group, divided by the group's standard
// deviation (GroupNormalized), and the loss adds β times the mean per-token
// estimate of KL(π ‖ π_ref) (KLPenalty) to the clipped surrogate. The
// advantages are not whitened again over the batch (WhitenAdvantages is
// ignored). The KL controller steers this β as it steers the reward's,
// from the same measured KL per completion.
//
// Policy and value share the transformer: the value is a linear head on the
// policy's final hidden state (one forward and backward pass per minibatch
// serves both losses, which matters on a CPU). VFCoef weighs the value loss
// so that its gradient does not swamp the policy's in the shared trunk.
type LMConfig struct {
	// Seed fixes the value head's initialisation, prompt order, sampling and
	// minibatch shuffling.
	Seed uint64 `json:"seed"`
	// BatchSize is the number of prompts (episodes) per PPO step.
	BatchSize int `json:"batch_size"`
	// MiniBatches is the number of minibatches a batch is split into per epoch.
	MiniBatches int `json:"num_mini_batches"`
	// Epochs is the number of passes over each batch (TRL: num_ppo_epochs).
	Epochs int `json:"num_ppo_epochs"`
	// LR is Adam's learning rate (constant).
	LR float64 `json:"learning_rate"`
	// AdamEps is Adam's denominator guard.
	AdamEps float64 `json:"adam_eps"`
	// MaxGradNorm caps the global L2 norm of the gradient (0: no clipping).
	MaxGradNorm float64 `json:"max_grad_norm"`
	// ClipRange is the surrogate clipping ε (TRL: cliprange).
	ClipRange float64 `json:"cliprange"`
	// ClipRangeValue bounds how far a value moves from its rollout value
	// (TRL: cliprange_value; 0: no value clipping).
	ClipRangeValue float64 `json:"cliprange_value"`
	// VFCoef weighs the value loss (TRL: vf_coef).
	VFCoef float64 `json:"vf_coef"`
	// EntCoef weighs an entropy bonus (0 in Ziegler et al. and TRL).
	EntCoef float64 `json:"ent_coef"`
	// Gamma is the discount over completion tokens (1: the episode is short).
	Gamma float64 `json:"gamma"`
	// Lambda is GAE's λ.
	Lambda float64 `json:"lam"`
	// WhitenAdvantages normalises advantages to mean 0, std 1 over the
	// completion tokens of each batch.
	WhitenAdvantages bool `json:"whiten_advantages"`
	// NormScores standardises scores with the mean and standard deviation
	// of the scores of the first batch, i.e. of samples from the initial
	// policy, as Ziegler et al. normalise their reward model before RL. The
	// statistics then stay fixed, so scores remain comparable across steps.
	NormScores bool `json:"norm_scores"`
	// KLCoef is β, the weight of the KL penalty (its initial value when
	// adaptive) (TRL: init_kl_coef).
	KLCoef float64 `json:"init_kl_coef"`
	// KLTarget, if > 0, makes β adaptive: it is steered so that the KL of
	// a completion (nats, summed over its tokens) stays near KLTarget.
	KLTarget float64 `json:"target"`
	// KLHorizon is the adaptive controller's horizon in episodes (see KLController).
	KLHorizon float64 `json:"horizon"`
	// KLMinCoef is the lowest β the adaptive controller may set (0: no
	// floor; see KLController.Min).
	KLMinCoef float64 `json:"kl_min_coef,omitempty"`
	// KLGain is the exponent of the adaptive controller's immediate term:
	// β is scaled by (KL/target)^KLGain of the latest batch (0: none; see
	// KLController.Gain).
	KLGain float64 `json:"kl_gain,omitempty"`
	// MaxNewTokens is the most tokens sampled per completion.
	MaxNewTokens int `json:"response_length"`
	// Temperature of rollout sampling. It must be 1 for the log-probabilities
	// of the rollout to be those of the policy; other values are accepted for
	// experiments and then train the policy on tempered samples.
	Temperature float64 `json:"temperature"`
	// StopAtEOS ends a completion at the end-of-text token.
	StopAtEOS bool `json:"stop_at_eos"`
	// PromptEOS prefixes every prompt with the end-of-text token, the
	// separator the model saw before each document in pretraining.
	PromptEOS bool `json:"prompt_eos"`
	// Advantage is how advantages are estimated: AdvantageGAE ("" too),
	// GAE over the value head; AdvantageRLOO, leave-one-out over GroupSize
	// completions of each prompt, no value head; AdvantageGRPO, scores
	// normalised within each group of GroupSize, the KL penalty in the loss.
	Advantage string `json:"advantage,omitempty"`
	// GroupSize is the completions sampled per prompt with AdvantageRLOO
	// and AdvantageGRPO (BatchSize must be a multiple of it:
	// BatchSize/GroupSize prompts per step).
	GroupSize int `json:"group_size,omitempty"`
	// GroupMeanOnly makes GRPO's advantages each score minus its group's
	// mean, not divided by the group's standard deviation (Liu et al. 2025
	// argue that the division weighs groups of similar scores most).
	GroupMeanOnly bool `json:"group_mean_only,omitempty"`
}

// The advantage estimators of LMConfig.Advantage.
const (
	AdvantageGAE  = "gae"
	AdvantageRLOO = "rloo"
	AdvantageGRPO = "grpo"
)

// Estimator describes c's advantage estimator for logs and reports:
// "GAE", "RLOO over groups of k" or "GRPO over groups of k" (", mean
// only" added with GroupMeanOnly).
func (c LMConfig) Estimator() string {
	switch {
	case c.rloo():
		return fmt.Sprintf("RLOO over groups of %d", c.GroupSize)
	case c.grpo() && c.GroupMeanOnly:
		return fmt.Sprintf("GRPO over groups of %d, mean only", c.GroupSize)
	case c.grpo():
		return fmt.Sprintf("GRPO over groups of %d", c.GroupSize)
	}
	return "GAE"
}

// KLControl describes c's KL penalty for logs and reports: "fixed β 0.1",
// or "KL target 4 (β₀ 0.25, horizon 128 episodes, β ≥ 0.1, gain 2)" with
// the floor and the gain named only where set; with GRPO, whose penalty is
// a term of the loss, it ends "in the loss".
func (c LMConfig) KLControl() string {
	where := ""
	if c.grpo() {
		where = " in the loss"
	}
	if c.KLTarget <= 0 {
		return fmt.Sprintf("fixed β %g%s", c.KLCoef, where)
	}
	s := fmt.Sprintf("KL target %g (β₀ %g, horizon %g episodes", c.KLTarget, c.KLCoef, c.KLHorizon)
	if c.KLMinCoef > 0 {
		s += fmt.Sprintf(", β ≥ %g", c.KLMinCoef)
	}
	if c.KLGain > 0 {
		s += fmt.Sprintf(", gain %g", c.KLGain)
	}
	return s + ")" + where
}

// rloo reports whether c estimates advantages leave-one-out.
func (c LMConfig) rloo() bool { return c.Advantage == AdvantageRLOO }

// grpo reports whether c is GRPO: group-normalised advantages, KL in the loss.
func (c LMConfig) grpo() bool { return c.Advantage == AdvantageGRPO }

// grouped reports whether c samples each prompt GroupSize times and leaves
// the value head untrained (RLOO and GRPO).
func (c LMConfig) grouped() bool { return c.rloo() || c.grpo() }

// DefaultLMConfig returns the defaults: Ziegler et al.'s γ=1, λ=0.95, ε=0.2,
// 4 epochs, adaptive KL with horizon 10000; TRL's value-loss weight 0.1 and
// value clipping 0.2; sizes and learning rate chosen for the project's tiny
// GPT on a CPU: batch 32 in 2 minibatches, 24 new tokens, lr 1e-4, β₀ = 0.1,
// KL target 4 nats per completion.
func DefaultLMConfig() LMConfig {
	return LMConfig{
		Seed: 1, BatchSize: 32, MiniBatches: 2, Epochs: 4,
		LR: 1e-4, AdamEps: 1e-5, MaxGradNorm: 1,
		ClipRange: 0.2, ClipRangeValue: 0.2, VFCoef: 0.1, EntCoef: 0,
		Gamma: 1, Lambda: 0.95, WhitenAdvantages: true, NormScores: true,
		KLCoef: 0.1, KLTarget: 4, KLHorizon: 10000,
		MaxNewTokens: 24, Temperature: 1, StopAtEOS: true, PromptEOS: true,
	}
}

// Validate reports every setting that cannot train, joined.
func (c LMConfig) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("ppo: "+format, args...))
		}
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	check(c.BatchSize > 0, "batch size %d must be positive", c.BatchSize)
	check(c.MiniBatches > 0 && c.MiniBatches <= max(c.BatchSize, 1), "minibatches %d must be in [1, batch size %d]", c.MiniBatches, c.BatchSize)
	check(c.Epochs > 0, "epochs %d must be positive", c.Epochs)
	check(c.LR > 0 && finite(c.LR), "learning rate %g must be positive", c.LR)
	check(c.AdamEps > 0 && finite(c.AdamEps), "adam eps %g must be positive", c.AdamEps)
	check(c.MaxGradNorm >= 0 && finite(c.MaxGradNorm), "max grad norm %g must be >= 0", c.MaxGradNorm)
	check(c.ClipRange > 0 && c.ClipRange < 1, "cliprange %g must be in (0, 1)", c.ClipRange)
	check(c.ClipRangeValue >= 0 && finite(c.ClipRangeValue), "cliprange_value %g must be >= 0", c.ClipRangeValue)
	check(c.VFCoef >= 0 && finite(c.VFCoef), "vf_coef %g must be >= 0", c.VFCoef)
	check(c.EntCoef >= 0 && finite(c.EntCoef), "ent_coef %g must be >= 0", c.EntCoef)
	check(c.Gamma > 0 && c.Gamma <= 1, "gamma %g must be in (0, 1]", c.Gamma)
	check(c.Lambda >= 0 && c.Lambda <= 1, "lambda %g must be in [0, 1]", c.Lambda)
	check(c.KLCoef >= 0 && finite(c.KLCoef), "KL coefficient %g must be >= 0", c.KLCoef)
	check(c.KLTarget >= 0 && finite(c.KLTarget), "KL target %g must be >= 0", c.KLTarget)
	check(c.KLTarget == 0 || c.KLCoef > 0, "an adaptive KL coefficient (target %g) must start above 0", c.KLTarget)
	check(c.KLTarget == 0 || (c.KLHorizon > 0 && finite(c.KLHorizon)), "KL horizon %g must be positive", c.KLHorizon)
	check(c.KLMinCoef >= 0 && c.KLMinCoef <= c.KLCoef, "KL coefficient floor %g must be in [0, the initial coefficient %g]", c.KLMinCoef, c.KLCoef)
	check(c.KLGain >= 0 && c.KLGain <= 10, "KL controller gain %g must be in [0, 10]", c.KLGain)
	check(c.MaxNewTokens > 0, "max new tokens %d must be positive", c.MaxNewTokens)
	check(c.Temperature > 0 && finite(c.Temperature), "temperature %g must be positive", c.Temperature)
	check(c.Advantage == "" || c.Advantage == AdvantageGAE || c.grouped(), "advantage estimator %q: want %s, %s or %s", c.Advantage, AdvantageGAE, AdvantageRLOO, AdvantageGRPO)
	check(!c.grouped() || c.GroupSize >= 2, "%s needs at least 2 completions per prompt (group size %d)", c.Advantage, c.GroupSize)
	check(!c.grouped() || c.GroupSize < 2 || c.BatchSize%c.GroupSize == 0, "batch size %d must be a multiple of the group size %d", c.BatchSize, c.GroupSize)
	check(c.grouped() || c.GroupSize == 0, "group size %d is only used by the %s and %s estimators", c.GroupSize, AdvantageRLOO, AdvantageGRPO)
	check(c.grpo() || !c.GroupMeanOnly, "mean-only group advantages are only used by the %s estimator", AdvantageGRPO)
	return errors.Join(errs...)
}
