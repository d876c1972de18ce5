// Command tinygpt times training steps of the reference tiny GPT-2
// (d=128, 4 layers, 4 heads, T=128, vocab 4096, batch 16, AdamW) on rlhf's
// CPU engine and prints tokens per second. pytorch_tiny_gpt.py is the same
// model in PyTorch; run.sh runs both side by side.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"time"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/tensor"
)

// Trainer holds one model, its optimiser, a tape and a pool of batches.
type Trainer struct {
	Model   *nn.GPT
	Opt     *optim.AdamW
	Tape    *ag.Tape
	B, T    int
	batches [][2][]int
	n       int
}

// NewTrainer builds the reference model for batch b of length t with
// nBatches random token batches drawn from seed.
func NewTrainer(cfg nn.GPTConfig, b, t, nBatches int, seed uint64) (*Trainer, error) {
	r := rand.New(rand.NewPCG(seed, 0))
	m, err := nn.NewGPT(cfg, r)
	if err != nil {
		return nil, err
	}
	tr := &Trainer{Model: m, Tape: ag.NewTape(), B: b, T: t,
		Opt: optim.NewAdamW(m.Params(), optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, NoDecay: optim.MatricesOnly})}
	for i := 0; i < nBatches; i++ {
		seq := make([]int, b*(t+1))
		for j := range seq {
			seq[j] = r.IntN(cfg.Vocab)
		}
		ids, tg := make([]int, 0, b*t), make([]int, 0, b*t)
		for j := 0; j < b; j++ {
			ids = append(ids, seq[j*(t+1):j*(t+1)+t]...)
			tg = append(tg, seq[j*(t+1)+1:(j+1)*(t+1)]...)
		}
		tr.batches = append(tr.batches, [2][]int{ids, tg})
	}
	return tr, nil
}

// Step runs forward, backward, clipping and one AdamW update; it returns the loss.
func (tr *Trainer) Step() float32 {
	bt := tr.batches[tr.n%len(tr.batches)]
	tr.n++
	tr.Opt.ZeroGrad()
	loss := tr.Model.Loss(tr.Tape, bt[0], bt[1], tr.B, tr.T, -1)
	tr.Tape.Backward(loss)
	v := loss.Item()
	tr.Tape.Reset()
	optim.ClipGradNorm(tr.Opt.Params, 1)
	tr.Opt.Step(3e-4)
	return v
}

// Reference is the benchmark model's configuration.
var Reference = nn.GPTConfig{Vocab: 4096, Ctx: 128, Layers: 4, Heads: 4, Dim: 128}

func main() {
	steps := flag.Int("steps", 20, "timed training steps")
	warm := flag.Int("warmup", 3, "untimed warm-up steps")
	batch := flag.Int("batch", 16, "sequences per step")
	seed := flag.Uint64("seed", 1, "initialisation and data seed")
	flag.Parse()
	tr, err := NewTrainer(Reference, *batch, Reference.Ctx, 4, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; i < *warm; i++ {
		tr.Step()
	}
	start, cpu0 := time.Now(), cpuTime()
	var loss float32
	for i := 0; i < *steps; i++ {
		loss = tr.Step()
	}
	el := time.Since(start).Seconds()
	cpu := (cpuTime() - cpu0).Seconds()
	tok := float64(*steps**batch*Reference.Ctx) / el
	fmt.Printf("go      params %d  gemm %s  workers %d  step %.1f ms (cpu %.1f ms)  %.0f tokens/s  loss %.4f\n",
		nn.NumParams(tr.Model.Params()), tensor.GemmBackend(), tensor.Workers, 1000*el/float64(*steps),
		1000*cpu/float64(*steps), tok, loss)
}

// cpuTime returns the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
