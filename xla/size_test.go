package xla_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/xla"
)

// stepGraph builds (without compiling) the training step of a GPT of cfg
// on batch sequences and returns its statistics.
func stepGraph(t testing.TB, cfg nn.GPTConfig, batch int) xla.BuildStats {
	t.Helper()
	b, err := xla.Open(*device)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewGPT(cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	ac := optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, NoDecay: optim.MatricesOnly}
	tr, err := xla.NewTrainer(b, m.Params(), xla.Config{AdamW: ac, ClipNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	ids := make([]int, batch*cfg.Ctx)
	for i := range ids {
		ids[i] = r.IntN(cfg.Vocab)
	}
	st, err := tr.StepGraph(func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids, ids, batch, cfg.Ctx, -1) })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStepGraphSize bounds the size of a whole training step's graph: it
// grows by a fixed number of nodes per layer and not at all with the batch,
// the sequence length or the vocabulary (nothing is unrolled per row, head,
// chunk or token), and the values XLA would fold on the host while
// compiling stay as small as one attention mask.
func TestStepGraphSize(t *testing.T) {
	base := nn.GPTConfig{Vocab: 61, Ctx: 8, Layers: 1, Heads: 4, Dim: 32}
	nodes := func(cfg nn.GPTConfig, batch int) xla.BuildStats {
		st := stepGraph(t, cfg, batch)
		if st.Nodes <= 0 || st.Ops <= 0 {
			t.Fatalf("%+v: empty graph %+v", cfg, st)
		}
		return st
	}
	var per []int
	prev := nodes(base, 2)
	if prev.Folded > base.Ctx*base.Ctx {
		t.Errorf("largest folded value %d elements, want <= T² = %d", prev.Folded, base.Ctx*base.Ctx)
	}
	for l := 2; l <= 3; l++ {
		c := base
		c.Layers = l
		st := nodes(c, 2)
		per = append(per, st.Nodes-prev.Nodes)
		if st.Ops-prev.Ops != 10 {
			t.Errorf("layer %d adds %d traced ops, want 10", l, st.Ops-prev.Ops)
		}
		prev = st
	}
	if per[0] != per[1] || per[0] <= 0 || per[0] > 1000 {
		t.Errorf("nodes per layer %v: want the same positive count, at most 1000", per)
	}
	one := nodes(base, 2)
	for _, c := range []struct {
		what  string
		cfg   nn.GPTConfig
		batch int
	}{
		{"batch 16", base, 16},
		{"vocab 4096", nn.GPTConfig{Vocab: 4096, Ctx: 8, Layers: 1, Heads: 4, Dim: 32}, 2},
		{"sequence 64", nn.GPTConfig{Vocab: 61, Ctx: 64, Layers: 1, Heads: 4, Dim: 32}, 2},
		{"width 64, 8 heads", nn.GPTConfig{Vocab: 61, Ctx: 8, Layers: 1, Heads: 8, Dim: 64}, 2},
	} {
		st := nodes(c.cfg, c.batch)
		if lim := xla.LargestStepValue(c.cfg, c.batch); st.Largest > lim {
			t.Errorf("%s: largest value %d elements, want <= %d (the largest activation, logits or weight)", c.what, st.Largest, lim)
		}
		if st.Nodes != one.Nodes || st.Ops != one.Ops {
			t.Errorf("%s: %d nodes, %d ops; want %d, %d as at batch 2, vocab 61, T 8, d 32",
				c.what, st.Nodes, st.Ops, one.Nodes, one.Ops)
		}
		if lim := c.cfg.Ctx * c.cfg.Ctx; st.Folded > lim {
			t.Errorf("%s: largest folded value %d elements, want <= T² = %d", c.what, st.Folded, lim)
		}
	}
}

// BenchmarkStepGraphTiny builds the reference tiny GPT's step graph (d 128,
// 4 layers, T 128, vocab 4096, batch 16) without compiling it: the host
// cost of tracing and differentiating before XLA sees the program.
func BenchmarkStepGraphTiny(b *testing.B) {
	cfg := nn.GPTConfig{Vocab: 4096, Ctx: 128, Layers: 4, Heads: 4, Dim: 128}
	var st xla.BuildStats
	for b.Loop() {
		st = stepGraph(b, cfg, 16)
	}
	b.ReportMetric(float64(st.Nodes), "nodes")
	b.ReportMetric(float64(st.Folded), "folded-elems")
	b.ReportMetric(float64(st.Largest), "largest-elems")
}

// TestTimingsAndState checks the accounting of Step (one build, then
// replays) and that donating the device state to each step keeps it usable:
// Sync reads it, another step continues from it.
func TestTimingsAndState(t *testing.T) {
	m := tinyGPT(t)
	ps := m.Params()
	tr, err := xla.NewTrainer(open(t), ps, xla.Config{AdamW: optim.DefaultAdamW(), ClipNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(8, 9))
	step := func() float32 {
		ids, targets := batch(r, 2, 8, m.Config.VocabSize)
		l, _, err := tr.Step(1e-2, func(tp *ag.Tape) *ag.Var { return m.GPT.Loss(tp, ids, targets, 2, 8, -1) })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for range 3 {
		step()
	}
	tm := tr.Timings()
	if tm.Calls != 3 || tm.Builds != 1 || tm.Build <= 0 || tm.Run <= 0 || tm.Replay <= 0 || tm.Feed <= 0 {
		t.Errorf("timings after 3 steps: %+v", tm)
	}
	if tm.Host() != tm.Replay+tm.Feed+tm.Fetch {
		t.Errorf("Host %v is not Replay+Feed+Fetch", tm.Host())
	}
	if st := tr.LastBuild(); st.Ops == 0 || st.Nodes < st.Ops || st.Compile <= 0 {
		t.Errorf("build stats %+v", st)
	}
	tr.ResetTimings()
	if tr.Timings() != (xla.Timings{}) {
		t.Errorf("after reset: %+v", tr.Timings())
	}
	before := slices.Clone(ps[0].P.Value.Data)
	if err := tr.Sync(nil); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(before, ps[0].P.Value.Data) {
		t.Error("Sync after 3 steps left wte unchanged")
	}
	synced := slices.Clone(ps[0].P.Value.Data)
	step()
	if err := tr.Sync(nil); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(synced, ps[0].P.Value.Data) || tr.Steps != 4 {
		t.Errorf("a step after Sync did not move wte (steps %d)", tr.Steps)
	}
}
