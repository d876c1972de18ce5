package reward

import (
	"math"
	"math/rand/v2"
	"testing"

	"rlhf/ag"
	"rlhf/feedback"
	"rlhf/tensor"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %.9g, want %.9g (tol %g)", what, got, want, tol)
	}
}

func param(xs ...float32) *ag.Var { return ag.NewParam(tensor.FromSlice(xs, len(xs))) }

// Values below are computed by hand (float64) from
// P = (1-eps)σ(ra-rb) + eps/2, loss = -mean[p log P + (1-p) log(1-P)],
// dloss/dra = -(p/P - (1-p)/(1-P))·(1-eps)σ(d)(1-σ(d))/N.
func TestBradleyTerryValuesAndGradients(t *testing.T) {
	cases := []struct {
		eps  float32
		loss float64
		dra  []float64
	}{
		// row 1: -log σ(1); row 2 (tie): log 2; row 3: -log σ(-3)
		{0, 1.351665406550638, []float64{-0.08964714045666504, 0, 0.31752470894081114}},
		{0.1, 1.1390307576282395, []float64{-0.0833157049082897, 0, 0.14622914793691585}},
	}
	for _, c := range cases {
		tp := ag.NewTape()
		ra, rb := param(1, 0, 2), param(0, 0, -1)
		loss := BradleyTerry(tp, ra, rb, []float32{1, 0.5, 0}, c.eps)
		near(t, "loss", float64(loss.Item()), c.loss, 1e-6)
		tp.Backward(loss)
		for i, want := range c.dra {
			near(t, "dra", float64(ra.Grad.Data[i]), want, 1e-6)
			near(t, "drb", float64(rb.Grad.Data[i]), -want, 1e-6)
		}
	}
}

// Best-of-4 (Ziegler et al. 2019): row 1 picks item 2 of scores 1..4, row 2
// is a tie over equal scores. loss = mean(logsumexp - s_chosen, log 4);
// gradient (softmax - target)/N.
func TestBestOfKValuesAndGradients(t *testing.T) {
	tp := ag.NewTape()
	s := ag.NewParam(tensor.FromSlice([]float32{1, 2, 3, 4, 0, 0, 0, 0}, 2, 4))
	loss := BestOfK(tp, s, []feedback.Choice{2, feedback.Tie}, 0)
	near(t, "loss", float64(loss.Item()), 1.4132420298405433, 1e-6)
	tp.Backward(loss)
	want := []float64{0.016029301640042487, 0.043572159371016266, -0.38155859095504496, 0.321957129943986, 0, 0, 0, 0}
	for i, w := range want {
		near(t, "grad", float64(s.Grad.Data[i]), w, 1e-6)
	}
	tp = ag.NewTape()
	loss = BestOfK(tp, ag.Const(s.Value), []feedback.Choice{2, feedback.Tie}, 0.1)
	near(t, "loss eps", float64(loss.Item()), 1.4104809604857624, 1e-6)
}

// A two-item BestOfK is BradleyTerry with p = 1 for choice 0.
func TestBestOfTwoIsBradleyTerry(t *testing.T) {
	tp := ag.NewTape()
	bt := BradleyTerry(tp, param(0.3, -1), param(1.2, 0.5), []float32{1, 0}, 0.1)
	bk := BestOfK(tp, ag.Const(tensor.FromSlice([]float32{0.3, 1.2, -1, 0.5}, 2, 2)), []feedback.Choice{0, 1}, 0.1)
	near(t, "bt - bestofk", float64(bt.Item()), float64(bk.Item()), 1e-6)
}

// The gradient of PreferenceLoss matches central differences for random
// scores and soft targets, with and without the random-answer model.
func TestPreferenceLossGradientFiniteDifference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, eps := range []float32{0, 0.1, 0.5} {
		x := tensor.Randn(r, 1.5, 5, 3)
		tg := tensor.New(5, 3)
		for n := 0; n < 5; n++ {
			a, b := r.Float32(), r.Float32()
			tg.Data[n*3], tg.Data[n*3+1], tg.Data[n*3+2] = a*(1-b), a*b, 1-a
		}
		tp := ag.NewTape()
		v := ag.NewParam(x.Clone())
		tp.Backward(PreferenceLoss(tp, v, tg, eps))
		f := func(xs *tensor.Tensor) float64 {
			return float64(PreferenceLoss(ag.NewNoGradTape(), ag.Const(xs), tg, eps).Item())
		}
		const h = 1e-2
		for i := range x.Data {
			p, m := x.Clone(), x.Clone()
			p.Data[i] += h
			m.Data[i] -= h
			num := (f(p) - f(m)) / (2 * h)
			near(t, "grad", float64(v.Grad.Data[i]), num, 2e-3)
		}
	}
}

func TestTargets(t *testing.T) {
	tg, err := Targets([]feedback.Choice{1, feedback.Tie}, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 1, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3}
	for i, w := range want {
		near(t, "target", float64(tg.Data[i]), float64(w), 1e-7)
	}
	for _, c := range []feedback.Choice{feedback.CantTell, feedback.Skip, 3} {
		if _, err := Targets([]feedback.Choice{c}, 3); err == nil {
			t.Errorf("Targets(%s) gave no error", c)
		}
	}
}

func TestEvaluate(t *testing.T) {
	scores := [][]float64{{2, 1}, {0, 1}, {1, 1}, {3, 3}, {5, 0}}
	choices := []feedback.Choice{0, 0, feedback.Tie, 1, feedback.CantTell}
	m := Evaluate(scores, choices, 0)
	// decided rows 0, 1, 3: right, wrong, shared top (1/2)
	near(t, "accuracy", m.Accuracy, 0.5, 1e-12)
	near(t, "margin", m.Margin, (1-1+0)/3.0, 1e-12)
	if m.N != 4 || m.Decided != 3 {
		t.Errorf("N, Decided = %d, %d, want 4, 3", m.N, m.Decided)
	}
	sp := func(x float64) float64 { return math.Log1p(math.Exp(x)) }
	wantLoss := (sp(-1) + sp(1) + math.Ln2 + math.Ln2) / 4
	near(t, "loss", m.Loss, wantLoss, 1e-12)
	mm := m.Map("rm")
	if mm["rm/accuracy"] != m.Accuracy || mm["rm/margin"] != m.Margin || mm["rm/loss"] != m.Loss {
		t.Errorf("Map = %v", mm)
	}
	// Best-of-3 margin: chosen minus mean of the others.
	m = Evaluate([][]float64{{1, 4, 1}}, []feedback.Choice{1}, 0.1)
	near(t, "k-way margin", m.Margin, 3, 1e-12)
	near(t, "k-way accuracy", m.Accuracy, 1, 1e-12)
	// The float64 loss agrees with the tape's.
	tg, _ := Targets([]feedback.Choice{1}, 3)
	l := PreferenceLoss(ag.NewNoGradTape(), ag.Const(tensor.FromSlice([]float32{1, 4, 1}, 1, 3)), tg, 0.1)
	near(t, "loss vs tape", m.Loss, float64(l.Item()), 1e-6)
}

func TestPearson(t *testing.T) {
	near(t, "r", Pearson([]float64{1, 2, 3}, []float64{2, 4, 6.5}), 0.9979487157886733, 1e-12)
	near(t, "r", Pearson([]float64{1, 2, 3}, []float64{3, 2, 1}), -1, 1e-12)
	if !math.IsNaN(Pearson([]float64{1, 2}, []float64{1, 1})) {
		t.Error("Pearson of a constant is not NaN")
	}
}

func TestSegmentSums(t *testing.T) {
	r := param(1, 2, 3, 4, 5, 6)
	for _, off := range [][]int{{0, 2, 4, 6}, {0, 1, 4, 6}} {
		tp := ag.NewTape()
		s := SegmentSums(tp, r, off)
		w := []float32{}
		for i := 0; i+1 < len(off); i++ {
			var sum float32
			for j := off[i]; j < off[i+1]; j++ {
				sum += r.Value.Data[j]
			}
			w = append(w, sum)
		}
		for i, v := range s.Data() {
			near(t, "sum", float64(v), float64(w[i]), 1e-6)
		}
		r.ZeroGrad()
		tp.Backward(tp.SumAll(tp.Mul(s, ag.Const(tensor.FromSlice([]float32{1, 10, 100}, 3)))))
		for i := range off[:3] {
			for j := off[i]; j < off[i+1]; j++ {
				near(t, "grad", float64(r.Grad.Data[j]), math.Pow(10, float64(i)), 1e-6)
			}
		}
	}
}
