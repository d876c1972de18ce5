package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/model/gpt"
	"rlhf/report"
	"rlhf/reward"
)

// writeMarkedPairs writes n TRL pairs whose chosen completion praises and
// whose rejected one complains, a preference any reward model can learn.
func writeMarkedPairs(t testing.TB, path string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	good := []string{" wonderful", " great", " happy", " love", " excellent"}
	bad := []string{" terrible", " awful", " sad", " hate", " horrible"}
	filler := []string{" the", " day", " was", " and", " people", " nation"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	var b strings.Builder
	for i := range n {
		base := pick(filler) + pick(filler)
		fmt.Fprintf(&b, `{"prompt":"Prompt number %d is","chosen":"%s%s","rejected":"%s%s"}`+"\n", i, base, pick(good), base, pick(bad))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// weightsFile returns the bytes of the model file saved in dir.
func weightsFile(t testing.TB, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, gpt.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withConfidence writes the records of the JSONL file src to dir/name with
// "confidence": c and "source": "ai" added to each, and returns its path.
func withConfidence(t testing.TB, src, dir, name, c string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "}\n", `,"confidence":`+c+`,"source":"ai"}`+"\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRMTrainsAndSaves(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, data, 160)
	out := filepath.Join(dir, "rm")
	err := runRM(context.Background(), []string{"-data", data, "-init", policy, "-out", out, "-epochs", "3",
		"-lr", "3e-3", "-batch", "16", "-log-every", "2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{gpt.WeightsFile, gpt.ConfigFile, reward.GPTNormFile, report.MetricsFile, "summary.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("output %s missing: %v", f, err)
		}
	}
	rm, err := reward.LoadGPT(out)
	if err != nil {
		t.Fatal(err)
	}
	init, _ := gpt.Load(policy)
	if w, w0 := rm.Model.GPT.LnF.W.Value.Data, init.GPT.LnF.W.Value.Data; w[0] == w0[0] && w[1] == w0[1] && w[2] == w0[2] {
		t.Error("the trunk's final LayerNorm did not change")
	}
	if rm.Norm.Samples != 320 {
		t.Errorf("normalised on %d completions, want all 320", rm.Norm.Samples)
	}
	ms, err := report.LoadMetrics(filepath.Join(out, report.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	_, acc := ms.Series("rm/accuracy")
	if len(acc) != 4 { // before training and after each epoch
		t.Fatalf("rm/accuracy logged %d times, want 4", len(acc))
	}
	if acc[len(acc)-1] < 0.9 {
		t.Errorf("held-out accuracy %v on a trivially learnable preference, want >= 0.9", acc)
	}
	if _, loss := ms.Series("train/loss"); len(loss) == 0 {
		t.Error("no train/loss in metrics.jsonl")
	}
	s, err := rm.ScoreText([]string{"Prompt number 1 is", "Prompt number 1 is"}, []string{" the day excellent", " the day horrible"})
	if err != nil || !(s[0] > s[1]) {
		t.Errorf("saved model scores %v (%v): want the praise above the complaint", s, err)
	}
}

func TestRMBestOfAndMalformedLines(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "best.jsonl")
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, `{"prompt":"P%d","completions":["a","b great","c","d"],"choice":1,"labeler":"x"}`+"\n", i)
	}
	os.WriteFile(data, []byte(b.String()), 0o644)
	out := filepath.Join(dir, "rm")
	if err := runRM(context.Background(), []string{"-data", data, "-init", policy, "-out", out, "-epochs", "1", "-max-steps", "2"}); err != nil {
		t.Fatal(err)
	}
	if raw, err := os.ReadFile(filepath.Join(out, "summary.json")); err != nil || !strings.Contains(string(raw), `"format": "bestof"`) || !strings.Contains(string(raw), `"steps": 2`) {
		t.Errorf("summary %s, %v", raw, err)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"prompt":"p","chosen":"a","rejected":"b"}
{"prompt":"q","chosen":"a","rejected":"b"}
{"prompt":"r","chosen":"a"}
{"prompt":"s","chosen":"a","rejected":"b"}
`), 0o644)
	err := runRM(context.Background(), []string{"-data", bad, "-init", policy, "-out", filepath.Join(dir, "rm2")})
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("malformed line 3: got %v", err)
	}
	os.WriteFile(bad, []byte("{\"prompt\":\"p\",\"completions\":[\"a\",\"b\"],\"choice\":0}\n{\"prompt\":\"q\",\"completions\":[\"a\",\"b\"],\"choice\":5}\n"), 0o644)
	err = runRM(context.Background(), []string{"-data", bad, "-init", policy, "-out", filepath.Join(dir, "rm3")})
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "choice 5") {
		t.Errorf("choice out of range on line 2: got %v", err)
	}
}

func TestRMBadFlags(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, data, 4)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-data"},
		{[]string{"-data", data, "-epochs", "-1"}, "-epochs"},
		{[]string{"-data", data, "-lr", "0"}, "-lr"},
		{[]string{"-data", data, "-val-frac", "1"}, "-val-frac"},
		{[]string{"-data", data, "-eps", "1"}, "-eps"},
		{[]string{"-data", data, "-normalise", "policy"}, "-normalise"},
		{[]string{"-data", data, "x"}, "unexpected argument"},
		{[]string{"-data", data, "-device", "xla"}, "unknown device"},
		{[]string{"-data", data, "-device", "xla:/nonexistent/plugin.so"}, "no PJRT plugin at /nonexistent/plugin.so"},
		{[]string{"-data", filepath.Join(dir, "none.jsonl")}, "none.jsonl"},
		{[]string{"-data", data, "-init", filepath.Join(dir, "nomodel")}, "nomodel"},
	} {
		err := runRM(context.Background(), append(tc.args, "-out", filepath.Join(dir, "out")))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

func TestRMGoldAgreementAndEvaluateOnly(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, data, 80)
	out := filepath.Join(dir, "rm")
	if err := runRM(context.Background(), []string{"-data", data, "-init", policy, "-out", out, "-epochs", "2", "-lr", "3e-3", "-gold", "sentiment"}); err != nil {
		t.Fatal(err)
	}
	ms, err := report.LoadMetrics(filepath.Join(out, report.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	_, gold := ms.Series("rm/gold_accuracy")
	_, acc := ms.Series("rm/accuracy")
	// The labels here are the sentiment goal's own choices, so agreement
	// with the goal equals accuracy on the labels.
	if len(gold) != 1 || gold[0] != acc[len(acc)-1] {
		t.Errorf("rm/gold_accuracy %v, rm/accuracy %v: want one gold value equal to the final accuracy", gold, acc)
	}
	// -epochs 0 evaluates a trained reward model without changing it.
	again := filepath.Join(dir, "eval")
	if err := runRM(context.Background(), []string{"-data", data, "-init", out, "-out", again, "-epochs", "0", "-normalise", "none"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(again, "summary.json"))
	if err != nil || !strings.Contains(string(raw), `"steps": 0`) || !strings.Contains(string(raw), fmt.Sprintf(`"val_accuracy": %v`, acc[len(acc)-1])) {
		t.Errorf("evaluate-only summary %s (%v), want 0 steps and val accuracy %v", raw, err, acc[len(acc)-1])
	}
	if err := runRM(context.Background(), []string{"-data", data, "-init", policy, "-out", again, "-gold", "joy"}); err == nil || !strings.Contains(err.Error(), "-gold") {
		t.Errorf("-gold joy: got %v", err)
	}
}

// TestRMDeviceGo: the reward model trained on GoMLX's pure-Go backend
// tracks the CPU engine's run: the same training losses within 1e-4
// relative, held-out loss and accuracy after each epoch within 1e-3, and
// the saved weights within 1e-3 of their largest magnitude (the weights
// drift by float32 rounding, amplified by Adam on tiny gradients). The L2
// penalty is off, so both runs log the same data loss.
func TestRMDeviceGo(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, data, 40)
	args := func(out string, extra ...string) []string {
		return append([]string{"-data", data, "-init", policy, "-out", out, "-epochs", "2", "-lr", "3e-3", "-batch", "8",
			"-log-every", "1", "-wd", "0.01"}, extra...)
	}
	cpu, dev := filepath.Join(dir, "cpu"), filepath.Join(dir, "go")
	if err := runRM(context.Background(), args(cpu)); err != nil {
		t.Fatal(err)
	}
	if err := runRM(context.Background(), args(dev, "-device", "go")); err != nil {
		t.Fatal(err)
	}
	seriesClose(t, cpu, dev, "train/loss", 1e-4)
	seriesClose(t, cpu, dev, "rm/loss", 1e-3)
	seriesClose(t, cpu, dev, "rm/accuracy", 1e-3)
	// A constant added to every score cancels in the pairwise loss, so the
	// reward head's bias and the final LayerNorm's bias get no gradient but
	// rounding noise, which Adam turns into moves of up to lr per step.
	var sum rmSummary
	raw, err := os.ReadFile(filepath.Join(dev, "summary.json"))
	if err != nil || json.Unmarshal(raw, &sum) != nil || sum.Steps == 0 || sum.Config.Device != "go" {
		t.Fatalf("device run summary: %s (%v)", raw, err)
	}
	// Scoring (the held-out evaluation after each epoch, the normaliser)
	// ran on the device: the weights came to the host once, to be saved.
	if sum.HostCopies != 1 {
		t.Errorf("weights copied to the host %d times, want 1", sum.HostCopies)
	}
	noise := float64(sum.Steps) * 3e-3
	paramsClose(t, cpu, dev, 1e-3, map[string]float64{"score.bias": noise, "ln_f.bias": noise})
	a, err := reward.LoadGPT(cpu)
	if err != nil {
		t.Fatal(err)
	}
	b, err := reward.LoadGPT(dev)
	if err != nil {
		t.Fatal(err)
	}
	if a.Norm.Samples == 0 || math.Abs(a.Norm.Gain-b.Norm.Gain) > 1e-3*math.Abs(a.Norm.Gain) {
		t.Errorf("normaliser gain %v (cpu) vs %v (go)", a.Norm, b.Norm)
	}
	init, _ := gpt.Load(policy)
	if w, w0 := b.Model.GPT.LnF.W.Value.Data, init.GPT.LnF.W.Value.Data; w[0] == w0[0] && w[1] == w0[1] {
		t.Error("training on the device left the trunk's final LayerNorm unchanged")
	}
}

func TestPadTokenBatch(t *testing.T) {
	b := reward.NewTokenBatch([][]int{{5, 6, 7}, {8}})
	p := padTokenBatch(b, 5)
	want := []int{5, 6, 7, gpt.PadID, gpt.PadID, 8, gpt.PadID, gpt.PadID, gpt.PadID, gpt.PadID}
	if p.T != 5 || p.N != 2 || fmt.Sprint(p.IDs) != fmt.Sprint(want) || fmt.Sprint(p.Lens) != "[3 1]" {
		t.Errorf("padded %+v, want ids %v", p, want)
	}
	if q := padTokenBatch(b, 2); q.T != 3 {
		t.Errorf("padding to fewer columns changed T to %d", q.T)
	}
}

// -soft trains toward the records' confidences: without any it is the hard
// run byte for byte; with confidence 0.6 on every pair it separates the
// completions far less than the hard labels do; a confidence that prefers
// another completion than the chosen one is an error.
func TestRMSoft(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	hardData := filepath.Join(dir, "pairs.jsonl")
	writeMarkedPairs(t, hardData, 96)
	softData := withConfidence(t, hardData, dir, "soft.jsonl", "0.6")
	train := func(name, data string, extra ...string) string {
		out := filepath.Join(dir, name)
		args := append([]string{"-data", data, "-init", policy, "-out", out, "-epochs", "3", "-lr", "3e-3", "-normalise", "none"}, extra...)
		if err := runRM(context.Background(), args); err != nil {
			t.Fatal(err)
		}
		return out
	}
	weights := func(out string) []byte { return weightsFile(t, out) }
	hard := train("hard", hardData)
	if !bytes.Equal(weights(train("soft-none", hardData, "-soft")), weights(hard)) {
		t.Error("-soft on records without a confidence changed the model")
	}
	if !bytes.Equal(weights(train("hard-conf", softData)), weights(hard)) {
		t.Error("without -soft, the records' confidences changed the model")
	}
	soft := train("soft", softData, "-soft")
	gap := func(out string) float64 {
		rm, err := reward.LoadGPT(out)
		if err != nil {
			t.Fatal(err)
		}
		p := []string{"Prompt number 1 is", "Prompt number 1 is", "Prompt number 2 is", "Prompt number 2 is"}
		s, err := rm.ScoreText(p, []string{" the day excellent", " the day horrible", " people nation love", " people nation hate"})
		if err != nil {
			t.Fatal(err)
		}
		return float64(s[0]-s[1]+s[2]-s[3]) / 2
	}
	// Bradley-Terry at 0.6 is a score gap of ln(1.5) = 0.41.
	if h, s := gap(hard), gap(soft); !(s > 0 && s < 0.6*h && s < 1) {
		t.Errorf("score gap praise - complaint: soft %.3f, hard %.3f; want the soft one positive, below 1 and far below the hard one", s, h)
	}
	low := withConfidence(t, hardData, dir, "low.jsonl", "0.3")
	if err := runRM(context.Background(), []string{"-data", low, "-init", policy, "-out", filepath.Join(dir, "low"), "-soft"}); err == nil || !strings.Contains(err.Error(), "below 1/2") {
		t.Errorf("confidence 0.3 on pairs: %v", err)
	}
}
