package gpt_test

import (
	"context"
	"fmt"

	"rlhf/ag"
	"rlhf/model/gpt"
)

// A model with a value head: per-token log-probs and values of a
// right-padded batch, then a greedy continuation with the KV cache.
func Example() {
	cfg := gpt.TinyConfig()
	cfg.ValueHead = true
	m, err := gpt.New(cfg, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	ids, T, lens := gpt.PadRight([][]int{{10, 20, 30, 40}, {50, 60}})
	tp := ag.NewNoGradTape()
	h := m.Hidden(tp, ids, 2, T)
	logp, _ := m.LogProbsOf(tp, m.Logits(tp, h), ids, nil)
	fmt.Println("lens", lens, "log-probs", logp.Shape(), "values", m.ValuesOf(tp, h).Shape())

	s, err := m.Sample(context.Background(), [][]int{{10, 20, 30}}, gpt.SampleConfig{MaxNewTokens: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("generated", len(s.Tokens[0]), "tokens")
	// Output:
	// lens [4 2] log-probs [2 3] values [2 4]
	// generated 5 tokens
}
