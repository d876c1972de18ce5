package ppo_test

import (
	"context"
	"fmt"

	"rlhf/ppo"
	"rlhf/tensor"
)

// Train CartPole for two iterations on a reward that replaces the
// environment's: +1 for every step whose pole angle is within 0.05 rad.
func ExampleTrainer() {
	cfg := ppo.DefaultClassic("CartPole-v1")
	cfg.TotalSteps = 2 * cfg.BatchSize()
	t, err := ppo.NewTrainer(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	t.Reward = func(obs, act, next *tensor.Tensor) ([]float32, error) {
		r := make([]float32, next.Shape[0])
		for i := range r {
			if th := next.Data[i*4+2]; th > -0.05 && th < 0.05 {
				r[i] = 1
			}
		}
		return r, nil
	}
	for i := 0; i < 2; i++ {
		st, err := t.Iterate(context.Background())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(st.Iteration, st.GlobalStep, len(st.Episodes) == len(st.TrainReturns))
	}
	fmt.Println(len(t.Params()), t.Params()[0].Name, t.Params()[len(t.Params())-1].Name)
	// Output:
	// 1 512 true
	// 2 1024 true
	// 12 actor.0.weight critic.2.bias
}
