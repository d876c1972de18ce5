package ag

import (
	"math/rand/v2"
	"testing"

	"rlhf/tensor"
)

// AttentionDecode gives AttentionQKV's output for one query row per
// sequence bit for bit, for sequences of different lengths inside a larger
// cache, across head counts and widths.
func TestAttentionDecodeMatchesAttentionQKV(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ c, heads, tmax int }{{32, 2, 40}, {128, 4, 130}, {64, 8, 17}, {48, 3, 200}} {
		n := []int{1, tc.tmax, tc.tmax / 2, 7 % tc.tmax, tc.tmax - 1, 3}
		B, C := len(n), tc.c
		qStride := 3 * C
		q := make([]float32, B*qStride)
		k, v := make([]float32, B*tc.tmax*C), make([]float32, B*tc.tmax*C)
		for _, s := range [][]float32{q, k, v} {
			for i := range s {
				s[i] = float32(rng.NormFloat64())
			}
		}
		got := make([]float32, B*C)
		AttentionDecode(got, q, qStride, k, v, tc.tmax*C, n, C, tc.heads)
		tp := NewNoGradTape()
		for b := range B {
			base := b * tc.tmax * C
			qv := Const(tensor.FromSlice(q[b*qStride:b*qStride+C], 1, 1, C))
			kv := Const(tensor.FromSlice(k[base:base+n[b]*C], 1, n[b], C))
			vv := Const(tensor.FromSlice(v[base:base+n[b]*C], 1, n[b], C))
			want := tp.AttentionQKV(qv, kv, vv, tc.heads).Value.Data
			for i, w := range want {
				if got[b*C+i] != w {
					t.Fatalf("C %d, %d heads, sequence %d (%d keys), value %d: %v, AttentionQKV %v", C, tc.heads, b, n[b], i, got[b*C+i], w)
				}
			}
			tp.Reset()
		}
	}
}
