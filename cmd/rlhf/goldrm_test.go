package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"rlhf/feedback"
	"rlhf/loop"
	"rlhf/reward"
)

// A reward model as the goal (-goal rm:DIR, Gao et al.'s gold reward
// model): prefs labels by its scores of prompt and completion, eval and
// ppo report them as the gold score, rm measures agreement with them.
func TestGoldRewardModelGoal(t *testing.T) {
	ctx := context.Background()
	policy := tinyPolicy(t)
	gold := lmTinyRM(t, policy)
	rm, err := loop.LoadTextRM(gold)
	if err != nil {
		t.Fatal(err)
	}
	score := func(prompt, completion string) float64 {
		s, err := rm.ScoreText([]string{prompt}, []string{completion})
		if err != nil {
			t.Fatal(err)
		}
		return float64(s[0])
	}

	// prefs: the perfect labeler (beta 0, no noise) chooses what the gold
	// reward model scores higher, with the prompt in view.
	pairs := filepath.Join(t.TempDir(), "pairs.jsonl")
	if err := runPrefs(ctx, []string{"-policy", policy, "-out", pairs, "-n", "16", "-k", "2", "-max-new-tokens", "6",
		"-beta", "0", "-epsilon", "0", "-goal", "rm:" + gold}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for r, err := range feedback.ReadPairsFile(pairs, nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if !strings.HasPrefix(r.Labeler, "rm:"+gold+"/boltzmann(beta=0)") {
			t.Errorf("labeler %q does not name the gold reward model", r.Labeler)
		}
		if c, rj := score(r.Prompt, r.Chosen), score(r.Prompt, r.Rejected); !(c > rj) {
			t.Errorf("chosen scores %v, rejected %v under the gold reward model", c, rj)
		}
	}
	if n < 8 {
		t.Fatalf("%d pairs from 16 prompts", n)
	}

	// rm -gold rm:DIR: agreement with the gold model's ordering of the
	// held-out pairs, all of which it decides.
	rmOut := filepath.Join(t.TempDir(), "proxy")
	if err := runRM(ctx, []string{"-data", pairs, "-init", policy, "-out", rmOut, "-epochs", "1", "-batch", "4",
		"-val-frac", "0.5", "-gold", "rm:" + gold}); err != nil {
		t.Fatal(err)
	}
	var sum rmSummary
	if buf, err := os.ReadFile(filepath.Join(rmOut, "summary.json")); err != nil || json.Unmarshal(buf, &sum) != nil {
		t.Fatalf("summary: %v", err)
	}
	if sum.GoldAcc == nil || sum.GoldN != sum.Val || sum.Val == 0 || *sum.GoldAcc != sum.ValAccuracy {
		// The labels are the gold model's noiseless choices, made on the
		// text the file holds: agreement with them is the held-out accuracy.
		t.Errorf("gold agreement %v on %d of %d held-out comparisons, accuracy %v", sum.GoldAcc, sum.GoldN, sum.Val, sum.ValAccuracy)
	}

	// eval: each sample's score is the gold model's, the mean their mean.
	o, err := parseEval([]string{"-policy", policy, "-ref", policy, "-goal", "rm:" + gold, "-prompts", "5", "-max-new-tokens", "6"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluate(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	mean := 0.0
	for _, s := range ev.Samples {
		if want := score(s.Prompt, s.Completion); s.Score != want {
			t.Errorf("eval score %v, the gold model's %v", s.Score, want)
		}
		mean += s.Score / float64(len(ev.Samples))
	}
	if ev.N != 5 || math.Abs(ev.Gold-mean) > 1e-12 {
		t.Errorf("eval of %d: gold %v, mean of samples %v", ev.N, ev.Gold, mean)
	}

	// ppo: objective/gold each step is the gold model's score.
	out := filepath.Join(t.TempDir(), "ppo")
	if err := runPPO(ctx, tinyPPOArgs(policy, out, "-gold", "rm:"+gold, "-steps", "1")); err != nil {
		t.Fatal(err)
	}
	f, err := os.ReadFile(filepath.Join(out, loop.TextSamplesFile))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(f)), "\n") {
		var s struct {
			Prompt, Completion string
			Gold               float64
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsRune(s.Completion, utf8.RuneError) {
			continue // the log holds the text as valid UTF-8, the scores saw its bytes
		}
		checked++
		if want := score(s.Prompt, s.Completion); s.Gold != want {
			t.Errorf("ppo sample gold %v, the gold model's %v", s.Gold, want)
		}
	}
	if checked == 0 {
		t.Error("no ppo sample to check")
	}

	// Flag checks read the reward model's config, not its weights: a
	// policy without a reward head is refused there.
	if err := checkTextGoal("rm:"+gold, "e"); err != nil {
		t.Errorf("checkTextGoal of the gold model: %v", err)
	}
	for _, args := range [][]string{
		{"-goal", "rm:"},
		{"-goal", "rm:" + filepath.Join(t.TempDir(), "missing")},
		{"-goal", "rm:" + policy},
	} {
		err := runPrefs(ctx, append([]string{"-policy", policy, "-out", filepath.Join(t.TempDir(), "x.jsonl")}, args...))
		if err == nil || !strings.Contains(err.Error(), "rm:") {
			t.Errorf("prefs %v: %v, want an error naming the goal", args, err)
		}
	}
}

// rlhf rm from a text loop's reward model (rlhf demo's, which reads each
// completion with an end-of-text token after it) keeps that convention:
// its held-out accuracy before training is the model's own, scored as the
// loop scores, and the model it saves carries the marker.
func TestRMFromTextLoopModel(t *testing.T) {
	policy := tinyPolicy(t)
	init := lmTinyRM(t, policy)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, data, 200)
	out := filepath.Join(dir, "rm")
	if err := runRM(context.Background(), []string{"-data", data, "-init", init, "-out", out, "-epochs", "0",
		"-normalise", "none", "-val-frac", "0.5", "-seed", "4"}); err != nil {
		t.Fatal(err)
	}
	var sum rmSummary
	if buf, err := os.ReadFile(filepath.Join(out, "summary.json")); err != nil || json.Unmarshal(buf, &sum) != nil {
		t.Fatalf("summary: %v", err)
	}
	cs, _, _, err := readPrefs(data, false)
	if err != nil {
		t.Fatal(err)
	}
	_, val := splitByPrompt(cs, 0.5, 4)
	rm, err := loop.LoadTextRM(init)
	if err != nil {
		t.Fatal(err)
	}
	right, margin := 0.0, 0.0
	for _, c := range val {
		s, err := rm.ScoreText([]string{c.Prompt, c.Prompt}, c.Completions)
		if err != nil {
			t.Fatal(err)
		}
		margin += float64(s[c.Choice]-s[1-c.Choice]) / float64(len(val)) // the model's normaliser is the identity
		switch other := 1 - c.Choice; {
		case s[c.Choice] > s[other]:
			right++
		case s[c.Choice] == s[other]:
			right += 0.5
		}
	}
	if want := right / float64(len(val)); len(val) != sum.Val || math.Abs(sum.ValAccuracy-want) > 1e-12 {
		t.Errorf("held-out accuracy %v on %d, the loop's scoring gives %v on %d", sum.ValAccuracy, sum.Val, want, len(val))
	}
	if math.Abs(sum.ValMargin-margin) > 1e-5 {
		t.Errorf("held-out margin %v, the loop's scoring gives %v", sum.ValMargin, margin)
	}
	saved, err := loop.LoadTextRM(out)
	if _, ok := saved.(loop.TextRM); err != nil || !ok {
		t.Errorf("saved model %T (%v), want a text loop's reward model", saved, err)
	}
}

// rlhf ppo -reward ens:min:A,B optimises the lower of two reward models'
// scores; its samples log that score.
func TestPPOEnsembleReward(t *testing.T) {
	policy := lmTinyPolicy(t)
	var dirs []string
	var members []reward.TextScorer
	for seed := range uint64(2) {
		rm, err := reward.InitGPT(policy, 20+seed)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "rm")
		if err := loop.SaveTextRM(loop.TextRM{GPTReward: rm}, dir); err != nil {
			t.Fatal(err)
		}
		dirs, members = append(dirs, dir), append(members, loop.TextRM{GPTReward: rm})
	}
	out := filepath.Join(t.TempDir(), "ppo")
	if err := runPPO(context.Background(), tinyPPOArgs(policy, out, "-reward", "ens:min:"+strings.Join(dirs, ","), "-samples", "4", "-steps", "1")); err != nil {
		t.Fatal(err)
	}
	samples := firstStepSamples(t, out)
	if len(samples) == 0 {
		t.Fatal("no samples logged")
	}
	lower := 0
	for _, s := range samples {
		if strings.ContainsRune(s.Completion, utf8.RuneError) {
			continue // the log holds the text as valid UTF-8, the scores saw its bytes
		}
		a, errA := members[0].ScoreText([]string{s.Prompt}, []string{s.Completion})
		b, errB := members[1].ScoreText([]string{s.Prompt}, []string{s.Completion})
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if want := min(a[0], b[0]); math.Abs(s.Score-float64(want)) > 1e-5 {
			t.Errorf("sample score %v, want the lower member's %v (members %v, %v)", s.Score, want, a[0], b[0])
		}
		if b[0] < a[0] {
			lower++
		}
	}
	if lower == 0 || lower == len(samples) {
		t.Logf("one member scored lower on every sample (%d of %d): min equals that member", lower, len(samples))
	}
	// On a device each member scores over its own copy, to float32
	// rounding of the CPU engine's scores.
	devOut := filepath.Join(t.TempDir(), "ppo-dev")
	po, err := parsePPO(tinyPPOArgs(policy, devOut, "-reward", "ens:min:"+strings.Join(dirs, ","), "-samples", "4", "-steps", "1", "-device", "go"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	if err := trainPPO(context.Background(), po, &log); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "device: 1 scoring passes of the reward model"); n != 2 {
		t.Errorf("%d reward models scored on the device, want 2:\n%s", n, log.String())
	}
	devSamples := firstStepSamples(t, devOut)
	if len(devSamples) != len(samples) {
		t.Fatalf("%d samples on the device, %d on the CPU engine", len(devSamples), len(samples))
	}
	for i := range samples {
		if devSamples[i].Completion != samples[i].Completion || math.Abs(devSamples[i].Score-samples[i].Score) > 1e-5 {
			t.Errorf("sample %d: %q %v on the device, %q %v on the CPU engine", i, devSamples[i].Completion, devSamples[i].Score, samples[i].Completion, samples[i].Score)
		}
	}
	if _, err := parsePPO([]string{"-reward", "ens:mean:" + dirs[0]}, io.Discard); err == nil || !strings.Contains(err.Error(), "at least two") {
		t.Errorf("an ensemble of one: %v", err)
	}
}
