package reward

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"rlhf/feedback"
)

// referenceTrain is Train as first written, kept as the straightforward path
// the optimised one must reproduce: it re-evaluates every comparison with
// every member at each L2 check, again at the end of the call, and twice
// more (validation and training split) for the returned stats, and its
// steps go through TrainStep.
func referenceTrain(e *Ensemble, ctx context.Context, steps int) (TrainStats, error) {
	pools := e.pools()
	var err error
	if ntrain, nval := e.Len(); ntrain == nval {
		return referenceStats(e), fmt.Errorf("reward: train: no comparisons outside the validation split (%d held out)", nval)
	}
	if e.inMean == nil {
		e.fitInputs()
	}
	cfg := StepConfig{LR: float32(e.Config.LR), Eps: float32(e.Config.Eps), ClipNorm: e.Config.ClipNorm}
train:
	for s := 0; s < steps; s++ {
		for m, mem := range e.Members {
			if err = ctx.Err(); err != nil {
				break train
			}
			pool := pools[m]
			if len(pool) == 0 {
				continue
			}
			r := rand.New(mem.rng)
			batch := make([]*comparison, e.Config.BatchSize)
			for i := range batch {
				batch[i] = pool[r.IntN(len(pool))]
			}
			cfg.L2 = float32(mem.L2)
			TrainStep(e.train, Model[*Steps](mem.Net), mem.Opt, e.groups(batch), cfg)
		}
		e.steps++
		if e.steps%e.Config.AdaptEvery == 0 {
			referenceAdapt(e, true)
		}
	}
	referenceAdapt(e, false)
	e.renormalise()
	return referenceStats(e), err
}

// referenceAdapt measures the losses on a fresh evaluation of everything.
func referenceAdapt(e *Ensemble, update bool) {
	e.adapt(e.rawSums(e.all()), update)
}

// referenceStats evaluates the two splits separately.
func referenceStats(e *Ensemble) TrainStats {
	total, val := e.Len()
	s := TrainStats{Steps: e.steps, Train: total - val, Val: val}
	for _, mem := range e.Members {
		s.TrainLoss = append(s.TrainLoss, mem.TrainLoss)
		s.ValLoss = append(s.ValLoss, mem.ValLoss)
		s.L2 = append(s.L2, mem.L2)
	}
	var held, fit []*comparison
	for i := range e.data {
		if e.data[i].val {
			held = append(held, &e.data[i])
		} else {
			fit = append(fit, &e.data[i])
		}
	}
	s.Held = referenceEvaluate(e, held)
	s.Fit = referenceEvaluate(e, fit)
	return s
}

// referenceEvaluate evaluates the ensemble prediction on cs afresh.
func referenceEvaluate(e *Ensemble, cs []*comparison) Metrics {
	if len(cs) == 0 {
		return Metrics{}
	}
	raw := e.rawSums(cs)
	scores := make([][]float64, len(cs))
	choices := make([]feedback.Choice, len(cs))
	for n, c := range cs {
		choices[n] = c.choice
		scores[n] = make([]float64, len(c.items))
		for m, mem := range e.Members {
			for i, it := range c.items {
				scores[n][i] += (raw[m][n][i] - float64(it.t)*mem.Mean) / mem.Std / float64(len(e.Members))
			}
		}
	}
	return Evaluate(scores, choices, e.Config.Eps)
}

// sameBits reports whether a and b hold the same float64 values bit for bit
// (NaN equal to NaN).
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// requireSameEnsembles fails unless a and b have bit-identical weights,
// optimiser moments, L2 coefficients, normalisers and measured losses.
func requireSameEnsembles(t *testing.T, when string, a, b *Ensemble) {
	t.Helper()
	if a.Steps() != b.Steps() {
		t.Fatalf("%s: steps %d vs %d", when, a.Steps(), b.Steps())
	}
	for m := range a.Members {
		ma, mb := a.Members[m], b.Members[m]
		pa, pb := ma.Net.Params(), mb.Net.Params()
		for i := range pa {
			if !slices.Equal(pa[i].P.Value.Data, pb[i].P.Value.Data) {
				t.Fatalf("%s: member %d %s differs", when, m, pa[i].Name)
			}
		}
		if !sameBits([]float64{ma.L2, ma.Mean, ma.Std, ma.TrainLoss, ma.ValLoss},
			[]float64{mb.L2, mb.Mean, mb.Std, mb.TrainLoss, mb.ValLoss}) {
			t.Fatalf("%s: member %d l2/mean/std/losses %v %v %v %v %v vs %v %v %v %v %v", when, m,
				ma.L2, ma.Mean, ma.Std, ma.TrainLoss, ma.ValLoss, mb.L2, mb.Mean, mb.Std, mb.TrainLoss, mb.ValLoss)
		}
	}
}

// requireSameStats fails unless the stats agree: the losses and L2
// coefficients exactly, the metrics of the two splits to rounding (the
// optimised path sums each comparison's rewards in one evaluation of all
// comparisons, the reference in one per split, and a forward pass over a
// batch of another size may round differently in float32).
func requireSameStats(t *testing.T, when string, a, b TrainStats) {
	t.Helper()
	if a.Steps != b.Steps || a.Train != b.Train || a.Val != b.Val ||
		!sameBits(a.TrainLoss, b.TrainLoss) || !sameBits(a.ValLoss, b.ValLoss) || !sameBits(a.L2, b.L2) {
		t.Fatalf("%s: stats %+v vs %+v", when, a, b)
	}
	for _, p := range [][2]Metrics{{a.Held, b.Held}, {a.Fit, b.Fit}} {
		x, y := p[0], p[1]
		if x.N != y.N || x.Decided != y.Decided || math.Abs(x.Loss-y.Loss) > 1e-6*math.Abs(y.Loss) ||
			math.Abs(x.Accuracy-y.Accuracy) > 1e-9 || math.Abs(x.Margin-y.Margin) > 1e-6*math.Abs(y.Margin) {
			t.Fatalf("%s: metrics %+v vs %+v", when, x, y)
		}
	}
}

// Train gives bit-identical weights, L2 schedule and normalisers to the
// straightforward path when comparisons arrive between calls, calls end on
// and off AdaptEvery boundaries, and a minibatch mixes pairs with 3-way
// comparisons of ragged lengths.
func TestTrainMatchesReference(t *testing.T) {
	s := newSynth(5, 3, 2, 6)
	or := feedback.Oracle{Score: feedback.SegmentReturn}
	var recs []feedback.ControlRecord
	for i := range 150 {
		segs := []feedback.Segment{s.segment(), s.segment()}
		if i%4 == 0 {
			segs = append(segs, s.segment())
		}
		if i%5 == 0 { // a shorter segment
			segs[1].States, segs[1].Actions, segs[1].Rewards = segs[1].States[:4], segs[1].Actions[:4], segs[1].Rewards[:4]
		}
		q := feedback.ControlQuery(fmt.Sprint("r", i), segs...)
		l, err := or.Label(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := feedback.ControlRecordOf(q, l)
		rec.QueryID = q.ID
		recs = append(recs, rec)
	}
	cfg := DefaultConfig(3, 2, 0)
	cfg.Hidden = []int{16, 12}
	cfg.BatchSize = 8
	cfg.AdaptEvery = 7
	cfg.RefSteps = 200
	// A wide L2 band keeps the coefficient moving, so that a wrong schedule shows.
	cfg.L2Low, cfg.L2High = 1.05, 1.1
	var es [2]*Ensemble
	for i := range es {
		e, err := NewEnsemble(cfg)
		if err != nil {
			t.Fatal(err)
		}
		es[i] = e
	}
	added := 0
	for call, n := range []int{5, 9, 7, 0, 13, 14, 3} { // steps 5, 14, 21 (= 3·7), 21, 34, 48, 51
		more := recs[added : added+20]
		added += 20
		for _, e := range es {
			if _, err := e.Add(more...); err != nil {
				t.Fatal(err)
			}
		}
		got, err1 := es[0].Train(context.Background(), n)
		want, err2 := referenceTrain(es[1], context.Background(), n)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		when := fmt.Sprintf("call %d (%d steps, %d comparisons)", call, n, added)
		requireSameEnsembles(t, when, es[0], es[1])
		requireSameStats(t, when, got, want)
	}
	l2s := map[float64]bool{}
	for _, mem := range es[0].Members {
		l2s[mem.L2] = true
	}
	if l2s[cfg.L2] && len(l2s) == 1 {
		t.Fatal("L2 never adapted: the comparison does not exercise the schedule")
	}
}
