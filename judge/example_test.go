package judge_test

import (
	"context"
	"fmt"

	"rlhf/feedback"
	"rlhf/judge"
	"rlhf/reward"
)

// A judge over a programmatic score (here the number of '!' in a completion)
// answers the clear comparison and defers the close one.
func ExampleModel() {
	excited := func(s string) float64 {
		n := 0.0
		for _, r := range s {
			if r == '!' {
				n++
			}
		}
		return n
	}
	m := &judge.Model{Scorer: judge.Rewards{reward.GoalScorer{Goal: excited}}, Name: "excitement", Temperature: 1, Abstain: 0.25}
	qs := []feedback.Query{
		feedback.TextQuery("clear", "Greet me.", "hello", "hello!!!"),
		feedback.TextQuery("close", "Greet me.", "hi!", "hey"),
	}
	labels, err := feedback.LabelAll(context.Background(), m, qs)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range labels {
		fmt.Printf("%s: %s (confidence %.3f, by %s)\n", l.QueryID, l.Choice, *l.Confidence, l.Labeler)
	}
	// Output:
	// clear: 1 (confidence 0.953, by excitement)
	// close: cant_tell (confidence 0.731, by excitement)
}
