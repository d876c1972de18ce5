package xla

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph ops read like the math they build
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/tensor"
)

// Func is model or loss code written against the ag op vocabulary: it runs
// the ops on tp and returns one result (a loss for Step and Gradients).
type Func func(tp *ag.Tape) *ag.Var

// Config sets the optimiser of a Trainer; it mirrors optim.AdamW and
// optim.ClipGradNorm so that a step here equals a step on the CPU engine.
type Config struct {
	AdamW optim.AdamWConfig
	// ClipNorm clips the global gradient L2 norm to this value; 0 disables.
	ClipNorm float64
}

// kind names the three executables a Trainer builds from one Func.
type kind int

const (
	kindForward kind = iota // params, data -> result
	kindGrad                // params, data -> loss, gradients
	kindStep                // params, moments, lr, bias corrections, data -> loss, norm, params, moments
)

// maxCached bounds the executables kept per kind; the oldest goes first
// (a loss whose baked-in constants change every step recompiles every step).
const maxCached = 16

// entry is one compiled executable and the trace that built it.
type entry struct {
	ops  []opRec
	out  int    // index of the op whose result the Func returned
	used []bool // params the Func read (the others get no update)
	g    *Graph
	st   BuildStats
}

// Trainer keeps a model's parameters and AdamW moments on a GoMLX backend
// and runs forward passes, gradients and whole training steps (forward,
// loss, backward, clipping, AdamW) as one compiled executable per shape.
// The first call with a new op sequence or new data shapes traces and
// compiles; later calls replay the cached trace to collect the step's host
// data (token ids, targets, masks) and run the executable. Constants baked
// into the ops (Scale factors, clip ranges) are part of the cache key.
//
// The Vars of params keep their host values until Sync copies the device
// state back (e.g. before saving a checkpoint).
type Trainer struct {
	Backend backends.Backend
	Params  []nn.NamedParam
	Config  Config
	Steps   int // AdamW updates taken so far

	p, m, v []*tensors.Tensor // device state, one per param
	decay   []bool
	cache   [3][]*entry
	last    *entry // the entry of the latest run
	tm      Timings
}

// Timings adds up where the wall time of a Trainer's calls went, to tell
// host overhead from device work. Replay, Feed and Fetch are host work
// proportional to the op count and the size of the host data, not to the
// model's arithmetic.
type Timings struct {
	Calls  int           // Step, Gradients and Forward calls
	Builds int           // calls that traced and compiled a new executable
	Replay time.Duration // re-running the Func on the host against the cached traces
	Build  time.Duration // tracing, differentiating and compiling new executables
	Feed   time.Duration // turning the step's host data and scalars into backend inputs (transfers included)
	Run    time.Duration // executing (PJRT waits for the device here; the go backend computes here)
	Fetch  time.Duration // copying the results the caller reads (loss, norm, outputs) to the host
}

// Host is the host-side overhead: Replay + Feed + Fetch.
func (tm Timings) Host() time.Duration { return tm.Replay + tm.Feed + tm.Fetch }

// Timings returns the time spent so far (see Timings); ResetTimings starts over.
func (t *Trainer) Timings() Timings { return t.tm }

// ResetTimings zeroes the Timings, e.g. after warm-up steps.
func (t *Trainer) ResetTimings() { t.tm = Timings{} }

// NewTrainer uploads params (and zero AdamW moments) to backend.
func NewTrainer(backend backends.Backend, params []nn.NamedParam, cfg Config) (*Trainer, error) {
	if backend == nil {
		return nil, errors.New("xla: nil backend")
	}
	if len(params) == 0 {
		return nil, errors.New("xla: no parameters")
	}
	t := &Trainer{Backend: backend, Params: params, Config: cfg}
	for _, np := range params {
		s := np.P.Value.Shape
		t.p = append(t.p, tensors.FromFlatDataAndDimensions(slices.Clone(np.P.Value.Data), s...))
		t.m = append(t.m, tensors.FromShape(shapes.Make(dtypes.Float32, s...)))
		t.v = append(t.v, tensors.FromShape(shapes.Make(dtypes.Float32, s...)))
		t.decay = append(t.decay, cfg.AdamW.NoDecay == nil || !cfg.AdamW.NoDecay(np.Name, np.P))
	}
	return t, nil
}

// Compiled returns the number of executables built so far.
func (t *Trainer) Compiled() int { return len(t.cache[0]) + len(t.cache[1]) + len(t.cache[2]) }

// Upload copies the host values of the params (and, when o is not nil, its
// moments and step count) to the device, e.g. after loading a checkpoint.
func (t *Trainer) Upload(o *optim.AdamW) error {
	for i, np := range t.Params {
		t.p[i] = tensors.FromFlatDataAndDimensions(slices.Clone(np.P.Value.Data), np.P.Value.Shape...)
		if o != nil {
			if len(o.M) != len(t.Params) {
				return fmt.Errorf("xla: upload optimiser with %d moments for %d params", len(o.M), len(t.Params))
			}
			t.m[i] = tensors.FromFlatDataAndDimensions(slices.Clone(o.M[i].Data), np.P.Value.Shape...)
			t.v[i] = tensors.FromFlatDataAndDimensions(slices.Clone(o.V[i].Data), np.P.Value.Shape...)
		}
	}
	if o != nil {
		t.Steps = o.Steps
	}
	return nil
}

// Sync copies the device parameters into the params' host tensors and, when
// o is not nil, the AdamW moments and step count into o (built over the same
// params), so that checkpoints save exactly what the device trains.
func (t *Trainer) Sync(o *optim.AdamW) error {
	for i, np := range t.Params {
		if err := copyOut(np.P.Value.Data, t.p[i]); err != nil {
			return fmt.Errorf("xla: sync %s: %w", np.Name, err)
		}
		if o != nil {
			if err := copyOut(o.M[i].Data, t.m[i]); err != nil {
				return fmt.Errorf("xla: sync moments of %s: %w", np.Name, err)
			}
			if err := copyOut(o.V[i].Data, t.v[i]); err != nil {
				return fmt.Errorf("xla: sync moments of %s: %w", np.Name, err)
			}
		}
	}
	if o != nil {
		o.Steps = t.Steps
	}
	return nil
}

func copyOut(dst []float32, x *tensors.Tensor) error {
	return tensors.ConstFlatData(x, func(flat []float32) {
		if len(flat) == len(dst) {
			copy(dst, flat)
		}
	})
}

func toHost(x *tensors.Tensor) (*tensor.Tensor, error) {
	d, err := tensors.CopyFlatData[float32](x)
	if err != nil {
		return nil, err
	}
	return tensor.FromSlice(d, x.Shape().Dimensions...), nil
}

// fetch copies outputs to the host and releases their device buffers.
func (t *Trainer) fetch(outs ...*tensors.Tensor) ([]*tensor.Tensor, error) {
	start := time.Now()
	defer func() { t.tm.Fetch += time.Since(start) }()
	hs := make([]*tensor.Tensor, len(outs))
	for i, x := range outs {
		h, err := toHost(x)
		if err != nil {
			return nil, fmt.Errorf("xla: fetch result %d: %w", i, err)
		}
		hs[i] = h
		_ = x.FinalizeAll()
	}
	return hs, nil
}

// Forward runs f (no gradients) and returns its result on the host.
func (t *Trainer) Forward(f Func) (*tensor.Tensor, error) {
	outs, err := t.run(kindForward, f, nil)
	if err != nil {
		return nil, err
	}
	hs, err := t.fetch(outs[0])
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// Gradients evaluates the loss f and its gradient with respect to every
// param; params f does not read get a nil gradient.
func (t *Trainer) Gradients(f Func) (loss float32, grads []*tensor.Tensor, err error) {
	outs, err := t.run(kindGrad, f, nil)
	if err != nil {
		return 0, nil, err
	}
	hs, err := t.fetch(outs...)
	if err != nil {
		return 0, nil, err
	}
	grads = make([]*tensor.Tensor, len(t.Params))
	e := t.last
	k := 1
	for i := range t.Params {
		if !e.used[i] {
			continue
		}
		grads[i] = hs[k]
		grads[i].Shape = slices.Clone(t.Params[i].P.Value.Shape)
		k++
	}
	return hs[0].Data[0], grads, nil
}

// Step takes one training step with learning rate lr: loss f, gradients,
// global-norm clipping (Config.ClipNorm) and AdamW, all on the device. It
// returns the loss and the gradient norm before clipping. Params f does not
// read are left unchanged. Only the loss and the norm come back to the host;
// the new parameters and moments replace the old ones on the device, which
// the step consumes (see run).
func (t *Trainer) Step(lr float32, f Func) (loss float32, gradNorm float64, err error) {
	c := t.Config.AdamW
	n := t.Steps + 1
	bc1 := float32(1 - math.Pow(float64(c.Beta1), float64(n)))
	bc2 := float32(1 - math.Pow(float64(c.Beta2), float64(n)))
	scalars := []*tensors.Tensor{tensors.FromScalar(lr), tensors.FromScalar(bc1), tensors.FromScalar(bc2)}
	old := slices.Concat(t.p, t.m, t.v)
	outs, err := t.run(kindStep, f, scalars)
	if err != nil {
		return 0, 0, err
	}
	np := len(t.Params)
	copy(t.p, outs[2:2+np])
	copy(t.m, outs[2+np:2+2*np])
	copy(t.v, outs[2+2*np:2+3*np])
	for _, x := range old {
		// Donated buffers are gone; this frees host copies (e.g. after Upload).
		_ = x.FinalizeAll()
	}
	t.Steps = n
	hs, err := t.fetch(outs[0], outs[1])
	if err != nil {
		return 0, 0, err
	}
	return hs[0].Data[0], float64(hs[1].Data[0]), nil
}

// run finds (or builds) the executable of kind k for f and runs it. Host
// data (and, in a training step, the parameter and moment buffers, which its
// outputs replace) are donated to the execution: the pure-Go backend then
// reuses them for outputs, and PJRT frees them as soon as the step has run
// instead of when Go's garbage collector finalizes them. (GoMLX v0.26 emits
// no input-output aliasing, so XLA itself still writes new buffers.)
func (t *Trainer) run(k kind, f Func, scalars []*tensors.Tensor) ([]*tensors.Tensor, error) {
	t.tm.Calls++
	start := time.Now()
	e, feeds, err := t.replay(k, f)
	t.tm.Replay += time.Since(start)
	if err != nil {
		return nil, err
	}
	if e == nil {
		start = time.Now()
		if e, feeds, err = t.build(k, f); err != nil {
			return nil, err
		}
		t.tm.Build += time.Since(start)
		t.tm.Builds++
		if len(t.cache[k]) == maxCached {
			t.cache[k][0].g.Finalize()
			t.cache[k] = slices.Delete(t.cache[k], 0, 1)
		}
		t.cache[k] = append(t.cache[k], e)
	}
	t.last = e
	start = time.Now()
	in := make([]any, 0, 3*len(t.p)+len(scalars)+len(feeds))
	// Host data first goes to the device (and can fail) before any state
	// is donated.
	var data []any
	for _, x := range slices.Concat(scalars, feeds) {
		d, err := donate(x, t.Backend)
		if err != nil {
			return nil, fmt.Errorf("xla: send inputs: %w", err)
		}
		data = append(data, d)
	}
	state := t.p
	if k == kindStep {
		state = slices.Concat(t.p, t.m, t.v)
	}
	for _, x := range state {
		if k != kindStep {
			in = append(in, x)
			continue
		}
		d, err := donate(x, t.Backend)
		if err != nil {
			return nil, fmt.Errorf("xla: donate state: %w (the device state may be lost: Upload to restore it)", err)
		}
		in = append(in, d)
	}
	in = append(in, data...)
	t.tm.Feed += time.Since(start)
	start = time.Now()
	outs, err := runGraph(e.g, in)
	t.tm.Run += time.Since(start)
	if err != nil && k == kindStep {
		err = fmt.Errorf("%w (the device state was donated to the failed step: Upload to restore it)", err)
	}
	return outs, err
}

// donate hands the device buffer of x to the next execution, moving x to
// the device first if it is on the host; x must not be used afterwards.
func donate(x *tensors.Tensor, b backends.Backend) (d any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return DonateTensorBuffer(x, b, 0)
}

func runGraph(g *Graph, in []any) (outs []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("xla: run: %v", r)
		}
	}()
	return g.Run(in...), nil
}

// replay walks f against the cached traces of kind k; it returns a nil
// entry when none matches.
func (t *Trainer) replay(k kind, f Func) (e *entry, feeds []*tensors.Tensor, err error) {
	if len(t.cache[k]) == 0 {
		return nil, nil, nil
	}
	tr := newTracer(nil)
	for _, np := range t.Params {
		tr.bind(np.P, nil)
	}
	tr.cands = slices.Clone(t.cache[k])
	var res *ag.Var
	diverged := false
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(errDiverged); ok {
					diverged = true
					return
				}
				err = fmt.Errorf("xla: trace: %v", r)
			}
		}()
		res = f(ag.NewTracingTape(tr))
	}()
	if err != nil || diverged {
		return nil, nil, err
	}
	idx, ok := tr.index[res]
	if !ok {
		return nil, nil, nil
	}
	for _, c := range tr.cands {
		if len(c.ops) == tr.n && idx == c.out {
			return c, tr.feeds, nil
		}
	}
	return nil, nil, nil
}

// build traces f into a new graph of kind k and compiles it.
func (t *Trainer) build(k kind, f Func) (e *entry, feeds []*tensors.Tensor, err error) {
	e, feeds, outs, err := t.graph(k, f)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	if err := compileGraph(e.g, outs); err != nil {
		e.g.Finalize()
		return nil, nil, err
	}
	e.st.Compile = time.Since(start)
	return e, feeds, nil
}

func compileGraph(g *Graph, outs []*Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("xla: compile: %v", r)
		}
	}()
	g.Compile(outs...)
	return nil
}

// graph traces f into a new graph of kind k and returns it uncompiled with
// its outputs.
func (t *Trainer) graph(k kind, f Func) (e *entry, feeds []*tensors.Tensor, outs []*Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("xla: build graph: %v", r)
		}
	}()
	g := NewGraph(t.Backend, fmt.Sprintf("rlhf_%d_%d", k, len(t.cache[k])))
	defer forgetDots(g)
	tr := newTracer(g)
	np := len(t.Params)
	pn := make([]*Node, np)
	for i, p := range t.Params {
		pn[i] = Parameter(g, p.Name, shapes.Make(dtypes.Float32, p.P.Value.Shape...))
		tr.bind(p.P, pn[i])
	}
	var mn, vn []*Node
	var lr, bc1, bc2 *Node
	if k == kindStep {
		for i, p := range t.Params {
			mn = append(mn, Parameter(g, "m."+p.Name, pn[i].Shape()))
		}
		for i, p := range t.Params {
			vn = append(vn, Parameter(g, "v."+p.Name, pn[i].Shape()))
		}
		s := shapes.Make(dtypes.Float32)
		lr, bc1, bc2 = Parameter(g, "lr", s), Parameter(g, "bc1", s), Parameter(g, "bc2", s)
	}
	tr.used = map[*Node]bool{}
	start := time.Now()
	res := f(ag.NewTracingTape(tr))
	traced := time.Now()
	out, ok := tr.nodes[res]
	if !ok || out == nil {
		return nil, nil, nil, errors.New("xla: the function returned a Var it did not compute")
	}
	e = &entry{ops: tr.ops, out: tr.index[res], g: g, used: make([]bool, np)}
	e.st.Ops, e.st.Trace = len(tr.ops), traced.Sub(start)
	var used []*Node
	for i, n := range pn {
		e.used[i] = tr.used[n]
		if e.used[i] {
			used = append(used, n)
		}
	}
	switch k {
	case kindForward:
		outs = []*Node{out}
	case kindGrad, kindStep:
		if out.Shape().Size() != 1 {
			return nil, nil, nil, fmt.Errorf("xla: loss has shape %v, want one element", out.Shape().Dimensions)
		}
		loss := Reshape(out)
		start := time.Now()
		grads := Gradient(loss, used...)
		e.st.Grad = time.Since(start)
		if k == kindGrad {
			outs = append([]*Node{loss}, grads...)
			break
		}
		start = time.Now()
		outs = t.adamW(loss, pn, mn, vn, e.used, grads, lr, bc1, bc2)
		e.st.Update = time.Since(start)
	}
	e.st.Nodes = len(g.Nodes())
	e.st.Folded = foldable(g)
	for _, n := range g.Nodes() {
		if n.NumOutputs() == 1 {
			e.st.Largest = max(e.st.Largest, n.Shape().Size())
		}
	}
	return e, tr.feeds, outs, nil
}

// adamW builds clipping and the AdamW update; it returns loss, norm, the new
// params, first and second moments.
func (t *Trainer) adamW(loss *Node, p, m, v []*Node, used []bool, grads []*Node, lr, bc1, bc2 *Node) []*Node {
	c := t.Config.AdamW
	g := loss.Graph()
	var sq *Node
	for _, gr := range grads {
		s := ReduceAllSum(Mul(gr, gr))
		if sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	norm := f32(g, 0)
	if sq != nil {
		norm = Sqrt(sq)
	}
	scale := f32(g, 1)
	if t.Config.ClipNorm > 0 {
		mx := f32(g, t.Config.ClipNorm)
		scale = Where(GreaterThan(norm, mx), Div(mx, AddScalar(norm, 1e-6)), f32(g, 1))
	}
	np := len(p)
	newP, newM, newV := make([]*Node, np), make([]*Node, np), make([]*Node, np)
	step := Div(lr, bc1)
	invBC2 := Inverse(bc2)
	k := 0
	for i := range p {
		if !used[i] {
			newP[i], newM[i], newV[i] = Identity(p[i]), Identity(m[i]), Identity(v[i])
			continue
		}
		gr := Mul(grads[k], scale)
		k++
		mi := Add(MulScalar(m[i], float64(c.Beta1)), MulScalar(gr, float64(1-c.Beta1)))
		vi := Add(MulScalar(v[i], float64(c.Beta2)), MulScalar(Mul(gr, gr), float64(1-c.Beta2)))
		den := AddScalar(Sqrt(Mul(vi, invBC2)), float64(c.Eps))
		w := p[i]
		if t.decay[i] {
			w = Mul(w, Sub(f32(g, 1), MulScalar(lr, float64(c.WeightDecay))))
		}
		newP[i] = Sub(w, Mul(step, Div(mi, den)))
		newM[i], newV[i] = mi, vi
	}
	return slices.Concat([]*Node{loss, norm}, newP, newM, newV)
}

// BuildStats describes how one executable was built: the traced ag ops, the
// GoMLX graph nodes (forward, backward and optimiser) and the host time of
// each phase.
type BuildStats struct {
	Ops   int // ag ops traced
	Nodes int // GoMLX graph nodes
	// Folded is the element count of the largest value computed from no
	// input at all (a mask from Iota, say): XLA evaluates such values on the
	// host while compiling, slowly, so they must stay small.
	Folded int
	// Largest is the element count of the largest value in the graph: a
	// value much larger than any operand or result of the model's products
	// (M x K x N for an M x K by K x N product) means a product was spelled
	// as a broadcast multiply and a sum.
	Largest int
	Trace   time.Duration // running the Func into graph ops (forward)
	Grad    time.Duration // GoMLX's reverse-mode differentiation
	Update  time.Duration // clipping and AdamW
	Compile time.Duration // backend compilation (XLA: includes autotuning)
}

// StepGraph builds (without compiling) the training-step graph of f, as Step
// would on its first call, and reports its size and build times; the graph
// is discarded. It shows what a compile would have to digest.
func (t *Trainer) StepGraph(f Func) (BuildStats, error) {
	e, _, _, err := t.graph(kindStep, f)
	if err != nil {
		return BuildStats{}, err
	}
	e.g.Finalize()
	return e.st, nil
}

// LastBuild returns the build statistics of the executable the latest call
// ran (built then or earlier).
func (t *Trainer) LastBuild() BuildStats {
	if t.last == nil {
		return BuildStats{}
	}
	return t.last.st
}

// foldable returns the element count of the largest node computed only from
// constants (leaves that are Constant, Iota or broadcasts of them do not
// count: XLA keeps those symbolic).
func foldable(g *Graph) int {
	constant := map[*Node]bool{}
	largest := 0
	for _, n := range g.Nodes() {
		switch n.Type() {
		case NodeTypeParameter:
			continue
		case NodeTypeConstant, NodeTypeIota:
			constant[n] = true
			continue
		}
		c := true
		for _, in := range n.Inputs() {
			c = c && constant[in]
		}
		if !c {
			continue
		}
		constant[n] = true
		if n.NumOutputs() == 1 && n.Type() != NodeTypeBroadcastInDim && n.Type() != NodeTypeReshape {
			largest = max(largest, n.Shape().Size())
		}
	}
	return largest
}
