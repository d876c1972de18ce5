// Package dpo fine-tunes a language model directly on preference pairs,
// without a reward model or sampling: Direct Preference Optimization
// (Rafailov et al. 2023) and its squared-loss variant IPO (Azar et al. 2023).
//
// Both compare the policy's and a frozen reference model's summed
// log-probabilities of the chosen completion y_w and the rejected one y_l:
//
//	h = (log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x))
//	DPO: -log σ(β·h)        IPO: (h - 1/(2τ))²
//
// As a baseline, LossSFT fine-tunes on the chosen completions alone (their
// per-token negative log-likelihood; Rafailov et al.'s Preferred-FT).
//
// The files read in order: config.go (the settings and their defaults),
// loss.go (the losses and metrics as pure functions) and trainer.go
// (reference log-probs cached once, then minibatch steps on the policy).
package dpo

import (
	"errors"
	"fmt"
	"math"
)

// Loss names.
const (
	LossSigmoid = "sigmoid" // DPO: -log σ(β·h)
	LossIPO     = "ipo"     // IPO: (h - 1/(2β))², β playing τ
	// LossSFT is supervised fine-tuning on the chosen completions alone
	// (Rafailov et al.'s "Preferred-FT" baseline): their mean per-token
	// negative log-likelihood; β and the rejected completions only enter
	// the metrics.
	LossSFT = "sft"
)

// Config holds the settings of DPO training. Defaults are the paper's where
// it gives one and scaled to small models otherwise.
type Config struct {
	// Loss is LossSigmoid (DPO), LossIPO or LossSFT.
	Loss string
	// Beta is DPO's β, the strength of the implicit KL penalty towards the
	// reference model (0.1 in Rafailov et al. and TRL); for IPO it is τ, the
	// target margin being 1/(2τ).
	Beta float64
	// LabelSmoothing is the probability that a label is flipped (conservative
	// DPO, cDPO); 0 trusts every label. Only for LossSigmoid; in [0, 0.5).
	LabelSmoothing float64
	// LR is the Adam learning rate after warm-up. Rafailov et al. use 1e-6
	// for billion-parameter models; a small GPT needs a larger one.
	LR float64
	// Warmup is the number of steps of linear learning-rate warm-up (150 in
	// Rafailov et al.).
	Warmup int
	// Batch is the number of preference pairs per optimiser step (64 in
	// Rafailov et al.).
	Batch int
	// Epochs is the number of passes over the training pairs (1 in the paper).
	Epochs int
	// ClipNorm limits the global gradient norm; 0 for none.
	ClipNorm float64
	// WeightDecay is AdamW's decoupled decay on weight matrices.
	WeightDecay float64
	// Seed orders the minibatches.
	Seed uint64
}

// DefaultConfig returns DPO with β = 0.1, no label smoothing, learning rate
// 5e-5 with 10 warm-up steps, 16 pairs per step, 1 epoch, gradient norm
// clipped at 1, no weight decay.
func DefaultConfig() Config {
	return Config{Loss: LossSigmoid, Beta: 0.1, LR: 5e-5, Warmup: 10, Batch: 16, Epochs: 1, ClipNorm: 1, Seed: 1}
}

// Validate reports settings that cannot train.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("dpo: "+format, args...))
		}
	}
	check(c.Loss == LossSigmoid || c.Loss == LossIPO || c.Loss == LossSFT, "loss %q: want %q, %q or %q", c.Loss, LossSigmoid, LossIPO, LossSFT)
	check(c.Beta > 0 && !math.IsInf(c.Beta, 0), "beta %g must be positive and finite", c.Beta)
	check(c.LabelSmoothing >= 0 && c.LabelSmoothing < 0.5, "label smoothing %g must be in [0, 0.5)", c.LabelSmoothing)
	check(c.LabelSmoothing == 0 || c.Loss == LossSigmoid, "label smoothing applies only to the %q loss", LossSigmoid)
	check(c.LR > 0 && !math.IsInf(c.LR, 0), "learning rate %g must be positive and finite", c.LR)
	check(c.Warmup >= 0, "warm-up %d must be >= 0", c.Warmup)
	check(c.Batch > 0, "batch %d must be positive", c.Batch)
	check(c.Epochs > 0, "epochs %d must be positive", c.Epochs)
	check(c.ClipNorm >= 0, "clip norm %g must be >= 0", c.ClipNorm)
	check(c.WeightDecay >= 0, "weight decay %g must be >= 0", c.WeightDecay)
	return errors.Join(errs...)
}
