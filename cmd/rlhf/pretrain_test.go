package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/model/gpt"
	"rlhf/report"
	"rlhf/safetensors"
	"rlhf/tensor"
)

// tinyPretrainArgs is a model small enough to train a few steps in well
// under a second, on the Brown corpus only.
func tinyPretrainArgs(out, cache string, extra ...string) []string {
	args := []string{"-out", out, "-cache-dir", cache, "-corpus", "brown", "-d", "16", "-layers", "1", "-heads", "2",
		"-ctx", "16", "-batch", "2", "-steps", "4", "-warmup", "1", "-eval-every", "2", "-eval-batches", "1",
		"-ckpt-every", "2", "-log-every", "1", "-samples", "1", "-sample-tokens", "4"}
	return append(args, extra...)
}

func loadParams(t *testing.T, dir string) map[string]*tensor.Tensor {
	t.Helper()
	m, err := gpt.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tensor.Tensor{}
	for _, p := range m.Params() {
		out[p.Name] = p.P.Value
	}
	return out
}

func TestPretrainSmoke(t *testing.T) {
	out, cache := t.TempDir(), t.TempDir()
	if err := runPretrain(context.Background(), tinyPretrainArgs(out, cache)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"run.json", "metrics.jsonl", "loss.svg", "samples.jsonl", "summary.json",
		"checkpoint/model.safetensors", "checkpoint/config.json", "checkpoint/optim.safetensors", "checkpoint/state.json",
		"model/model.safetensors", "model/config.json"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	// The parameters moved away from their initialisation.
	m, err := gpt.Load(filepath.Join(out, "model"))
	if err != nil {
		t.Fatal(err)
	}
	init, err := gpt.New(m.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	trained, fresh := m.Params(), init.Params()
	for i := range trained {
		if d := tensor.MaxAbsDiff(trained[i].P.Value, fresh[i].P.Value); d == 0 {
			t.Errorf("%s unchanged by training", trained[i].Name)
		}
	}
	ms, err := report.LoadMetrics(filepath.Join(out, report.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if steps, _ := ms.Series("train/loss"); len(steps) != 4 {
		t.Errorf("train/loss logged at %v, want 4 steps", steps)
	}
	if steps, vals := ms.Series("val/loss"); len(steps) != 2 || !(vals[1] > 0) {
		t.Errorf("val/loss %v at %v, want two positive values", vals, steps)
	}
	// A second run into the same directory must not clobber it.
	err = runPretrain(context.Background(), tinyPretrainArgs(out, cache))
	if err == nil || !strings.Contains(err.Error(), "-resume") {
		t.Errorf("rerun into a used directory: error %v", err)
	}
	// The cache was written and is used: the run is the same without it.
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		t.Errorf("cache holds %d files, want 1", len(entries))
	}
}

// TestPretrainResumeMatches: 4 steps straight give the same weights and
// optimiser state as 2 steps, a stop, and a resumed run of the other 2.
func TestPretrainResumeMatches(t *testing.T) {
	cache := t.TempDir()
	straight, split := t.TempDir(), t.TempDir()
	ctx := context.Background()
	if err := runPretrain(ctx, tinyPretrainArgs(straight, cache)); err != nil {
		t.Fatal(err)
	}
	if err := runPretrain(ctx, tinyPretrainArgs(split, cache, "-stop-after", "2")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(split, "model")); err == nil {
		t.Fatal("a stopped run wrote its final model")
	}
	if err := runPretrain(ctx, []string{"-resume", "-out", split, "-cache-dir", cache}); err != nil {
		t.Fatal(err)
	}
	a, b := loadParams(t, filepath.Join(straight, "model")), loadParams(t, filepath.Join(split, "model"))
	for name, ta := range a {
		if d := tensor.MaxAbsDiff(ta, b[name]); d != 0 {
			t.Errorf("%s differs by %g between straight and resumed runs", name, d)
		}
	}
	oa, err := safetensors.ReadFile(filepath.Join(straight, "checkpoint", "optim.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ob, err := safetensors.ReadFile(filepath.Join(split, "checkpoint", "optim.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for name, ta := range oa.Tensors {
		if d := tensor.MaxAbsDiff(ta, ob.Tensors[name]); d != 0 {
			t.Errorf("optimiser %s differs by %g", name, d)
		}
	}
}

// TestPretrainInterrupt: a cancelled context (Ctrl-C) saves a checkpoint
// and returns cleanly; the run resumes from it.
func TestPretrainInterrupt(t *testing.T) {
	out, cache := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := runPretrain(ctx, tinyPretrainArgs(out, cache)); err != nil {
		t.Fatalf("interrupted run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoint", "state.json")); err != nil {
		t.Fatalf("no checkpoint after interrupt: %v", err)
	}
	if err := runPretrain(context.Background(), []string{"-resume", "-out", out, "-cache-dir", cache, "-steps", "2"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, "checkpoint", "state.json"))
	if err != nil || !strings.Contains(string(raw), `"step": 2`) {
		t.Fatalf("state after resume: %s %v", raw, err)
	}
}

func TestPretrainBadFlags(t *testing.T) {
	cache := t.TempDir()
	used := t.TempDir()
	if err := runPretrain(context.Background(), tinyPretrainArgs(used, cache, "-stop-after", "1")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-batch", "0"}, "-batch 0"},
		{[]string{"-d", "10", "-heads", "4"}, "not a multiple"},
		{[]string{"-corpus", "nope"}, "unknown corpus"},
		{[]string{"-lr", "-1"}, "-lr"},
		{[]string{"-steps", "0"}, "-steps"},
		{[]string{"-val-frac", "1.5"}, "-val-frac"},
		{[]string{"-bogus"}, "not defined"},
		{[]string{"-device", "tpu"}, "unknown device"},
		{[]string{"-device", "xla:relative/plugin.so"}, "must be absolute"},
		{[]string{"-batch", "x"}, "invalid value"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-resume"}, "-resume needs -out"},
		{[]string{"-resume", "-out", t.TempDir()}, "run.json"},
		{[]string{"-resume", "-out", used, "-d", "32"}, "cannot change"},
	}
	for _, c := range cases {
		args := c.args
		if !strings.Contains(strings.Join(args, " "), "-out") && c.want != "-resume needs -out" {
			args = append([]string{"-out", filepath.Join(t.TempDir(), "run"), "-cache-dir", cache}, args...)
		}
		err := runPretrain(context.Background(), args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}

// seriesClose fails unless metric key of the two runs' metrics.jsonl agree
// step by step within rel·max(1, |a|).
func seriesClose(t *testing.T, dirA, dirB, key string, rel float64) {
	t.Helper()
	ma, err := report.LoadMetrics(filepath.Join(dirA, report.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := report.LoadMetrics(filepath.Join(dirB, report.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	sa, va := ma.Series(key)
	sb, vb := mb.Series(key)
	if len(va) == 0 || len(va) != len(vb) {
		t.Fatalf("%s logged at %v and %v", key, sa, sb)
	}
	for i := range va {
		if sa[i] != sb[i] || math.Abs(va[i]-vb[i]) > rel*max(1, math.Abs(va[i])) || math.IsNaN(vb[i]) {
			t.Errorf("%s at step %v: %v vs %v at step %v (tolerance %g relative)", key, sa[i], va[i], vb[i], sb[i], rel)
		}
	}
}

// paramsClose fails unless the models in two directories agree within
// tol·max|a| per tensor, or within the absolute bound loose[name] for the
// tensors named there, and returns the largest difference seen.
func paramsClose(t *testing.T, dirA, dirB string, tol float64, loose map[string]float64) float64 {
	t.Helper()
	a, b := loadParams(t, dirA), loadParams(t, dirB)
	worst := 0.0
	for name, ta := range a {
		tb, ok := b[name]
		if !ok {
			t.Errorf("%s missing in %s", name, dirB)
			continue
		}
		scale := 0.0
		for _, v := range ta.Data {
			scale = max(scale, math.Abs(float64(v)))
		}
		d := tensor.MaxAbsDiff(ta, tb)
		if bound, ok := loose[name]; ok {
			if !(d <= bound) {
				t.Errorf("%s differs by %g, beyond %g", name, d, bound)
			}
			continue
		}
		if !(d <= tol*scale) {
			t.Errorf("%s differs by %g (max |value| %g, tolerance %g relative)", name, d, scale, tol)
		}
		worst = max(worst, d)
	}
	return worst
}

// TestPretrainDeviceGo: the same run on GoMLX's pure-Go backend gives the
// losses of the CPU engine within 1e-5 relative (float32, different
// summation orders), and parameters within 1e-3 of their largest magnitude
// after 4 AdamW steps, gradient norms within 1e-3 (Adam divides by each gradient's own scale, so
// rounding noise in tiny gradients moves parameters by up to a step size;
// lr here is 2e-3 against weights of magnitude ~0.1).
func TestPretrainDeviceGo(t *testing.T) {
	cache := t.TempDir()
	cpu, dev := t.TempDir(), t.TempDir()
	ctx := context.Background()
	if err := runPretrain(ctx, tinyPretrainArgs(cpu, cache)); err != nil {
		t.Fatal(err)
	}
	if err := runPretrain(ctx, tinyPretrainArgs(dev, cache, "-device", "go")); err != nil {
		t.Fatal(err)
	}
	seriesClose(t, cpu, dev, "train/loss", 1e-5)
	seriesClose(t, cpu, dev, "val/loss", 1e-5)
	seriesClose(t, cpu, dev, "train/grad_norm", 1e-3) // measured: 1.1e-4
	paramsClose(t, filepath.Join(cpu, "model"), filepath.Join(dev, "model"), 1e-3, nil)
	// The device run really trained: its weights moved from the start.
	m, err := gpt.Load(filepath.Join(dev, "model"))
	if err != nil {
		t.Fatal(err)
	}
	init, err := gpt.New(m.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Params() {
		if tensor.MaxAbsDiff(p.P.Value, init.Params()[i].P.Value) == 0 {
			t.Errorf("%s unchanged by training on the device", p.Name)
		}
	}
}

// TestPretrainDeviceResume: a checkpoint written on the device resumes on
// the CPU engine (and one written on the CPU resumes on the device), ending
// where a straight CPU run ends, within tolerance.
func TestPretrainDeviceResume(t *testing.T) {
	cache := t.TempDir()
	ctx := context.Background()
	straight := t.TempDir()
	if err := runPretrain(ctx, tinyPretrainArgs(straight, cache)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ first, second string }{{"go", "cpu"}, {"cpu", "go"}} {
		split := t.TempDir()
		if err := runPretrain(ctx, tinyPretrainArgs(split, cache, "-stop-after", "2", "-device", c.first)); err != nil {
			t.Fatal(err)
		}
		if err := runPretrain(ctx, []string{"-resume", "-out", split, "-cache-dir", cache, "-device", c.second}); err != nil {
			t.Fatalf("resume on %s of a %s checkpoint: %v", c.second, c.first, err)
		}
		// The optimiser state came through: step count 4 and moments close
		// to the straight run's.
		oa, err := safetensors.ReadFile(filepath.Join(straight, "checkpoint", "optim.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		ob, err := safetensors.ReadFile(filepath.Join(split, "checkpoint", "optim.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if got := ob.Tensors["step"]; got == nil || got.Data[0] != 4 {
			t.Errorf("%s then %s: optimiser step %v, want 4", c.first, c.second, got)
		}
		for name, ta := range oa.Tensors {
			tb := ob.Tensors[name]
			if tb == nil {
				t.Errorf("%s then %s: optimiser %s missing", c.first, c.second, name)
				continue
			}
			scale := 0.0
			for _, v := range ta.Data {
				scale = max(scale, math.Abs(float64(v)))
			}
			if d := tensor.MaxAbsDiff(ta, tb); !(d <= 1e-3*scale+1e-12) {
				t.Errorf("%s then %s: optimiser %s differs by %g (max %g)", c.first, c.second, name, d, scale)
			}
		}
		paramsClose(t, filepath.Join(straight, "model"), filepath.Join(split, "model"), 1e-3, nil)
	}
}
