package tensor

import (
	"flag"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var gemvStreamFlag = flag.Int("gemv.streammin", -1, "run BenchmarkGemv with this gemvStreamMin (floats of B above which op(B) = B streams rows; -1 keeps the default)")

// gemvShapes are the matrix-vector products of one decoding step: m = 1
// rows of activations times a Linear's (in, out) weight (NN), or times a
// tied LM head's (vocab, C) embedding read transposed (NT). "tiny" is the
// shipped models/tiny-gpt (C = 128, vocab 4096), "gpt2" GPT-2 small (C = 768,
// vocab 50257); m = 2 and 4 rows show where the row-by-row path pays
// ("new" forces it even where gemvUse would not take it).
var gemvShapes = []struct {
	name    string
	transB  bool
	m, n, k int
}{
	{"tiny_qkv_1x384x128", false, 1, 384, 128},
	{"tiny_attnproj_1x128x128", false, 1, 128, 128},
	{"tiny_fc_1x512x128", false, 1, 512, 128},
	{"tiny_mlpproj_1x128x512", false, 1, 128, 512},
	{"tiny_lmhead_1x4096x128_NT", true, 1, 4096, 128},
	{"gpt2_qkv_1x2304x768", false, 1, 2304, 768},
	{"gpt2_fc_1x3072x768", false, 1, 3072, 768},
	{"gpt2_mlpproj_1x768x3072", false, 1, 768, 3072},
	{"gpt2_lmhead_1x50257x768_NT", true, 1, 50257, 768},
	{"dram_1x8192x8192", false, 1, 8192, 8192},
	{"vh_1x1x128", false, 1, 1, 128},
	{"tiny_qkv_2x384x128", false, 2, 384, 128},
	{"tiny_qkv_4x384x128", false, 4, 384, 128},
	{"tiny_lmhead_4x4096x128_NT", true, 4, 4096, 128},
	{"gpt2_fc_4x3072x768", false, 4, 3072, 768},
	{"gpt2_qkv_2x2304x768", false, 2, 2304, 768},
	{"gpt2_lmhead_4x50257x768_NT", true, 4, 50257, 768},
}

// BenchmarkGemv times each decoding shape through Gemm twice per iteration,
// alternating: "old" with the GEMV path turned off (the packed or direct GEMM
// as before), "new" through gemv. Each call is timed on its own and the
// metrics use the median call of each path, so that calls cut by a
// descheduling on a shared machine do not count; alternating calls see the
// same load, so the ratio new/old-speedup (median old time over median new
// time) is the figure to read, GFLOP/s of each beside it. -gemm.kernel picks the kernel level as for BenchmarkGemm.
func BenchmarkGemv(b *testing.B) {
	for _, s := range gemvShapes {
		b.Run(s.name, func(b *testing.B) {
			setBenchKernel(b)
			if *gemvStreamFlag >= 0 {
				old := gemvStreamMin
				gemvStreamMin = *gemvStreamFlag
				b.Cleanup(func() { gemvStreamMin = old })
			}
			r := rand.New(rand.NewPCG(1, 2))
			x := Randn(r, 1, s.m*s.k).Data
			w := Randn(r, 1, s.n*s.k).Data
			ldb := s.n
			if s.transB {
				ldb = s.k
			}
			c := make([]float32, s.m*s.n)
			oldMax, oldPath := gemvMaxM, gemmForcePath
			b.Cleanup(func() { gemvMaxM, gemmForcePath = oldMax, oldPath })
			call := func(gemvOn bool) time.Duration {
				gemvMaxM, gemmForcePath = 0, pathAuto
				if gemvOn {
					gemmForcePath = pathGemv
				}
				t0 := time.Now()
				Gemm(false, s.transB, s.m, s.n, s.k, 1, x, s.k, w, ldb, 0, c, s.n)
				return time.Since(t0)
			}
			call(false)
			call(true)
			var told, tnew []time.Duration
			for b.Loop() {
				told = append(told, call(false))
				tnew = append(tnew, call(true))
			}
			mo, mn := medianDuration(told), medianDuration(tnew)
			flops := 2 * float64(s.m*s.n*s.k)
			b.ReportMetric(flops/mo.Seconds()/1e9, "old-GFLOP/s")
			b.ReportMetric(flops/mn.Seconds()/1e9, "new-GFLOP/s")
			b.ReportMetric(mo.Seconds()/mn.Seconds(), "new/old-speedup")
		})
	}
}

// medianDuration returns the median of d (which it sorts).
func medianDuration(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}
