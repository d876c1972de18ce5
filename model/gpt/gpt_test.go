package gpt

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/safetensors"
	"rlhf/tensor"
)

// testConfig is a small model that still has several heads and layers.
func testConfig() Config {
	return Config{VocabSize: 50, NPositions: 32, NEmbd: 16, NLayer: 2, NHead: 4,
		LayerNormEpsilon: 1e-5, EOSTokenID: 49, Tokenizer: "default"}
}

func randIDs(r *rand.Rand, n, v int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = r.IntN(v)
	}
	return ids
}

func newTestModel(t *testing.T, cfg Config) *Model {
	t.Helper()
	m, err := New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Larger weights than GPT-2's init so that the logits are far from
	// uniform and differences show.
	r := rand.New(rand.NewPCG(3, 3))
	for _, p := range m.Params() {
		for i := range p.P.Value.Data {
			p.P.Value.Data[i] += float32(r.NormFloat64()) * 0.3
		}
	}
	return m
}

func TestNumParams(t *testing.T) {
	cfg := TinyConfig()
	cfg.ValueHead, cfg.RewardHead = true, true
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range m.Params() {
		n += len(p.P.Value.Data)
	}
	if n != cfg.NumParams() {
		t.Fatalf("params %d, NumParams %d", n, cfg.NumParams())
	}
	if base := TinyConfig().NumParams(); base < 1_330_000 || base > 1_340_000 {
		t.Fatalf("tiny config has %d params, want about 1.33M", base)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.NEmbd = 0 },
		func(c *Config) { c.NHead = 3 },
		func(c *Config) { c.LayerNormEpsilon = 0 },
		func(c *Config) { c.ActivationFunction = "relu" },
		func(c *Config) { n := 7; c.NInner = &n },
		func(c *Config) { c.EOSTokenID = 50 },
	}
	for i, f := range bad {
		c := testConfig()
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: no error for %+v", i, c)
		}
	}
}

// TestPaddedBatchMatchesSingles checks the right-padding scheme: each row of
// a padded batch gets the log-probs, values and rewards it gets alone.
func TestPaddedBatchMatchesSingles(t *testing.T) {
	cfg := testConfig()
	cfg.ValueHead, cfg.RewardHead = true, true
	m := newTestModel(t, cfg)
	r := rand.New(rand.NewPCG(1, 2))
	rows := [][]int{randIDs(r, 9, 50), randIDs(r, 4, 50), randIDs(r, 13, 50)}
	ids, T, lens := PadRight(rows)
	for i := range ids { // filler other than PadID must not matter either
		if ids[i] == PadID {
			ids[i] = r.IntN(50)
		}
	}
	for b, row := range rows {
		copy(ids[b*T:], row)
	}
	mask := make([]float32, len(ids))
	for b := range rows {
		for j := 0; j < lens[b]; j++ {
			mask[b*T+j] = 1
		}
	}
	tp := ag.NewNoGradTape()
	lp := m.LogProbs(tp, ids, len(rows), T, mask).Value.Data
	vals := m.Values(tp, ids, len(rows), T).Value.Data
	rews := m.Rewards(tp, ids, len(rows), T, lens).Value.Data
	for b, row := range rows {
		n := len(row)
		one := ag.NewNoGradTape()
		lp1 := m.LogProbs(one, row, 1, n, nil).Value.Data
		v1 := m.Values(one, row, 1, n).Value.Data
		r1 := m.Rewards(one, row, 1, n, nil).Value.Data
		for j := 0; j < T-1; j++ {
			got := lp[b*(T-1)+j]
			if j >= n-1 {
				if got != 0 {
					t.Fatalf("row %d pos %d: masked log-prob %g, want 0", b, j, got)
				}
				continue
			}
			if d := math.Abs(float64(got - lp1[j])); d > 1e-5 {
				t.Fatalf("row %d pos %d: padded log-prob %g, alone %g", b, j, got, lp1[j])
			}
		}
		for j := 0; j < n; j++ {
			if d := math.Abs(float64(vals[b*T+j] - v1[j])); d > 1e-5 {
				t.Fatalf("row %d pos %d: padded value %g, alone %g", b, j, vals[b*T+j], v1[j])
			}
		}
		if d := math.Abs(float64(rews[b] - r1[0])); d > 1e-5 {
			t.Fatalf("row %d: padded reward %g, alone %g", b, rews[b], r1[0])
		}
	}
}

// TestLogProbsMatchLogits checks LogProbs against a log-softmax computed
// here from Forward's logits.
func TestLogProbsMatchLogits(t *testing.T) {
	m := newTestModel(t, testConfig())
	r := rand.New(rand.NewPCG(4, 4))
	B, T, V := 2, 7, 50
	ids := randIDs(r, B*T, V)
	tp := ag.NewNoGradTape()
	logits := slices.Clone(m.Forward(tp, ids, B, T).Value.Data)
	lp := m.LogProbs(tp, ids, B, T, nil).Value.Data
	ent := m.Entropy(tp, ids, B, T).Value.Data
	for b := range B {
		for j := 0; j < T; j++ {
			row := logits[(b*T+j)*V : (b*T+j+1)*V]
			var mx float64 = math.Inf(-1)
			for _, v := range row {
				mx = max(mx, float64(v))
			}
			var s float64
			for _, v := range row {
				s += math.Exp(float64(v) - mx)
			}
			lse := mx + math.Log(s)
			var h float64
			for _, v := range row {
				l := float64(v) - lse
				h -= math.Exp(l) * l
			}
			if d := math.Abs(h - float64(ent[b*T+j])); d > 1e-4 {
				t.Fatalf("entropy (%d,%d): %g, want %g", b, j, ent[b*T+j], h)
			}
			if j == T-1 {
				continue
			}
			want := float64(row[ids[b*T+j+1]]) - lse
			if d := math.Abs(want - float64(lp[b*(T-1)+j])); d > 1e-4 {
				t.Fatalf("log-prob (%d,%d): %g, want %g", b, j, lp[b*(T-1)+j], want)
			}
		}
	}
}

// TestLogProbsGradient checks that gradients flow through LogProbs and the
// heads: a step against the gradient raises the summed log-prob.
func TestLogProbsGradient(t *testing.T) {
	cfg := testConfig()
	cfg.ValueHead = true
	m := newTestModel(t, cfg)
	r := rand.New(rand.NewPCG(5, 5))
	ids := randIDs(r, 2*6, 50)
	sum := func() float32 {
		tp := ag.NewNoGradTape()
		var s float32
		for _, v := range m.LogProbs(tp, ids, 2, 6, nil).Value.Data {
			s += v
		}
		return s
	}
	before := sum()
	tp := ag.NewTape()
	loss := tp.Add(tp.Neg(tp.SumAll(m.LogProbs(tp, ids, 2, 6, nil))), tp.Scale(tp.SumAll(m.Values(tp, ids, 2, 6)), 0))
	tp.Backward(loss)
	for _, p := range m.Params() {
		if p.P.Grad == nil {
			t.Fatalf("no gradient for %s", p.Name)
		}
		for i, g := range p.P.Grad.Data {
			p.P.Value.Data[i] -= 1e-2 * g
		}
	}
	if after := sum(); !(after > before) {
		t.Fatalf("log-prob sum %g -> %g after a gradient step", before, after)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	cfg := testConfig()
	cfg.ValueHead, cfg.RewardHead = true, true
	m := newTestModel(t, cfg)
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Config.NEmbd != cfg.NEmbd || m2.VHead == nil || m2.RHead == nil || m2.Config.Tokenizer != "default" {
		t.Fatalf("loaded config %+v", m2.Config)
	}
	a, b := m.Params(), m2.Params()
	if len(a) != len(b) {
		t.Fatalf("%d params, loaded %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || tensor.MaxAbsDiff(a[i].P.Value, b[i].P.Value) != 0 {
			t.Fatalf("param %s differs after load", a[i].Name)
		}
	}
	js, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"vocab_size": 50`, `"n_positions": 32`, `"n_embd": 16`, `"n_layer": 2`, `"n_head": 4`, `"layer_norm_epsilon": 0.00001`, `"model_type": "gpt2"`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("config.json lacks %s:\n%s", key, js)
		}
	}
}

// writeHF writes m's tensors as a Hugging Face GPT2LMHeadModel file would
// name them: a transformer. prefix, attention-mask buffers and lm_head.weight.
func writeHF(t *testing.T, m *Model, dir string, edit func(map[string]*tensor.Tensor)) {
	t.Helper()
	ts := map[string]*tensor.Tensor{}
	for _, p := range m.Params() {
		ts["transformer."+p.Name] = p.P.Value
	}
	for i := range m.Config.NLayer {
		P := m.Config.NPositions
		ts["transformer.h."+itoa(i)+".attn.bias"] = tensor.New(1, 1, P, P)
		ts["transformer.h."+itoa(i)+".attn.masked_bias"] = tensor.New(1)
	}
	ts["lm_head.weight"] = m.GPT.Wte.W.Value
	if edit != nil {
		edit(ts)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), ts, nil); err != nil {
		t.Fatal(err)
	}
	hf := `{"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
  "bos_token_id": 49, "eos_token_id": 49, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05,
  "model_type": "gpt2", "n_ctx": 32, "n_embd": 16, "n_head": 4, "n_inner": null, "n_layer": 2,
  "n_positions": 32, "vocab_size": 50}`
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(hf), 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestLoadHuggingFaceLayout(t *testing.T) {
	m := newTestModel(t, testConfig())
	dir := t.TempDir()
	writeHF(t, m, dir, nil)
	m2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{1, 2, 3, 4, 5}
	a := m.Forward(ag.NewNoGradTape(), ids, 1, 5).Value
	b := m2.Forward(ag.NewNoGradTape(), ids, 1, 5).Value
	if d := tensor.MaxAbsDiff(a, b); d != 0 {
		t.Fatalf("logits differ by %g after loading the HF layout", d)
	}
}

func TestLoadErrors(t *testing.T) {
	m := newTestModel(t, testConfig())
	cases := map[string]func(map[string]*tensor.Tensor){
		"missing tensor h.1.mlp.c_fc.weight": func(ts map[string]*tensor.Tensor) { delete(ts, "transformer.h.1.mlp.c_fc.weight") },
		"has shape":                          func(ts map[string]*tensor.Tensor) { ts["transformer.wpe.weight"] = tensor.New(31, 16) },
		"unexpected tensors v_head.weight":   func(ts map[string]*tensor.Tensor) { ts["v_head.weight"] = tensor.New(16, 1) },
	}
	for want, edit := range cases {
		dir := t.TempDir()
		writeHF(t, m, dir, edit)
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one containing %q", err, want)
		}
	}
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "config") {
		t.Errorf("empty dir: error %v", err)
	}
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"vocab_size": 50, "n_embd": 15, "n_head": 4, "n_layer": 1, "n_positions": 8}`), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "multiple") {
		t.Errorf("bad config: error %v", err)
	}
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"vocab_size": 50,`), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "parse") {
		t.Errorf("malformed config: error %v", err)
	}
}

// greedyByRecompute decodes greedily by running the full forward pass over
// the whole sequence at every step.
func greedyByRecompute(m *Model, prompt []int, n int) []int {
	seq := slices.Clone(prompt)
	V := m.Config.VocabSize
	for range n {
		tp := ag.NewNoGradTape()
		T := len(seq)
		lg := m.Forward(tp, seq, 1, T).Value.Data[(T-1)*V : T*V]
		best := 0
		for i, v := range lg {
			if v > lg[best] {
				best = i
			}
		}
		seq = append(seq, best)
	}
	return seq[len(prompt):]
}

func TestKVCacheGreedyMatchesRecompute(t *testing.T) {
	m := newTestModel(t, testConfig())
	prompts := [][]int{{3, 14, 15, 9, 2, 6}, {5}, {35, 8, 9, 7}}
	got, err := m.Sample(context.Background(), prompts, SampleConfig{MaxNewTokens: 12})
	if err != nil {
		t.Fatal(err)
	}
	topk1, err := m.Sample(context.Background(), prompts, SampleConfig{MaxNewTokens: 12, Temperature: 0.8, TopK: 1, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range prompts {
		want := greedyByRecompute(m, p, 12)
		if !slices.Equal(got.Tokens[i], want) {
			t.Fatalf("row %d: KV-cache greedy %v, recompute %v", i, got.Tokens[i], want)
		}
		if !slices.Equal(topk1.Tokens[i], want) {
			t.Fatalf("row %d: top-k=1 %v, greedy %v", i, topk1.Tokens[i], want)
		}
		for _, lp := range topk1.LogProbs[i] {
			if lp != 0 {
				t.Fatalf("row %d: top-k=1 log-prob %g, want 0", i, lp)
			}
		}
	}
}

// TestSampleLogProbsMatchModel: at temperature 1 without filtering the
// sampling distribution is the model's, so the log-probs Sample returns
// (from the KV cache) equal TokenLogProbs (a full forward pass).
func TestSampleLogProbsMatchModel(t *testing.T) {
	m := newTestModel(t, testConfig())
	prompts := [][]int{{1, 2, 3}, {4, 5, 6, 7, 8, 9, 10}, {11}}
	s, err := m.Sample(context.Background(), prompts, SampleConfig{MaxNewTokens: 10, Temperature: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := m.TokenLogProbs(prompts, s.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	for i := range prompts {
		if len(s.Tokens[i]) != 10 {
			t.Fatalf("row %d: %d tokens, want 10", i, len(s.Tokens[i]))
		}
		for j := range s.Tokens[i] {
			if d := math.Abs(float64(s.LogProbs[i][j] - ref[i][j])); d > 1e-4 {
				t.Fatalf("row %d token %d: sampled log-prob %g, model %g", i, j, s.LogProbs[i][j], ref[i][j])
			}
		}
	}
}

func TestSampleReproducibleAndFiltered(t *testing.T) {
	m := newTestModel(t, testConfig())
	prompts := [][]int{{1, 2}, {3, 4}, {1, 2}}
	cfg := SampleConfig{MaxNewTokens: 8, Temperature: 1.3, TopK: 5, TopP: 0.9, Seeds: []uint64{10, 11, 10}}
	a, err := m.Sample(context.Background(), prompts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Sample(context.Background(), prompts[:1], SampleConfig{MaxNewTokens: 8, Temperature: 1.3, TopK: 5, TopP: 0.9, Seeds: []uint64{10}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Tokens[0], a.Tokens[2]) || !slices.Equal(a.Tokens[0], b.Tokens[0]) {
		t.Fatalf("same prompt and seed gave %v, %v and alone %v", a.Tokens[0], a.Tokens[2], b.Tokens[0])
	}
	// Each sampled token lies in the top 5 of the model's distribution and
	// has a valid log-prob.
	for i := range prompts {
		for j, tok := range a.Tokens[i] {
			seq := append(slices.Clone(prompts[i]), a.Tokens[i][:j]...)
			tp := ag.NewNoGradTape()
			lg := m.Forward(tp, seq, 1, len(seq)).Value.Data[(len(seq)-1)*50:]
			above := 0
			for _, v := range lg {
				if v > lg[tok] {
					above++
				}
			}
			if above >= 5 {
				t.Fatalf("row %d token %d ranks %d, outside top-k 5", i, j, above+1)
			}
			if a.LogProbs[i][j] > 1e-6 {
				t.Fatalf("row %d token %d: log-prob %g", i, j, a.LogProbs[i][j])
			}
		}
	}
}

func TestSampleStopsAtEOS(t *testing.T) {
	cfg := testConfig()
	m := newTestModel(t, cfg)
	// Make EOS overwhelmingly likely everywhere: raise its embedding row
	// along the direction of the final LayerNorm bias.
	for i := range m.GPT.LnF.B.Value.Data {
		m.GPT.LnF.B.Value.Data[i] = 5
		m.GPT.LnF.W.Value.Data[i] = 0
		m.GPT.Wte.W.Value.Data[cfg.EOSTokenID*cfg.NEmbd+i] = 5
	}
	s, err := m.Sample(context.Background(), [][]int{{1}, {2, 3}}, SampleConfig{MaxNewTokens: 6, Temperature: 1, StopAtEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, toks := range s.Tokens {
		if !slices.Equal(toks, []int{cfg.EOSTokenID}) {
			t.Fatalf("row %d: %v, want a lone EOS", i, toks)
		}
	}
}

func TestSampleErrors(t *testing.T) {
	m := newTestModel(t, testConfig())
	ctx := context.Background()
	cases := []struct {
		prompts [][]int
		cfg     SampleConfig
		want    string
	}{
		{[][]int{{1}}, SampleConfig{}, "max new tokens"},
		{[][]int{{1}}, SampleConfig{MaxNewTokens: 1, Temperature: -1}, "temperature"},
		{[][]int{{1}}, SampleConfig{MaxNewTokens: 1, TopP: 2}, "top-p"},
		{[][]int{{}}, SampleConfig{MaxNewTokens: 1}, "empty"},
		{[][]int{{50}}, SampleConfig{MaxNewTokens: 1}, "outside the vocabulary"},
		{[][]int{{1, 2}}, SampleConfig{MaxNewTokens: 32}, "positions"},
		{[][]int{{1}}, SampleConfig{MaxNewTokens: 1, Seeds: []uint64{1, 2}}, "seeds"},
	}
	for _, c := range cases {
		if _, err := m.Sample(ctx, c.prompts, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %+v: error %v, want %q", c.prompts, c.cfg, err, c.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Sample(cctx, [][]int{{1}}, SampleConfig{MaxNewTokens: 3}); err == nil {
		t.Error("cancelled context: no error")
	}
}

// BenchmarkSample measures sampling throughput of the tiny model: batch 64,
// 16-token prompts, 128 new tokens (needs 143 positions, so the benchmark
// model has 256), temperature 1, with top-k 50 and from the whole
// distribution (as PPO samples). Besides wall-clock tokens/s it reports
// tokens per CPU-second of the whole process, which a shared, loaded machine
// disturbs less.
func BenchmarkSample(b *testing.B) {
	cfg := TinyConfig()
	cfg.NPositions = 256
	m, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	prompts := make([][]int, 64)
	for i := range prompts {
		prompts[i] = randIDs(r, 16, cfg.VocabSize)
	}
	for _, c := range []struct {
		name string
		topK int
	}{{"topk50", 50}, {"plain", 0}} {
		b.Run(c.name, func(b *testing.B) {
			sc := SampleConfig{MaxNewTokens: 128, Temperature: 1, TopK: c.topK}
			n := 0
			cpu0 := processCPUSeconds()
			for i := 0; b.Loop(); i++ {
				sc.Seed = uint64(i)
				s, err := m.Sample(context.Background(), prompts, sc)
				if err != nil {
					b.Fatal(err)
				}
				for _, t := range s.Tokens {
					n += len(t)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
			if cpu := processCPUSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(float64(n)/cpu, "tokens/cpu-s")
			}
		})
	}
}

// TestTopCandidates checks the heap-based top-k/top-p filter against sorting.
func TestTopCandidates(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for trial := range 200 {
		V := 1 + r.IntN(60)
		if trial%20 == 0 { // vocabulary-sized: many replacements in top-k's heap
			V = 1000 + r.IntN(4000)
		}
		z := make([]float64, V)
		for i := range z {
			z[i] = math.Round(r.NormFloat64()*4) / 2 // ties happen
		}
		k := r.IntN(V + 2)
		p := []float64{0, 0.3, 0.9, 1}[r.IntN(4)]
		zmax := slices.Max(z)
		order := make([]int, V)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			if z[a] > z[b] {
				return -1
			}
			if z[a] < z[b] {
				return 1
			}
			return 0
		})
		want := order
		if k > 0 && k < V {
			want = want[:k]
		}
		if p > 0 && p < 1 {
			var tot, acc float64
			for _, i := range want {
				tot += math.Exp(z[i] - zmax)
			}
			for j, i := range want {
				acc += math.Exp(z[i] - zmax)
				if acc >= p*tot {
					want = want[:j+1]
					break
				}
			}
		}
		cand := make([]int, V)
		for i := range cand {
			cand[i] = i
		}
		got, sum := topCandidates(z, cand, zmax, k, p)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d (V=%d k=%d p=%g): got %v, want %v", trial, V, k, p, got, want)
		}
		var ws float64
		for _, i := range want {
			ws += math.Exp(z[i] - zmax)
		}
		if math.Abs(ws-sum) > 1e-9*ws {
			t.Fatalf("trial %d: sum %g, want %g", trial, sum, ws)
		}
	}
}

// refForward is an independent float64 GPT-2 forward pass written from the
// definition, reading weights by their Hugging Face names: it returns the
// logits (T, V) of one sequence.
func refForward(m *Model, ids []int) [][]float64 {
	w := map[string][]float32{}
	for _, p := range m.Params() {
		w[p.Name] = p.P.Value.Data
	}
	cfg := m.Config
	C, T, H, V := cfg.NEmbd, len(ids), cfg.NHead, cfg.VocabSize
	hd := C / H
	eps := cfg.LayerNormEpsilon
	ln := func(x []float64, g, b []float32) []float64 {
		var mu, va float64
		for _, v := range x {
			mu += v
		}
		mu /= float64(len(x))
		for _, v := range x {
			va += (v - mu) * (v - mu)
		}
		va /= float64(len(x))
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = (v-mu)/math.Sqrt(va+eps)*float64(g[i]) + float64(b[i])
		}
		return out
	}
	conv1d := func(x []float64, wt, b []float32, out int) []float64 { // x·W + b, W (in, out)
		y := make([]float64, out)
		for j := range out {
			s := float64(b[j])
			for i, v := range x {
				s += v * float64(wt[i*out+j])
			}
			y[j] = s
		}
		return y
	}
	gelu := func(x float64) float64 {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	x := make([][]float64, T)
	for t, id := range ids {
		x[t] = make([]float64, C)
		for i := range C {
			x[t][i] = float64(w["wte.weight"][id*C+i]) + float64(w["wpe.weight"][t*C+i])
		}
	}
	for l := range cfg.NLayer {
		p := func(s string) []float32 { return w["h."+itoa(l)+"."+s] }
		qkv := make([][]float64, T)
		for t := range T {
			qkv[t] = conv1d(ln(x[t], p("ln_1.weight"), p("ln_1.bias")), p("attn.c_attn.weight"), p("attn.c_attn.bias"), 3*C)
		}
		for t := range T {
			y := make([]float64, C)
			for h := range H {
				sc := make([]float64, t+1)
				mx := math.Inf(-1)
				for s := 0; s <= t; s++ {
					var d float64
					for i := range hd {
						d += qkv[t][h*hd+i] * qkv[s][C+h*hd+i]
					}
					sc[s] = d / math.Sqrt(float64(hd))
					mx = max(mx, sc[s])
				}
				var z float64
				for s := range sc {
					sc[s] = math.Exp(sc[s] - mx)
					z += sc[s]
				}
				for s := range sc {
					for i := range hd {
						y[h*hd+i] += sc[s] / z * qkv[s][2*C+h*hd+i]
					}
				}
			}
			a := conv1d(y, p("attn.c_proj.weight"), p("attn.c_proj.bias"), C)
			for i := range C {
				x[t][i] += a[i]
			}
		}
		for t := range T {
			hdn := conv1d(ln(x[t], p("ln_2.weight"), p("ln_2.bias")), p("mlp.c_fc.weight"), p("mlp.c_fc.bias"), 4*C)
			for i := range hdn {
				hdn[i] = gelu(hdn[i])
			}
			o := conv1d(hdn, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"), C)
			for i := range C {
				x[t][i] += o[i]
			}
		}
	}
	logits := make([][]float64, T)
	for t := range T {
		h := ln(x[t], w["ln_f.weight"], w["ln_f.bias"])
		logits[t] = make([]float64, V)
		for v := range V {
			for i := range C {
				logits[t][v] += h[i] * float64(w["wte.weight"][v*C+i])
			}
		}
	}
	return logits
}

// TestForwardMatchesReference compares the model's logits with refForward.
func TestForwardMatchesReference(t *testing.T) {
	m := newTestModel(t, testConfig())
	r := rand.New(rand.NewPCG(6, 6))
	ids := randIDs(r, 2*9, 50)
	got := m.Forward(ag.NewNoGradTape(), ids, 2, 9).Value.Data
	var worst float64
	for b := range 2 {
		want := refForward(m, ids[b*9:(b+1)*9])
		for tt := range 9 {
			for v := range 50 {
				worst = max(worst, math.Abs(float64(got[(b*9+tt)*50+v])-want[tt][v]))
			}
		}
	}
	if worst > 1e-4 {
		t.Fatalf("logits differ from the float64 reference by up to %g (tolerance 1e-4)", worst)
	}
}

func TestPadTo(t *testing.T) {
	ids, T, _ := PadRight([][]int{{5, 6, 7}, {8}})
	got, to := PadTo(ids, 2, T, 5)
	want := []int{5, 6, 7, PadID, PadID, 8, PadID, PadID, PadID, PadID}
	if to != 5 || !slices.Equal(got, want) {
		t.Errorf("PadTo = %v, %d; want %v, 5", got, to, want)
	}
	if same, t2 := PadTo(ids, 2, T, 2); t2 != T || &same[0] != &ids[0] {
		t.Errorf("PadTo to fewer columns gave width %d (a copy: %v)", t2, &same[0] != &ids[0])
	}
}
