package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"

	"rlhf/ag"
	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/optim"
	"rlhf/reward"
	"rlhf/tensor"
	"rlhf/xla"
)

// The -device flag of the training subcommands chooses where training steps
// run. Model and loss code is the same on every device: on the CPU engine it
// runs on an ag tape; on a GoMLX device an xla.Trainer traces the same
// closures into one compiled step. Checkpoints are the same safetensors
// files either way.

// deviceCPU is the default device: the project's own CPU engine.
const deviceCPU = "cpu"

// deviceHelp is the help text of -device.
const deviceHelp = `where training steps run:
  cpu                 the CPU engine (default)
  xla:cuda            XLA through the PJRT plugin named cuda on PJRT_PLUGIN_LIBRARY_PATH
  xla:/abs/path.so    XLA through the PJRT plugin at that absolute path (e.g. JAX's xla_cuda_plugin.so)
  go                  GoMLX's pure-Go backend (slow; for tests)
append ,tf32 to an xla: device for TensorFloat-32 matrix products (faster, less exact);
the xla: devices need a binary built with CGO_ENABLED=1 go build -tags xla ./cmd/rlhf`

// deviceFlag registers -device on fs and returns its value.
func deviceFlag(fs *flag.FlagSet) *string {
	return fs.String("device", deviceCPU, deviceHelp)
}

// rebuildHint says how to get a binary with the XLA devices.
const rebuildHint = "rebuild with: CGO_ENABLED=1 go build -tags xla ./cmd/rlhf (gcc and libdl at build time; the plugin is opened at run time)"

// checkDevice reports whether name is a well-formed -device value, without
// opening anything: cpu, go, go:<config>, xla:<plugin name> or
// xla:/abs/path/plugin.so.
func checkDevice(name string) error {
	kind, rest, hasColon := strings.Cut(name, ":")
	switch {
	case name == deviceCPU:
		return nil
	case kind == "go" && (!hasColon || rest != ""):
		return nil
	case kind == "xla" && rest != "":
		plugin, _, _ := strings.Cut(rest, ",")
		if strings.ContainsRune(plugin, '/') && !filepath.IsAbs(plugin) {
			return fmt.Errorf("-device %q: the plugin path must be absolute (xla:/abs/path/plugin.so)", name)
		}
		return nil
	}
	return fmt.Errorf("-device %q: unknown device (want cpu, xla:cuda, xla:/abs/path/plugin.so or go)", name)
}

// trainDevice is an opened -device: the CPU engine (nil backend) or a GoMLX
// backend.
type trainDevice struct {
	name    string
	backend backends.Backend
}

// openDevice validates and opens name; "" (a config built without the
// flag) is the CPU engine. A missing plugin is an error that says where it
// was looked for; an xla: device in a binary built without -tags xla is an
// error that says how to rebuild.
func openDevice(name string) (*trainDevice, error) {
	if name == "" {
		name = deviceCPU
	}
	if err := checkDevice(name); err != nil {
		return nil, err
	}
	if name == deviceCPU {
		return &trainDevice{name: name}, nil
	}
	if plugin, ok := strings.CutPrefix(name, "xla:"); ok {
		path, _, _ := strings.Cut(plugin, ",")
		if filepath.IsAbs(path) {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("-device %s: no PJRT plugin at %s: %w (JAX's pip package jax-cuda13-pjrt ships jax_plugins/xla_cuda13/xla_cuda_plugin.so)", name, path, err)
			}
		}
		if !xla.Built {
			return nil, fmt.Errorf("-device %s: this binary was built without the XLA backend; %s", name, rebuildHint)
		}
	}
	b, err := xla.Open(name)
	if err != nil {
		return nil, fmt.Errorf("-device %s: %w", name, err)
	}
	return &trainDevice{name: name, backend: b}, nil
}

// onCPU reports whether d is the CPU engine.
func (d *trainDevice) onCPU() bool { return d.backend == nil }

// stepper takes optimiser steps of a loss over the parameters of opt on a
// trainDevice: on the CPU engine with opt itself, on a GoMLX device through
// an xla.Trainer that keeps parameters and moments on the device (opt then
// holds them only after sync). Both run the same loss closure.
type stepper struct {
	opt  *optim.AdamW
	clip float64 // global gradient-norm limit; 0: none
	tp   *ag.Tape
	tr   *xla.Trainer // nil on the CPU engine
	// syncs counts the copies of the device's parameters to the host.
	syncs int
}

// newStepper prepares steps over opt's parameters with its current values
// and state (load a checkpoint into them first), clipping the global
// gradient norm to clip (0: none).
func newStepper(d *trainDevice, opt *optim.AdamW, clip float64) (*stepper, error) {
	s := &stepper{opt: opt, clip: clip, tp: ag.NewTape()}
	if d.onCPU() {
		return s, nil
	}
	tr, err := xla.NewTrainer(d.backend, opt.Params, xla.Config{AdamW: opt.Config, ClipNorm: clip})
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", d.name, err)
	}
	if err := tr.Upload(opt); err != nil {
		return nil, fmt.Errorf("device %s: %w", d.name, err)
	}
	s.tr = tr
	return s, nil
}

// step takes one training step of the loss f at learning rate lr: forward,
// backward, clipping and AdamW. It returns the loss before the update and
// the gradient norm before clipping (on the CPU engine, 0 when clip is 0).
func (s *stepper) step(lr float64, f xla.Func) (loss, norm float64, err error) {
	if s.tr != nil {
		l, n, err := s.tr.Step(float32(lr), f)
		return float64(l), n, err
	}
	tp := s.tp
	tp.Reset()
	s.opt.ZeroGrad()
	out := f(tp)
	tp.Backward(out)
	loss = float64(out.Item())
	tp.Reset()
	if s.clip > 0 {
		norm = optim.ClipGradNorm(s.opt.Params, s.clip)
	}
	s.opt.Step(float32(lr))
	return loss, norm, nil
}

// forward evaluates f without gradients and returns its value on the host.
func (s *stepper) forward(f xla.Func) (*tensor.Tensor, error) {
	if s.tr != nil {
		return s.tr.Forward(f)
	}
	tp := ag.NewNoGradTape()
	out := f(tp)
	return out.Value.Clone(), nil
}

// syncParams copies the device's parameters into the host Vars (a no-op on
// the CPU engine), e.g. before sampling or evaluating on the CPU engine.
func (s *stepper) syncParams() error {
	if s.tr == nil {
		return nil
	}
	s.syncs++
	return s.tr.Sync(nil)
}

// sync copies the device's parameters and optimiser state into the host
// Vars and opt (a no-op on the CPU engine), e.g. before saving a checkpoint.
func (s *stepper) sync() error {
	if s.tr == nil {
		return nil
	}
	s.syncs++
	return s.tr.Sync(s.opt)
}

// newDeviceSampler returns an xla.Sampler of m on d. With a device stepper
// s over m's parameters it reads the weights s trains at each call (no sync
// or upload between training and sampling); otherwise it holds its own copy
// of m's current weights. Close it when done.
func newDeviceSampler(d *trainDevice, m *gpt.Model, s *stepper) (*xla.Sampler, error) {
	if d.onCPU() {
		return nil, fmt.Errorf("device %s: no device sampler on the CPU engine", d.name)
	}
	smp, err := xla.NewSampler(d.backend, m)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", d.name, err)
	}
	if s != nil && s.tr != nil {
		if err := smp.UseTrainer(s.tr); err != nil {
			smp.Close()
			return nil, fmt.Errorf("device %s: %w", d.name, err)
		}
	}
	return smp, nil
}

// samplerSummary describes where a device sampler's time went.
func samplerSummary(smp *xla.Sampler) string {
	t := smp.Timings()
	return fmt.Sprintf("device sampling: %d calls, %d decode steps; %d executables built in %.1fs, prefill %.1fs, decode %.1fs, fetch %.1fs",
		t.Calls, t.Steps, t.Builds, t.Build.Seconds(), t.Prefill.Seconds(), t.Decode.Seconds(), t.Fetch.Seconds())
}

// policyDevice is a stepper as the Device of dpo.Trainer and ppo.LMTrainer:
// their optimiser steps and the forward passes for their metrics run through
// it, on batches padded to bucketLen.
type policyDevice struct{ s *stepper }

var _ optim.Device = policyDevice{} // dpo.Device and ppo.Device

// Step takes one optimiser step of the loss f at learning rate lr.
func (d policyDevice) Step(lr float64, f func(tp *ag.Tape) *ag.Var) (loss, gradNorm float64, err error) {
	return d.s.step(lr, f)
}

// Forward evaluates f without gradients.
func (d policyDevice) Forward(f func(tp *ag.Tape) *ag.Var) (*tensor.Tensor, error) {
	return d.s.forward(f)
}

// Sync copies the device's parameters and, when o is not nil, its optimiser
// state to the host; o must be the stepper's optimiser or one built over the
// same parameters.
func (d policyDevice) Sync(o *optim.AdamW) error {
	if d.s.tr == nil {
		return nil
	}
	d.s.syncs++
	return d.s.tr.Sync(o)
}

// PadLen is bucketLen.
func (d policyDevice) PadLen(t, limit int) int { return bucketLen(t, limit) }

// frozenDevice is a model's copy of its weights on a device, for forward
// passes only (no optimiser steps): the Evaluator of a frozen model, e.g.
// ppo.LMTrainer's RefDevice. The weights go up once, when it is built.
type frozenDevice struct{ tr *xla.Trainer }

var _ optim.Evaluator = frozenDevice{} // ppo's RefDevice, reward.GPTReward's and dpo's reference evaluators

// newFrozenDevice uploads m's current weights to d (not the CPU engine).
// The xla.Trainer it wraps also holds zero AdamW moments on the host; they
// are never sent to the device, as no step is taken.
func newFrozenDevice(d *trainDevice, m *gpt.Model) (frozenDevice, error) {
	if d.onCPU() {
		return frozenDevice{}, fmt.Errorf("device %s: no frozen device copy on the CPU engine", d.name)
	}
	tr, err := xla.NewTrainer(d.backend, m.Params(), xla.Config{})
	if err != nil {
		return frozenDevice{}, fmt.Errorf("device %s: %w", d.name, err)
	}
	return frozenDevice{tr}, nil
}

// Forward evaluates f without gradients over the device's weights.
func (d frozenDevice) Forward(f func(tp *ag.Tape) *ag.Var) (*tensor.Tensor, error) {
	return d.tr.Forward(f)
}

// PadLen is bucketLen.
func (d frozenDevice) PadLen(t, limit int) int { return bucketLen(t, limit) }

// gptReward returns the GPT reward model behind a scorer (a
// *reward.GPTReward or a loop.TextRM), nil for any other scorer (a goal).
func gptReward(scorer any) *reward.GPTReward {
	switch s := scorer.(type) {
	case *reward.GPTReward:
		return s
	case loop.TextRM:
		return s.GPTReward
	}
	return nil
}

// gptRewards returns the GPT reward models behind a scorer: the one of a
// reward model, each member's of an ensemble (members that are not reward
// models skipped), none for a programmatic goal.
func gptRewards(scorer any) []*reward.GPTReward {
	if e, ok := scorer.(reward.TextEnsemble); ok {
		var out []*reward.GPTReward
		for _, m := range e.Members {
			out = append(out, gptRewards(m)...)
		}
		return out
	}
	if rm := gptReward(scorer); rm != nil {
		return []*reward.GPTReward{rm}
	}
	return nil
}

// scoreAllOnDevice is scoreOnDevice for each GPT reward model behind
// scorer (gptRewards: a reward model's, each of an ensemble's members';
// none for a goal or a nil scorer).
func scoreAllOnDevice(d *trainDevice, scorer any, rows int) ([]frozenDevice, error) {
	var out []frozenDevice
	for _, rm := range gptRewards(scorer) {
		fd, err := scoreOnDevice(d, rm, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, fd)
	}
	return out, nil
}

// scoreOnDevice gives the reward model rm a forward-only copy on d (not the
// CPU engine) and makes it rm's Device, so that its scoring passes run
// there. rows is the most rows scored at once (0: no limit): a smaller
// default batch than rm's spares the device filler rows.
func scoreOnDevice(d *trainDevice, rm *reward.GPTReward, rows int) (frozenDevice, error) {
	fd, err := newFrozenDevice(d, rm.Model)
	if err != nil {
		return frozenDevice{}, fmt.Errorf("reward model: %w", err)
	}
	if rm.Batch == 0 && rows > 0 && rows < defaultScoreBatch {
		rm.Batch = rows
	}
	rm.Device = fd
	return fd, nil
}

// defaultScoreBatch is reward.GPTReward's batch when its Batch is 0.
const defaultScoreBatch = 32

// scoringSummary describes a reward model's scoring passes on a device.
func scoringSummary(fd frozenDevice) string {
	t := fd.tr.Timings()
	return fmt.Sprintf("device: %d scoring passes of the reward model; %d executables built in %.1fs, run %.1fs",
		t.Calls, t.Builds, t.Build.Seconds(), t.Run.Seconds())
}

// bucketLen rounds a padded sequence length t up to a multiple of 16, at
// most limit, so that a device compiles one step per bucket rather than one
// per batch length. Padding is never attended to and masked out of losses.
func bucketLen(t, limit int) int {
	b := (t + 15) / 16 * 16
	return max(t, min(b, limit))
}
