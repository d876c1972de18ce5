package ppo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/optim"
	"rlhf/tensor"
)

// hostDevice is a Device on the CPU engine that, as a GPU does, keeps its
// own copy of the parameters and AdamW state: the policy's host tensors and
// the trainer's Opt change only on Sync.
type hostDevice struct {
	opt    *optim.AdamW     // its own state over the trainer's Vars
	clip   float64          // global gradient-norm limit; 0: none
	vals   []*tensor.Tensor // the device's parameter values
	bucket int              // PadLen rounds up to a multiple of this (0: no padding)
	padded int              // PadLen calls that padded
	steps  int
	syncs  int
	fail   error // returned by Forward when set
}

// newHostDevice starts a device with o's parameters and state, as
// xla.Trainer.Upload does.
func newHostDevice(o *optim.AdamW, clip float64, bucket int) *hostDevice {
	d := &hostDevice{opt: optim.NewAdamW(o.Params, o.Config), clip: clip, bucket: bucket}
	for i, p := range o.Params {
		d.vals = append(d.vals, p.P.Value.Clone())
		copy(d.opt.M[i].Data, o.M[i].Data)
		copy(d.opt.V[i].Data, o.V[i].Data)
	}
	d.opt.Steps = o.Steps
	return d
}

// on runs f with the device's values in the parameters and puts the host's
// back afterwards.
func (d *hostDevice) on(f func()) {
	host := make([]*tensor.Tensor, len(d.vals))
	for i, p := range d.opt.Params {
		host[i] = p.P.Value.Clone()
		copy(p.P.Value.Data, d.vals[i].Data)
	}
	f()
	for i, p := range d.opt.Params {
		copy(d.vals[i].Data, p.P.Value.Data)
		copy(p.P.Value.Data, host[i].Data)
	}
}

func (d *hostDevice) Step(lr float64, f func(tp *ag.Tape) *ag.Var) (loss, norm float64, err error) {
	d.steps++
	d.on(func() {
		tp := ag.NewTape()
		d.opt.ZeroGrad()
		out := f(tp)
		tp.Backward(out)
		loss = float64(out.Item())
		norm = optim.ClipGradNorm(d.opt.Params, cmpOr(d.clip, math.Inf(1)))
		d.opt.Step(float32(lr))
	})
	return loss, norm, nil
}

func cmpOr(v, otherwise float64) float64 {
	if v > 0 {
		return v
	}
	return otherwise
}

func (d *hostDevice) Forward(f func(tp *ag.Tape) *ag.Var) (out *tensor.Tensor, err error) {
	if d.fail != nil {
		return nil, d.fail
	}
	d.on(func() { out = f(ag.NewNoGradTape()).Value.Clone() })
	return out, nil
}

func (d *hostDevice) Sync(o *optim.AdamW) error {
	d.syncs++
	for i, p := range d.opt.Params {
		copy(p.P.Value.Data, d.vals[i].Data)
		if o != nil {
			copy(o.M[i].Data, d.opt.M[i].Data)
			copy(o.V[i].Data, d.opt.V[i].Data)
		}
	}
	if o != nil {
		o.Steps = d.opt.Steps
	}
	return nil
}

func (d *hostDevice) PadLen(t, limit int) int {
	if d.bucket == 0 {
		return t
	}
	b := max(t, min((t+d.bucket-1)/d.bucket*d.bucket, limit))
	if b > t {
		d.padded++
	}
	return b
}

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
	d := newHostDevice(tr.Opt, c.MaxGradNorm, 0)
	tr.Device = d
	got := steps(tr, 2)
	mbs := c.Epochs * c.MiniBatches
	if d.steps != 2*mbs || d.syncs != 2 {
		t.Errorf("%d device steps and %d syncs, want %d and 2", d.steps, d.syncs, 2*mbs)
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
	pd := newHostDevice(tr.Opt, c.MaxGradNorm, 16)
	tr.Device = pd
	pad := steps(tr, 1)[0]
	if pd.padded != mbs {
		t.Errorf("%d of %d minibatches padded", pd.padded, mbs)
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
	d := newHostDevice(tr.Opt, 0, 0)
	d.fail = errors.New("out of device memory")
	tr.Device = d
	_, err = tr.Step(context.Background())
	if !errors.Is(err, d.fail) || !strings.Contains(err.Error(), "ppo: minibatch") {
		t.Errorf("Step with a failing device: %v", err)
	}
	if tr.Steps != 0 {
		t.Errorf("a failed step counted: %d", tr.Steps)
	}
}
