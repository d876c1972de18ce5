package judge

import (
	"context"
	"fmt"
	"testing"

	"rlhf/feedback"
	"rlhf/model/gpt"
	"rlhf/reward"
	"rlhf/text"
)

// BenchmarkLabelBatch measures the judge on a reward model of the shipped
// tiny GPT's size (randomly initialised): 64 two-way queries per batch of
// short prompts and 24-token-ish completions.
//
//	go test ./judge -run '^$' -bench LabelBatch
func BenchmarkLabelBatch(b *testing.B) {
	tok, err := text.DefaultTokenizer()
	if err != nil {
		b.Fatal(err)
	}
	m, err := gpt.New(gpt.TinyConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	j := &Model{Scorer: Rewards{reward.NewGPT(m, tok, 2)}, Temperature: 1, Abstain: 0.2}
	qs := make([]feedback.Query, 64)
	for i := range qs {
		qs[i] = feedback.TextQuery(fmt.Sprint(i), fmt.Sprintf("The state of the union in year %d is", 1900+i),
			" strong, and the people of this nation have reason to be proud of what they built together.",
			" weak, and we must face the hard truths about the debts and the wars that weigh on us.")
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := j.LabelBatch(ctx, qs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(qs))/b.Elapsed().Seconds(), "queries/s")
}
