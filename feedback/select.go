package feedback

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// SelectActive returns the n candidates with the highest disagreement, highest
// first: active query selection as in Christiano et al. 2017, who sample many
// candidate pairs and ask about those on which an ensemble of reward predictors
// disagrees most (the variance of the members' predicted preference
// probability; see [Variance]). Candidates whose disagreement is NaN come last;
// equal disagreements keep candidate order. n is clamped to [0, len(cands)].
func SelectActive[T any](cands []T, n int, disagreement func(T) float64) []T {
	n = min(max(n, 0), len(cands))
	type scored struct {
		i int
		d float64
	}
	s := make([]scored, len(cands))
	for i, c := range cands {
		d := disagreement(c)
		if math.IsNaN(d) {
			d = math.Inf(-1)
		}
		s[i] = scored{i, d}
	}
	slices.SortStableFunc(s, func(a, b scored) int { return cmp.Compare(b.d, a.d) })
	out := make([]T, n)
	for k := range n {
		out[k] = cands[s[k].i]
	}
	return out
}

// SelectUniform returns n candidates drawn uniformly without replacement, in
// draw order, determined by seed: the random baseline that active selection is
// compared with. n is clamped to [0, len(cands)].
func SelectUniform[T any](cands []T, n int, seed uint64) []T {
	n = min(max(n, 0), len(cands))
	rng := rand.New(rand.NewPCG(seed, 0x853c49e6748fea9b))
	idx := make([]int, len(cands))
	for i := range idx {
		idx[i] = i
	}
	out := make([]T, n)
	for k := range n { // partial Fisher-Yates
		j := k + rng.IntN(len(idx)-k)
		idx[k], idx[j] = idx[j], idx[k]
		out[k] = cands[idx[k]]
	}
	return out
}

// Variance returns the population variance of ps, e.g. the preference
// probabilities that the members of a reward-model ensemble predict for one
// pair: the disagreement measure Christiano et al. 2017 select queries by.
// It is 0 for fewer than two values.
func Variance(ps []float64) float64 {
	if len(ps) < 2 {
		return 0
	}
	mean := 0.0
	for _, p := range ps {
		mean += p
	}
	mean /= float64(len(ps))
	v := 0.0
	for _, p := range ps {
		v += (p - mean) * (p - mean)
	}
	return v / float64(len(ps))
}

// Schedule says how many labels should have been collected at each point of a
// training run, after Christiano et al. 2017 (appendix A): a share of the label
// budget is collected before training starts, from a randomly initialised
// policy (25% of the comparisons in their MuJoCo experiments), and the rest
// arrives at a rate that decays as c/(t+c) in the number t of environment
// steps (frames) so far, with c = 2e6 for MuJoCo (for Atari: 500 labels up
// front and c = 5e6).
//
// Integrating the rate, the number of labels wanted by timestep t is
//
//	Initial + (Total-Initial) * ln(1 + t/c) / ln(1 + Horizon/c)
//
// (rounded down), which is Initial at t = 0 and exactly Total at t = Horizon.
type Schedule struct {
	Total   int     // label budget for the whole run
	Initial int     // labels collected before training starts (t = 0)
	Horizon float64 // training length, in environment timesteps (or any progress unit)
	Scale   float64 // c in the rate c/(t+c), in the same unit as Horizon
}

// ChristianoSchedule returns the MuJoCo schedule of Christiano et al. 2017 for a
// budget of total labels over horizon timesteps: 25% up front, then the rate
// 2e6/(t+2e6).
func ChristianoSchedule(total int, horizon float64) Schedule {
	return Schedule{Total: total, Initial: total / 4, Horizon: horizon, Scale: 2e6}
}

// Validate reports whether s is usable.
func (s Schedule) Validate() error {
	switch {
	case s.Total < 0:
		return fmt.Errorf("feedback: schedule: total %d < 0", s.Total)
	case s.Initial < 0 || s.Initial > s.Total:
		return fmt.Errorf("feedback: schedule: initial %d not in [0, total %d]", s.Initial, s.Total)
	case !(s.Horizon > 0) || math.IsInf(s.Horizon, 0):
		return fmt.Errorf("feedback: schedule: horizon %v, want a finite value > 0", s.Horizon)
	case !(s.Scale > 0) || math.IsInf(s.Scale, 0):
		return fmt.Errorf("feedback: schedule: scale %v, want a finite value > 0", s.Scale)
	}
	return nil
}

// Fraction returns the share, in [0, 1], of the labels after the initial batch
// that should have arrived by timestep t: ln(1+t/c) / ln(1+Horizon/c), clamped.
func (s Schedule) Fraction(t float64) float64 {
	if !(t > 0) {
		return 0
	}
	if t >= s.Horizon {
		return 1
	}
	return math.Log1p(t/s.Scale) / math.Log1p(s.Horizon/s.Scale)
}

// Rate returns the labels per timestep wanted at timestep t in [0, Horizon):
// (Total-Initial) * (c/(t+c)) / (c * ln(1+Horizon/c)). It is 0 outside that range.
func (s Schedule) Rate(t float64) float64 {
	if t < 0 || t >= s.Horizon {
		return 0
	}
	return float64(s.Total-s.Initial) / ((t + s.Scale) * math.Log1p(s.Horizon/s.Scale))
}

// Want returns the number of labels that should have been collected by
// timestep t: Initial at t <= 0, Total at t >= Horizon, and in between the
// integral of Rate, rounded down. It never decreases as t grows.
func (s Schedule) Want(t float64) int {
	if t >= s.Horizon {
		return s.Total
	}
	n := s.Initial + int(math.Floor(float64(s.Total-s.Initial)*s.Fraction(t)))
	return min(n, s.Total)
}

// Due returns how many more labels to request at timestep t when have labels
// exist (or are already requested): Want(t) - have, or 0 if that is negative.
func (s Schedule) Due(t float64, have int) int {
	return max(s.Want(t)-have, 0)
}
