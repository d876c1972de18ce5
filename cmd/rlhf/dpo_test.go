package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/model/gpt"
	"rlhf/report"
	"rlhf/tensor"
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
		{[]string{"-data", data, "-device", "gpu"}, "unknown device"},
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

// TestDPODeviceGo: DPO and IPO on GoMLX's pure-Go backend track the CPU
// engine's run: per-step losses within 1e-4 relative, the logged implicit
// reward metrics within 1e-3, the held-out loss and accuracy within 1e-3, and
// the policy's weights within 1e-3 of their largest magnitude (biases that
// get only rounding noise as gradient aside, see below).
func TestDPODeviceGo(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, data, 12)
	// On the device the reference's log-probs come from its own device copy
	// too. IPO and SFT (Preferred-FT) get one epoch, to keep the test short.
	for _, c := range []struct{ loss, epochs string }{{"sigmoid", "2"}, {"ipo", "1"}, {"sft", "1"}} {
		loss := c.loss
		args := func(out string, extra ...string) []string {
			return append([]string{"-data", data, "-policy", policy, "-out", out, "-batch", "4", "-epochs", c.epochs, "-loss", loss,
				"-lr", "1e-3", "-warmup", "1", "-kl-prompts", "2", "-kl-tokens", "3", "-log-every", "1"}, extra...)
		}
		cpu, dev := filepath.Join(dir, loss+"-cpu"), filepath.Join(dir, loss+"-go")
		if err := runDPO(context.Background(), args(cpu)); err != nil {
			t.Fatal(err)
		}
		if err := runDPO(context.Background(), args(dev, "-device", "go")); err != nil {
			t.Fatal(err)
		}
		seriesClose(t, cpu, dev, "loss", 1e-4)
		// (Accuracies are left out: at the first step the policy is the
		// reference, every margin is 0 on the CPU and rounding noise on the
		// device.)
		for _, k := range []string{"rewards/chosen", "rewards/margins", "logps/chosen", "eval/loss", "eval/rewards/margins"} {
			seriesClose(t, cpu, dev, k, 1e-3)
		}
		// The KL samples are drawn from each run's own policy; they agree
		// only as long as the sampled tokens do, so only their presence is
		// checked.
		ms, err := report.LoadMetrics(filepath.Join(dev, report.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		if _, kl := ms.Series("objective/kl"); len(kl) != 1 {
			t.Errorf("%s: objective/kl logged %d times", loss, len(kl))
		}

		// The loss sees only differences of summed log-probs of the same
		// prompt, so the final LayerNorm's bias along directions the tied
		// head ignores gets little more than rounding noise; Adam turns it
		// into moves of up to lr per step.
		paramsClose(t, cpu, dev, 1e-3, map[string]float64{"ln_f.bias": 6 * 1e-3 /* at most 6 steps at lr 1e-3 */})
		init, _ := gpt.Load(policy)
		m, err := gpt.Load(dev)
		if err != nil {
			t.Fatal(err)
		}
		if tensor.MaxAbsDiff(m.GPT.Wte.W.Value, init.GPT.Wte.W.Value) == 0 {
			t.Errorf("%s: training on the device left the embeddings unchanged", loss)
		}
	}
}

// -ref keeps the reference apart from the starting policy, as a second
// round of online DPO needs: continuing from a trained policy against the
// pretrained one, the implicit rewards of the first step are already
// nonzero, where against itself they start at zero.
func TestDPORef(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, data, 32)
	common := []string{"-data", data, "-batch", "8", "-lr", "1e-3", "-warmup", "1", "-kl-prompts", "0", "-log-every", "1"}
	round1 := filepath.Join(dir, "r1")
	if err := runDPO(context.Background(), append(common, "-policy", policy, "-out", round1)); err != nil {
		t.Fatal(err)
	}
	firstChosen := func(out string) float64 {
		ms, err := report.LoadMetrics(filepath.Join(out, report.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		_, v := ms.Series("rewards/chosen")
		if len(v) == 0 {
			t.Fatalf("%s: no rewards/chosen logged", out)
		}
		return v[0]
	}
	self, pre := filepath.Join(dir, "self"), filepath.Join(dir, "pre")
	if err := runDPO(context.Background(), append(common, "-policy", round1, "-out", self)); err != nil {
		t.Fatal(err)
	}
	if err := runDPO(context.Background(), append(common, "-policy", round1, "-ref", policy, "-out", pre)); err != nil {
		t.Fatal(err)
	}
	if c := firstChosen(self); c != 0 {
		t.Errorf("against itself the first step's chosen reward is %v, want 0", c)
	}
	if c := firstChosen(pre); c == 0 {
		t.Error("against the pretrained reference the first step's chosen reward is 0: -ref was not used")
	}
	buf, err := os.ReadFile(filepath.Join(pre, "summary.json"))
	if err != nil || !strings.Contains(string(buf), `"ref": "`+policy+`"`) {
		t.Errorf("summary.json does not name the reference %s (%v):\n%s", policy, err, buf)
	}
	if err := runDPO(context.Background(), append(common, "-policy", round1, "-ref", filepath.Join(dir, "nothing"), "-out", filepath.Join(dir, "x"))); err == nil || !strings.Contains(err.Error(), "reference") {
		t.Errorf("a missing -ref: %v, want an error naming the reference", err)
	}
}

// rlhf dpo -online: each round samples from the latest policy, writes its
// best-against-worst pairs and trains DPO against the starting checkpoint;
// run again with more rounds it keeps the finished ones and continues.
func TestDPOOnline(t *testing.T) {
	policy := tinyPolicy(t)
	out := filepath.Join(t.TempDir(), "online")
	args := []string{"-policy", policy, "-out", out, "-reward", "lipogram", "-online-n", "3", "-online-prompts", "12",
		"-batch", "4", "-lr", "1e-3", "-warmup", "1", "-val-frac", "0", "-kl-prompts", "2", "-kl-tokens", "6"}
	if err := runDPO(context.Background(), append(args, "-online", "2")); err != nil {
		t.Fatal(err)
	}
	for r := 1; r <= 2; r++ {
		dir := filepath.Join(out, fmt.Sprintf("round%d", r))
		for _, f := range []string{"pairs.jsonl", "model.safetensors", "summary.json", report.MetricsFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("round %d: %v", r, err)
			}
		}
		_, run := onlineRoundSummary(t, out, r)
		wantPolicy := policy
		if r == 2 {
			wantPolicy = filepath.Join(out, "round1")
		}
		if run.Policy != wantPolicy || run.Ref != policy {
			t.Errorf("round %d trained %s against %s, want %s against %s", r, run.Policy, run.Ref, wantPolicy, policy)
		}
	}
	if !lmChanged(t, filepath.Join(out, "round2"), filepath.Join(out, "round1")) {
		t.Error("round 2 did not change round 1's policy")
	}
	r1 := filepath.Join(out, "round1", "model.safetensors")
	before, err := os.Stat(r1)
	if err != nil {
		t.Fatal(err)
	}
	if err := runDPO(context.Background(), append(args, "-online", "3")); err != nil {
		t.Fatal(err)
	}
	if after, err := os.Stat(r1); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("continuing rewrote the finished round 1 (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(out, "round3", "summary.json")); err != nil {
		t.Errorf("round 3 not run: %v", err)
	}
	// Continuing with other settings would mix two runs' rounds.
	if err := runDPO(context.Background(), append(args, "-online", "4", "-beta", "0.5")); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("continuing with another -beta: %v, want an error", err)
	}
	if _, err := os.Stat(filepath.Join(out, "round4")); err == nil {
		t.Error("a round ran with other settings")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-online", "2"}, "-reward"},
		{[]string{"-online", "2", "-reward", "lipogram", "-data", "x.jsonl"}, "drop -data"},
		{[]string{"-online", "2", "-reward", "lipogram", "-online-n", "1"}, "-online-n"},
		{[]string{"-online", "2", "-reward", "happiness"}, "-reward"},
		{[]string{"-online", "-1"}, "-online"},
	} {
		err := runDPO(context.Background(), append(tc.args, "-policy", policy, "-out", t.TempDir()))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// -soft trains each pair that states a confidence toward it: without any
// it is the plain run byte for byte; pairs at confidence 0.8 train as
// -label-smoothing 0.2 does, byte for byte; a confidence of 0.5 or less is
// an error.
func TestDPOSoft(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	plainData := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, plainData, 32)
	train := func(name, data string, extra ...string) ([]byte, error) {
		out := filepath.Join(dir, name)
		args := append([]string{"-data", data, "-policy", policy, "-out", out, "-batch", "8", "-lr", "1e-3", "-warmup", "1", "-kl-prompts", "0"}, extra...)
		if err := dpoMain(context.Background(), args, io.Discard); err != nil {
			return nil, err
		}
		return os.ReadFile(filepath.Join(out, gpt.WeightsFile))
	}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain := must(train("plain", plainData))
	if !bytes.Equal(must(train("soft-none", plainData, "-soft")), plain) {
		t.Error("-soft on pairs without a confidence changed the model")
	}
	conf := withConfidence(t, plainData, dir, "conf.jsonl", "0.8")
	if !bytes.Equal(must(train("hard-conf", conf)), plain) {
		t.Error("without -soft, the pairs' confidences changed the model")
	}
	soft := must(train("soft", conf, "-soft"))
	if bytes.Equal(soft, plain) || !bytes.Equal(soft, must(train("smoothed", plainData, "-label-smoothing", "0.2"))) {
		t.Error("pairs at confidence 0.8 with -soft do not train as -label-smoothing 0.2")
	}
	if _, err := train("half", withConfidence(t, plainData, dir, "half.jsonl", "0.5"), "-soft"); err == nil || !strings.Contains(err.Error(), "above 0.5") {
		t.Errorf("confidence 0.5: %v", err)
	}
}
