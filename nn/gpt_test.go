package nn_test

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/tensor"
)

func tiny(t *testing.T, seed uint64) *nn.GPT {
	t.Helper()
	m, err := nn.NewGPT(nn.GPTConfig{Vocab: 32, Ctx: 16, Layers: 2, Heads: 2, Dim: 16}, rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// batch returns B sequences of T+1 tokens from a fixed pattern with noise,
// split into inputs and next-token targets.
func batch(b, t int, seed uint64) (ids, targets []int) {
	r := rand.New(rand.NewPCG(seed, 2))
	for i := 0; i < b; i++ {
		start := r.IntN(32)
		seq := make([]int, t+1)
		for j := range seq {
			seq[j] = (start + 3*j + j*j%5) % 32
		}
		ids = append(ids, seq[:t]...)
		targets = append(targets, seq[1:]...)
	}
	return ids, targets
}

func TestParamNamesAndCount(t *testing.T) {
	cfg := nn.GPTConfig{Vocab: 4096, Ctx: 128, Layers: 4, Heads: 4, Dim: 128}
	m, err := nn.NewGPT(cfg, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ps := m.Params()
	if n := nn.NumParams(ps); n != 1334016 {
		t.Errorf("reference tiny GPT has %d parameters, want 1334016", n)
	}
	want := map[string][]int{
		"wte.weight": {4096, 128}, "wpe.weight": {128, 128},
		"h.0.ln_1.weight": {128}, "h.0.attn.c_attn.weight": {128, 384}, "h.0.attn.c_attn.bias": {384},
		"h.3.attn.c_proj.weight": {128, 128}, "h.2.mlp.c_fc.weight": {128, 512}, "h.1.mlp.c_proj.weight": {512, 128},
		"h.1.ln_2.bias": {128}, "ln_f.weight": {128}, "ln_f.bias": {128},
	}
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name] {
			t.Errorf("duplicate parameter name %s", p.Name)
		}
		seen[p.Name] = true
		if s, ok := want[p.Name]; ok && !tensor.SameShape(s, p.P.Value.Shape) {
			t.Errorf("%s has shape %v want %v", p.Name, p.P.Value.Shape, s)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("missing parameter %s", name)
		}
	}
	if len(ps) != 2+4*12+2 || ps[0].Name != "wte.weight" || ps[len(ps)-1].Name != "ln_f.bias" {
		t.Errorf("%d parameters, first %s last %s", len(ps), ps[0].Name, ps[len(ps)-1].Name)
	}
	// GPT-2 initialisation: std 0.02, residual projections 0.02/sqrt(2L).
	std := func(x *tensor.Tensor) float64 {
		var s float64
		for _, v := range x.Data {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s / float64(len(x.Data)))
	}
	if s := std(m.H[0].MLP.CFc.W.Value); math.Abs(s-0.02) > 0.001 {
		t.Errorf("c_fc std %g", s)
	}
	if s := std(m.H[0].MLP.CProj.W.Value); math.Abs(s-0.02/math.Sqrt(8)) > 0.0005 {
		t.Errorf("mlp c_proj std %g", s)
	}
	if _, err := nn.NewGPT(nn.GPTConfig{Vocab: 8, Ctx: 4, Layers: 1, Heads: 3, Dim: 8}, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("heads not dividing dim accepted")
	}
}

// Three random elements of every parameter of the whole model against
// central differences of the float32 loss: |analytic - numeric| <= 3e-4 +
// 3%·|numeric| (loss round-off ~3e-7 gives ~1e-4 of numeric noise).
func TestGPTGradient(t *testing.T) {
	m := tiny(t, 3)
	ids, tg := batch(2, 6, 4)
	tg[3] = -1
	loss := func() float64 {
		tp := ag.NewNoGradTape()
		return float64(m.Loss(tp, ids, tg, 2, 6, -1).Item())
	}
	tp := ag.NewTape()
	l := m.Loss(tp, ids, tg, 2, 6, -1)
	ref := tp.CrossEntropy(m.Forward(tp, ids, 2, 6), tg, -1)
	if d := math.Abs(float64(l.Item() - ref.Item())); d > 1e-5 {
		t.Errorf("Loss %g, CrossEntropy of Forward %g", l.Item(), ref.Item())
	}
	tp.Backward(l)
	r := rand.New(rand.NewPCG(5, 5))
	for _, p := range m.Params() {
		for k := 0; k < 3; k++ {
			i := r.IntN(len(p.P.Value.Data))
			old := p.P.Value.Data[i]
			const eps = 2e-3 // the residual stream is ~0.02 in size: larger steps see curvature
			p.P.Value.Data[i] = old + eps
			fp := loss()
			p.P.Value.Data[i] = old - eps
			fm := loss()
			p.P.Value.Data[i] = old
			num, got := (fp-fm)/(2*eps), float64(p.P.Grad.Data[i])
			if math.Abs(num-got) > 3e-4+0.03*math.Abs(num) {
				t.Errorf("%s[%d]: analytic %g numeric %g", p.Name, i, got, num)
			}
		}
	}
}

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// Training on one fixed batch must memorise it: from ln(32) ≈ 3.47 to below
// 0.5 in 60 AdamW steps (seeded, so the run is deterministic). The loss
// trajectory is pinned in testdata/tiny_train.golden (rewrite with -update);
// each step must agree within 1e-3, which allows for float32 summation-order
// changes in the kernels but not for a changed computation.
func TestGPTLossFalls(t *testing.T) {
	m := tiny(t, 1)
	ps := m.Params()
	o := optim.NewAdamW(ps, optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.0})
	ids, tg := batch(4, 16, 2)
	tp := ag.NewTape()
	var first, last float32
	var traj []float32
	for step := 0; step < 60; step++ {
		o.ZeroGrad()
		loss := m.Loss(tp, ids, tg, 4, 16, -1)
		tp.Backward(loss)
		last = loss.Item()
		traj = append(traj, last)
		if step == 0 {
			first = last
		}
		optim.ClipGradNorm(ps, 1)
		o.Step(1e-2)
		tp.Reset()
	}
	if math.Abs(float64(first)-math.Log(32)) > 0.2 {
		t.Errorf("initial loss %g, want about ln 32 = %g", first, math.Log(32))
	}
	if last > 0.5 {
		t.Errorf("loss after 60 steps %g, want < 0.5", last)
	}
	t.Logf("loss %g -> %g", first, last)
	checkGolden(t, "testdata/tiny_train.golden", traj, 1e-3)
}

// checkGolden compares vals with one number per line in path, or rewrites
// the file under -update.
func checkGolden(t *testing.T, path string, vals []float32, tol float64) {
	t.Helper()
	if *update {
		var b strings.Builder
		for _, v := range vals {
			fmt.Fprintf(&b, "%.6f\n", v)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	lines := strings.Fields(string(raw))
	if len(lines) != len(vals) {
		t.Fatalf("%s has %d values, run produced %d", path, len(lines), len(vals))
	}
	for i, l := range lines {
		want, err := strconv.ParseFloat(l, 64)
		if err != nil {
			t.Fatalf("%s line %d: %v", path, i+1, err)
		}
		if math.Abs(float64(vals[i])-want) > tol {
			t.Errorf("%s step %d: %g, golden %g", path, i, vals[i], want)
		}
	}
}

// Batch 8 x 1 and batch 1 x accumulation 8 reach the same parameters after
// three AdamW steps: max |Δθ| <= 2e-6 (float32 summation-order noise;
// single updates are ~1e-3).
func TestGradAccumulationMatchesBatch(t *testing.T) {
	const B, T = 8, 12
	a, b := tiny(t, 7), tiny(t, 7)
	pa, pb := a.Params(), b.Params()
	cfg := optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, NoDecay: optim.MatricesOnly}
	oa, ob := optim.NewAdamW(pa, cfg), optim.NewAdamW(pb, cfg)
	tp := ag.NewTape()
	for step := 0; step < 3; step++ {
		ids, tg := batch(B, T, uint64(10+step))
		oa.ZeroGrad()
		tp.Backward(a.Loss(tp, ids, tg, B, T, -1))
		tp.Reset()
		oa.Step(1e-3)

		ob.ZeroGrad()
		for i := 0; i < B; i++ {
			l := b.Loss(tp, ids[i*T:(i+1)*T], tg[i*T:(i+1)*T], 1, T, -1)
			tp.Backward(tp.Scale(l, 1.0/B))
			tp.Reset()
		}
		ob.Step(1e-3)
	}
	worst, moved := 0.0, 0.0
	ref := tiny(t, 7).Params()
	for i := range pa {
		worst = math.Max(worst, tensor.MaxAbsDiff(pa[i].P.Value, pb[i].P.Value))
		moved = math.Max(moved, tensor.MaxAbsDiff(pa[i].P.Value, ref[i].P.Value))
	}
	if worst > 2e-6 {
		t.Errorf("parameters differ by %g between batch and accumulation", worst)
	}
	if moved < 1e-3 {
		t.Errorf("parameters moved only %g", moved)
	}
	t.Logf("max difference %g, max movement %g", worst, moved)
}
