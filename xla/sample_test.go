package xla_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"

	"rlhf/ag"
	"rlhf/model/gpt"
	"rlhf/optim"
	"rlhf/xla"
)

// raggedPrompts are prompts of lengths 1 to 5 for the tiny GPT (vocab 61,
// 16 positions: up to 12 new tokens, so that the decode steps after the
// merge of the first 8 recent cache slots are compared too).
var raggedPrompts = [][]int{{3}, {5, 9, 12}, {1, 2, 3, 4, 5}, {60, 7}, {44, 8, 31, 2}}

// lpTol is the largest difference allowed between the device's and the
// CPU's log-probabilities: float32 logits that differ in summation order
// (~1e-6), through a log-softmax over 61 tokens.
const lpTol = 1e-4

// sharpGPT is the tiny GPT with its weight matrices and embeddings scaled
// by 8: at GPT-2's initial scale the logits hardly depend on positions or
// context, and comparisons would prove little.
func sharpGPT(t *testing.T) *gpt.Model {
	t.Helper()
	m := tinyGPT(t)
	for _, np := range m.Params() {
		if len(np.P.Value.Shape) == 2 {
			for i := range np.P.Value.Data {
				np.P.Value.Data[i] *= 8
			}
		}
	}
	return m
}

func newSampler(t *testing.T, m *gpt.Model) *xla.Sampler {
	t.Helper()
	s, err := xla.NewSampler(open(t), m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func sampleBoth(t *testing.T, m *gpt.Model, s *xla.Sampler, prompts [][]int, cfg gpt.SampleConfig) (dev, cpu *gpt.Samples) {
	t.Helper()
	cpu, err := m.Sample(context.Background(), prompts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dev, err = s.Sample(context.Background(), prompts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dev, cpu
}

func sameSamples(t *testing.T, dev, cpu *gpt.Samples) {
	t.Helper()
	if len(dev.Tokens) != len(cpu.Tokens) || len(dev.LogProbs) != len(cpu.LogProbs) {
		t.Fatalf("device %d rows, CPU %d", len(dev.Tokens), len(cpu.Tokens))
	}
	for i := range cpu.Tokens {
		if !slices.Equal(dev.Tokens[i], cpu.Tokens[i]) {
			t.Fatalf("row %d: device tokens %v, CPU %v", i, dev.Tokens[i], cpu.Tokens[i])
		}
		if len(dev.LogProbs[i]) != len(cpu.LogProbs[i]) {
			t.Fatalf("row %d: %d device log-probs, CPU %d", i, len(dev.LogProbs[i]), len(cpu.LogProbs[i]))
		}
		for j, lp := range cpu.LogProbs[i] {
			if d := math.Abs(float64(dev.LogProbs[i][j] - lp)); !(d <= lpTol) {
				t.Fatalf("row %d token %d: device log-prob %g, CPU %g", i, j, dev.LogProbs[i][j], lp)
			}
		}
	}
}

func TestSamplerGreedyMatchesCPU(t *testing.T) {
	m := sharpGPT(t)
	s := newSampler(t, m)
	cfg := gpt.SampleConfig{MaxNewTokens: 12}
	dev, cpu := sampleBoth(t, m, s, raggedPrompts, cfg)
	sameSamples(t, dev, cpu)
	distinct := map[int]bool{}
	for _, row := range cpu.Tokens {
		if len(row) != cfg.MaxNewTokens {
			t.Fatalf("row of %d tokens, want %d", len(row), cfg.MaxNewTokens)
		}
		for _, tok := range row {
			distinct[tok] = true
		}
	}
	if len(distinct) < 3 {
		t.Fatalf("greedy decoding drew only tokens %v: the comparison proves little", distinct)
	}

	// EOS: make a token that greedy decoding reaches mid-row the EOS token;
	// rows stop there (it kept), the others run on, as on the CPU.
	eos := cpu.Tokens[1][3]
	m.Config.EOSTokenID = eos
	defer func() { m.Config.EOSTokenID = 60 }()
	cfg.StopAtEOS = true
	dev, cpu = sampleBoth(t, m, s, raggedPrompts, cfg)
	sameSamples(t, dev, cpu)
	if n := len(cpu.Tokens[1]); n > 4 || cpu.Tokens[1][n-1] != eos {
		t.Fatalf("row 1 %v does not stop at EOS %d", cpu.Tokens[1], eos)
	}
}

func TestSamplerSampleMatchesCPU(t *testing.T) {
	m := sharpGPT(t)
	s := newSampler(t, m)
	for _, temp := range []float64{1, 0.05} {
		cfg := gpt.SampleConfig{MaxNewTokens: 12, Temperature: temp, Seed: 11}
		dev, cpu := sampleBoth(t, m, s, raggedPrompts, cfg)
		// Without top-k/top-p the device uses the CPU sampler's rule and
		// uniforms: the same tokens, barring float32 rounding at a boundary.
		sameSamples(t, dev, cpu)
	}
	cfg := gpt.SampleConfig{MaxNewTokens: 6, Temperature: 0.5, Seeds: []uint64{9, 8, 7, 6, 5}}
	dev, cpu := sampleBoth(t, m, s, raggedPrompts, cfg)
	sameSamples(t, dev, cpu)
}

func TestSamplerSeedReproducible(t *testing.T) {
	m := sharpGPT(t)
	s := newSampler(t, m)
	for _, cfg := range []gpt.SampleConfig{
		{MaxNewTokens: 8, Temperature: 1, Seed: 3},
		{MaxNewTokens: 8, Temperature: 0.1, TopK: 5, Seed: 3},
		{MaxNewTokens: 8, Temperature: 0.1, TopP: 0.7, Seed: 3},
		{MaxNewTokens: 8, Temperature: 0.1, TopK: 8, TopP: 0.6, Seed: 3},
	} {
		a, err := s.Sample(context.Background(), raggedPrompts, cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Sample(context.Background(), raggedPrompts, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a.Tokens {
			if !slices.Equal(a.Tokens[i], b.Tokens[i]) || !slices.Equal(a.LogProbs[i], b.LogProbs[i]) {
				t.Fatalf("%+v row %d: %v then %v", cfg, i, a.Tokens[i], b.Tokens[i])
			}
		}
		cfg.Seed = 4
		c, err := s.Sample(context.Background(), raggedPrompts, cfg)
		if err != nil {
			t.Fatal(err)
		}
		differ := false
		for i := range a.Tokens {
			differ = differ || !slices.Equal(a.Tokens[i], c.Tokens[i])
		}
		if !differ {
			t.Fatalf("%+v: seeds 3 and 4 drew the same tokens", cfg)
		}
	}
}

// filtered returns the distribution gpt.Model.Sample draws from, given one
// row of logits: softmax(logits/temp) restricted to the top-k, then top-p tokens.
func filtered(logits []float32, cfg gpt.SampleConfig) []float64 {
	V := len(logits)
	z := make([]float64, V)
	zmax := math.Inf(-1)
	for i, v := range logits {
		z[i] = float64(v) / cfg.Temperature
		zmax = max(zmax, z[i])
	}
	order := make([]int, V)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return z[order[a]] > z[order[b]] })
	if cfg.TopK > 0 && cfg.TopK < V {
		order = order[:cfg.TopK]
	}
	if cfg.TopP > 0 && cfg.TopP < 1 {
		var total, acc float64
		for _, i := range order {
			total += math.Exp(z[i] - zmax)
		}
		for n, i := range order {
			acc += math.Exp(z[i] - zmax)
			if acc >= cfg.TopP*total {
				order = order[:n+1]
				break
			}
		}
	}
	p := make([]float64, V)
	var sum float64
	for _, i := range order {
		p[i] = math.Exp(z[i] - zmax)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// chiSquareCritical is the upper 0.1% point of the chi-square distribution
// with df degrees of freedom (Wilson-Hilferty; z = 3.09).
func chiSquareCritical(df int) float64 {
	k := float64(df)
	c := 1 - 2/(9*k) + 3.09*math.Sqrt(2/(9*k))
	return k * c * c * c
}

func TestSamplerDistribution(t *testing.T) {
	m := tinyGPT(t)
	s := newSampler(t, m)
	prompt := []int{5, 9, 12}
	tp := ag.NewNoGradTape()
	all := m.Forward(tp, prompt, 1, len(prompt)).Value.Data // (1, T, V)
	V := m.Config.VocabSize
	logits := all[(len(prompt)-1)*V:]
	const n = 4096
	prompts := make([][]int, n)
	for i := range prompts {
		prompts[i] = prompt
	}
	for _, cfg := range []gpt.SampleConfig{
		{MaxNewTokens: 1, Temperature: 0.05, Seed: 1},
		{MaxNewTokens: 1, Temperature: 0.05, TopK: 6, Seed: 2},
		{MaxNewTokens: 1, Temperature: 0.1, TopP: 0.8, Seed: 3},
		{MaxNewTokens: 1, Temperature: 0.15, TopK: 12, TopP: 0.9, Seed: 4},
	} {
		p := filtered(logits, cfg)
		got, err := s.Sample(context.Background(), prompts, cfg)
		if err != nil {
			t.Fatal(err)
		}
		counts := make([]float64, V)
		for i, row := range got.Tokens {
			tok := row[0]
			if p[tok] == 0 {
				t.Fatalf("%+v: drew token %d, outside the kept set", cfg, tok)
			}
			if d := math.Abs(float64(got.LogProbs[i][0]) - math.Log(p[tok])); d > lpTol {
				t.Fatalf("%+v: token %d log-prob %g, want %g", cfg, tok, got.LogProbs[i][0], math.Log(p[tok]))
			}
			counts[tok]++
		}
		// Chi-square over the kept tokens, merging those expected < 5 times.
		var chi, mergedObs, mergedExp float64
		df, kept := -1, 0
		for i := range V {
			e := p[i] * n
			if e == 0 {
				continue
			}
			kept++
			if e < 5 {
				mergedObs, mergedExp = mergedObs+counts[i], mergedExp+e
				continue
			}
			chi += (counts[i] - e) * (counts[i] - e) / e
			df++
		}
		if mergedExp > 0 {
			chi += (mergedObs - mergedExp) * (mergedObs - mergedExp) / mergedExp
			df++
		}
		if kept < 3 || df < 2 {
			t.Fatalf("%+v keeps %d tokens (%d bins): too peaked to test", cfg, kept, df+1)
		}
		if crit := chiSquareCritical(df); chi > crit {
			t.Fatalf("%+v: chi-square %.1f over %d degrees of freedom exceeds %.1f", cfg, chi, df, crit)
		}
		t.Logf("%+v: %d tokens kept, chi-square %.2f, df %d (0.1%% point %.1f)", cfg, kept, chi, df, chiSquareCritical(df))
	}
}

func TestSamplerExecutablesBounded(t *testing.T) {
	m := tinyGPT(t)
	s := newSampler(t, m)
	cfg := gpt.SampleConfig{MaxNewTokens: 9, Temperature: 1, Seed: 1}
	if _, err := s.Sample(context.Background(), raggedPrompts, cfg); err != nil {
		t.Fatal(err)
	}
	if got := s.Compiled(); got != 2 {
		t.Fatalf("%d executables after one call, want 2 (prefill, decode)", got)
	}
	if tm := s.Timings(); tm.Steps != cfg.MaxNewTokens-1 || tm.Builds != 2 {
		t.Fatalf("timings %+v: want %d decode steps, 2 builds", tm, cfg.MaxNewTokens-1)
	}
	// Other prompts, batch size and lengths within the same buckets reuse both.
	if _, err := s.Sample(context.Background(), [][]int{{1, 2}, {3, 4, 5, 6, 7, 8}, {9}, {10}, {11}, {12, 13}}, cfg); err != nil {
		t.Fatal(err)
	}
	if got := s.Compiled(); got != 2 {
		t.Fatalf("%d executables after a call in the same buckets, want 2", got)
	}
	// Greedy decoding is another pair.
	if _, err := s.Sample(context.Background(), raggedPrompts, gpt.SampleConfig{MaxNewTokens: 9}); err != nil {
		t.Fatal(err)
	}
	if got := s.Compiled(); got != 4 {
		t.Fatalf("%d executables after a greedy call, want 4", got)
	}
	// More than 8 decode steps (in the same cache bucket) add the merge of
	// the recent caches, shared by all modes.
	s.ResetTimings()
	for _, sc := range []gpt.SampleConfig{{MaxNewTokens: 12}, {MaxNewTokens: 11, Temperature: 1}} {
		if _, err := s.Sample(context.Background(), raggedPrompts, sc); err != nil {
			t.Fatal(err)
		}
	}
	if got, tm := s.Compiled(), s.Timings(); got != 5 || tm.Builds != 1 || tm.Steps != 11+10 {
		t.Fatalf("%d executables, timings %+v after two calls with a merge; want 5, 1 build, 21 steps", got, tm)
	}
	// Prepare builds what a call would, and nothing twice.
	s2 := newSampler(t, m)
	pre, dec, err := s2.Prepare(5, 5, cfg)
	if err != nil || pre <= 0 || dec <= 0 || s2.Compiled() != 2 {
		t.Fatalf("Prepare: %v, %v, %v; %d executables", pre, dec, err, s2.Compiled())
	}
	if _, err := s2.Sample(context.Background(), raggedPrompts, cfg); err != nil {
		t.Fatal(err)
	}
	if tm := s2.Timings(); tm.Builds != 2 {
		t.Fatalf("%d builds after Prepare and a call in its buckets, want 2", tm.Builds)
	}
	if _, _, err := s2.Prepare(0, 5, cfg); err == nil {
		t.Fatal("Prepare for no prompts: no error")
	}
	b, tpb, tmax := xla.Buckets(5, 5, 9)
	if b != 8 || tpb != 8 || tmax != 32 {
		t.Fatalf("Buckets(5, 5, 9) = %d, %d, %d; want 8, 8, 32", b, tpb, tmax)
	}
}

func TestSamplerUpload(t *testing.T) {
	m := sharpGPT(t)
	s := newSampler(t, m)
	cfg := gpt.SampleConfig{MaxNewTokens: 6}
	before, err := s.Sample(context.Background(), raggedPrompts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A changed host model: the device keeps the old copy until Upload.
	m2, err := gpt.New(m.Config, 99)
	if err != nil {
		t.Fatal(err)
	}
	for i, np := range m.Params() {
		copy(np.P.Value.Data, m2.Params()[i].P.Value.Data)
	}
	stale, err := s.Sample(context.Background(), raggedPrompts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sameSamples(t, stale, before)
	if err := s.Upload(); err != nil {
		t.Fatal(err)
	}
	dev, cpu := sampleBoth(t, m, s, raggedPrompts, cfg)
	sameSamples(t, dev, cpu)
	changed := false
	for i := range cpu.Tokens {
		changed = changed || !slices.Equal(cpu.Tokens[i], before.Tokens[i])
	}
	if !changed {
		t.Fatal("new parameters gave the same tokens: the test proves nothing")
	}
}

func TestSamplerBadInput(t *testing.T) {
	m := tinyGPT(t)
	s := newSampler(t, m)
	ok := gpt.SampleConfig{MaxNewTokens: 4}
	for _, c := range []struct {
		name    string
		prompts [][]int
		cfg     gpt.SampleConfig
	}{
		{"empty prompt", [][]int{{1}, {}}, ok},
		{"token out of range", [][]int{{1, 61}}, ok},
		{"negative token", [][]int{{-1}}, ok},
		{"too long", [][]int{make([]int, 14)}, ok},
		{"no new tokens", [][]int{{1}}, gpt.SampleConfig{}},
		{"negative temperature", [][]int{{1}}, gpt.SampleConfig{MaxNewTokens: 2, Temperature: -1}},
		{"seeds", [][]int{{1}, {2}}, gpt.SampleConfig{MaxNewTokens: 2, Temperature: 1, Seeds: []uint64{1}}},
		{"tiny temperature", [][]int{{1}}, gpt.SampleConfig{MaxNewTokens: 2, Temperature: 1e-40}},
	} {
		if _, err := s.Sample(context.Background(), c.prompts, c.cfg); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	out, err := s.Sample(context.Background(), nil, ok)
	if err != nil || len(out.Tokens) != 0 {
		t.Fatalf("no prompts: %v, %v", out, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Sample(ctx, [][]int{{1}}, ok); err == nil {
		t.Fatal("cancelled context: no error")
	}
	if _, err := xla.NewSampler(nil, m); err == nil {
		t.Fatal("nil backend: no error")
	}
}

// ExampleSampler samples on a GoMLX device with the configuration and
// result types of gpt.Model.Sample; greedy decoding gives the CPU's tokens.
func ExampleSampler() {
	cfg := gpt.TinyConfig()
	cfg.VocabSize, cfg.NPositions, cfg.NEmbd, cfg.NLayer, cfg.NHead = 61, 16, 32, 2, 4
	cfg.BOSTokenID, cfg.EOSTokenID = 60, 60
	m, err := gpt.New(cfg, 7)
	if err != nil {
		panic(err)
	}
	backend, err := xla.Open("go") // or "xla:cuda", "xla:/abs/path/xla_cuda_plugin.so"
	if err != nil {
		panic(err)
	}
	s, err := xla.NewSampler(backend, m)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	prompts := [][]int{{60}, {60, 5, 9}}
	sc := gpt.SampleConfig{MaxNewTokens: 4} // temperature 0: greedy
	dev, err := s.Sample(context.Background(), prompts, sc)
	if err != nil {
		panic(err)
	}
	cpu, err := m.Sample(context.Background(), prompts, sc)
	if err != nil {
		panic(err)
	}
	for i := range prompts {
		fmt.Printf("row %d: %d tokens, as on the CPU: %t\n", i, len(dev.Tokens[i]), slices.Equal(dev.Tokens[i], cpu.Tokens[i]))
	}
	// Output:
	// row 0: 4 tokens, as on the CPU: true
	// row 1: 4 tokens, as on the CPU: true
}

func TestSamplerUseTrainer(t *testing.T) {
	m := sharpGPT(t)
	s := newSampler(t, m)
	tr, err := xla.NewTrainer(s.Backend, m.Params(), xla.Config{AdamW: optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseTrainer(tr); err != nil {
		t.Fatal(err)
	}
	cfg := gpt.SampleConfig{MaxNewTokens: 6}
	before, err := s.Sample(context.Background(), raggedPrompts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Train on the device towards token 7 everywhere; the sampler reads
	// the new parameters without Sync or Upload.
	ids := []int{1, 2, 3, 4, 5, 6, 7, 8}
	targets := []int{7, 7, 7, 7, 7, 7, 7, 7}
	for range 5 {
		if _, _, err := tr.Step(0.05, func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids, targets, 1, 8, -1) }); err != nil {
			t.Fatal(err)
		}
	}
	dev, err := s.Sample(context.Background(), raggedPrompts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Sync(nil); err != nil {
		t.Fatal(err)
	}
	cpu, err := m.Sample(context.Background(), raggedPrompts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sameSamples(t, dev, cpu)
	changed := false
	for i := range cpu.Tokens {
		changed = changed || !slices.Equal(cpu.Tokens[i], before.Tokens[i])
	}
	if !changed {
		t.Fatal("training changed no greedy token: the test proves nothing")
	}
	other := sharpGPT(t)
	if err := s.UseTrainer(nil); err == nil {
		t.Fatal("nil trainer: no error")
	}
	tr2, err := xla.NewTrainer(s.Backend, other.Params(), xla.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseTrainer(tr2); err == nil {
		t.Fatal("a trainer of another model's parameters: no error")
	}
}
