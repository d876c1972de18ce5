package dpo_test

import (
	"fmt"

	"rlhf/ag"
	"rlhf/dpo"
	"rlhf/tensor"
)

func ExampleLoss() {
	// The policy raised the chosen completion's log-probability by 1 nat
	// over the reference and lowered the rejected one's by 1: h = 2.
	piW := ag.NewParam(tensor.FromSlice([]float32{-10}, 1))
	piL := ag.NewParam(tensor.FromSlice([]float32{-12}, 1))
	refW, refL := []float32{-11}, []float32{-11}
	for _, c := range []dpo.Config{{Loss: dpo.LossSigmoid, Beta: 0.1}, {Loss: dpo.LossIPO, Beta: 0.1}} {
		tp := ag.NewTape()
		fmt.Printf("%s: %.4f\n", c.Loss, dpo.Loss(tp, c, piW, piL, refW, refL).Item())
	}
	// Output:
	// sigmoid: 0.5981
	// ipo: 9.0000
}
