package reward

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Ways a TextEnsemble combines its members' scores (Coste et al. 2023,
// "Reward Model Ensembles Help Mitigate Overoptimization").
const (
	// EnsembleMean is the mean of the members' scores.
	EnsembleMean = "mean"
	// EnsembleMin is the lowest member's score (worst-case optimisation).
	EnsembleMin = "min"
	// EnsembleUWO prefixes uncertainty-weighted optimisation, "uwo=λ": the
	// mean minus λ times the variance of the members' scores.
	EnsembleUWO = "uwo="
)

// TextEnsemble scores text with several reward models and combines their
// scores per (prompt, completion) by Mode: EnsembleMean, EnsembleMin or
// EnsembleUWO with Lambda. The members should share a scale (reward models
// normalised on the same policy's completions do), since their scores are
// compared and averaged as they come.
type TextEnsemble struct {
	Members []TextScorer
	Mode    string  // EnsembleMean, EnsembleMin or "uwo" (Lambda set)
	Lambda  float64 // the variance penalty of "uwo"
}

// ParseEnsembleMode parses an ensemble mode: "mean", "min" or "uwo=λ"
// with λ >= 0. It returns the mode ("mean", "min" or "uwo") and λ.
func ParseEnsembleMode(s string) (mode string, lambda float64, err error) {
	switch {
	case s == EnsembleMean || s == EnsembleMin:
		return s, 0, nil
	case strings.HasPrefix(s, EnsembleUWO):
		l, err := strconv.ParseFloat(strings.TrimPrefix(s, EnsembleUWO), 64)
		if err != nil || l < 0 || math.IsInf(l, 0) || math.IsNaN(l) {
			return "", 0, fmt.Errorf("reward: ensemble mode %q: λ must be a number >= 0", s)
		}
		return "uwo", l, nil
	}
	return "", 0, fmt.Errorf("reward: ensemble mode %q: want %s, %s or %sλ", s, EnsembleMean, EnsembleMin, EnsembleUWO)
}

// ScoreText returns the combined score of each (prompt, completion) pair.
func (e TextEnsemble) ScoreText(prompts, completions []string) ([]float32, error) {
	if len(e.Members) == 0 {
		return nil, fmt.Errorf("reward: an ensemble without members")
	}
	scores := make([][]float32, len(e.Members))
	for m, s := range e.Members {
		v, err := s.ScoreText(prompts, completions)
		if err != nil {
			return nil, fmt.Errorf("reward: ensemble member %d: %w", m, err)
		}
		if len(v) != len(prompts) {
			return nil, fmt.Errorf("reward: ensemble member %d returned %d scores for %d completions", m, len(v), len(prompts))
		}
		scores[m] = v
	}
	out := make([]float32, len(prompts))
	n := float64(len(e.Members))
	for i := range out {
		var sum, lo float64 = 0, math.Inf(1)
		for m := range scores {
			x := float64(scores[m][i])
			sum += x
			lo = min(lo, x)
		}
		mean := sum / n
		switch e.Mode {
		case EnsembleMean:
			out[i] = float32(mean)
		case EnsembleMin:
			out[i] = float32(lo)
		case "uwo":
			var ss float64
			for m := range scores {
				d := float64(scores[m][i]) - mean
				ss += d * d
			}
			out[i] = float32(mean - e.Lambda*ss/n)
		default:
			return nil, fmt.Errorf("reward: unknown ensemble mode %q", e.Mode)
		}
	}
	return out, nil
}
