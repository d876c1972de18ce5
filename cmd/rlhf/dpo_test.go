package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/model/gpt"
	"rlhf/report"
)

func TestDPOTrainsAndSaves(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, data, 48)
	out := filepath.Join(dir, "dpo")
	err := runDPO(context.Background(), []string{"-data", data, "-policy", policy, "-out", out, "-batch", "8",
		"-lr", "1e-3", "-warmup", "1", "-kl-prompts", "4", "-kl-tokens", "4", "-log-every", "1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := gpt.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	init, _ := gpt.Load(policy)
	if w, w0 := m.GPT.LnF.W.Value.Data, init.GPT.LnF.W.Value.Data; w[0] == w0[0] && w[1] == w0[1] {
		t.Error("policy parameters did not change")
	}
	ms, err := report.LoadMetrics(filepath.Join(out, report.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "kl/implicit",
		"eval/rewards/accuracies", "eval/loss", "objective/kl"} {
		if _, v := ms.Series(k); len(v) == 0 {
			t.Errorf("metric %s not logged (have %v)", k, ms.Keys())
		}
	}
	_, loss := ms.Series("loss")
	if len(loss) < 2 || !(loss[len(loss)-1] < loss[0]) {
		t.Errorf("DPO loss did not fall: %v", loss)
	}
	if _, err := os.Stat(filepath.Join(out, "summary.json")); err != nil {
		t.Error(err)
	}
}

func TestDPOBadInput(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, data, 8)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}\n\nnot json\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-data", bad}, "line 3"},
		{[]string{"-data", data, "-loss", "hinge"}, "loss"},
		{[]string{"-data", data, "-beta", "0"}, "beta"},
		{[]string{"-data", data, "-loss", "ipo", "-label-smoothing", "0.1"}, "label smoothing"},
		{[]string{"-data", data, "-val-frac", "1"}, "-val-frac"},
		{[]string{"-data", data, "-batch", "0"}, "batch"},
		{[]string{}, "-data"},
		{[]string{"-data", data, "extra"}, "unexpected argument"},
	} {
		err := runDPO(context.Background(), append(tc.args, "-policy", policy, "-out", filepath.Join(dir, "out")))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
	// -skip-bad reads past the malformed line.
	err := runDPO(context.Background(), []string{"-data", bad, "-skip-bad", "-val-frac", "0", "-kl-prompts", "1", "-kl-tokens", "2",
		"-policy", policy, "-out", filepath.Join(dir, "ok")})
	if err != nil {
		t.Errorf("-skip-bad: %v", err)
	}
}
