package judge

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"rlhf/feedback"
)

// FitTemperature returns the temperature T that maximises the likelihood of
// the labels under the choice model softmax(s/T) (temperature scaling, Guo et
// al. 2017), and the number of labels used. scores[i] are the judge's scores
// of query i's items, labels[i] the answer of a person or an oracle: an index,
// or Tie (a uniform target); CantTell and Skip are left out.
//
// The negative log-likelihood is convex in a = 1/T, so it is minimised by
// bisection on its derivative. It is an error if no label is usable, if the
// scores do not prefer the labelled items at all (the best T would be
// infinite or negative), or if they separate the labels perfectly (T -> 0).
func FitTemperature(scores [][]float64, labels []feedback.Choice) (float64, int, error) {
	return FitTemperatureWeighted(scores, labels, nil)
}

// fitRow is one label a temperature is fitted on: its query's scores, the
// target distribution over them and the label's weight.
type fitRow struct {
	s, t []float64
	w    float64
}

// fitRows checks the inputs of a temperature fit and returns the labels
// that give a target and have a weight above 0, with the largest score
// range of a row; no such label is an error.
func fitRows(scores [][]float64, labels []feedback.Choice, weights []float64) (rows []fitRow, gap float64, err error) {
	if len(scores) != len(labels) || weights != nil && len(weights) != len(labels) {
		return nil, 0, fmt.Errorf("judge: fit temperature: %d score rows for %d labels and %d weights", len(scores), len(labels), len(weights))
	}
	for i, s := range scores {
		w := 1.0
		if weights != nil {
			w = weights[i]
			if !(w >= 0) || math.IsInf(w, 0) {
				return nil, 0, fmt.Errorf("judge: fit temperature: weight %d is %v, want finite and >= 0", i, w)
			}
		}
		t, ok := feedback.SoftTarget(labels[i], len(s))
		if !ok || w == 0 {
			continue
		}
		for j, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, 0, fmt.Errorf("judge: fit temperature: row %d score %d is %v", i, j, v)
			}
		}
		gap = max(gap, slices.Max(s)-slices.Min(s))
		rows = append(rows, fitRow{s, t, w})
	}
	if len(rows) == 0 {
		return nil, 0, errors.New("judge: fit temperature: no usable labels (all CantTell, Skip or out of range)")
	}
	return rows, gap, nil
}

// FitTemperatureWeighted is [FitTemperature] with label i counting
// weights[i] times in the likelihood (nil: once each). Weights that undo
// a biased sample (the inverse of the probability that a label was asked
// for) make the fit one of all the queries the sample came from. Weights
// must be finite and >= 0; a label of weight 0 is left out.
func FitTemperatureWeighted(scores [][]float64, labels []feedback.Choice, weights []float64) (float64, int, error) {
	rows, gap, err := fitRows(scores, labels, weights)
	if err != nil {
		return 0, 0, err
	}
	// grad is dNLL/da at a = 1/T: sum over rows of E_softmax(a s)[s] - E_target[s].
	grad := func(a float64) float64 {
		g := 0.0
		for _, r := range rows {
			p := feedback.Probs(r.s, 1/a)
			for j, v := range r.s {
				g += r.w * (p[j] - r.t[j]) * v
			}
		}
		return g
	}
	const tiny = 1e-9
	if grad(tiny) >= 0 {
		return 0, len(rows), errors.New("judge: fit temperature: the scores do not prefer the labelled items (no positive temperature fits)")
	}
	lo, hi := tiny, 1.0
	for grad(hi) < 0 {
		lo, hi = hi, 2*hi
		if hi*gap > 60 { // every probability within e^-60 of 0 or 1
			return 0, len(rows), errors.New("judge: fit temperature: the scores separate the labels perfectly (temperature -> 0); add more or noisier labels")
		}
	}
	for range 100 {
		mid := 0.5 * (lo + hi)
		if grad(mid) < 0 {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= 1e-12*hi {
			break
		}
	}
	return 2 / (lo + hi), len(rows), nil
}

// FitTemperatureNoisy is [FitTemperatureWeighted] for labels that are wrong
// with probability eps: the labeller knows which item is better with the
// judge's choice model softmax(s/T) and reports it with probability 1-eps,
// else one of the other items at random, so that
//
//	P(label i) = (1-eps) p_i + eps (1-p_i)/(k-1),  p = softmax(s/T).
//
// Fitted to noisy people's answers without eps, T would take their errors
// for the judge's and come out too large; with their error rate, T
// describes the judge against the truth. eps must be in [0, 0.5); 0 is
// [FitTemperatureWeighted]. The likelihood need not be convex in 1/T for
// eps > 0: it is scanned over log T (twelve decades around the largest
// score range, 40 points a decade) and refined by golden-section search.
func FitTemperatureNoisy(scores [][]float64, labels []feedback.Choice, weights []float64, eps float64) (float64, int, error) {
	if !(eps >= 0 && eps < 0.5) {
		return 0, 0, fmt.Errorf("judge: fit temperature: label error rate %v, want [0, 0.5)", eps)
	}
	if eps == 0 {
		return FitTemperatureWeighted(scores, labels, weights)
	}
	rows, gap, err := fitRows(scores, labels, weights)
	if err != nil {
		return 0, 0, err
	}
	if gap == 0 {
		return 0, len(rows), errors.New("judge: fit temperature: every row's scores are equal (any temperature fits)")
	}
	nll := func(logT float64) float64 {
		t := math.Exp(logT)
		sum := 0.0
		for _, r := range rows {
			p := feedback.Probs(r.s, t)
			k := float64(len(r.s))
			for j, tj := range r.t {
				if tj > 0 {
					q := (1-eps)*p[j] + eps*(1-p[j])/(k-1)
					sum -= r.w * tj * math.Log(max(q, 1e-300))
				}
			}
		}
		return sum
	}
	const perDecade, decades = 40, 6
	lo := math.Log(gap) - decades*math.Ln10
	step := math.Ln10 / perDecade
	n := 2 * decades * perDecade
	best, bestV := 0, math.Inf(1)
	for i := 0; i <= n; i++ {
		if v := nll(lo + float64(i)*step); v < bestV {
			best, bestV = i, v
		}
	}
	switch best {
	case 0:
		return 0, len(rows), errors.New("judge: fit temperature: the scores separate the labels perfectly, beyond their error rate (temperature -> 0)")
	case n:
		return 0, len(rows), errors.New("judge: fit temperature: the scores do not prefer the labelled items (no positive temperature fits)")
	}
	a, b := lo+float64(best-1)*step, lo+float64(best+1)*step
	g := (math.Sqrt(5) - 1) / 2
	x1, x2 := b-g*(b-a), a+g*(b-a)
	f1, f2 := nll(x1), nll(x2)
	for b-a > 1e-10 {
		if f1 < f2 {
			b, x2, f2 = x2, x1, f1
			x1 = b - g*(b-a)
			f1 = nll(x1)
		} else {
			a, x1, f1 = x1, x2, f2
			x2 = a + g*(b-a)
			f2 = nll(x2)
		}
	}
	return math.Exp((a + b) / 2), len(rows), nil
}

// NLL returns the mean negative log-likelihood (nats) of the labels under
// softmax(s/t), over the labels that give a target.
func NLL(scores [][]float64, labels []feedback.Choice, t float64) float64 {
	sum, n := 0.0, 0
	for i, s := range scores {
		tg, ok := feedback.SoftTarget(labels[i], len(s))
		if !ok {
			continue
		}
		p := feedback.Probs(s, t)
		for j := range s {
			if tg[j] > 0 {
				sum -= tg[j] * math.Log(max(p[j], 1e-300))
			}
		}
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// Bin is one bin of a reliability table: the queries whose stated
// confidence lies in [Lo, Hi).
type Bin struct {
	Lo, Hi     float64
	N          int     // queries in the bin
	Confidence float64 // their mean stated confidence (NaN if N = 0)
	Accuracy   float64 // the share of them the judge got right (NaN if N = 0)
}

// Reliability bins stated confidences conf[i] (with whether answer i was
// right) into bins equal-width bins over [lo, 1] (the last bin includes 1)
// and returns the table and the expected calibration error: the mean over
// queries of |accuracy - confidence| of their bin.
func Reliability(conf []float64, correct []bool, lo float64, bins int) ([]Bin, float64, error) {
	if len(conf) != len(correct) {
		return nil, 0, fmt.Errorf("judge: reliability: %d confidences for %d outcomes", len(conf), len(correct))
	}
	if bins < 1 || !(lo >= 0 && lo < 1) {
		return nil, 0, fmt.Errorf("judge: reliability: %d bins from %v, want >= 1 bins from [0, 1)", bins, lo)
	}
	out := make([]Bin, bins)
	w := (1 - lo) / float64(bins)
	hits := make([]int, bins)
	sums := make([]float64, bins)
	for i := range out {
		out[i].Lo, out[i].Hi = lo+float64(i)*w, lo+float64(i+1)*w
	}
	for i, c := range conf {
		if !(c >= lo && c <= 1) {
			return nil, 0, fmt.Errorf("judge: reliability: confidence %d is %v, outside [%v, 1]", i, c, lo)
		}
		b := min(int((c-lo)/w), bins-1)
		out[b].N++
		sums[b] += c
		if correct[i] {
			hits[b]++
		}
	}
	ece := 0.0
	for i := range out {
		if out[i].N == 0 {
			out[i].Confidence, out[i].Accuracy = math.NaN(), math.NaN()
			continue
		}
		n := float64(out[i].N)
		out[i].Confidence, out[i].Accuracy = sums[i]/n, float64(hits[i])/n
		ece += n * math.Abs(out[i].Accuracy-out[i].Confidence)
	}
	if len(conf) > 0 {
		ece /= float64(len(conf))
	}
	return out, ece, nil
}

// Point is the judge's accuracy/coverage trade-off at one abstain margin.
type Point struct {
	Abstain  float64
	Answered int     // queries the judge answers
	Deferred int     // queries it leaves to people
	Coverage float64 // Answered / (Answered + Deferred)
	Accuracy float64 // share of answered queries it gets right (NaN if none)
}

// Coverage returns the trade-off at each abstain margin: decisions[i] is the
// judge's decision on a query whose correct answer is gold[i] (an index).
func Coverage(decisions []Decision, gold []feedback.Choice, margins []float64) ([]Point, error) {
	if len(decisions) != len(gold) {
		return nil, fmt.Errorf("judge: coverage: %d decisions for %d gold answers", len(decisions), len(gold))
	}
	out := make([]Point, len(margins))
	for k, m := range margins {
		p := Point{Abstain: m}
		right := 0
		for i, d := range decisions {
			c := d.Choice(m)
			if c == feedback.CantTell {
				p.Deferred++
				continue
			}
			p.Answered++
			if c == gold[i] {
				right++
			}
		}
		p.Coverage, p.Accuracy = math.NaN(), math.NaN()
		if n := p.Answered + p.Deferred; n > 0 {
			p.Coverage = float64(p.Answered) / float64(n)
		}
		if p.Answered > 0 {
			p.Accuracy = float64(right) / float64(p.Answered)
		}
		out[k] = p
	}
	return out, nil
}
