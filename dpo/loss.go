package dpo

import (
	"fmt"

	"rlhf/ag"
	"rlhf/tensor"
)

// LogRatioMargin returns h = (πw - refW) - (πl - refL) for each pair: the
// policy's summed log-probabilities of the chosen (πw) and rejected (πl)
// completions (N), against the reference model's, refW and refL (N), which
// take no gradient; -> (N).
func LogRatioMargin(tp *ag.Tape, piW, piL *ag.Var, refW, refL []float32) *ag.Var {
	n := len(refW)
	if len(piW.Value.Shape) != 1 || piW.Value.Shape[0] != n || !tensor.SameShape(piW.Value.Shape, piL.Value.Shape) || len(refL) != n {
		panic(fmt.Sprintf("dpo: margin of policy %v and %v with %d and %d reference values", piW.Value.Shape, piL.Value.Shape, len(refW), len(refL)))
	}
	ref := tensor.New(n)
	for i := range ref.Data {
		ref.Data[i] = refW[i] - refL[i]
	}
	return tp.Sub(tp.Sub(piW, piL), ag.Const(ref))
}

// SigmoidLoss is the DPO loss of Rafailov et al. 2023 on margins h (N):
//
//	loss = -(1/N) Σ [(1-ε)·log σ(β·h) + ε·log σ(-β·h)]
//
// where ε is the label-smoothing probability that a label is flipped (0 for
// plain DPO); -> (1). It is computed as a two-way log-softmax of (β·h, 0),
// which is stable for margins of any size.
func SigmoidLoss(tp *ag.Tape, h *ag.Var, beta, smoothing float32) *ag.Var {
	s := make([]float32, h.Value.Shape[0])
	for i := range s {
		s[i] = smoothing
	}
	return SigmoidLossEach(tp, h, beta, s)
}

// SigmoidLossEach is SigmoidLoss with pair i's own label smoothing
// smoothing[i] (N): a soft target 1 - ε_i, such as a judge's confidence.
func SigmoidLossEach(tp *ag.Tape, h *ag.Var, beta float32, smoothing []float32) *ag.Var {
	n := h.Value.Shape[0]
	if len(smoothing) != n {
		panic(fmt.Sprintf("dpo: sigmoid loss of %d margins with %d smoothing values", n, len(smoothing)))
	}
	z := tp.Stack(1, tp.Scale(h, beta), ag.Const(tensor.New(n))) // (N, 2)
	w := tensor.New(n, 2)
	for i, e := range smoothing {
		w.Data[2*i], w.Data[2*i+1] = 1-e, e
	}
	return tp.Scale(tp.SumAll(tp.Mul(tp.LogSoftmax(z), ag.Const(w))), -1/float32(n))
}

// IPOLoss is the loss of Azar et al. 2023 (Identity Preference Optimisation)
// on margins h (N): the mean of (h - 1/(2τ))²; -> (1). It regresses the
// log-ratio margin onto a fixed target instead of pushing it to infinity,
// so it does not overfit deterministic preferences.
func IPOLoss(tp *ag.Tape, h *ag.Var, tau float32) *ag.Var {
	return tp.MeanAll(tp.Square(tp.AddScalar(h, -1/(2*tau))))
}

// SFTLoss is the mean over N completions of their per-token negative
// log-likelihood: -(1/N) Σ piW_i / lens_i for summed log-probabilities piW
// (N) of completions of lens tokens; -> (1).
func SFTLoss(tp *ag.Tape, piW *ag.Var, lens []int) *ag.Var {
	n := len(lens)
	if len(piW.Value.Shape) != 1 || piW.Value.Shape[0] != n {
		panic(fmt.Sprintf("dpo: SFT loss of %v log-probs with %d lengths", piW.Value.Shape, n))
	}
	w := tensor.New(n)
	for i, l := range lens {
		w.Data[i] = -1 / float32(n*max(l, 1))
	}
	return tp.SumAll(tp.Mul(piW, ag.Const(w)))
}

// Loss returns the configured loss of the policy's summed log-probabilities
// piW, piL (N) against the reference's refW, refL (N); -> (1). For LossSFT
// it needs the chosen completions' lengths: use SFTLoss.
func Loss(tp *ag.Tape, c Config, piW, piL *ag.Var, refW, refL []float32) *ag.Var {
	if c.Loss == LossSFT {
		panic("dpo: the SFT loss needs the completions' lengths (SFTLoss)")
	}
	h := LogRatioMargin(tp, piW, piL, refW, refL)
	if c.Loss == LossIPO {
		return IPOLoss(tp, h, float32(c.Beta))
	}
	return SigmoidLoss(tp, h, float32(c.Beta), float32(c.LabelSmoothing))
}

// Stats are the implicit-reward metrics of a batch of pairs, under TRL's
// names (see Map). The implicit reward of a completion is β·(log π - log π_ref).
type Stats struct {
	Chosen     float64 // mean implicit reward of the chosen completions
	Rejected   float64 // mean implicit reward of the rejected completions
	Accuracy   float64 // share of pairs whose chosen reward is strictly higher
	Margin     float64 // mean of chosen minus rejected reward
	LogPChosen float64 // mean summed log π of the chosen completions
	LogPReject float64 // mean summed log π of the rejected completions
	// KL is the mean over both completions of log π - log π_ref: the
	// implicit rewards divided by β, an estimate of how far the policy has
	// moved on the preference data (not on its own samples).
	KL float64
	N  int
}

// ComputeStats returns the metrics of summed log-probabilities of N pairs
// under the policy (piW, piL) and reference (refW, refL) with β = beta.
func ComputeStats(piW, piL, refW, refL []float32, beta float64) Stats {
	s := Stats{N: len(piW)}
	if s.N == 0 {
		return s
	}
	for i := range piW {
		dw, dl := float64(piW[i])-float64(refW[i]), float64(piL[i])-float64(refL[i])
		rw, rl := beta*dw, beta*dl
		s.Chosen += rw
		s.Rejected += rl
		s.Margin += rw - rl
		if rw > rl {
			s.Accuracy++
		}
		s.LogPChosen += float64(piW[i])
		s.LogPReject += float64(piL[i])
		s.KL += (dw + dl) / 2
	}
	n := float64(s.N)
	s.Chosen /= n
	s.Rejected /= n
	s.Margin /= n
	s.Accuracy /= n
	s.LogPChosen /= n
	s.LogPReject /= n
	s.KL /= n
	return s
}

// Map returns the stats under TRL's metric names with prefix ("" for
// training, "eval/" for held-out pairs): rewards/chosen, rewards/rejected,
// rewards/accuracies, rewards/margins, logps/chosen, logps/rejected and
// kl/implicit.
func (s Stats) Map(prefix string) map[string]float64 {
	return map[string]float64{
		prefix + "rewards/chosen": s.Chosen, prefix + "rewards/rejected": s.Rejected,
		prefix + "rewards/accuracies": s.Accuracy, prefix + "rewards/margins": s.Margin,
		prefix + "logps/chosen": s.LogPChosen, prefix + "logps/rejected": s.LogPReject,
		prefix + "kl/implicit": s.KL,
	}
}

// tensorOf wraps values as a 1-D tensor.
func tensorOf(v []float32) *tensor.Tensor { return tensor.FromSlice(v, len(v)) }
