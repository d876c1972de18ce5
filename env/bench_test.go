package env

import (
	"fmt"
	"testing"
)

// BenchmarkStep measures single-environment steps per second, with a reset
// whenever an episode ends.
//
//	go test ./env -run '^$' -bench Step -benchtime 1s
func BenchmarkStep(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			spec, _ := SpecOf(name)
			e := mustMake(b, name)
			acts := vecActions(spec, 1, 256, 1)
			e.Reset(1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, _, term, trunc := e.Step(acts[i%256]); term || trunc {
					e.Reset(uint64(i))
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}

// BenchmarkVecStep measures environment steps per second (N per Step call)
// through VecEnv, on one goroutine and spread over GOMAXPROCS.
func BenchmarkVecStep(b *testing.B) {
	for _, name := range Names() {
		for _, n := range []int{16, 64, 256, 1024} {
			for _, par := range []bool{false, true} {
				b.Run(fmt.Sprintf("%s/N=%d/parallel=%v", name, n, par), func(b *testing.B) {
					spec, _ := SpecOf(name)
					v, _ := NewVecEnv(name, n, 1)
					v.ParallelMin = 1 << 30
					if par {
						v.ParallelMin = 1
					}
					acts := vecActions(spec, n, 16, 2)
					v.Reset()
					b.ResetTimer()
					for i := range b.N {
						v.Step(acts[i%16])
					}
					b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "steps/s")
				})
			}
		}
	}
}
