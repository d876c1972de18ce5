// Package devicetest provides a device for testing the Device hooks of the
// policy trainers (dpo.Trainer, ppo.LMTrainer) without a GPU.
package devicetest

import (
	"math"

	"rlhf/ag"
	"rlhf/optim"
	"rlhf/tensor"
)

// Host runs a trainer's steps on the CPU engine but, as a GPU does, keeps
// its own copy of the parameters and AdamW state: the host tensors and the
// trainer's optimiser change only on Sync. Unpadded, its steps are the CPU
// engine's to the bit, so a trainer that hands it the same loss closures
// reproduces its CPU run exactly.
type Host struct {
	// Bucket makes PadLen round lengths up to a multiple of it (0: no padding).
	Bucket int
	// Fail, when set, is returned by Step and Forward.
	Fail error
	// Steps, Forwards and Syncs count the calls; Padded counts the PadLen
	// calls that padded.
	Steps, Forwards, Syncs, Padded int

	opt  *optim.AdamW     // the device's state over the trainer's Vars
	clip float64          // global gradient-norm limit; 0: none
	vals []*tensor.Tensor // the device's parameter values
}

// NewHost starts a device with o's parameters, moments and step count (as
// xla.Trainer.Upload does), clipping the global gradient norm to clip (0:
// none).
func NewHost(o *optim.AdamW, clip float64) *Host {
	d := &Host{opt: optim.NewAdamW(o.Params, o.Config), clip: clip}
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
func (d *Host) on(f func()) {
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

// Step takes one optimiser step of the loss f at learning rate lr on the
// device's copy and returns the loss and the gradient norm before clipping.
func (d *Host) Step(lr float64, f func(tp *ag.Tape) *ag.Var) (loss, gradNorm float64, err error) {
	if d.Fail != nil {
		return 0, 0, d.Fail
	}
	d.Steps++
	limit := d.clip
	if limit <= 0 {
		limit = math.Inf(1)
	}
	d.on(func() {
		tp := ag.NewTape()
		d.opt.ZeroGrad()
		out := f(tp)
		tp.Backward(out)
		loss = float64(out.Item())
		gradNorm = optim.ClipGradNorm(d.opt.Params, limit)
		d.opt.Step(float32(lr))
	})
	return loss, gradNorm, nil
}

// Forward evaluates f without gradients on the device's copy.
func (d *Host) Forward(f func(tp *ag.Tape) *ag.Var) (out *tensor.Tensor, err error) {
	if d.Fail != nil {
		return nil, d.Fail
	}
	d.Forwards++
	d.on(func() { out = f(ag.NewNoGradTape()).Value.Clone() })
	return out, nil
}

// Sync copies the device's parameters into the host tensors and, when o is
// not nil, its moments and step count into o.
func (d *Host) Sync(o *optim.AdamW) error {
	d.Syncs++
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

// PadLen rounds t up to a multiple of Bucket, at most limit (t when Bucket
// is 0).
func (d *Host) PadLen(t, limit int) int {
	if d.Bucket == 0 {
		return t
	}
	b := max(t, min((t+d.Bucket-1)/d.Bucket*d.Bucket, limit))
	if b > t {
		d.Padded++
	}
	return b
}
