package reward

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"rlhf/ag"
	"rlhf/env"
	"rlhf/feedback"
	"rlhf/tensor"
)

// reacherRecords labels n pairs of whole Reacher2D-v0 episodes, played with
// Gaussian actions of standard deviation sd, by their true returns.
func reacherRecords(t testing.TB, seed uint64, n int, sd float64) []feedback.ControlRecord {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	episode := func(i int) feedback.Segment {
		ep, err := env.Rollout("Reacher2D-v0", seed*100000+uint64(i), func([]float64) []float64 {
			return []float64{sd * r.NormFloat64(), sd * r.NormFloat64()}
		})
		if err != nil {
			t.Fatal(err)
		}
		var s feedback.Segment
		for _, st := range ep.Steps {
			s.States = append(s.States, st.Obs)
			s.Actions = append(s.Actions, st.Action)
			s.Rewards = append(s.Rewards, st.Score)
			s.Return += st.Score
		}
		return s
	}
	var recs []feedback.ControlRecord
	for i := range n {
		a, b := episode(2*i), episode(2*i+1)
		c := feedback.Choice(0)
		if b.Return > a.Return {
			c = 1
		}
		recs = append(recs, feedback.ControlRecord{Segments: []feedback.Segment{a, b}, Choice: c,
			Provenance: feedback.Provenance{QueryID: fmt.Sprintf("q%d", i)}})
	}
	return recs
}

// TestEnsembleLearnsReacher is the regression test for Reacher2D-v0, whose
// raw features differ in scale by two orders of magnitude: on oracle labels of
// whole random-action episodes the held-out accuracy stayed at chance (about
// 0.5) before the input normaliser, the small output layer and the squared
// action features.
func TestEnsembleLearnsReacher(t *testing.T) {
	recs := reacherRecords(t, 1, 600, 1)
	e, err := NewEnsemble(DefaultConfig(10, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Add(recs...); err != nil {
		t.Fatal(err)
	}
	ts, err := e.Train(context.Background(), 300)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out accuracy %.3f (train %.3f) on %d comparisons", ts.Held.Accuracy, ts.Fit.Accuracy, ts.Val)
	if ts.Held.Accuracy < 0.8 {
		t.Errorf("held-out accuracy %.3f on Reacher oracle labels, want >= 0.8", ts.Held.Accuracy)
	}
}

// TestAbsorbingPadding checks that the padding env.Cut appends to a segment
// of an episode that terminated early is recognised and given the fixed raw
// reward 0, while repeats with a non-zero reward stay live steps.
func TestAbsorbingPadding(t *testing.T) {
	seg := func(rewards []float64, pad int) feedback.Segment {
		var s feedback.Segment
		for i, r := range rewards {
			s.States = append(s.States, []float64{float64(i), 1})
			s.Actions = append(s.Actions, []float64{float64(i % 2)})
			s.Rewards = append(s.Rewards, r)
		}
		for range pad {
			s.States = append(s.States, s.States[len(rewards)-1])
			s.Actions = append(s.Actions, s.Actions[len(rewards)-1])
			s.Rewards = append(s.Rewards, 0)
		}
		return s
	}
	padded := seg([]float64{1, 1, 1}, 4)
	if got := liveSteps(&padded); got != 3 {
		t.Errorf("liveSteps of 3 live steps and 4 padding = %d", got)
	}
	full := seg([]float64{1, 1, 1, 1, 1, 1, 1}, 0)
	if got := liveSteps(&full); got != 7 {
		t.Errorf("liveSteps of 7 live steps = %d", got)
	}
	scored := seg([]float64{1, 1, 1}, 2)
	scored.Rewards[4] = -1 // a repeat that scores is a live step
	if got := liveSteps(&scored); got != 5 {
		t.Errorf("liveSteps with a scoring repeat = %d, want 5", got)
	}

	e, err := NewEnsemble(DefaultConfig(2, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	rec := feedback.ControlRecord{Segments: []feedback.Segment{padded, full}, Choice: 1}
	if _, err := e.Add(rec); err != nil {
		t.Fatal(err)
	}
	// Raw sums count only live steps: the padded segment's raw sum is the
	// sum of the network over its first 3 steps.
	sums := e.rawSums(e.all())
	want := e.Members[0].Net.Forward(e.eval, constOf(e, padded.States[:3], padded.Actions[:3])).Data()
	e.eval.Reset()
	var w float64
	for _, v := range want {
		w += float64(v)
	}
	if d := sums[0][0][0] - w; d > 1e-4 || d < -1e-4 {
		t.Errorf("raw sum of the padded segment %v, want the live steps' %v", sums[0][0][0], w)
	}
	e.Members[0].Mean, e.Members[0].Std = 0.5, 2
	e.Members[1].Mean, e.Members[1].Std = -1, 1
	e.Members[2].Mean, e.Members[2].Std = 0, 1
	if got, want := e.AbsorbingReward(), (-0.25+1+0)/3; got-want > 1e-12 || want-got > 1e-12 {
		t.Errorf("AbsorbingReward %v, want %v", got, want)
	}
}

// constOf encodes steps as the ensemble does: (n, In) features.
func constOf(e *Ensemble, obs, act [][]float64) *ag.Var {
	in := e.Config.InDim()
	x := tensor.New(len(obs), in)
	for i := range obs {
		if err := e.encodeStep(x.Data[i*in:(i+1)*in], obs[i], act[i]); err != nil {
			panic(err)
		}
	}
	return ag.Const(x)
}
