package ag

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"rlhf/tensor"
)

// Per-op forward+backward benchmarks at the shapes of the reference tiny
// GPT step (B=16, T=128, C=128, H=4, vocab 4096).

// benchOp times forward+backward of f and also reports the process CPU
// time per op, which other load on the machine disturbs less than wall time.
func benchOp(b *testing.B, f func(tp *Tape) *Var) {
	tp := NewTape()
	var seed *tensor.Tensor
	step := func() {
		out := f(tp)
		if seed == nil {
			seed = tensor.Full(1e-3, out.Value.Shape...)
		}
		tp.BackwardWith(out, seed)
		tp.Reset()
	}
	step()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.ReportMetric((cpuTime()-c0).Seconds()*1e3/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkOpAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	qkv := NewParam(tensor.Randn(r, 1, 16, 128, 384))
	for _, blk := range []int{0, 16, 32, 64} {
		b.Run(fmt.Sprintf("block%d", blk), func(b *testing.B) {
			old := attnBlock
			attnBlock = blk
			defer func() { attnBlock = old }()
			benchOp(b, func(tp *Tape) *Var { return tp.Attention(qkv, 4) })
		})
	}
}

func BenchmarkOpLinearQKV(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := NewParam(tensor.Randn(r, 1, 16, 128, 128))
	w, bias := NewParam(tensor.Randn(r, 0.02, 128, 384)), NewParam(tensor.New(384))
	benchOp(b, func(tp *Tape) *Var { return tp.Linear(x, w, bias) })
}

func BenchmarkOpLayerNorm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := NewParam(tensor.Randn(r, 1, 16, 128, 128))
	w, bias := NewParam(tensor.Full(1, 128)), NewParam(tensor.New(128))
	benchOp(b, func(tp *Tape) *Var { return tp.LayerNorm(x, w, bias, 1e-5) })
}

func BenchmarkOpGELU(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := NewParam(tensor.Randn(r, 1, 16, 128, 512))
	benchOp(b, func(tp *Tape) *Var { return tp.GELU(x) })
}

func BenchmarkOpLMHeadCrossEntropy(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := NewParam(tensor.Randn(r, 1, 16, 128, 128))
	w := NewParam(tensor.Randn(r, 0.02, 4096, 128))
	tg := make([]int, 16*128)
	for i := range tg {
		tg[i] = r.IntN(4096)
	}
	benchOp(b, func(tp *Tape) *Var { return tp.CrossEntropy(tp.MatMul(x, w, false, true), tg, -1) })
}

func BenchmarkOpLinearCrossEntropy(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := NewParam(tensor.Randn(r, 1, 16, 128, 128))
	w := NewParam(tensor.Randn(r, 0.02, 4096, 128))
	tg := make([]int, 16*128)
	for i := range tg {
		tg[i] = r.IntN(4096)
	}
	benchOp(b, func(tp *Tape) *Var { return tp.LinearCrossEntropy(x, w, tg, -1) })
}

func BenchmarkOpCrossEntropy(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := NewParam(tensor.Randn(r, 1, 16, 128, 4096))
	tg := make([]int, 16*128)
	for i := range tg {
		tg[i] = r.IntN(4096)
	}
	benchOp(b, func(tp *Tape) *Var { return tp.CrossEntropy(x, tg, -1) })
}
