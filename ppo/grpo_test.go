package ppo

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/tensor"
)

func TestGroupNormalized(t *testing.T) {
	// Two groups of 3: scores 1, 2, 3 (mean 2, std 1) and 5, 5, 5 (std 0).
	scores := []float64{1, 2, 3, 5, 5, 5}
	n := []int{1, 2, 0, 3, 1, 2}
	adv := GroupNormalized(scores, n, 3, false)
	want := []float64{-1 / (1 + 1e-4), 0, 1 / (1 + 1e-4), 0, 0, 0}
	for i := range scores {
		if len(adv[i]) != n[i] {
			t.Fatalf("completion %d: %d advantages for %d tokens", i, len(adv[i]), n[i])
		}
		for _, a := range adv[i] {
			if math.Abs(float64(a)-want[i]) > 1e-7 {
				t.Errorf("completion %d: advantage %v, want %v at every token", i, a, want[i])
			}
		}
	}
	// Normalised: scaling and shifting the scores of a group changes nothing.
	moved := GroupNormalized([]float64{10, 30, 50, 0, 0, 0}, n, 3, false)
	if math.Abs(float64(moved[0][0]-adv[0][0])) > 1e-3 || math.Abs(float64(moved[3][0]-adv[3][0])) > 1e-7 {
		t.Errorf("scores ×20+(-10): advantages %v and %v, want %v and %v", moved[0][0], moved[3][0], adv[0][0], adv[3][0])
	}
	// Mean only: the scores minus their group's mean.
	mo := GroupNormalized([]float64{1, 2, 6, 5, 5, 5}, n, 3, true)
	for i, want := range []float32{-2, -1, 3, 0, 0, 0} {
		for _, a := range mo[i] {
			if a != want {
				t.Errorf("mean only, completion %d: advantage %v, want %v", i, a, want)
			}
		}
	}
	for _, bad := range []func(){
		func() { GroupNormalized(scores[:5], n[:5], 3, false) },
		func() { GroupNormalized(scores, n[:5], 3, false) },
		func() { GroupNormalized(scores, n, 1, false) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("bad groups: no panic")
				}
			}()
			bad()
		}()
	}
}

// KLPenalty is the masked mean of exp(d) - d - 1 with d = refLogp - logp,
// and its gradient with respect to logp is (1 - exp(d)) / n at each kept token.
func TestKLPenalty(t *testing.T) {
	logp := tensor.FromSlice([]float32{-1, -2, -0.5, -3}, 2, 2)
	ref := tensor.FromSlice([]float32{-1.5, -2, -0.2, -9}, 2, 2)
	mask := tensor.FromSlice([]float32{1, 1, 1, 0}, 2, 2)
	tp := ag.NewTape()
	lp := ag.NewParam(logp)
	kl := KLPenalty(tp, lp, ref, mask)
	var want float64
	wantGrad := make([]float64, 4)
	for i := range 3 {
		d := float64(ref.Data[i] - logp.Data[i])
		want += (math.Exp(d) - d - 1) / 3
		wantGrad[i] = (1 - math.Exp(d)) / 3
	}
	if got := float64(kl.Item()); math.Abs(got-want) > 1e-6 {
		t.Fatalf("penalty %v, want %v", got, want)
	}
	tp.Backward(kl)
	for i, g := range lp.Grad.Data {
		if math.Abs(float64(g)-wantGrad[i]) > 1e-6 {
			t.Errorf("gradient %d: %v, want %v", i, g, wantGrad[i])
		}
	}
	// At the reference the penalty and its gradient are zero.
	tp = ag.NewTape()
	lp = ag.NewParam(ref.Clone())
	kl = KLPenalty(tp, lp, ref, nil)
	tp.Backward(kl)
	if kl.Item() != 0 || slices.ContainsFunc(lp.Grad.Data, func(g float32) bool { return g != 0 }) {
		t.Errorf("at the reference: penalty %v, gradient %v, want 0", kl.Item(), lp.Grad.Data)
	}
}

func TestLMConfigValidateGRPO(t *testing.T) {
	c := DefaultLMConfig()
	c.Advantage, c.GroupSize = AdvantageGRPO, 4
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Estimator(); got != "GRPO over groups of 4" {
		t.Errorf("Estimator() = %q", got)
	}
	if got := c.KLControl(); !strings.HasSuffix(got, "in the loss") {
		t.Errorf("KLControl() = %q, want the penalty said to be in the loss", got)
	}
	c.GroupMeanOnly = true
	if got := c.Estimator(); got != "GRPO over groups of 4, mean only" {
		t.Errorf("Estimator() = %q", got)
	}
	c.Advantage = AdvantageRLOO
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "mean-only") {
		t.Errorf("RLOO with mean-only group advantages: %v, want an error", err)
	}
	c.Advantage, c.GroupMeanOnly = AdvantageGRPO, false
	for _, tc := range []struct {
		group int
		want  string
	}{{1, "at least 2"}, {5, "multiple"}} {
		c.GroupSize = tc.group
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("group %d: %v, want an error mentioning %q", tc.group, err, tc.want)
		}
	}
}

// GRPO raises the toy reward without the value head, keeps the KL penalty
// out of the rewards (rlhf_reward is still score - β·KL, for comparison)
// and in the loss, where a large β holds the policy nearer the reference
// than β = 0 does.
func TestLMTrainerGRPO(t *testing.T) {
	run := func(beta float64) (*LMTrainer, LMStats, float64) {
		m, tok := toyModel(t, 3)
		c := toyConfig()
		c.Advantage, c.GroupSize, c.KLCoef = AdvantageGRPO, 4, beta
		tr, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), toyPrompts)
		if err != nil {
			t.Fatal(err)
		}
		vhead := slices.Clone(tr.Policy.VHead.W.Value.Data)
		var st LMStats
		var kl float64 // mean KL of the last 4 batches
		for i := range 24 {
			if st, err = tr.Step(context.Background()); err != nil {
				t.Fatal(err)
			}
			if st.ValueLoss != 0 || !math.IsNaN(st.ExplainedVar) {
				t.Fatalf("value loss %v and explained variance %v reported, want 0 and NaN", st.ValueLoss, st.ExplainedVar)
			}
			if _, ok := st.Metrics()["loss/kl_avg"]; !ok || st.KLPenalty < 0 {
				t.Fatalf("loss/kl_avg %v (logged %v), want a penalty >= 0", st.KLPenalty, ok)
			}
			if i >= 20 {
				kl += st.KL / 4
			}
		}
		if !slices.Equal(vhead, tr.Policy.VHead.W.Value.Data) {
			t.Error("the value head changed under GRPO")
		}
		return tr, st, kl
	}
	free, st, klFree := run(0)
	before := meanScore(t, free.Ref, free.Tok, free.Config)
	after := meanScore(t, free.Policy, free.Tok, free.Config)
	t.Logf("β 0: space share before %.3f after %.3f; KL of the last batches %.3f, penalty %.4f", before, after, klFree, st.KLPenalty)
	if after < before+0.1 {
		t.Fatalf("toy reward did not rise: before %.3f after %.3f", before, after)
	}
	if st.KLPenalty <= 0 {
		t.Errorf("the policy moved but its KL penalty is %v", st.KLPenalty)
	}
	held, st, klHeld := run(5)
	t.Logf("β 5: KL of the last batches %.3f, penalty %.4f", klHeld, st.KLPenalty)
	if !(klHeld < klFree/2) {
		t.Errorf("β 5 in the loss: KL %.3f, β 0: %.3f; want the penalty to hold the policy nearer", klHeld, klFree)
	}
	// The batch's RLHF reward is still the mean normalised score minus β·KL.
	if want := (st.Score-held.ScoreMean)/held.ScoreStd - 5*st.KL; math.Abs(st.RLHFReward-want) > 1e-9*max(1, math.Abs(want)) {
		t.Errorf("rlhf_reward %v, want normalised score - β·KL = %v", st.RLHFReward, want)
	}
}
