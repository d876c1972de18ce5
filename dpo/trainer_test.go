package dpo

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"rlhf/model/gpt"
)

func smallGPT(t testing.TB, seed uint64) *gpt.Model {
	t.Helper()
	m, err := gpt.New(gpt.Config{VocabSize: 64, NPositions: 32, NEmbd: 32, NLayer: 2, NHead: 2,
		LayerNormEpsilon: 1e-5, ActivationFunction: "gelu_new", EOSTokenID: 63}, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pairs prefers completions of even tokens to completions of odd ones.
func pairs(rng *rand.Rand, n int) []Pair {
	out := make([]Pair, n)
	for i := range out {
		p := Pair{Prompt: []int{1 + rng.IntN(60), 1 + rng.IntN(60)}}
		for range 3 + rng.IntN(3) {
			p.Chosen = append(p.Chosen, 2*(1+rng.IntN(30)))
			p.Rejected = append(p.Rejected, 2*rng.IntN(30)+1)
		}
		out[i] = p
	}
	return out
}

func TestLayout(t *testing.T) {
	cfg := gpt.Config{VocabSize: 64, NPositions: 8, EOSTokenID: 63}
	s, err := layout(cfg, []int{1, 2, 3, 4, 5}, []int{6, 7, 8, 9, 10})
	if err != nil || len(s.ids) != 8 || s.start != 3 || s.ids[0] != 3 || s.ids[7] != 10 {
		t.Errorf("cut prompt: %+v, %v", s, err)
	}
	s, _ = layout(cfg, []int{1}, []int{2, 3, 4, 5, 6, 7, 8, 9, 10})
	if len(s.ids) != 8 || s.start != 1 || s.ids[7] != 8 {
		t.Errorf("cut completion: %+v", s)
	}
	s, _ = layout(cfg, nil, nil)
	if len(s.ids) != 2 || s.ids[0] != 63 || s.ids[1] != 63 || s.start != 1 {
		t.Errorf("empty prompt and completion: %+v", s)
	}
	if _, err := layout(cfg, []int{64}, nil); err == nil {
		t.Error("out-of-vocabulary id should be an error")
	}
}

func TestTrainerLearnsPreferenceAndCachesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	train, val := pairs(rng, 192), pairs(rng, 64)
	policy := smallGPT(t, 3)
	c := DefaultConfig()
	c.LR, c.Warmup, c.Epochs = 3e-3, 2, 2
	tr, err := NewTrainer(c, policy, policy, train, val) // the reference is the policy before training
	if err != nil {
		t.Fatal(err)
	}
	refW0 := tr.train[0].refW
	loss0, s0, err := tr.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	if !near(loss0, math.Ln2, 1e-5) || s0.Margin != 0 || s0.KL != 0 {
		t.Errorf("before training: loss %v (want log 2), margin %v, KL %v (want 0)", loss0, s0.Margin, s0.KL)
	}
	w0 := policy.Params()[0].P.Value.Clone()
	var first float64
	err = tr.Train(context.Background(), func(step int, loss float64, s Stats) error {
		if step == 1 {
			first = loss
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !near(first, math.Ln2, 1e-5) {
		t.Errorf("first step loss %v, want log 2 (policy = reference)", first)
	}
	if tr.Steps != tr.TotalSteps() || tr.TotalSteps() != 2*12 {
		t.Errorf("steps %d of %d, want 24", tr.Steps, tr.TotalSteps())
	}
	loss, s, err := tr.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out: loss %.4f, %+v", loss, s)
	if s.Accuracy < 0.9 || !(s.Margin > 0) || !(loss < math.Ln2-0.1) {
		t.Errorf("held-out after training: loss %v accuracy %v margin %v; want accuracy > 0.9 and a positive margin", loss, s.Accuracy, s.Margin)
	}
	if tr.train[0].refW != refW0 {
		t.Error("reference log-probs changed during training: they must be cached before the first update")
	}
	if w := policy.Params()[0].P.Value.Data; w[2] == w0.Data[2] && w[4] == w0.Data[4] {
		t.Error("policy embedding did not change")
	}
}

func TestTrainerIPOAndErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	policy, ref := smallGPT(t, 5), smallGPT(t, 5)
	c := DefaultConfig()
	c.Loss, c.LR = LossIPO, 1e-3
	tr, err := NewTrainer(c, policy, ref, pairs(rng, 8), nil)
	if err != nil {
		t.Fatal(err)
	}
	loss, _, err := tr.Step([]int{0, 1, 2, 3})
	if err != nil || !near(loss, 25, 1e-3) { // h = 0 at the start: (0 - 1/(2·0.1))² = 25
		t.Errorf("first IPO step loss %v (err %v), want 25", loss, err)
	}
	if _, _, err := tr.Step([]int{8}); err == nil {
		t.Error("index out of range should be an error")
	}
	if _, _, err := tr.Step(nil); err == nil {
		t.Error("empty minibatch should be an error")
	}
	if _, err := NewTrainer(c, policy, ref, nil, nil); err == nil {
		t.Error("no training pairs should be an error")
	}
	bad := []Pair{{Prompt: []int{1}, Chosen: []int{99}, Rejected: []int{2}}}
	if _, err := NewTrainer(c, policy, ref, bad, nil); err == nil {
		t.Error("out-of-vocabulary pair should be an error")
	}
	c.Beta = -1
	if _, err := NewTrainer(c, policy, ref, pairs(rng, 2), nil); err == nil {
		t.Error("invalid config should be an error")
	}
	if got := tr.LR(0); !near(got, c.LR/10, 1e-12) {
		t.Errorf("warm-up LR(0) = %v, want %v", got, c.LR/10)
	}
}

func TestSampledKLIsZeroForTheReference(t *testing.T) {
	m := smallGPT(t, 7)
	kl, err := SampledKL(context.Background(), m, m, [][]int{{1, 2}, {3}}, 6, 1)
	if err != nil || kl != 0 {
		t.Errorf("KL of a model with itself %v (err %v), want 0", kl, err)
	}
	other := smallGPT(t, 8)
	kl, err = SampledKL(context.Background(), m, other, [][]int{{1, 2}, {3}, {4}, {5}}, 6, 1)
	if err != nil || kl == 0 {
		t.Errorf("KL against another model %v (err %v), want non-zero", kl, err)
	}
}

// BenchmarkStep takes one DPO step on 16 pairs (prompt 16 tokens,
// completions 32) with the reference-size model (gpt.TinyConfig).
func BenchmarkStep(b *testing.B) {
	m, err := gpt.New(gpt.TinyConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	ps := make([]Pair, 16)
	for i := range ps {
		for range 16 {
			ps[i].Prompt = append(ps[i].Prompt, rng.IntN(4095))
		}
		for range 32 {
			ps[i].Chosen = append(ps[i].Chosen, rng.IntN(4095))
			ps[i].Rejected = append(ps[i].Rejected, rng.IntN(4095))
		}
	}
	tr, err := NewTrainer(DefaultConfig(), m, m, ps, nil)
	if err != nil {
		b.Fatal(err)
	}
	idx := make([]int, 16)
	for i := range idx {
		idx[i] = i
	}
	b.ResetTimer()
	for range b.N {
		if _, _, err := tr.Step(idx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*32*48)/b.Elapsed().Seconds(), "tokens/s")
}

// The SFT loss raises the chosen completions' likelihood and ignores the
// rejected ones: on pairs of even-token (chosen) and odd-token (rejected)
// completions it still separates them, as even tokens become likelier; its
// loss is the chosen completions' per-token NLL, about log 64 at the start.
func TestTrainerSFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	train, val := pairs(rng, 128), pairs(rng, 32)
	policy, ref := smallGPT(t, 3), smallGPT(t, 3)
	c := DefaultConfig()
	c.Loss, c.LR, c.Warmup, c.Epochs = LossSFT, 3e-3, 2, 2
	tr, err := NewTrainer(c, policy, ref, train, val)
	if err != nil {
		t.Fatal(err)
	}
	loss0, _, err := tr.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	// The untrained model's per-token NLL is near log(vocab) = 4.16.
	if loss0 < 3.5 || loss0 > 5 {
		t.Errorf("held-out SFT loss before training %v, want about log 64", loss0)
	}
	if err := tr.Train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	loss, s, err := tr.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out SFT loss %.3f -> %.3f; %+v", loss0, loss, s)
	// Chosen tokens are 30 even ids of 64, uniform: a model that learned
	// that alone has per-token NLL log 30 = 3.4; 2 epochs of 8 steps get
	// well on the way (measured 4.16 -> 3.59).
	if !(loss < loss0-0.3) || !(s.Chosen > 0) || s.Accuracy < 0.9 {
		t.Errorf("after SFT: loss %v (from %v), chosen reward %v, accuracy %v", loss, loss0, s.Chosen, s.Accuracy)
	}
}

// A pair's own smoothing replaces the config's: the first step's loss (at
// h = 0, every pair's loss is log 2 whatever its smoothing) and its update
// follow the pairs' targets; a batch of pairs smoothed as the config would
// smooth them steps exactly as the config does; bad smoothing is an error.
func TestTrainerPairSmoothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	base := pairs(rng, 8)
	run := func(c Config, ps []Pair) *gpt.Model {
		t.Helper()
		policy := smallGPT(t, 5)
		tr, err := NewTrainer(c, policy, smallGPT(t, 5), ps, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, _, err := tr.Step([]int{0, 1, 2, 3, 4, 5, 6, 7}); err != nil {
				t.Fatal(err)
			}
		}
		return policy
	}
	c := DefaultConfig()
	c.LR = 1e-3
	smoothed := make([]Pair, len(base))
	for i, p := range base {
		p.Smoothing = 0.2
		smoothed[i] = p
	}
	cfg := c
	cfg.LabelSmoothing = 0.2
	byPair, byConfig, plain := run(c, smoothed), run(cfg, base), run(c, base)
	w := func(m *gpt.Model) []float32 { return m.Params()[0].P.Value.Data }
	if !slices.Equal(w(byPair), w(byConfig)) {
		t.Error("pairs smoothed 0.2 each train differently from -label-smoothing 0.2")
	}
	if slices.Equal(w(byPair), w(plain)) {
		t.Error("the pairs' smoothing changed nothing")
	}
	for _, tc := range []struct {
		loss string
		s    float64
	}{{LossSigmoid, 0.5}, {LossSigmoid, -0.1}, {LossIPO, 0.1}} {
		bad := slices.Clone(base)
		bad[3].Smoothing = tc.s
		c := DefaultConfig()
		c.Loss = tc.loss
		if _, err := NewTrainer(c, smallGPT(t, 5), smallGPT(t, 5), bad, nil); err == nil {
			t.Errorf("%s loss with a pair smoothed %v accepted", tc.loss, tc.s)
		}
	}
}
