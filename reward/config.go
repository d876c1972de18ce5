package reward

import (
	"errors"
	"fmt"
	"math"
)

// Config describes a control reward ensemble ([Ensemble]): the network, how
// it is trained and regularised, and how its output is normalised. Defaults
// come from [DefaultConfig].
type Config struct {
	// ObsDim is the length of an observation.
	ObsDim int `json:"obs_dim"`
	// Discrete is the number of actions of a discrete action space (actions
	// are [index] and are one-hot encoded); 0 for a continuous space.
	Discrete int `json:"discrete,omitempty"`
	// ActDim is the length of a continuous action; 0 with Discrete.
	ActDim int `json:"act_dim,omitempty"`
	// SquaredActions appends the square of each continuous action component
	// to the step features: control costs are quadratic in the action, and a
	// small network fitted to a few hundred comparisons of summed rewards
	// does not find that shape from the raw action alone.
	SquaredActions bool `json:"squared_actions,omitempty"`
	// Hidden holds the widths of the hidden layers (paper: 64, 64).
	Hidden []int `json:"hidden"`
	// Slope is the leaky-ReLU slope for negative inputs (paper: 0.01).
	Slope float64 `json:"slope"`
	// Members is the ensemble size (paper: 3).
	Members int `json:"members"`
	// LR is Adam's learning rate.
	LR float64 `json:"lr"`
	// BatchSize is the number of comparisons per minibatch.
	BatchSize int `json:"batch_size"`
	// ClipNorm bounds the global gradient norm of a step; 0 disables clipping.
	ClipNorm float64 `json:"clip_norm"`
	// Eps is the probability that the labeler answers uniformly at random in
	// the choice model (paper: 0.1); 0 gives the plain Bradley-Terry model.
	Eps float64 `json:"eps"`
	// ValFraction is the share of comparisons held out for validation
	// (paper: 1/e).
	ValFraction float64 `json:"val_fraction"`
	// L2 is the initial coefficient of the L2 penalty Σ‖W‖² on weight matrices;
	// training adapts it per member.
	L2 float64 `json:"l2"`
	// L2Low and L2High bound the target ratio of validation to training loss
	// (paper: 1.1 and 1.5). Above L2High the coefficient is multiplied by
	// L2Factor, below L2Low divided by it.
	L2Low    float64 `json:"l2_low"`
	L2High   float64 `json:"l2_high"`
	L2Factor float64 `json:"l2_factor"`
	// L2Min and L2Max clamp the adapted coefficient.
	L2Min float64 `json:"l2_min"`
	L2Max float64 `json:"l2_max"`
	// AdaptEvery is the number of steps between two L2 adjustments of a member
	// (each also at the end of Train).
	AdaptEvery int `json:"adapt_every"`
	// RefSteps is how many of the most recent labelled steps form the
	// reference set the rewards are normalised over (unless SetReference
	// supplies one).
	RefSteps int `json:"ref_steps"`
	// Seed determines initialisation, the validation split, the bootstrap
	// resamples and minibatch order.
	Seed uint64 `json:"seed"`
}

// DefaultConfig returns the settings of Christiano et al. 2017 for MuJoCo
// where the paper gives them (two hidden layers of 64, leaky ReLU 0.01, three
// members, eps 0.1, 1/e held out, validation loss kept between 1.1 and 1.5
// times training loss) and ours elsewhere (Adam at 1e-3, 32 comparisons a
// minibatch, initial L2 1e-3 adjusted by a factor 1.5 every 50 steps).
// Set Discrete for a discrete action space, ActDim for a continuous one.
func DefaultConfig(obsDim, discrete, actDim int) Config {
	return Config{
		ObsDim: obsDim, Discrete: discrete, ActDim: actDim,
		Hidden: []int{64, 64}, Slope: 0.01, Members: 3,
		LR: 1e-3, BatchSize: 32, ClipNorm: 10,
		Eps: PaperEps, ValFraction: 1 / math.E,
		L2: 1e-3, L2Low: 1.1, L2High: 1.5, L2Factor: 1.5, L2Min: 1e-7, L2Max: 0.01,
		AdaptEvery: 50, RefSteps: 10000, Seed: 1,
		SquaredActions: actDim > 0 && discrete == 0,
	}
}

// InDim returns the number of input features per step: the observation
// followed by the action (one-hot for a discrete space) and, with
// SquaredActions, the squared action components.
func (c *Config) InDim() int {
	if c.Discrete > 0 {
		return c.ObsDim + c.Discrete
	}
	if c.SquaredActions {
		return c.ObsDim + 2*c.ActDim
	}
	return c.ObsDim + c.ActDim
}

// ActWidth returns the length of an action as the environment gives it: 1
// (the index) for a discrete space, ActDim otherwise.
func (c *Config) ActWidth() int {
	if c.Discrete > 0 {
		return 1
	}
	return c.ActDim
}

// Validate reports whether c is usable.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("reward: config: "+format, a...)) }
	if c.ObsDim <= 0 {
		bad("obs_dim %d, want > 0", c.ObsDim)
	}
	if c.Discrete < 0 || c.ActDim < 0 || (c.Discrete > 0) == (c.ActDim > 0) {
		bad("want exactly one of discrete (%d) and act_dim (%d) > 0", c.Discrete, c.ActDim)
	}
	if c.SquaredActions && c.Discrete > 0 {
		bad("squared_actions needs a continuous action space")
	}
	for _, h := range c.Hidden {
		if h <= 0 {
			bad("hidden width %d, want > 0", h)
		}
	}
	if !(c.Slope >= 0 && c.Slope < 1) {
		bad("slope %v not in [0, 1)", c.Slope)
	}
	if c.Members < 1 {
		bad("members %d, want >= 1", c.Members)
	}
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		bad("lr %v, want a finite value > 0", c.LR)
	}
	if c.BatchSize < 1 {
		bad("batch_size %d, want >= 1", c.BatchSize)
	}
	if !(c.ClipNorm >= 0) {
		bad("clip_norm %v, want >= 0", c.ClipNorm)
	}
	if !(c.Eps >= 0 && c.Eps < 1) {
		bad("eps %v not in [0, 1)", c.Eps)
	}
	if !(c.ValFraction >= 0 && c.ValFraction < 1) {
		bad("val_fraction %v not in [0, 1)", c.ValFraction)
	}
	if !(c.L2Min >= 0 && c.L2Min <= c.L2Max) || math.IsInf(c.L2Max, 0) {
		bad("l2 range [%v, %v] invalid", c.L2Min, c.L2Max)
	}
	if !(c.L2 >= c.L2Min && c.L2 <= c.L2Max) {
		bad("l2 %v not in [l2_min %v, l2_max %v]", c.L2, c.L2Min, c.L2Max)
	}
	if !(c.L2Low > 0 && c.L2Low <= c.L2High) || math.IsInf(c.L2High, 0) {
		bad("l2 band [%v, %v] invalid", c.L2Low, c.L2High)
	}
	if !(c.L2Factor >= 1) || math.IsInf(c.L2Factor, 0) {
		bad("l2_factor %v, want a finite value >= 1", c.L2Factor)
	}
	if c.AdaptEvery < 1 {
		bad("adapt_every %d, want >= 1", c.AdaptEvery)
	}
	if c.RefSteps < 1 {
		bad("ref_steps %d, want >= 1", c.RefSteps)
	}
	return errors.Join(errs...)
}
