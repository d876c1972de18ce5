package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/reward"
)

func TestSummarise(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ev := func(before, after, kl float64, rounds int) string {
		return `{"before":{"gold_mean":` + ftoa(before) + `},"after":{"gold_mean":` + ftoa(after) + `,"kl_mean":` + ftoa(kl) +
			`},"rm":{"accuracy":0.7,"gold_pair_accuracy":0.75},"labels":1000,"rounds":` + ftoa(float64(rounds)) + `}`
	}
	write("online-q1000-kl4-s2/eval.json", ev(0.2, 0.6, 4, 5))
	write("online-q1000-kl4-s1/eval.json", ev(0.2, 0.4, 2, 5))
	write("online-q1000-kl4-s1.secs", "100\n")
	write("online-q1000-kl4-s2.secs", "120\n")
	write("offline-q1000-kl4-s1/eval.json", ev(0.2, 0.3, 4, 1))
	write("offline-q250-kl4-s1/eval.json", ev(0.2, 0.25, 4, 1))
	write("offline-q250-kl12-s1/eval.json", ev(0.2, 0.5, 12, 1))
	write("active-q1000-kl4-s1/eval.json", ev(0.2, 0.45, 4, 5))
	write("active-q1000-kl4-s1/run.json", `{"select":"margin","pool":4}`)
	// Reward-model steps: logged by warm runs, derived from the training
	// comparisons of each round (2 epochs of batches of 16) for older ones.
	write("warm-q1000-kl4-s1/eval.json", ev(0.2, 0.5, 4, 3))
	write("warm-q1000-kl4-s1/run.json", `{"rm":{"epochs":2,"batch":16}}`)
	write("warm-q1000-kl4-s1/metrics.jsonl", `{"step":0,"rm/steps":40,"rm/train_comparisons":300}`+"\n"+`{"step":5,"rm/steps":38,"rm/train_comparisons":600}`+"\n")
	write("online-q1000-kl4-s1/run.json", `{"rm":{"epochs":2,"batch":16}}`)
	write("online-q1000-kl4-s1/metrics.jsonl", `{"step":0,"rm/train_comparisons":300}`+"\n"+`{"step":5,"rm/train_comparisons":600}`+"\n")
	os.MkdirAll(filepath.Join(dir, "online-q1000-kl4-s3"), 0o755) // unfinished: skipped
	var b strings.Builder
	if err := summarise(context.Background(), dir, 0, &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| 4 | 1000 | online (5 rounds) | 2 | +0.300 ± 0.100 | s1 +0.200, s2 +0.400 | +0.500 ± 0.100 | 3.00 ± 1.00 | 70.0 ± 0.0 | 75.0 ± 0.0 | – | 110 ± 10 |",
		"| 4 | 1000 | online, reward model warm-started (3 rounds) | 1 | +0.300 ± 0.000 | s1 +0.300 | +0.500 ± 0.000 | 4.00 ± 0.00 | 70.0 ± 0.0 | 75.0 ± 0.0 | 78 ± 0 | – |",
		"| 4 | 1000 | offline (1 round) | 1 | +0.100 ± 0.000 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if i250, i1000 := strings.Index(out, "| 4 | 250 |"), strings.Index(out, "| 4 | 1000 | offline"); i250 < 0 || i1000 < i250 || strings.Index(out, "| 4 | 1000 | online") < i1000 {
		t.Errorf("rows not ordered by budget, then offline before online:\n%s", out)
	}
	if !strings.Contains(out, "| 4 | 1000 | online, least certain of 4 (5 rounds) | 1 | +0.250 ± 0.000 |") {
		t.Errorf("summary lacks the active row:\n%s", out)
	}
	if i12 := strings.Index(out, "| 12 | 250 | offline (1 round) | 1 | +0.300"); i12 < strings.Index(out, "| 4 | 1000 | online") {
		t.Errorf("KL target 12 not after target 4:\n%s", out)
	}
	if got := rmSteps(filepath.Join(dir, "online-q1000-kl4-s1"), loop.TextRMConfig{Epochs: 2, Batch: 16}); got != 2*19+2*38 {
		t.Errorf("reward-model steps of a run retrained from scratch %v, want 2 passes over 300, then 600 comparisons (114)", got)
	}
	write("offline-q1000-kl4-s2/eval.json", "{oops")
	if err := summarise(context.Background(), dir, 0, &b); err == nil {
		t.Error("corrupt eval.json: no error")
	}
	if err := summarise(context.Background(), t.TempDir(), 0, &b); err == nil {
		t.Error("no runs: no error")
	}
}

func ftoa(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// measureShift on a run whose final policy is its initial one gives the
// same agreement on both, caches it, and reuses the cache.
func TestMeasureShift(t *testing.T) {
	m, err := gpt.New(gpt.Config{VocabSize: 4096, NPositions: 64, NEmbd: 32, NLayer: 1, NHead: 2,
		LayerNormEpsilon: 1e-5, ActivationFunction: "gelu_new", EOSTokenID: 4095, BOSTokenID: 4095, Tokenizer: "default"}, 7)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	policy, dir := filepath.Join(root, "policy"), filepath.Join(root, "run")
	for _, d := range []string{policy, filepath.Join(dir, loop.TextPolicyDir)} {
		if err := m.Save(d); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := gpt.LoadTokenizer(policy, m.Config)
	if err != nil {
		t.Fatal(err)
	}
	rmModel, _ := gpt.Load(policy)
	if err := loop.SaveTextRM(loop.TextRM{GPTReward: reward.NewGPT(rmModel, tok, 3)}, filepath.Join(dir, loop.TextRMDir)); err != nil {
		t.Fatal(err)
	}
	c := loop.DefaultTextConfig()
	c.Policy, c.Goal, c.Letter = policy, loop.GoalLipogram, "e"
	c.Sampling.MaxNewTokens = 8
	buf, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, loop.TextRunFile), buf, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := measureShift(context.Background(), dir, 24, 5)
	if err != nil {
		t.Fatal(err)
	}
	if s.InitialN == 0 || s.InitialN != s.FinalN || s.Initial != s.Final || s.Initial < 0 || s.Initial > 1 {
		t.Fatalf("shift of an unchanged policy %+v, want equal agreements on the same pairs", s)
	}
	os.RemoveAll(policy) // the cache answers the same question without the models
	if again, err := measureShift(context.Background(), dir, 24, 5); err != nil || again != s {
		t.Errorf("cached shift %+v (%v), want %+v", again, err, s)
	}
	if _, err := measureShift(context.Background(), dir, 25, 5); err == nil {
		t.Error("another prompt count did not measure again (no error without the initial policy)")
	}
}
