package main

import (
	"testing"

	"rlhf/nn"
)

// BenchmarkTinyGPTStep times one training step of the reference tiny GPT
// (batch 16 x 128 tokens) and reports tokens/s.
func BenchmarkTinyGPTStep(b *testing.B) {
	tr, err := NewTrainer(Reference, 16, Reference.Ctx, 4, 1)
	if err != nil {
		b.Fatal(err)
	}
	tr.Step()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr.Step()
	}
	b.ReportMetric(float64(b.N*16*Reference.Ctx)/b.Elapsed().Seconds(), "tokens/s")
}

// TestTrainerLearns checks the driver on a small model: the loss on four
// fixed random batches drops below its starting value (ln 64 ≈ 4.16).
func TestTrainerLearns(t *testing.T) {
	tr, err := NewTrainer(nn.GPTConfig{Vocab: 64, Ctx: 8, Layers: 1, Heads: 2, Dim: 16}, 2, 8, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	first := tr.Step()
	var last float32
	for i := 0; i < 30; i++ {
		last = tr.Step()
	}
	if !(last < first-0.2) {
		t.Errorf("loss %g -> %g", first, last)
	}
}
