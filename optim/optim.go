// Package optim trains parameters: AdamW, global-norm gradient clipping and
// a linear-warmup cosine learning-rate schedule, with optimiser state that
// can be saved and restored for resumable training.
package optim

import (
	"fmt"
	"math"
	"strings"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/tensor"
)

// AdamWConfig holds AdamW's hyper-parameters (Loshchilov & Hutter 2019).
type AdamWConfig struct {
	Beta1       float32 // first-moment decay, typically 0.9
	Beta2       float32 // second-moment decay, typically 0.999 (0.95 for GPTs)
	Eps         float32 // denominator guard, typically 1e-8
	WeightDecay float32 // decoupled decay per unit learning rate, e.g. 0.1
	// NoDecay, if set, exempts parameters from weight decay by name and value
	// (see MatricesOnly).
	NoDecay func(name string, p *ag.Var) bool
}

// DefaultAdamW returns β=(0.9, 0.999), eps 1e-8 and weight decay 0.01
// (PyTorch's AdamW defaults).
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
}

// MatricesOnly is a NoDecay filter that decays only weight matrices: it
// exempts biases, LayerNorm parameters (rank < 2) and embedding tables
// ("wte", "wpe").
func MatricesOnly(name string, p *ag.Var) bool {
	return len(p.Value.Shape) < 2 || strings.HasPrefix(name, "wte.") || strings.HasPrefix(name, "wpe.")
}

// AdamW is Adam with decoupled weight decay and bias correction.
type AdamW struct {
	Config AdamWConfig
	Params []nn.NamedParam
	Steps  int              // updates taken so far
	M, V   []*tensor.Tensor // first and second moments, one per parameter
	decay  []bool
}

// NewAdamW returns an optimiser for params with zero moments.
func NewAdamW(params []nn.NamedParam, cfg AdamWConfig) *AdamW {
	o := &AdamW{Config: cfg, Params: params}
	for _, p := range params {
		o.M = append(o.M, tensor.New(p.P.Value.Shape...))
		o.V = append(o.V, tensor.New(p.P.Value.Shape...))
		o.decay = append(o.decay, cfg.NoDecay == nil || !cfg.NoDecay(p.Name, p.P))
	}
	return o
}

// Step applies one update with learning rate lr to every parameter that has
// a gradient:
//
//	p ← p - lr·wd·p;  m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²
//	p ← p - lr·(m/(1-β1ᵗ)) / (√(v/(1-β2ᵗ)) + eps)
func (o *AdamW) Step(lr float32) {
	o.Steps++
	c := o.Config
	bc1 := float32(1 - math.Pow(float64(c.Beta1), float64(o.Steps)))
	bc2 := float32(1 - math.Pow(float64(c.Beta2), float64(o.Steps)))
	step := lr / bc1
	for i, p := range o.Params {
		if p.P.Grad == nil {
			continue
		}
		w, g, m, v := p.P.Value.Data, p.P.Grad.Data, o.M[i].Data, o.V[i].Data
		keep := float32(1)
		if o.decay[i] {
			keep = 1 - lr*c.WeightDecay
		}
		tensor.ParallelFor(len(w), 1<<14, func(lo, hi int) {
			tensor.AdamStep(w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], c.Beta1, c.Beta2, c.Eps, keep, step, 1/bc2)
		})
	}
}

// ZeroGrad clears every parameter's gradient.
func (o *AdamW) ZeroGrad() { nn.ZeroGrad(o.Params) }

// StateDict returns the optimiser state as named tensors (shared, not
// copied): "exp_avg.<param>", "exp_avg_sq.<param>" and "step" (1).
func (o *AdamW) StateDict() map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{"step": tensor.FromSlice([]float32{float32(o.Steps)}, 1)}
	for i, p := range o.Params {
		sd["exp_avg."+p.Name] = o.M[i]
		sd["exp_avg_sq."+p.Name] = o.V[i]
	}
	return sd
}

// LoadStateDict restores state saved by StateDict into an optimiser built
// over parameters with the same names and shapes.
func (o *AdamW) LoadStateDict(sd map[string]*tensor.Tensor) error {
	st, ok := sd["step"]
	if !ok || len(st.Data) != 1 || st.Data[0] < 0 || st.Data[0] != float32(int(st.Data[0])) {
		return fmt.Errorf("optim: state has no valid step")
	}
	for i, p := range o.Params {
		for _, kv := range []struct {
			key string
			dst *tensor.Tensor
		}{{"exp_avg." + p.Name, o.M[i]}, {"exp_avg_sq." + p.Name, o.V[i]}} {
			t, ok := sd[kv.key]
			if !ok {
				return fmt.Errorf("optim: state lacks %s", kv.key)
			}
			if !tensor.SameShape(t.Shape, kv.dst.Shape) {
				return fmt.Errorf("optim: state %s has shape %v, parameter %v", kv.key, t.Shape, kv.dst.Shape)
			}
		}
	}
	for i, p := range o.Params {
		copy(o.M[i].Data, sd["exp_avg."+p.Name].Data)
		copy(o.V[i].Data, sd["exp_avg_sq."+p.Name].Data)
	}
	o.Steps = int(st.Data[0])
	return nil
}

// ClipGradNorm scales all gradients so that their global L2 norm is at most
// maxNorm and returns the norm before clipping. Parameters without a
// gradient are skipped.
func ClipGradNorm(params []nn.NamedParam, maxNorm float64) float64 {
	var s float64
	for _, p := range params {
		if p.P.Grad == nil {
			continue
		}
		g := p.P.Grad.Data
		w := min(tensor.Workers, max(1, len(g)>>14))
		part := make([]float64, w)
		tensor.ParallelFor(w, 1, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				var acc float64
				for _, v := range g[k*len(g)/w : (k+1)*len(g)/w] {
					acc += float64(v) * float64(v)
				}
				part[k] = acc
			}
		})
		for _, v := range part {
			s += v
		}
	}
	norm := math.Sqrt(s)
	if norm > maxNorm {
		k := float32(maxNorm / (norm + 1e-6))
		for _, p := range params {
			if p.P.Grad == nil {
				continue
			}
			g := p.P.Grad.Data
			tensor.ParallelFor(len(g), 1<<14, func(lo, hi int) { tensor.Scale(g[lo:hi], k) })
		}
	}
	return norm
}

// Cosine is a learning-rate schedule: linear warm-up from 0 to Peak over
// Warmup steps, then cosine decay to Min at step Total, Min afterwards.
type Cosine struct {
	Peak, Min     float64
	Warmup, Total int
}

// LR returns the learning rate for step (0-based).
func (c Cosine) LR(step int) float64 {
	if step < c.Warmup {
		return c.Peak * float64(step+1) / float64(c.Warmup)
	}
	if step >= c.Total || c.Total <= c.Warmup {
		return c.Min
	}
	f := float64(step-c.Warmup) / float64(c.Total-c.Warmup)
	return c.Min + 0.5*(c.Peak-c.Min)*(1+math.Cos(math.Pi*f))
}
