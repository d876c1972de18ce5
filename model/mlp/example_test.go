package mlp_test

import (
	"fmt"
	"math/rand/v2"

	"rlhf/ag"
	"rlhf/model/mlp"
	"rlhf/tensor"
)

// Sample torques for a batch of 3 Pendulum observations with one forward
// pass, and map them to the action box the environment accepts.
func ExampleGaussian() {
	r := rand.New(rand.NewPCG(1, 2))
	pol := mlp.NewGaussian(r, 3, []int{64, 64}, []float64{-2}, []float64{2})
	obs := ag.Const(tensor.Randn(r, 1, 3, 3)) // (B=3, ObsDim=3)
	acts, logp := pol.Sample(ag.NewNoGradTape(), r, obs, false)
	env := make([]float64, 3)
	pol.EnvActions(acts, env)
	fmt.Println(acts.Shape, len(logp))
	for _, p := range pol.Params() {
		fmt.Println(p.Name, p.P.Shape())
	}
	// Output:
	// [3 1] 3
	// actor_mean.0.weight [3 64]
	// actor_mean.0.bias [64]
	// actor_mean.1.weight [64 64]
	// actor_mean.1.bias [64]
	// actor_mean.2.weight [64 1]
	// actor_mean.2.bias [1]
	// actor_logstd [1]
}
