package reward_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"rlhf/ag"
	"rlhf/feedback"
	"rlhf/reward"
	"rlhf/tensor"
)

func ExampleBradleyTerry() {
	// Two comparisons: the first item won the first, the second was a tie.
	tp := ag.NewTape()
	ra := ag.NewParam(tensor.FromSlice([]float32{1, 0}, 2))
	rb := ag.NewParam(tensor.FromSlice([]float32{0, 0}, 2))
	loss := reward.BradleyTerry(tp, ra, rb, []float32{1, 0.5}, 0)
	tp.Backward(loss)
	fmt.Printf("loss %.4f, dloss/dra %.4f %.4f\n", loss.Item(), ra.Grad.Data[0], ra.Grad.Data[1])
	// Output: loss 0.5032, dloss/dra -0.1345 0.0000
}

func ExampleEnsemble() {
	// A hidden reward: the first observation coordinate, plus 1 for action 1.
	rng := rand.New(rand.NewPCG(1, 2))
	segment := func() feedback.Segment {
		var s feedback.Segment
		for range 5 {
			o := []float64{rng.NormFloat64(), rng.NormFloat64()}
			a := float64(rng.IntN(2))
			s.States, s.Actions = append(s.States, o), append(s.Actions, []float64{a})
			s.Rewards = append(s.Rewards, o[0]+a)
		}
		return s
	}
	e, err := reward.NewEnsemble(reward.DefaultConfig(2, 2, 0))
	if err != nil {
		fmt.Println(err)
		return
	}
	oracle := feedback.Oracle{Score: feedback.SegmentReturn}
	for i := range 300 {
		q := feedback.ControlQuery(fmt.Sprint("q", i), segment(), segment())
		l, _ := oracle.Label(context.Background(), q)
		if _, err := e.AddLabeled(q, l); err != nil {
			fmt.Println(err)
			return
		}
	}
	st, err := e.Train(context.Background(), 300)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := e.Reward([][]float64{{1, 0}, {-1, 0}}, [][]float64{{0}, {0}})
	fmt.Println(st.Held.Accuracy > 0.9, r[0] > r[1])
	// Output: true true
}
