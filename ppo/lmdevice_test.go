package ppo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/dpo/devicetest"
	"rlhf/tensor"
)

var _ Device = (*devicetest.Host)(nil)

// TestLMDeviceRunsTheSameSteps: with a Device that keeps its own weights
// and optimiser state, the minibatch updates get the same loss closures as
// on the CPU engine. Unpadded, two steps on the device, a checkpoint, and a
// third step resumed on the CPU engine are the CPU run to the bit: every
// statistic and sample (so each Step sampled from the updated weights) and
// the final weights (so Save wrote the device's weights and moments).
// Padded to buckets of 16 tokens, a step agrees within float32 rounding.
func TestLMDeviceRunsTheSameSteps(t *testing.T) {
	ctx := context.Background()
	c := toyConfig()
	c.EntCoef, c.MaxGradNorm = 0.01, 0.5
	newTrainer := func() *LMTrainer {
		m, tok := toyModel(t, 3)
		tr, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), toyPrompts)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	steps := func(tr *LMTrainer, n int) []LMStats {
		var out []LMStats
		for range n {
			st, err := tr.Step(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, st)
		}
		return out
	}
	cpu := newTrainer()
	want := steps(cpu, 3)

	tr := newTrainer()
	d := devicetest.NewHost(tr.Opt, c.MaxGradNorm)
	tr.Device = d
	got := steps(tr, 2)
	mbs := c.Epochs * c.MiniBatches
	// A forward pass per minibatch and one per rollout; without a Sampler
	// the CPU engine samples, so each Step syncs once.
	if d.Steps != 2*mbs || d.Forwards != 2*mbs+2 || d.Syncs != 2 {
		t.Errorf("%d device steps, %d forward passes and %d syncs, want %d, %d and 2", d.Steps, d.Forwards, d.Syncs, 2*mbs, 2*mbs+2)
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := tr.Save(dir); err != nil {
		t.Fatal(err)
	}
	if tr.Opt.Steps != 2*mbs {
		t.Errorf("Save left the trainer's optimiser at step %d, want %d", tr.Opt.Steps, 2*mbs)
	}
	resumed, err := ResumeLM(dir, tr.Tok, TextScoreFunc(spaceScore), toyPrompts)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, steps(resumed, 1)...)
	for i := range want {
		if g, w := fmt.Sprintf("%+v", got[i]), fmt.Sprintf("%+v", want[i]); g != w {
			t.Errorf("step %d differs:\ndevice %s\ncpu    %s", i+1, g, w)
		}
	}
	pc, pr := cpu.Policy.Params(), resumed.Policy.Params()
	for i := range pc {
		if diff := tensor.MaxAbsDiff(pc[i].P.Value, pr[i].P.Value); diff != 0 {
			t.Errorf("%s differs by %g", pc[i].Name, diff)
		}
	}
	if want[0].PolicyLoss == want[2].PolicyLoss || want[0].GradNorm == 0 {
		t.Error("the updates did nothing: the comparison proves nothing")
	}

	tr = newTrainer()
	pd := devicetest.NewHost(tr.Opt, c.MaxGradNorm)
	pd.Bucket = 16
	tr.Device = pd
	pad := steps(tr, 1)[0]
	if pd.Padded != mbs+1 {
		t.Errorf("%d of %d minibatches and the rollout padded", pd.Padded, mbs)
	}
	for _, v := range []struct {
		name      string
		got, want float64
	}{{"policy loss", pad.PolicyLoss, want[0].PolicyLoss}, {"value loss", pad.ValueLoss, want[0].ValueLoss},
		{"approx KL", pad.ApproxKL, want[0].ApproxKL}, {"grad norm", pad.GradNorm, want[0].GradNorm}} {
		if math.Abs(v.got-v.want) > 1e-4*math.Abs(v.want)+1e-7 {
			t.Errorf("padded step: %s %v, unpadded %v", v.name, v.got, v.want)
		}
	}
}

func TestLMDeviceErrors(t *testing.T) {
	m, tok := toyModel(t, 3)
	tr, err := NewLMTrainer(toyConfig(), m, tok, TextScoreFunc(spaceScore), toyPrompts)
	if err != nil {
		t.Fatal(err)
	}
	d := devicetest.NewHost(tr.Opt, 0)
	d.Fail = errors.New("out of device memory")
	tr.Device = d
	_, err = tr.Step(context.Background())
	if !errors.Is(err, d.Fail) || !strings.Contains(err.Error(), "ppo: the rollout's log-probs and values") {
		t.Errorf("Step with a failing device: %v", err)
	}
	if tr.Steps != 0 {
		t.Errorf("a failed step counted: %d", tr.Steps)
	}
}
