package xla_test

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"rlhf/ag"
	"rlhf/model/gpt"
	"rlhf/model/mlp"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/tensor"
	"rlhf/xla"
)

// device selects the GoMLX backend the parity tests run on; the default is
// the pure-Go backend, a GPU run passes e.g. -device xla:/abs/path/plugin.so.
var device = flag.String("device", "go", "GoMLX device for the parity tests")

// Tolerances of the comparisons with the CPU engine, float32 with different
// summation orders: |got-want| <= atol·max|want| + rtol·|want| per element.
var (
	atolFlag = flag.Float64("atol", 1e-5, "absolute tolerance, relative to the tensor's largest magnitude")
	rtolFlag = flag.Float64("rtol", 1e-4, "relative tolerance per element")
)

func open(t *testing.T) backends.Backend {
	t.Helper()
	b, err := xla.Open(*device)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// near reports the first element where got and want differ beyond tolerance.
func near(got, want []float32, scale float32) (int, bool) {
	if len(got) != len(want) {
		return -1, false
	}
	for i := range got {
		d := math.Abs(float64(got[i] - want[i]))
		if math.IsNaN(float64(got[i])) || d > *atolFlag*float64(scale)+*rtolFlag*math.Abs(float64(want[i])) {
			return i, false
		}
	}
	return 0, true
}

func checkClose(t *testing.T, what string, got, want []float32, scale float32) {
	t.Helper()
	if i, ok := near(got, want, scale); !ok {
		if i < 0 {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		t.Fatalf("%s[%d] = %g, CPU engine %g", what, i, got[i], want[i])
	}
}

// maxAbs is the largest magnitude in x (at least 1e-3), the scale of the
// absolute tolerance for a gradient tensor.
func maxAbs(x []float32) float32 {
	m := float32(1e-3)
	for _, v := range x {
		m = max(m, float32(math.Abs(float64(v))))
	}
	return m
}

func tinyGPT(t *testing.T) *gpt.Model {
	t.Helper()
	cfg := gpt.TinyConfig()
	cfg.VocabSize, cfg.NPositions, cfg.NEmbd, cfg.NLayer, cfg.NHead = 61, 16, 32, 2, 4
	cfg.BOSTokenID, cfg.EOSTokenID = 60, 60
	m, err := gpt.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func batch(r *rand.Rand, b, n, vocab int) (ids, targets []int) {
	for range b * n {
		ids = append(ids, r.IntN(vocab))
		targets = append(targets, r.IntN(vocab))
	}
	targets[1] = -1 // an ignored position
	return ids, targets
}

// cpuGrads runs loss on the CPU engine and returns its value and the
// gradient of every param (nil where none flowed).
func cpuGrads(ps []nn.NamedParam, loss xla.Func) (float32, []*tensor.Tensor) {
	nn.ZeroGrad(ps)
	for _, p := range ps {
		p.P.Grad = nil
	}
	tp := ag.NewTape()
	l := loss(tp)
	tp.Backward(l)
	var gs []*tensor.Tensor
	for _, p := range ps {
		gs = append(gs, p.P.Grad)
	}
	return l.Item(), gs
}

func compareGrads(t *testing.T, ps []nn.NamedParam, loss xla.Func, tr *xla.Trainer) {
	t.Helper()
	wantL, want := cpuGrads(ps, loss)
	gotL, got, err := tr.Gradients(loss)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "loss", []float32{gotL}, []float32{wantL}, 1)
	for i, p := range ps {
		if want[i] == nil {
			if got[i] != nil {
				t.Fatalf("%s: gradient on GoMLX, none on the CPU engine", p.Name)
			}
			continue
		}
		if got[i] == nil {
			t.Fatalf("%s: no gradient on GoMLX", p.Name)
		}
		if !slices.Equal(got[i].Shape, want[i].Shape) {
			t.Fatalf("%s: gradient shape %v, want %v", p.Name, got[i].Shape, want[i].Shape)
		}
		checkClose(t, "grad "+p.Name, got[i].Data, want[i].Data, maxAbs(want[i].Data))
	}
}

func TestGPTLogitsLossGradients(t *testing.T) {
	m := tinyGPT(t)
	ps := m.Params()
	tr, err := xla.NewTrainer(open(t), ps, xla.Config{AdamW: optim.DefaultAdamW()})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	const b, n = 2, 8
	ids, targets := batch(r, b, n, m.Config.VocabSize)

	logits := func(tp *ag.Tape) *ag.Var { return m.Forward(tp, ids, b, n) }
	got, err := tr.Forward(logits)
	if err != nil {
		t.Fatal(err)
	}
	want := logits(ag.NewNoGradTape())
	if !slices.Equal(got.Shape, want.Shape()) {
		t.Fatalf("logits shape %v, want %v", got.Shape, want.Shape())
	}
	checkClose(t, "logits", got.Data, want.Data(), maxAbs(want.Data()))

	// The materialised-logits loss (model/gpt) and the fused LM-head loss (nn.GPT).
	compareGrads(t, ps, func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids, targets, b, n, -1) }, tr)
	compareGrads(t, ps, func(tp *ag.Tape) *ag.Var { return m.GPT.Loss(tp, ids, targets, b, n, -1) }, tr)
}

// A second batch of the same shape reuses the executable and must see its
// own ids (not the first batch's, baked in); a new length compiles again.
func TestCacheFeedsData(t *testing.T) {
	m := tinyGPT(t)
	ps := m.Params()
	tr, err := xla.NewTrainer(open(t), ps, xla.Config{AdamW: optim.DefaultAdamW()})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{8, 8, 5} {
		ids, targets := batch(r, 2, n, m.Config.VocabSize)
		compareGrads(t, ps, func(tp *ag.Tape) *ag.Var { return m.GPT.Loss(tp, ids, targets, 2, n, -1) }, tr)
	}
	if c := tr.Compiled(); c != 2 {
		t.Fatalf("%d executables compiled for two shapes", c)
	}
	// A changed constant of an op is a different program.
	ids, targets := batch(r, 2, 8, m.Config.VocabSize)
	for _, s := range []float32{0.5, 2} {
		compareGrads(t, ps, func(tp *ag.Tape) *ag.Var {
			return tp.Scale(m.GPT.Loss(tp, ids, targets, 2, 8, -1), s)
		}, tr)
	}
	if c := tr.Compiled(); c != 4 {
		t.Fatalf("%d executables after two scaled losses, want 4", c)
	}
}

func TestAdamWStepsMatchCPU(t *testing.T) {
	mCPU, mDev := tinyGPT(t), tinyGPT(t)
	cfg := optim.DefaultAdamW()
	cfg.WeightDecay = 0.1
	cfg.NoDecay = optim.MatricesOnly
	const clip, lr = 0.5, 3e-3
	opt := optim.NewAdamW(mCPU.Params(), cfg)
	tr, err := xla.NewTrainer(open(t), mDev.Params(), xla.Config{AdamW: cfg, ClipNorm: clip})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for step := range 3 {
		ids, targets := batch(r, 2, 8, mCPU.Config.VocabSize)
		opt.ZeroGrad()
		tp := ag.NewTape()
		l := mCPU.GPT.Loss(tp, ids, targets, 2, 8, -1)
		tp.Backward(l)
		norm := optim.ClipGradNorm(opt.Params, clip)
		opt.Step(lr)

		gotL, gotNorm, err := tr.Step(lr, func(tp *ag.Tape) *ag.Var { return mDev.GPT.Loss(tp, ids, targets, 2, 8, -1) })
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, fmt.Sprintf("step %d loss", step), []float32{gotL}, []float32{l.Item()}, 1)
		checkClose(t, fmt.Sprintf("step %d norm", step), []float32{float32(gotNorm)}, []float32{float32(norm)}, 1)
		if norm <= clip {
			t.Fatalf("step %d: norm %g does not exercise clipping at %g", step, norm, clip)
		}
	}
	devOpt := optim.NewAdamW(mDev.Params(), cfg)
	if err := tr.Sync(devOpt); err != nil {
		t.Fatal(err)
	}
	if devOpt.Steps != 3 {
		t.Fatalf("synced %d steps, want 3", devOpt.Steps)
	}
	cp, dp := mCPU.Params(), mDev.Params()
	off, moff, total := 0, 0, 0
	for i := range cp {
		off += checkParams(t, cp[i].Name, dp[i].P.Value.Data, cp[i].P.Value.Data, lr)
		total += len(cp[i].P.Value.Data)
		moff += checkMoments(t, "exp_avg "+cp[i].Name, devOpt.M[i].Data, opt.M[i].Data)
	}
	if off*100 > total || moff*100 > total {
		t.Fatalf("%d parameter and %d first-moment elements of %d differ beyond tolerance", off, moff, total)
	}
	t.Logf("%d parameter and %d first-moment elements of %d beyond the tight tolerance (all within lr/20 and 1e-3 of scale)", off, moff, total)
}

// checkParams compares parameters after AdamW steps and returns how many
// elements differ beyond the usual tolerance. Adam divides by the
// gradient's own scale, so elements whose gradient is rounding noise (e.g.
// the key biases, which softmax ignores) move by up to lr in either
// direction on either engine; none may differ by more than lr/20 (a wrong
// update rule, decay or clipping shifts most elements).
func checkParams(t *testing.T, name string, got, want []float32, lr float32) int {
	t.Helper()
	scale := maxAbs(want)
	off := 0
	for i := range got {
		d := float32(math.Abs(float64(got[i] - want[i])))
		if d > lr/20 || math.IsNaN(float64(got[i])) {
			t.Fatalf("param %s[%d] = %g, CPU engine %g", name, i, got[i], want[i])
		}
		if float64(d) > *atolFlag*float64(scale)+*rtolFlag*math.Abs(float64(want[i])) {
			off++
		}
	}
	return off
}

// checkMoments compares first moments after several steps: they sum the
// steps' gradients, which depend on parameters that may have moved
// differently where their own gradient was rounding noise (see
// checkParams), so a few elements may differ beyond the tight tolerance,
// none by more than 1e-3 of the tensor's scale. It returns how many do.
func checkMoments(t *testing.T, name string, got, want []float32) int {
	t.Helper()
	scale := maxAbs(want)
	off := 0
	for i := range got {
		d := math.Abs(float64(got[i] - want[i]))
		if d > 1e-3*float64(scale) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s[%d] = %g, CPU engine %g", name, i, got[i], want[i])
		}
		if d > *atolFlag*float64(scale)+*rtolFlag*math.Abs(float64(want[i])) {
			off++
		}
	}
	return off
}

func TestMLPPolicies(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const b, obsDim = 6, 5
	obs := tensor.New(b, obsDim)
	for i := range obs.Data {
		obs.Data[i] = float32(r.NormFloat64())
	}
	adv := tensor.New(b)
	for i := range adv.Data {
		adv.Data[i] = float32(r.NormFloat64())
	}
	mask := tensor.FromSlice([]float32{1, 1, 0, 1, 1, 1}, b)

	cat := mlp.NewCategorical(r, obsDim, []int{16, 16}, 3)
	acts := tensor.FromSlice([]float32{0, 2, 1, 1, 0, 2}, b)
	gauss := mlp.NewGaussian(r, obsDim, []int{16}, []float64{-1, -2}, []float64{1, 2})
	gActs := tensor.New(b, 2)
	for i := range gActs.Data {
		gActs.Data[i] = float32(r.NormFloat64())
	}
	val := mlp.NewValue(r, obsDim, []int{8})

	for _, c := range []struct {
		name string
		ps   []nn.NamedParam
		loss xla.Func
	}{
		{"categorical", cat.Params(), func(tp *ag.Tape) *ag.Var {
			logp, ent := cat.LogProb(tp, ag.Const(obs), acts)
			pg := tp.MaskedMean(tp.Mul(logp, ag.Const(adv)), mask)
			return tp.Sub(tp.Neg(pg), tp.Scale(tp.MeanAll(ent), 0.01))
		}},
		{"gaussian", gauss.Params(), func(tp *ag.Tape) *ag.Var {
			logp, ent := gauss.LogProb(tp, ag.Const(obs), gActs)
			ratio := tp.Exp(tp.Sub(logp, ag.Detach(logp)))
			s := tp.Minimum(tp.Mul(ratio, ag.Const(adv)), tp.Mul(tp.Clamp(ratio, 0.8, 1.2), ag.Const(adv)))
			return tp.Sub(tp.Neg(tp.MeanAll(s)), tp.Scale(ent, 0.001))
		}},
		{"value", val.Params("critic"), func(tp *ag.Tape) *ag.Var {
			v := tp.Reshape(val.Forward(tp, ag.Const(obs)), b)
			return tp.MeanAll(tp.Square(tp.Sub(v, ag.Const(adv))))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := xla.NewTrainer(open(t), c.ps, xla.Config{AdamW: optim.DefaultAdamW()})
			if err != nil {
				t.Fatal(err)
			}
			compareGrads(t, c.ps, c.loss, tr)
		})
	}
}

// Every op of the vocabulary on small shapes, against the CPU engine.
func TestOps(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	rnd := func(shape ...int) *ag.Var {
		x := tensor.New(shape...)
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		return ag.NewParam(x)
	}
	a, b, c := rnd(2, 3, 4), rnd(4), rnd(2, 3, 4)
	w, w2, bias := rnd(4, 5), rnd(2, 4, 5), rnd(5)
	pos := rnd(2, 3, 4)
	for i := range pos.Value.Data {
		pos.Value.Data[i] = float32(math.Abs(float64(pos.Value.Data[i]))) + 0.5
	}
	qkv, kv := rnd(2, 5, 24), rnd(2, 7, 8)
	q := rnd(2, 3, 8)
	ln, lb := rnd(4), rnd(4)
	cond := tensor.New(2, 3, 4)
	for i := range cond.Data {
		cond.Data[i] = float32(i % 3 % 2)
	}
	ps := []nn.NamedParam{{Name: "a", P: a}, {Name: "b", P: b}, {Name: "c", P: c}, {Name: "w", P: w}, {Name: "w2", P: w2},
		{Name: "bias", P: bias}, {Name: "pos", P: pos}, {Name: "qkv", P: qkv}, {Name: "kv", P: kv}, {Name: "q", P: q},
		{Name: "ln", P: ln}, {Name: "lb", P: lb}}
	tr, err := xla.NewTrainer(open(t), ps, xla.Config{AdamW: optim.DefaultAdamW()})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]func(tp *ag.Tape) *ag.Var{
		"add-broadcast": func(tp *ag.Tape) *ag.Var { return tp.Add(a, b) },
		"sub-mul-div":   func(tp *ag.Tape) *ag.Var { return tp.Div(tp.Mul(tp.Sub(a, c), b), pos) },
		"min-max":       func(tp *ag.Tape) *ag.Var { return tp.Add(tp.Minimum(a, c), tp.Maximum(a, b)) },
		"clamp-where":   func(tp *ag.Tape) *ag.Var { return tp.Where(cond, tp.Clamp(a, -0.5, 0.7), c) },
		"unary": func(tp *ag.Tape) *ag.Var {
			x := tp.Add(tp.Exp(tp.Scale(a, 0.3)), tp.Log(pos))
			x = tp.Add(x, tp.Tanh(c))
			x = tp.Add(x, tp.Sigmoid(a))
			x = tp.Add(x, tp.ReLU(c))
			x = tp.Add(x, tp.Sqrt(pos))
			x = tp.Add(x, tp.Square(a))
			x = tp.Add(x, tp.Abs(c))
			x = tp.Add(x, tp.GELU(a))
			x = tp.Add(x, tp.LogSigmoid(c))
			return tp.AddScalar(tp.Neg(x), 0.25)
		},
		"matmul":    func(tp *ag.Tape) *ag.Var { return tp.MatMul(a, w, false, false) },
		"matmul-tb": func(tp *ag.Tape) *ag.Var { return tp.MatMul(a, c, false, true) },
		"matmul-ta": func(tp *ag.Tape) *ag.Var { return tp.MatMul(a, c, true, false) },
		"matmul-shared": func(tp *ag.Tape) *ag.Var {
			return tp.MatMul(tp.Slice(tp.Transpose(w, 0, 1), 0, 0, 3), w2, false, false)
		},
		"linear": func(tp *ag.Tape) *ag.Var { return tp.Linear(a, w, bias) },
		"reduce": func(tp *ag.Tape) *ag.Var {
			return tp.Add(tp.Add(tp.Sum(a, 1, true), tp.Mean(c, -2, true)), tp.Max(a, 1, true))
		},
		"reduce-all": func(tp *ag.Tape) *ag.Var {
			return tp.Add(tp.Add(tp.SumAll(a), tp.MeanAll(c)), tp.Add(tp.MaxAll(c), tp.Sum(a, 2, false)))
		},
		"softmax":     func(tp *ag.Tape) *ag.Var { return tp.Mul(tp.Softmax(a), tp.LogSoftmax(c)) },
		"shape":       func(tp *ag.Tape) *ag.Var { return tp.Permute(tp.Reshape(tp.Transpose(a, 0, 2), -1, 2, 3), 2, 0, 1) },
		"slice-cat":   func(tp *ag.Tape) *ag.Var { return tp.Concat(1, tp.Slice(a, 1, 1, 3), c) },
		"stack":       func(tp *ag.Tape) *ag.Var { return tp.Stack(-1, a, c) },
		"embedding":   func(tp *ag.Tape) *ag.Var { return tp.Embedding(w, []int{3, 0, 3, 1}) },
		"take":        func(tp *ag.Tape) *ag.Var { return tp.TakeAlongLast(a, []int{0, 3, 2, 1, 1, 0}) },
		"layernorm":   func(tp *ag.Tape) *ag.Var { return tp.LayerNorm(a, ln, lb, 1e-5) },
		"attention":   func(tp *ag.Tape) *ag.Var { return tp.Attention(qkv, 2) },
		"attn-cached": func(tp *ag.Tape) *ag.Var { return tp.AttentionQKV(q, kv, tp.Scale(kv, -1), 2) },
		"ce":          func(tp *ag.Tape) *ag.Var { return tp.CrossEntropy(a, []int{0, 3, -1, 1, 2, 2}, -1) },
		"ce-empty":    func(tp *ag.Tape) *ag.Var { return tp.CrossEntropy(a, []int{-1, -1, -1, -1, -1, -1}, -1) },
		"linear-ce": func(tp *ag.Tape) *ag.Var {
			return tp.LinearCrossEntropy(c, tp.Transpose(w, 0, 1), []int{0, 3, 4, 1, 2, -1}, -1)
		},
		"masked-mean": func(tp *ag.Tape) *ag.Var { return tp.MaskedMean(a, cond) },
		"detach":      func(tp *ag.Tape) *ag.Var { x := tp.Exp(a); return tp.Mul(x, ag.Detach(x)) },
	}
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		f := ops[name]
		t.Run(name, func(t *testing.T) {
			want := f(ag.NewNoGradTape())
			got, err := tr.Forward(f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Shape, want.Shape()) {
				t.Fatalf("shape %v, want %v", got.Shape, want.Shape())
			}
			checkClose(t, "value", got.Data, want.Data(), maxAbs(want.Data()))
			// Gradients of a weighted sum of the output, so every element counts.
			wts := tensor.New(want.Shape()...)
			for i := range wts.Data {
				wts.Data[i] = float32(i%5) - 1.5
			}
			compareGrads(t, ps, func(tp *ag.Tape) *ag.Var { return tp.SumAll(tp.Mul(f(tp), ag.Const(wts))) }, tr)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	for _, d := range []string{"", "tpu", "xla:", "go:no_such_option"} {
		if _, err := xla.Open(d); err == nil {
			t.Errorf("Open(%q) succeeded", d)
		}
	}
	if xla.Built {
		_, err := xla.Open("xla:/nonexistent/dir/xla_cuda_plugin.so")
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/dir/xla_cuda_plugin.so") {
			t.Errorf("missing plugin: error %v does not name the path", err)
		}
	} else if _, err := xla.Open("xla:cuda"); err == nil || !strings.Contains(err.Error(), "-tags xla") {
		t.Errorf("xla device in a default build: error %v", err)
	}
}

// A loss that returns a host constant (not computed by the tape) is an
// error, not a panic.
func TestBadFunc(t *testing.T) {
	p := ag.NewParam(tensor.New(3))
	tr, err := xla.NewTrainer(open(t), []nn.NamedParam{{Name: "p", P: p}}, xla.Config{AdamW: optim.DefaultAdamW()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.Gradients(func(tp *ag.Tape) *ag.Var { return ag.Const(tensor.New(1)) }); err == nil {
		t.Fatal("gradient of a constant succeeded")
	}
	if _, _, err := tr.Gradients(func(tp *ag.Tape) *ag.Var { return tp.Exp(p) }); err == nil {
		t.Fatal("gradient of a 3-element loss succeeded")
	}
}

// Training on GoMLX, Sync and a checkpoint: the saved files load on the CPU
// engine with the trained values, and a checkpoint loaded back continues on
// GoMLX from those values.
func TestCheckpointRoundTrip(t *testing.T) {
	m := tinyGPT(t)
	before := slices.Clone(m.GPT.Wte.W.Value.Data)
	tr, err := xla.NewTrainer(open(t), m.Params(), xla.Config{AdamW: optim.DefaultAdamW(), ClipNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	ids, targets := batch(r, 2, 8, m.Config.VocabSize)
	loss := func(m *gpt.Model) xla.Func {
		return func(tp *ag.Tape) *ag.Var { return m.GPT.Loss(tp, ids, targets, 2, 8, -1) }
	}
	if _, _, err := tr.Step(1e-2, loss(m)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.GPT.Wte.W.Value.Data, before) {
		t.Fatal("host values changed before Sync")
	}
	if err := tr.Sync(nil); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(m.GPT.Wte.W.Value.Data, before) {
		t.Fatal("Sync left the host values unchanged")
	}
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := gpt.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, bp := m.Params(), back.Params()
	for i := range want {
		if !slices.Equal(bp[i].P.Value.Data, want[i].P.Value.Data) {
			t.Fatalf("%s differs after save and load", want[i].Name)
		}
	}
	// The loaded model on GoMLX: the same loss as the CPU engine on it.
	tr2, err := xla.NewTrainer(open(t), back.Params(), xla.Config{AdamW: optim.DefaultAdamW()})
	if err != nil {
		t.Fatal(err)
	}
	compareGrads(t, back.Params(), loss(back), tr2)
}

// Params a loss does not read keep their values and moments through Step.
func TestStepLeavesUnusedParams(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	val := mlp.NewValue(r, 3, []int{4})
	spare := ag.NewParam(tensor.FromSlice([]float32{1, -2, 3}, 3))
	ps := append(val.Params("critic"), nn.NamedParam{Name: "spare", P: spare})
	cfg := optim.DefaultAdamW()
	cfg.WeightDecay = 0.5
	tr, err := xla.NewTrainer(open(t), ps, xla.Config{AdamW: cfg})
	if err != nil {
		t.Fatal(err)
	}
	obs := tensor.FromSlice([]float32{0.5, -1, 2, 1, 0, -0.5}, 2, 3)
	before := slices.Clone(val.Net.Layers[0].W.Value.Data)
	for range 2 {
		if _, _, err := tr.Step(0.1, func(tp *ag.Tape) *ag.Var {
			return tp.MeanAll(tp.Square(val.Forward(tp, ag.Const(obs))))
		}); err != nil {
			t.Fatal(err)
		}
	}
	o := optim.NewAdamW(ps, cfg)
	if err := tr.Sync(o); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(spare.Value.Data, []float32{1, -2, 3}) || slices.ContainsFunc(o.M[len(ps)-1].Data, func(x float32) bool { return x != 0 }) {
		t.Fatalf("unused param changed: %v, moments %v", spare.Value.Data, o.M[len(ps)-1].Data)
	}
	if slices.Equal(val.Net.Layers[0].W.Value.Data, before) {
		t.Fatal("used param unchanged after two steps")
	}
}

// A constant that changes on every call compiles every call, but the cache
// stays bounded and each result is right.
func TestCacheBounded(t *testing.T) {
	p := ag.NewParam(tensor.FromSlice([]float32{1, 2}, 2))
	tr, err := xla.NewTrainer(open(t), []nn.NamedParam{{Name: "p", P: p}}, xla.Config{AdamW: optim.DefaultAdamW()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		s := float32(i)
		got, err := tr.Forward(func(tp *ag.Tape) *ag.Var { return tp.Scale(p, s) })
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Data, []float32{s, 2 * s}) {
			t.Fatalf("scale %g: %v", s, got.Data)
		}
	}
	if c := tr.Compiled(); c > 16 {
		t.Fatalf("%d executables kept", c)
	}
}
