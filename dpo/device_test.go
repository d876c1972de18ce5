package dpo

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/dpo/devicetest"
	"rlhf/optim"
	"rlhf/tensor"
)

var _ Device = (*devicetest.Host)(nil)

// dpoRun is the per-step losses and metrics, the held-out result and the
// final weights of a short training run.
type dpoRun struct {
	losses []float64
	stats  []Stats
	eval   float64
	params []*tensor.Tensor
}

// trainWith trains a fresh policy on fixed pairs, its steps on dev when
// newDev is not nil.
func trainWith(t *testing.T, c Config, newDev func(*Trainer) Device) dpoRun {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	train, val := pairs(rng, 20), pairs(rng, 6)
	policy, ref := smallGPT(t, 3), smallGPT(t, 3)
	tr, err := NewTrainer(c, policy, ref, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if newDev != nil {
		tr.Device = newDev(tr)
	}
	var r dpoRun
	err = tr.Train(context.Background(), func(step int, loss float64, s Stats) error {
		r.losses, r.stats = append(r.losses, loss), append(r.stats, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.eval, _, err = tr.Evaluate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range policy.Params() {
		r.params = append(r.params, p.P.Value.Clone())
	}
	return r
}

// TestDeviceRunsTheSameSteps: a Device that keeps its own weights gets the
// same loss closures as the CPU engine: unpadded, the run is the CPU run to
// the bit (losses, metrics, held-out loss and weights, which Train copies
// back); padded to buckets of 16 tokens it agrees within float32 rounding.
func TestDeviceRunsTheSameSteps(t *testing.T) {
	c := DefaultConfig()
	c.LR, c.Warmup, c.Epochs, c.Batch, c.ClipNorm = 3e-3, 2, 2, 8, 1
	cpu := trainWith(t, c, nil)
	var exact, padded *devicetest.Host
	same := trainWith(t, c, func(tr *Trainer) Device { exact = devicetest.NewHost(tr.Opt, c.ClipNorm); return exact })
	// A forward pass per step for its metrics, and one for the held-out
	// evaluation (6 pairs: one chunk).
	if len(same.losses) != 6 || exact.Steps != 6 || exact.Forwards != 7 || exact.Syncs != 1 {
		t.Fatalf("%d steps, %d device steps, %d forward passes, %d syncs; want 6, 6, 7, 1", len(same.losses), exact.Steps, exact.Forwards, exact.Syncs)
	}
	for i := range cpu.losses {
		if same.losses[i] != cpu.losses[i] || same.stats[i] != cpu.stats[i] {
			t.Errorf("step %d: loss %v, %+v on the device; %v, %+v on the CPU engine", i+1, same.losses[i], same.stats[i], cpu.losses[i], cpu.stats[i])
		}
	}
	if same.eval != cpu.eval {
		t.Errorf("held-out loss %v after the device run, %v after the CPU run", same.eval, cpu.eval)
	}
	for i := range cpu.params {
		if d := tensor.MaxAbsDiff(cpu.params[i], same.params[i]); d != 0 {
			t.Errorf("parameter %d differs by %g", i, d)
		}
	}
	pad := trainWith(t, c, func(tr *Trainer) Device {
		padded = devicetest.NewHost(tr.Opt, c.ClipNorm)
		padded.Bucket = 16
		return padded
	})
	if padded.Padded != 2*6+1 { // each step's forward pass and step, and the evaluation
		t.Errorf("%d of 13 batches padded", padded.Padded)
	}
	if math.Abs(pad.eval-cpu.eval) > 1e-5*math.Abs(cpu.eval) {
		t.Errorf("held-out loss %v after the padded run, %v after the CPU run", pad.eval, cpu.eval)
	}
	for i := range cpu.losses {
		if math.Abs(pad.losses[i]-cpu.losses[i]) > 1e-5*math.Abs(cpu.losses[i]) || math.Abs(pad.stats[i].Margin-cpu.stats[i].Margin) > 1e-5 {
			t.Errorf("step %d padded: loss %v margin %v; unpadded %v, %v", i+1, pad.losses[i], pad.stats[i].Margin, cpu.losses[i], cpu.stats[i].Margin)
		}
	}
	for i := range cpu.params {
		if d := tensor.MaxAbsDiff(cpu.params[i], pad.params[i]); d > 1e-4 {
			t.Errorf("parameter %d differs by %g after the padded run", i, d)
		}
	}
	if cpu.losses[0] == cpu.losses[5] {
		t.Error("the loss did not move: the comparison proves nothing")
	}
}

func TestDeviceErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	policy := smallGPT(t, 3)
	tr, err := NewTrainer(DefaultConfig(), policy, policy, pairs(rng, 4), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := devicetest.NewHost(tr.Opt, 0)
	d.Fail = errors.New("out of device memory")
	tr.Device = d
	err = tr.Train(context.Background(), nil)
	if !errors.Is(err, d.Fail) || !strings.Contains(err.Error(), "dpo: step 0") {
		t.Errorf("Train with a failing device: %v", err)
	}
	if d.Syncs != 1 || tr.Steps != 0 {
		t.Errorf("after the failure: %d syncs, %d steps; want 1, 0", d.Syncs, tr.Steps)
	}
}

// rowCounter is a devicetest.Host that records the rows of each forward pass.
type rowCounter struct {
	*devicetest.Host
	rows []int
}

func (r *rowCounter) Forward(f func(tp *ag.Tape) *ag.Var) (*tensor.Tensor, error) {
	out, err := r.Host.Forward(f)
	if err == nil {
		r.rows = append(r.rows, len(out.Data))
	}
	return out, err
}

// TestReferenceOnEvaluator: NewTrainerOn caches the reference's log-probs
// from the evaluator's own copy of its weights (the host copy is changed
// afterwards and must not matter), in passes of exactly 2·evalChunk rows
// padded to buckets, equal to the CPU engine's within float32 rounding; a
// failing evaluator fails the constructor with the reference named.
func TestReferenceOnEvaluator(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	train, val := pairs(rng, 20), pairs(rng, 6) // 40 and 12 rows
	c := DefaultConfig()
	ref := smallGPT(t, 3)
	want, err := NewTrainer(c, smallGPT(t, 3), ref, train, val)
	if err != nil {
		t.Fatal(err)
	}
	ev := &rowCounter{Host: devicetest.NewHost(optim.NewAdamW(ref.Params(), optim.AdamWConfig{}), 0)}
	ev.Bucket = 16
	for _, p := range ref.Params() { // the evaluator holds the weights as they were
		for i := range p.P.Value.Data {
			p.P.Value.Data[i] += 0.1
		}
	}
	got, err := NewTrainerOn(c, smallGPT(t, 3), ref, ev, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.rows) != 3 || ev.Padded == 0 {
		t.Fatalf("%d forward passes (%v rows), %d padded; want 3 (two for 40 rows, one for 12), some padded", len(ev.rows), ev.rows, ev.Padded)
	}
	for _, n := range ev.rows {
		if n != 2*evalChunk {
			t.Fatalf("forward passes of %v rows, want %d each", ev.rows, 2*evalChunk)
		}
	}
	for _, c := range []struct {
		what      string
		got, want []prepared
	}{{"training", got.train, want.train}, {"held-out", got.val, want.val}} {
		for i := range c.want {
			g, w := c.got[i], c.want[i]
			if !near(float64(g.refW), float64(w.refW), 1e-5*math.Max(1, math.Abs(float64(w.refW)))) ||
				!near(float64(g.refL), float64(w.refL), 1e-5*math.Max(1, math.Abs(float64(w.refL)))) {
				t.Errorf("%s pair %d: reference log-probs %v, %v on the evaluator; %v, %v on the CPU engine", c.what, i, g.refW, g.refL, w.refW, w.refL)
			}
		}
	}
	ev.Fail = errors.New("device lost")
	if _, err := NewTrainerOn(c, smallGPT(t, 3), ref, ev, train, val); err == nil ||
		!strings.Contains(err.Error(), "reference log-probs") || !strings.Contains(err.Error(), "device lost") {
		t.Errorf("failing evaluator: %v", err)
	}
}
