package ppo

import (
	"fmt"
	"math"

	"rlhf/ag"
	"rlhf/tensor"
)

// The loss functions below are shared by every PPO trainer of this package
// (step-level for control, token-level for language models). Each takes
// per-sample values of one shape (B) or (B, T) and an optional 0/1 mask of
// the same shape (nil: every element counts), and averages over the
// elements the mask keeps.

func mean(tp *ag.Tape, x *ag.Var, mask *tensor.Tensor) *ag.Var {
	if mask == nil {
		return tp.MeanAll(x)
	}
	return tp.MaskedMean(x, mask)
}

func checkSame(what string, a []int, bs ...*tensor.Tensor) {
	for _, b := range bs {
		if b != nil && !tensor.SameShape(a, b.Shape) {
			panic(fmt.Sprintf("ppo: %s: shapes %v and %v differ", what, a, b.Shape))
		}
	}
}

// PolicyLoss is PPO's clipped surrogate objective, negated for minimisation
// (Schulman et al. 2017, eq. 7):
//
//	r = exp(logp - oldLogp)
//	L = mean( max(-A·r, -A·clip(r, 1-ε, 1+ε)) )
//
// logp are the current log-probabilities of the taken actions (with
// gradient), oldLogp those under the policy that collected them, adv the
// advantages; all share one shape. Where the clipped term is the larger the
// gradient is zero.
func PolicyLoss(tp *ag.Tape, logp *ag.Var, oldLogp, adv *tensor.Tensor, clip float32, mask *tensor.Tensor) *ag.Var {
	checkSame("policy loss", logp.Shape(), oldLogp, adv, mask)
	ratio := tp.Exp(tp.Sub(logp, ag.Const(oldLogp)))
	negAdv := ag.Const(negated(adv))
	unclipped := tp.Mul(negAdv, ratio)
	clipped := tp.Mul(negAdv, tp.Clamp(ratio, 1-clip, 1+clip))
	return mean(tp, tp.Maximum(unclipped, clipped), mask)
}

func negated(t *tensor.Tensor) *tensor.Tensor {
	n := t.Clone()
	tensor.Scale(n.Data, -1)
	return n
}

// ValueLoss is the value-function loss ½·mean((v - R)²), with returns R.
// With clip > 0 it is PPO's clipped form (as in OpenAI baselines and
// cleanrl): ½·mean(max((v-R)², (v_old + clip(v - v_old, -c, c) - R)²)),
// which stops the value moving further than c from oldV where that would
// lower the loss. v has gradient; oldV (may be nil when clip <= 0) and
// returns do not.
func ValueLoss(tp *ag.Tape, v *ag.Var, oldV, returns *tensor.Tensor, clip float32, mask *tensor.Tensor) *ag.Var {
	checkSame("value loss", v.Shape(), oldV, returns, mask)
	R := ag.Const(returns)
	sq := tp.Square(tp.Sub(v, R))
	if clip > 0 {
		if oldV == nil {
			panic("ppo: clipped value loss needs the old values")
		}
		old := ag.Const(oldV)
		vClipped := tp.Add(old, tp.Clamp(tp.Sub(v, old), -clip, clip))
		sq = tp.Maximum(sq, tp.Square(tp.Sub(vClipped, R)))
	}
	return tp.Scale(mean(tp, sq, mask), 0.5)
}

// EntropyBonus returns the mean entropy; the trainer subtracts
// coef·EntropyBonus from the loss. entropy of shape (1) (state-independent,
// as for a Gaussian policy with a fixed log-std) is returned as is.
func EntropyBonus(tp *ag.Tape, entropy *ag.Var, mask *tensor.Tensor) *ag.Var {
	if len(entropy.Value.Data) == 1 {
		return tp.Reshape(entropy, 1)
	}
	return mean(tp, entropy, mask)
}

// KLPenalty is the per-token penalty that GRPO adds to its loss (Shao et
// al. 2024, eq. 4): an estimate of KL(π ‖ π_ref) from tokens sampled from
// π, Schulman's "k3",
//
//	mean( exp(refLogp - logp) - (refLogp - logp) - 1 )
//
// which is never negative and whose gradient pulls logp towards refLogp.
// logp are the policy's log-probabilities of the sampled tokens (with
// gradient), refLogp the frozen reference's; mask as above.
func KLPenalty(tp *ag.Tape, logp *ag.Var, refLogp, mask *tensor.Tensor) *ag.Var {
	checkSame("KL penalty", logp.Shape(), refLogp, mask)
	d := tp.Sub(ag.Const(refLogp), logp) // log π_ref - log π
	return mean(tp, tp.AddScalar(tp.Sub(tp.Exp(d), d), -1), mask)
}

// ApproxKL estimates KL(π_old ‖ π) from samples of π_old as
// mean((r - 1) - log r) with log r = logp - oldLogp (Schulman's "k3"
// estimator: unbiased and never negative). mask as above.
func ApproxKL(logp, oldLogp []float32, mask []float32) float64 {
	var s, n float64
	for i := range logp {
		w := weight(mask, i)
		lr := float64(logp[i]) - float64(oldLogp[i])
		s += w * (math.Expm1(lr) - lr)
		n += w
	}
	return safeDiv(s, n)
}

// ClipFrac is the fraction of samples whose ratio r = exp(logp - oldLogp)
// lies outside [1-ε, 1+ε], i.e. where clipping is engaged or would be.
func ClipFrac(logp, oldLogp []float32, clip float32, mask []float32) float64 {
	var s, n float64
	for i := range logp {
		w := weight(mask, i)
		r := math.Exp(float64(logp[i]) - float64(oldLogp[i]))
		if math.Abs(r-1) > float64(clip) {
			s += w
		}
		n += w
	}
	return safeDiv(s, n)
}

// ExplainedVariance is 1 - Var(target - pred) / Var(target): 1 for a perfect
// value function, 0 for one that predicts the mean, negative for worse. It is
// NaN when the targets have no variance.
func ExplainedVariance(pred, target []float32) float64 {
	vt := variance(target)
	if vt == 0 {
		return math.NaN()
	}
	diff := make([]float32, len(target))
	for i := range diff {
		diff[i] = target[i] - pred[i]
	}
	return 1 - variance(diff)/vt
}

// NormalizeAdvantages rescales adv in place to mean 0 and standard
// deviation 1 (the unbiased estimate, plus 1e-8), as cleanrl does per minibatch.
func NormalizeAdvantages(adv []float32) {
	if len(adv) < 2 {
		return
	}
	var m float64
	for _, a := range adv {
		m += float64(a)
	}
	m /= float64(len(adv))
	std := math.Sqrt(variance(adv) * float64(len(adv)) / float64(len(adv)-1))
	for i, a := range adv {
		adv[i] = float32((float64(a) - m) / (std + 1e-8))
	}
}

func weight(mask []float32, i int) float64 {
	if mask == nil {
		return 1
	}
	return float64(mask[i])
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// variance is the population variance of x.
func variance(x []float32) float64 {
	if len(x) == 0 {
		return 0
	}
	var m float64
	for _, v := range x {
		m += float64(v)
	}
	m /= float64(len(x))
	var s float64
	for _, v := range x {
		d := float64(v) - m
		s += d * d
	}
	return s / float64(len(x))
}
