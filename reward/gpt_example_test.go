package reward_test

import (
	"fmt"
	"math"

	"rlhf/model/gpt"
	"rlhf/reward"
)

func ExampleGPTReward_Normalise() {
	policy, _ := gpt.New(gpt.Config{VocabSize: 64, NPositions: 16, NEmbd: 16, NLayer: 1, NHead: 2,
		LayerNormEpsilon: 1e-5, EOSTokenID: 63}, 1)
	rm := reward.NewGPT(policy, nil, 2) // a fresh reward head on the policy's trunk
	// Reference completions: samples of the policy to be optimised.
	prompts := [][]int{{1, 2}, {1, 2}, {3}, {4, 5, 6}}
	completions := [][]int{{7, 8}, {9}, {10, 11, 12}, {13}}
	if err := rm.Normalise(prompts, completions); err != nil {
		panic(err)
	}
	s, _ := rm.Score(prompts, completions)
	var mean, sq float64
	for _, v := range s {
		mean += float64(v) / 4
	}
	for _, v := range s {
		sq += (float64(v) - mean) * (float64(v) - mean) / 4
	}
	fmt.Printf("mean %.2f std %.2f on %d reference completions\n", math.Abs(mean), math.Sqrt(sq), rm.Norm.Samples)
	// Output: mean 0.00 std 1.00 on 4 reference completions
}
