package reward

import (
	"fmt"
	"math"

	"rlhf/ag"
	"rlhf/feedback"
	"rlhf/tensor"
)

// PaperEps is the probability that a labeler answers uniformly at random in
// the choice model of Christiano et al. 2017 (10%).
const PaperEps = 0.1

// PreferenceLoss is the cross-entropy between preference targets and the
// choice model over the K items of each comparison:
//
//	P[n,i] = (1-eps)·softmax(scores[n,:])_i + eps/K
//	loss   = -(1/N) Σ_n Σ_i targets[n,i]·log P[n,i]
//
// scores (N, K) are summed rewards, one per item; targets (N, K) rows sum to 1
// (one-hot on the chosen item, 1/K each for a tie); -> (1). With eps = 0 this
// is softmax cross-entropy (Bradley-Terry for K = 2, Ziegler et al. 2019's
// best-of-k loss for K = 4), computed with log-softmax; eps > 0 is the
// random-answer model (eps/2 for pairs, as in the paper). N must be > 0.
func PreferenceLoss(tp *ag.Tape, scores *ag.Var, targets *tensor.Tensor, eps float32) *ag.Var {
	s := scores.Value.Shape
	if len(s) != 2 || s[0] == 0 || s[1] < 2 || !tensor.SameShape(s, targets.Shape) {
		panic(fmt.Sprintf("reward: PreferenceLoss of scores %v with targets %v", s, targets.Shape))
	}
	if !(eps >= 0 && eps < 1) {
		panic(fmt.Sprintf("reward: PreferenceLoss eps %v not in [0, 1)", eps))
	}
	n, k := s[0], s[1]
	var logp *ag.Var // (N, K)
	if eps == 0 {
		logp = tp.LogSoftmax(scores)
	} else {
		p := tp.AddScalar(tp.Scale(tp.Softmax(scores), 1-eps), eps/float32(k))
		logp = tp.Log(p)
	}
	return tp.Scale(tp.SumAll(tp.Mul(logp, ag.Const(targets))), -1/float32(n))
}

// BradleyTerry is the pairwise loss of Christiano et al. 2017:
//
//	P    = (1-eps)·σ(ra-rb) + eps/2
//	loss = -(1/N) Σ [p·log P + (1-p)·log(1-P)]
//
// ra, rb (N) are the summed rewards of the first and second item; p (N) is
// the target P(first preferred): 1, 0, or 0.5 for a tie (see
// [feedback.Target]); -> (1).
func BradleyTerry(tp *ag.Tape, ra, rb *ag.Var, p []float32, eps float32) *ag.Var {
	if len(ra.Value.Shape) != 1 || !tensor.SameShape(ra.Value.Shape, rb.Value.Shape) || len(p) != ra.Value.Shape[0] {
		panic(fmt.Sprintf("reward: BradleyTerry of %v and %v with %d targets", ra.Value.Shape, rb.Value.Shape, len(p)))
	}
	t := tensor.New(len(p), 2)
	for i, v := range p {
		t.Data[2*i], t.Data[2*i+1] = v, 1-v
	}
	return PreferenceLoss(tp, tp.Stack(1, ra, rb), t, eps)
}

// BestOfK is the k-way loss of Ziegler et al. 2019: softmax cross-entropy of
// the summed rewards scores (N, K) against the labeler's choices (an item
// index, or [feedback.Tie] for a uniform target); -> (1). Choices without a
// target (CantTell, Skip) are a programmer error: drop them first, e.g. with
// [Targets].
func BestOfK(tp *ag.Tape, scores *ag.Var, choices []feedback.Choice, eps float32) *ag.Var {
	s := scores.Value.Shape
	if len(s) != 2 || len(choices) != s[0] {
		panic(fmt.Sprintf("reward: BestOfK of scores %v with %d choices", s, len(choices)))
	}
	t, err := Targets(choices, s[1])
	if err != nil {
		panic(err.Error())
	}
	return PreferenceLoss(tp, scores, t, eps)
}

// Targets returns the soft preference targets (N, K) of choices among k
// items: one-hot on the chosen item, 1/k each for a tie. A choice that gives
// no target (CantTell, Skip, out of range) is an error.
func Targets(choices []feedback.Choice, k int) (*tensor.Tensor, error) {
	t := tensor.New(len(choices), k)
	for n, c := range choices {
		row, ok := feedback.SoftTarget(c, k)
		if !ok {
			return nil, fmt.Errorf("reward: choice %s of comparison %d gives no target for %d items", c, n, k)
		}
		for i, v := range row {
			t.Data[n*k+i] = float32(v)
		}
	}
	return t, nil
}

// Metrics summarise a reward model on labelled comparisons. Accuracy and
// Margin exclude ties (a tie has no right answer); Loss includes them.
type Metrics struct {
	// Loss is the mean preference loss (the same choice model as training).
	Loss float64
	// Accuracy is the share of decided comparisons whose chosen item scores
	// strictly highest; a chosen item sharing the top score with m-1 others
	// counts 1/m.
	Accuracy float64
	// Margin is the mean, over decided comparisons, of the chosen item's score
	// minus the mean score of the other items (chosen - rejected for pairs).
	Margin float64
	// N counts the comparisons evaluated, Decided those that are not ties.
	N, Decided int
}

// Evaluate computes Metrics for summed rewards scores[n] (one per item of
// comparison n) against choices[n], under the choice model with eps (see
// [PreferenceLoss]). Comparisons whose choice gives no target are skipped.
func Evaluate(scores [][]float64, choices []feedback.Choice, eps float64) Metrics {
	if len(scores) != len(choices) {
		panic(fmt.Sprintf("reward: Evaluate of %d score rows with %d choices", len(scores), len(choices)))
	}
	var m Metrics
	for n, s := range scores {
		k := len(s)
		t, ok := feedback.SoftTarget(choices[n], k)
		if !ok {
			continue
		}
		m.N++
		m.Loss += choiceLoss(s, t, eps)
		c := choices[n]
		if !c.IsIndex() {
			continue
		}
		m.Decided++
		top, at, others := math.Inf(-1), 0, 0.0
		for i, v := range s {
			switch {
			case v > top:
				top, at = v, 1
			case v == top:
				at++
			}
			if i != int(c) {
				others += v
			}
		}
		if s[c] == top {
			m.Accuracy += 1 / float64(at)
		}
		m.Margin += s[c] - others/float64(k-1)
	}
	if m.N > 0 {
		m.Loss /= float64(m.N)
	}
	if m.Decided > 0 {
		m.Accuracy /= float64(m.Decided)
		m.Margin /= float64(m.Decided)
	}
	return m
}

// choiceLoss is one comparison's term of PreferenceLoss, in float64.
func choiceLoss(s, t []float64, eps float64) float64 {
	mx := math.Inf(-1)
	for _, v := range s {
		mx = max(mx, v)
	}
	z := 0.0
	for _, v := range s {
		z += math.Exp(v - mx)
	}
	lz := mx + math.Log(z)
	k := float64(len(s))
	l := 0.0
	for i, v := range s {
		if t[i] == 0 {
			continue
		}
		lp := v - lz
		if eps > 0 {
			lp = math.Log((1-eps)*math.Exp(lp) + eps/k)
		}
		l -= t[i] * lp
	}
	return l
}

// Map returns the metrics under TRL-style names: prefix/loss,
// prefix/accuracy, prefix/margin (prefix "rm" gives rm/accuracy, ...).
func (m Metrics) Map(prefix string) map[string]float64 {
	return map[string]float64{prefix + "/loss": m.Loss, prefix + "/accuracy": m.Accuracy, prefix + "/margin": m.Margin}
}

// Pearson returns the Pearson correlation of x and y (equal lengths), NaN
// when either has no variance or there are fewer than two points.
func Pearson(x, y []float64) float64 {
	if len(x) != len(y) {
		panic(fmt.Sprintf("reward: Pearson of %d and %d values", len(x), len(y)))
	}
	n := float64(len(x))
	if len(x) < 2 {
		return math.NaN()
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}
