package loop

import (
	"context"
	"fmt"
	"time"

	"rlhf/feedback"
)

// Synthetic labeler kinds accepted by SyntheticLabeler.
const (
	LabelerOracle    = "oracle"
	LabelerBoltzmann = "boltzmann"
)

// LabelerKinds lists the synthetic labeler kinds, for messages.
var LabelerKinds = []string{LabelerOracle, LabelerBoltzmann}

// SyntheticLabeler builds a labeler that compares segments by their true
// return (or hidden-goal score): the perfect oracle of Christiano et al. 2017
// or a Boltzmann-rational one with temperature beta, either answering
// uniformly at random with probability epsRandom.
func SyntheticLabeler(kind string, beta, epsRandom float64, seed uint64) (feedback.Labeler, error) {
	var lab feedback.Labeler
	switch kind {
	case LabelerOracle:
		lab = feedback.Oracle{Score: feedback.SegmentReturn}
	case LabelerBoltzmann:
		if !(beta >= 0) {
			return nil, fmt.Errorf("loop: boltzmann labeler: beta %v, want >= 0", beta)
		}
		lab = feedback.Boltzmann{Score: feedback.SegmentReturn, Beta: beta, Seed: seed}
	default:
		return nil, fmt.Errorf("loop: unknown labeler %q (valid: %v)", kind, LabelerKinds)
	}
	if !(epsRandom >= 0 && epsRandom <= 1) {
		return nil, fmt.Errorf("loop: random-answer probability %v not in [0, 1]", epsRandom)
	}
	if epsRandom > 0 {
		lab = feedback.Noisy{Labeler: lab, Epsilon: epsRandom, Seed: seed}
	}
	return lab, nil
}

// Delayed makes a labeler take Delay per answer, like a person would; it
// honours ctx while waiting. It stands in for a slow labeler in tests and
// demonstrations of the asynchronous loop.
type Delayed struct {
	Labeler feedback.Labeler
	Delay   time.Duration
}

// Label waits Delay, then asks the inner labeler.
func (d Delayed) Label(ctx context.Context, q feedback.Query) (feedback.Label, error) {
	t := time.NewTimer(d.Delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return feedback.Label{}, ctx.Err()
	case <-t.C:
	}
	return d.Labeler.Label(ctx, q)
}
