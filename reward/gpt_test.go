package reward

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/feedback"
	"rlhf/model/gpt"
)

// smallGPT is a GPT small enough to train in a test: 64 ids (63 = EOS),
// 32 positions, width 32, 2 layers.
func smallGPT(t testing.TB, seed uint64) *gpt.Model {
	t.Helper()
	m, err := gpt.New(gpt.Config{VocabSize: 64, NPositions: 32, NEmbd: 32, NLayer: 2, NHead: 2,
		LayerNormEpsilon: 1e-5, ActivationFunction: "gelu_new", EOSTokenID: 63}, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// markedPairs returns pairs whose preferred completion contains token 7 and
// whose other completion does not; the preferred one is at a random index.
func markedPairs(rng *rand.Rand, n int) []TokenComparison {
	seq := func(lo, hi int) []int {
		s := make([]int, lo+rng.IntN(hi-lo+1))
		for i := range s {
			for s[i] = 1 + rng.IntN(62); s[i] == 7; s[i] = 1 + rng.IntN(62) {
			}
		}
		return s
	}
	out := make([]TokenComparison, n)
	for i := range out {
		good, bad := seq(4, 10), seq(4, 10)
		good[rng.IntN(len(good))] = 7
		c := TokenComparison{Prompt: seq(2, 6), Completions: [][]int{good, bad}}
		if rng.IntN(2) == 1 {
			c.Completions[0], c.Completions[1] = bad, good
			c.Choice = 1
		}
		out[i] = c
	}
	return out
}

func TestGPTRewardLearnsMarkedToken(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	train, val := markedPairs(rng, 512), markedPairs(rng, 200)
	r := NewGPT(smallGPT(t, 3), nil, 4)
	opt := r.NewOptimizer(0)
	tp := ag.NewTape()
	before, err := r.Evaluate(val, 0)
	if err != nil {
		t.Fatal(err)
	}
	w0 := r.Model.Params()[0].P.Value.Clone()
	for epoch := range 3 {
		rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
		for lo := 0; lo < len(train); lo += 16 {
			if _, err := r.TrainStep(tp, opt, train[lo:lo+16], StepConfig{LR: 3e-3, ClipNorm: 1}); err != nil {
				t.Fatal(err)
			}
		}
		m, err := r.Evaluate(val, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("epoch %d: held-out accuracy %.3f loss %.3f", epoch, m.Accuracy, m.Loss)
	}
	after, err := r.Evaluate(val, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Accuracy < 0.9 {
		t.Errorf("held-out accuracy %.3f (before training %.3f), want > 0.9", after.Accuracy, before.Accuracy)
	}
	if after.Loss >= before.Loss {
		t.Errorf("held-out loss %.3f did not fall from %.3f", after.Loss, before.Loss)
	}
	if w := r.Model.Params()[0].P.Value; sameData(w.Data, w0.Data) {
		t.Error("the trunk's token embedding did not change: only the head is training")
	}
}

func TestGPTRewardBestOfFourAndTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pairs := markedPairs(rng, 8)
	cs := []TokenComparison{
		{Prompt: []int{1, 2}, Completions: [][]int{{3}, {4, 5}, {6}, {8, 9, 10}}, Choice: 2},
		{Prompt: []int{1}, Completions: [][]int{{3}, {4}}, Choice: feedback.Tie},
	}
	cs = append(cs, pairs...)
	r := NewGPT(smallGPT(t, 1), nil, 2)
	groups, err := r.Groups(cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].Targets.Shape[1] != 4 || groups[1].Targets.Shape[0] != 9 {
		t.Fatalf("groups: want a 4-way group of 1 and a pair group of 9, got %d groups", len(groups))
	}
	if got := groups[0].Targets.Data; got[2] != 1 || got[0] != 0 {
		t.Errorf("4-way target %v, want one-hot on 2", got)
	}
	if got := groups[1].Targets.Data[:2]; got[0] != 0.5 || got[1] != 0.5 {
		t.Errorf("tie target %v, want 0.5 0.5", got)
	}
	if groups[0].Batch.N != 4 || groups[0].Batch.Lens[3] != 5 {
		t.Errorf("4-way batch %d rows, lens %v", groups[0].Batch.N, groups[0].Batch.Lens)
	}
	opt := r.NewOptimizer(0)
	loss, err := r.TrainStep(ag.NewTape(), opt, cs, StepConfig{LR: 1e-3})
	if err != nil || !(loss > 0) {
		t.Fatalf("train step: loss %v, err %v", loss, err)
	}
	bad := []TokenComparison{{Prompt: []int{1}, Completions: [][]int{{3}, {4}}, Choice: feedback.Skip}}
	if _, err := r.Groups(bad); err == nil {
		t.Error("a skipped comparison should be an error")
	}
	// A stated confidence makes the target soft; 0 keeps the choice's.
	soft := []TokenComparison{
		{Prompt: []int{1}, Completions: [][]int{{3}, {4}, {5}}, Choice: 1, Confidence: 0.7},
		{Prompt: []int{1}, Completions: [][]int{{3}, {4}, {5}}, Choice: 2},
	}
	if g, err := r.Groups(soft); err != nil || !slices.Equal(g[0].Targets.Data, []float32{0.15, 0.7, 0.15, 0, 0, 1}) {
		t.Errorf("soft targets %v (%v), want 0.15 0.7 0.15 then one-hot on 2", g[0].Targets.Data, err)
	}
	for _, c := range []TokenComparison{
		{Prompt: []int{1}, Completions: [][]int{{3}, {4}}, Choice: feedback.Tie, Confidence: 0.7},
		{Prompt: []int{1}, Completions: [][]int{{3}, {4}}, Choice: 0, Confidence: 1.5},
	} {
		if _, err := r.Groups([]TokenComparison{c}); err == nil || !strings.Contains(err.Error(), "confidence") {
			t.Errorf("confidence %v on choice %s: %v", c.Confidence, c.Choice, err)
		}
	}
	oov := []TokenComparison{{Prompt: []int{1}, Completions: [][]int{{64}, {4}}, Choice: 0}}
	if _, err := r.Groups(oov); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("out-of-vocabulary id: got %v", err)
	}
}

func TestGPTRewardNormalise(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	r := NewGPT(smallGPT(t, 9), nil, 10)
	// Make raw rewards far from N(0, 1) so the test means something.
	r.Model.RHead.W.Value.Data[0] = 3
	r.Model.RHead.B.Value.Data[0] = 5
	var ps, cs [][]int
	for _, c := range markedPairs(rng, 100) {
		ps = append(ps, c.Prompt, c.Prompt)
		cs = append(cs, c.Completions...)
	}
	raw, err := r.RawScore(ps, cs)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := meanStd32(raw); math.Abs(m) < 1 {
		t.Fatalf("raw mean %v: the test needs raw rewards away from 0", m)
	}
	if err := r.Normalise(ps, cs); err != nil {
		t.Fatal(err)
	}
	got, err := r.Score(ps, cs)
	if err != nil {
		t.Fatal(err)
	}
	if m, s := meanStd32(got); math.Abs(m) > 1e-4 || math.Abs(s-1) > 1e-4 {
		t.Errorf("normalised mean %v std %v, want 0 and 1", m, s)
	}
	if r.Norm.Samples != 200 || !(r.Norm.Gain > 0) {
		t.Errorf("normaliser %+v", r.Norm)
	}
	if err := r.Normalise(nil, nil); err == nil {
		t.Error("normalising on nothing should fail")
	}
}

func meanStd32(x []float32) (float64, float64) {
	var s, ss float64
	for _, v := range x {
		s += float64(v)
	}
	m := s / float64(len(x))
	for _, v := range x {
		ss += (float64(v) - m) * (float64(v) - m)
	}
	return m, math.Sqrt(ss / float64(len(x)))
}

func TestGPTRewardSaveLoad(t *testing.T) {
	m, err := gpt.New(gpt.Config{VocabSize: 4096, NPositions: 32, NEmbd: 16, NLayer: 1, NHead: 2,
		LayerNormEpsilon: 1e-5, EOSTokenID: 4095, Tokenizer: "default", ValueHead: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	policyDir := filepath.Join(t.TempDir(), "policy")
	if err := m.Save(policyDir); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGPT(policyDir); err == nil || !strings.Contains(err.Error(), "no reward head") {
		t.Errorf("loading a policy as a reward model: got %v", err)
	}
	r, err := InitGPT(policyDir, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Model.VHead != nil || r.Model.RHead == nil || r.Tok == nil {
		t.Fatal("InitGPT should drop the value head, add a reward head and load the tokenizer")
	}
	r.Norm = Normaliser{Gain: 2, Bias: -1, Samples: 10}
	prompts := []string{"The people of the United States", "We must"}
	comps := []string{" are happy and free.", " fail"}
	want, err := r.ScoreText(prompts, comps)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := r.RawScore([][]int{r.Tok.Encode(prompts[0])}, [][]int{r.Tok.Encode(comps[0])})
	if math.Abs(float64(want[0])-(2*float64(raw[0])-1)) > 1e-5 {
		t.Errorf("ScoreText %v is not gain·raw+bias of raw %v", want[0], raw[0])
	}
	dir := filepath.Join(t.TempDir(), "rm")
	if err := r.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := LoadGPT(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := back.ScoreText(prompts, comps)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("score %d after load %v, before %v", i, got[i], want[i])
		}
	}
	if back.Norm != r.Norm {
		t.Errorf("normaliser after load %+v, want %+v", back.Norm, r.Norm)
	}
	os.WriteFile(filepath.Join(dir, GPTNormFile), []byte(`{"gain": -1, "bias": 0}`), 0o644)
	if _, err := LoadGPT(dir); err == nil || !strings.Contains(err.Error(), "gain") {
		t.Errorf("negative gain: got %v", err)
	}
	os.WriteFile(filepath.Join(dir, GPTNormFile), []byte(`{"gain": `), 0o644)
	if _, err := LoadGPT(dir); err == nil || !strings.Contains(err.Error(), GPTNormFile) {
		t.Errorf("truncated %s: got %v", GPTNormFile, err)
	}
}

func TestGPTRewardRowAndBatching(t *testing.T) {
	r := NewGPT(smallGPT(t, 2), nil, 3)
	long := make([]int, 40)
	for i := range long {
		long[i] = 1 + i%60
	}
	row, err := r.Row([]int{5, 6, 7}, long)
	if err != nil || len(row) != 32 || row[31] != long[39] {
		t.Fatalf("row of 43 tokens: len %d, err %v; want the last 32", len(row), err)
	}
	if row, _ := r.Row(nil, nil); len(row) != 1 || row[0] != 63 {
		t.Errorf("empty row %v, want [EOS]", row)
	}
	if _, err := r.Row([]int{-1}, nil); err == nil {
		t.Error("negative id should be an error")
	}
	// Scores do not depend on batching or on the other rows' padding.
	ps := [][]int{{1, 2, 3}, {4}, {5, 6}, {7, 8, 9, 10, 11}, {12}}
	cs := [][]int{{13}, {14, 15, 16, 17}, nil, {18, 19}, {20, 21, 22, 23, 24, 25}}
	all, err := r.Score(ps, cs)
	if err != nil {
		t.Fatal(err)
	}
	r.Batch = 2
	chunked, _ := r.Score(ps, cs)
	for i := range ps {
		one, _ := r.Score(ps[i:i+1], cs[i:i+1])
		if d := math.Abs(float64(one[0] - all[i])); d > 1e-5 || math.Abs(float64(chunked[i]-all[i])) > 1e-5 {
			t.Errorf("row %d: alone %v, batched %v, chunked %v", i, one[0], all[i], chunked[i])
		}
	}
	if _, err := r.Score(ps, cs[:2]); err == nil {
		t.Error("mismatched lengths should be an error")
	}
	if _, err := r.ScoreText([]string{"a"}, []string{"b"}); err == nil {
		t.Error("ScoreText without a tokenizer should be an error")
	}
}

func TestGoalScorer(t *testing.T) {
	g := GoalScorer{Goal: func(s string) float64 { return float64(len(s)) }}
	got, err := g.ScoreText([]string{"ab", "c"}, []string{"xyz", ""})
	if err != nil || got[0] != 3 || got[1] != 0 {
		t.Fatalf("completion scores %v, %v", got, err)
	}
	g.WithPrompt = true
	got, _ = g.ScoreText([]string{"ab", "c"}, []string{"xyz", ""})
	if got[0] != 5 || got[1] != 1 {
		t.Errorf("prompt+completion scores %v", got)
	}
	nan := GoalScorer{Goal: func(string) float64 { return math.NaN() }}
	if _, err := nan.ScoreText([]string{""}, []string{""}); err == nil {
		t.Error("NaN goal should be an error")
	}
	var _ TextScorer = (*GPTReward)(nil)
	var _ TextScorer = GoalScorer{}
	var _ Model[TokenBatch] = GPTNet{}
}

func sameData(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// BenchmarkGPTRewardScore scores 32 prompt+completion rows of 48 tokens
// with the reference-size model (gpt.TinyConfig).
func BenchmarkGPTRewardScore(b *testing.B) {
	m, err := gpt.New(gpt.TinyConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	r := NewGPT(m, nil, 2)
	rng := rand.New(rand.NewPCG(1, 1))
	ps, cs := make([][]int, 32), make([][]int, 32)
	for i := range ps {
		for range 16 {
			ps[i] = append(ps[i], rng.IntN(4095))
		}
		for range 32 {
			cs[i] = append(cs[i], rng.IntN(4095))
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := r.Score(ps, cs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*32*48)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkGPTRewardTrainStep takes one Bradley-Terry step on 16 pairs of
// 48-token rows with the reference-size model.
func BenchmarkGPTRewardTrainStep(b *testing.B) {
	m, err := gpt.New(gpt.TinyConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	r := NewGPT(m, nil, 2)
	rng := rand.New(rand.NewPCG(1, 1))
	cs := make([]TokenComparison, 16)
	for i := range cs {
		c := TokenComparison{Completions: make([][]int, 2)}
		for range 16 {
			c.Prompt = append(c.Prompt, rng.IntN(4095))
		}
		for j := range 2 {
			for range 32 {
				c.Completions[j] = append(c.Completions[j], rng.IntN(4095))
			}
		}
		cs[i] = c
	}
	opt, tp := r.NewOptimizer(0), ag.NewTape()
	b.ResetTimer()
	for range b.N {
		if _, err := r.TrainStep(tp, opt, cs, StepConfig{LR: 1e-4, ClipNorm: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*32*48)/b.Elapsed().Seconds(), "tokens/s")
}
