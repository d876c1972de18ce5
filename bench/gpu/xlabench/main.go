// Command xlabench times whole GPT-2 training steps on a GoMLX device
// (package xla): forward, cross-entropy, backward, global-norm clip 1 and
// AdamW (lr 3e-4, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on matrices
// only) compiled into one executable, on random token batches. It prints one
// JSON line per run, the format of bench/gpu/torch_gpt.py.
//
//	xlabench -device xla:/abs/path/xla_cuda_plugin.so -model tiny -batch 16
//	xlabench -device go -model tiny -batch 2 -steps 2 -warmup 1
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

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
	FirstStepS  float64 `json:"first_step_s"` // trace + compile + run
	MsPerStep   float64 `json:"ms_per_step"`
	TokensPerS  float64 `json:"tokens_per_s"`
	FirstLoss   float32 `json:"first_loss"`
	LastLoss    float32 `json:"last_loss"`
	Description string  `json:"description"`
}

func main() {
	device := flag.String("device", "go", "GoMLX device: go, go:<config>, xla:cuda or xla:/abs/path/plugin.so")
	model := flag.String("model", "tiny", "model size: tiny or gpt2")
	batch := flag.Int("batch", 16, "sequences per step")
	steps := flag.Int("steps", 20, "timed steps")
	warmup := flag.Int("warmup", 3, "untimed steps first (the first compiles)")
	flag.Parse()
	if err := run(*device, *model, *batch, *steps, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "xlabench:", err)
		os.Exit(1)
	}
}

func run(device, model string, batch, steps, warmup int) error {
	cfg, ok := models[model]
	if !ok {
		return fmt.Errorf("unknown model %q (want tiny or gpt2)", model)
	}
	if batch <= 0 || steps <= 0 || warmup < 1 {
		return fmt.Errorf("need batch > 0, steps > 0, warmup >= 1")
	}
	backend, err := xla.Open(device)
	if err != nil {
		return err
	}
	m, err := nn.NewGPT(cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		return err
	}
	ac := optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, NoDecay: optim.MatricesOnly}
	tr, err := xla.NewTrainer(backend, m.Params(), xla.Config{AdamW: ac, ClipNorm: 1})
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(3, 4))
	t := cfg.Ctx
	step := func() (float32, error) {
		ids := make([]int, batch*(t+1))
		for i := range ids {
			ids[i] = r.IntN(cfg.Vocab)
		}
		in, tg := make([]int, 0, batch*t), make([]int, 0, batch*t)
		for b := range batch {
			row := ids[b*(t+1) : (b+1)*(t+1)]
			in, tg = append(in, row[:t]...), append(tg, row[1:]...)
		}
		l, _, err := tr.Step(3e-4, func(tp *ag.Tape) *ag.Var { return m.Loss(tp, in, tg, batch, t, -1) })
		return l, err
	}
	res := result{Impl: "gomlx-xla", Device: device, Model: model, Params: nn.NumParams(m.Params()),
		Batch: batch, Seq: t, Steps: steps,
		Description: "rlhf nn.GPT traced through ag into one GoMLX executable per step (fp32)"}
	start := time.Now()
	l, err := step()
	if err != nil {
		return err
	}
	res.FirstStepS = time.Since(start).Seconds()
	res.FirstLoss = l
	fmt.Fprintf(os.Stderr, "xlabench: %s first step %.1fs loss %.3f\n", model, res.FirstStepS, l)
	for range warmup - 1 {
		if _, err := step(); err != nil {
			return err
		}
	}
	start = time.Now()
	for range steps {
		if l, err = step(); err != nil {
			return err
		}
	}
	el := time.Since(start).Seconds()
	res.LastLoss = l
	res.MsPerStep = 1000 * el / float64(steps)
	res.TokensPerS = float64(batch*t*steps) / el
	return json.NewEncoder(os.Stdout).Encode(res)
}
