package ppo

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"rlhf/model/gpt"
	"rlhf/text"
)

func TestKLControllerMovesBetaTowardsTarget(t *testing.T) {
	c := KLController{Value: 0.2, Target: 6, Horizon: 10000}
	// KL above target: β grows; error clipped to +0.2.
	got := c.Update(12, 512)
	want := 0.2 * (1 + 0.2*512/10000.0)
	if math.Abs(got-want) > 1e-12 {
		t.Fatalf("KL 12 > 6: β = %v, want %v", got, want)
	}
	// Slightly above target: proportional, unclipped error 0.1.
	c = KLController{Value: 0.2, Target: 6, Horizon: 10000}
	if got, want := c.Update(6.6, 1000), 0.2*(1+0.1*0.1); math.Abs(got-want) > 1e-12 {
		t.Fatalf("KL 6.6: β = %v, want %v", got, want)
	}
	// Below target: β shrinks, error clipped to -0.2.
	c = KLController{Value: 0.2, Target: 6, Horizon: 10000}
	if got, want := c.Update(0, 1000), 0.2*(1-0.2*0.1); math.Abs(got-want) > 1e-12 {
		t.Fatalf("KL 0: β = %v, want %v", got, want)
	}
	// On target: unchanged.
	c = KLController{Value: 0.2, Target: 6, Horizon: 10000}
	if got := c.Update(6, 1000); got != 0.2 {
		t.Fatalf("KL on target: β = %v, want 0.2", got)
	}
	// Fixed: never moves; adaptive ignores a NaN KL.
	f := KLController{Value: 0.3}
	if got := f.Update(100, 1000); got != 0.3 {
		t.Fatalf("fixed controller moved to %v", got)
	}
	c = KLController{Value: 0.2, Target: 6, Horizon: 10000}
	if got := c.Update(math.NaN(), 1000); got != 0.2 {
		t.Fatalf("NaN KL moved β to %v", got)
	}
	// A floor: β falls to it and no further, and still rises from it.
	c = KLController{Value: 0.2, Target: 6, Horizon: 1000, Min: 0.15}
	for range 20 {
		c.Update(0, 1000)
	}
	if c.Value != 0.15 {
		t.Fatalf("β %v under a persistent low KL with floor 0.15, want 0.15", c.Value)
	}
	if got := c.Update(12, 1000); math.Abs(got-0.15*1.2) > 1e-12 {
		t.Fatalf("β %v after a high KL from the floor, want %v", got, 0.15*1.2)
	}
	// Repeated updates converge in the right direction.
	c = KLController{Value: 1, Target: 1, Horizon: 100}
	for range 50 {
		c.Update(3, 10)
	}
	if c.Value <= 1 {
		t.Fatalf("β %v did not rise under persistent KL above target", c.Value)
	}
}

func TestKLControllerGain(t *testing.T) {
	// The slow part follows Ziegler et al.'s update exactly; β is it times
	// (KL/target)^gain.
	c := KLController{Value: 0.2, Target: 4, Horizon: 100, Gain: 1}
	base := 0.2 * (1 + 0.2*10/100.0) // KL 8: error clipped to +0.2
	if got := c.Update(8, 10); math.Abs(got-2*base) > 1e-12 || math.Abs(c.Base-base) > 1e-12 {
		t.Fatalf("KL 8, target 4, gain 1: β %v base %v, want %v and %v", got, c.Base, 2*base, base)
	}
	// Back on target: the immediate factor is 1, β is the slow part again.
	if got := c.Update(4, 10); math.Abs(got-base) > 1e-12 {
		t.Fatalf("KL on target: β %v, want the base %v", got, base)
	}
	// Gain 2 squares the ratio; the ratio is clipped to [1/e, e], and a
	// KL estimate <= 0 counts as the lowest ratio.
	c = KLController{Value: 0.2, Target: 4, Horizon: 100, Gain: 2}
	base = 0.2 * (1 + 0.1*10/100.0)
	if got := c.Update(4.4, 10); math.Abs(got-base*1.1*1.1) > 1e-12 {
		t.Fatalf("KL 4.4, gain 2: β %v, want %v", got, base*1.21)
	}
	c = KLController{Value: 0.2, Target: 4, Horizon: 100, Gain: 2}
	if got, want := c.Update(400, 10), 0.2*(1+0.02)*math.E*math.E; math.Abs(got-want) > 1e-12 {
		t.Fatalf("KL 100x the target: β %v, want the clipped %v", got, want)
	}
	c = KLController{Value: 0.2, Target: 4, Horizon: 100, Gain: 1}
	if got, want := c.Update(-0.5, 10), 0.2*(1-0.02)/math.E; math.Abs(got-want) > 1e-12 {
		t.Fatalf("negative KL estimate: β %v, want %v", got, want)
	}
	// The immediate term has no memory: alternating batches leave the
	// slow part where Ziegler et al.'s controller alone would be.
	c = KLController{Value: 0.2, Target: 4, Horizon: 100, Gain: 1.5}
	z := KLController{Value: 0.2, Target: 4, Horizon: 100}
	for i := range 40 {
		kl := []float64{2, 7, 3.5, 5}[i%4]
		c.Update(kl, 10)
		z.Update(kl, 10)
	}
	if math.Abs(c.Base-z.Value) > 1e-12 {
		t.Fatalf("slow part %v, Ziegler et al.'s controller %v", c.Base, z.Value)
	}
	// The floor bounds both the slow part and β.
	c = KLController{Value: 0.2, Target: 4, Horizon: 10, Gain: 1, Min: 0.1}
	for range 30 {
		c.Update(0, 10)
	}
	if c.Base != 0.1 || c.Value != 0.1 {
		t.Fatalf("floor 0.1 under a persistent zero KL: base %v β %v", c.Base, c.Value)
	}
	// A fixed controller ignores the gain.
	f := KLController{Value: 0.3, Gain: 2}
	if got := f.Update(100, 10); got != 0.3 {
		t.Fatalf("fixed controller with a gain moved to %v", got)
	}
	// Out-of-range gains are configuration errors.
	for _, g := range []float64{-1, 11, math.NaN()} {
		cfg := DefaultLMConfig()
		cfg.KLGain = g
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "gain") {
			t.Fatalf("gain %v: Validate() = %v, want a gain error", g, err)
		}
	}
}

func TestTokenRewards(t *testing.T) {
	logp := []float32{-1, -2, -0.5}
	ref := []float32{-1.5, -1, -0.5}
	r, kl := TokenRewards(logp, ref, 2, 0.1)
	// d = 0.5, -1, 0; rewards -0.05, 0.1, 0 + score 2.
	want := []float32{-0.05, 0.1, 2}
	for i := range want {
		if math.Abs(float64(r[i]-want[i])) > 1e-6 {
			t.Fatalf("rewards %v, want %v", r, want)
		}
	}
	if math.Abs(kl-(-0.5)) > 1e-9 {
		t.Fatalf("kl %v, want -0.5", kl)
	}
	if r, kl := TokenRewards(nil, nil, 3, 0.1); len(r) != 0 || kl != 0 {
		t.Fatalf("empty completion: %v %v", r, kl)
	}
}

func TestTokenGAEHandComputed(t *testing.T) {
	// Episode 0: rewards (0, 1), values (0.5, 0.2); γ=1, λ=0.5.
	// δ1 = 1 - 0.2 = 0.8, A1 = 0.8; δ0 = 0 + 0.2 - 0.5 = -0.3, A0 = -0.3 + 0.5·0.8 = 0.1.
	// Episode 1: one token, reward 2, value 1: A = 1.
	adv, ret := TokenGAE([][]float32{{0, 1}, {2}}, [][]float32{{0.5, 0.2}, {1}}, 1, 0.5)
	wantA := [][]float32{{0.1, 0.8}, {1}}
	wantR := [][]float32{{0.6, 1.0}, {2}}
	for i := range wantA {
		for j := range wantA[i] {
			if math.Abs(float64(adv[i][j]-wantA[i][j])) > 1e-6 || math.Abs(float64(ret[i][j]-wantR[i][j])) > 1e-6 {
				t.Fatalf("adv %v returns %v, want %v %v", adv, ret, wantA, wantR)
			}
		}
	}
}

func TestWhitenRows(t *testing.T) {
	rows := [][]float32{{1, 2}, {3}, {}, {4, 5}}
	WhitenRows(rows)
	var s, ss float64
	n := 0
	for _, r := range rows {
		for _, v := range r {
			s += float64(v)
			ss += float64(v) * float64(v)
			n++
		}
	}
	if n != 5 || math.Abs(s) > 1e-5 || math.Abs(ss/4-1) > 1e-4 {
		t.Fatalf("whitened %v: sum %v, unbiased var %v", rows, s, ss/4)
	}
	if rows[0][0] >= rows[0][1] || rows[3][1] <= rows[1][0] {
		t.Fatalf("whitening changed the order: %v", rows)
	}
}

func TestLMConfigValidate(t *testing.T) {
	if err := DefaultLMConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultLMConfig()
	bad.BatchSize, bad.ClipRange, bad.Gamma, bad.KLTarget = 0, 1.5, 0, -1
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"batch size", "cliprange", "gamma", "KL target"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	floor := DefaultLMConfig()
	floor.KLMinCoef = floor.KLCoef * 2
	if err := floor.Validate(); err == nil || !strings.Contains(err.Error(), "floor") {
		t.Errorf("a floor above the initial coefficient: %v", err)
	}
}

func TestLeaveOneOut(t *testing.T) {
	// Two groups of 3; returns 1, 2, 6 and 0, 0, 3 (sums of the token rewards).
	rewards := [][]float32{{1}, {0.5, 1.5}, {2, 2, 2}, {0}, {}, {1, 1, 1}}
	adv := LeaveOneOut(rewards, 3)
	want := []float32{1 - 4, 2 - 3.5, 6 - 1.5, 0 - 1.5, 0 - 1.5, 3 - 0}
	for i := range rewards {
		if len(adv[i]) != len(rewards[i]) {
			t.Fatalf("episode %d: %d advantages for %d tokens", i, len(adv[i]), len(rewards[i]))
		}
		for _, a := range adv[i] {
			if a != want[i] {
				t.Errorf("episode %d: advantage %v, want %v at every token", i, a, want[i])
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("5 episodes in groups of 3: no panic")
		}
	}()
	LeaveOneOut(rewards[:5], 3)
}

func TestLMConfigValidateRLOO(t *testing.T) {
	c := DefaultLMConfig()
	c.Advantage, c.GroupSize = AdvantageRLOO, 4
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		adv   string
		group int
		want  string
	}{{AdvantageRLOO, 1, "at least 2"}, {AdvantageRLOO, 5, "multiple"}, {"", 4, "only used"}, {"vtrace", 0, "estimator"}} {
		c.Advantage, c.GroupSize = tc.adv, tc.group
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("advantage %q, group %d: %v, want an error mentioning %q", tc.adv, tc.group, err, tc.want)
		}
	}
}

// With leave-one-out advantages each prompt is sampled GroupSize times in a
// row, the toy reward rises, and the value head neither trains nor reports
// a loss.
func TestLMTrainerRLOORaisesToyReward(t *testing.T) {
	m, tok := toyModel(t, 3)
	c := toyConfig()
	c.Advantage, c.GroupSize = AdvantageRLOO, 4
	tr, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), toyPrompts)
	if err != nil {
		t.Fatal(err)
	}
	vhead := slices.Clone(tr.Policy.VHead.W.Value.Data)
	before := meanScore(t, tr.Ref, tok, c)
	var st LMStats
	for range 24 {
		if st, err = tr.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st.ValueLoss != 0 || !math.IsNaN(st.ExplainedVar) {
			t.Fatalf("value loss %v and explained variance %v reported, want 0 and NaN (no value head)", st.ValueLoss, st.ExplainedVar)
		}
	}
	after := meanScore(t, tr.Policy, tok, c)
	t.Logf("space share before %.3f after %.3f; last step KL %.3f", before, after, st.KL)
	if after < before+0.1 {
		t.Fatalf("toy reward did not rise: before %.3f after %.3f", before, after)
	}
	distinct := 0
	for i, s := range st.Samples {
		if i%c.GroupSize == 0 {
			distinct++
		} else if s.Prompt != st.Samples[i-1].Prompt {
			t.Fatalf("sample %d's prompt %q differs from its group's %q", i, s.Prompt, st.Samples[i-1].Prompt)
		}
	}
	if len(st.Samples) != c.BatchSize || distinct != c.BatchSize/c.GroupSize {
		t.Fatalf("%d samples in %d groups, want %d in %d", len(st.Samples), distinct, c.BatchSize, c.BatchSize/c.GroupSize)
	}
	if !slices.Equal(vhead, tr.Policy.VHead.W.Value.Data) {
		t.Error("the value head changed under leave-one-out advantages")
	}
}

// toyModel is a small random GPT over the default tokenizer.
func toyModel(t testing.TB, seed uint64) (*gpt.Model, *text.Tokenizer) {
	t.Helper()
	tok, err := text.DefaultTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	cfg := gpt.TinyConfig()
	cfg.NEmbd, cfg.NLayer, cfg.NHead, cfg.NPositions = 32, 1, 2, 32
	m, err := gpt.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m, tok
}

// spaceScore is a toy goal: the share of the completion's characters that
// are spaces (a random model emits space-led tokens about half the time).
func spaceScore(_, completion string) float64 {
	if len(completion) == 0 {
		return 0
	}
	return float64(strings.Count(completion, " ")) / float64(len(completion))
}

func toyConfig() LMConfig {
	c := DefaultLMConfig()
	c.BatchSize, c.MiniBatches, c.Epochs = 16, 2, 4
	c.MaxNewTokens = 8
	c.LR = 1e-2
	c.KLCoef, c.KLTarget = 0.01, 0
	c.StopAtEOS = false
	return c
}

var toyPrompts = []string{"The weather today", "Our nation is", "I think that", "In the morning we"}

func meanScore(t *testing.T, m *gpt.Model, tok *text.Tokenizer, c LMConfig) float64 {
	t.Helper()
	prompts := make([]string, 64)
	for i := range prompts {
		prompts[i] = toyPrompts[i%len(toyPrompts)]
	}
	texts, _, _, err := Generate(context.Background(), m, tok, prompts, c, 1, 99)
	if err != nil {
		t.Fatal(err)
	}
	s := 0.0
	for i := range texts {
		s += spaceScore("", texts[i])
	}
	return s / float64(len(texts))
}

func TestLMTrainerRaisesToyReward(t *testing.T) {
	m, tok := toyModel(t, 3)
	c := toyConfig()
	tr, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), toyPrompts)
	if err != nil {
		t.Fatal(err)
	}
	before := meanScore(t, tr.Ref, tok, c)
	var st LMStats
	for range 24 {
		if st, err = tr.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		for k, v := range st.Metrics() {
			if math.IsNaN(v) && k != "val/explained_variance" {
				t.Fatalf("metric %s is NaN", k)
			}
		}
	}
	after := meanScore(t, tr.Policy, tok, c)
	t.Logf("space share before %.3f after %.3f; last step KL %.3f approxkl %.4f clipfrac %.3f", before, after, st.KL, st.ApproxKL, st.ClipFrac)
	if after < before+0.1 {
		t.Fatalf("toy reward did not rise: before %.3f after %.3f", before, after)
	}
	if st.KL <= 0 {
		t.Fatalf("policy moved but its KL to the reference is %v", st.KL)
	}
	if len(st.Samples) != c.BatchSize || st.Step != 24 || st.Episodes != 24*c.BatchSize {
		t.Fatalf("stats: %d samples, step %d, episodes %d", len(st.Samples), st.Step, st.Episodes)
	}
	// The reference stays frozen.
	refP, newP := tr.Ref.Params(), tr.Policy.Params()
	same := true
	for i := range refP {
		for j := range refP[i].P.Value.Data {
			if refP[i].P.Value.Data[j] != newP[i].P.Value.Data[j] {
				same = false
			}
		}
	}
	if same {
		t.Fatal("policy parameters did not change")
	}
}

func TestLMCheckpointResumeIsExact(t *testing.T) {
	m, tok := toyModel(t, 5)
	c := toyConfig()
	c.KLTarget, c.KLHorizon = 0.5, 100 // adaptive, so the controller state matters
	c.KLMinCoef = c.KLCoef / 2         // and its floor travels with it
	c.KLGain = 1                       // and its slow part beside β
	ctx := context.Background()
	a, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), toyPrompts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	sa, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ResumeLM(dir, tok, TextScoreFunc(spaceScore), toyPrompts)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sa.Metrics()["objective/kl_coef_slow"]; !ok || sa.KLCoefSlow <= 0 || sa.KLCoefSlow != sb.KLCoefSlow {
		t.Fatalf("slow part of β %v (logged %v) before resume, %v after", sa.KLCoefSlow, ok, sb.KLCoefSlow)
	}
	if _, ok := (LMStats{KLCoef: 0.1}).Metrics()["objective/kl_coef_slow"]; ok {
		t.Fatal("slow part of β logged without a controller gain")
	}
	if b.KL.Gain != 1 || b.KL.Base != a.KL.Base || a.KL.Base == 0 {
		t.Fatalf("KL gain %v and slow part %v after resume, want 1 and %v", b.KL.Gain, b.KL.Base, a.KL.Base)
	}
	if b.KL.Min != c.KLMinCoef || a.KL.Min != c.KLMinCoef {
		t.Fatalf("KL floor %v before and %v after resume, want %v", a.KL.Min, b.KL.Min, c.KLMinCoef)
	}
	if sa.Score != sb.Score || sa.KL != sb.KL || sa.KLCoef != sb.KLCoef || a.KL.Value != b.KL.Value || sb.Step != 2 {
		t.Fatalf("resumed step differs: score %v/%v KL %v/%v β %v/%v step %d", sa.Score, sb.Score, sa.KL, sb.KL, a.KL.Value, b.KL.Value, sb.Step)
	}
	pa, pb := a.Policy.Params(), b.Policy.Params()
	for i := range pa {
		for j := range pa[i].P.Value.Data {
			if pa[i].P.Value.Data[j] != pb[i].P.Value.Data[j] {
				t.Fatalf("parameter %s[%d] differs after resume", pa[i].Name, j)
			}
		}
	}
}

func TestResumeLMBadCheckpoint(t *testing.T) {
	dir := t.TempDir()
	if _, err := ResumeLM(dir, nil, TextScoreFunc(spaceScore), toyPrompts); err == nil {
		t.Fatal("empty directory resumed")
	}
	os.WriteFile(filepath.Join(dir, LMStateFile), []byte("{not json"), 0o644)
	if _, err := ResumeLM(dir, nil, TextScoreFunc(spaceScore), toyPrompts); err == nil || !strings.Contains(err.Error(), "state.json") {
		t.Fatalf("malformed state: %v", err)
	}
	os.WriteFile(filepath.Join(dir, LMStateFile), []byte(`{"format":1,"config":{"batch_size":0}}`), 0o644)
	if _, err := ResumeLM(dir, nil, TextScoreFunc(spaceScore), toyPrompts); err == nil || !strings.Contains(err.Error(), "batch size") {
		t.Fatalf("invalid config: %v", err)
	}
}

func TestNewLMTrainerErrors(t *testing.T) {
	m, tok := toyModel(t, 1)
	c := toyConfig()
	if _, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), nil); err == nil {
		t.Fatal("no prompts accepted")
	}
	c.MaxNewTokens = 40
	if _, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), toyPrompts); err == nil {
		t.Fatal("completions longer than the context accepted")
	}
}

// BenchmarkLMStepTiny times one PPO step (sampling, scoring, reference and
// policy passes, 4 epochs of 2 minibatches) of the project's tiny GPT
// (random weights) with 32 episodes of 24 new tokens.
func BenchmarkLMStepTiny(b *testing.B) {
	tok, err := text.DefaultTokenizer()
	if err != nil {
		b.Fatal(err)
	}
	m, err := gpt.New(gpt.TinyConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	c := DefaultLMConfig()
	c.StopAtEOS = false
	tr, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), toyPrompts)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tr.Step(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.BatchSize)*float64(b.N)/b.Elapsed().Seconds(), "episodes/s")
}

func TestKLControlDescription(t *testing.T) {
	c := DefaultLMConfig()
	c.KLCoef, c.KLTarget, c.KLHorizon = 0.25, 4, 128
	if got, want := c.KLControl(), "KL target 4 (β₀ 0.25, horizon 128 episodes)"; got != want {
		t.Errorf("adaptive: %q, want %q", got, want)
	}
	c.KLMinCoef, c.KLGain = 0.1, 2
	if got, want := c.KLControl(), "KL target 4 (β₀ 0.25, horizon 128 episodes, β ≥ 0.1, gain 2)"; got != want {
		t.Errorf("floor and gain: %q, want %q", got, want)
	}
	c.KLTarget = 0
	if got, want := c.KLControl(), "fixed β 0.25"; got != want {
		t.Errorf("fixed: %q, want %q", got, want)
	}
}
