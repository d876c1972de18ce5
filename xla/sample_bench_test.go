package xla_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"rlhf/model/gpt"
	"rlhf/xla"
)

// BenchmarkSampler times xla.Sampler.Sample on the -device backend against
// gpt.Model.Sample on the CPU engine: the reference tiny GPT (random
// weights), 16 rows of one token continued by 32 tokens, temperature 1.
// tokens/s counts the new tokens of all rows.
//
//	go test ./xla -run '^$' -bench Sampler -benchtime 3x
func BenchmarkSampler(b *testing.B) {
	m, err := gpt.New(gpt.TinyConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	prompts := make([][]int, 16)
	for i := range prompts {
		prompts[i] = []int{r.IntN(m.Config.VocabSize)}
	}
	cfg := gpt.SampleConfig{MaxNewTokens: 32, Temperature: 1, Seed: 1}
	report := func(b *testing.B) {
		b.ReportMetric(float64(len(prompts)*cfg.MaxNewTokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
	}
	b.Run("device="+*device, func(b *testing.B) {
		backend, err := xla.Open(*device)
		if err != nil {
			b.Fatal(err)
		}
		s, err := xla.NewSampler(backend, m)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Sample(context.Background(), prompts, cfg); err != nil { // compiles
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := s.Sample(context.Background(), prompts, cfg); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("cpu-engine", func(b *testing.B) {
		for range b.N {
			if _, err := m.Sample(context.Background(), prompts, cfg); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
}
