package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/tensor"
)

// runBench dispatches `rlhf bench <what>`.
func runBench(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: rlhf bench engine [flags]   (measure GEMM and a tiny GPT training step)")
		if len(args) == 0 {
			return errors.New("bench: say what to measure (valid: engine)")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "engine":
		return runBenchEngine(ctx, args[1:])
	}
	return fmt.Errorf("bench: unknown target %q (valid: engine)", args[0])
}

// benchEngineOpts are the flags of `rlhf bench engine`.
type benchEngineOpts struct {
	sizes    []int
	peak     float64
	minTime  time.Duration
	steps    int
	batch    int
	skipGPT  bool
	skipGemm bool
}

func runBenchEngine(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench engine", flag.ContinueOnError)
	sizes := fs.String("sizes", "128,256,512,1024", "square GEMM sizes n to time, comma-separated")
	o := benchEngineOpts{}
	fs.Float64Var(&o.peak, "peak", 156.5, "the CPU's float32 peak in GFLOP/s, for the share-of-peak column (2 cores x 2.45 GHz x 32 FLOP/cycle)")
	fs.DurationVar(&o.minTime, "gemm-time", time.Second, "time spent on each GEMM size")
	fs.IntVar(&o.steps, "steps", 10, "timed training steps of the tiny GPT")
	fs.IntVar(&o.batch, "batch", 16, "sequences per tiny-GPT training step")
	fs.BoolVar(&o.skipGPT, "no-gpt", false, "skip the tiny-GPT training step")
	fs.BoolVar(&o.skipGemm, "no-gemm", false, "skip the GEMM table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 || n > 8192 {
			return fmt.Errorf("bench engine: bad size %q in -sizes (want positive integers up to 8192)", s)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.steps <= 0 || o.batch <= 0 {
		return fmt.Errorf("bench engine: -steps and -batch must be positive")
	}
	fmt.Printf("engine: %s, GEMM backend %s, %d workers\n", runtime.GOARCH, tensor.GemmBackend(), tensor.Workers)
	if !o.skipGemm {
		benchGemm(ctx, o)
	}
	if !o.skipGPT {
		if err := benchTinyGPT(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// benchGemm prints GFLOP/s of C = A·B for square sizes.
func benchGemm(ctx context.Context, o benchEngineOpts) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "n\tGFLOP/s\tshare of peak\t")
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range o.sizes {
		if ctx.Err() != nil {
			break
		}
		a, b, c := tensor.Randn(r, 1, n, n), tensor.Randn(r, 1, n, n), tensor.New(n, n)
		gemm := func() { tensor.Gemm(false, false, n, n, n, 1, a.Data, n, b.Data, n, 0, c.Data, n) }
		gemm() // warm caches and pools
		reps := 0
		start := time.Now()
		for time.Since(start) < o.minTime || reps < 3 {
			gemm()
			reps++
		}
		gf := 2 * float64(n) * float64(n) * float64(n) * float64(reps) / time.Since(start).Seconds() / 1e9
		fmt.Fprintf(w, "%d\t%.1f\t%.0f%%\t\n", n, gf, 100*gf/o.peak)
	}
	w.Flush()
}

// tinyGPT is the reference model of the engine's speed target.
var tinyGPT = nn.GPTConfig{Vocab: 4096, Ctx: 128, Layers: 4, Heads: 4, Dim: 128}

// benchTinyGPT times forward, backward, clipping and AdamW on random tokens.
func benchTinyGPT(ctx context.Context, o benchEngineOpts) error {
	cfg := tinyGPT
	r := rand.New(rand.NewPCG(1, 2))
	m, err := nn.NewGPT(cfg, r)
	if err != nil {
		return err
	}
	params := m.Params()
	n := nn.NumParams(params)
	opt := optim.NewAdamW(params, optim.DefaultAdamW())
	tp := ag.NewTape()
	b, t := o.batch, cfg.Ctx
	ids, tg := make([]int, b*t), make([]int, b*t)
	step := func() float32 {
		for i := range ids {
			ids[i], tg[i] = r.IntN(cfg.Vocab), r.IntN(cfg.Vocab)
		}
		opt.ZeroGrad()
		loss := m.Loss(tp, ids, tg, b, t, -1)
		tp.Backward(loss)
		v := loss.Item()
		tp.Reset()
		optim.ClipGradNorm(params, 1)
		opt.Step(3e-4)
		return v
	}
	step() // warm-up: buffers, pools
	start := time.Now()
	var loss float32
	done := 0
	for ; done < o.steps && ctx.Err() == nil; done++ {
		loss = step()
	}
	sec := time.Since(start).Seconds()
	fmt.Printf("tiny GPT (d=%d, %d layers, %d heads, T=%d, vocab %d, %.2fM params), batch %d, AdamW:\n",
		cfg.Dim, cfg.Layers, cfg.Heads, cfg.Ctx, cfg.Vocab, float64(n)/1e6, b)
	fmt.Printf("  %.0f tokens/s (%d steps, %.1f ms/step, last loss %.3f), peak RSS %d MB\n",
		float64(done*b*t)/sec, done, 1000*sec/float64(max(done, 1)), loss, peakRSSMB())
	return ctx.Err()
}

// peakRSSMB returns the process's peak resident set size in MB.
func peakRSSMB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Maxrss / 1024 // kilobytes on Linux
}
