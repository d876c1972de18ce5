package tensor

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
)

var gemmKernelFlag = flag.String("gemm.kernel", "", "run the Gemm benchmarks with this kernel (go, avx2-fma, avx512) instead of the best one")

// setBenchKernel applies -gemm.kernel for one benchmark.
func setBenchKernel(b *testing.B) {
	if *gemmKernelFlag == "" {
		return
	}
	for level, kern := range gemmKernels {
		if kern.name != *gemmKernelFlag {
			continue
		}
		if level > maxLevel {
			b.Skipf("kernel %s does not run on this CPU", kern.name)
		}
		old := gemmLevel
		gemmLevel = level
		b.Cleanup(func() { gemmLevel = old })
		return
	}
	b.Fatalf("unknown -gemm.kernel %q", *gemmKernelFlag)
}

// benchGemm times Gemm on one shape and reports GFLOP/s (2·m·n·k per call).
func benchGemm(b *testing.B, transA, transB bool, m, n, k int) {
	setBenchKernel(b)
	r := rand.New(rand.NewPCG(1, 2))
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	a := Randn(r, 1, ar, ac).Data
	bm := Randn(r, 1, br, bc).Data
	c := make([]float32, m*n)
	Gemm(transA, transB, m, n, k, 1, a, ac, bm, bc, 0, c, n)
	cpu0 := processCPUSeconds()
	for b.Loop() {
		Gemm(transA, transB, m, n, k, 1, a, ac, bm, bc, 0, c, n)
	}
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	// Per CPU-second of this process: on a machine shared with other jobs
	// this is less disturbed than wall-clock GFLOP/s (it does not count time
	// spent descheduled), at the price of also not counting idle workers.
	if cpu := processCPUSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkGemm covers square sizes (sub-benchmarks n=N) and the shapes the
// models use: (tokens, C)·(C, 3C) for attention, (tokens, C)·(C, 32C) for a
// wide MLP, their weight/input gradients (transposed operands) and a tiny
// MLP policy layer.
func BenchmarkGemm(b *testing.B) {
	for _, n := range []int{128, 256, 512, 1024} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { benchGemm(b, false, false, n, n, n) })
	}
	shapes := []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{
		{"qkv_fwd_2048x128x384", false, false, 2048, 384, 128},
		{"qkv_dX_2048x384x128_NT", false, true, 2048, 128, 384},
		{"qkv_dW_128x2048x384_TN", true, false, 128, 384, 2048},
		{"mlp_fwd_2048x128x4096", false, false, 2048, 4096, 128},
		{"mlp_dX_2048x4096x128_NT", false, true, 2048, 128, 4096},
		{"mlp_dW_128x2048x4096_TN", true, false, 128, 4096, 2048},
		{"policy_16x64x64", false, false, 16, 64, 64},
		{"policy_dX_16x64x64_NT", false, true, 16, 64, 64},
		{"policy_dW_64x16x64_TN", true, false, 64, 64, 16},
		{"tiny_4x8x8", false, false, 4, 8, 8},
	}
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) { benchGemm(b, s.transA, s.transB, s.m, s.n, s.k) })
	}
}

// BenchmarkGemmKernel times the micro-kernel alone on L1-resident packed
// panels (one core): the ceiling for the whole Gemm.
func BenchmarkGemmKernel(b *testing.B) {
	const kc = 256
	for level := range gemmKernels {
		kern := &gemmKernels[level]
		if level > maxLevel {
			continue
		}
		b.Run(kern.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			ap := Randn(r, 1, kc*kern.mr).Data
			bp := Randn(r, 1, kc*kern.nr).Data
			c := make([]float32, kern.mr*kern.nr)
			cpu0 := processCPUSeconds()
			for b.Loop() {
				if kern.fn != nil {
					kern.fn(kc, &ap[0], &bp[0], &c[0], kern.nr, 1, 1)
				} else {
					goKernel(kc, ap, bp, c, kern.nr, 1, 1)
				}
			}
			flops := 2 * float64(kern.mr*kern.nr*kc) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := processCPUSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
			}
		})
	}
}
