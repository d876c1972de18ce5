package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/report"
)

// lmTinyPolicy saves a small random GPT over the default tokenizer and
// returns its directory.
func lmTinyPolicy(t *testing.T) string {
	t.Helper()
	cfg := gpt.TinyConfig()
	cfg.NEmbd, cfg.NLayer, cfg.NHead, cfg.NPositions = 16, 1, 2, 32
	m, err := gpt.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "policy")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tinyPPOArgs(policy, out string, extra ...string) []string {
	return append([]string{"-policy", policy, "-out", out, "-steps", "2", "-batch", "4", "-minibatches", "2",
		"-epochs", "1", "-max-new-tokens", "6", "-ckpt-every", "1", "-lr", "1e-2"}, extra...)
}

// lmChanged reports whether any parameter of the model in dir differs from
// the model in base (compared by name; heads only one of them has are skipped).
func lmChanged(t *testing.T, dir, base string) bool {
	t.Helper()
	a, b := loadParams(t, dir), loadParams(t, base)
	for name, pa := range a {
		pb, ok := b[name]
		if !ok {
			continue
		}
		for i := range pa.Data {
			if pa.Data[i] != pb.Data[i] {
				return true
			}
		}
	}
	return false
}

func TestPPOSmoke(t *testing.T) {
	policy := lmTinyPolicy(t)
	out := filepath.Join(t.TempDir(), "run")
	if err := runPPO(context.Background(), tinyPPOArgs(policy, out)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"run.json", "metrics.jsonl", "samples.jsonl", "report.html",
		"checkpoint/state.json", "checkpoint/optim.safetensors", "checkpoint/policy/model.safetensors",
		"checkpoint/ref/model.safetensors", "policy/model.safetensors", "policy/config.json"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	if !lmChanged(t, filepath.Join(out, "policy"), policy) {
		t.Fatal("PPO did not change the policy")
	}
	metrics, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	for _, k := range []string{"objective/kl", "objective/entropy", "objective/rlhf_reward", "objective/scores",
		"policy/approxkl", "policy/clipfrac", "val/explained_variance", "objective/kl_coef", "objective/gold"} {
		if !strings.Contains(string(metrics), `"`+k+`"`) {
			t.Errorf("metrics.jsonl lacks %s", k)
		}
	}
	if n := strings.Count(strings.TrimSpace(string(metrics)), "\n") + 1; n != 2 {
		t.Errorf("%d metrics lines, want 2", n)
	}
	// Resume to step 3.
	if err := runPPO(context.Background(), []string{"-out", out, "-resume", "-steps", "3"}); err != nil {
		t.Fatal(err)
	}
	var st struct{ Steps int }
	buf, _ := os.ReadFile(filepath.Join(out, "checkpoint", ppo.LMStateFile))
	if err := json.Unmarshal(buf, &st); err != nil || st.Steps != 3 {
		t.Fatalf("resumed checkpoint at step %d (%v), want 3", st.Steps, err)
	}
	// Starting over an existing run without -resume is refused.
	if err := runPPO(context.Background(), tinyPPOArgs(policy, out)); err == nil || !strings.Contains(err.Error(), "-resume") {
		t.Fatalf("second run into the same directory: %v", err)
	}
	// rlhf eval on the result, against the initial policy.
	evOut := filepath.Join(out, "eval.json")
	o, err := parseEval([]string{"-policy", out, "-ref", policy, "-prompts", "4", "-max-new-tokens", "6", "-out", evOut}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	ev, err := evaluate(context.Background(), o, &sb)
	if err != nil {
		t.Fatal(err)
	}
	if ev.N != 4 || len(ev.Samples) != 4 || !strings.Contains(sb.String(), "KL to") {
		t.Fatalf("eval: n %d, %d samples, output %q", ev.N, len(ev.Samples), sb.String())
	}
	if ev.KL == 0 {
		t.Fatalf("trained policy has KL 0 to its initialisation")
	}
	if _, err := os.Stat(evOut); err != nil {
		t.Fatal(err)
	}
}

// rlhf ppo -advantage rloo (and grpo) samples each prompt -group times,
// keeps the estimator in its checkpoint, and resumes with it; GRPO alone
// logs the KL penalty of its loss.
func TestPPORLOO(t *testing.T) {
	policy := lmTinyPolicy(t)
	for _, adv := range []string{ppo.AdvantageRLOO, ppo.AdvantageGRPO} {
		out := filepath.Join(t.TempDir(), adv)
		if err := runPPO(context.Background(), tinyPPOArgs(policy, out, "-advantage", adv, "-group", "2")); err != nil {
			t.Fatal(err)
		}
		if !lmChanged(t, filepath.Join(out, "policy"), policy) {
			t.Fatalf("%s did not change the policy", adv)
		}
		if err := runPPO(context.Background(), []string{"-out", out, "-resume", "-steps", "3"}); err != nil {
			t.Fatal(err)
		}
		c, err := ppo.ReadLMConfig(filepath.Join(out, "checkpoint"))
		if err != nil || c.Advantage != adv || c.GroupSize != 2 {
			t.Fatalf("checkpoint's estimator %q, group %d (%v), want %s, 2", c.Advantage, c.GroupSize, err, adv)
		}
		m, err := report.LoadMetrics(filepath.Join(out, report.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		if steps, vl := m.Series("loss/value_avg"); len(steps) != 3 || slices.ContainsFunc(vl, func(v float64) bool { return v != 0 }) {
			t.Errorf("%s: value loss %v over steps %v, want 0 at 3 steps", adv, vl, steps)
		}
		steps, kl := m.Series("loss/kl_avg")
		if adv == ppo.AdvantageGRPO && (len(steps) != 3 || slices.ContainsFunc(kl, func(v float64) bool { return !(v >= 0) }) || kl[2] == 0) {
			t.Errorf("GRPO's KL penalty %v over steps %v, want 3 values >= 0, the last above 0", kl, steps)
		} else if adv == ppo.AdvantageRLOO && len(steps) != 0 {
			t.Errorf("RLOO logged a KL penalty of its loss: %v", kl)
		}
		html, err := os.ReadFile(filepath.Join(out, loop.TextReportFile))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Contains(string(html), "loss/kl_avg"), adv == ppo.AdvantageGRPO; got != want {
			t.Errorf("%s: report plots loss/kl_avg: %v, want %v", adv, got, want)
		}
	}
	// The default estimator stays unnamed in the saved configuration.
	def := filepath.Join(t.TempDir(), "gae")
	if err := runPPO(context.Background(), tinyPPOArgs(policy, def, "-steps", "1")); err != nil {
		t.Fatal(err)
	}
	if buf, err := os.ReadFile(filepath.Join(def, "run.json")); err != nil || strings.Contains(string(buf), `"advantage"`) {
		t.Errorf("run.json of a default run names an estimator (%v):\n%s", err, buf)
	}
}

func TestPPOBadFlags(t *testing.T) {
	cases := map[string][]string{
		"-reward":            {"-reward", "happiness"},
		"batch size":         {"-batch", "0"},
		"KL target":          {"-kl-target", "-1"},
		"-gold":              {"-gold", "nope"},
		"-resume needs -out": {"-resume"},
		"unexpected":         {"extra"},
		"unknown device":     {"-device", "cuda"},
		"estimator":          {"-advantage", "vtrace"},
		"multiple":           {"-advantage", "rloo", "-group", "5"},
		"at least 2":         {"-advantage", "grpo", "-group", "1"},
		"mean-only":          {"-group-mean-only"},
		"only used":          {"-group", "4"},
		"floor":              {"-kl-min-coef", "1"},
		"gain":               {"-kl-gain", "-1"},
	}
	for want, args := range cases {
		_, err := parsePPO(args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("args %v: error %v, want one mentioning %q", args, err, want)
		}
	}
	if err := runPPO(context.Background(), []string{"-policy", filepath.Join(t.TempDir(), "none"), "-out", t.TempDir()}); err == nil {
		t.Error("missing policy accepted")
	}
	if err := runPPO(context.Background(), []string{"-reward", "rm:" + t.TempDir(), "-out", t.TempDir()}); err == nil || !strings.Contains(err.Error(), "reward") {
		t.Errorf("missing reward model: %v", err)
	}
	// A missing plugin is reported before anything is written.
	out := filepath.Join(t.TempDir(), "run")
	if err := runPPO(context.Background(), []string{"-device", "xla:/nonexistent/plugin.so", "-out", out}); err == nil ||
		!strings.Contains(err.Error(), "/nonexistent/plugin.so") {
		t.Errorf("missing plugin: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a run with a missing plugin created its directory")
	}
}

func TestEvalBadFlags(t *testing.T) {
	for want, args := range map[string][]string{
		"-goal":    {"-goal", "joy"},
		"-prompts": {"-prompts", "0"},
	} {
		if _, err := parseEval(args, io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("args %v: error %v, want one mentioning %q", args, err, want)
		}
	}
	o, err := parseEval([]string{"-policy", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evaluate(context.Background(), o, io.Discard); err == nil {
		t.Error("empty policy directory accepted")
	}
}

// firstClose fails unless the first logged values of key in two run
// directories agree within rel·max(1, |a|).
func firstClose(t *testing.T, dirA, dirB, key string, rel float64) {
	t.Helper()
	first := func(dir string) float64 {
		m, err := report.LoadMetrics(filepath.Join(dir, report.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		_, v := m.Series(key)
		if len(v) == 0 {
			t.Fatalf("%s: no %s logged", dir, key)
		}
		return v[0]
	}
	a, b := first(dirA), first(dirB)
	t.Logf("%s at the first step: %v vs %v (diff %.3g)", key, a, b, math.Abs(a-b))
	if !(math.Abs(a-b) <= rel*max(1, math.Abs(a))) {
		t.Errorf("%s at the first step: %v vs %v (tolerance %g relative)", key, a, b, rel)
	}
}

// TestPPODeviceGo: PPO with its updates, sampling and rollout log-probs
// and values (policy and reference) on GoMLX's pure-Go backend tracks the
// CPU engine's run: the same prompts and samples (the
// device sampler draws with the same per-row generator streams and the same
// inverse-CDF rule, so it picks the CPU's tokens unless a uniform falls
// within float32 rounding of a boundary), scores and KL
// within 1e-3, the losses and diagnostics of each step within 1e-3
// relative, and the final policy within 1e-3 of each tensor's largest
// magnitude (measured: 2.5e-7 absolute). At the first step, before any
// update, every metric agrees to float32 rounding (1e-5 relative; the
// gradient norm, a sum over every parameter's gradient, 1e-4): the
// rollout's log-probs, values and KL come from the device's forward passes
// on bucket-padded rows. The reward is the lipogram goal,
// which scores random text unevenly. A checkpoint written on the device resumes on the CPU engine
// where the straight device run goes, and the other way round.
// Leave-one-out advantages train the same on a device: the loss without
// the value term traces like any other; so does GRPO's, with its KL
// penalty and β fed to the step as data.
func TestPPORLOODeviceGo(t *testing.T) {
	policy := lmTinyPolicy(t)
	for _, adv := range []string{ppo.AdvantageRLOO, ppo.AdvantageGRPO} {
		dir := t.TempDir()
		cpu, dev := filepath.Join(dir, "cpu"), filepath.Join(dir, "go")
		args := []string{"-lr", "1e-3", "-reward", "lipogram", "-advantage", adv, "-group", "2", "-ckpt-every", "10"}
		if adv == ppo.AdvantageGRPO { // β moves between steps: a new β must not compile a new step
			args = append(args, "-steps", "3", "-kl-target", "0.01", "-kl-horizon", "4", "-kl-gain", "1")
		}
		if err := runPPO(context.Background(), tinyPPOArgs(policy, cpu, args...)); err != nil {
			t.Fatal(err)
		}
		if err := runPPO(context.Background(), tinyPPOArgs(policy, dev, append(args, "-device", "go")...)); err != nil {
			t.Fatal(err)
		}
		keys := []string{"objective/scores", "objective/kl", "loss/policy_avg", "policy/approxkl"}
		if adv == ppo.AdvantageGRPO {
			keys = append(keys, "loss/kl_avg", "objective/kl_coef")
		}
		for _, k := range keys {
			seriesClose(t, cpu, dev, k, 1e-3)
			firstClose(t, cpu, dev, k, 1e-5)
		}
		firstClose(t, cpu, dev, "train/grad_norm", 1e-4)
	}
}

func TestPPODeviceGo(t *testing.T) {
	policy := lmTinyPolicy(t)
	dir := t.TempDir()
	cpu, dev := filepath.Join(dir, "cpu"), filepath.Join(dir, "go")
	if err := runPPO(context.Background(), tinyPPOArgs(policy, cpu, "-lr", "1e-3", "-reward", "lipogram")); err != nil {
		t.Fatal(err)
	}
	// No checkpoint before the last step, so no step finds the host
	// weights freshly synced by a Save: a rollout that read them would see
	// the initial policy at step 2.
	if err := runPPO(context.Background(), tinyPPOArgs(policy, dev, "-lr", "1e-3", "-reward", "lipogram", "-device", "go", "-ckpt-every", "10")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"objective/scores", "objective/kl", "objective/rlhf_reward", "loss/policy_avg", "loss/value_avg",
		"policy/approxkl", "val/explained_variance", "val/num_tokens"} {
		seriesClose(t, cpu, dev, k, 1e-3)
	}
	seriesClose(t, cpu, dev, "train/grad_norm", 1e-2)
	for _, k := range []string{"objective/scores", "objective/kl", "objective/entropy", "objective/rlhf_reward", "loss/policy_avg",
		"loss/value_avg", "policy/approxkl", "policy/clipfrac", "val/explained_variance"} {
		firstClose(t, cpu, dev, k, 1e-5)
	}
	firstClose(t, cpu, dev, "train/grad_norm", 1e-4) // a backward pass: longer sums in another order (measured 5e-5)
	ms, err := report.LoadMetrics(filepath.Join(dev, report.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, std := ms.Series("objective/scores_std"); len(std) != 2 || std[0] == 0 {
		t.Errorf("scores_std %v: the test needs scores that vary", std)
	}
	sa, err := os.ReadFile(filepath.Join(cpu, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := os.ReadFile(filepath.Join(dev, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	completions := func(b []byte) []string {
		var out []string
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			var s sampleLine
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s.Prompt+"|"+s.Completion)
		}
		return out
	}
	if a, b := completions(sa), completions(sb); strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) == 0 {
		t.Errorf("samples differ:\ncpu %q\ngo  %q", a, b)
	}
	paramsClose(t, filepath.Join(cpu, "policy"), filepath.Join(dev, "policy"), 1e-3, nil)
	if !lmChanged(t, filepath.Join(dev, "policy"), policy) {
		t.Error("the device run did not change the policy")
	}
	// Stop after one step on the device, resume on the CPU engine.
	split := filepath.Join(dir, "split")
	if err := runPPO(context.Background(), tinyPPOArgs(policy, split, "-lr", "1e-3", "-reward", "lipogram", "-device", "go", "-steps", "1")); err != nil {
		t.Fatal(err)
	}
	if err := runPPO(context.Background(), []string{"-resume", "-out", split, "-steps", "2"}); err != nil {
		t.Fatal(err)
	}
	seriesClose(t, dev, split, "objective/scores", 1e-3)
	seriesClose(t, dev, split, "loss/value_avg", 1e-3)
	paramsClose(t, filepath.Join(dev, "policy"), filepath.Join(split, "policy"), 1e-3, nil)
	// And the other way: one step on the CPU engine, the next on the device,
	// continuing the checkpoint's generator state.
	back := filepath.Join(dir, "back")
	if err := runPPO(context.Background(), tinyPPOArgs(policy, back, "-lr", "1e-3", "-reward", "lipogram", "-steps", "1")); err != nil {
		t.Fatal(err)
	}
	if err := runPPO(context.Background(), []string{"-resume", "-out", back, "-steps", "2", "-device", "go"}); err != nil {
		t.Fatal(err)
	}
	seriesClose(t, cpu, back, "objective/scores", 1e-3)
	seriesClose(t, cpu, back, "loss/policy_avg", 1e-3)
	paramsClose(t, filepath.Join(cpu, "policy"), filepath.Join(back, "policy"), 1e-3, nil)
}
