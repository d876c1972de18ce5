package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/feedback"
	"rlhf/model/gpt"
)

// tinyPolicy saves a small random GPT with the default tokenizer and
// returns its directory.
func tinyPolicy(t testing.TB) string {
	t.Helper()
	m, err := gpt.New(gpt.Config{VocabSize: 4096, NPositions: 64, NEmbd: 32, NLayer: 1, NHead: 2,
		LayerNormEpsilon: 1e-5, ActivationFunction: "gelu_new", EOSTokenID: 4095, BOSTokenID: 4095, Tokenizer: "default"}, 7)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "policy")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPrefsPairsAndBestOf(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "pairs.jsonl")
	err := runPrefs(context.Background(), []string{"-policy", policy, "-out", out, "-n", "12", "-k", "2",
		"-max-new-tokens", "8", "-beta", "0", "-epsilon", "0", "-seed", "3"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r, err := range feedback.ReadPairsFile(out, nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if r.Source != feedback.SourceSynthetic || !strings.HasPrefix(r.Labeler, "sentiment-vader/boltzmann(beta=0)") || r.Prompt == "" || r.QueryID == "" {
			t.Errorf("record provenance %+v", r.Provenance)
		}
		if r.Chosen == r.Rejected {
			t.Errorf("pair with equal completions kept: %+v", r)
		}
	}
	if n == 0 || n > 12 {
		t.Errorf("%d pairs from 12 prompts", n)
	}
	if _, err := os.Stat(out + ".run.json"); err != nil {
		t.Errorf("run config not written: %v", err)
	}

	out4 := filepath.Join(dir, "best4.jsonl")
	err = runPrefs(context.Background(), []string{"-policy", policy, "-out", out4, "-n", "6", "-k", "4", "-format", "bestof",
		"-goal", "lipogram", "-letter", "e", "-max-new-tokens", "8", "-epsilon", "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	for r, err := range feedback.ReadBestOfFile(out4, nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if len(r.Completions) != 4 || !strings.Contains(r.Labeler, "lipogram-e") || !strings.Contains(r.Labeler, "noise(0.5)") {
			t.Errorf("best-of-4 record %+v", r)
		}
	}
	if n == 0 {
		t.Error("no best-of-4 records")
	}
	cs, format, _, err := readPrefs(out4, false)
	if err != nil || format != "bestof" || len(cs) != n {
		t.Errorf("readPrefs: %d records as %s, %v", len(cs), format, err)
	}
}

func TestPrefsBadFlags(t *testing.T) {
	policy := tinyPolicy(t)
	out := filepath.Join(t.TempDir(), "p.jsonl")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-k", "1"}, "-k 1"},
		{[]string{"-k", "17"}, "-k 17"},
		{[]string{"-format", "csv"}, "-format"},
		{[]string{"-goal", "joy"}, "goal"},
		{[]string{"-goal", "lipogram", "-letter", "ab"}, "-letter"},
		{[]string{"-epsilon", "1.5"}, "-epsilon"},
		{[]string{"-beta", "-1"}, "-beta"},
		{[]string{"-n", "0"}, "-n 0"},
		{[]string{"-temperature", "0"}, "-temperature"},
		{[]string{"-split", "test"}, "-split"},
		{[]string{"stray"}, "unexpected argument"},
		{[]string{"-max-new-tokens", "64"}, "no room"},
		{[]string{"-policy", filepath.Join(t.TempDir(), "missing")}, "policy"},
	} {
		args := append([]string{"-policy", policy, "-out", out, "-n", "2"}, tc.args...)
		err := runPrefs(context.Background(), args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}
