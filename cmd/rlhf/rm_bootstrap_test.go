package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBootstrapSample: the resample has the training part's size, draws
// only from it (never from the held-out set), repeats some comparisons and
// leaves out others (about 1 - 1/e of them distinct), and is the same for
// the same seed and different for another.
func TestBootstrapSample(t *testing.T) {
	var cs []textComparison
	for i := range 1200 {
		cs = append(cs, textComparison{Prompt: fmt.Sprintf("prompt %d", i), Completions: []string{"a", "b"}})
	}
	train, val := splitByPrompt(cs, 0.1, 7)
	valBefore := slices.Clone(val)
	inTrain := map[string]bool{}
	for _, c := range train {
		inTrain[c.Prompt] = true
	}
	a, distinct := bootstrapSample(train, 7)
	if len(a) != len(train) {
		t.Fatalf("resample of %d holds %d", len(train), len(a))
	}
	seen := map[string]bool{}
	for _, c := range a {
		if !inTrain[c.Prompt] {
			t.Fatalf("drew %q, which is not in the training part", c.Prompt)
		}
		seen[c.Prompt] = true
	}
	if distinct != len(seen) {
		t.Errorf("reported %d distinct, counted %d", distinct, len(seen))
	}
	// Expected share 1 - (1 - 1/n)^n ≈ 0.632; its std for n ≈ 1080 is ≈ 0.009.
	if f := float64(distinct) / float64(len(train)); f < 0.59 || f > 0.68 {
		t.Errorf("%d of %d distinct (%.3f), want about 0.632", distinct, len(train), f)
	}
	b, _ := bootstrapSample(train, 7)
	if !slices.EqualFunc(a, b, func(x, y textComparison) bool { return x.Prompt == y.Prompt }) {
		t.Error("the same seed drew differently")
	}
	c, _ := bootstrapSample(train, 8)
	same := 0
	for i := range a {
		if a[i].Prompt == c[i].Prompt {
			same++
		}
	}
	if same > len(a)/20 {
		t.Errorf("seeds 7 and 8 agree on %d of %d draws", same, len(a))
	}
	if !slices.EqualFunc(val, valBefore, func(x, y textComparison) bool { return x.Prompt == y.Prompt }) {
		t.Error("resampling changed the held-out set")
	}
	if s, d := bootstrapSample([]int{}, 1); len(s) != 0 || d != 0 {
		t.Errorf("empty input: %v, %d", s, d)
	}
}

// TestRMBootstrap: `rlhf rm -bootstrap` trains on a resample of the same
// size as the training part, keeps the held-out set (the same held-out
// comparisons and accuracy before training as without it), normalises on
// the file's completions each once, and says so in its log and summary.
func TestRMBootstrap(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, data, 80)
	read := func(out string) rmSummary {
		t.Helper()
		var sum rmSummary
		raw, err := os.ReadFile(filepath.Join(out, "summary.json"))
		if err != nil || json.Unmarshal(raw, &sum) != nil {
			t.Fatalf("summary %s: %s (%v)", out, raw, err)
		}
		return sum
	}
	base := func(out string) rmConfig {
		return rmConfig{Data: data, Init: policy, Out: out, Epochs: 1, LR: 3e-3, Batch: 16, ValFrac: 0.2, Clip: 1,
			Seed: 3, LogEvery: 10, NormSets: "data", Device: deviceCPU}
	}
	plain, boot := filepath.Join(dir, "plain"), filepath.Join(dir, "boot")
	if err := trainRM(context.Background(), base(plain), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	c := base(boot)
	c.Bootstrap = true
	var log bytes.Buffer
	if err := trainRM(context.Background(), c, &log); err != nil {
		t.Fatal(err)
	}
	p, b := read(plain), read(boot)
	if p.Config.Bootstrap || p.TrainDistinct != 0 {
		t.Errorf("plain run says bootstrap %v, %d distinct", p.Config.Bootstrap, p.TrainDistinct)
	}
	cs, _, _, err := readPrefs(data, false)
	if err != nil {
		t.Fatal(err)
	}
	train, val := splitByPrompt(cs, 0.2, 3)
	_, want := bootstrapSample(train, 3)
	if !b.Config.Bootstrap || b.TrainDistinct != want || want == 0 || want >= len(train) {
		t.Errorf("bootstrap run: bootstrap %v, %d distinct, want true and %d of %d", b.Config.Bootstrap, b.TrainDistinct, want, len(train))
	}
	if b.Train != len(train) || p.Train != len(train) || b.Val != len(val) || p.Val != len(val) {
		t.Errorf("train %d / %d, held-out %d / %d (plain / bootstrap), want %d and %d", p.Train, b.Train, p.Val, b.Val, len(train), len(val))
	}
	if b.Before != p.Before {
		t.Errorf("held-out accuracy before training %v with -bootstrap, %v without: the held-out set changed", b.Before, p.Before)
	}
	if b.Steps != p.Steps {
		t.Errorf("%d steps with -bootstrap, %d without", b.Steps, p.Steps)
	}
	if b.Norm.Samples != 2*len(cs) {
		t.Errorf("normalised on %d completions, want the file's %d", b.Norm.Samples, 2*len(cs))
	}
	if b.Norm == p.Norm {
		t.Error("the bootstrap run's normaliser equals the plain run's: did it train on the resample?")
	}
	if s := log.String(); !strings.Contains(s, fmt.Sprintf("%d distinct", want)) {
		t.Errorf("log does not give the %d distinct comparisons:\n%s", want, s)
	}
	if err := runRM(context.Background(), []string{"-data", data, "-init", policy, "-out", filepath.Join(dir, "flag"), "-epochs", "0",
		"-bootstrap", "-seed", "3", "-normalise", "none"}); err != nil {
		t.Fatal(err)
	}
	if f := read(filepath.Join(dir, "flag")); !f.Config.Bootstrap || f.TrainDistinct != want {
		t.Errorf("-bootstrap flag: bootstrap %v, %d distinct, want %d", f.Config.Bootstrap, f.TrainDistinct, want)
	}
}
