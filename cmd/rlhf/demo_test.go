package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoSmoke(t *testing.T) {
	policy := lmTinyPolicy(t)
	out := filepath.Join(t.TempDir(), "demo")
	o, err := parseDemo([]string{"-policy", policy, "-out", out, "-queries", "12", "-rm-epochs", "1", "-steps", "2",
		"-batch", "4", "-max-new-tokens", "6", "-eval-prompts", "4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	if err := demo(context.Background(), o, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"run.json", "metrics.jsonl", "samples.jsonl", "comparisons.jsonl", "eval.json", "report.html",
		"rm/model.safetensors", "rm/reward.json", "policy/model.safetensors", "checkpoint/state.json"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	if !lmChanged(t, filepath.Join(out, "policy"), policy) {
		t.Error("the demo did not change the policy")
	}
	if !lmChanged(t, filepath.Join(out, "rm"), policy) {
		t.Error("the demo did not train the reward model")
	}
	s := stdout.String()
	for _, want := range []string{"before PPO", "after PPO", "reward model:", "before (", "after  ("} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	html, _ := os.ReadFile(filepath.Join(out, "report.html"))
	if !strings.Contains(string(html), "<svg") || !strings.Contains(string(html), "Reward model") {
		t.Error("report lacks plots or the reward model section")
	}
}

func TestDemoBadFlags(t *testing.T) {
	for want, args := range map[string][]string{
		"no policy":         {"-policy", filepath.Join(t.TempDir(), "missing")},
		"label budget":      {"-queries", "1"},
		"completions per":   {"-k", "1"},
		"unknown goal":      {"-goal", "joy"},
		"unexpected":        {"now"},
		"max new tokens -1": {"-max-new-tokens", "-1"},
	} {
		_, err := parseDemo(args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), strings.Fields(want)[0]) {
			t.Errorf("args %v: error %v, want one mentioning %q", args, err, want)
		}
	}
}
