package mlp

import (
	"math"
	"math/rand/v2"
	"testing"

	"rlhf/ag"
	"rlhf/tensor"
)

func TestOrthogonal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range [][2]int{{7, 3}, {3, 7}, {5, 5}, {64, 2}} {
		rows, cols := sh[0], sh[1]
		gain := 1.7
		w := Orthogonal(r, rows, cols, gain)
		// W·Wᵀ (wide) or Wᵀ·W (tall) must be gain²·I.
		k, n := cols, rows // compare columns
		col := func(j, i int) float64 { return float64(w.Data[i*cols+j]) }
		if rows < cols {
			k, n = rows, cols
			col = func(j, i int) float64 { return float64(w.Data[j*cols+i]) }
		}
		for a := 0; a < k; a++ {
			for b := 0; b < k; b++ {
				var dot float64
				for i := 0; i < n; i++ {
					dot += col(a, i) * col(b, i)
				}
				want := 0.0
				if a == b {
					want = gain * gain
				}
				if math.Abs(dot-want) > 1e-5 {
					t.Fatalf("%dx%d: <%d,%d> = %g, want %g", rows, cols, a, b, dot, want)
				}
			}
		}
	}
}

func TestOrthogonalDeterministic(t *testing.T) {
	a := Orthogonal(rand.New(rand.NewPCG(3, 4)), 6, 4, 1)
	b := Orthogonal(rand.New(rand.NewPCG(3, 4)), 6, 4, 1)
	if tensor.MaxAbsDiff(a, b) != 0 {
		t.Fatal("same seed gave different matrices")
	}
	c := Orthogonal(rand.New(rand.NewPCG(3, 5)), 6, 4, 1)
	if tensor.MaxAbsDiff(a, c) == 0 {
		t.Fatal("different seeds gave the same matrix")
	}
}

func TestMLPShapesAndInit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	m := New(r, []int{4, 64, 64, 2}, HiddenGain, PolicyGain)
	if got := m.Sizes(); len(got) != 4 || got[0] != 4 || got[3] != 2 {
		t.Fatalf("sizes %v", got)
	}
	ps := m.Params("actor")
	if len(ps) != 6 || ps[0].Name != "actor.0.weight" || ps[5].Name != "actor.2.bias" {
		t.Fatalf("params %v %v", ps[0].Name, ps[len(ps)-1].Name)
	}
	// The head is orthogonal with gain 0.01: each of its 2 columns has norm 0.01.
	w := m.Layers[2].W.Value
	for j := 0; j < 2; j++ {
		var s float64
		for i := 0; i < 64; i++ {
			v := float64(w.Data[i*2+j])
			s += v * v
		}
		if math.Abs(math.Sqrt(s)-0.01) > 1e-6 {
			t.Fatalf("head column %d norm %g", j, math.Sqrt(s))
		}
	}
	tp := ag.NewNoGradTape()
	x := ag.Const(tensor.Randn(r, 1, 5, 4))
	y := m.Forward(tp, x)
	if y.Shape()[0] != 5 || y.Shape()[1] != 2 {
		t.Fatalf("forward shape %v", y.Shape())
	}
	// Row 3 alone gives the same output as row 3 of the batch.
	one := ag.Const(tensor.FromSlice(append([]float32(nil), x.Data()[12:16]...), 1, 4))
	y1 := m.Forward(tp, one)
	for j := 0; j < 2; j++ {
		if d := math.Abs(float64(y1.Data()[j] - y.Data()[3*2+j])); d > 1e-6 {
			t.Fatalf("batched forward differs from single by %g", d)
		}
	}
}

func TestCategoricalLogProbEntropy(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	c := NewCategorical(r, 3, []int{8}, 3)
	tp := ag.NewTape()
	obs := ag.Const(tensor.Randn(r, 1, 2, 3))
	acts := tensor.FromSlice([]float32{2, 0}, 2, 1)
	logp, ent := c.LogProb(tp, obs, acts)
	logits := c.Logits(ag.NewNoGradTape(), obs).Data()
	for i, a := range []int{2, 0} {
		row := logits[i*3 : i*3+3]
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v))
		}
		want := float64(row[a]) - math.Log(z)
		if math.Abs(float64(logp.Data()[i])-want) > 1e-5 {
			t.Fatalf("logp[%d] = %g, want %g", i, logp.Data()[i], want)
		}
		var h float64
		for _, v := range row {
			p := math.Exp(float64(v)) / z
			h -= p * math.Log(p)
		}
		if math.Abs(float64(ent.Data()[i])-h) > 1e-5 {
			t.Fatalf("entropy[%d] = %g, want %g", i, ent.Data()[i], h)
		}
	}
	// Gradients reach the network.
	tp.Backward(tp.MeanAll(logp))
	if c.Net.Layers[0].W.Grad == nil {
		t.Fatal("no gradient on the first layer")
	}
}

func TestCategoricalSampleFrequencies(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	c := NewCategorical(r, 2, []int{4}, 3)
	// Make the logits input-independent and known: zero weights, bias = log p.
	probs := []float64{0.2, 0.5, 0.3}
	for _, l := range c.Net.Layers {
		l.W.Value.Zero()
	}
	for j, p := range probs {
		c.Net.Layers[1].B.Value.Data[j] = float32(math.Log(p))
	}
	n := 20000
	obs := ag.Const(tensor.New(n, 2))
	tp := ag.NewNoGradTape()
	acts, logp := c.Sample(tp, r, obs, false)
	counts := make([]int, 3)
	for i, a := range acts.Data {
		counts[int(a)]++
		if math.Abs(float64(logp[i])-math.Log(probs[int(a)])) > 1e-5 {
			t.Fatalf("logp %g for action %v", logp[i], a)
		}
	}
	for j, p := range probs {
		f := float64(counts[j]) / float64(n)
		if math.Abs(f-p) > 0.015 {
			t.Fatalf("action %d frequency %.3f, want %.3f", j, f, p)
		}
	}
	g, _ := c.Sample(tp, r, obs, true)
	if g.Data[0] != 1 {
		t.Fatalf("greedy action %v, want 1", g.Data[0])
	}
}

func TestGaussianLogProbEntropy(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	g := NewGaussian(r, 3, []int{8}, []float64{-2, -1}, []float64{2, 1})
	g.LogStd.Value.Data[0], g.LogStd.Value.Data[1] = -0.5, 0.3
	tp := ag.NewTape()
	obs := ag.Const(tensor.Randn(r, 1, 2, 3))
	acts := tensor.FromSlice([]float32{0.4, -3, 1.5, 0.2}, 2, 2)
	logp, ent := g.LogProb(tp, obs, acts)
	mu := g.Mean.Forward(ag.NewNoGradTape(), obs).Data()
	for i := 0; i < 2; i++ {
		var want float64
		for j := 0; j < 2; j++ {
			ls := float64(g.LogStd.Value.Data[j])
			z := (float64(acts.Data[i*2+j]) - float64(mu[i*2+j])) / math.Exp(ls)
			want += -0.5*z*z - ls - 0.5*math.Log(2*math.Pi)
		}
		if math.Abs(float64(logp.Data()[i])-want) > 1e-4 {
			t.Fatalf("logp[%d] = %g, want %g", i, logp.Data()[i], want)
		}
	}
	wantH := -0.5 + 0.3 + 2*0.5*(1+math.Log(2*math.Pi))
	if math.Abs(float64(ent.Item())-wantH) > 1e-5 {
		t.Fatalf("entropy %g, want %g", ent.Item(), wantH)
	}
	// d/d logstd_j of Σ_i logp_i = Σ_i (z_ij² - 1).
	tp.Backward(tp.SumAll(logp))
	for j := 0; j < 2; j++ {
		ls := float64(g.LogStd.Value.Data[j])
		var want float64
		for i := 0; i < 2; i++ {
			z := (float64(acts.Data[i*2+j]) - float64(mu[i*2+j])) / math.Exp(ls)
			want += z*z - 1
		}
		if math.Abs(float64(g.LogStd.Grad.Data[j])-want) > 1e-3 {
			t.Fatalf("d logstd[%d] = %g, want %g", j, g.LogStd.Grad.Data[j], want)
		}
	}
}

func TestGaussianSampleAndClip(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	g := NewGaussian(r, 2, []int{4}, []float64{-0.5}, []float64{0.5})
	g.LogStd.Value.Data[0] = float32(math.Log(2))
	n := 20000
	obs := ag.Const(tensor.New(n, 2)) // zero input: mean is the zero bias
	acts, logp := g.Sample(ag.NewNoGradTape(), r, obs, false)
	var s, ss float64
	outside := 0
	for i, a := range acts.Data {
		x := float64(a)
		s += x
		ss += x * x
		if x < -0.5 || x > 0.5 {
			outside++
		}
		want := -0.5*(x/2)*(x/2) - math.Log(2) - 0.5*math.Log(2*math.Pi)
		if math.Abs(float64(logp[i])-want) > 1e-4 {
			t.Fatalf("logp of unclipped sample %g = %g, want %g", x, logp[i], want)
		}
	}
	mean, std := s/float64(n), math.Sqrt(ss/float64(n)-(s/float64(n))*(s/float64(n)))
	if math.Abs(mean) > 0.05 || math.Abs(std-2) > 0.05 {
		t.Fatalf("sample mean %g std %g, want 0 and 2", mean, std)
	}
	if outside == 0 {
		t.Fatal("no sample outside the box: the sample must be unclipped")
	}
	env := make([]float64, n)
	g.EnvActions(acts, env)
	for i, a := range env {
		if a < -0.5 || a > 0.5 {
			t.Fatalf("env action %g outside the box", a)
		}
		if x := float64(acts.Data[i]); x > -0.5 && x < 0.5 && a != x {
			t.Fatalf("env action %g for in-box sample %g", a, x)
		}
	}
	greedy, _ := g.Sample(ag.NewNoGradTape(), r, obs, true)
	if greedy.Data[0] != 0 {
		t.Fatalf("greedy action %g, want the mean 0", greedy.Data[0])
	}
}

func TestValueForward(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 3))
	v := NewValue(r, 4, []int{16, 16})
	out := v.Forward(ag.NewNoGradTape(), ag.Const(tensor.Randn(r, 1, 7, 4)))
	if len(out.Shape()) != 1 || out.Shape()[0] != 7 {
		t.Fatalf("value shape %v", out.Shape())
	}
	if ps := v.Params("critic"); len(ps) != 6 || ps[4].Name != "critic.2.weight" {
		t.Fatalf("value params %d", len(ps))
	}
}
