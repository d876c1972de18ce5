package ppo

import (
	"context"
	"testing"
)

// BenchmarkIterate measures one full iteration (rollout + update) with the
// default configurations; env-steps/s is the throughput the sanity
// experiment sees.
func BenchmarkIterate(b *testing.B) {
	for _, name := range []string{"CartPole-v1", "Pendulum-v1"} {
		b.Run(name, func(b *testing.B) {
			c, _ := Default(name)
			c.TotalSteps = 1 << 30
			tr, err := NewTrainer(c)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := tr.Iterate(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*c.BatchSize())/b.Elapsed().Seconds(), "env-steps/s")
		})
	}
}

// BenchmarkRollout measures the rollout alone (policy and value forward for
// all copies at once, environment steps) for 16 CartPole copies.
func BenchmarkRollout(b *testing.B) {
	c := DefaultClassic("CartPole-v1")
	c.NumEnvs, c.NumSteps, c.TotalSteps = 16, 128, 1<<30
	tr, err := NewTrainer(c)
	if err != nil {
		b.Fatal(err)
	}
	var st Stats
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.collect(context.Background(), &st); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*c.BatchSize())/b.Elapsed().Seconds(), "env-steps/s")
}
