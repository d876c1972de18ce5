package main

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"rlhf/bon"
	"rlhf/feedback"
	"rlhf/feedback/textscore"
	"rlhf/model/gpt"
	"rlhf/reward"
	"rlhf/text"
)

func TestBoNCommand(t *testing.T) {
	policy := tinyPolicy(t)
	m, _ := gpt.Load(policy)
	rmDir := filepath.Join(t.TempDir(), "rm")
	if err := reward.NewGPT(m, nil, 1).Save(rmDir); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"-reward", rmDir}} {
		args := append([]string{"-policy", policy, "-n", "1,3", "-prompts", "3", "-max-new-tokens", "5"}, extra...)
		if err := runBoN(context.Background(), args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "0"}, "-n"},
		{[]string{"-n", "2,x"}, "-n"},
		{[]string{"-goal", "x"}, "goal"},
		{[]string{"-prompts", "0"}, "-prompts"},
		{[]string{"-reward", policy}, "no reward head"},
		{[]string{"-reward", "ens:median:" + rmDir + "," + rmDir}, "-reward"},
		{[]string{"-reward", "rm:" + filepath.Join(t.TempDir(), "none")}, "-reward"},
	} {
		err := runBoN(context.Background(), append([]string{"-policy", policy}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// -reward takes a directory, rm:DIR or an ensemble; an ensemble of two
// copies of one reward model (by their mean) picks and scores as it does.
func TestBoNRewardSpecs(t *testing.T) {
	policy := tinyPolicy(t)
	m, _ := gpt.Load(policy)
	rmDir := filepath.Join(t.TempDir(), "rm")
	if err := reward.NewGPT(m, nil, 1).Save(rmDir); err != nil {
		t.Fatal(err)
	}
	table := func(spec string) string {
		t.Helper()
		var buf strings.Builder
		r := bonRun{Policy: policy, Reward: spec, Goal: "sentiment", Letter: "e", Ns: []int{1, 4}, Prompts: 3, MaxNew: 5,
			Temperature: 1, Seed: 1, Split: "val", Device: deviceCPU}
		if err := bestOfN(context.Background(), r, &buf); err != nil {
			t.Fatalf("-reward %s: %v", spec, err)
		}
		out := buf.String()
		return out[strings.Index(out, "| n |"):] // the table, without the line naming the proxy
	}
	dir, rm, ens := table(rmDir), table("rm:"+rmDir), table("ens:mean:"+rmDir+","+rmDir)
	if dir != rm || dir != ens {
		t.Errorf("tables differ:\n-reward DIR\n%s\n-reward rm:DIR\n%s\n-reward ens:mean:DIR,DIR\n%s", dir, rm, ens)
	}
	for in, want := range map[string]string{"runs/rm": "rm:runs/rm", "rm:x": "rm:x", "ens:min:a,b": "ens:min:a,b", "sentiment": "sentiment"} {
		if got := proxySpec(in); got != want {
			t.Errorf("proxySpec(%q) = %q, want %q", in, got, want)
		}
	}
}

// With the gold goal as the proxy, the gold score of best-of-n rises with n
// and best-of-1 equals the n=1 baseline.
func TestBoNTableGoldRisesWithN(t *testing.T) {
	policy := tinyPolicy(t)
	m, tok, err := loadPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	gold := bon.TextScorer{Scorer: reward.GoalScorer{Goal: func(s string) float64 { return float64(len(s)) }}, Tok: tok}
	prompts := [][]int{tok.Encode("We the people"), tok.Encode("It is")}
	res, err := bon.Sample(context.Background(), m, prompts, 8, gpt.SampleConfig{MaxNewTokens: 6, Temperature: 1, Seed: 2}, gold)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := bonTable(res, prompts, gold, []int{1, 2, 8})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rows[0].Gold-rows[0].Base) > 1e-9 || rows[0].KL != 0 {
		t.Errorf("n=1 row %+v: gold should equal its baseline, KL 0", rows[0])
	}
	if !(rows[2].Gold >= rows[1].Gold && rows[1].Gold >= rows[0].Gold) || rows[2].KL != bon.KL(8) {
		t.Errorf("gold not monotone in n with a perfect proxy: %+v", rows)
	}
}

// rlhf bon -pairs writes each prompt's best and worst completion under the
// proxy as a TRL pair, which rlhf dpo -loss sft trains on (rejection-
// sampling fine-tuning).
func TestBoNPairs(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "best.jsonl")
	if err := runBoN(context.Background(), []string{"-policy", policy, "-goal", "lipogram", "-n", "1,4", "-prompts", "6",
		"-max-new-tokens", "6", "-split", "train", "-pairs", file}); err != nil {
		t.Fatal(err)
	}
	train, err := text.Prompts("train")
	if err != nil {
		t.Fatal(err)
	}
	lipo := textscore.Lipogram{Letter: 'e'}
	n := 0
	for r, err := range feedback.ReadPairsFile(file, nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if !slices.Contains(train, r.Prompt) {
			t.Errorf("pair prompt %q is not a train prompt", r.Prompt)
		}
		if lipo.Score(r.Chosen) <= lipo.Score(r.Rejected) && !strings.ContainsRune(r.Chosen+r.Rejected, utf8.RuneError) {
			t.Errorf("chosen %q (%v) does not score above rejected %q (%v)", r.Chosen, lipo.Score(r.Chosen), r.Rejected, lipo.Score(r.Rejected))
		}
		if r.Source != feedback.SourceAI || r.Labeler != "best-of-4(goal lipogram)" {
			t.Errorf("provenance %+v", r.Provenance)
		}
	}
	if n == 0 || n > 6 {
		t.Fatalf("%d pairs for 6 prompts", n)
	}
	out := filepath.Join(dir, "rsft")
	if err := runDPO(context.Background(), []string{"-data", file, "-policy", policy, "-out", out, "-loss", "sft", "-batch", "2",
		"-val-frac", "0", "-kl-prompts", "1", "-kl-tokens", "2"}); err != nil {
		t.Fatal(err)
	}
	if !lmChanged(t, out, policy) {
		t.Error("fine-tuning on the best completions did not change the policy")
	}
	if err := runBoN(context.Background(), []string{"-policy", policy, "-n", "1", "-pairs", file}); err == nil || !strings.Contains(err.Error(), "-pairs") {
		t.Errorf("-pairs with n = 1: %v", err)
	}
}
