// Command xlabench times whole GPT-2 training steps on a GoMLX device
// (package xla): forward, cross-entropy, backward, global-norm clip 1 and
// AdamW (lr 3e-4, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on matrices
// only) compiled into one executable, on random token batches. It prints one
// JSON line per run, the format of bench/gpu/torch_gpt.py plus where the time
// went: the first step split into graph building (trace, autodiff, AdamW),
// compiling and running, and each timed step into host overhead (replay,
// inputs, fetching loss and norm) and execution. Progress goes to stderr as
// it happens, so a run cut off by a time limit shows the phase it was in.
//
//	xlabench -device xla:/abs/path/xla_cuda_plugin.so -model tiny -batch 16
//	xlabench -device xla:/abs/path/xla_cuda_plugin.so,tf32 -model gpt2 -batch 8
//	xlabench -device go -model tiny -batch 2 -steps 2 -warmup 1
//	xlabench -device go -model gpt2 -batch 8 -graph    # build the graph only
//
// With -mode sample it times KV-cache sampling instead (xla.Sampler): each
// timed call continues -batch random prompts of -prompt tokens by -new
// tokens (temperature 1, no EOS stop), and tokens/s counts new tokens:
//
//	xlabench -device xla:/abs/path/xla_cuda_plugin.so -mode sample -model gpt2 -batch 64 -new 128 -steps 3
//	xlabench -device go -mode sample -model tiny -batch 4 -new 8 -steps 1 -warmup 1
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/xla"
)

// models are the benchmarked sizes: the project's reference tiny GPT and GPT-2 small.
var models = map[string]nn.GPTConfig{
	"tiny": {Vocab: 4096, Ctx: 128, Layers: 4, Heads: 4, Dim: 128},
	"gpt2": {Vocab: 50257, Ctx: 1024, Layers: 12, Heads: 12, Dim: 768},
}

// result is one benchmark line.
type result struct {
	Impl        string  `json:"impl"`
	Device      string  `json:"device"`
	Model       string  `json:"model"`
	Params      int     `json:"params"`
	Batch       int     `json:"batch"`
	Seq         int     `json:"seq"`
	Steps       int     `json:"steps"`
	Precision   string  `json:"precision"`    // fp32 or tf32 matrix products
	FirstStepS  float64 `json:"first_step_s"` // graph + compile + run
	MsPerStep   float64 `json:"ms_per_step"`
	TokensPerS  float64 `json:"tokens_per_s"`
	FirstLoss   float32 `json:"first_loss"`
	LastLoss    float32 `json:"last_loss"`
	Description string  `json:"description"`

	Ops      int     `json:"ops"`       // traced ag ops
	Nodes    int     `json:"nodes"`     // GoMLX graph nodes of the step
	GraphS   float64 `json:"graph_s"`   // first step: trace, autodiff and AdamW on the host
	CompileS float64 `json:"compile_s"` // first step: backend compilation
	HostMs   float64 `json:"host_ms"`   // per timed step: replay, inputs, fetch
	RunMs    float64 `json:"run_ms"`    // per timed step: execution (PJRT waits for the device)
	Rebuilds int     `json:"rebuilds"`  // executables built during the timed steps (want 0)
}

func main() {
	device := flag.String("device", "go", "GoMLX device: go, go:<config>, xla:cuda or xla:/abs/path/plugin.so")
	model := flag.String("model", "tiny", "model size: tiny or gpt2")
	batch := flag.Int("batch", 16, "sequences per step")
	steps := flag.Int("steps", 20, "timed steps")
	warmup := flag.Int("warmup", 3, "untimed steps first (the first compiles)")
	graph := flag.Bool("graph", false, "only build the step graph (no compile, no run) and print its statistics")
	shlo := flag.String("stablehlo", "", "only write the StableHLO program an XLA device would compile for the step to this file (needs -tags xla, no plugin)")
	mode := flag.String("mode", "train", "what to time: train (training steps) or sample (KV-cache sampling; -steps counts calls)")
	newTokens := flag.Int("new", 128, "sample mode: new tokens per prompt")
	promptLen := flag.Int("prompt", 16, "sample mode: prompt tokens")
	flag.Parse()
	var err error
	switch *mode {
	case "train":
		if *shlo != "" {
			err = dumpStableHLO(*shlo, *model, *batch)
			break
		}
		err = run(*device, *model, *batch, *steps, *warmup, *graph)
	case "sample":
		err = runSample(*device, *model, *batch, *promptLen, *newTokens, *steps, *warmup)
	default:
		err = fmt.Errorf("unknown mode %q (want train or sample)", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "xlabench:", err)
		os.Exit(1)
	}
}

func run(device, model string, batch, steps, warmup int, graphOnly bool) error {
	cfg, ok := models[model]
	if !ok {
		return fmt.Errorf("unknown model %q (want tiny or gpt2)", model)
	}
	if batch <= 0 || steps <= 0 || warmup < 1 {
		return fmt.Errorf("need batch > 0, steps > 0, warmup >= 1")
	}
	prec, err := xla.PrecisionOf(device)
	if err != nil {
		return err
	}
	logf("open %s", device)
	backend, err := xla.Open(device)
	if err != nil {
		return err
	}
	m, tr, err := newTrainer(backend, cfg)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(3, 4))
	t := cfg.Ctx
	loss := func() xla.Func {
		ids := make([]int, batch*(t+1))
		for i := range ids {
			ids[i] = r.IntN(cfg.Vocab)
		}
		in, tg := make([]int, 0, batch*t), make([]int, 0, batch*t)
		for b := range batch {
			row := ids[b*(t+1) : (b+1)*(t+1)]
			in, tg = append(in, row[:t]...), append(tg, row[1:]...)
		}
		return func(tp *ag.Tape) *ag.Var { return m.Loss(tp, in, tg, batch, t, -1) }
	}
	if graphOnly {
		logf("build the %s step graph (batch %d)", model, batch)
		st, err := tr.StepGraph(loss())
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"model": model, "batch": batch, "seq": t,
			"ops": st.Ops, "nodes": st.Nodes, "folded_elems": st.Folded, "largest_elems": st.Largest, "trace_s": st.Trace.Seconds(),
			"grad_s": st.Grad.Seconds(), "update_s": st.Update.Seconds()})
	}
	step := func() (float32, error) {
		l, _, err := tr.Step(3e-4, loss())
		return l, err
	}
	res := result{Impl: "gomlx-xla", Device: device, Model: model, Params: nn.NumParams(m.Params()),
		Batch: batch, Seq: t, Steps: steps, Precision: string(prec),
		Description: fmt.Sprintf("rlhf nn.GPT traced through ag into one GoMLX executable per step (%s matmuls)", prec)}
	if prec == xla.TF32 {
		res.Impl = "gomlx-xla-tf32"
	}
	logf("first %s step: trace, autodiff, compile, run (batch %d)", model, batch)
	start := time.Now()
	l, err := step()
	if err != nil {
		return err
	}
	res.FirstStepS = time.Since(start).Seconds()
	res.FirstLoss = l
	st, tm := tr.LastBuild(), tr.Timings()
	res.Ops, res.Nodes = st.Ops, st.Nodes
	res.GraphS = (st.Trace + st.Grad + st.Update).Seconds()
	res.CompileS = st.Compile.Seconds()
	logf("first step %.1fs: graph %.2fs (%d ops, %d nodes), compile %.1fs, inputs %.2fs, run %.2fs; loss %.3f",
		res.FirstStepS, res.GraphS, st.Ops, st.Nodes, res.CompileS, tm.Feed.Seconds(), tm.Run.Seconds(), l)
	for i := range warmup - 1 {
		ws := time.Now()
		if l, err = step(); err != nil {
			return err
		}
		logf("warm-up step %d: %.1f ms, loss %.3f", i+2, 1000*time.Since(ws).Seconds(), l)
	}
	tr.ResetTimings()
	start = time.Now()
	for range steps {
		if l, err = step(); err != nil {
			return err
		}
	}
	el := time.Since(start).Seconds()
	tm = tr.Timings()
	res.LastLoss = l
	res.MsPerStep = 1000 * el / float64(steps)
	res.TokensPerS = float64(batch*t*steps) / el
	res.HostMs = 1000 * tm.Host().Seconds() / float64(steps)
	res.RunMs = 1000 * tm.Run.Seconds() / float64(steps)
	res.Rebuilds = tm.Builds
	logf("%d steps: %.1f ms/step (host %.2f ms, run %.1f ms), %.0f tokens/s, loss %.3f",
		steps, res.MsPerStep, res.HostMs, res.RunMs, res.TokensPerS, l)
	return json.NewEncoder(os.Stdout).Encode(res)
}

var t0 = time.Now()

// logf reports progress on stderr with the seconds since the start.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "xlabench [%6.1fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
}

// dumpStableHLO writes the StableHLO program of a training step of model at
// batch to path, built for an XLA device without opening one.
func dumpStableHLO(path, model string, batch int) error {
	cfg, ok := models[model]
	if !ok {
		return fmt.Errorf("unknown model %q (want tiny or gpt2)", model)
	}
	backend, err := xla.Open("go")
	if err != nil {
		return err
	}
	m, tr, err := newTrainer(backend, cfg)
	if err != nil {
		return err
	}
	t := cfg.Ctx
	ids := make([]int, batch*t)
	for i := range ids {
		ids[i] = i % cfg.Vocab
	}
	text, err := tr.StableHLO(func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids, ids, batch, t, -1) })
	if err != nil {
		return err
	}
	logf("%s step, batch %d: StableHLO program of %d bytes, %d lines -> %s", model, batch, len(text), strings.Count(text, "\n"), path)
	return os.WriteFile(path, []byte(text), 0o644)
}

// newTrainer returns a GPT of cfg with fixed random weights and a Trainer
// of it on backend with the benchmark's AdamW settings and clipping.
func newTrainer(backend backends.Backend, cfg nn.GPTConfig) (*nn.GPT, *xla.Trainer, error) {
	m, err := nn.NewGPT(cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		return nil, nil, err
	}
	ac := optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, NoDecay: optim.MatricesOnly}
	tr, err := xla.NewTrainer(backend, m.Params(), xla.Config{AdamW: ac, ClipNorm: 1})
	return m, tr, err
}
