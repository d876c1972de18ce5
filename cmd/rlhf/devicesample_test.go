package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/bon"
	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/optim"
	"rlhf/ppo"
	"rlhf/tensor"
	"rlhf/text"
)

// TestDeviceSamplerGreedyMatchesCPU: greedy completions drawn on GoMLX's
// pure-Go backend are the CPU engine's, token for token, both from the
// sampler's own copy of the weights and, after training steps on the device,
// from the weights the stepper trains (compared with the CPU engine's
// samples after a sync).
func TestDeviceSamplerGreedyMatchesCPU(t *testing.T) {
	ctx := context.Background()
	m, tok, err := loadPolicy(lmTinyPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := openDevice("go")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ppo.DefaultLMConfig()
	cfg.MaxNewTokens, cfg.StopAtEOS, cfg.PromptEOS = 12, false, true
	prompts := []string{"The nation is", "We the people", "Tonight", "In the year of our", "Peace"}
	greedy := func(smp ppo.Sampler) ([]string, [][]int) {
		t.Helper()
		texts, _, comps, err := ppo.GenerateWith(ctx, smp, m, tok, prompts, cfg, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		return texts, comps
	}
	smp, err := newDeviceSampler(dev, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer smp.Close()
	wantT, wantC := greedy(nil)
	gotT, gotC := greedy(smp)
	if !reflect.DeepEqual(wantC, gotC) || len(gotC) != len(prompts) || len(gotC[0]) != cfg.MaxNewTokens {
		t.Fatalf("greedy on the device:\n%q\nCPU engine:\n%q", gotT, wantT)
	}

	// Train on the device; a sampler over the stepper reads its weights.
	opt := optim.NewAdamW(m.Params(), optim.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	st, err := newStepper(dev, opt, 1)
	if err != nil {
		t.Fatal(err)
	}
	live, err := newDeviceSampler(dev, m, st)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	ids := tok.Encode(" and the people of the nation will be free and strong again today")
	ids = ids[:16]
	before := m.Params()[0].P.Value.Clone()
	for range 3 {
		if _, _, err := st.step(3e-2, func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids[:15], ids[1:], 1, 15, -1) }); err != nil {
			t.Fatal(err)
		}
	}
	trainedT, trainedC := greedy(live)
	if err := st.syncParams(); err != nil {
		t.Fatal(err)
	}
	if tensor.MaxAbsDiff(before, m.Params()[0].P.Value) == 0 {
		t.Fatal("the device steps left the weights unchanged")
	}
	cpuT, cpuC := greedy(nil)
	if !reflect.DeepEqual(cpuC, trainedC) {
		t.Errorf("greedy from the stepper's weights:\n%q\nCPU engine after sync:\n%q", trainedT, cpuT)
	}
	if reflect.DeepEqual(cpuC, wantC) {
		t.Log("training did not change the greedy completions")
	}
}

// countingSampler is a sampler other than *gpt.Model that draws the model's
// own samples and counts its calls.
type countingSampler struct {
	m     *gpt.Model
	calls int
}

func (c *countingSampler) Sample(ctx context.Context, prompts [][]int, cfg gpt.SampleConfig) (*gpt.Samples, error) {
	c.calls++
	return c.m.Sample(ctx, prompts, cfg)
}

// TestSamplerOfBoNAndEvalText: bon.Sample and loop.EvalTextWith, given a
// sampler that is not the policy, draw through it and return exactly what
// they return with the policy itself (same rows, seeds and chunks).
func TestSamplerOfBoNAndEvalText(t *testing.T) {
	ctx := context.Background()
	m, tok, err := loadPolicy(tinyPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	prompts := make([][]int, 23) // 23 x 3 rows: two chunks
	for i := range prompts {
		prompts[i] = tok.Encode(strings.Repeat(" the", i%4+1) + " nation")
	}
	goal, err := loop.TextGoal(loop.GoalSentiment, 'e')
	if err != nil {
		t.Fatal(err)
	}
	gold := bon.TextScorer{Scorer: goal, Tok: tok}
	sc := gpt.SampleConfig{MaxNewTokens: 6, Temperature: 1, StopAtEOS: true, Seed: 3}
	want, err := bon.Sample(ctx, m, prompts, 3, sc, gold)
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingSampler{m: m}
	got, err := bon.Sample(ctx, cs, prompts, 3, sc, gold)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) || len(got.All) != 69 || cs.calls != 2 {
		t.Errorf("bon.Sample through a sampler differs (%d calls, %d samples)", cs.calls, len(got.All))
	}

	texts, err := text.Prompts("val")
	if err != nil {
		t.Fatal(err)
	}
	texts = texts[:70]
	s := loop.TextSampling{MaxNewTokens: 5, Temperature: 1, StopAtEOS: true, PromptEOS: true}
	we, err := loop.EvalText(ctx, m, m, tok, texts, goal, s, 4)
	if err != nil {
		t.Fatal(err)
	}
	cs.calls = 0
	ge, err := loop.EvalTextWith(ctx, cs, m, m, tok, texts, goal, s, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(we, ge) || ge.N != 70 || cs.calls != 2 {
		t.Errorf("loop.EvalTextWith through a sampler differs from EvalText (%d calls): %+v / %+v", cs.calls, ge.N, we.N)
	}
}

// TestBoNEvalPPOSampleOnDeviceGo: rlhf bon, eval and ppo with -device go
// sample on the device (their sampler reports its calls) and, at
// temperature 1, draw the CPU engine's completions; bon and ppo score them
// with the reward model on the device (one pass per scoring call of at most
// a batch), to the CPU engine's scores; ppo copies the policy's weights to
// the host only for checkpoints and at the end, and computes the
// reference's log-probs on the device.
func TestBoNEvalPPOSampleOnDeviceGo(t *testing.T) {
	ctx := context.Background()
	policy := lmTinyPolicy(t)
	rmDir := lmTinyRM(t, policy)
	calls := regexp.MustCompile(`device sampling: (\d+) calls`)
	scoring := regexp.MustCompile(`device: (\d+) scoring passes of the reward model`)

	var cpuBuf, devBuf bytes.Buffer
	r := bonRun{Policy: policy, Reward: rmDir, Goal: "sentiment", Letter: "e", Ns: []int{1, 2}, Prompts: 3, MaxNew: 5, Temperature: 1, Seed: 1, Split: "val", Device: "cpu"}
	if err := bestOfN(ctx, r, &cpuBuf); err != nil {
		t.Fatal(err)
	}
	r.Device = "go"
	if err := bestOfN(ctx, r, &devBuf); err != nil {
		t.Fatal(err)
	}
	if m := calls.FindStringSubmatch(devBuf.String()); m == nil || m[1] != "1" {
		t.Errorf("bon -device go output has no sampler line with 1 call:\n%s", devBuf.String())
	}
	if m := scoring.FindStringSubmatch(devBuf.String()); m == nil || m[1] != "1" || scoring.MatchString(cpuBuf.String()) {
		t.Errorf("bon -device go: want one scoring pass on the device (6 rows, one batch):\n%s\ncpu:\n%s", devBuf.String(), cpuBuf.String())
	}
	tableOf := func(s string) string { return s[strings.Index(s, "| n "):] }
	if !strings.Contains(devBuf.String(), "| n ") || tableOf(devBuf.String()) != tableOf(cpuBuf.String()) {
		t.Errorf("bon tables differ:\ncpu\n%s\ngo\n%s", cpuBuf.String(), devBuf.String())
	}
	// An ensemble's members each score on the device, over their own copy.
	var ensBuf bytes.Buffer
	r.Reward = "ens:mean:" + rmDir + "," + rmDir
	if err := bestOfN(ctx, r, &ensBuf); err != nil {
		t.Fatal(err)
	}
	if m := scoring.FindAllStringSubmatch(ensBuf.String(), -1); len(m) != 2 || m[0][1] != "1" || m[1][1] != "1" {
		t.Errorf("bon -device go with an ensemble of two: want one scoring pass on the device per member:\n%s", ensBuf.String())
	}
	if tableOf(ensBuf.String()) != tableOf(cpuBuf.String()) {
		t.Errorf("bon table with an ensemble of two copies differs:\ncpu\n%s\ngo, ensemble\n%s", cpuBuf.String(), ensBuf.String())
	}

	o, err := parseEval([]string{"-policy", policy, "-ref", policy, "-prompts", "6", "-max-new-tokens", "5", "-samples", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want, err := evaluate(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.Device = "go"
	o.Out = filepath.Join(t.TempDir(), "eval.json")
	got, err := evaluate(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want.Samples, got.Samples) || got.N != 6 || got.KL != 0 {
		t.Errorf("eval -device go: %+v\nCPU engine: %+v", got, want)
	}

	// Three steps with one checkpoint (at the last step): the policy's
	// weights come back to the host for that checkpoint and at the end of
	// the run only, not at every step. The reward model scores each step's
	// 4 completions in one pass of 4 rows (the batch, below the reward
	// model's default of 32) and, at the first step, before any update,
	// gives each the CPU engine's score to float32 rounding (measured: 4e-9
	// on scores near -0.06).
	cpuRun, devRun := filepath.Join(t.TempDir(), "ppo-cpu"), filepath.Join(t.TempDir(), "ppo")
	ppoArgs := func(out string, extra ...string) []string {
		return tinyPPOArgs(policy, out, append([]string{"-reward", "rm:" + rmDir, "-samples", "4", "-steps", "3", "-ckpt-every", "10"}, extra...)...)
	}
	po, err := parsePPO(ppoArgs(cpuRun), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := trainPPO(ctx, po, io.Discard); err != nil {
		t.Fatal(err)
	}
	po, err = parsePPO(ppoArgs(devRun, "-device", "go"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := trainPPO(ctx, po, &out); err != nil {
		t.Fatal(err)
	}
	if m := scoring.FindStringSubmatch(out.String()); m == nil || m[1] != "3" {
		t.Errorf("ppo -device go -reward rm: want 3 scoring passes on the device (one per step):\n%s", out.String())
	}
	cpuS, devS := firstStepSamples(t, cpuRun), firstStepSamples(t, devRun)
	if len(cpuS) != 4 || len(devS) != len(cpuS) {
		t.Fatalf("first-step samples: %d on the CPU engine, %d on the device, want 4", len(cpuS), len(devS))
	}
	spread := 0.0
	for i := range cpuS {
		a, b := cpuS[i], devS[i]
		spread = max(spread, math.Abs(a.Score-cpuS[0].Score))
		t.Logf("first-step sample %d: score %v on the CPU engine, %v on the device", i, a.Score, b.Score)
		if a.Prompt+a.Completion != b.Prompt+b.Completion || math.Abs(a.Score-b.Score) > 1e-5*math.Abs(a.Score)+1e-7 {
			t.Errorf("first-step sample %d: %q scored %v on the device, %q scored %v on the CPU engine", i, b.Completion, b.Score, a.Completion, a.Score)
		}
	}
	if spread == 0 {
		t.Errorf("first-step scores %+v are all equal; the comparison proves little", cpuS)
	}
	if m := calls.FindStringSubmatch(out.String()); m == nil || m[1] != "3" {
		t.Errorf("ppo -device go: no sampler line with 3 calls (one per step):\n%s", out.String())
	}
	syncs := regexp.MustCompile(`device: (\d+) forward passes of the reference; the policy's weights copied to the host (\d+) times`)
	if m := syncs.FindStringSubmatch(out.String()); m == nil || m[1] != "3" || m[2] != "2" {
		t.Errorf("ppo -device go: want 3 reference passes on the device (one per step) and the weights copied to the host 2 times (one checkpoint, the end):\n%s", out.String())
	}
	for _, args := range [][]string{{"-device", "gpu"}, {"-device", "xla:rel/plugin.so"}} {
		if _, err := parseEval(args, io.Discard); err == nil || !strings.Contains(err.Error(), "-device") {
			t.Errorf("eval %v: error %v", args, err)
		}
		if err := runBoN(ctx, append([]string{"-policy", policy}, args...)); err == nil || !strings.Contains(err.Error(), "-device") {
			t.Errorf("bon %v: error %v", args, err)
		}
	}
}
