package ppo

import (
	"math"
	"testing"

	"rlhf/ag"
	"rlhf/tensor"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Fatalf("%s = %.7g, want %.7g", what, got, want)
	}
}

// Ratios 1.5, 1.5, 0.5, 0.5, 1.1 with advantages +1, -1, +1, -1, +2 and
// ε = 0.2: per element, max(-A·r, -A·clip(r)) is
//
//	r=1.5 A=+1: max(-1.5, -1.2) = -1.2  clipped   dL/dlogp = 0
//	r=1.5 A=-1: max( 1.5,  1.2) =  1.5  unclipped dL/dlogp = -A·r = 1.5
//	r=0.5 A=+1: max(-0.5, -0.8) = -0.5  unclipped dL/dlogp = -0.5
//	r=0.5 A=-1: max( 0.5,  0.8) =  0.8  clipped   dL/dlogp = 0
//	r=1.1 A=+2: max(-2.2, -2.2) = -2.2  inside    dL/dlogp = -2.2
//
// mean = (-1.2 + 1.5 - 0.5 + 0.8 - 2.2)/5 = -0.32; gradients are divided by 5.
func TestPolicyLossHandComputed(t *testing.T) {
	ratios := []float64{1.5, 1.5, 0.5, 0.5, 1.1}
	old := tensor.FromSlice([]float32{-1, -2, 0.3, -0.7, -1.2}, 5)
	lp := tensor.New(5)
	for i, r := range ratios {
		lp.Data[i] = old.Data[i] + float32(math.Log(r))
	}
	adv := tensor.FromSlice([]float32{1, -1, 1, -1, 2}, 5)
	tp := ag.NewTape()
	logp := ag.NewParam(lp)
	loss := PolicyLoss(tp, logp, old, adv, 0.2, nil)
	near(t, "loss", float64(loss.Item()), -0.32, 1e-5)
	tp.Backward(loss)
	want := []float64{0, 1.5, -0.5, 0, -2.2}
	for i, w := range want {
		near(t, "grad", float64(logp.Grad.Data[i]), w/5, 1e-5)
	}
	near(t, "clipfrac", ClipFrac(lp.Data, old.Data, 0.2, nil), 4.0/5, 1e-9)
	// A mask keeps only elements 1 and 4: mean(1.5, -2.2).
	mask := tensor.FromSlice([]float32{0, 1, 0, 0, 1}, 5)
	tp2 := ag.NewTape()
	near(t, "masked loss", float64(PolicyLoss(tp2, ag.Const(lp), old, adv, 0.2, mask).Item()), (1.5-2.2)/2, 1e-5)
	near(t, "masked clipfrac", ClipFrac(lp.Data, old.Data, 0.2, mask.Data), 0.5, 1e-9)
}

// v = [1, 3], old v = [0, 2.5], returns [2, 2], clip 0.2:
//
//	element 0: (1-2)² = 1; v_clip = 0 + clip(1, ±0.2) = 0.2, (0.2-2)² = 3.24 -> 3.24, no gradient
//	element 1: (3-2)² = 1; v_clip = 2.5 + 0.2 = 2.7, (2.7-2)² = 0.49   -> 1, dL/dv = 2·(3-2)·½/2 = 0.5
//
// loss = ½·(3.24 + 1)/2 = 1.06. Unclipped: ½·(1 + 1)/2 = 0.5, gradients (v-R)/2.
func TestValueLossHandComputed(t *testing.T) {
	old := tensor.FromSlice([]float32{0, 2.5}, 2)
	ret := tensor.FromSlice([]float32{2, 2}, 2)
	tp := ag.NewTape()
	v := ag.NewParam(tensor.FromSlice([]float32{1, 3}, 2))
	loss := ValueLoss(tp, v, old, ret, 0.2, nil)
	near(t, "clipped loss", float64(loss.Item()), 1.06, 1e-5)
	tp.Backward(loss)
	near(t, "grad 0", float64(v.Grad.Data[0]), 0, 1e-6)
	near(t, "grad 1", float64(v.Grad.Data[1]), 0.5, 1e-6)

	v.ZeroGrad()
	tp2 := ag.NewTape()
	loss = ValueLoss(tp2, v, nil, ret, 0, nil)
	near(t, "unclipped loss", float64(loss.Item()), 0.5, 1e-6)
	tp2.Backward(loss)
	near(t, "unclipped grad 0", float64(v.Grad.Data[0]), -0.5, 1e-6)
	near(t, "unclipped grad 1", float64(v.Grad.Data[1]), 0.5, 1e-6)
}

func TestEntropyBonus(t *testing.T) {
	tp := ag.NewTape()
	e := ag.NewParam(tensor.FromSlice([]float32{0.5, 1.5, 1}, 3))
	b := EntropyBonus(tp, e, nil)
	near(t, "mean entropy", float64(b.Item()), 1, 1e-6)
	tp.Backward(b)
	near(t, "grad", float64(e.Grad.Data[2]), 1.0/3, 1e-6)
	one := ag.Const(tensor.FromSlice([]float32{2.5}, 1))
	near(t, "state-independent entropy", float64(EntropyBonus(ag.NewTape(), one, nil).Item()), 2.5, 0)
	mask := tensor.FromSlice([]float32{1, 0, 0}, 3)
	near(t, "masked", float64(EntropyBonus(ag.NewTape(), e, mask).Item()), 0.5, 1e-6)
}

// log r = log 1.5 and log 0.5: ((0.5 - 0.405465) + (-0.5 + 0.693147))/2.
func TestApproxKL(t *testing.T) {
	old := []float32{-1, -1}
	lp := []float32{-1 + float32(math.Log(1.5)), -1 + float32(math.Log(0.5))}
	want := ((0.5 - math.Log(1.5)) + (-0.5 - math.Log(0.5))) / 2
	near(t, "approx kl", ApproxKL(lp, old, nil), want, 1e-6)
	near(t, "approx kl of equal policies", ApproxKL(old, old, nil), 0, 0)
	near(t, "masked", ApproxKL(lp, old, []float32{1, 0}), 0.5-math.Log(1.5), 1e-6)
	if ApproxKL(old, old, []float32{0, 0}) != 0 {
		t.Fatal("empty mask must give 0")
	}
}

func TestExplainedVariance(t *testing.T) {
	target := []float32{1, 2, 3, 4}
	near(t, "perfect", ExplainedVariance(target, target), 1, 1e-12)
	near(t, "mean predictor", ExplainedVariance([]float32{2.5, 2.5, 2.5, 2.5}, target), 0, 1e-12)
	// residuals [1, 0, 0, -1] have variance 0.5; targets 1.25.
	near(t, "partial", ExplainedVariance([]float32{0, 2, 3, 5}, target), 1-0.5/1.25, 1e-9)
	if !math.IsNaN(ExplainedVariance([]float32{1, 1}, []float32{3, 3})) {
		t.Fatal("constant targets must give NaN")
	}
}

func TestNormalizeAdvantages(t *testing.T) {
	a := []float32{1, 2, 3, 4}
	NormalizeAdvantages(a)
	// mean 2.5, unbiased std √(5/3).
	s := math.Sqrt(5.0 / 3)
	for i, w := range []float64{-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s} {
		near(t, "normalised", float64(a[i]), w, 1e-6)
	}
}
