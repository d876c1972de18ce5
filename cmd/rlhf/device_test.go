package main

import (
	"flag"
	"io"
	"math"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/model/gpt"
	"rlhf/optim"
	"rlhf/tensor"
	"rlhf/xla"
)

func TestCheckDevice(t *testing.T) {
	for _, ok := range []string{"cpu", "go", "go:ops_sequential", "xla:cuda", "xla:/opt/p/xla_cuda_plugin.so", "xla:cuda,tf32", "xla:/opt/p/xla_cuda_plugin.so,tf32"} {
		if err := checkDevice(ok); err != nil {
			t.Errorf("checkDevice(%q): %v", ok, err)
		}
	}
	for _, c := range []struct{ name, want string }{
		{"", "unknown device"},
		{"gpu", "unknown device"},
		{"cuda", "unknown device"},
		{"xla", "unknown device"},
		{"xla:", "unknown device"},
		{"go:", "unknown device"},
		{"CPU", "unknown device"},
		{"xla:plugins/xla_cuda_plugin.so", "must be absolute"},
	} {
		err := checkDevice(c.name)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "xla:/abs/path/plugin.so") {
			t.Errorf("checkDevice(%q): error %v, want one containing %q and listing the forms", c.name, err, c.want)
		}
	}
}

func TestDeviceFlagHelp(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d := deviceFlag(fs)
	if *d != "cpu" {
		t.Errorf("default -device %q, want cpu", *d)
	}
	usage := fs.Lookup("device").Usage
	for _, form := range []string{"cpu", "xla:cuda", "xla:/abs/path", "go", "-tags xla", ",tf32"} {
		if !strings.Contains(usage, form) {
			t.Errorf("-device help does not mention %q:\n%s", form, usage)
		}
	}
	if err := fs.Parse([]string{"-device", "go"}); err != nil || *d != "go" {
		t.Errorf("parse -device go: %q, %v", *d, err)
	}
}

func TestOpenDeviceErrors(t *testing.T) {
	_, err := openDevice("xla:/nonexistent/dir/xla_cuda_plugin.so")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/dir/xla_cuda_plugin.so") {
		t.Errorf("missing plugin: error %v does not say where it looked", err)
	}
	_, err = openDevice("xla:/nonexistent/dir/xla_cuda_plugin.so,tf32")
	if err == nil || !strings.Contains(err.Error(), "no PJRT plugin at /nonexistent/dir/xla_cuda_plugin.so:") {
		t.Errorf("missing plugin with an option: error %v does not name the path alone", err)
	}
	_, err = openDevice("xla:cuda")
	if err == nil {
		t.Fatal("xla:cuda opened on a machine without the plugin")
	}
	if !xla.Built && !strings.Contains(err.Error(), "-tags xla") {
		t.Errorf("xla:cuda without -tags xla: error %v does not say how to rebuild", err)
	}
	if _, err := openDevice("go:no_such_option"); err == nil {
		t.Error("go:no_such_option opened")
	}
	for _, name := range []string{"cpu", ""} {
		d, err := openDevice(name)
		if err != nil || !d.onCPU() || d.name != "cpu" {
			t.Errorf("openDevice(%q): %+v, %v", name, d, err)
		}
	}
}

// TestStepperParity: the same loss closure stepped on the CPU engine and on
// GoMLX's pure-Go backend gives the same losses and, after sync, the same
// parameters and moments; forward agrees too.
func TestStepperParity(t *testing.T) {
	cfg := gpt.Config{VocabSize: 29, NPositions: 8, NEmbd: 16, NLayer: 1, NHead: 2, LayerNormEpsilon: 1e-5,
		ActivationFunction: "gelu_new", ModelType: "gpt2"}
	newRun := func(device string) (*gpt.Model, *optim.AdamW, *stepper) {
		m, err := gpt.New(cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		opt := optim.NewAdamW(m.Params(), optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, NoDecay: optim.MatricesOnly})
		d, err := openDevice(device)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newStepper(d, opt, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		return m, opt, s
	}
	mc, oc, sc := newRun("cpu")
	mg, og, sg := newRun("go")
	if sc.tr != nil || sg.tr == nil {
		t.Fatal("the cpu stepper has a device trainer or the go one has none")
	}
	ids := []int{1, 5, 7, 2, 9, 28, 0, 3, 4, 4, 11, 12, 13, 6, 8, 2}
	tg := []int{5, 7, 2, 9, 28, 0, 3, 4, 4, 11, 12, 13, 6, 8, 2, 1}
	for step := range 3 {
		lc, nc, err := sc.step(1e-2, func(tp *ag.Tape) *ag.Var { return mc.Loss(tp, ids, tg, 2, 8, -1) })
		if err != nil {
			t.Fatal(err)
		}
		lg, ng, err := sg.step(1e-2, func(tp *ag.Tape) *ag.Var { return mg.Loss(tp, ids, tg, 2, 8, -1) })
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(lc-lg) > 1e-5*lc || math.Abs(nc-ng) > 1e-3*nc || nc == 0 {
			t.Errorf("step %d: loss %v / %v, norm %v / %v", step, lc, lg, nc, ng)
		}
	}
	fc, err := sc.forward(func(tp *ag.Tape) *ag.Var { return mc.Forward(tp, ids, 2, 8) })
	if err != nil {
		t.Fatal(err)
	}
	fg, err := sg.forward(func(tp *ag.Tape) *ag.Var { return mg.Forward(tp, ids, 2, 8) })
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.SameShape(fc.Shape, []int{2, 8, 29}) || !tensor.SameShape(fc.Shape, fg.Shape) || tensor.MaxAbsDiff(fc, fg) > 1e-4 {
		t.Errorf("forward: shapes %v / %v, differ by %g", fc.Shape, fg.Shape, tensor.MaxAbsDiff(fc, fg))
	}
	// Before sync the host copy of the device run is still the start.
	fresh, _ := gpt.New(cfg, 3)
	if tensor.MaxAbsDiff(mg.Params()[0].P.Value, fresh.Params()[0].P.Value) != 0 {
		t.Error("host parameters changed before sync")
	}
	if err := sg.sync(); err != nil {
		t.Fatal(err)
	}
	if og.Steps != 3 || oc.Steps != 3 {
		t.Errorf("optimiser steps %d (device) and %d (cpu), want 3", og.Steps, oc.Steps)
	}
	for i, p := range mc.Params() {
		q := mg.Params()[i]
		if d := tensor.MaxAbsDiff(p.P.Value, q.P.Value); d > 1e-3 {
			t.Errorf("%s differs by %g after sync", p.Name, d)
		}
		if d := tensor.MaxAbsDiff(oc.M[i], og.M[i]); d > 1e-4 {
			t.Errorf("first moment of %s differs by %g after sync", p.Name, d)
		}
	}
	if tensor.MaxAbsDiff(mg.Params()[0].P.Value, fresh.Params()[0].P.Value) == 0 {
		t.Error("sync left the host parameters at the start")
	}
}

func TestBucketLen(t *testing.T) {
	for _, c := range []struct{ t, limit, want int }{{1, 128, 16}, {16, 128, 16}, {17, 128, 32}, {120, 128, 128}, {127, 120, 127}, {30, 20, 30}} {
		if got := bucketLen(c.t, c.limit); got != c.want {
			t.Errorf("bucketLen(%d, %d) = %d, want %d", c.t, c.limit, got, c.want)
		}
	}
}
