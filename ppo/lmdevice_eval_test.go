package ppo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/dpo/devicetest"
	"rlhf/model/gpt"
	"rlhf/optim"
	"rlhf/tensor"
)

// hostSampler samples m with the weights a devicetest.Host holds, not the
// stale host tensors: it runs m.Sample inside the device's Forward, which
// puts the device's values into the parameters for the call (as an
// xla.Sampler reads an xla.Trainer's device weights).
type hostSampler struct {
	m     *gpt.Model
	d     *devicetest.Host
	calls int
}

func (s *hostSampler) Sample(ctx context.Context, prompts [][]int, cfg gpt.SampleConfig) (*gpt.Samples, error) {
	s.calls++
	var out *gpt.Samples
	var err error
	if _, ferr := s.d.Forward(func(tp *ag.Tape) *ag.Var {
		out, err = s.m.Sample(ctx, prompts, cfg)
		return ag.Const(tensor.New(1))
	}); ferr != nil {
		return nil, ferr
	}
	return out, err
}

// refHost is a devicetest.Host over a frozen model's parameters: only its
// Forward and PadLen are used.
func refHost(m *gpt.Model) *devicetest.Host {
	return devicetest.NewHost(optim.NewAdamW(m.Params(), optim.AdamWConfig{}), 0)
}

// TestLMDeviceStepSyncsNothing: with a Device, a Sampler reading the
// device's weights and a RefDevice, a Step copies nothing to the host (zero
// Syncs over several Steps) and still runs the CPU engine's steps to the
// bit: the rollouts' log-probs, values and reference log-probs come from
// the device's current weights, not the stale host tensors. The policy's
// host tensors stay as they were until SyncPolicy, which then gives the CPU
// run's weights. Without a Sampler the CPU engine samples, and each Step
// syncs once.
func TestLMDeviceStepSyncsNothing(t *testing.T) {
	ctx := context.Background()
	c := toyConfig()
	c.BatchSize, c.Epochs = 8, 2
	newTrainer := func() *LMTrainer {
		m, tok := toyModel(t, 11)
		tr, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), toyPrompts)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	const steps = 3
	cpu := newTrainer()
	var want []LMStats
	for range steps {
		st, err := cpu.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, st)
	}
	if want[steps-1].KL == 0 {
		t.Fatal("the policy never left the reference: the comparison proves nothing")
	}

	tr := newTrainer()
	start := tr.Policy.Params()[0].P.Value.Clone()
	d := devicetest.NewHost(tr.Opt, c.MaxGradNorm)
	rd := refHost(tr.Ref)
	smp := &hostSampler{m: tr.Policy, d: d}
	tr.Device, tr.RefDevice, tr.Sampler = d, rd, smp
	for i := range steps {
		got, err := tr.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want[i]); g != w {
			t.Errorf("step %d on the device differs:\ndevice %s\ncpu    %s", i+1, g, w)
		}
	}
	if d.Syncs != 0 || rd.Syncs != 0 {
		t.Errorf("%d Steps synced the policy %d times and the reference %d times, want 0", steps, d.Syncs, rd.Syncs)
	}
	if rd.Forwards != steps || smp.calls != steps {
		t.Errorf("%d reference forward passes and %d sampler calls in %d steps", rd.Forwards, smp.calls, steps)
	}
	if diff := tensor.MaxAbsDiff(start, tr.Policy.Params()[0].P.Value); diff != 0 {
		t.Errorf("the host weights changed by %g without a sync", diff)
	}
	if err := tr.SyncPolicy(); err != nil {
		t.Fatal(err)
	}
	pc, pt := cpu.Policy.Params(), tr.Policy.Params()
	for i := range pc {
		if diff := tensor.MaxAbsDiff(pc[i].P.Value, pt[i].P.Value); diff != 0 {
			t.Errorf("after SyncPolicy %s differs from the CPU run's by %g", pc[i].Name, diff)
		}
	}

	// Without a Sampler: one sync per Step, for the CPU engine's sampling.
	plain := newTrainer()
	pd := devicetest.NewHost(plain.Opt, c.MaxGradNorm)
	plain.Device = pd
	for i := range steps {
		got, err := plain.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want[i]); g != w {
			t.Errorf("step %d on the device without a Sampler differs:\ndevice %s\ncpu    %s", i+1, g, w)
		}
	}
	if pd.Syncs != steps {
		t.Errorf("without a Sampler, %d Steps synced %d times, want %d", steps, pd.Syncs, steps)
	}
}

// refEval computes, independently of lmRows and LogProbsOf's column
// arithmetic, the log-prob of each completion token and the value of the
// prefix before it: for token j, the model is run on the prefix alone
// (prompt and completion[:j], one row, no padding) and its last position
// is read, the log-softmax in float64.
func refEval(m *gpt.Model, prompt, completion []int) (logp, values []float64) {
	for j, tok := range completion {
		prefix := append(append([]int(nil), prompt...), completion[:j]...)
		T := len(prefix)
		tp := ag.NewNoGradTape()
		h := m.Hidden(tp, prefix, 1, T)
		logits := m.Logits(tp, h).Value.Data // (1, T, V)
		V := len(logits) / T
		row := logits[(T-1)*V : T*V]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = max(mx, float64(x))
		}
		sum := 0.0
		for _, x := range row {
			sum += math.Exp(float64(x) - mx)
		}
		logp = append(logp, float64(row[tok])-mx-math.Log(sum))
		if m.VHead != nil {
			values = append(values, float64(m.ValuesOf(tp, h).Value.Data[T-1]))
		}
	}
	return logp, values
}

// TestLMEvalOnDevice: the rollout's log-probs and values computed through
// an Evaluator on rows of different lengths, right-padded to a bucket of
// 16, equal the CPU engine's (policyEval, padded only to the longest row)
// and a reference that runs each prefix alone, within float32 rounding:
// right padding changes none of the values read. The same holds for the
// reference model, which has no value head.
func TestLMEvalOnDevice(t *testing.T) {
	c := toyConfig()
	m, tok := toyModel(t, 4)
	tr, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), toyPrompts)
	if err != nil {
		t.Fatal(err)
	}
	// Perturb the value head and the policy so that policy and reference
	// differ and the values are not all alike.
	r := rand.New(rand.NewPCG(3, 4))
	for _, p := range tr.Policy.Params() {
		for i := range p.P.Value.Data {
			p.P.Value.Data[i] += float32(r.NormFloat64() * 0.05)
		}
	}
	V := tr.Policy.Config.VocabSize
	row := func(n int) []int {
		ids := make([]int, n)
		for i := range ids {
			ids[i] = 1 + r.IntN(V-1)
		}
		return ids
	}
	prompts := [][]int{row(1), row(6), row(3), row(9)}
	comps := [][]int{row(7), row(1), row(4), row(2)}
	for _, mc := range []struct {
		name string
		m    *gpt.Model
	}{{"policy", tr.Policy}, {"reference", tr.Ref}} {
		d := devicetest.NewHost(optim.NewAdamW(mc.m.Params(), optim.AdamWConfig{}), 0)
		d.Bucket = 16
		dlp, dv, err := evalOn(d, mc.m, prompts, comps)
		if err != nil {
			t.Fatal(err)
		}
		if d.Padded != 1 || d.Forwards != 1 {
			t.Errorf("%s: %d padded and %d forward passes, want 1 and 1", mc.name, d.Padded, d.Forwards)
		}
		clp, cv := policyEval(mc.m, prompts, comps)
		if (dv == nil) != (mc.m.VHead == nil) || (cv == nil) != (mc.m.VHead == nil) {
			t.Fatalf("%s: values %v and %v with value head %v", mc.name, dv, cv, mc.m.VHead != nil)
		}
		for i := range prompts {
			wlp, wv := refEval(mc.m, prompts[i], comps[i])
			if len(dlp[i]) != len(comps[i]) || len(clp[i]) != len(comps[i]) || (dv != nil && len(dv[i]) != len(comps[i])) {
				t.Fatalf("%s row %d: %d and %d log-probs for %d tokens", mc.name, i, len(dlp[i]), len(clp[i]), len(comps[i]))
			}
			for j := range comps[i] {
				close := func(what string, got float32, want float64) {
					if math.Abs(float64(got)-want) > 1e-5*max(1, math.Abs(want)) {
						t.Errorf("%s row %d token %d: %s %v, want %v", mc.name, i, j, what, got, want)
					}
				}
				close("device log-prob", dlp[i][j], wlp[j])
				close("CPU log-prob", clp[i][j], wlp[j])
				if dv != nil {
					close("device value", dv[i][j], wv[j])
					close("CPU value", cv[i][j], wv[j])
				}
			}
		}
	}
}

// TestLMRefDeviceErrors: a failing RefDevice fails the Step with an error
// that names the reference, and the Step does not count.
func TestLMRefDeviceErrors(t *testing.T) {
	m, tok := toyModel(t, 3)
	tr, err := NewLMTrainer(toyConfig(), m, tok, TextScoreFunc(spaceScore), toyPrompts)
	if err != nil {
		t.Fatal(err)
	}
	rd := refHost(tr.Ref)
	rd.Fail = errors.New("device lost")
	tr.RefDevice = rd
	_, err = tr.Step(context.Background())
	if !errors.Is(err, rd.Fail) || !strings.Contains(err.Error(), "ppo: the reference's log-probs") {
		t.Errorf("Step with a failing reference device: %v", err)
	}
	if tr.Steps != 0 {
		t.Errorf("a failed step counted: %d", tr.Steps)
	}
}

// TestSequenceKLOn: the per-sequence KL with both models' log-probs on
// devices (each over its own weights, rows padded to its buckets) is the
// CPU engine's within float32 rounding, one forward pass each; a failing
// device is an error naming the model.
func TestSequenceKLOn(t *testing.T) {
	policy, _ := toyModel(t, 1)
	ref, _ := toyModel(t, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	var prompts, comps [][]int
	for i := range 5 {
		p, c := make([]int, 2+i%3), make([]int, 1+(i*2)%5)
		for j := range p {
			p[j] = rng.IntN(policy.Config.VocabSize)
		}
		for j := range c {
			c[j] = rng.IntN(policy.Config.VocabSize)
		}
		prompts, comps = append(prompts, p), append(comps, c)
	}
	want := SequenceKL(policy, ref, prompts, comps)
	pol, rd := refHost(policy), refHost(ref)
	pol.Bucket, rd.Bucket = 16, 16
	got, err := SequenceKLOn(pol, rd, policy, ref, prompts, comps)
	if err != nil {
		t.Fatal(err)
	}
	if pol.Forwards != 1 || rd.Forwards != 1 || pol.Padded != 1 || rd.Padded != 1 {
		t.Errorf("forward passes %d and %d (padded %d, %d), want one padded pass each", pol.Forwards, rd.Forwards, pol.Padded, rd.Padded)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-4*math.Max(1, math.Abs(want[i])) {
			t.Errorf("sequence %d: KL %v on the devices, %v on the CPU engine", i, got[i], want[i])
		}
	}
	if want[0] == 0 {
		t.Error("the models agree: the comparison proves nothing")
	}
	rd.Fail = errors.New("device lost")
	if _, err := SequenceKLOn(pol, rd, policy, ref, prompts, comps); err == nil || !strings.Contains(err.Error(), "reference") {
		t.Errorf("failing reference device: %v", err)
	}
}
