package optim

import (
	"math"
	"testing"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/tensor"
)

func params() []nn.NamedParam {
	w := ag.NewParam(tensor.FromSlice([]float32{0.5, -1, 2, 0.1}, 2, 2))
	b := ag.NewParam(tensor.FromSlice([]float32{0.3, -0.2}, 2))
	return []nn.NamedParam{{Name: "h.0.mlp.c_fc.weight", P: w}, {Name: "h.0.mlp.c_fc.bias", P: b}}
}

// setGrads gives each parameter a deterministic step-dependent gradient.
func setGrads(ps []nn.NamedParam, step int) {
	for k, p := range ps {
		if p.P.Grad == nil {
			p.P.Grad = tensor.New(p.P.Value.Shape...)
		}
		for i := range p.P.Grad.Data {
			p.P.Grad.Data[i] = float32(math.Sin(float64(1+i+3*k+7*step))) * 0.1
		}
	}
}

func TestAdamWMatchesFormula(t *testing.T) {
	ps := params()
	cfg := AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, NoDecay: MatricesOnly}
	o := NewAdamW(ps, cfg)
	// float64 reference of the same update
	type st struct{ w, m, v []float64 }
	ref := make([]st, len(ps))
	for k, p := range ps {
		for _, x := range p.P.Value.Data {
			ref[k].w = append(ref[k].w, float64(x))
		}
		ref[k].m = make([]float64, len(ref[k].w))
		ref[k].v = make([]float64, len(ref[k].w))
	}
	lr := 0.01
	for step := 1; step <= 5; step++ {
		setGrads(ps, step)
		o.Step(float32(lr))
		for k, p := range ps {
			wd := 0.1
			if k == 1 { // the bias is exempt
				wd = 0
			}
			r := &ref[k]
			for i := range r.w {
				g := float64(p.P.Grad.Data[i])
				r.w[i] *= 1 - lr*wd
				r.m[i] = 0.9*r.m[i] + 0.1*g
				r.v[i] = 0.95*r.v[i] + 0.05*g*g
				mh := r.m[i] / (1 - math.Pow(0.9, float64(step)))
				vh := r.v[i] / (1 - math.Pow(0.95, float64(step)))
				r.w[i] -= lr * mh / (math.Sqrt(vh) + 1e-8)
			}
		}
	}
	for k, p := range ps {
		for i, x := range p.P.Value.Data {
			if d := math.Abs(float64(x) - ref[k].w[i]); d > 1e-6 {
				t.Errorf("%s[%d] = %g want %g", p.Name, i, x, ref[k].w[i])
			}
		}
	}
	if o.Steps != 5 {
		t.Errorf("Steps = %d", o.Steps)
	}
}

func TestStateDictResume(t *testing.T) {
	cfg := DefaultAdamW()
	run := func(ps []nn.NamedParam, o *AdamW, from, to int) {
		for s := from; s < to; s++ {
			setGrads(ps, s)
			o.Step(1e-2)
		}
	}
	a := params()
	oa := NewAdamW(a, cfg)
	run(a, oa, 0, 6)

	b := params()
	ob := NewAdamW(b, cfg)
	run(b, ob, 0, 3)
	saved := map[string]*tensor.Tensor{}
	for k, v := range ob.StateDict() {
		saved[k] = v.Clone()
	}
	c := params()
	for i := range c {
		copy(c[i].P.Value.Data, b[i].P.Value.Data)
	}
	oc := NewAdamW(c, cfg)
	if err := oc.LoadStateDict(saved); err != nil {
		t.Fatal(err)
	}
	run(c, oc, 3, 6)
	for i := range a {
		if d := tensor.MaxAbsDiff(a[i].P.Value, c[i].P.Value); d != 0 {
			t.Errorf("%s: resumed run differs by %g", a[i].Name, d)
		}
	}

	delete(saved, "exp_avg_sq.h.0.mlp.c_fc.bias")
	if err := NewAdamW(params(), cfg).LoadStateDict(saved); err == nil {
		t.Error("missing state entry accepted")
	}
	saved["exp_avg_sq.h.0.mlp.c_fc.bias"] = tensor.New(3)
	if err := NewAdamW(params(), cfg).LoadStateDict(saved); err == nil {
		t.Error("wrong-shaped state accepted")
	}
	if err := NewAdamW(params(), cfg).LoadStateDict(map[string]*tensor.Tensor{}); err == nil {
		t.Error("empty state accepted")
	}
}

func TestClipGradNorm(t *testing.T) {
	ps := params()
	setGrads(ps, 0)
	var want float64
	for _, p := range ps {
		for _, g := range p.P.Grad.Data {
			want += float64(g) * float64(g)
		}
	}
	want = math.Sqrt(want)
	if n := ClipGradNorm(ps, 10); math.Abs(n-want) > 1e-6 {
		t.Fatalf("norm %g want %g", n, want)
	}
	if n := ClipGradNorm(ps, want/4); math.Abs(n-want) > 1e-6 {
		t.Fatalf("norm before clipping %g want %g", n, want)
	}
	if n := ClipGradNorm(ps, 1e9); math.Abs(n-want/4) > 1e-5 {
		t.Errorf("norm after clipping %g want %g", n, want/4)
	}
}

func TestCosine(t *testing.T) {
	s := Cosine{Peak: 1e-3, Min: 1e-4, Warmup: 10, Total: 110}
	cases := []struct {
		step int
		want float64
	}{{0, 1e-4}, {4, 5e-4}, {9, 1e-3}, {10, 1e-3}, {60, 5.5e-4}, {110, 1e-4}, {500, 1e-4}}
	for _, c := range cases {
		if got := s.LR(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("LR(%d) = %g want %g", c.step, got, c.want)
		}
	}
	for i := 11; i < 110; i++ {
		if s.LR(i) > s.LR(i-1) {
			t.Fatalf("LR rises after warm-up at %d", i)
		}
	}
}
