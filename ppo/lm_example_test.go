package ppo_test

import (
	"fmt"

	"rlhf/ppo"
)

// The adaptive KL controller of Ziegler et al. raises β while the policy's
// KL to the reference exceeds the target and lowers it below.
func ExampleKLController() {
	c := ppo.KLController{Value: 0.2, Target: 4, Horizon: 320}
	fmt.Printf("%.4f\n", c.Update(8, 32)) // KL twice the target: error clipped to +0.2
	fmt.Printf("%.4f\n", c.Update(4, 32)) // on target: unchanged
	fmt.Printf("%.4f\n", c.Update(3, 32)) // below: error -0.25, clipped to -0.2
	// Output:
	// 0.2040
	// 0.2040
	// 0.1999
}

// Per-token rewards: the KL penalty at every completion token and the
// score at the last one.
func ExampleTokenRewards() {
	r, kl := ppo.TokenRewards([]float32{-1, -2}, []float32{-1.5, -1.5}, 1, 0.1)
	fmt.Printf("%.2f %.2f\n", r, kl)
	// Output: [-0.05 1.05] 0.00
}
